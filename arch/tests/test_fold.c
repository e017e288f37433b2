/* arch/fold.c: folds expand to exactly the runs pushed (a property test on
 * random sequences with repetitions of every period, and an espfix-like
 * page table enumerated by the walker), repetitions are found, short ones
 * are not folded, the callback can stop the folder. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fold.h"
#include "simmem.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dull;
}

/* What came out of a folder: the folds, and their expansion. */
typedef struct {
  arch_run *runs; /* expansion */
  size_t n, cap;
  size_t folds, singles;
  uint64_t max_count;
  unsigned min_runs;
  int stop_after; /* return 1 from this callback on (0: never) */
  int calls;
} sink;

static void sink_add(sink *k, const arch_run *r) {
  if (k->n == k->cap) {
    k->cap = k->cap ? 2 * k->cap : 1024;
    k->runs = realloc(k->runs, k->cap * sizeof(*k->runs));
    assert_non_null(k->runs);
  }
  k->runs[k->n++] = *r;
}

static int on_fold(void *arg, const arch_fold *f) {
  sink *k = arg;
  k->calls++;
  assert_true(f->count >= 1);
  assert_int_equal(f->va, f->runs[0].va);
  if (f->count == 1) {
    k->singles++;
    assert_int_equal(f->period, 1);
    assert_int_equal(f->leaves, f->runs[0].count);
  } else {
    k->folds++;
    assert_true(f->period >= 1 && f->period <= ARCH_FOLD_MAX_PERIOD);
    assert_true(f->count >= 2 * f->period);
    assert_true(f->count >= k->min_runs);
    assert_true(f->stride > 0);
  }
  if (f->count > k->max_count)
    k->max_count = f->count;
  uint64_t leaves = 0;
  arch_run r;
  for (uint64_t i = 0; i < f->count; i++) {
    arch_fold_run(f, i, &r);
    leaves += r.count;
    sink_add(k, &r);
  }
  assert_int_equal(leaves, f->leaves);
  assert_int_equal(r.va + r.size, f->end);
  return k->stop_after && k->calls >= k->stop_after;
}

static int collect(void *arg, const arch_run *r) {
  sink_add(arg, r);
  return 0;
}

static void same_runs(const arch_run *a, const arch_run *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(a[i].va, b[i].va);
    assert_int_equal(a[i].size, b[i].size);
    assert_int_equal(a[i].pa, b[i].pa);
    assert_int_equal(a[i].page_size, b[i].page_size);
    assert_int_equal(a[i].count, b[i].count);
    assert_int_equal(a[i].flags, b[i].flags);
    assert_int_equal(a[i].half, b[i].half);
    assert_string_equal(a[i].level, b[i].level);
  }
}

static void fold_all(const arch_run *in, size_t n, unsigned min_runs, sink *k) {
  static arch_folder f; /* large: not on the stack */
  memset(k, 0, sizeof(*k));
  k->min_runs = min_runs < 2 ? 2 : min_runs;
  arch_fold_init(&f, min_runs, on_fold, k);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(arch_fold_push(&f, &in[i]), 0);
  assert_int_equal(arch_fold_finish(&f), 0);
  assert_int_equal(k->n, n);
  same_runs(in, k->runs, n);
}

static arch_run mk(uint64_t va, uint64_t pa, uint64_t pages, uint32_t flags) {
  arch_run r = {va, pages * 0x1000, pa, 0x1000, pages, "PTE", flags, 0};
  return r;
}

/* Linux's espfix: one page at every 16th 4K slot of 4 GiB. */
static void espfix(void **state) {
  (void)state;
  size_t n = 65536;
  arch_run *in = malloc(n * sizeof(*in));
  for (size_t i = 0; i < n; i++)
    in[i] = mk(0xffffff0000000000ull + i * 0x10000, 0x1234000, 1, 5);
  sink k;
  fold_all(in, n, 8, &k);
  assert_int_equal(k.folds, 1);
  assert_int_equal(k.singles, 0);
  assert_int_equal(k.max_count, n);
  free(in);
  free(k.runs);
}

