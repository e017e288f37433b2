/* bench_arch: the arch/ walker over a synthetic x86-64 4-level space.
 *
 * The space: 1 GiB of 4K pages at scattered physical addresses (512 page
 * tables), 32 GiB of 2M pages (a direct map, 32 page directories) and
 * 4 GiB of 1G pages.  Physical memory is an in-process arena, so the
 * figures are the walker's own cost (a bridge adds its round trips).
 *
 * Prints translations per second, table reads per enumeration against the
 * number of distinct present table pages (they must be equal: exit 1
 * otherwise), and enumeration time per mapped GiB.
 *
 * Usage: bench_arch [--short]   (--short: fewer iterations, for CTest)
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arch.h"

#define ARENA_BASE 0x1000000ull
#define PAGE       4096ull

static uint8_t *arena;
static size_t arena_pages, arena_used;
static uint64_t reads;

static uint64_t alloc_table(void) {
  if (arena_used == arena_pages) {
    fprintf(stderr, "arena full\n");
    exit(2);
  }
  return ARENA_BASE + PAGE * arena_used++;
}

static uint64_t *table(uint64_t pa) {
  return (uint64_t *)(arena + (pa - ARENA_BASE));
}

static int rd(void *ctx, uint64_t pa, void *buf, size_t len) {
  (void)ctx;
  reads++;
  if (pa < ARENA_BASE || pa - ARENA_BASE + len > arena_used * PAGE)
    return -14;
  memcpy(buf, arena + (pa - ARENA_BASE), len);
  return (int)len;
}

/* The entry for va at depth (0 = PML4), creating tables on the way. */
static uint64_t *entry(uint64_t root, uint64_t va, unsigned depth) {
  uint64_t t = root;
  for (unsigned d = 0;; d++) {
    uint64_t *e = &table(t)[(va >> (39 - 9 * d)) & 511];
    if (d == depth)
      return e;
    if (!(*e & 1))
      *e = alloc_table() | 0x7;
    t = *e & 0x000ffffffffff000ull;
  }
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int count_run(void *arg, const arch_run *run) {
  uint64_t *bytes = arg;
  *bytes += run->size;
  return 0;
}

int main(int argc, char **argv) {
  int quick = argc > 1 && strcmp(argv[1], "--short") == 0;
  static uint8_t work[ARCH_WORK_MAX];
  arena_pages = 1024;
  arena = calloc(arena_pages, PAGE);
  if (!arena)
    return 2;

  arch_ctx ctx;
  arch_ctx_init(&ctx, ARCH_X86_64_4L);
  uint64_t root = alloc_table();
  arch_set_root(&ctx, 0, root);

  /* 1 GiB of 4K pages, user RW NX, scattered physical pages (an odd
   * multiplier permutes the 2^18 page numbers). */
  const uint64_t va4k = 0x00007f0000000000ull, n4k = 1ull << 18;
  for (uint64_t i = 0; i < n4k; i++) {
    uint64_t pfn = (i * 0x9e3779b1ull) & (n4k - 1);
    *entry(root, va4k + i * PAGE, 3) = (0x100000000ull + pfn * PAGE) | (1ull << 63) | 0x67;
  }
  /* 32 GiB of 2M pages: a kernel direct map, global RW NX. */
  const uint64_t va2m = 0xffff888000000000ull, n2m = 32ull * 512;
  for (uint64_t i = 0; i < n2m; i++)
    *entry(root, va2m + i * 0x200000, 2) = (i * 0x200000) | (1ull << 63) | 0x1e3;
  /* 4 GiB of 1G pages: kernel text-like, global RX. */
  const uint64_t va1g = 0xffffffff00000000ull;
  for (uint64_t i = 0; i < 4; i++)
    *entry(root, va1g + (i << 30), 1) = (0x800000000ull + (i << 30)) | 0x1a1;
  const double mapped_gib = 1.0 + 32.0 + 4.0;
  const uint64_t tables = arena_used;

  arch_mem mem = {rd, NULL, NULL, 0};
  arch_walk_stats st;
  uint64_t bytes = 0;

  /* Enumeration of the whole space. */
  int iters = quick ? 2 : 20;
  double t0 = now();
  for (int i = 0; i < iters; i++) {
    bytes = 0;
    reads = 0;
    if (arch_enumerate(&ctx, &mem, 0, ~0ull, work, sizeof work, count_run, &bytes, &st) != 0)
      return 1;
  }
  double t_enum = (now() - t0) / iters;
  uint64_t enum_reads = reads;
  /* Only the 4K region. */
  t0 = now();
  arch_walk_stats st4k;
  for (int i = 0; i < iters; i++)
    arch_enumerate(&ctx, &mem, va4k, va4k + (n4k * PAGE) - 1, work, sizeof work, NULL, NULL, &st4k);
  double t_enum4k = (now() - t0) / iters;

  /* Translations: random VAs over the three kinds of mappings. */
  uint64_t ntr = quick ? 200000 : 5000000, ok = 0, x = 0x243f6a8885a308d3ull;
  arch_xlate xl;
  t0 = now();
  for (uint64_t i = 0; i < ntr; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    uint64_t va;
    switch (i % 4) {
    case 0:
    case 1:
      va = va4k + (x & ((n4k * PAGE) - 1));
      break;
    case 2:
      va = va2m + (x & ((n2m << 21) - 1));
      break;
    default:
      va = va1g + (x & ((4ull << 30) - 1));
      break;
    }
    ok += arch_translate(&ctx, &mem, va, &xl) == 0;
  }
  double t_tr = now() - t0;

  printf("bench_arch: x86-64 4-level, 1 GiB of 4K pages + 32 GiB of 2M pages + 4 GiB of 1G "
         "pages (%s)\n",
         quick ? "short" : "full");
  printf("  distinct present table pages      %llu\n", (unsigned long long)tables);
  printf("  table reads per enumeration       %llu (callback calls %llu)\n",
         (unsigned long long)st.table_reads, (unsigned long long)enum_reads);
  printf("  leaves / runs                     %llu / %llu, %.1f GiB listed\n",
         (unsigned long long)st.leaves, (unsigned long long)st.runs, (double)bytes / (1 << 30));
  printf("  enumeration (whole space)         %.3f ms\n", t_enum * 1e3);
  printf("  time per mapped GiB               %.1f us (all %.0f GiB)\n", t_enum / mapped_gib * 1e6,
         mapped_gib);
  printf("  time per GiB of 4K mappings       %.3f ms (%llu leaves, %llu table reads)\n",
         t_enum4k * 1e3, (unsigned long long)st4k.leaves, (unsigned long long)st4k.table_reads);
  printf("  translations per second           %.0f (%llu of %llu mapped)\n", (double)ntr / t_tr,
         (unsigned long long)ok, (unsigned long long)ntr);

  int bad = 0;
  if (st.table_reads != tables || enum_reads != tables) {
    fprintf(stderr, "bench_arch: %llu table reads for %llu distinct tables\n",
            (unsigned long long)st.table_reads, (unsigned long long)tables);
    bad = 1;
  }
  if (ok != ntr || st.leaves != n4k + n2m + 4 || bytes != (uint64_t)mapped_gib << 30) {
    fprintf(stderr, "bench_arch: walk results do not match the synthetic space\n");
    bad = 1;
  }
  free(arena);
  return bad;
}
