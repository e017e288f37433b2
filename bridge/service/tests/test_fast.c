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
#include "fixture.h"

static char out[0x4000]; /* the fast path's last reply */

static int setup(void **state) {
  svc_config cfg = {.cache_bytes = 1u << 20};
  fx_open(state, &cfg, 0);
  memset(out, 0, sizeof(out));
  return 0;
}

/* Serves "mADDR,LEN" on the fast path; the reply is NUL-terminated in out. */
static int fast(fx *f, uint64_t a, uint64_t n, size_t cap) {
  char b[64];
  int bl = snprintf(b, sizeof(b), "m%llx,%llx", (unsigned long long)a, (unsigned long long)n);
  int r = svc_serve_cached(f->s, b, (size_t)bl, out, cap);
  if (r >= 0)
    out[r] = 0;
  return r;
}

static void expect_ram(fx *f, uint64_t pa, size_t n) {
  static char want[0x4001];
  rsp_hex_encode(want, sizeof(want), f->t->ram + pa, n);
  want[2 * n] = 0;
  assert_string_equal(out, want);
}

static void test_hits_match_worker(void **state) {
  fx *f = *state;
  assert_int_equal(fast(f, SIM_KVA, 0x10, sizeof(out)), -1); /* cold: a miss */
  char first[0x2001];
  snprintf(first, sizeof(first), "%s", fx_mread(f, SIM_KVA, 0x1000));
  unsigned long req = f->t->requests;
  assert_int_equal(fast(f, SIM_KVA, 0x1000, sizeof(out)), 0x2000);
  assert_string_equal(out, first);
  /* Unaligned, across the two cached units. */
  assert_int_equal(fast(f, SIM_KVA + 0x7fd, 0x13, sizeof(out)), 0x26);
  expect_ram(f, SIM_KPA + 0x7fd, 0x13);
  assert_int_equal(f->t->requests, req); /* nothing went upstream */
  /* One byte past the cached units: the worker must read it. */
  assert_int_equal(fast(f, SIM_KVA + 0xff0, 0x11, sizeof(out)), -1);
  /* A reply that does not fit the caller's buffer. */
  assert_int_equal(fast(f, SIM_KVA, 0x1000, 0x1fff), -1);
  /* Not a read, or a malformed one. */
  assert_int_equal(svc_serve_cached(f->s, "mzz", 3, out, sizeof(out)), -1);
  assert_int_equal(svc_serve_cached(f->s, "M0,1:00", 7, out, sizeof(out)), -1);
  assert_int_equal(svc_serve_cached(f->s, "m0,0", 4, out, sizeof(out)), -1);
}

static void test_invalidation(void **state) {
  fx *f = *state;
  fx_mread(f, SIM_UVA, 0x20);
  assert_int_equal(fast(f, SIM_UVA, 0x20, sizeof(out)), 0x40);
  /* The target runs and changes memory: the cached bytes must not be
   * served, although the worker has not flushed them yet. */
  f->t->ram[SIM_UPA + 3] ^= 0xff;
  svc_event(f->s, SVC_EV_RESUME);
  svc_event(f->s, SVC_EV_STOP);
  assert_int_equal(fast(f, SIM_UVA, 0x20, sizeof(out)), -1);
  snprintf(out, sizeof(out), "%s", fx_mread(f, SIM_UVA, 0x20));
  expect_ram(f, SIM_UPA, 0x20);
  assert_int_equal(fast(f, SIM_UVA, 0x20, sizeof(out)), 0x40);
  expect_ram(f, SIM_UPA, 0x20);
  /* A register write (a CR3 switch) and a reconnect also invalidate. */
  svc_event(f->s, SVC_EV_REG_WRITE);
  assert_int_equal(fast(f, SIM_UVA, 0x20, sizeof(out)), -1);
  fx_mread(f, SIM_UVA, 0x20);
  svc_event(f->s, SVC_EV_CONNECT);
  assert_int_equal(fast(f, SIM_UVA, 0x20, sizeof(out)), -1);
  /* A write through the bridge updates the cache: the hit sees it. */
  fx_mread(f, SIM_UVA, 0x20);
  assert_string_equal(sim_packet(f->t, f->s, "M400004,2:abcd"), "OK");
  assert_int_equal(fast(f, SIM_UVA, 0x20, sizeof(out)), 0x40);
  expect_ram(f, SIM_UPA, 0x20);
  assert_int_equal(f->t->ram[SIM_UPA + 4], 0xab);
}

static void test_declines(void **state) {
  fx *f = *state;
  fx_mread(f, SIM_UVA, 0x20);
  /* Another CPU (Hg) has its own address space. */
  sim_packet(f->t, f->s, "Hg2");
  assert_int_equal(fast(f, SIM_UVA, 0x20, sizeof(out)), -1);
  sim_packet(f->t, f->s, "Hg0");
  fx_mread(f, SIM_UVA, 0x20);
  assert_int_equal(fast(f, SIM_UVA, 0x20, sizeof(out)), 0x40);
  /* A context: the client's reads are translated by the worker. */
  assert_string_equal(sim_cmd(f->t, f->s, "context 0x2000"), "OK");
  assert_int_equal(fast(f, SIM_UVA, 0x20, sizeof(out)), -1);
  assert_string_equal(sim_cmd(f->t, f->s, "context default"), "OK");
  fx_mread(f, SIM_UVA, 0x20);
  /* An uncached range is never served from the cache. */
  assert_string_equal(sim_cmd(f->t, f->s, "uncached add 400010 400018"), "OK");
  fx_mread(f, SIM_UVA, 0x8);
  assert_int_equal(fast(f, SIM_UVA, 0x8, sizeof(out)), 0x10);
  assert_int_equal(fast(f, SIM_UVA, 0x20, sizeof(out)), -1);
  /* The cache switched off. */
  assert_string_equal(sim_cmd(f->t, f->s, "cache off"), "OK");
  assert_int_equal(fast(f, SIM_UVA, 0x8, sizeof(out)), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_hits_match_worker, setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_invalidation, setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_declines, setup, fx_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
