/* test_cache.c - the memory cache and contexts seen through the client's own
 * packets: request counts per cold and warm vtop, coherence (writes through
 * the bridge, changes by the target between stops, resumes), partial reads,
 * uncached ranges, and the physical mode restored on failures. */
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
#include "svc_int.h"

static int setup_size(void **state, size_t bytes) {
  svc_config cfg = {.cache_bytes = bytes};
  fx_open(state, &cfg, 0);
  return 0;
}

static int setup(void **state) {
  return setup_size(state, 1u << 20);
}

static int setup_small(void **state) {
  return setup_size(state, 4 * 0x800);
}

static int setup_nocache(void **state) {
  return setup_size(state, 0);
}

static void stop_cycle(fx *f) {
  svc_event(f->s, SVC_EV_RESUME);
  svc_event(f->s, SVC_EV_STOP);
}

static void reset_counts(sim *t) {
  t->transacts = t->requests = t->reads_m = t->reads_p = t->mode_on = t->mode_off = 0;
}

/* "m ADDR,LEN" through the bridge; returns the reply. */
/* QEMU's physical mode is global and survives reconnects: if something
 * left it on, the client's first m of a connection still reads virtual
 * memory, and the mode is back to 0. */
static void test_stale_phys_mode(void **state) {
  fx *f = *state;
  f->t->phys_mode = 1;
  fx_expect_bytes(f, SIM_KVA + 0x123, SIM_KPA + 0x123, 16);
  assert_int_equal(f->t->phys_mode, 0);
  svc_event(f->s, SVC_EV_CONNECT);
  f->t->phys_mode = 1;
  fx_expect_bytes(f, SIM_KVA + 0x40, SIM_KPA + 0x40, 8);
  assert_int_equal(f->t->phys_mode, 0);
}

static void test_vtop_counts(void **state) {
  fx *f = *state;
  /* Discovery happens once per connection. */
  assert_string_equal(sim_cmd(f->t, f->s, "arch"), "OK");
  stop_cycle(f);
  reset_counts(f->t);
  assert_string_equal(sim_cmd(f->t, f->s, "vtop 0xffff800000001980"), "OK");
  /* Cold: one register batch (5 p: cr0 cr3 cr4 efer rip), one read per
   * level, one mode switch. */
  assert_int_equal(f->t->reads_p, 5);
  assert_int_equal(f->t->reads_m, 4);
  assert_int_equal(f->t->mode_on, 1);
  assert_int_equal(f->t->mode_off, 1);
  assert_int_equal(f->t->requests, 5 + 4 + 2);
  assert_int_equal(f->t->transacts, 1 + 4 + 1);
  /* Warm: nothing upstream at all. */
  reset_counts(f->t);
  assert_string_equal(sim_cmd(f->t, f->s, "vtop 0xffff800000001990"), "OK");
  assert_int_equal(f->t->requests, 0);
  assert_string_equal(sim_cmd(f->t, f->s, "pte 0xffff800000001990"), "OK");
  assert_int_equal(f->t->requests, 0);
  /* A resume drops both the registers and the tables. */
  stop_cycle(f);
  assert_string_equal(sim_cmd(f->t, f->s, "vtop 0xffff800000001980"), "OK");
  assert_int_equal(f->t->requests, 11);
}

static void test_maps_pipelined(void **state) {
  fx *f = *state;
  assert_string_equal(sim_cmd(f->t, f->s, "arch"), "OK");
  stop_cycle(f);
  reset_counts(f->t);
  assert_string_equal(sim_cmd(f->t, f->s, "maps"), "OK");
  /* 9 tables of 4 levels: read level by level in pipelined batches (plus
   * the register batch and the mode restore), not one round trip each. */
  assert_non_null(strstr(f->t->out, "8 tables"));
  assert_int_equal(f->t->reads_m, 16); /* each 4K table is two 0x800 units */
  assert_true(f->t->transacts <= 1 + 4 + 1);
  assert_int_equal(f->t->mode_on, 1);
  /* ptov right after: everything is cached. */
  reset_counts(f->t);
  assert_string_equal(sim_cmd(f->t, f->s, "ptov 0x300000"), "OK");
  assert_int_equal(f->t->requests, 0);
}

