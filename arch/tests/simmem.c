#define _DEFAULT_SOURCE
#include "simmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n);
  if (!q) {
    fprintf(stderr, "out of memory\n");
    abort();
  }
  return q;
}

void sim_init(simmem *m) {
  memset(m, 0, sizeof *m);
  m->next = 0x100000;
}

void sim_free(simmem *m) {
  for (size_t i = 0; i < m->n; i++)
    free(m->r[i].data);
  free(m->r);
  free(m->log_pa);
  free(m->log_len);
  memset(m, 0, sizeof *m);
}

static sim_region *find(simmem *m, uint64_t pa) {
  size_t lo = 0, hi = m->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    sim_region *r = &m->r[mid];
    if (pa < r->pa)
      hi = mid;
    else if (pa - r->pa >= r->size)
      lo = mid + 1;
    else
      return r;
  }
  return NULL;
}

uint8_t *sim_add(simmem *m, uint64_t pa, size_t size) {
  sim_region *r = find(m, pa);
  if (r && r->pa == pa && r->size == size)
    return r->data;
  if (r || find(m, pa + size - 1)) {
    fprintf(stderr, "sim_add: overlap at %#llx\n", (unsigned long long)pa);
    abort();
  }
  if (m->n == m->cap) {
    m->cap = m->cap ? 2 * m->cap : 64;
    m->r = xrealloc(m->r, m->cap * sizeof *m->r);
  }
  size_t i = m->n;
  while (i > 0 && m->r[i - 1].pa > pa) {
    m->r[i] = m->r[i - 1];
    i--;
  }
  m->r[i].pa = pa;
  m->r[i].size = size;
  m->r[i].data = calloc(1, size);
  if (!m->r[i].data)
    abort();
  m->n++;
  return m->r[i].data;
}

uint64_t sim_alloc(simmem *m, size_t size, size_t align) {
  uint64_t pa = (m->next + align - 1) & ~(uint64_t)(align - 1);
  while (find(m, pa) || find(m, pa + size - 1))
    pa += align;
  sim_add(m, pa, size);
  m->next = pa + size;
  return pa;
}

uint8_t *sim_ptr(simmem *m, uint64_t pa, size_t len) {
  sim_region *r = find(m, pa);
  if (!r || pa - r->pa + len > r->size) {
    fprintf(stderr, "sim_ptr: %#llx not in memory\n", (unsigned long long)pa);
    abort();
  }
  return r->data + (pa - r->pa);
}

