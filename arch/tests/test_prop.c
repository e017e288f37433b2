/* Property test: on random page tables of every mode, translate() agrees
 * with enumerate() for every VA a run lists, and reports "not mapped" for
 * VAs outside every run. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "simmem.h"

static uint64_t rng_state;

static uint64_t rnd(void) {
  /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dull;
}

static uint64_t below(uint64_t n) {
  return n ? rnd() % n : 0;
}

typedef struct {
  simmem *m;
  pt_builder *b;
  arch_mode mode;
  int tables_left;
} gen;

static uint64_t rd_entry(gen *g, uint64_t pa) {
  uint8_t *p = sim_ptr(g->m, pa, g->b->esize);
  uint64_t v = 0;
  for (int i = (int)g->b->esize - 1; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static void wr_entry(gen *g, uint64_t pa, uint64_t v) {
  if (g->b->esize == 4)
    sim_w32(g->m, pa, (uint32_t)v);
  else
    sim_w64(g->m, pa, v);
}

/* Random leaf attribute bits for the family (mostly valid). */
static uint64_t leaf_attr(gen *g, int last) {
  uint64_t r = rnd(), a;
  switch (g->mode) {
  case ARCH_X86_32:
  case ARCH_X86_PAE:
  case ARCH_X86_64_4L:
  case ARCH_X86_64_5L:
    a = 1 | (r & 0x17e & ~0x80ull); /* W U PWT PCD A D G */
    if (!last)
      a |= 0x80;
    if (g->mode != ARCH_X86_32 && (r & 0x10000))
      a |= 1ull << 63;
    if ((r & 0x3f0000) == 0x100000)
      a |= 1ull << 13; /* reserved in a large page, harmless in a PTE */
    return a;
  case ARCH_AARCH64:
    a = (last ? 3 : 1) | (r & 0xfdc) | ((r >> 20) & 7ull) << 52;
    if ((r & 0xf000000) == 0x1000000)
      a ^= 2; /* sometimes the wrong descriptor type */
    return a;
  default: {
    static const uint64_t perms[] = {0x2, 0x6, 0xa, 0xe, 0x8, 0x4};
    a = 1 | perms[below(6)] | (r & 0xf0);
    if (g->b->esize == 8 && (r & 0x300) == 0x100)
      a |= (uint64_t)below(3) << 61;
    return a;
  }
  }
}

static uint64_t table_attr(gen *g, unsigned depth) {
  uint64_t r = rnd();
  switch (g->mode) {
  case ARCH_X86_PAE:
    if (depth == 0)
      return 1;
    /* fall through */
  case ARCH_X86_32:
  case ARCH_X86_64_4L:
  case ARCH_X86_64_5L:
    return 1 | (r & 0x6) | ((g->mode != ARCH_X86_32 && (r & 0x100)) ? 1ull << 63 : 0);
  case ARCH_AARCH64:
    return 3 | ((r & 0xf) << 59);
  default:
    return 1 | (((r & 0xf) == 0) ? 0x20 : 0);
  }
}

static void fill(gen *g, uint64_t table, unsigned depth) {
  pt_builder *b = g->b;
  unsigned nent = 1u << b->bits[depth];
  int last = depth + 1 == b->nlevels;
  unsigned groups = 1 + (unsigned)below(4);
  for (unsigned k = 0; k < groups; k++) {
    unsigned start = (unsigned)below(nent);
    unsigned kind = (unsigned)below(10);
    if (!last && kind < 5 && g->tables_left > 0) {
      /* A next-level table (sometimes shared by two entries: aliases). */
      g->tables_left--;
      size_t tsize = ((size_t)1 << b->bits[depth + 1]) * b->esize;
      uint64_t t = sim_alloc(g->m, tsize, tsize);
      wr_entry(g, table + (uint64_t)start * b->esize, pt_enc(b, t) | table_attr(g, depth));
      if (below(4) == 0)
        wr_entry(g, table + (uint64_t)((start + 1) % nent) * b->esize,
                 pt_enc(b, t) | table_attr(g, depth));
      fill(g, t, depth + 1);
    } else if (kind < 9) {
      /* A run of leaves with contiguous PAs (sometimes misaligned). */
      unsigned len = 1 + (unsigned)below(20);
      uint64_t psize = 1ull << b->shift[depth];
      uint64_t pa = (below(1ull << 20) * psize) & ((1ull << 46) - 1);
      if (below(8) == 0)
        pa += 0x1000;
      uint64_t attr = leaf_attr(g, last);
      for (unsigned i = 0; i < len && start + i < nent; i++)
        wr_entry(g, table + (uint64_t)(start + i) * b->esize, pt_enc(b, pa + i * psize) | attr);
    } else {
      /* Junk. */
      uint64_t v = rnd();
      if (b->esize == 4)
        v &= 0xffffffff;
      wr_entry(g, table + (uint64_t)start * b->esize, v);
    }
  }
  (void)rd_entry;
}