static void test_streaming_interrupt(void **state) {
  fx *f = *state;
  /* A long dump streams in bounded chunks and stops at ^C. */
  f->t->interrupt_after_outputs = 3;
  assert_string_equal(sim_cmd(f->t, f->s, "phys read 0 0x400000"), "E01");
  assert_non_null(strstr(f->t->out, "interrupted"));
  assert_true(f->t->out_len < 0x400000 / 16 * 80 / 4);
  assert_int_equal(f->t->phys_mode, 0);
  f->t->interrupt_after_outputs = 0;
  /* A search with no output yet stops too; reads after the stop are not sent. */
  f->t->force_intr = 1;
  unsigned long before = f->t->reads_m;
  assert_string_equal(sim_cmd(f->t, f->s, "phys search 0 0x1000000 77665544"), "E01");
  assert_non_null(strstr(f->t->out, "interrupted"));
  assert_true(f->t->reads_m - before <= 128); /* at most one pipelined batch */
  f->t->force_intr = 0;
  /* ^C seen by the loop thread (svc_interrupt) stops a dump after its first chunk. */
  f->t->intr_svc = f->s;
  assert_string_equal(sim_cmd(f->t, f->s, "phys read 0 0x100000"), "E01");
  assert_non_null(strstr(f->t->out, "interrupted"));
  f->t->intr_svc = NULL;
  /* The next command starts afresh. */
  assert_string_equal(sim_cmd(f->t, f->s, "phys fill 0x300000 0x10 00"), "OK");
}

static void test_keepalive(void **state) {
  fx *f = *state;
  f->s->keepalive_s = 0; /* as if every step took more than a second */
  /* Text: progress lines while nothing else is said. */
  assert_string_equal(sim_cmd(f->t, f->s, "phys search 0 0x1000000 0102030405060708"), "OK");
  assert_non_null(strstr(f->t->out, "phys search: at 0x40000, 0 matches so far\n"));
  assert_non_null(strstr(f->t->out, "0 matches\n"));
  assert_true(f->t->outputs > 10);
  /* JSON: only whitespace, so the document still parses. */
  f->t->outputs = 0;
  assert_string_equal(sim_cmd(f->t, f->s, "phys search 0 0x1000000 496e206d656d --json"), "OK");
  assert_true(f->t->outputs > 10);
  char *packed = malloc(f->t->out_len + 1);
  size_t k = 0;
  for (const char *p = f->t->out; *p; p++)
    if (*p != ' ')
      packed[k++] = *p;
  packed[k] = 0;
  assert_string_equal(packed, "{\"pattern_len\":6,\"matches\":[\"0x201980\"],\"count\":1,"
                              "\"skipped\":\"0x0\",\"max\":\"0x100\",\"truncated\":false}\n");
  free(packed);
  const char *o;
  /* maps: progress while the tables are read, then the document. */
  stop_cycle(f);
  assert_string_equal(sim_cmd(f->t, f->s, "maps --json"), "OK");
  o = f->t->out;
  while (*o == ' ')
    o++;
  assert_int_equal(strncmp(o, "{\"runs\":[", 9), 0);
  stop_cycle(f);
  assert_string_equal(sim_cmd(f->t, f->s, "maps"), "OK");
  assert_non_null(strstr(f->t->out, "reading page tables"));
  assert_string_equal(sim_cmd(f->t, f->s, "phys fill 0x300000 0x80000 00"), "OK");
  assert_non_null(strstr(f->t->out, "phys fill: 0x40000 of 0x80000 bytes written\n"));
}

