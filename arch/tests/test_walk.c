/* The generic walker: table reads, chunked work buffers, prefetch,
 * cancellation, read errors, argument checks, names and strings. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "simmem.h"

static uint8_t work[ARCH_WORK_MAX];

/* An x86-64 space with 3 PML4 slots, a few PDs and many PTs. */
static void build(simmem *m, arch_ctx *c, pt_builder *b) {
  sim_init(m);
  arch_ctx_init(c, ARCH_X86_64_4L);
  pt_init(b, m, c, 0);
  for (unsigned i = 0; i < 40; i++) {
    uint64_t va = 0x400000 + (uint64_t)i * 0x1000;
    pt_leaf(b, va, 3, 0x1000000 + (uint64_t)i * 0x1000, (i % 7 == 3) ? 0x5 : 0x7);
  }
  for (unsigned i = 0; i < 20; i++) /* 20 PTs, one page each */
    pt_leaf(b, 0x7f0000000000ull + (uint64_t)i * 0x200000, 3, 0x2000000 + i * 0x1000, 0x7);
  for (unsigned i = 0; i < 8; i++)
    pt_leaf(b, 0xffff888000000000ull + (uint64_t)i * 0x200000, 2, (uint64_t)i * 0x200000, 0x183);
  pt_leaf(b, 0xffffffff80000000ull, 1, 0x40000000, 0x83);
}

static void reads_once_per_table(void **state) {
  (void)state;
  simmem m;
  arch_ctx c;
  pt_builder b;
  build(&m, &c, &b);
  arch_mem mem = sim_mem(&m, 0);
  arch_walk_stats st;
  run_log full;
  run_log_init(&full, c.mode);
  sim_log_clear(&m);
  assert_int_equal(
      arch_enumerate(&c, &mem, 0, ~0ull, work, arch_work_size(&c), run_log_cb, &full, &st), 0);
  /* Tables: PML4, 4 PDPTs, PD(0), PT(0x400000), PD(7f00..), 20 PTs, PD(ffff888..) = 29;
   * the 1G page lives in the fourth PDPT.  The root is read once although
   * it serves both canonical halves. */
  assert_int_equal(st.tables, 1 + 4 + 1 + 1 + 1 + 20 + 1);
  assert_int_equal(st.table_reads, st.tables);
  assert_int_equal(m.nlog, st.table_reads);
  assert_int_equal(sim_log_distinct(&m), st.tables);
  for (size_t i = 0; i < m.nlog; i++)
    assert_int_equal(m.log_len[i], 4096);
  assert_int_equal(st.read_errors, 0);
  assert_int_equal(st.leaves, 40 + 20 + 8 + 1);
  assert_int_equal(arch_work_size(&c), 4 * 4096);

  /* Any work size from ARCH_WORK_MIN up gives the same runs. */
  static const size_t sizes[] = {ARCH_WORK_MIN, 100, 4096, 4 * 4096 - 8};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    run_log l;
    run_log_init(&l, c.mode);
    arch_walk_stats s2;
    assert_int_equal(arch_enumerate(&c, &mem, 0, ~0ull, work, sizes[k], run_log_cb, &l, &s2), 0);
    assert_string_equal(l.text, full.text);
    assert_int_equal(s2.tables, st.tables);
    assert_true(s2.table_reads > st.table_reads);
  }
  assert_int_equal(arch_enumerate(&c, &mem, 0, ~0ull, work, ARCH_WORK_MIN - 1, NULL, NULL, NULL),
                   ARCH_EINVAL);
  sim_free(&m);
}

static int in_list(const uint64_t *v, size_t n, uint64_t x) {
  for (size_t i = 0; i < n; i++)
    if (v[i] == x)
      return 1;
  return 0;
}

static void prefetch(void **state) {
  (void)state;
  simmem m;
  arch_ctx c;
  pt_builder b;
  build(&m, &c, &b);
  arch_mem mem = sim_mem(&m, 1);
  arch_walk_stats st;
  sim_log_clear(&m);
  assert_int_equal(arch_enumerate(&c, &mem, 0, ~0ull, work, sizeof work, NULL, NULL, &st), 0);
  /* Every table but the root was announced before it was read. */
  assert_int_equal(m.nprefetch, st.tables - 1);
  assert_int_equal(m.prefetch_len, 4096);
  for (size_t i = 1; i < m.nlog; i++)
    assert_true(in_list(m.prefetched, m.nprefetch, m.log_pa[i]));
  assert_false(in_list(m.prefetched, m.nprefetch, m.log_pa[0]));
  sim_free(&m);
}

/* tables_only: a pass that looks for tables reads no last-level table,
 * still announces every table (the PTs through their PD's prefetch), and
 * reports only the larger pages. */
