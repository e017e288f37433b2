/* AArch64 stage 1 EL1&0: 4K/16K/64K granules, TTBR0/TTBR1, TBI, blocks,
 * hierarchical permissions. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "simmem.h"

#define B(n)    (1ull << (n))
/* Descriptor pieces. */
#define PAGE    0x3ull
#define BLOCK   0x1ull
#define AF      B(10)
#define NG      B(11)
#define SH_IN   (3ull << 8)
#define ATTR(i) ((uint64_t)(i) << 2)
#define AP_EL0  B(6) /* AP[1] */
#define AP_RO   B(7) /* AP[2] */
#define CONT    B(52)
#define PXN     B(53)
#define UXN     B(54)
#define PXNT    B(59)
#define UXNT    B(60)
#define APT_NO0 B(61)
#define APT_RO  B(62)

#define USER_CODE (AF | SH_IN | NG | AP_EL0 | AP_RO | PXN)
#define KERN_DATA (AF | SH_IN | ATTR(4) | UXN)

static uint64_t tcr(unsigned t0sz, unsigned tg0, unsigned t1sz, unsigned tg1, uint64_t extra) {
  return t0sz | ((uint64_t)tg0 << 14) | ((uint64_t)t1sz << 16) | ((uint64_t)tg1 << 30) |
         (5ull << 32) | extra;
}

static void detect(void **state) {
  (void)state;
  arch_ctx c;
  assert_int_equal(arch_detect_aarch64(0x30d00800, 0, 0, 0, &c), ARCH_ENOPAGING);
  assert_int_equal(c.mode, ARCH_MODE_NONE);
  /* TG0: 0 = 4K, 1 = 64K, 2 = 16K.  TG1: 1 = 16K, 2 = 4K, 3 = 64K. */
  static const struct {
    unsigned tg0, tg1, g0, g1;
  } enc[] = {{0, 2, 12, 12}, {1, 3, 16, 16}, {2, 1, 14, 14}, {0, 1, 12, 14}, {2, 3, 14, 16}};
  for (size_t i = 0; i < sizeof enc / sizeof enc[0]; i++) {
    assert_int_equal(arch_detect_aarch64(1, tcr(16, enc[i].tg0, 25, enc[i].tg1, 0), 0, 0, &c), 0);
    assert_int_equal(c.mode, ARCH_AARCH64);
    assert_int_equal(c.a64[0].granule, enc[i].g0);
    assert_int_equal(c.a64[1].granule, enc[i].g1);
    assert_int_equal(c.a64[0].txsz, 16);
    assert_int_equal(c.a64[1].txsz, 25);
  }
  /* ASID (63:48) and CnP (0) are not address bits; A1 picks the ASID. */
  assert_int_equal(arch_detect_aarch64(1, tcr(16, 0, 16, 2, B(37) | B(38) | B(23) | B(41)),
                                       0x00ab000040000001ull, 0x00cd000050003000ull, &c),
                   0);
  assert_int_equal(c.a64[0].root, 0x40000000);
  assert_int_equal(c.a64[1].root, 0x50003000);
  assert_int_equal(c.asid, 0xab);
  assert_true(c.a64[0].tbi && c.a64[1].tbi);
  assert_true(c.a64[1].epd && !c.a64[0].epd);
  assert_true(c.a64[0].hpd && !c.a64[1].hpd);
  assert_int_equal(c.pa_bits, 48);
  assert_int_equal(arch_detect_aarch64(1, tcr(16, 0, 16, 2, B(22)), 0x00ab000040000001ull,
                                       0x00cd000050003000ull, &c),
                   0);
  assert_int_equal(c.asid, 0xcd);
  char s[160];
  assert_true(arch_ctx_str(&c, s, sizeof s) > 0);
  assert_string_equal(s, "aarch64 ttbr0=0x40000000 4K t0sz=16 ttbr1=0x50003000 4K t1sz=16 "
                         "pa_bits=48");
  /* IPS = 2 is 40 bits. */
  assert_int_equal(arch_detect_aarch64(1, 16 | (2ull << 32), 0, 0, &c), 0);
  assert_int_equal(c.pa_bits, 40);
  /* TxSZ outside the architectural range is clamped (16..48, 47 with 64K). */
  arch_ctx_init(&c, ARCH_AARCH64);
  c.a64[0].txsz = 5;
  assert_int_equal(arch_va_bits(&c), 48);
  c.a64[0].txsz = 60;
  assert_int_equal(arch_va_bits(&c), 16);
  c.a64[0].granule = 16;
  assert_int_equal(arch_va_bits(&c), 17);
  /* TCR.DS (52-bit with 4K/16K) is not supported. */
  assert_int_equal(arch_detect_aarch64(1, tcr(16, 0, 16, 2, B(59)), 0, 0, &c), ARCH_EUNSUPPORTED);
}

