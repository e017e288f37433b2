/* fold.c - folding repeated runs (see fold.h).
 *
 * Runs wait in a ring of ARCH_FOLD_WINDOW.  After each new run the folder
 * looks for a repetition ending at it: for a period p, the last 2p runs
 * with run k equal to run k - p but for a VA moved by one stride.  Of the
 * repetitions found (and the candidate already held, if the new run extends
 * it) the one starting earliest wins; once it reaches min_runs it is
 * confirmed: the runs before it go out singly, and it grows without
 * holding runs until one breaks it.  Every check compares whole runs, so
 * a fold expands to exactly what came in.
 */
#include "fold.h"

static int same_str(const char *a, const char *b) {
  if (a == b)
    return 1;
  if (!a || !b)
    return 0;
  while (*a && *a == *b) {
    a++;
    b++;
  }
  return *a == *b;
}

/* Everything but the VA. */
static int same_shape(const arch_run *a, const arch_run *b) {
  return a->size == b->size && a->pa == b->pa && a->page_size == b->page_size &&
         a->count == b->count && a->flags == b->flags && a->half == b->half &&
         same_str(a->level, b->level);
}

static const arch_run *at(const arch_folder *f, unsigned i) {
  return &f->ring[(f->head + i) % ARCH_FOLD_WINDOW];
}

void arch_fold_init(arch_folder *f, unsigned min_runs, arch_fold_cb cb, void *arg) {
  f->cb = cb;
  f->arg = arg;
  if (min_runs < 2)
    min_runs = 2;
  if (min_runs > ARCH_FOLD_WINDOW / 2)
    min_runs = ARCH_FOLD_WINDOW / 2;
  f->min_runs = min_runs;
  f->stopped = 0;
  f->head = f->n = 0;
  f->cand_start = f->cand_period = 0;
  f->cand_count = f->cand_stride = 0;
  f->period = 0;
  f->count = f->stride = 0;
}

void arch_fold_run(const arch_fold *fold, uint64_t i, arch_run *out) {
  *out = fold->runs[i % fold->period];
  out->va += (i / fold->period) * fold->stride;
}

static int give(arch_folder *f, const arch_run *runs, unsigned period, uint64_t count,
                uint64_t stride) {
  if (f->stopped)
    return f->stopped;
  arch_fold fold;
  fold.count = count;
  fold.stride = count > 1 ? stride : 0;
  fold.period = count > 1 ? period : 1;
  fold.runs = runs;
  fold.va = runs[0].va;
  arch_run last;
  arch_fold_run(&fold, count - 1, &last);
  fold.end = last.va + last.size;
  fold.leaves = 0;
  for (unsigned k = 0; k < fold.period; k++) {
    uint64_t times = count / fold.period + (k < count % fold.period ? 1 : 0);
    fold.leaves += times * runs[k].count;
  }
  f->stopped = f->cb(f->arg, &fold);
  return f->stopped;
}

/* The oldest pending run goes out on its own. */
static int give_oldest(arch_folder *f) {
  arch_run r = *at(f, 0);
  f->head = (f->head + 1) % ARCH_FOLD_WINDOW;
  f->n--;
  if (f->cand_count)
    f->cand_start--;
  return give(f, &r, 1, 1, 0);
}

/* Run i of the candidate, as the candidate predicts it. */
static void cand_expect(const arch_folder *f, uint64_t i, arch_run *out) {
  *out = *at(f, f->cand_start + (unsigned)(i % f->cand_period));
  out->va += (i / f->cand_period) * f->cand_stride;
}

/* The last 2p pending runs repeat with period p: returns the stride or 0. */
static uint64_t repeats(const arch_folder *f, unsigned p) {
  const arch_run *last = at(f, f->n - 1), *prev = at(f, f->n - 1 - p);
  if (!same_shape(last, prev) || last->va <= prev->va)
    return 0;
  uint64_t stride = last->va - prev->va;
  for (unsigned k = f->n - 2 * p; k < f->n - p; k++) {
    const arch_run *a = at(f, k), *b = at(f, k + p);
    if (!same_shape(a, b) || b->va - a->va != stride || b->va <= a->va)
      return 0;
  }
  return stride;
}

static int confirm(arch_folder *f) {
  while (f->cand_start)
    if (give_oldest(f))
      return f->stopped;
  for (unsigned k = 0; k < f->cand_period; k++)
    f->base[k] = *at(f, k);
  f->period = f->cand_period;
  f->count = f->cand_count;
  f->stride = f->cand_stride;
  f->head = f->n = 0;
  f->cand_count = 0;
  return 0;
}

int arch_fold_push(void *folder, const arch_run *run) {
  arch_folder *f = folder;
  if (f->stopped)
    return f->stopped;
  if (f->count) {
    arch_run want = f->base[f->count % f->period];
    want.va += (f->count / f->period) * f->stride;
    if (same_shape(&want, run) && want.va == run->va) {
      f->count++;
      return 0;
    }
    if (give(f, f->base, f->period, f->count, f->stride))
      return f->stopped;
    f->count = 0;
  }
  if (f->n == ARCH_FOLD_WINDOW && give_oldest(f))
    return f->stopped;
  f->ring[(f->head + f->n) % ARCH_FOLD_WINDOW] = *run;
  f->n++;
  if (f->cand_count) {
    arch_run want;
    cand_expect(f, f->cand_count, &want);
    if (same_shape(&want, run) && want.va == run->va)
      f->cand_count++;
    else
      f->cand_count = 0;
  }
  for (unsigned p = 1; p <= ARCH_FOLD_MAX_PERIOD && 2 * p <= f->n; p++) {
    unsigned start = f->n - 2 * p;
    if (f->cand_count && start >= f->cand_start)
      continue; /* the candidate held starts as early */
    uint64_t stride = repeats(f, p);
    if (stride) {
      f->cand_start = start;
      f->cand_period = p;
      f->cand_count = 2 * p;
      f->cand_stride = stride;
    }
  }
  if (f->cand_count && f->cand_count >= f->min_runs)
    return confirm(f);
  return 0;
}

int arch_fold_finish(arch_folder *f) {
  if (f->count) {
    if (give(f, f->base, f->period, f->count, f->stride))
      return f->stopped;
    f->count = 0;
  }
  f->cand_count = 0;
  while (f->n)
    if (give_oldest(f))
      return f->stopped;
  return f->stopped;
}