typedef struct {
  arch_run *r;
  size_t n, cap;
} runs;

static int keep(void *arg, const arch_run *run) {
  runs *rs = arg;
  if (rs->n == rs->cap) {
    rs->cap = rs->cap ? 2 * rs->cap : 256;
    rs->r = realloc(rs->r, rs->cap * sizeof *rs->r);
  }
  rs->r[rs->n++] = *run;
  return 0;
}

static const arch_run *find_run(const runs *rs, uint64_t va) {
  size_t lo = 0, hi = rs->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    const arch_run *r = &rs->r[mid];
    if (va < r->va)
      hi = mid;
    else if (va - r->va >= r->size)
      lo = mid + 1;
    else
      return r;
  }
  return NULL;
}

static uint8_t work[ARCH_WORK_MAX];

static void check_va(const arch_ctx *ctx, const arch_mem *mem, const runs *rs, uint64_t va,
                     unsigned long *mapped, unsigned long *unmapped) {
  arch_xlate x;
  const arch_run *r = find_run(rs, va);
  int rc = arch_translate(ctx, mem, va, &x);
  if (r) {
    if (rc != 0)
      fail_msg("%s va %#llx listed in run %#llx+%#llx but translate says %s",
               arch_mode_name(ctx->mode), (unsigned long long)va, (unsigned long long)r->va,
               (unsigned long long)r->size, arch_stop_str(x.stop));
    assert_int_equal(x.pa, r->pa + (va - r->va));
    assert_int_equal(x.flags & ~(uint32_t)ARCH_F_VOLATILE, r->flags);
    assert_int_equal(x.page_size, r->page_size);
    assert_string_equal(x.lv[x.nlevels - 1].name, r->level);
    (*mapped)++;
  } else {
    if (rc == 0)
      fail_msg("%s va %#llx -> %#llx by translate but in no run", arch_mode_name(ctx->mode),
               (unsigned long long)va, (unsigned long long)x.pa);
    assert_int_equal(rc, ARCH_ENOTMAPPED);
    (*unmapped)++;
  }
}