typedef struct {
  simmem m;
  arch_ctx ctx;
  pt_builder b0, b1;
  arch_mem mem;
} fx;

static void setup4k(fx *f) {
  sim_init(&f->m);
  assert_int_equal(arch_detect_aarch64(1, tcr(16, 0, 16, 2, 0), 0, 0, &f->ctx), 0);
  pt_init(&f->b0, &f->m, &f->ctx, 0);
  pt_init(&f->b1, &f->m, &f->ctx, 1);
  f->mem = sim_mem(&f->m, 0);
  pt_builder *b0 = &f->b0, *b1 = &f->b1;
  pt_leaf(b0, 0x400000, 3, 0x80000000, PAGE | USER_CODE);
  pt_leaf(b0, 0x401000, 3, 0x80001000, PAGE | USER_CODE);
  pt_leaf(b0, 0x402000, 3, 0x80002000, BLOCK | USER_CODE); /* 0b01 at L3: reserved */
  pt_leaf(b0, 0x40000000, 1, 0xc0000000, BLOCK | KERN_DATA);
  pt_leaf(b0, 0x10000000000ull, 0, 0, BLOCK | KERN_DATA); /* no L0 blocks with 4K */
  pt_set(b0, 0x8000000000ull, 0, sim_alloc(&f->m, 4096, 4096) | 3 | APT_NO0 | UXNT);
  pt_leaf(b0, 0x8000000000ull, 3, 0x90000000, PAGE | AF | SH_IN | NG | AP_EL0);
  pt_leaf(b1, 0xffff000000200000ull, 2, 0x200000, BLOCK | KERN_DATA | AP_RO);
  pt_leaf(b1, 0xffff000000400000ull, 3, 0x1000, PAGE | AF | SH_IN | NG | AP_EL0 | UXN);
}

