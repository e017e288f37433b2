/* test_classify.c - svc_classify's routing of every kind of client packet
 * (what the service handles, forwards, or forwards as a resume), in the
 * states that change it: cache on or off, a context, detached.  The table
 * pins the routing so that svc_classify can rest on proto/'s
 * rsp_classify_request without a change of behaviour. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rsp.h"
#include "fixture.h"

static int setup_nocache(void **state) {
  svc_config cfg = {.cache_bytes = 0};
  return fx_setup_cfg(state, &cfg);
}

typedef struct {
  const char *b;
  enum svc_action want;
} route;

#define H SVC_HANDLE
#define F SVC_FORWARD
#define R SVC_FORWARD_RESUME

/* The same in every state of these tests. */
static const route always[] = {
    {.b = "c", .want = R},
    {.b = "c401000", .want = R},
    {.b = "C05", .want = R},
    {.b = "s", .want = R},
    {.b = "S05;401000", .want = R},
    {.b = "i", .want = R},
    {.b = "I", .want = R},
    {.b = "vCont;c", .want = R},
    {.b = "vCont;s:1;c", .want = R},
    {.b = "vRun;", .want = R},
    {.b = "vCont?", .want = F},
    {.b = "vCont", .want = F},
    {.b = "vCtrlC", .want = F},
    {.b = "vKill;1", .want = F},
    {.b = "vStopped", .want = F},
    {.b = "vFile:open:2f,0,0", .want = F},
    {.b = "vFlashDone", .want = F},
    {.b = "vMustReplyEmpty", .want = F},
    {.b = "F-1,4", .want = R},
    {.b = "D", .want = H},
    {.b = "D;1", .want = H},
    {.b = "k", .want = F},
    {.b = "g", .want = F},
    {.b = "p10", .want = F},
    {.b = "G00", .want = F},
    {.b = "P10=00", .want = F},
    {.b = "Z0,401000,1", .want = F},
    {.b = "z0,401000,1", .want = F},
    {.b = "x400000,4", .want = F},
    {.b = "Hg1", .want = F},
    {.b = "Hc-1", .want = F},
    {.b = "T1", .want = F},
    {.b = "bc", .want = H},
    {.b = "bs", .want = H},
    {.b = "bcc", .want = F},
    {.b = "b9600", .want = F},
    {.b = "qRcmd,68656c70", .want = H},
    {.b = "qRcmd", .want = F},
    {.b = "qHostInfo", .want = H},
    {.b = "qProcessInfo", .want = H},
    {.b = "qMemoryRegionInfo:400000", .want = H},
    {.b = "qWatchpointSupportInfo:", .want = H},
    {.b = "qC", .want = F},
    {.b = "qCRC:400000,10", .want = F},
    {.b = "qSupported:multiprocess+", .want = F},
    {.b = "Qqemu.PhyMemMode:1", .want = H},
    {.b = "QStartNoAckMode", .want = F},
    {.b = "!", .want = F},
    {.b = "", .want = F},
    {.b = "jThreadsInfo", .want = F},
};

static void check(fx *f, const route *t, size_t n) {
  for (size_t i = 0; i < n; i++) {
    enum svc_action a = svc_classify(f->s, t[i].b, strlen(t[i].b));
    if (a != t[i].want)
      fail_msg("\"%s\": action %d, want %d", t[i].b, (int)a, (int)t[i].want);
  }
}

static void test_routes(void **state) {
  fx *f = *state;
  check(f, always, sizeof(always) / sizeof(always[0]));
  /* Attached: `?` and vAttach go to the target. */
  assert_int_equal(svc_classify(f->s, "?", 1), F);
  assert_int_equal(svc_classify(f->s, "vAttach;1", 9), R);
  /* qqemu.PhyMemMode is answered by the service until the target is known
   * to be in the client's mode, then by the target. */
  assert_int_equal(svc_classify(f->s, "qqemu.PhyMemMode", 16), H);
  assert_string_equal(sim_packet(f->t, f->s, "Qqemu.PhyMemMode:0"), "OK");
  assert_int_equal(svc_classify(f->s, "qqemu.PhyMemMode", 16), F);
}