static void tables_only(void **state) {
  (void)state;
  simmem m;
  arch_ctx c;
  pt_builder b;
  build(&m, &c, &b);
  arch_mem mem = sim_mem(&m, 1);
  mem.tables_only = 1;
  arch_walk_stats st;
  run_log l;
  run_log_init(&l, c.mode);
  sim_log_clear(&m);
  assert_int_equal(arch_enumerate(&c, &mem, 0, ~0ull, work, sizeof work, run_log_cb, &l, &st), 0);
  /* PML4, 4 PDPTs and 3 PDs are read; the 21 PTs only announced. */
  assert_int_equal(st.tables, 1 + 4 + 3);
  assert_int_equal(sim_log_distinct(&m), 8);
  assert_int_equal(m.nprefetch, 4 + 3 + 21);
  assert_int_equal(st.leaves, 8 + 1); /* the 2M and 1G pages */
  assert_int_equal(m.nlog, 8);        /* a full pass reads 29 (reads_once_per_table) */
  sim_free(&m);
}

static void cancel(void **state) {
  (void)state;
  simmem m;
  arch_ctx c;
  pt_builder b;
  build(&m, &c, &b);
  run_log l;
  run_log_init(&l, c.mode);
  l.stop_after = 2;
  arch_walk_stats st;
  assert_int_equal(run_log_enum(&l, &c, &m, 0, ~0ull, &st), ARCH_ECANCELED);
  assert_int_equal(l.nruns, 2);
  assert_int_equal(st.runs, 2);
  /* The walk stopped early: not every table was read. */
  assert_true(st.tables < 29);
  sim_free(&m);
}

