/* RISC-V Sv32, Sv39, Sv48, Sv57 with mega/giga/tera pages, Svnapot, Svpbmt. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "simmem.h"

#define V  0x01ull
#define R  0x02ull
#define W  0x04ull
#define X  0x08ull
#define U  0x10ull
#define G  0x20ull
#define A  0x40ull
#define D  0x80ull
#define N  (1ull << 63)
#define NC (1ull << 61) /* PBMT = 1 */
#define IO (2ull << 61) /* PBMT = 2 */

static void detect(void **state) {
  (void)state;
  arch_ctx c;
  assert_int_equal(arch_detect_riscv(0, 64, &c), ARCH_ENOPAGING);
  assert_int_equal(c.mode, ARCH_MODE_NONE);
  assert_int_equal(arch_detect_riscv(0x7fffffff, 32, &c), ARCH_ENOPAGING);
  assert_int_equal(arch_detect_riscv(5ull << 60, 64, &c), ARCH_EUNSUPPORTED);
  assert_int_equal(arch_detect_riscv(1, 16, &c), ARCH_EINVAL);
  /* MODE, ASID and a full 44-bit PPN. */
  assert_int_equal(arch_detect_riscv((8ull << 60) | (0xbeefull << 44) | 0xfffffffffffull, 64, &c),
                   0);
  assert_int_equal(c.mode, ARCH_RISCV_SV39);
  assert_int_equal(c.asid, 0xbeef);
  assert_int_equal(c.root, 0xfffffffffff000ull);
  assert_int_equal(arch_detect_riscv((9ull << 60) | 0x80123, 64, &c), 0);
  assert_int_equal(c.mode, ARCH_RISCV_SV48);
  assert_int_equal(c.root, 0x80123000);
  assert_int_equal(arch_detect_riscv((10ull << 60) | 0x80123, 64, &c), 0);
  assert_int_equal(c.mode, ARCH_RISCV_SV57);
  assert_int_equal(arch_va_bits(&c), 57);
  /* Sv32: MODE bit 31, ASID 30:22, 22-bit PPN (34-bit physical). */
  assert_int_equal(arch_detect_riscv(0x80000000u | (0x1ffu << 22) | 0x3fffff, 32, &c), 0);
  assert_int_equal(c.mode, ARCH_RISCV_SV32);
  assert_int_equal(c.asid, 0x1ff);
  assert_int_equal(c.root, 0x3fffff000ull);
  char s[80];
  assert_true(arch_ctx_str(&c, s, sizeof s) > 0);
  assert_string_equal(s, "sv32 root=0x3fffff000 asid=0x1ff");
}

