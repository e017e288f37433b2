/* test_fast.c - svc_serve_cached(), the loop thread's cache hits: it answers
 * exactly what svc_handle() would, and declines (-1) whenever the answer
 * needs the worker: a miss, a pending invalidation, a context, an uncached
 * range, another thread's address space, a reply that does not fit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rsp.h"
#include "sim.h"

typedef struct {
  sim *t;
  svc *s;
  char out[0x4000];
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof(*f));
  f->t = sim_new();
  svc_config cfg = {.cache_bytes = 1u << 20};
  f->s = svc_new(&sim_io, f->t, &cfg);
  assert_non_null(f->s);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  svc_free(f->s);
  sim_free(f->t);
  free(f);
  return 0;
}

/* Serves "mADDR,LEN" on the fast path; the reply is NUL-terminated in out. */
static int fast(fx *f, uint64_t a, uint64_t n, size_t cap) {
  char b[64];
  int bl = snprintf(b, sizeof(b), "m%llx,%llx", (unsigned long long)a, (unsigned long long)n);
  int r = svc_serve_cached(f->s, b, (size_t)bl, f->out, cap);
  if (r >= 0)
    f->out[r] = 0;
  return r;
}

/* The worker's answer (fills the cache). */
static const char *slow(fx *f, uint64_t a, uint64_t n) {
  char b[64];
  snprintf(b, sizeof(b), "m%llx,%llx", (unsigned long long)a, (unsigned long long)n);
  return sim_packet(f->t, f->s, b);
}

static void expect_ram(fx *f, uint64_t pa, size_t n) {
  static char want[0x4001];
  rsp_hex_encode(want, sizeof(want), f->t->ram + pa, n);
  want[2 * n] = 0;
  assert_string_equal(f->out, want);
}

static void test_hits_match_worker(void **state) {
  fx *f = *state;
  assert_int_equal(fast(f, SIM_KVA, 0x10, sizeof(f->out)), -1); /* cold: a miss */
  char first[0x2001];
  snprintf(first, sizeof(first), "%s", slow(f, SIM_KVA, 0x1000));
  unsigned long req = f->t->requests;
  assert_int_equal(fast(f, SIM_KVA, 0x1000, sizeof(f->out)), 0x2000);
  assert_string_equal(f->out, first);
  /* Unaligned, across the two cached units. */
  assert_int_equal(fast(f, SIM_KVA + 0x7fd, 0x13, sizeof(f->out)), 0x26);
  expect_ram(f, SIM_KPA + 0x7fd, 0x13);
  assert_int_equal(f->t->requests, req); /* nothing went upstream */
  /* One byte past the cached units: the worker must read it. */
  assert_int_equal(fast(f, SIM_KVA + 0xff0, 0x11, sizeof(f->out)), -1);
  /* A reply that does not fit the caller's buffer. */
  assert_int_equal(fast(f, SIM_KVA, 0x1000, 0x1fff), -1);
  /* Not a read, or a malformed one. */
  assert_int_equal(svc_serve_cached(f->s, "mzz", 3, f->out, sizeof(f->out)), -1);
  assert_int_equal(svc_serve_cached(f->s, "M0,1:00", 7, f->out, sizeof(f->out)), -1);
  assert_int_equal(svc_serve_cached(f->s, "m0,0", 4, f->out, sizeof(f->out)), -1);
}

static void test_invalidation(void **state) {
  fx *f = *state;
  slow(f, SIM_UVA, 0x20);
  assert_int_equal(fast(f, SIM_UVA, 0x20, sizeof(f->out)), 0x40);
  /* The target runs and changes memory: the cached bytes must not be
   * served, although the worker has not flushed them yet. */
  f->t->ram[SIM_UPA + 3] ^= 0xff;
  svc_event(f->s, SVC_EV_RESUME);
  svc_event(f->s, SVC_EV_STOP);
  assert_int_equal(fast(f, SIM_UVA, 0x20, sizeof(f->out)), -1);
  snprintf(f->out, sizeof(f->out), "%s", slow(f, SIM_UVA, 0x20));
  expect_ram(f, SIM_UPA, 0x20);
  assert_int_equal(fast(f, SIM_UVA, 0x20, sizeof(f->out)), 0x40);
  expect_ram(f, SIM_UPA, 0x20);
  /* A register write (a CR3 switch) and a reconnect also invalidate. */
  svc_event(f->s, SVC_EV_REG_WRITE);
  assert_int_equal(fast(f, SIM_UVA, 0x20, sizeof(f->out)), -1);
  slow(f, SIM_UVA, 0x20);
  svc_event(f->s, SVC_EV_CONNECT);
  assert_int_equal(fast(f, SIM_UVA, 0x20, sizeof(f->out)), -1);
  /* A write through the bridge updates the cache: the hit sees it. */
  slow(f, SIM_UVA, 0x20);
  assert_string_equal(sim_packet(f->t, f->s, "M400004,2:abcd"), "OK");
  assert_int_equal(fast(f, SIM_UVA, 0x20, sizeof(f->out)), 0x40);
  expect_ram(f, SIM_UPA, 0x20);
  assert_int_equal(f->t->ram[SIM_UPA + 4], 0xab);
}

static void test_declines(void **state) {
  fx *f = *state;
  slow(f, SIM_UVA, 0x20);
  /* Another CPU (Hg) has its own address space. */
  sim_packet(f->t, f->s, "Hg2");
  assert_int_equal(fast(f, SIM_UVA, 0x20, sizeof(f->out)), -1);
  sim_packet(f->t, f->s, "Hg0");
  slow(f, SIM_UVA, 0x20);
  assert_int_equal(fast(f, SIM_UVA, 0x20, sizeof(f->out)), 0x40);
  /* A context: the client's reads are translated by the worker. */
  assert_string_equal(sim_cmd(f->t, f->s, "context 0x2000"), "OK");
  assert_int_equal(fast(f, SIM_UVA, 0x20, sizeof(f->out)), -1);
  assert_string_equal(sim_cmd(f->t, f->s, "context default"), "OK");
  slow(f, SIM_UVA, 0x20);
  /* An uncached range is never served from the cache. */
  assert_string_equal(sim_cmd(f->t, f->s, "uncached add 400010 400018"), "OK");
  slow(f, SIM_UVA, 0x8);
  assert_int_equal(fast(f, SIM_UVA, 0x8, sizeof(f->out)), 0x10);
  assert_int_equal(fast(f, SIM_UVA, 0x20, sizeof(f->out)), -1);
  /* The cache switched off. */
  assert_string_equal(sim_cmd(f->t, f->s, "cache off"), "OK");
  assert_int_equal(fast(f, SIM_UVA, 0x8, sizeof(f->out)), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_hits_match_worker, setup, teardown),
      cmocka_unit_test_setup_teardown(test_invalidation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_declines, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