/* m, M and X: handled while the cache is on, forwarded without it unless
 * a context is set or the request is larger than the target takes. */
static void test_memory_routes(void **state) {
  fx *f = *state;
  assert_int_equal(svc_classify(f->s, "m400000,4", 9), H);
  assert_int_equal(svc_classify(f->s, "M400000,1:00", 12), H);
  assert_int_equal(svc_classify(f->s, "X400000,0:", 10), H);
}

static void test_memory_routes_nocache(void **state) {
  fx *f = *state;
  check(f, always, sizeof(always) / sizeof(always[0]));
  /* Until the target's memory mode is known the service handles them. */
  assert_int_equal(svc_classify(f->s, "m400000,4", 9), H);
  assert_string_equal(sim_packet(f->t, f->s, "Qqemu.PhyMemMode:0"), "OK");
  assert_int_equal(svc_classify(f->s, "m400000,4", 9), F);
  assert_int_equal(svc_classify(f->s, "M400000,1:00", 12), F);
  assert_int_equal(svc_classify(f->s, "X400000,0:", 10), F);
  assert_int_equal(svc_classify(f->s, "x400000,4", 9), F);
  assert_int_equal(svc_classify(f->s, "m400000,100000", 14), H); /* split */
  /* A context: every m, M and X goes through the service; x does not. */
  const char *r = sim_cmd(f->t, f->s, "context 0x2000");
  assert_string_equal(r, "OK");
  assert_int_equal(svc_classify(f->s, "m400000,4", 9), H);
  assert_int_equal(svc_classify(f->s, "M400000,1:00", 12), H);
  assert_int_equal(svc_classify(f->s, "X400000,0:", 10), H);
  assert_int_equal(svc_classify(f->s, "x400000,4", 9), F);
}

/* Detached: `?` and vAttach are the service's; the rest is unchanged. */
static void test_detached_routes(void **state) {
  fx *f = *state;
  assert_string_equal(sim_packet(f->t, f->s, "D;1"), "OK");
  check(f, always, sizeof(always) / sizeof(always[0]));
  assert_int_equal(svc_classify(f->s, "?", 1), H);
  assert_int_equal(svc_classify(f->s, "vAttach;1", 9), H);
  assert_int_equal(svc_classify(f->s, "m400000,4", 9), H);
}

/* Register writes and breakpoints drop what the cache holds (the
 * translation or the bytes may change); reads and queries do not. */
static void test_invalidating_routes(void **state) {
  fx *f = *state;
  static const char *const drop[] = {"P10=00", "G00", "Z0,401000,1", "z0,401000,1"};
  static const char *const keep[] = {"p10", "g", "qC", "T1", "qSupported"};
  assert_int_equal(svc_classify(f->s, "m400000,4", 9), H);
  sim_packet(f->t, f->s, "m400000,4");
  for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
    unsigned long n = f->t->reads_m;
    svc_classify(f->s, keep[i], strlen(keep[i]));
    sim_packet(f->t, f->s, "m400000,4");
    if (f->t->reads_m != n)
      fail_msg("%s dropped the cache", keep[i]);
  }
  for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++) {
    unsigned long n = f->t->reads_m;
    svc_classify(f->s, drop[i], strlen(drop[i]));
    sim_packet(f->t, f->s, "m400000,4");
    if (f->t->reads_m == n)
      fail_msg("%s kept the cache", drop[i]);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_routes, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_memory_routes, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_memory_routes_nocache, setup_nocache, fx_teardown),
      cmocka_unit_test_setup_teardown(test_detached_routes, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_invalidating_routes, fx_setup, fx_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