static void test_vtop_counts_nocache(void **state) {
  fx *f = *state;
  assert_string_equal(sim_cmd(f->t, f->s, "arch"), "OK");
  stop_cycle(f);
  reset_counts(f->t);
  assert_string_equal(sim_cmd(f->t, f->s, "vtop 0xffff800000001980"), "OK");
  assert_int_equal(f->t->reads_m, 4);
  assert_int_equal(f->t->mode_on, 1);
  /* Without the cache the registers are still one snapshot per stop, the
   * tables are read again. */
  reset_counts(f->t);
  assert_string_equal(sim_cmd(f->t, f->s, "vtop 0xffff800000001980"), "OK");
  assert_int_equal(f->t->reads_p, 0);
  assert_int_equal(f->t->reads_m, 4);
  /* Client reads are forwarded as they are. */
  assert_int_equal(svc_classify(f->s, "m400000,4", 9), SVC_FORWARD);
  /* Through a context, with no cache: never a stale byte either. */
  assert_string_equal(sim_cmd(f->t, f->s, "context 0x2000"), "OK");
  fx_expect_bytes(f, SIM_UVA, SIM_UPA2, 0x20);
  f->t->ram[SIM_UPA2] ^= 0xff;
  fx_expect_bytes(f, SIM_UVA, SIM_UPA2, 0x20);
  /* Even the tables: remap the page while "running". */
  uint64_t pte = 0;
  for (uint64_t e = 0x10000; e < f->t->next_table; e += 8) {
    uint64_t v;
    memcpy(&v, f->t->ram + e, 8);
    if ((v & ~0xfffull) == SIM_UPA2)
      pte = e;
  }
  assert_true(pte != 0);
  uint64_t nv = SIM_UPA | 0x7;
  memcpy(f->t->ram + pte, &nv, 8);
  stop_cycle(f);
  fx_expect_bytes(f, SIM_UVA, SIM_UPA, 0x20);
}

static void test_client_reads(void **state) {
  fx *f = *state;
  assert_int_equal(svc_classify(f->s, "m400000,4", 9), SVC_HANDLE);
  fx_expect_bytes(f, SIM_UVA + 0x10, SIM_UPA + 0x10, 0x40);
  unsigned long before = f->t->requests;
  fx_expect_bytes(f, SIM_UVA + 0x20, SIM_UPA + 0x20, 0x100);
  fx_expect_bytes(f, SIM_UVA, SIM_UPA, 0x800);
  assert_int_equal(f->t->requests, before); /* served from the cache */
  /* ReadVirtual: a read running into an unmapped page returns what exists. */
  const char *r = fx_mread(f, SIM_UVA + 0xff0, 0x20);
  assert_int_equal(strlen(r), 2 * 0x10);
  /* Nothing readable: the target's own error. */
  assert_string_equal(fx_mread(f, 0x7f0000000000, 4), "E14");
  /* Larger than the target's packet: a partial read, never an overflow. */
  r = fx_mread(f, SIM_KVA, 0x3000);
  assert_int_equal(strlen(r), 2 * 0x1000);
  assert_string_equal(sim_packet(f->t, f->s, "mzz"), "E01");
  assert_string_equal(fx_mread(f, SIM_UVA, 0), "");
}