/* Ordinary runs around a cycle of 4 pages: the ordinary ones stay single. */
static void cycle_between_plain(void **state) {
  (void)state;
  arch_run in[400];
  size_t n = 0;
  for (int i = 0; i < 50; i++)
    in[n++] = mk(0x1000000 + (uint64_t)i * 0x2000, 0x8000000 + (uint64_t)i * 0x1000, 1, 7);
  for (int i = 0; i < 300; i++)
    in[n++] = mk(0x40000000 + (uint64_t)i * 0x2000, 0x100000 + (uint64_t)(i % 4) * 0x1000, 1, 5);
  for (int i = 0; i < 50; i++)
    in[n++] = mk(0x80000000 + (uint64_t)i * 0x3000, 0x9000000 + (uint64_t)i * 0x5000, 1, 7);
  sink k;
  fold_all(in, n, 8, &k);
  assert_int_equal(k.folds, 1);
  assert_int_equal(k.singles, 100);
  assert_int_equal(k.max_count, 300);
  free(k.runs);
}

/* Fewer repetitions than min_runs stay single; two-run "repetitions" of a
 * longer period (X X Y X X Y ...) are not taken for period 1. */
static void short_and_nested(void **state) {
  (void)state;
  arch_run in[300];
  for (int i = 0; i < 5; i++)
    in[i] = mk(0x1000 + (uint64_t)i * 0x2000, 0x5000, 1, 5);
  sink k;
  fold_all(in, 5, 8, &k);
  assert_int_equal(k.folds, 0);
  free(k.runs);
  for (int i = 0; i < 300; i++)
    in[i] = mk(0x100000 + (uint64_t)i * 0x2000, (i % 3) == 2 ? 0x7000 : 0x5000, 1, 5);
  fold_all(in, 300, 16, &k);
  assert_int_equal(k.folds, 1);
  assert_int_equal(k.max_count, 300);
  free(k.runs);
}

static void stops(void **state) {
  (void)state;
  static arch_folder f;
  sink k;
  memset(&k, 0, sizeof(k));
  k.min_runs = 2;
  k.stop_after = 3;
  arch_fold_init(&f, 2, on_fold, &k);
  int rc = 0;
  for (int i = 0; i < 1000 && !rc; i++) { /* single runs leave after a window */
    arch_run r = mk((uint64_t)i * 0x3000, (uint64_t)i * 0x7000, 1, 7);
    rc = arch_fold_push(&f, &r);
  }
  assert_int_equal(rc, 1);
  assert_int_equal(k.calls, 3);
  arch_run r = mk(0x10000000, 0, 1, 7);
  assert_int_equal(arch_fold_push(&f, &r), 1);
  assert_int_equal(arch_fold_finish(&f), 1);
  assert_int_equal(k.calls, 3);
  free(k.runs);
}

/* Property: random sequences of plain runs and repetitions (periods 1..80,
 * some beyond the maximum, some cut short, some with one run changed) fold
 * and expand back to themselves, whatever min_runs. */