static void sv39(void **state) {
  (void)state;
  simmem m;
  arch_ctx c;
  pt_builder b;
  arch_xlate x;
  sim_init(&m);
  assert_int_equal(arch_detect_riscv(8ull << 60, 64, &c), 0);
  pt_init(&b, &m, &c, 0);
  arch_mem mem = sim_mem(&m, 0);
  pt_leaf(&b, 0x10000, 2, 0x80010000, V | R | W | X | U | A | D);
  pt_leaf(&b, 0x11000, 2, 0x80011000, V | R | W | X | U);
  pt_leaf(&b, 0xffffffc000200000ull, 1, 0x80200000, V | R | X | G | A);
  pt_leaf(&b, 0xffffffff80000000ull, 0, 0x80000000, V | R | W | G | A | D);
  /* Faults. */
  pt_leaf(&b, 0x12000, 2, 0x1000, V | W);                /* W without R */
  pt_leaf(&b, 0x400000, 1, 0x80201000, V | R);           /* misaligned megapage */
  pt_leaf(&b, 0x13000, 2, 0x1000, V | R | (1ull << 54)); /* reserved bit 54 */
  pt_leaf(&b, 0x14000, 2, 0x1000, V | R | (3ull << 61)); /* PBMT = 3 */
  pt_leaf(&b, 0x15000, 2, 0x1000, V);                    /* pointer at level 0 */
  pt_set(&b, 0x40000000, 0, pt_enc(&b, sim_alloc(&m, 4096, 4096)) | V | A);  /* A on a pointer */
  pt_set(&b, 0x80000000, 0, pt_enc(&b, sim_alloc(&m, 4096, 4096)) | V | IO); /* PBMT on pointer */
  /* Svpbmt and a 44-bit PPN: neither bits 63:54 nor anything leak. */
  pt_leaf(&b, 0x16000, 2, 0x80000000000000ull, V | R | W | NC);
  /* Svnapot: 16 PTEs for one 64K page at 0x90000. */
  for (unsigned i = 0; i < 16; i++)
    pt_set(&b, 0x100000 + i * 0x1000, 2, (0x98ull << 10) | N | V | R | W | A | D);

  assert_int_equal(arch_translate(&c, &mem, 0x10abc, &x), 0);
  assert_int_equal(x.pa, 0x80010abc);
  assert_int_equal(x.nlevels, 3);
  assert_string_equal(x.lv[0].name, "L2");
  assert_string_equal(x.lv[1].name, "L1");
  assert_string_equal(x.lv[2].name, "L0");
  assert_int_equal(x.lv[2].index, 0x10);
  assert_int_equal(x.lv[2].next_pa, 0x80010000);
  assert_string_equal(flagstr(c.mode, x.flags), "DA-UXWRV");
  char lf[128];
  assert_true(arch_flags_str(c.mode, x.flags, ARCH_FMT_LONG, lf, sizeof lf) > 0);
  assert_string_equal(lf, "valid read write exec user accessed dirty");
  assert_int_equal(arch_translate(&c, &mem, 0xffffffc0003fffffull, &x), 0);
  assert_int_equal(x.pa, 0x803fffff);
  assert_int_equal(x.page_size, 0x200000);
  assert_int_equal(x.lv[0].index, 0x100);
  assert_string_equal(flagstr(c.mode, x.flags), "-AG-X-RV");
  assert_int_equal(arch_translate(&c, &mem, 0xffffffff80001234ull, &x), 0);
  assert_int_equal(x.pa, 0x80001234);
  assert_int_equal(x.page_size, 0x40000000);
  assert_int_equal(x.nlevels, 1);

  static const struct {
    uint64_t va;
    int stop;
    unsigned nlevels;
  } faults[] = {
      {0x12000, ARCH_STOP_BAD_ENCODING, 3},
      {0x400000, ARCH_STOP_MISALIGNED, 2},
      {0x13000, ARCH_STOP_RESERVED, 3},
      {0x14000, ARCH_STOP_RESERVED, 3},
      {0x15000, ARCH_STOP_BAD_ENCODING, 3},
      {0x40000000, ARCH_STOP_BAD_ENCODING, 1},
      {0x80000000, ARCH_STOP_RESERVED, 1},
      {0x0000004000000000ull, ARCH_STOP_NONCANONICAL, 0},
      {0xffffffc000000000ull, ARCH_STOP_NOT_PRESENT, 2},
      {0xffffffc040000000ull, ARCH_STOP_NOT_PRESENT, 1},
      {0x17000, ARCH_STOP_NOT_PRESENT, 3},
  };
  for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
    assert_int_equal(arch_translate(&c, &mem, faults[i].va, &x), ARCH_ENOTMAPPED);
    assert_int_equal(x.stop, faults[i].stop);
    assert_int_equal(x.nlevels, faults[i].nlevels);
  }
  assert_int_equal(arch_translate(&c, &mem, 0x13000, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.bad_bits, 1ull << 54);

  assert_int_equal(arch_translate(&c, &mem, 0x16008, &x), 0);
  assert_int_equal(x.pa, 0x80000000000008ull);
  assert_int_equal(x.lv[2].next_pa, 0x80000000000000ull);
  assert_int_equal(ARCH_F_PBMT(x.flags), 1);
  /* Without Svpbmt the PBMT bits are reserved. */
  c.opts &= ~(uint32_t)ARCH_OPT_SVPBMT;
  assert_int_equal(arch_translate(&c, &mem, 0x16008, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_RESERVED);
  c.opts |= ARCH_OPT_SVPBMT;

  assert_int_equal(arch_translate(&c, &mem, 0x105123, &x), 0);
  assert_int_equal(x.pa, 0x95123);
  assert_int_equal(x.page_size, 0x1000);
  assert_true(x.flags & ARCH_F_CONTIG);
  c.opts &= ~(uint32_t)ARCH_OPT_SVNAPOT;
  assert_int_equal(arch_translate(&c, &mem, 0x105123, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_RESERVED);
  c.opts |= ARCH_OPT_SVNAPOT;

  run_log l;
  run_log_init(&l, c.mode);
  arch_walk_stats st;
  assert_int_equal(run_log_enum(&l, &c, &m, 0, ~0ull, &st), 0);
  assert_string_equal(l.text, "10000 +2000 -> 80010000 L0 ---UXWRV x2\n"
                              "16000 +1000 -> 80000000000000 L0 -----WRV x1\n"
                              "100000 +10000 -> 90000 L0 -----WRV x16\n"
                              "ffffffc000200000 +200000 -> 80200000 L1 --G-X-RV x1\n"
                              "ffffffff80000000 +40000000 -> 80000000 L2 --G--WRV x1\n");
  assert_int_equal(st.faults, 7);
  static uint8_t work[ARCH_WORK_MAX];
  assert_int_equal(arch_ptov(&c, &mem, 0x80010000, work, sizeof work, NULL, NULL, NULL), 2);
  assert_int_equal(arch_ptov(&c, &mem, 0x9f000, work, sizeof work, NULL, NULL, NULL), 1);
  sim_free(&m);
}

static void sv32(void **state) {
  (void)state;
  simmem m;
  arch_ctx c;
  pt_builder b;
  arch_xlate x;
  sim_init(&m);
  assert_int_equal(arch_detect_riscv(0x80000000u, 32, &c), 0);
  pt_init(&b, &m, &c, 0);
  arch_mem mem = sim_mem(&m, 0);
  pt_leaf(&b, 0x80000000, 0, 0x200400000ull, V | R | W | X | G); /* 4M, 34-bit PA */
  pt_leaf(&b, 0x00401000, 1, 0x3fffff000ull, V | R | U);
  pt_leaf(&b, 0x00c00000, 0, 0x00401000, V | R); /* misaligned */
  assert_int_equal(arch_translate(&c, &mem, 0x803fffff, &x), 0);
  assert_int_equal(x.pa, 0x2007fffffull);
  assert_int_equal(x.page_size, 0x400000);
  assert_string_equal(x.lv[0].name, "L1");
  assert_int_equal(x.lv[0].index, 0x200);
  assert_int_equal(arch_translate(&c, &mem, 0x00401fff, &x), 0);
  assert_int_equal(x.pa, 0x3ffffffffull);
  assert_int_equal(x.nlevels, 2);
  assert_string_equal(x.lv[1].name, "L0");
  assert_int_equal(x.lv[1].entry_pa, x.lv[0].next_pa + 1 * 4);
  assert_int_equal(arch_translate(&c, &mem, 0x00c00000, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_MISALIGNED);
  assert_int_equal(arch_translate(&c, &mem, 0x100000000ull, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_NONCANONICAL);
  assert_int_equal(arch_translate(&c, &mem, 0x00402000, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_NOT_PRESENT);
  assert_int_equal(x.nlevels, 2);
  assert_int_equal(arch_translate(&c, &mem, 0x40000000, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.nlevels, 1);
  run_log l;
  run_log_init(&l, c.mode);
  assert_int_equal(run_log_enum(&l, &c, &m, 0, ~0ull, NULL), 0);
  assert_string_equal(l.text, "401000 +1000 -> 3fffff000 L0 ---U--RV x1\n"
                              "80000000 +400000 -> 200400000 L1 --G-XWRV x1\n");
  sim_free(&m);
}

static void sv48_sv57(void **state) {
  (void)state;
  simmem m;
  arch_ctx c;
  pt_builder b;
  arch_xlate x;
  sim_init(&m);
  assert_int_equal(arch_detect_riscv(9ull << 60, 64, &c), 0);
  pt_init(&b, &m, &c, 0);
  arch_mem mem = sim_mem(&m, 0);
  pt_leaf(&b, 0xffff800000000000ull, 0, 0x8000000000ull, V | R | W | G); /* 512G terapage */
  pt_leaf(&b, 0x1000, 3, 0x2000, V | R | X | U);
  pt_leaf(&b, 0xffff808000000000ull, 0, 0x1000, V | R); /* misaligned terapage */
  assert_int_equal(arch_translate(&c, &mem, 0xffff80123456789aull, &x), 0);
  assert_int_equal(x.pa, 0x8000000000ull + 0x123456789aull);
  assert_int_equal(x.page_size, 0x8000000000ull);
  assert_string_equal(x.lv[0].name, "L3");
  assert_int_equal(arch_translate(&c, &mem, 0x1000, &x), 0);
  assert_int_equal(x.nlevels, 4);
  assert_string_equal(x.lv[3].name, "L0");
  assert_int_equal(arch_translate(&c, &mem, 0xffff808000000000ull, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_MISALIGNED);
  assert_int_equal(arch_translate(&c, &mem, 0x0000800000000000ull, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_NONCANONICAL);
  run_log l;
  run_log_init(&l, c.mode);
  assert_int_equal(run_log_enum(&l, &c, &m, 0, ~0ull, NULL), 0);
  assert_string_equal(l.text, "1000 +1000 -> 2000 L0 ---UX-RV x1\n"
                              "ffff800000000000 +8000000000 -> 8000000000 L3 --G--WRV x1\n");
  sim_free(&m);

  sim_init(&m);
  assert_int_equal(arch_detect_riscv(10ull << 60, 64, &c), 0);
  pt_init(&b, &m, &c, 0);
  mem = sim_mem(&m, 0);
  pt_leaf(&b, 0, 0, 0x1000000000000ull, V | R | W | X); /* 256T page */
  pt_leaf(&b, 0xff00000000001000ull, 4, 0x5000, V | R);
  assert_int_equal(arch_translate(&c, &mem, 0x123456789abcull, &x), 0);
  assert_int_equal(x.pa, 0x1123456789abcull);
  assert_int_equal(x.nlevels, 1);
  assert_string_equal(x.lv[0].name, "L4");
  assert_int_equal(arch_translate(&c, &mem, 0xff00000000001008ull, &x), 0);
  assert_int_equal(x.pa, 0x5008);
  assert_int_equal(x.nlevels, 5);
  assert_int_equal(x.lv[0].index, 0x100);
  assert_int_equal(arch_translate(&c, &mem, 0x0100000000000000ull, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_NONCANONICAL);
  assert_int_equal(arch_translate(&c, &mem, 0x0001000000000000ull, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_NOT_PRESENT);
  sim_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(detect),
      cmocka_unit_test(sv39),
      cmocka_unit_test(sv32),
      cmocka_unit_test(sv48_sv57),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