static void test_coherence(void **state) {
  fx *f = *state;
  fx_expect_bytes(f, SIM_UVA, SIM_UPA, 0x20);
  /* A write through the bridge: the target's OK, then the cache. */
  assert_string_equal(sim_packet(f->t, f->s, "M400004,4:deadbeef"), "OK");
  assert_int_equal(f->t->ram[SIM_UPA + 4], 0xde);
  unsigned long before = f->t->requests;
  fx_expect_bytes(f, SIM_UVA, SIM_UPA, 0x20);
  assert_int_equal(f->t->requests, before); /* updated in place, still cached */
  /* A failed write leaves nothing stale. */
  assert_string_equal(sim_packet(f->t, f->s, "M7f0000000000,1:00"), "E14");
  fx_expect_bytes(f, SIM_UVA, SIM_UPA, 0x20);
  /* The target changes memory while running: the resume drops the cache. */
  f->t->ram[SIM_UPA + 1] ^= 0xff;
  svc_event(f->s, SVC_EV_RESUME);
  svc_event(f->s, SVC_EV_STOP);
  fx_expect_bytes(f, SIM_UVA, SIM_UPA, 0x20);
  /* Through a resume packet classified by the service itself. */
  f->t->ram[SIM_UPA + 2] ^= 0xff;
  sim_packet(f->t, f->s, "c");
  fx_expect_bytes(f, SIM_UVA, SIM_UPA, 0x20);
  /* A register write (CR3 switch) changes what the addresses mean. */
  f->t->cr3 = SIM_ROOT2;
  sim_packet(f->t, f->s, "P2d=0020000000000000");
  fx_expect_bytes(f, SIM_UVA, SIM_UPA2, 0x20);
  f->t->cr3 = SIM_ROOT;
  svc_event(f->s, SVC_EV_REG_WRITE);
  /* A physical write aliasing a cached virtual unit. */
  fx_expect_bytes(f, SIM_KVA + 0x1980, SIM_KPA + 0x1980, 0x10);
  assert_string_equal(sim_cmd(f->t, f->s, "phys write 0x201980 41"), "OK");
  fx_expect_bytes(f, SIM_KVA + 0x1980, SIM_KPA + 0x1980, 0x10);
  assert_int_equal(f->t->ram[SIM_KPA + 0x1980], 0x41);
  /* A virtual write aliasing cached physical units (page tables too). */
  assert_string_equal(sim_cmd(f->t, f->s, "phys read 0x201980 0x10"), "OK");
  assert_string_equal(sim_packet(f->t, f->s, "Mffff800000001980,1:42"), "OK");
  assert_string_equal(sim_cmd(f->t, f->s, "phys read 0x201980 0x1"), "OK");
  assert_non_null(strstr(f->t->out, " 42 "));
  /* Reconnect and detach forget everything. */
  f->t->ram[SIM_UPA] ^= 0xff;
  svc_event(f->s, SVC_EV_DETACH);
  fx_expect_bytes(f, SIM_UVA, SIM_UPA, 0x20);
  f->t->ram[SIM_UPA] ^= 0xff;
  svc_event(f->s, SVC_EV_CONNECT);
  fx_expect_bytes(f, SIM_UVA, SIM_UPA, 0x20);
  /* The target's own monitor may run the guest or write memory. */
  f->t->ram[SIM_UPA + 5] ^= 0xff;
  assert_string_equal(sim_cmd(f->t, f->s, "info status"), "OK");
  fx_expect_bytes(f, SIM_UVA, SIM_UPA, 0x20);
  /* Software breakpoints may patch memory in a stub. */
  f->t->ram[SIM_UPA + 3] ^= 0xff;
  sim_packet(f->t, f->s, "Z0,400003,1");
  fx_expect_bytes(f, SIM_UVA, SIM_UPA, 0x20);
}

static void test_thread(void **state) {
  fx *f = *state;
  /* Virtual units belong to the selected thread (each CPU has its CR3). */
  sim_packet(f->t, f->s, "Hg1");
  fx_expect_bytes(f, SIM_UVA, SIM_UPA, 0x10);
  f->t->cr3 = SIM_ROOT2; /* CPU 2 runs another process */
  sim_packet(f->t, f->s, "Hg2");
  fx_expect_bytes(f, SIM_UVA, SIM_UPA2, 0x10);
  assert_string_equal(sim_cmd(f->t, f->s, "vtop 0x400000"), "OK");
  assert_non_null(strstr(f->t->out, "-> 0x310000"));
  f->t->cr3 = SIM_ROOT;
  sim_packet(f->t, f->s, "Hg1");
  fx_expect_bytes(f, SIM_UVA, SIM_UPA, 0x10);
  assert_string_equal(sim_cmd(f->t, f->s, "vtop 0x400000"), "OK");
  assert_non_null(strstr(f->t->out, "-> 0x300000"));
}

