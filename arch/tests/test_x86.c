/* x86 paging: 32-bit (PSE, PSE-36), PAE, 4-level and 5-level. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "simmem.h"

#define CR0_PG   0x80000011ull
#define CR4_PSE  0x10ull
#define CR4_PAE  0x20ull
#define CR4_LA57 0x1000ull
#define CR4_PCID 0x20000ull
#define EFER_LMA 0x500ull /* LME | LMA */
#define EFER_NXE 0x800ull
#define NX       (1ull << 63)

/* The worked example of the Windows debugger documentation: x86 without
 * PAE, DirBase 098fd000, VA 0012f980, PDE 0ba58067, PTE 09de9067. */
static void windbg_example(void **state) {
  (void)state;
  simmem m;
  arch_ctx ctx;
  arch_xlate x;
  sim_init(&m);
  assert_int_equal(arch_detect_x86(CR0_PG, 0, 0, 0x098fd000, &ctx), 0);
  assert_int_equal(ctx.mode, ARCH_X86_32);
  assert_int_equal(ctx.root, 0x098fd000);
  sim_add(&m, 0x098fd000, 4096);
  sim_add(&m, 0x0ba58000, 4096);
  uint8_t *page = sim_add(&m, 0x09de9000, 4096);
  sim_w32(&m, 0x098fd000, 0x0ba58067);
  sim_w32(&m, 0x0ba58000 + 0x12f * 4, 0x09de9067);
  memcpy(page + 0x980, "In memory", 9);
  arch_mem mem = sim_mem(&m, 0);

  assert_int_equal(arch_translate(&ctx, &mem, 0x0012f980, &x), 0);
  assert_int_equal(x.stop, ARCH_STOP_OK);
  assert_int_equal(x.pa, 0x09de9980);
  assert_int_equal(x.page_pa, 0x09de9000);
  assert_int_equal(x.page_size, 0x1000);
  assert_int_equal(x.nlevels, 2);
  assert_string_equal(x.lv[0].name, "PDE");
  assert_int_equal(x.lv[0].index, 0);
  assert_int_equal(x.lv[0].entry_pa, 0x098fd000);
  assert_int_equal(x.lv[0].raw, 0x0ba58067);
  assert_int_equal(x.lv[0].next_pa, 0x0ba58000);
  assert_int_equal(x.lv[0].leaf, 0);
  assert_string_equal(flagstr(ctx.mode, x.lv[0].flags), "---DA--UWV");
  assert_string_equal(x.lv[1].name, "PTE");
  assert_int_equal(x.lv[1].index, 0x12f);
  assert_int_equal(x.lv[1].entry_pa, 0x0ba584bc);
  assert_int_equal(x.lv[1].raw, 0x09de9067);
  assert_int_equal(x.lv[1].next_pa, 0x09de9000);
  assert_int_equal(x.lv[1].leaf, 1);
  assert_string_equal(flagstr(ctx.mode, x.lv[1].flags), "---DA--UWV");
  assert_string_equal(flagstr(ctx.mode, x.flags), "---DA--UWV");
  /* The bytes at the translated address are the ones !dc shows. */
  char buf[9];
  assert_int_equal(sim_read(&m, x.pa, buf, 9), 9);
  assert_memory_equal(buf, "In memory", 9);
  /* Long form. */
  char longf[128];
  assert_true(arch_flags_str(ctx.mode, x.flags, ARCH_FMT_LONG, longf, sizeof longf) > 0);
  assert_string_equal(longf, "valid user write accessed dirty");
  sim_free(&m);
}