static void granule_4k(void **state) {
  (void)state;
  fx f;
  arch_xlate x;
  setup4k(&f);
  arch_ctx *c = &f.ctx;
  assert_int_equal(arch_translate(c, &f.mem, 0x401abc, &x), 0);
  assert_int_equal(x.pa, 0x80001abc);
  assert_int_equal(x.page_size, 0x1000);
  assert_int_equal(x.half, 0);
  assert_int_equal(x.nlevels, 4);
  assert_string_equal(x.lv[0].name, "L0");
  assert_string_equal(x.lv[3].name, "L3");
  assert_int_equal(x.lv[3].index, 1);
  assert_int_equal(x.lv[2].index, 2);
  assert_int_equal(x.lv[0].table_pa, f.b0.root);
  assert_string_equal(flagstr(c->mode, x.flags), "--AI0URX-V");
  char lf[160];
  assert_true(arch_flags_str(c->mode, x.flags, ARCH_FMT_LONG, lf, sizeof lf) > 0);
  assert_string_equal(lf, "valid user read-only pxn af ng inner-shareable attr0");

  /* L1 block (1G). */
  assert_int_equal(arch_translate(c, &f.mem, 0x7fffffff, &x), 0);
  assert_int_equal(x.pa, 0xffffffff);
  assert_int_equal(x.page_size, 0x40000000);
  assert_int_equal(x.nlevels, 2);
  assert_string_equal(flagstr(c->mode, x.flags), "-GAI4KW-PV");
  assert_true(x.lv[1].flags & ARCH_F_LARGE);

  /* Reserved encodings: 0b01 at L3, a block at L0. */
  assert_int_equal(arch_translate(c, &f.mem, 0x402000, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_BAD_ENCODING);
  assert_int_equal(x.nlevels, 4);
  assert_int_equal(arch_translate(c, &f.mem, 0x10000000000ull, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_BAD_ENCODING);
  assert_int_equal(x.nlevels, 1);

  /* Hierarchical: APTable[0] removes EL0 access, UXNTable adds UXN; the
   * page itself is EL0 read-write (which alone would imply PXN). */
  assert_int_equal(arch_translate(c, &f.mem, 0x8000000000ull, &x), 0);
  assert_true(x.lv[3].flags & ARCH_F_USER);
  assert_false(x.lv[3].flags & ARCH_F_NX);
  assert_false(x.lv[0].flags & ARCH_F_USER);
  assert_true(x.lv[0].flags & ARCH_F_NX);
  assert_string_equal(flagstr(c->mode, x.flags), "--AI0KW-PV");
  /* With TCR.HPD0 the table bits are ignored and EL0-writable implies PXN. */
  c->a64[0].hpd = 1;
  assert_int_equal(arch_translate(c, &f.mem, 0x8000000000ull, &x), 0);
  assert_string_equal(flagstr(c->mode, x.flags), "--AI0UWX-V");
  c->a64[0].hpd = 0;
  /* APTable[1] makes the subtree read-only, PXNTable adds PXN. */
  uint64_t e = sim_r64(&f.m, x.lv[0].entry_pa);
  sim_w64(&f.m, x.lv[0].entry_pa, (e & ~(APT_NO0 | UXNT)) | APT_RO | PXNT);
  assert_int_equal(arch_translate(c, &f.mem, 0x8000000000ull, &x), 0);
  assert_string_equal(flagstr(c->mode, x.flags), "--AI0URX-V");
  sim_w64(&f.m, x.lv[0].entry_pa, e);

  /* TTBR1. */
  assert_int_equal(arch_translate(c, &f.mem, 0xffff000000212345ull, &x), 0);
  assert_int_equal(x.half, 1);
  assert_int_equal(x.pa, 0x212345);
  assert_int_equal(x.page_size, 0x200000);
  assert_int_equal(x.lv[0].table_pa, f.b1.root);
  assert_int_equal(x.lv[0].index, 0);
  assert_int_equal(x.lv[1].index, 0);
  assert_int_equal(x.lv[2].index, 1);
  assert_string_equal(flagstr(c->mode, x.flags), "-GAI4KR-PV");
  assert_int_equal(arch_translate(c, &f.mem, 0xffff000000400010ull, &x), 0);
  assert_int_equal(x.pa, 0x1010);
  assert_false(x.lv[3].flags & ARCH_F_PXN);
  assert_true(x.flags & ARCH_F_PXN); /* EL0-writable: never EL1-executable */
  assert_string_equal(flagstr(c->mode, x.flags), "--AI0UW--V");

  /* Outside both ranges; not present at each level. */
  assert_int_equal(arch_translate(c, &f.mem, 0x0001000000000000ull, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_OUTSIDE_TTBR);
  assert_int_equal(x.nlevels, 0);
  assert_string_equal(arch_stop_str(x.stop), "outside both TTBR ranges");
  assert_int_equal(arch_translate(c, &f.mem, 0xfffe000000000000ull, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_OUTSIDE_TTBR);
  assert_int_equal(arch_translate(c, &f.mem, 0x5a00000000400000ull, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_OUTSIDE_TTBR); /* tagged, TBI0 off */
  assert_int_equal(arch_translate(c, &f.mem, 0x0000ff0000000000ull, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_NOT_PRESENT);
  assert_int_equal(x.nlevels, 1);
  assert_int_equal(arch_translate(c, &f.mem, 0x80000000, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.nlevels, 2);
  assert_int_equal(arch_translate(c, &f.mem, 0x600000, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.nlevels, 3);
  assert_int_equal(arch_translate(c, &f.mem, 0x403000, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.nlevels, 4);

  /* Top-byte-ignore: a tagged pointer translates like its untagged form. */
  c->a64[0].tbi = 1;
  c->a64[1].tbi = 1;
  assert_int_equal(arch_translate(c, &f.mem, 0x5a00000000401abcull, &x), 0);
  assert_int_equal(x.pa, 0x80001abc);
  assert_int_equal(arch_translate(c, &f.mem, 0x12ff000000400010ull, &x), 0);
  assert_int_equal(x.half, 1);
  assert_int_equal(x.pa, 0x1010);
  c->a64[0].tbi = c->a64[1].tbi = 0;

  /* EPD1: walks for TTBR1 disabled. */
  c->a64[1].epd = 1;
  assert_int_equal(arch_translate(c, &f.mem, 0xffff000000212345ull, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_WALK_DISABLED);
  c->a64[1].epd = 0;

  /* Output address beyond TCR.IPS (40 bits). */
  pt_leaf(&f.b0, 0x404000, 3, 0x10000000000ull, PAGE | USER_CODE);
  assert_int_equal(arch_translate(c, &f.mem, 0x404000, &x), 0);
  assert_int_equal(x.pa, 0x10000000000ull);
  c->pa_bits = 40;
  assert_int_equal(arch_translate(c, &f.mem, 0x404000, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_ADDR_SIZE);
  assert_int_equal(x.bad_bits, 0x10000000000ull);
  pt_set(&f.b0, 0x404000, 3, 0);

  run_log l;
  run_log_init(&l, c->mode);
  arch_walk_stats st;
  assert_int_equal(run_log_enum(&l, c, &f.m, 0, ~0ull, &st), 0);
  assert_string_equal(l.text, "400000 +2000 -> 80000000 L3 ---I0URX-V x2\n"
                              "40000000 +40000000 -> c0000000 L1 -G-I4KW-PV x1\n"
                              "8000000000 +1000 -> 90000000 L3 ---I0KW-PV x1\n"
                              "ffff000000200000 +200000 -> 200000 L2 -G-I4KR-PV x1\n"
                              "ffff000000400000 +1000 -> 1000 L3 ---I0UW--V x1\n");
  assert_int_equal(st.faults, 2);
  /* EPD1: the TTBR1 half has no mappings. */
  c->a64[1].epd = 1;
  run_log_init(&l, c->mode);
  assert_int_equal(run_log_enum(&l, c, &f.m, 0xffff000000000000ull, ~0ull, &st), 0);
  assert_string_equal(l.text, "");
  c->a64[1].epd = 0;

  static uint8_t work[ARCH_WORK_MAX];
  assert_int_equal(arch_ptov(c, &f.mem, 0x1234, work, sizeof work, NULL, NULL, NULL), 1);
  /* Alias the 2M kernel block onto the user page's PA. */
  pt_leaf(&f.b1, 0xffff000000600000ull, 3, 0x80001000, PAGE | KERN_DATA);
  assert_int_equal(arch_ptov(c, &f.mem, 0x80001008, work, sizeof work, NULL, NULL, NULL), 2);
  sim_free(&f.m);
}

static void granule_16k(void **state) {
  (void)state;
  simmem m;
  arch_ctx c;
  pt_builder b, b1;
  arch_xlate x;
  sim_init(&m);
  /* TTBR0 16K with 48 bits (L0 has 2 entries), TTBR1 16K with 36 bits
   * (starts at L2). */
  assert_int_equal(arch_detect_aarch64(1, tcr(16, 2, 28, 1, 0), 0, 0, &c), 0);
  pt_init(&b, &m, &c, 0);
  pt_init(&b1, &m, &c, 1);
  arch_mem mem = sim_mem(&m, 0);
  pt_leaf(&b, 0x4000, 3, 0x44000, PAGE | USER_CODE);
  pt_leaf(&b, 0x2000000, 2, 0x40000000, BLOCK | KERN_DATA); /* 32M block */
  pt_leaf(&b, 0x1000000000ull, 1, 0, BLOCK | KERN_DATA);    /* no L1 blocks with 16K */
  pt_leaf(&b, 0x1000000000000ull - 0x4000, 3, 0x8000, PAGE | USER_CODE | CONT);
  pt_leaf(&b1, 0xfffffff000000000ull, 0, 0x42000000, BLOCK | KERN_DATA);
  pt_leaf(&b1, 0xffffffffffffc000ull, 1, 0x1c000, PAGE | KERN_DATA);
  assert_int_equal(arch_va_bits(&c), 48);

  assert_int_equal(arch_translate(&c, &mem, 0x5234, &x), 0);
  assert_int_equal(x.pa, 0x45234);
  assert_int_equal(x.page_size, 0x4000);
  assert_int_equal(x.nlevels, 4);
  assert_int_equal(x.lv[3].index, 1);
  assert_int_equal(x.lv[0].index, 0);
  assert_int_equal(arch_translate(&c, &mem, 0x3ffffff, &x), 0);
  assert_int_equal(x.pa, 0x41ffffff);
  assert_int_equal(x.page_size, 0x2000000);
  assert_string_equal(x.lv[2].name, "L2");
  assert_int_equal(arch_translate(&c, &mem, 0x1000000000ull, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_BAD_ENCODING);
  assert_int_equal(arch_translate(&c, &mem, 0xffffffffffffull, &x), 0);
  assert_int_equal(x.lv[0].index, 1);
  assert_int_equal(x.lv[3].index, 0x7ff);
  assert_int_equal(x.pa, 0xbfff);
  assert_true(x.flags & ARCH_F_CONTIG);
  assert_string_equal(flagstr(c.mode, x.flags), "C-AI0URX-V");

  /* TTBR1 (T1SZ = 28): L2 and L3 only, 36 bits. */
  assert_int_equal(arch_translate(&c, &mem, 0xfffffff000001234ull, &x), 0);
  assert_int_equal(x.nlevels, 1);
  assert_string_equal(x.lv[0].name, "L2");
  assert_int_equal(x.pa, 0x42001234);
  assert_int_equal(arch_translate(&c, &mem, 0xffffffffffffc010ull, &x), 0);
  assert_int_equal(x.nlevels, 2);
  assert_int_equal(x.lv[0].index, 0x7ff);
  assert_string_equal(x.lv[1].name, "L3");
  assert_int_equal(x.pa, 0x1c010);
  assert_int_equal(arch_translate(&c, &mem, 0xffffffe000000000ull, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_OUTSIDE_TTBR);

  run_log l;
  run_log_init(&l, c.mode);
  assert_int_equal(run_log_enum(&l, &c, &m, 0, ~0ull, NULL), 0);
  assert_string_equal(l.text, "4000 +4000 -> 44000 L3 ---I0URX-V x1\n"
                              "2000000 +2000000 -> 40000000 L2 -G-I4KW-PV x1\n"
                              "ffffffffc000 +4000 -> 8000 L3 C--I0URX-V x1\n"
                              "fffffff000000000 +2000000 -> 42000000 L2 -G-I4KW-PV x1\n"
                              "ffffffffffffc000 +4000 -> 1c000 L3 -G-I4KW-PV x1\n");
  sim_free(&m);
}

static void granule_64k(void **state) {
  (void)state;
  simmem m;
  arch_ctx c;
  pt_builder b, b1;
  arch_xlate x;
  sim_init(&m);
  /* TTBR0 64K, 48 bits (L1 has 64 entries); TTBR1 64K, 42 bits (L2, L3). */
  assert_int_equal(arch_detect_aarch64(1, tcr(16, 1, 22, 3, 0), 0, 0, &c), 0);
  pt_init(&b, &m, &c, 0);
  pt_init(&b1, &m, &c, 1);
  arch_mem mem = sim_mem(&m, 0);
  /* Bits 15:12 of a 64K descriptor are not address bits here. */
  pt_leaf(&b, 0x10000, 2, 0x90000 | 0xf000, PAGE | USER_CODE);
  pt_leaf(&b, 0x20000000, 1, 0x80000000, BLOCK | KERN_DATA); /* 512M block */
  pt_leaf(&b, 0x40000000000ull, 0, 0, BLOCK | KERN_DATA);    /* no L1 blocks */
  pt_leaf(&b1, 0xfffffc0000000000ull, 1, 0x30000, PAGE | KERN_DATA);
  assert_int_equal(arch_translate(&c, &mem, 0x1fedc, &x), 0);
  assert_int_equal(x.pa, 0x9fedc);
  assert_int_equal(x.page_size, 0x10000);
  assert_int_equal(x.nlevels, 3);
  assert_string_equal(x.lv[0].name, "L1");
  assert_int_equal(x.lv[2].index, 1);
  assert_int_equal(x.lv[2].next_pa, 0x90000);
  assert_int_equal(arch_translate(&c, &mem, 0x3fffffff, &x), 0);
  assert_int_equal(x.pa, 0x9fffffff);
  assert_int_equal(x.page_size, 0x20000000);
  assert_int_equal(arch_translate(&c, &mem, 0x40000000000ull, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_BAD_ENCODING);
  assert_int_equal(arch_translate(&c, &mem, 0xfffffc0000000abcull, &x), 0);
  assert_int_equal(x.nlevels, 2);
  assert_string_equal(x.lv[0].name, "L2");
  assert_int_equal(x.pa, 0x30abc);
  run_log l;
  run_log_init(&l, c.mode);
  assert_int_equal(run_log_enum(&l, &c, &m, 0, ~0ull, NULL), 0);
  assert_string_equal(l.text, "10000 +10000 -> 90000 L3 ---I0URX-V x1\n"
                              "20000000 +20000000 -> 80000000 L2 -G-I4KW-PV x1\n"
                              "fffffc0000000000 +10000 -> 30000 L3 -G-I4KW-PV x1\n");
  assert_int_equal(arch_work_size(&c), 3 * 65536);
  sim_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(detect),
      cmocka_unit_test(granule_4k),
      cmocka_unit_test(granule_16k),
      cmocka_unit_test(granule_64k),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