static void one(arch_ctx *ctx, int seed_round) {
  simmem m;
  pt_builder b0, b1;
  gen g;
  runs rs = {0};
  sim_init(&m);
  pt_init(&b0, &m, ctx, 0);
  g.m = &m;
  g.b = &b0;
  g.mode = ctx->mode;
  g.tables_left = 40;
  fill(&g, b0.root, 0);
  if (ctx->mode == ARCH_AARCH64) {
    pt_init(&b1, &m, ctx, 1);
    g.b = &b1;
    g.tables_left = 40;
    fill(&g, b1.root, 0);
  }
  arch_mem mem = sim_mem(&m, seed_round & 1);
  arch_walk_stats st;
  size_t wl = (seed_round % 3 == 2) ? ARCH_WORK_MIN + below(4096) : sizeof work;
  assert_int_equal(arch_enumerate(ctx, &mem, 0, ~0ull, work, wl, keep, &rs, &st), 0);
  assert_int_equal(st.runs, rs.n);
  uint64_t leaves = 0;
  for (size_t i = 0; i < rs.n; i++) {
    leaves += rs.r[i].count;
    assert_true(rs.r[i].size > 0);
    if (i)
      assert_true(rs.r[i].va > rs.r[i - 1].va + (rs.r[i - 1].size - 1)); /* sorted, disjoint */
  }
  assert_int_equal(leaves, st.leaves);
  unsigned long mapped = 0, unmapped = 0;
  for (size_t i = 0; i < rs.n; i++) {
    const arch_run *r = &rs.r[i];
    check_va(ctx, &mem, &rs, r->va, &mapped, &unmapped);
    check_va(ctx, &mem, &rs, r->va + r->size - 1, &mapped, &unmapped);
    check_va(ctx, &mem, &rs, r->va + below(r->size), &mapped, &unmapped);
    /* Every page of short runs. */
    if (r->count <= 4)
      for (uint64_t off = 0; off < r->size; off += r->page_size)
        check_va(ctx, &mem, &rs, r->va + off, &mapped, &unmapped);
    /* Just outside. */
    if (r->va)
      check_va(ctx, &mem, &rs, r->va - 1, &mapped, &unmapped);
    if (r->va + r->size)
      check_va(ctx, &mem, &rs, r->va + r->size, &mapped, &unmapped);
  }
  /* Random VAs: near the roots' populated areas and anywhere. */
  for (int i = 0; i < 2000; i++) {
    uint64_t va = rnd();
    if (i & 1) {
      unsigned vb = arch_va_bits(ctx);
      va &= (vb >= 64 ? ~0ull : (1ull << vb) - 1);
      if ((i & 2) && vb < 64)
        va |= ~((1ull << vb) - 1) * (ctx->mode != ARCH_X86_32 && ctx->mode != ARCH_X86_PAE &&
                                     ctx->mode != ARCH_RISCV_SV32);
    }
    if (rs.n && (i % 5 == 0)) {
      const arch_run *r = &rs.r[below(rs.n)];
      va = r->va + below(r->size + 0x400000) - 0x200000;
    }
    check_va(ctx, &mem, &rs, va, &mapped, &unmapped);
  }
  /* ptov agrees: the PA of a random run start maps back to its VA. */
  if (rs.n) {
    const arch_run *r = &rs.r[below(rs.n)];
    int n = arch_ptov(ctx, &mem, r->pa, work, sizeof work, NULL, NULL, NULL);
    assert_true(n >= 1);
  }
  if (getenv("ARCH_PROP_VERBOSE"))
    printf("%-12s runs %4zu leaves %6llu tables %3llu faults %3llu mapped %5lu unmapped %5lu\n",
           arch_mode_name(ctx->mode), rs.n, (unsigned long long)st.leaves,
           (unsigned long long)st.tables, (unsigned long long)st.faults, mapped, unmapped);
  assert_true(mapped > 0 || rs.n == 0);
  assert_true(unmapped > 0);
  free(rs.r);
  sim_free(&m);
}

static void property(void **state) {
  (void)state;
  static const arch_mode modes[] = {ARCH_X86_32,     ARCH_X86_PAE,    ARCH_X86_64_4L,
                                    ARCH_X86_64_5L,  ARCH_RISCV_SV32, ARCH_RISCV_SV39,
                                    ARCH_RISCV_SV48, ARCH_RISCV_SV57};
  const char *env = getenv("ARCH_PROP_ROUNDS");
  int rounds = env ? atoi(env) : 60;
  for (int round = 0; round < rounds; round++) {
    rng_state = 0x9e3779b97f4a7c15ull * (uint64_t)(round + 1);
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
      arch_ctx c;
      arch_ctx_init(&c, modes[i]);
      if (round & 2)
        c.opts &= ~(uint32_t)(ARCH_OPT_NXE | ARCH_OPT_SVPBMT);
      one(&c, round);
    }
    /* AArch64: every granule, several sizes, both halves. */
    static const uint8_t gran[] = {12, 14, 16};
    for (size_t gi = 0; gi < 3; gi++) {
      arch_ctx c;
      arch_ctx_init(&c, ARCH_AARCH64);
      c.a64[0].granule = gran[gi];
      c.a64[1].granule = gran[(gi + round) % 3];
      c.a64[0].txsz = (uint8_t)(16 + below(12));
      c.a64[1].txsz = (uint8_t)(16 + below(12));
      c.a64[0].hpd = (uint8_t)(round & 1);
      c.a64[1].tbi = 1;
      if (round & 4)
        c.pa_bits = 40;
      one(&c, round);
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(property),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
