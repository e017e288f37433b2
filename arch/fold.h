/* fold.h - folding repeated runs of an enumeration (freestanding, no allocation).
 *
 * A kernel maps some pages at thousands of places: Linux's espfix area maps
 * one page of stacks at 65,536 VAs, and any area may map one page, or a
 * cycle of pages, again and again at a fixed VA stride.  Listed run by run
 * that is tens of thousands of lines saying the same thing.  A folder takes
 * the runs of arch_enumerate in VA order and hands back either a single run,
 * or a fold: count runs where run i is runs[i % period] with its VA moved up
 * by (i / period) * stride, every other field unchanged.  The expansion of
 * the folds, in order, is exactly the sequence of runs pushed: nothing is
 * lost.
 *
 * A fold needs at least two periods and min_runs runs; shorter repetitions
 * come back as single runs.  At most ARCH_FOLD_MAX_PERIOD runs per period.
 */
#ifndef ARCH_FOLD_H
#define ARCH_FOLD_H

#include <stddef.h>
#include <stdint.h>

#include "arch.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ARCH_FOLD_MAX_PERIOD 64u
/* Runs held back while a repetition may be starting. */
#define ARCH_FOLD_WINDOW     (4u * ARCH_FOLD_MAX_PERIOD)

typedef struct {
  uint64_t count;       /* runs this stands for; 1: a single run, runs[0] */
  uint64_t stride;      /* VA distance between run i and run i + period (0 if count == 1) */
  uint64_t va;          /* runs[0].va */
  uint64_t end;         /* end of the last run: its va + size (0 if it ends the space) */
  uint64_t leaves;      /* leaves of all count runs */
  unsigned period;      /* runs per period (1 if count == 1) */
  const arch_run *runs; /* the first period; valid during the callback only */
} arch_fold;

/* A non-zero return stops the folder: push and finish return it. */
typedef int (*arch_fold_cb)(void *arg, const arch_fold *fold);

typedef struct {
  arch_fold_cb cb;
  void *arg;
  unsigned min_runs;
  int stopped; /* the callback's non-zero return, sticky */
  /* Pending runs (a ring): not yet handed back, a candidate at the end. */
  arch_run ring[ARCH_FOLD_WINDOW];
  unsigned head, n;
  /* Candidate repetition among the pending runs (cand_count == 0: none). */
  unsigned cand_start, cand_period;
  uint64_t cand_count, cand_stride;
  /* Confirmed fold, being extended (count == 0: none). */
  arch_run base[ARCH_FOLD_MAX_PERIOD];
  unsigned period;
  uint64_t count, stride;
} arch_folder;

/* min_runs: the fewest runs folded (clamped to 2 .. ARCH_FOLD_WINDOW / 2). */
void arch_fold_init(arch_folder *f, unsigned min_runs, arch_fold_cb cb, void *arg);
/* Takes the next run (VA order); an arch_run_cb, arg being the folder.
 * Returns 0 or the callback's non-zero return. */
int arch_fold_push(void *folder, const arch_run *run);
/* Hands back everything still held.  Returns 0 or the callback's return. */
int arch_fold_finish(arch_folder *f);

/* Run i (0 <= i < fold->count) of a fold. */
void arch_fold_run(const arch_fold *fold, uint64_t i, arch_run *out);

#ifdef __cplusplus
}
#endif

#endif /* ARCH_FOLD_H */