static void read_errors(void **state) {
  (void)state;
  simmem m;
  arch_ctx c;
  pt_builder b;
  arch_xlate x;
  build(&m, &c, &b);
  arch_mem mem = sim_mem(&m, 0);
  /* Fail the page table of 0x400000. */
  assert_int_equal(arch_translate(&c, &mem, 0x400000, &x), 0);
  uint64_t pt = x.lv[3].table_pa;
  m.fail_pa = pt;
  assert_int_equal(arch_translate(&c, &mem, 0x400000, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_READ);
  assert_int_equal(x.nlevels, 4);
  assert_int_equal(x.lv[3].entry_pa, pt);
  arch_walk_stats st;
  run_log l;
  run_log_init(&l, c.mode);
  assert_int_equal(run_log_enum(&l, &c, &m, 0, ~0ull, &st), 0);
  assert_int_equal(st.read_errors, 1);
  assert_int_equal(st.first_error_pa, pt);
  assert_int_equal(st.leaves, 20 + 8 + 1);
  assert_memory_equal(l.text, "7f0000000000 +1000", 17);
  assert_non_null(strstr(l.text, "7f0000000000 +1000"));
  /* An unreadable root. */
  m.fail_pa = c.root;
  assert_int_equal(arch_translate(&c, &mem, 0x400000, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_READ);
  assert_int_equal(x.nlevels, 1);
  assert_int_equal(run_log_enum(&l, &c, &m, 0, ~0ull, &st), 0);
  assert_int_equal(st.read_errors, 1);
  assert_int_equal(st.leaves, 0);
  m.fail_pa = 0;
  /* A short read: only the first half of a table exists. */
  sim_free(&m);
  sim_init(&m);
  arch_ctx_init(&c, ARCH_X86_64_4L);
  uint64_t root = 0x10000, pdpt = 0x20000, pd = 0x30000, ptab = 0x40000;
  sim_add(&m, root, 4096);
  sim_add(&m, pdpt, 4096);
  sim_add(&m, pd, 4096);
  sim_add(&m, ptab, 2048);
  arch_set_root(&c, 0, root);
  sim_w64(&m, root, pdpt | 7);
  sim_w64(&m, pdpt, pd | 7);
  sim_w64(&m, pd, ptab | 7);
  sim_w64(&m, ptab + 8, 0x5000 | 7);
  mem = sim_mem(&m, 0);
  assert_int_equal(arch_translate(&c, &mem, 0x1000, &x), 0);
  assert_int_equal(x.pa, 0x5000);
  assert_int_equal(arch_translate(&c, &mem, 0x100000, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_READ);
  run_log_init(&l, c.mode);
  assert_int_equal(run_log_enum(&l, &c, &m, 0, ~0ull, &st), 0);
  assert_string_equal(l.text, "1000 +1000 -> 5000 PTE -------UWEV x1\n");
  assert_int_equal(st.read_errors, 1);
  assert_int_equal(st.first_error_pa, ptab + 2048);
  sim_free(&m);
}

static void args_and_names(void **state) {
  (void)state;
  arch_ctx c;
  arch_xlate x;
  simmem m;
  sim_init(&m);
  arch_mem mem = sim_mem(&m, 0);
  assert_int_equal(arch_ctx_init(&c, ARCH_MODE_NONE), ARCH_ENOPAGING);
  assert_int_equal(arch_enumerate(&c, &mem, 0, 1, work, sizeof work, NULL, NULL, NULL),
                   ARCH_ENOPAGING);
  assert_int_equal(arch_ctx_init(&c, ARCH_X86_64_4L), 0);
  assert_int_equal(arch_enumerate(&c, &mem, 2, 1, work, sizeof work, NULL, NULL, NULL),
                   ARCH_EINVAL);
  assert_int_equal(arch_enumerate(&c, NULL, 0, 1, work, sizeof work, NULL, NULL, NULL),
                   ARCH_EINVAL);
  assert_int_equal(arch_translate(&c, NULL, 0, &x), ARCH_EINVAL);
  assert_int_equal(arch_translate(NULL, &mem, 0, &x), ARCH_EINVAL);
  assert_int_equal(arch_ctx_init(&c, ARCH_MODE_COUNT), ARCH_EINVAL);
  c.mode = (arch_mode)99;
  assert_int_equal(arch_translate(&c, &mem, 0, &x), ARCH_EINVAL);
  /* AArch64 with a granule that is not 4K/16K/64K. */
  arch_ctx_init(&c, ARCH_AARCH64);
  c.a64[0].granule = 13;
  assert_int_equal(arch_translate(&c, &mem, 0, &x), ARCH_EINVAL);
  /* Root unreadable in AArch64 too (nothing in memory). */
  c.a64[0].granule = 12;
  assert_int_equal(arch_translate(&c, &mem, 0x1000, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_READ);
  assert_int_equal(arch_set_root(&c, 2, 0), ARCH_EINVAL);

  static const char *const names[] = {"none",    "x86-32", "x86-pae", "x86-64", "x86-64-la57",
                                      "aarch64", "sv32",   "sv39",    "sv48",   "sv57"};
  for (int i = 0; i < ARCH_MODE_COUNT; i++) {
    assert_string_equal(arch_mode_name((arch_mode)i), names[i]);
    if (i)
      assert_int_equal(arch_mode_parse(names[i], strlen(names[i])), i);
  }
  assert_int_equal(arch_mode_parse("X86_64", 6), ARCH_X86_64_4L);
  assert_int_equal(arch_mode_parse("arm64", 5), ARCH_AARCH64);
  assert_int_equal(arch_mode_parse("riscv-sv48", 10), ARCH_RISCV_SV48);
  assert_int_equal(arch_mode_parse("sv39x", 4), ARCH_RISCV_SV39);
  assert_int_equal(arch_mode_parse("sv40", 4), ARCH_MODE_NONE);
  assert_string_equal(arch_mode_name((arch_mode)42), "none");
  assert_string_equal(arch_err_name(ARCH_ENOPAGING), "ARCH_ENOPAGING");
  assert_string_equal(arch_err_name(-77), "ARCH_EUNKNOWN");
  assert_string_equal(arch_strerror(0), "success");
  assert_string_equal(arch_stop_str(ARCH_STOP_MISALIGNED), "misaligned superpage");
  assert_string_equal(arch_stop_str(ARCH_STOP_NONCANONICAL), "non-canonical address");
  assert_string_equal(arch_stop_str(77), "unknown stop reason");

  char buf[64];
  uint32_t f = ARCH_F_VALID | ARCH_F_WRITE | ARCH_F_USER | ARCH_F_NX;
  assert_int_equal(arch_flags_str(ARCH_X86_64_4L, f, ARCH_FMT_COMPACT, buf, sizeof buf), 11);
  assert_string_equal(buf, "-------UW-V");
  assert_int_equal(arch_flags_str(ARCH_X86_32, f, ARCH_FMT_COMPACT, buf, sizeof buf), 10);
  assert_string_equal(buf, "-------UWV");
  assert_int_equal(arch_flags_str(ARCH_X86_64_4L, f, ARCH_FMT_COMPACT, buf, 11), ARCH_ENOBUFS);
  assert_int_equal(arch_flags_str(ARCH_X86_64_4L, f, ARCH_FMT_LONG, buf, sizeof buf), 19);
  assert_string_equal(buf, "valid user write nx");
  assert_int_equal(arch_flags_str(ARCH_X86_64_4L, 0, ARCH_FMT_LONG, buf, sizeof buf), 9);
  assert_string_equal(buf, "not-valid");
  assert_int_equal(arch_flags_str(ARCH_X86_64_4L, 0, ARCH_FMT_COMPACT, buf, sizeof buf), 11);
  assert_string_equal(buf, "-----------");
  assert_int_equal(arch_flags_str(ARCH_MODE_NONE, f, ARCH_FMT_COMPACT, buf, sizeof buf),
                   ARCH_EINVAL);
  assert_int_equal(arch_flags_str(ARCH_RISCV_SV39, ARCH_F_VALID | ARCH_F_READ | (2u << 24),
                                  ARCH_FMT_LONG, buf, sizeof buf),
                   23);
  assert_string_equal(buf, "valid read exec pbmt-io");
  sim_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(reads_once_per_table), cmocka_unit_test(prefetch),
      cmocka_unit_test(tables_only),          cmocka_unit_test(cancel),
      cmocka_unit_test(read_errors),          cmocka_unit_test(args_and_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