static void x86_32_pse(void **state) {
  (void)state;
  simmem m;
  arch_ctx ctx;
  arch_xlate x;
  pt_builder b;
  sim_init(&m);
  assert_int_equal(arch_detect_x86(CR0_PG, CR4_PSE, EFER_NXE, 0, &ctx), 0);
  assert_int_equal(ctx.mode, ARCH_X86_32);
  assert_int_equal(ctx.opts & ARCH_OPT_NXE, 0); /* no NX in 4-byte entries */
  pt_init(&b, &m, &ctx, 0);
  arch_mem mem = sim_mem(&m, 0);
  /* 4M page, global. */
  pt_leaf(&b, 0x80000000, 0, 0x01c00000, 0x1e3);
  /* PSE-36: PDE bits 20:13 are PA bits 39:32. */
  pt_leaf(&b, 0xc0000000, 0, 0x00400000 | (0x3ull << 13), 0x83);
  /* Bit 21 of a 4M PDE is reserved. */
  pt_leaf(&b, 0xc0400000, 0, 0x00800000 | (1u << 21), 0x83);
  /* 4K pages and a not-present PTE next to them. */
  pt_leaf(&b, 0x00401000, 1, 0x00123000, 0x7);
  pt_leaf(&b, 0x00402000, 1, 0x00124000, 0x6); /* P clear */

  assert_int_equal(arch_translate(&ctx, &mem, 0x80123456, &x), 0);
  assert_int_equal(x.pa, 0x01d23456);
  assert_int_equal(x.page_size, 0x400000);
  assert_int_equal(x.nlevels, 1);
  assert_string_equal(flagstr(ctx.mode, x.flags), "-GLDA--KWV");

  assert_int_equal(arch_translate(&ctx, &mem, 0xc0000010, &x), 0);
  assert_int_equal(x.pa, 0x300400010ull);

  assert_int_equal(arch_translate(&ctx, &mem, 0xc0400000, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_RESERVED);
  assert_int_equal(x.bad_bits, 1u << 21);
  assert_int_equal(x.nlevels, 1);

  assert_int_equal(arch_translate(&ctx, &mem, 0x00401abc, &x), 0);
  assert_int_equal(x.pa, 0x00123abc);
  assert_int_equal(arch_translate(&ctx, &mem, 0x00402000, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_NOT_PRESENT);
  assert_int_equal(x.nlevels, 2);
  assert_string_equal(x.lv[1].name, "PTE");
  assert_int_equal(x.lv[1].raw, 0x00124006);
  /* Not present at the PDE. */
  assert_int_equal(arch_translate(&ctx, &mem, 0x40000000, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_NOT_PRESENT);
  assert_int_equal(x.nlevels, 1);
  assert_string_equal(x.lv[0].name, "PDE");
  assert_string_equal(arch_stop_str(x.stop), "not present");
  /* Beyond 32 bits. */
  assert_int_equal(arch_translate(&ctx, &mem, 0x100000000ull, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_NONCANONICAL);
  assert_int_equal(x.nlevels, 0);

  /* Without CR4.PSE, PS is ignored: the PDE points at a page table, which
   * here is not readable memory. */
  ctx.opts &= ~(uint32_t)ARCH_OPT_PSE;
  assert_int_equal(arch_translate(&ctx, &mem, 0x80123456, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_READ);
  assert_int_equal(x.nlevels, 2);
  assert_int_equal(x.lv[1].entry_pa, 0x01c00000 + 0x123 * 4);
  assert_string_equal(arch_stop_str(x.stop), "cannot read entry");
  ctx.opts |= ARCH_OPT_PSE;

  run_log l;
  run_log_init(&l, ctx.mode);
  arch_walk_stats st;
  assert_int_equal(run_log_enum(&l, &ctx, &m, 0, ~0ull, &st), 0);
  assert_string_equal(l.text, "401000 +1000 -> 123000 PTE -------UWV x1\n"
                              "80000000 +400000 -> 1c00000 PDE -GL----KWV x1\n"
                              "c0000000 +400000 -> 300400000 PDE --L----KWV x1\n");
  assert_int_equal(st.faults, 1);
  assert_int_equal(st.tables, 2);
  sim_free(&m);
}

static void x86_pae(void **state) {
  (void)state;
  simmem m;
  arch_ctx ctx;
  arch_xlate x;
  pt_builder b;
  sim_init(&m);
  assert_int_equal(arch_detect_x86(CR0_PG, CR4_PAE, EFER_NXE, 0, &ctx), 0);
  assert_int_equal(ctx.mode, ARCH_X86_PAE);
  pt_init(&b, &m, &ctx, 0);
  assert_int_not_equal(b.root & 0xfff, 0);
  /* CR3 holds the PDPT at 32-byte alignment; low bits are not address. */
  arch_ctx c2;
  assert_int_equal(arch_detect_x86(CR0_PG, CR4_PAE, EFER_NXE, b.root | 0x18, &c2), 0);
  assert_int_equal(c2.root, b.root);
  arch_mem mem = sim_mem(&m, 0);
  pt_leaf(&b, 0x00401000, 2, 0x12345000, NX | 0x3);
  pt_leaf(&b, 0x00402000, 2, 0x12346000, 0x3);
  pt_leaf(&b, 0xc0000000, 1, 0x17fe00000ull, 0x87);      /* 2M above 4G, user */
  pt_leaf(&b, 0xc0200000, 1, 0x00400000 | 0x2000, 0x83); /* bit 13 reserved */
  pt_leaf(&b, 0xc0400000, 2, 0x00500000, NX | 0x1);
  /* PDPTE 2: NX is reserved in a PAE PDPTE (even with EFER.NXE). */
  uint64_t pd2 = sim_alloc(&m, 4096, 4096);
  pt_set(&b, 0x80000000, 0, pd2 | NX | 0x1);
  /* PDPTE 1: the accessed bit QEMU sets (reserved in the SDM) is tolerated. */
  uint64_t pd1 = sim_alloc(&m, 4096, 4096);
  pt_set(&b, 0x40000000, 0, pd1 | 0x21);

  assert_int_equal(arch_translate(&ctx, &mem, 0x00401234, &x), 0);
  assert_int_equal(x.pa, 0x12345234);
  assert_int_equal(x.nlevels, 3);
  assert_string_equal(x.lv[0].name, "PDPTE");
  assert_int_equal(x.lv[0].entry_pa, b.root);
  assert_string_equal(x.lv[1].name, "PDE");
  assert_int_equal(x.lv[1].index, 2);
  assert_string_equal(x.lv[2].name, "PTE");
  assert_int_equal(x.lv[2].index, 1);
  assert_int_equal(x.lv[2].next_pa, 0x12345000); /* NX never in an address */
  assert_true(x.flags & ARCH_F_NX);
  assert_string_equal(flagstr(ctx.mode, x.flags), "-------KW-V");
  assert_int_equal(arch_translate(&ctx, &mem, 0x00402000, &x), 0);
  assert_string_equal(flagstr(ctx.mode, x.flags), "-------KWEV");

  assert_int_equal(arch_translate(&ctx, &mem, 0xc01fffff, &x), 0);
  assert_int_equal(x.pa, 0x17fffffffull);
  assert_int_equal(x.page_size, 0x200000);
  assert_int_equal(x.lv[0].index, 3);
  assert_string_equal(flagstr(ctx.mode, x.flags), "--L----UWEV");

  assert_int_equal(arch_translate(&ctx, &mem, 0xc0200000, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_RESERVED);
  assert_int_equal(x.bad_bits, 0x2000);
  assert_int_equal(x.nlevels, 2);

  assert_int_equal(arch_translate(&ctx, &mem, 0x80000000, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_RESERVED);
  assert_int_equal(x.bad_bits, NX);
  assert_int_equal(x.nlevels, 1);
  assert_int_equal(arch_translate(&ctx, &mem, 0x40000000, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_NOT_PRESENT);
  assert_int_equal(x.nlevels, 2);
  assert_int_equal(x.lv[0].next_pa, pd1);

  /* Not present at PDPTE (1), PDE and PTE. */
  pt_set(&b, 0x40000000, 0, 0);
  assert_int_equal(arch_translate(&ctx, &mem, 0x40000000, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_NOT_PRESENT);
  assert_int_equal(x.nlevels, 1);
  assert_int_equal(arch_translate(&ctx, &mem, 0x00800000, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.nlevels, 2);
  assert_int_equal(arch_translate(&ctx, &mem, 0x00403000, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.nlevels, 3);

  /* Without EFER.NXE bit 63 is reserved. */
  ctx.opts &= ~(uint32_t)ARCH_OPT_NXE;
  assert_int_equal(arch_translate(&ctx, &mem, 0x00401234, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_RESERVED);
  assert_int_equal(x.bad_bits, NX);
  ctx.opts |= ARCH_OPT_NXE;

  run_log l;
  run_log_init(&l, ctx.mode);
  arch_walk_stats st;
  assert_int_equal(run_log_enum(&l, &ctx, &m, 0, ~0ull, &st), 0);
  assert_string_equal(l.text, "401000 +1000 -> 12345000 PTE -------KW-V x1\n"
                              "402000 +1000 -> 12346000 PTE -------KWEV x1\n"
                              "c0000000 +200000 -> 17fe00000 PDE --L----UWEV x1\n"
                              "c0400000 +1000 -> 500000 PTE -------KR-V x1\n");
  assert_int_equal(st.faults, 2);
  sim_free(&m);
}

static void x86_64_4l(void **state) {
  (void)state;
  simmem m;
  arch_ctx ctx;
  arch_xlate x;
  pt_builder b;
  sim_init(&m);
  /* PCIDE with PCID 0x123 and bit 63 (no flush) in CR3. */
  assert_int_equal(arch_detect_x86(CR0_PG | 0x10000, CR4_PAE | CR4_PCID, EFER_LMA | EFER_NXE,
                                   0x8000000000abc123ull, &ctx),
                   0);
  assert_int_equal(ctx.mode, ARCH_X86_64_4L);
  assert_int_equal(ctx.root, 0xabc000);
  assert_int_equal(ctx.asid, 0x123);
  assert_true(ctx.opts & ARCH_OPT_NXE);
  pt_init(&b, &m, &ctx, 0);
  arch_mem mem = sim_mem(&m, 0);
  /* User 4K pages: three contiguous, one elsewhere, one read-only. */
  pt_leaf(&b, 0x400000, 3, 0x1000000, 0x67);
  pt_leaf(&b, 0x401000, 3, 0x1001000, 0x27);
  pt_leaf(&b, 0x402000, 3, 0x1002000, 0x7);
  pt_leaf(&b, 0x403000, 3, 0x5000000, 0x7);
  pt_leaf(&b, 0x404000, 3, 0x5001000, 0x5);
  /* Kernel 2M pages (global, NX), contiguous; an alias of 0x1001000. */
  pt_leaf(&b, 0xffff800000200000ull, 2, 0x200000, NX | 0x183);
  pt_leaf(&b, 0xffff800000400000ull, 2, 0x400000, NX | 0x183);
  pt_leaf(&b, 0xffff800000600000ull, 3, 0x1001000, NX | 0x103);
  /* 1G page. */
  pt_leaf(&b, 0xffffffff80000000ull, 1, 0x40000000, 0x83);
  /* Faults: PS in a PML4E, address bits beyond MAXPHYADDR. */
  uint64_t t = sim_alloc(&m, 4096, 4096);
  pt_set(&b, 0x0000100000000000ull, 0, t | 0x87);
  pt_leaf(&b, 0x0000200000000000ull, 3, 0x800000000000ull | 0x7000, 0x7);
  /* Permissions from the upper levels: a kernel, NX PDE above a user PTE. */
  pt_set(&b, 0x0000300000000000ull, 2, sim_alloc(&m, 4096, 4096) | NX | 0x3);
  pt_leaf(&b, 0x0000300000000000ull, 3, 0x9000, 0x7);

  assert_int_equal(arch_translate(&ctx, &mem, 0x401010, &x), 0);
  assert_int_equal(x.pa, 0x1001010);
  assert_int_equal(x.nlevels, 4);
  assert_string_equal(x.lv[0].name, "PML4E");
  assert_string_equal(x.lv[1].name, "PDPTE");
  assert_string_equal(x.lv[2].name, "PDE");
  assert_string_equal(x.lv[3].name, "PTE");
  assert_int_equal(x.lv[0].table_pa, b.root);
  assert_int_equal(x.lv[2].index, 2);
  assert_int_equal(x.lv[3].index, 1);
  assert_string_equal(flagstr(ctx.mode, x.flags), "----A--UWEV");

  assert_int_equal(arch_translate(&ctx, &mem, 0xffff800000234567ull, &x), 0);
  assert_int_equal(x.pa, 0x234567);
  assert_int_equal(x.page_size, 0x200000);
  assert_int_equal(x.nlevels, 3);
  assert_int_equal(x.lv[0].index, 0x100);
  assert_string_equal(flagstr(ctx.mode, x.flags), "-GL----KW-V");

  assert_int_equal(arch_translate(&ctx, &mem, 0xffffffffbfffffffull, &x), 0);
  assert_int_equal(x.pa, 0x7fffffff);
  assert_int_equal(x.page_size, 0x40000000);
  assert_int_equal(x.nlevels, 2);
  assert_int_equal(x.lv[1].index, 510);

  assert_int_equal(arch_translate(&ctx, &mem, 0x0000300000000000ull, &x), 0);
  assert_false(x.flags & ARCH_F_USER);
  assert_true(x.flags & ARCH_F_NX);
  assert_true(x.flags & ARCH_F_WRITE);
  assert_true(x.lv[3].flags & ARCH_F_USER);
  assert_false(x.lv[3].flags & ARCH_F_NX);

  assert_int_equal(arch_translate(&ctx, &mem, 0x0000100000000000ull, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_RESERVED);
  assert_int_equal(x.nlevels, 1);
  assert_int_equal(x.bad_bits, 0x80);

  /* With 46 physical address bits, bit 47 of an entry is reserved. */
  assert_int_equal(arch_translate(&ctx, &mem, 0x0000200000000000ull, &x), 0);
  assert_int_equal(x.pa, 0x800000007000ull);
  ctx.pa_bits = 46;
  assert_int_equal(arch_translate(&ctx, &mem, 0x0000200000000000ull, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_RESERVED);
  assert_int_equal(x.bad_bits, 0x800000000000ull);
  assert_int_equal(x.nlevels, 4);
  ctx.pa_bits = 0;

  /* Non-canonical and not present at every level. */
  assert_int_equal(arch_translate(&ctx, &mem, 0x0000800000000000ull, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_NONCANONICAL);
  assert_int_equal(x.nlevels, 0);
  assert_int_equal(arch_translate(&ctx, &mem, 0xffffc00000000000ull, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_NOT_PRESENT);
  assert_int_equal(x.nlevels, 1);
  assert_int_equal(arch_translate(&ctx, &mem, 0x0000008000000000ull - 0x1000, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.nlevels, 2);
  assert_int_equal(arch_translate(&ctx, &mem, 0x40000000, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.nlevels, 2);
  assert_int_equal(arch_translate(&ctx, &mem, 0x600000, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.nlevels, 3);
  assert_int_equal(arch_translate(&ctx, &mem, 0x405000, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.nlevels, 4);
  assert_int_equal(x.stop, ARCH_STOP_NOT_PRESENT);

  run_log l;
  run_log_init(&l, ctx.mode);
  arch_walk_stats st;
  assert_int_equal(run_log_enum(&l, &ctx, &m, 0, ~0ull, &st), 0);
  assert_string_equal(l.text, "400000 +3000 -> 1000000 PTE -------UWEV x3\n"
                              "403000 +1000 -> 5000000 PTE -------UWEV x1\n"
                              "404000 +1000 -> 5001000 PTE -------UREV x1\n"
                              "200000000000 +1000 -> 800000007000 PTE -------UWEV x1\n"
                              "300000000000 +1000 -> 9000 PTE -------KW-V x1\n"
                              "ffff800000200000 +400000 -> 200000 PDE -GL----KW-V x2\n"
                              "ffff800000600000 +1000 -> 1001000 PTE -G-----KW-V x1\n"
                              "ffffffff80000000 +40000000 -> 40000000 PDPTE --L----KWEV x1\n");
  assert_int_equal(st.faults, 1);
  assert_int_equal(st.runs, 8);
  /* A sub-range clips runs. */
  run_log_init(&l, ctx.mode);
  assert_int_equal(run_log_enum(&l, &ctx, &m, 0x401800, 0xffff800000300fffull, &st), 0);
  assert_string_equal(l.text, "401800 +1800 -> 1001800 PTE -------UWEV x2\n"
                              "403000 +1000 -> 5000000 PTE -------UWEV x1\n"
                              "404000 +1000 -> 5001000 PTE -------UREV x1\n"
                              "200000000000 +1000 -> 800000007000 PTE -------UWEV x1\n"
                              "300000000000 +1000 -> 9000 PTE -------KW-V x1\n"
                              "ffff800000200000 +101000 -> 200000 PDE -GL----KW-V x1\n");

  /* Reverse lookup: the alias. */
  static uint8_t work[ARCH_WORK_MAX];
  assert_int_equal(arch_ptov(&ctx, &mem, 0x1001234, work, sizeof work, NULL, NULL, NULL), 2);
  sim_free(&m);
}

typedef struct {
  uint64_t va[8];
  int n;
} va_list_t;

static int collect_va(void *arg, uint64_t va, const arch_run *run) {
  va_list_t *l = arg;
  (void)run;
  if (l->n < 8)
    l->va[l->n] = va;
  l->n++;
  return 0;
}

static void x86_ptov_aliases(void **state) {
  (void)state;
  simmem m;
  arch_ctx ctx;
  pt_builder b;
  static uint8_t work[ARCH_WORK_MAX];
  sim_init(&m);
  arch_ctx_init(&ctx, ARCH_X86_64_4L);
  pt_init(&b, &m, &ctx, 0);
  arch_mem mem = sim_mem(&m, 0);
  pt_leaf(&b, 0x7f0000001000ull, 3, 0x3000, 0x7);
  pt_leaf(&b, 0xffff888000000000ull, 2, 0x0, 0x83); /* direct map of 0..2M */
  pt_leaf(&b, 0x10000, 3, 0x4000, 0x7);
  va_list_t l = {{0}, 0};
  assert_int_equal(arch_ptov(&ctx, &mem, 0x3abc, work, sizeof work, collect_va, &l, NULL), 2);
  assert_int_equal(l.n, 2);
  assert_int_equal(l.va[0], 0x7f0000001abcull);
  assert_int_equal(l.va[1], 0xffff888000003abcull);
  l.n = 0;
  assert_int_equal(arch_ptov(&ctx, &mem, 0x400000, work, sizeof work, collect_va, &l, NULL), 0);
  sim_free(&m);
}

static void x86_64_5l(void **state) {
  (void)state;
  simmem m;
  arch_ctx ctx;
  arch_xlate x;
  pt_builder b;
  sim_init(&m);
  assert_int_equal(arch_detect_x86(CR0_PG, CR4_PAE | CR4_LA57, EFER_LMA | EFER_NXE, 0x1000, &ctx),
                   0);
  assert_int_equal(ctx.mode, ARCH_X86_64_5L);
  assert_int_equal(arch_va_bits(&ctx), 57);
  pt_init(&b, &m, &ctx, 0);
  arch_mem mem = sim_mem(&m, 0);
  pt_leaf(&b, 0xff11000000000000ull, 4, 0x8000, 0x103);
  pt_leaf(&b, 0x0000800000000000ull, 2, 0x40000000, 0x87); /* 1G, needs LA57 */
  pt_leaf(&b, 0x00ff000000000000ull, 3, 0x600000, 0x87);
  assert_int_equal(arch_translate(&ctx, &mem, 0xff11000000000123ull, &x), 0);
  assert_int_equal(x.pa, 0x8123);
  assert_int_equal(x.nlevels, 5);
  assert_string_equal(x.lv[0].name, "PML5E");
  assert_int_equal(x.lv[0].index, 0x111);
  assert_string_equal(x.lv[4].name, "PTE");
  assert_int_equal(arch_translate(&ctx, &mem, 0x0000800000001000ull, &x), 0);
  assert_int_equal(x.pa, 0x40001000);
  assert_int_equal(x.page_size, 0x40000000);
  assert_string_equal(x.lv[2].name, "PDPTE");
  assert_int_equal(arch_translate(&ctx, &mem, 0x0100000000000000ull, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_NONCANONICAL);
  /* PS in a PML5E is reserved. */
  pt_set(&b, 0xff20000000000000ull, 0, sim_alloc(&m, 4096, 4096) | 0x83);
  assert_int_equal(arch_translate(&ctx, &mem, 0xff20000000000000ull, &x), ARCH_ENOTMAPPED);
  assert_int_equal(x.stop, ARCH_STOP_RESERVED);
  run_log l;
  run_log_init(&l, ctx.mode);
  assert_int_equal(run_log_enum(&l, &ctx, &m, 0, ~0ull, NULL), 0);
  assert_string_equal(l.text, "800000000000 +40000000 -> 40000000 PDPTE --L----UWEV x1\n"
                              "ff000000000000 +200000 -> 600000 PDE --L----UWEV x1\n"
                              "ff11000000000000 +1000 -> 8000 PTE -G-----KWEV x1\n");
  sim_free(&m);
}

static void x86_detect(void **state) {
  (void)state;
  arch_ctx ctx;
  assert_int_equal(arch_detect_x86(0x11, CR4_PAE, EFER_LMA, 0x1000, &ctx), ARCH_ENOPAGING);
  assert_int_equal(ctx.mode, ARCH_MODE_NONE);
  assert_string_equal(arch_strerror(ARCH_ENOPAGING),
                      "paging is disabled: virtual addresses are physical");
  assert_int_equal(arch_detect_x86(CR0_PG, CR4_PAE, EFER_LMA, 0xfff0000000001fffull, &ctx), 0);
  assert_int_equal(ctx.root, 0x1000);
  assert_int_equal(ctx.asid, 0); /* no PCIDE: bits 11:0 are PWT/PCD, not a PCID */
  assert_int_equal(arch_detect_x86(CR0_PG, 0, 0, 0x12345fff, &ctx), 0);
  assert_int_equal(ctx.root, 0x12345000);
  /* KPTI user copy: bit 12 is an address bit. */
  assert_int_equal(arch_detect_x86(CR0_PG, CR4_PAE | CR4_PCID, EFER_LMA, 0x2001801, &ctx), 0);
  assert_int_equal(ctx.root, 0x2001000);
  assert_int_equal(ctx.asid, 0x801);
  char s[128];
  assert_true(arch_ctx_str(&ctx, s, sizeof s) > 0);
  assert_string_equal(s, "x86-64 root=0x2001000 pcid=0x801");
  assert_int_equal(arch_ctx_str(&ctx, s, 10), ARCH_ENOBUFS);
  arch_xlate x;
  assert_int_equal(arch_detect_x86(0, 0, 0, 0, &ctx), ARCH_ENOPAGING);
  assert_int_equal(arch_translate(&ctx, NULL, 0x1234, &x), ARCH_ENOPAGING);
  assert_int_equal(x.pa, 0x1234);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(windbg_example),   cmocka_unit_test(x86_32_pse),
      cmocka_unit_test(x86_pae),          cmocka_unit_test(x86_64_4l),
      cmocka_unit_test(x86_ptov_aliases), cmocka_unit_test(x86_64_5l),
      cmocka_unit_test(x86_detect),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
