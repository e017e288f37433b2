/* libFuzzer target: random bytes as physical memory, random modes, roots
 * and VA ranges.  The walker must not crash, must terminate, and must use
 * only bytes the read callback answered: every entry a translation reports
 * is checked against the memory image, and every run the enumeration
 * reports must agree with translate() (which reads single entries). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "fold.h"

#define HDR 41

typedef struct {
  const uint8_t *img;
  size_t n;
  unsigned reads, budget;
} mem_t;

static int rd(void *ctx, uint64_t pa, void *buf, size_t len) {
  mem_t *m = ctx;
  if (len == 0 || len > ARCH_WORK_MAX)
    abort(); /* the walker never asks for nothing or for more than a table */
  if (++m->reads > m->budget)
    return -5;
  if (pa >= m->n)
    return -14;
  size_t avail = m->n - (size_t)pa;
  if (avail > len)
    avail = len;
  memcpy(buf, m->img + pa, avail);
  /* Poison: bytes that were not answered must not be used. */
  memset((uint8_t *)buf + avail, 0xa5, len - avail);
  return (int)avail;
}

static uint64_t le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static void check_xlate(const mem_t *m, arch_mode mode, const arch_xlate *x, int rc) {
  size_t es = (mode == ARCH_X86_32 || mode == ARCH_RISCV_SV32) ? 4 : 8;
  if (x->nlevels > ARCH_MAX_LEVELS)
    abort();
  for (unsigned i = 0; i < x->nlevels; i++) {
    const arch_level *lv = &x->lv[i];
    if (i + 1 == x->nlevels && x->stop == ARCH_STOP_READ)
      break;
    /* The entry was answered by the callback: it lies in the image. */
    if (lv->entry_pa >= m->n || m->n - lv->entry_pa < es || lv->name == NULL)
      abort();
    uint8_t tmp[8] = {0};
    memcpy(tmp, m->img + lv->entry_pa, es);
    if (lv->raw != le64(tmp))
      abort();
  }
  if (rc == 0 && (x->page_size == 0 || x->pa - x->page_pa >= x->page_size))
    abort();
}

typedef struct {
  const arch_ctx *ctx;
  mem_t *m;
  int n;
} enum_t;

/* Every run also goes through a folder (fold.h); the folds, expanded, must
 * be exactly the runs. */
#define KEPT 4100
static arch_run kept[KEPT];
static size_t nkept, nexpanded;
static arch_folder folder;

static int on_fold(void *arg, const arch_fold *f) {
  (void)arg;
  if (f->count == 0 || (f->count > 1 && (f->period == 0 || f->count < 2 * (uint64_t)f->period)))
    abort();
  for (uint64_t i = 0; i < f->count; i++) {
    arch_run r;
    arch_fold_run(f, i, &r);
    const arch_run *k = &kept[nexpanded++];
    if (nexpanded > nkept || r.va != k->va || r.size != k->size || r.pa != k->pa ||
        r.page_size != k->page_size || r.count != k->count || r.flags != k->flags ||
        r.half != k->half || r.level != k->level)
      abort();
  }
  return 0;
}

static int on_run(void *arg, const arch_run *run) {
  enum_t *e = arg;
  if (run->size == 0 || run->count == 0 || run->page_size == 0)
    abort();
  if (nkept < KEPT) {
    kept[nkept++] = *run;
    arch_fold_push(&folder, run);
  }
  if (e->n++ < 16) {
    arch_xlate x;
    arch_mem mem = {rd, NULL, e->m, 0};
    unsigned budget = e->m->budget;
    e->m->budget = e->m->reads + 16;
    int rc = arch_translate(e->ctx, &mem, run->va + run->size - 1, &x);
    e->m->budget = budget;
    if (rc != 0 && x.stop != ARCH_STOP_READ)
      abort();
    if (rc == 0 && x.pa != run->pa + run->size - 1)
      abort();
  }
  return e->n > 4096; /* cancel very long listings */
}

static void prefetch(void *ctx, const uint64_t *pas, size_t n, size_t len) {
  (void)ctx;
  if (n == 0 || n > 64 || len == 0 || len > 65536 || !pas)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static uint8_t work[ARCH_WORK_MAX];
  if (size < HDR)
    return 0;
  const uint8_t *h = data;
  mem_t m = {data + HDR, size - HDR, 0, 128};
  arch_ctx ctx;
  arch_mode mode = (arch_mode)(1 + h[0] % (ARCH_MODE_COUNT - 1));
  arch_ctx_init(&ctx, mode);
  ctx.opts = h[1];
  static const uint8_t gran[4] = {12, 14, 16, 12};
  ctx.a64[0].granule = gran[h[2] & 3];
  ctx.a64[1].granule = gran[(h[2] >> 2) & 3];
  ctx.a64[0].tbi = (h[2] >> 4) & 1;
  ctx.a64[1].tbi = (h[2] >> 5) & 1;
  ctx.a64[0].hpd = (h[2] >> 6) & 1;
  ctx.a64[1].epd = (h[2] >> 7) & 1;
  ctx.a64[0].txsz = h[3] & 63;
  ctx.a64[1].txsz = h[4] & 63;
  ctx.pa_bits = h[37];
  uint64_t root = le64(h + 5);
  if (!(h[38] & 1) && m.n)
    root %= m.n;
  arch_set_root(&ctx, 0, root);
  arch_set_root(&ctx, 1, m.n ? le64(h + 5) % m.n : 0);
  uint64_t lo = le64(h + 13), hi = le64(h + 21), va = le64(h + 29);
  if (h[39] & 1) {
    lo = 0;
    hi = ~0ull;
  }
  if (lo > hi) {
    uint64_t t = lo;
    lo = hi;
    hi = t;
  }
  arch_mem mem = {rd, (h[38] & 2) ? prefetch : NULL, &m, 0};
  arch_xlate x;
  int rc = arch_translate(&ctx, &mem, va, &x);
  if (rc != 0 && rc != ARCH_ENOTMAPPED && rc != ARCH_EINVAL)
    abort();
  if (rc != ARCH_EINVAL)
    check_xlate(&m, mode, &x, rc);

  m.reads = 0;
  enum_t e = {&ctx, &m, 0};
  size_t wl = (h[38] & 4) ? ARCH_WORK_MIN + h[40] : sizeof work;
  arch_walk_stats st;
  nkept = nexpanded = 0;
  arch_fold_init(&folder, 2 + h[40] % 16, on_fold, NULL);
  rc = arch_enumerate(&ctx, &mem, lo, hi, work, wl, on_run, &e, &st);
  if (rc != 0 && rc != ARCH_ECANCELED && rc != ARCH_EINVAL)
    abort();
  arch_fold_finish(&folder);
  if (nexpanded != nkept)
    abort();
  if (rc == 0 && st.runs != (uint64_t)e.n)
    abort();

  m.reads = 0;
  m.budget = 64;
  rc = arch_ptov(&ctx, &mem, le64(h + 29) % (m.n + 1), work, sizeof work, NULL, NULL, NULL);
  if (rc < 0 && rc != ARCH_EINVAL)
    abort();

  char buf[128];
  arch_flags_str(mode, (uint32_t)le64(h + 29), h[40] & 1, buf, sizeof buf);
  arch_ctx_str(&ctx, buf, (size_t)(h[40] & 127));
  return 0;
}