static void property(void **state) {
  (void)state;
  size_t cap = 20000;
  arch_run *in = malloc(cap * sizeof(*in));
  static const char *levels[] = {"PTE", "PMD", "L3"};
  for (int iter = 0; iter < 300; iter++) {
    size_t n = 0;
    uint64_t va = rnd() & 0xfffff000ull;
    while (n < cap - 2000 && rnd() % 40) {
      if (rnd() % 2) {
        unsigned p = 1 + (unsigned)(rnd() % (rnd() % 4 ? 8 : 80));
        unsigned reps = 1 + (unsigned)(rnd() % 30);
        arch_run pat[80];
        uint64_t off = 0;
        for (unsigned j = 0; j < p; j++) {
          uint64_t pages = 1 + rnd() % 3;
          pat[j] = mk(off, (rnd() % 64) * 0x1000, pages, (uint32_t)(rnd() % 3));
          pat[j].level = levels[rnd() % 3];
          off += pages * 0x1000 + (rnd() % 2) * 0x1000 * (rnd() % 5);
        }
        uint64_t stride = off + (rnd() % 3) * 0x1000;
        for (unsigned r = 0; r < reps && n < cap; r++)
          for (unsigned j = 0; j < p && n < cap; j++) {
            in[n] = pat[j];
            in[n].va = va + r * stride + pat[j].va;
            if (rnd() % 50 == 0)
              in[n].pa += 0x1000; /* a broken repetition */
            n++;
          }
        va += reps * stride + 0x1000;
      } else {
        uint64_t pages = 1 + rnd() % 4;
        in[n++] = mk(va, rnd() & 0xffff000, pages, (uint32_t)(rnd() % 3));
        va += pages * 0x1000 + (rnd() % 3) * 0x1000;
      }
    }
    sink k;
    fold_all(in, n, (unsigned)(rnd() % 40), &k);
    free(k.runs);
  }
  free(in);
}

/* The walker's runs of an espfix-like table (one PT with every 16th entry
 * present, under all 512 entries of one PD, under 4 PDPT entries) plus a
 * few ordinary pages, through a folder, expand to the enumeration. */
static void enumerate_espfix(void **state) {
  (void)state;
  static uint8_t work[ARCH_WORK_MAX];
  simmem m;
  arch_ctx c;
  pt_builder b;
  sim_init(&m);
  arch_ctx_init(&c, ARCH_X86_64_4L);
  pt_init(&b, &m, &c, 0);
  for (unsigned i = 0; i < 100; i++)
    pt_leaf(&b, 0x400000 + (uint64_t)i * 0x2000, 3, 0x1000000 + (uint64_t)i * 0x1000, 7);
  uint64_t base = 0xffffff0000000000ull;
  pt_leaf(&b, base, 3, 0x2000000, 0x1); /* creates PDPT, PD and PT */
  uint64_t pt = pt_entry(&b, base, 3) & ~0xfffull;
  uint64_t pd = pt_entry(&b, base, 2) & ~0xfffull;
  uint64_t pdpt = pt_entry(&b, base, 1) & ~0xfffull;
  for (unsigned i = 0; i < 512; i += 16)
    sim_w64(&m, pt + i * 8, 0x2000000 | 0x1);
  for (unsigned i = 0; i < 512; i++)
    sim_w64(&m, pd + i * 8, pt | 0x3);
  for (unsigned i = 0; i < 4; i++)
    sim_w64(&m, pdpt + i * 8, pd | 0x3);
  arch_mem mem = sim_mem(&m, 0);
  /* Every run, then the folded ones. */
  sink all;
  memset(&all, 0, sizeof(all));
  assert_int_equal(arch_enumerate(&c, &mem, 0, ~0ull, work, sizeof(work), collect, &all, NULL), 0);
  assert_int_equal(all.n, 100 + 65536);
  static arch_folder f;
  sink k;
  memset(&k, 0, sizeof(k));
  k.min_runs = 8;
  arch_fold_init(&f, 8, on_fold, &k);
  assert_int_equal(arch_enumerate(&c, &mem, 0, ~0ull, work, sizeof(work), arch_fold_push, &f, NULL),
                   0);
  assert_int_equal(arch_fold_finish(&f), 0);
  assert_int_equal(k.n, all.n);
  same_runs(all.runs, k.runs, all.n);
  assert_int_equal(k.folds, 1);
  assert_int_equal(k.singles, 100);
  free(all.runs);
  free(k.runs);
  sim_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(espfix),           cmocka_unit_test(cycle_between_plain),
      cmocka_unit_test(short_and_nested), cmocka_unit_test(stops),
      cmocka_unit_test(property),         cmocka_unit_test(enumerate_espfix),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
