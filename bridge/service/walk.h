/* walk.h - translation support shared by memory.c and commands.c. */
#ifndef SVC_WALK_H
#define SVC_WALK_H

#include "arch.h"
#include "svc_int.h"

typedef struct {
  svc *s;
  arch_mem mem;
  int err;         /* first physical read error (SVC_E*) */
  uint64_t err_pa; /* where it happened */
  int intr;
  uint64_t prefetched; /* units read ahead */
  uint64_t runs;       /* runs seen by a dry pass */
  /* Dry pass of svc__prewalk: reads only from the cache, records misses. */
  int dry;
  uint64_t *miss;
  size_t nmiss, capmiss;
} svc_walk;

void svc__walk_init(svc_walk *w, svc *s);
/* The translation context: from the paging registers of the selected
 * thread, or a forced mode, with root replacing the table root of half.
 * Returns 0 (ctx->mode may be ARCH_MODE_NONE: paging off) or -1 with a
 * message in err. */
int svc__make_ctx(svc *s, int has_root, uint64_t root, int half, arch_ctx *ctx, char *err,
                  size_t cap);
/* Reads the tables of [lo, hi] level by level into the cache, each level in
 * one pipelined batch, so that an enumeration after it needs no round trip
 * per table.  Stops early (without error) when the tables would not fit in
 * half the cache.  Returns the number of round-trip batches. */
int svc__prewalk(svc *s, const arch_ctx *ctx, uint64_t lo, uint64_t hi, void *work, size_t wl);

#endif
