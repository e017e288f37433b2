/* simmem.h - simulated physical memory and a page-table builder for tests.
 *
 * Hosted (malloc) test helper.  Memory is a set of regions at fixed
 * physical addresses; reads outside every region fail, reads that run off
 * the end of a region are short.  Every read is logged, so tests can
 * count table reads and distinct tables.
 */
#ifndef SIMMEM_H
#define SIMMEM_H

#include <stddef.h>
#include <stdint.h>

#include "arch.h"

typedef struct {
  uint64_t pa;
  size_t size;
  uint8_t *data;
} sim_region;

typedef struct {
  sim_region *r;
  size_t n, cap;
  uint64_t next; /* bump allocator */
  /* read log */
  uint64_t *log_pa;
  size_t *log_len;
  size_t nlog, logcap;
  uint64_t fail_pa; /* reads covering this PA fail (0 = none) */
  size_t budget;    /* if non-zero, reads fail after this many */
  /* prefetch log */
  uint64_t prefetched[4096];
  size_t nprefetch;
  size_t prefetch_len;
} simmem;

void sim_init(simmem *m);
void sim_free(simmem *m);
/* A zeroed region at a fixed PA; returns its bytes. */
uint8_t *sim_add(simmem *m, uint64_t pa, size_t size);
/* A zeroed region of size bytes aligned to align from the bump allocator. */
uint64_t sim_alloc(simmem *m, size_t size, size_t align);
uint8_t *sim_ptr(simmem *m, uint64_t pa, size_t len);
void sim_w32(simmem *m, uint64_t pa, uint32_t v);
void sim_w64(simmem *m, uint64_t pa, uint64_t v);
uint64_t sim_r64(simmem *m, uint64_t pa);
int sim_read(void *ctx, uint64_t pa, void *buf, size_t len);
void sim_prefetch(void *ctx, const uint64_t *pas, size_t n, size_t len);
arch_mem sim_mem(simmem *m, int with_prefetch);
void sim_log_clear(simmem *m);
/* Distinct PAs in the read log. */
size_t sim_log_distinct(simmem *m);

/* Page-table builder for any mode.  Geometry comes from its own tables
 * (an independent restatement of the architecture, not arch.c's). */
typedef struct {
  simmem *m;
  arch_mode mode;
  unsigned esize, nlevels;
  unsigned shift[5], bits[5];
  unsigned granule;
  uint64_t root;
  uint64_t tbl_attr; /* bits OR-ed into created table entries */
} pt_builder;

/* Allocates a root table (PAE: a 32-byte PDPT at an address that is not
 * 4K aligned) and sets it in ctx (half for AArch64). */
void pt_init(pt_builder *b, simmem *m, arch_ctx *ctx, int half);
/* The address bits of an entry pointing at pa (x86, AArch64: pa;
 * RISC-V: (pa >> 12) << 10). */
uint64_t pt_enc(const pt_builder *b, uint64_t pa);
/* PA of the entry for va at depth (root = 0), creating tables on the way. */
uint64_t pt_entry(pt_builder *b, uint64_t va, unsigned depth);
void pt_set(pt_builder *b, uint64_t va, unsigned depth, uint64_t raw);
/* A leaf at depth mapping va to pa with attribute bits attr. */
void pt_leaf(pt_builder *b, uint64_t va, unsigned depth, uint64_t pa, uint64_t attr);
uint64_t pt_size(const pt_builder *b, unsigned depth);

/* Runs collected as text, one line each:
 *   "<va> +<size> -> <pa> <level> <compact flags> x<count>\n" (hex). */
typedef struct {
  arch_mode mode;
  char text[16384];
  size_t len;
  int nruns;
  int stop_after; /* cancel after this many runs (0 = never) */
} run_log;
void run_log_init(run_log *l, arch_mode mode);
int run_log_cb(void *arg, const arch_run *run);
/* Enumerates [lo, hi] into l with a full-size work buffer. */
int run_log_enum(run_log *l, const arch_ctx *ctx, simmem *m, uint64_t lo, uint64_t hi,
                 arch_walk_stats *st);
/* Compact flags as a static string (for assertions). */
const char *flagstr(arch_mode mode, uint32_t flags);
#endif
