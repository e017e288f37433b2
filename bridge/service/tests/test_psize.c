/* test_psize.c - targets that take small packets or answer short: every
 * read the service makes (client reads, table reads, physical reads) is cut
 * to half the target's PacketSize, short m replies are data (the rest is
 * asked again), and client reads and writes larger than the target takes
 * are split, with the cache on and off. */
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

static int setup_with(void **state, size_t cache, unsigned psize, unsigned short_m) {
  svc_config cfg = {.cache_bytes = cache};
  fx *f = fx_open(state, &cfg, 0);
  f->t->psize = psize;
  f->t->short_m = short_m;
  /* What the bridge does with the target's qSupported reply. */
  assert_int_equal(svc_set_packet_size(f->s, psize, 0x4000), 0x4000);
  return 0;
}

static int small(void **state) {
  return setup_with(state, 1u << 20, 0x100, 0);
}
static int small_nocache(void **state) {
  return setup_with(state, 0, 0x100, 0);
}
static int shorty(void **state) {
  return setup_with(state, 1u << 20, 0, 0x30);
}
static int shorty_nocache(void **state) {
  return setup_with(state, 0, 0, 0x30);
}

/* Client reads of 0x2000 bytes (GDB's m with our PacketSize 0x4000). */
static void test_client_reads(void **state) {
  fx *f = *state;
  for (size_t i = 0; i < 0x2000; i++)
    f->t->ram[SIM_KPA + i] = (uint8_t)(i * 7 + 3);
  assert_int_equal(svc_classify(f->s, "m400000,2000", 12), SVC_HANDLE);
  unsigned long m0 = f->t->reads_m;
  fx_expect_bytes(f, SIM_KVA, SIM_KPA, 0x2000);
  if (f->t->psize)
    /* Every piece the target took: 0x80 bytes each, nothing refused. */
    assert_int_equal(f->t->reads_m - m0, 0x2000 / 0x80);
  fx_expect_bytes(f, SIM_KVA + 0x123, SIM_KPA + 0x123, 0x1555);
  /* ReadVirtual across the end of the mapping: what exists (a read the
   * target takes whole is forwarded, and its own short answer stands). */
  const char *r = fx_mread(f, SIM_UVA + 0xf00, 0x200);
  size_t rl = strlen(r);
  assert_true(rl > 0 && rl <= 2 * 0x100 && rl % 2 == 0);
  char want[0x201];
  rsp_hex_encode(want, sizeof(want), f->t->ram + SIM_UPA + 0xf00, rl / 2);
  assert_memory_equal(r, want, rl);
  assert_string_equal(fx_mread(f, 0x7f0000000000, 0x1000), "E14");
}

static void test_forward_small(void **state) {
  fx *f = *state;
  /* A read the target takes as it is goes straight through, once the
   * first memory request put QEMU in the client's mode. */
  assert_int_equal(svc_classify(f->s, "m400000,80", 10), SVC_HANDLE);
  fx_expect_bytes(f, SIM_KVA, SIM_KPA, 0x10);
  assert_int_equal(svc_classify(f->s, "m400000,80", 10), f->t->psize ? SVC_FORWARD : SVC_FORWARD);
  assert_int_equal(svc_classify(f->s, "m400000,81", 10), f->t->psize ? SVC_HANDLE : SVC_FORWARD);
  fx_expect_bytes(f, SIM_KVA, SIM_KPA, 0x1800);
}

static void test_commands(void **state) {
  fx *f = *state;
  assert_string_equal(sim_cmd(f->t, f->s, "vtop 0xffff800000001000"), "OK");
  assert_non_null(strstr(f->t->out, "-> 0x201000"));
  assert_string_equal(sim_cmd(f->t, f->s, "pte 0x400000"), "OK");
  assert_non_null(strstr(f->t->out, "-> 0x300000"));
  assert_string_equal(sim_cmd(f->t, f->s, "maps"), "OK");
  assert_non_null(strstr(f->t->out, "0xffff800000000000"));
  for (int i = 0; i < 0x40; i++)
    f->t->ram[0x300000 + 0x7f0 + i] = (uint8_t)(0xa0 + i);
  assert_string_equal(sim_cmd(f->t, f->s, "phys read 0x3007f0 0x40"), "OK");
  assert_non_null(strstr(f->t->out, "00000000003007f0  a0 a1 a2"));
  assert_non_null(strstr(f->t->out, "0000000000300820  d0 d1 d2"));
  /* QEMU's virtual mode is back after all those pieces. */
  assert_int_equal(f->t->phys_mode, 0);
  /* A physical write larger than one packet. */
  uint8_t after = f->t->ram[0x300300];
  assert_string_equal(sim_cmd(f->t, f->s, "phys fill 0x300000 0x300 5a"), "OK");
  for (int i = 0; i < 0x300; i++)
    assert_int_equal(f->t->ram[0x300000 + i], 0x5a);
  assert_int_equal(f->t->ram[0x300300], after);
}

static void test_split_writes(void **state) {
  fx *f = *state;
  static char pkt[0x4000];
  uint8_t data[0x1000];
  for (size_t i = 0; i < sizeof(data); i++)
    data[i] = (uint8_t)(i ^ 0x5c);
  int n = rsp_format_M(pkt, sizeof(pkt), SIM_UVA, data, sizeof(data));
  assert_true(n > 0);
  pkt[n] = 0;
  assert_int_equal(svc_classify(f->s, pkt, (size_t)n), SVC_HANDLE);
  unsigned long w0 = f->t->writes;
  assert_string_equal(sim_packet(f->t, f->s, pkt), "OK");
  assert_memory_equal(f->t->ram + SIM_UPA, data, sizeof(data));
  assert_int_equal(f->t->writes - w0, (sizeof(data) + 0x6f) / 0x70); /* 0x70 per M */
  fx_expect_bytes(f, SIM_UVA, SIM_UPA, 0x1000);
  /* Running off the mapping half way: the target's error, the first part
   * written (as GDB's own split writes do), and nothing stale is served. */
  memset(data, 0xee, sizeof(data));
  n = rsp_format_M(pkt, sizeof(pkt), SIM_UVA + 0xf00, data, 0x200);
  pkt[n] = 0;
  assert_string_equal(sim_packet(f->t, f->s, pkt), "E14");
  assert_int_equal(f->t->ram[SIM_UPA + 0xf00], 0xee);
  fx_expect_bytes(f, SIM_UVA, SIM_UPA, 0x1000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_client_reads, small, fx_teardown),
      cmocka_unit_test_setup_teardown(test_client_reads, small_nocache, fx_teardown),
      cmocka_unit_test_setup_teardown(test_client_reads, shorty, fx_teardown),
      cmocka_unit_test_setup_teardown(test_client_reads, shorty_nocache, fx_teardown),
      cmocka_unit_test_setup_teardown(test_forward_small, small_nocache, fx_teardown),
      cmocka_unit_test_setup_teardown(test_commands, small, fx_teardown),
      cmocka_unit_test_setup_teardown(test_commands, small_nocache, fx_teardown),
      cmocka_unit_test_setup_teardown(test_commands, shorty, fx_teardown),
      cmocka_unit_test_setup_teardown(test_split_writes, small, fx_teardown),
      cmocka_unit_test_setup_teardown(test_split_writes, small_nocache, fx_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