static void test_uncached(void **state) {
  fx *f = *state;
  assert_string_equal(sim_cmd(f->t, f->s, "uncached add 400000 400100"), "OK");
  fx_expect_bytes(f, SIM_UVA, SIM_UPA, 0x10);
  unsigned long m = f->t->reads_m;
  fx_expect_bytes(f, SIM_UVA, SIM_UPA, 0x10);
  assert_int_equal(f->t->reads_m, m + 1); /* never cached */
  /* Outside the range, still cached; the forwarded read was exactly 0x10. */
  fx_expect_bytes(f, SIM_UVA + 0x800, SIM_UPA + 0x800, 0x10);
  m = f->t->reads_m;
  fx_expect_bytes(f, SIM_UVA + 0x800, SIM_UPA + 0x800, 0x10);
  assert_int_equal(f->t->reads_m, m);
  /* Larger than the target's packet: exactly the bytes asked, in two
   * packets the target takes (no read-ahead). */
  m = f->t->reads_m;
  fx_expect_bytes(f, SIM_UVA, SIM_UPA, 0x1000);
  assert_int_equal(f->t->reads_m, m + 2);
  /* Physical uncached: exact reads, no read-ahead. */
  assert_string_equal(sim_cmd(f->t, f->s, "uncached add fec00000 fec01000"), "OK");
  assert_string_equal(sim_cmd(f->t, f->s, "cache flush"), "OK");
  assert_string_equal(sim_cmd(f->t, f->s, "vtop 0x601000"), "OK");
  assert_string_equal(sim_cmd(f->t, f->s, "cache stats --json"), "OK");
  assert_non_null(strstr(f->t->out, "\"units\":4")); /* 4 table units, no MMIO */
}

static void test_context(void **state) {
  fx *f = *state;
  assert_string_equal(sim_cmd(f->t, f->s, "context 0x2000"), "OK");
  assert_int_equal(svc_classify(f->s, "m400000,4", 9), SVC_HANDLE);
  fx_expect_bytes(f, SIM_UVA, SIM_UPA2, 0x40);
  assert_int_equal(f->t->phys_mode, 0);
  /* Unmapped in that address space (mapped in the default one). */
  assert_string_equal(fx_mread(f, SIM_KVA, 4), "E14");
  /* Writes go to the context's physical page. */
  assert_string_equal(sim_packet(f->t, f->s, "M400010,2:abcd"), "OK");
  assert_int_equal(f->t->ram[SIM_UPA2 + 0x10], 0xab);
  assert_int_equal(f->t->ram[SIM_UPA + 0x10], (uint8_t)(0x10 * 7 + 1));
  fx_expect_bytes(f, SIM_UVA, SIM_UPA2, 0x40);
  assert_string_equal(sim_packet(f->t, f->s, "M7f0000000000,1:00"), "E14");
  /* GDB's X probe gets the target's answer (QEMU has no X), so that GDB
   * uses M, which works in every context. */
  assert_string_equal(sim_packet(f->t, f->s, "X400020,0:"), "");
  assert_string_equal(sim_packet(f->t, f->s, "X400020,1:z"), "");
  assert_int_equal(f->t->ram[SIM_UPA2 + 0x20], (uint8_t)(0x20 * 3 + 5));
  assert_int_equal(f->t->phys_mode, 0);
  assert_string_equal(sim_cmd(f->t, f->s, "context default"), "OK");
  fx_expect_bytes(f, SIM_UVA, SIM_UPA, 0x40);
  /* Then GDB writes with M in the default context: it reaches memory. */
  assert_string_equal(sim_packet(f->t, f->s, "M400200,2:2222"), "OK");
  assert_int_equal(f->t->ram[SIM_UPA + 0x200], 0x22);
  fx_expect_bytes(f, SIM_UVA, SIM_UPA, 0x400);
}