void sim_w32(simmem *m, uint64_t pa, uint32_t v) {
  uint8_t *p = sim_ptr(m, pa, 4);
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

void sim_w64(simmem *m, uint64_t pa, uint64_t v) {
  uint8_t *p = sim_ptr(m, pa, 8);
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t sim_r64(simmem *m, uint64_t pa) {
  uint8_t *p = sim_ptr(m, pa, 8);
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

int sim_read(void *ctx, uint64_t pa, void *buf, size_t len) {
  simmem *m = ctx;
  if (m->nlog == m->logcap) {
    m->logcap = m->logcap ? 2 * m->logcap : 256;
    m->log_pa = xrealloc(m->log_pa, m->logcap * sizeof *m->log_pa);
    m->log_len = xrealloc(m->log_len, m->logcap * sizeof *m->log_len);
  }
  m->log_pa[m->nlog] = pa;
  m->log_len[m->nlog] = len;
  m->nlog++;
  if (m->budget && m->nlog > m->budget)
    return -5;
  if (m->fail_pa && m->fail_pa >= pa && m->fail_pa - pa < len)
    return -5;
  sim_region *r = find(m, pa);
  if (!r)
    return -14;
  size_t avail = r->size - (size_t)(pa - r->pa);
  if (avail > len)
    avail = len;
  memcpy(buf, r->data + (pa - r->pa), avail);
  return (int)avail;
}

void sim_prefetch(void *ctx, const uint64_t *pas, size_t n, size_t len) {
  simmem *m = ctx;
  for (size_t i = 0; i < n; i++)
    if (m->nprefetch < sizeof m->prefetched / sizeof m->prefetched[0])
      m->prefetched[m->nprefetch++] = pas[i];
  m->prefetch_len = len;
}

arch_mem sim_mem(simmem *m, int with_prefetch) {
  arch_mem mem = {sim_read, with_prefetch ? sim_prefetch : NULL, m, 0};
  return mem;
}

void sim_log_clear(simmem *m) {
  m->nlog = 0;
  m->nprefetch = 0;
}

static int cmp64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

size_t sim_log_distinct(simmem *m) {
  if (!m->nlog)
    return 0;
  uint64_t *v = malloc(m->nlog * sizeof *v);
  memcpy(v, m->log_pa, m->nlog * sizeof *v);
  qsort(v, m->nlog, sizeof *v, cmp64);
  size_t d = 1;
  for (size_t i = 1; i < m->nlog; i++)
    d += v[i] != v[i - 1];
  free(v);
  return d;
}

/* ---- builder ---- */

void pt_init(pt_builder *b, simmem *m, arch_ctx *ctx, int half) {
  memset(b, 0, sizeof *b);
  b->m = m;
  b->mode = ctx->mode;
  b->esize = 8;
  b->granule = 12;
  switch (ctx->mode) {
  case ARCH_X86_32:
  case ARCH_RISCV_SV32:
    b->esize = 4;
    b->nlevels = 2;
    b->shift[0] = 22, b->shift[1] = 12;
    b->bits[0] = b->bits[1] = 10;
    break;
  case ARCH_X86_PAE:
    b->nlevels = 3;
    b->shift[0] = 30, b->shift[1] = 21, b->shift[2] = 12;
    b->bits[0] = 2, b->bits[1] = b->bits[2] = 9;
    break;
  case ARCH_X86_64_4L:
  case ARCH_RISCV_SV48:
  case ARCH_X86_64_5L:
  case ARCH_RISCV_SV57:
  case ARCH_RISCV_SV39: {
    unsigned n = ctx->mode == ARCH_RISCV_SV39                                  ? 3
                 : ctx->mode == ARCH_X86_64_4L || ctx->mode == ARCH_RISCV_SV48 ? 4
                                                                               : 5;
    b->nlevels = n;
    for (unsigned d = 0; d < n; d++) {
      b->shift[d] = 12 + 9 * (n - 1 - d);
      b->bits[d] = 9;
    }
    break;
  }
  case ARCH_AARCH64: {
    unsigned g = ctx->a64[half].granule, vb = 64 - ctx->a64[half].txsz, s = g - 3;
    unsigned n = (vb - g + s - 1) / s;
    b->granule = g;
    b->nlevels = n;
    for (unsigned d = 0; d < n; d++) {
      b->shift[d] = g + (n - 1 - d) * s;
      b->bits[d] = d ? s : vb - b->shift[0];
    }
    break;
  }
  default:
    abort();
  }
  size_t rsize = ((size_t)8 << b->bits[0]) / (8 / b->esize);
  if (ctx->mode == ARCH_X86_PAE) {
    /* A PDPT at a 32-byte aligned address inside a page, as Linux does. */
    uint64_t page = sim_alloc(m, 4096, 4096);
    b->root = page + 0x7a0;
  } else {
    b->root = sim_alloc(m, rsize < 4096 ? 4096 : rsize, rsize < 64 ? 64 : rsize);
  }
  switch (ctx->mode) {
  case ARCH_X86_32:
  case ARCH_X86_PAE:
  case ARCH_X86_64_4L:
  case ARCH_X86_64_5L:
    b->tbl_attr = 0x7; /* P, R/W, U/S (a PAE PDPTE gets P only) */
    ctx->root = b->root;
    break;
  case ARCH_AARCH64:
    b->tbl_attr = 3;
    ctx->a64[half].root = b->root;
    break;
  default:
    b->tbl_attr = 1;
    ctx->root = b->root;
    break;
  }
}

uint64_t pt_enc(const pt_builder *b, uint64_t pa) {
  if (b->mode >= ARCH_RISCV_SV32)
    return (pa >> 12) << 10;
  return pa;
}

uint64_t pt_size(const pt_builder *b, unsigned depth) {
  return 1ull << b->shift[depth];
}

static uint64_t rd(pt_builder *b, uint64_t pa) {
  uint8_t *p = sim_ptr(b->m, pa, b->esize);
  uint64_t v = 0;
  for (int i = (int)b->esize - 1; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static void wr(pt_builder *b, uint64_t pa, uint64_t v) {
  if (b->esize == 4)
    sim_w32(b->m, pa, (uint32_t)v);
  else
    sim_w64(b->m, pa, v);
}

static uint64_t dec_addr(const pt_builder *b, uint64_t raw) {
  if (b->mode >= ARCH_RISCV_SV32)
    return ((raw >> 10) & ((1ull << 44) - 1)) << 12;
  if (b->mode == ARCH_X86_32)
    return raw & 0xfffff000u;
  if (b->mode == ARCH_AARCH64)
    return raw & 0x0000ffffffffffffull & ~((1ull << b->granule) - 1);
  return raw & 0x000ffffffffff000ull;
}

uint64_t pt_entry(pt_builder *b, uint64_t va, unsigned depth) {
  uint64_t table = b->root;
  if (depth >= b->nlevels) {
    fprintf(stderr, "pt_entry: depth %u beyond %u levels\n", depth, b->nlevels);
    abort();
  }
  for (unsigned d = 0;; d++) {
    uint64_t idx = (va >> b->shift[d]) & ((1ull << b->bits[d]) - 1);
    uint64_t epa = table + idx * b->esize;
    if (d == depth)
      return epa;
    uint64_t e = rd(b, epa);
    if (!(e & 1)) {
      size_t tsize = ((size_t)1 << b->bits[d + 1]) * b->esize;
      uint64_t t = sim_alloc(b->m, tsize, tsize);
      e = pt_enc(b, t) | (b->mode == ARCH_X86_PAE && d == 0 ? 1 : b->tbl_attr);
      wr(b, epa, e);
    }
    table = dec_addr(b, e);
  }
}

void pt_set(pt_builder *b, uint64_t va, unsigned depth, uint64_t raw) {
  wr(b, pt_entry(b, va, depth), raw);
}

void pt_leaf(pt_builder *b, uint64_t va, unsigned depth, uint64_t pa, uint64_t attr) {
  pt_set(b, va, depth, pt_enc(b, pa) | attr);
}

/* ---- run log ---- */

void run_log_init(run_log *l, arch_mode mode) {
  memset(l, 0, sizeof *l);
  l->mode = mode;
}

int run_log_cb(void *arg, const arch_run *run) {
  run_log *l = arg;
  char f[64];
  arch_flags_str(l->mode, run->flags, ARCH_FMT_COMPACT, f, sizeof f);
  int n = snprintf(l->text + l->len, sizeof l->text - l->len, "%llx +%llx -> %llx %s %s x%llu\n",
                   (unsigned long long)run->va, (unsigned long long)run->size,
                   (unsigned long long)run->pa, run->level, f, (unsigned long long)run->count);
  if (n > 0 && (size_t)n < sizeof l->text - l->len)
    l->len += (size_t)n;
  l->nruns++;
  return l->stop_after && l->nruns >= l->stop_after;
}

int run_log_enum(run_log *l, const arch_ctx *ctx, simmem *m, uint64_t lo, uint64_t hi,
                 arch_walk_stats *st) {
  static uint8_t work[ARCH_WORK_MAX];
  arch_mem mem = sim_mem(m, 0);
  return arch_enumerate(ctx, &mem, lo, hi, work, sizeof work, run_log_cb, l, st);
}

const char *flagstr(arch_mode mode, uint32_t flags) {
  static char buf[8][64];
  static int i;
  char *b = buf[i++ & 7];
  if (arch_flags_str(mode, flags, ARCH_FMT_COMPACT, b, 64) < 0)
    strcpy(b, "<error>");
  return b;
}