static void test_context_x(void **state) {
  fx *f = *state;
  /* A stub with X: the probe says OK, X writes are translated in a context
   * and forwarded in the default one. */
  f->t->x_ok = 1;
  assert_string_equal(sim_cmd(f->t, f->s, "context 0x2000"), "OK");
  assert_string_equal(sim_packet(f->t, f->s, "X400020,0:"), "OK");
  assert_string_equal(sim_packet(f->t, f->s, "X400020,1:z"), "OK");
  assert_int_equal(f->t->ram[SIM_UPA2 + 0x20], 'z');
  fx_expect_bytes(f, SIM_UVA, SIM_UPA2, 0x40);
  assert_string_equal(sim_cmd(f->t, f->s, "context default"), "OK");
  assert_string_equal(sim_packet(f->t, f->s, "X400021,1:y"), "OK");
  assert_int_equal(f->t->ram[SIM_UPA + 0x21], 'y');
  fx_expect_bytes(f, SIM_UVA, SIM_UPA, 0x40);
}

static void test_bounded(void **state) {
  fx *f = *state;
  for (uint64_t off = 0; off < 0x8000; off += 0x800)
    fx_expect_bytes(f, SIM_KVA + off, SIM_KPA + off, 0x10);
  assert_string_equal(sim_cmd(f->t, f->s, "cache stats --json"), "OK");
  assert_non_null(strstr(f->t->out, "\"units\":4,"));
  assert_non_null(strstr(f->t->out, "\"evictions\":12,"));
  /* A dump larger than the cache does not evict what is cached. */
  assert_string_equal(sim_cmd(f->t, f->s, "cache flush"), "OK");
  fx_expect_bytes(f, SIM_KVA, SIM_KPA, 0x10);
  assert_string_equal(sim_cmd(f->t, f->s, "phys read 0x500000 0x8000"), "OK");
  unsigned long before = f->t->requests;
  fx_expect_bytes(f, SIM_KVA, SIM_KPA, 0x10);
  assert_int_equal(f->t->requests, before);
  /* maps with a cache smaller than its tables still works (scratch space). */
  assert_string_equal(sim_cmd(f->t, f->s, "maps"), "OK");
  assert_non_null(strstr(f->t->out, "5 runs, 516 leaves"));
}

static void test_mode_restored(void **state) {
  fx *f = *state;
  assert_string_equal(sim_cmd(f->t, f->s, "arch"), "OK");
  for (long at = 1; at <= 4; at++) {
    stop_cycle(f);
    f->t->phys_reads_seen = 0;
    f->t->fail_phys_read_at = at;
    assert_string_equal(sim_cmd(f->t, f->s, "vtop 0xffff800000001980"), "E01");
    assert_int_equal(f->t->phys_mode, 0);
    assert_non_null(strstr(f->t->out, "cannot read entry"));
  }
  f->t->fail_phys_read_at = 0;
  stop_cycle(f);
  f->t->phys_reads_seen = 0;
  f->t->fail_phys_read_at = 3;
  f->t->fail_sticky = 1;
  assert_string_equal(sim_cmd(f->t, f->s, "maps"), "OK");
  assert_non_null(strstr(f->t->out, "unreadable"));
  assert_int_equal(f->t->phys_mode, 0);
  f->t->fail_phys_read_at = 0;
  f->t->fail_sticky = 0;
  /* The context path too. */
  stop_cycle(f);
  assert_string_equal(sim_cmd(f->t, f->s, "context 0x2000"), "OK");
  stop_cycle(f);
  f->t->phys_reads_seen = 0;
  f->t->fail_phys_read_at = 2;
  assert_string_equal(fx_mread(f, SIM_UVA, 4), "E14");
  assert_int_equal(f->t->phys_mode, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_stale_phys_mode, setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_vtop_counts, setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_vtop_counts_nocache, setup_nocache, fx_teardown),
      cmocka_unit_test_setup_teardown(test_maps_pipelined, setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_streaming_interrupt, setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_keepalive, setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_client_reads, setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_coherence, setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_thread, setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_uncached, setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_context, setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_context_x, setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_bounded, setup_small, fx_teardown),
      cmocka_unit_test_setup_teardown(test_mode_restored, setup, fx_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
