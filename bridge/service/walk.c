/* walk.c - translation contexts from the target's registers, and the
 * arch_mem callbacks that feed arch/'s walker from the physical cache. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walk.h"

static void add_miss(svc_walk *w, uint64_t unit) {
  if (w->nmiss == w->capmiss) {
    size_t cap = w->capmiss ? 2 * w->capmiss : 256;
    uint64_t *m = realloc(w->miss, cap * sizeof(*m));
    if (!m)
      return;
    w->miss = m;
    w->capmiss = cap;
  }
  w->miss[w->nmiss++] = unit;
}

/* Dry pass: units missing from the cache are recorded, never read. */
static int dry_units(svc_walk *w, uint64_t pa, size_t len, int record) {
  svc_cache *pc = svc__pcache(w->s);
  int missing = 0;
  if (!pc)
    return 1;
  for (uint64_t u = pa & ~(uint64_t)(SVC_CPAGE - 1); u < pa + len; u += SVC_CPAGE) {
    if (svc__is_uncached(w->s, u, SVC_CPAGE))
      return 1; /* never cached: the real pass reads it */
    if (svc__cache_get(pc, SVC_AS_PHYS, u)) {
      pc->hits--;
      continue;
    }
    pc->misses--;
    missing = 1;
    if (record)
      add_miss(w, u);
  }
  return missing;
}

static int mem_read(void *c, uint64_t pa, void *buf, size_t len) {
  svc_walk *w = c;
  size_t got = 0;
  if (w->dry) {
    if (dry_units(w, pa, len, 1))
      return -1;
  }
  int rc = svc__phys_read_cached(w->s, pa, buf, len, &got);
  if (rc && !w->err) {
    w->err = rc;
    w->err_pa = pa + got;
  }
  if (rc == SVC_EINTR)
    w->intr = 1;
  if (!got)
    return -1;
  return (int)got;
}

/* Prefetch: fill the cache with the units of the tables the enumerator will
 * read next, FILL units per pipelined transaction. */
#define FILL 64
static void mem_prefetch(void *c, const uint64_t *pas, size_t n, size_t len) {
  svc_walk *w = c;
  svc *s = w->s;
  svc_cache *pc = svc__pcache(s);
  if (!pc || w->intr)
    return;
  if (w->dry) {
    for (size_t i = 0; i < n; i++)
      dry_units(w, pas[i], len, 1);
    return;
  }
  size_t budget = pc->max / 2;
  uint64_t units[FILL];
  size_t nu = 0, total = 0;
  uint8_t(*tmp)[SVC_CPAGE] = malloc(FILL * sizeof(*tmp));
  if (!tmp)
    return;
  for (size_t i = 0; i <= n; i++) {
    if (i < n) {
      uint64_t lo = pas[i] & ~(uint64_t)(SVC_CPAGE - 1);
      for (uint64_t u = lo; u < pas[i] + len && total < budget; u += SVC_CPAGE) {
        if (svc__is_uncached(s, u, SVC_CPAGE))
          continue;
        if (svc__cache_get(pc, SVC_AS_PHYS, u)) {
          pc->hits--; /* a probe, not a use */
          continue;
        }
        pc->misses--;
        int dup = 0;
        for (size_t k = 0; k < nu; k++)
          dup |= units[k] == u;
        if (dup)
          continue;
        units[nu++] = u;
        total++;
        if (nu == FILL)
          break;
      }
    }
    if (nu == FILL || (i == n && nu)) {
      svc_prd rd[FILL];
      for (size_t k = 0; k < nu; k++) {
        rd[k].pa = units[k];
        rd[k].len = SVC_CPAGE;
        rd[k].buf = tmp[k];
        rd[k].rc = 0;
      }
      unsigned gen = atomic_load(&s->gen);
      svc__phys_read(s, rd, nu);
      w->prefetched += nu;
      if (gen == atomic_load(&s->gen))
        for (size_t k = 0; k < nu; k++)
          if (rd[k].rc == SVC_OK)
            svc__cache_put(pc, SVC_AS_PHYS, rd[k].pa, rd[k].buf);
      nu = 0;
      svc__keepalive(s, "reading page tables...\n");
      if (s->io->interrupted && s->io->interrupted(s->ctx)) {
        w->intr = 1;
        break;
      }
    }
    if (total >= budget)
      break;
  }
  free(tmp);
}

void svc__walk_init(svc_walk *w, svc *s) {
  memset(w, 0, sizeof(*w));
  w->s = s;
  w->mem.read = mem_read;
  w->mem.prefetch = mem_prefetch;
  w->mem.cb_ctx = w;
}

static arch_mode default_mode(const svc *s) {
  switch (s->td.arch) {
  case SVC_ARCH_X86_64:
    return ARCH_X86_64_4L;
  case SVC_ARCH_X86:
    return ARCH_X86_32;
  case SVC_ARCH_AARCH64:
    return ARCH_AARCH64;
  case SVC_ARCH_RISCV: {
    const svc_reg *r = svc__tdesc_find(&s->td, "satp");
    return r && r->bits == 32 ? ARCH_RISCV_SV32 : ARCH_RISCV_SV39;
  }
  default:
    return ARCH_MODE_NONE;
  }
}

/* The value after "key" in QEMU's `info registers` text, as hex. */
static int hmp_hex(const char *text, const char *key, uint64_t *v) {
  const char *p = strstr(text, key);
  if (!p)
    return 0;
  *v = strtoull(p + strlen(key), NULL, 16);
  return 1;
}

/* QEMU 7.2's gdbstub cuts rip and cr3 to 32 bits while a 64-bit CPU runs
 * 32-bit code (compat mode), so a page-table root above 4 GiB would be
 * walked from the wrong address.  QEMU's monitor shows the whole CR3 and
 * whether CS is a 64-bit segment, for its own current CPU: ours when its
 * RIP matches.  Returns 1 with *cr3 replaced, 0 when the value stands, -1
 * when it may be cut and cannot be recovered.  Asked once per stop. */
static int cr3_compat(svc *s, uint64_t rip, uint64_t *cr3) {
  uint64_t th = atomic_load(&s->thread);
  if (s->cr3_fix_valid && s->cr3_fix_gen == s->seen_gen && s->cr3_fix_thread == th &&
      s->cr3_fix_rip == rip && s->cr3_fix_in == *cr3) {
    if (s->cr3_fix_rc == 1)
      *cr3 = s->cr3_fix_val;
    return s->cr3_fix_rc;
  }
  svc_sb text;
  svc__sb_init(&text);
  int res = 0;
  uint64_t full = *cr3, hrip, hcr3;
  if (svc__rcmd(s, "info registers", 0, &text, NULL) == 0 && text.p) {
    const char *cs = strstr(text.p, "CS =");
    char line[128] = "";
    if (cs)
      snprintf(line, sizeof(line), "%.*s", (int)strcspn(cs, "\r\n"), cs);
    if (cs && !strstr(line, "CS64")) {
      /* Outside 64-bit code QEMU prints the 32-bit names (EIP=). */
      if ((hmp_hex(text.p, "RIP=", &hrip) || hmp_hex(text.p, "EIP=", &hrip)) &&
          (hrip & 0xffffffffu) == rip && hmp_hex(text.p, "CR3=", &hcr3)) {
        full = hcr3;
        res = full != *cr3;
      } else {
        res = -1;
      }
    }
  }
  svc__sb_free(&text);
  s->cr3_fix_valid = 1;
  s->cr3_fix_gen = s->seen_gen;
  s->cr3_fix_thread = th;
  s->cr3_fix_rip = rip;
  s->cr3_fix_in = *cr3;
  s->cr3_fix_val = full;
  s->cr3_fix_rc = res;
  *cr3 = full;
  return res;
}

int svc__make_ctx(svc *s, int has_root, uint64_t root, int half, arch_ctx *ctx, char *err,
                  size_t cap) {
  svc__discover(s);
  memset(ctx, 0, sizeof(*ctx));
  if (!has_root && s->cfg.has_root_override) {
    has_root = 1;
    root = s->cfg.root_override;
  }
  int rc = ARCH_EINVAL;
  uint64_t v[5];
  int have[5];
  const char *missing = NULL;
  switch (s->td.arch) {
  case SVC_ARCH_X86:
  case SVC_ARCH_X86_64: {
    static const char *const n[] = {"cr0", "cr3", "cr4", "efer", "rip"};
    svc__regs_get(s, n, 5, v, have);
    if (!have[3])
      v[3] = 0; /* i386 descriptions have no efer */
    /* Long mode with rip and cr3 both under 4 GiB: possibly 32-bit code,
     * where QEMU's gdbstub cuts cr3 (a kernel stop, rip above 4 GiB, is
     * 64-bit code for sure and costs nothing). */
    if (have[1] && have[4] && !has_root && s->qemu_phys && (v[3] & (1u << 10)) && !(v[1] >> 32) &&
        !(v[4] >> 32) && cr3_compat(s, v[4], &v[1]) < 0) {
      snprintf(err, cap,
               "cr3 may be cut to 32 bits: the CPU runs 32-bit code, where QEMU's gdbstub "
               "drops bits 63:32, and QEMU's monitor shows another CPU (select this one with "
               "`monitor cpu N`, or give --root PA)");
      return -1;
    }
    if (have[0] && have[1] && have[2])
      rc = arch_detect_x86(v[0], v[2], v[3], v[1], ctx);
    else
      missing = "cr0/cr3/cr4";
    break;
  }
  case SVC_ARCH_AARCH64: {
    static const char *const n[] = {"SCTLR", "TCR_EL1", "TTBR0_EL1", "TTBR1_EL1"};
    svc__regs_get(s, n, 4, v, have);
    if (have[0] && have[1] && have[2] && have[3])
      rc = arch_detect_aarch64(v[0], v[1], v[2], v[3], ctx);
    else
      missing = "SCTLR/TCR_EL1/TTBR0_EL1/TTBR1_EL1";
    break;
  }
  case SVC_ARCH_RISCV: {
    static const char *const n[] = {"satp"};
    svc__regs_get(s, n, 1, v, have);
    const svc_reg *r = svc__tdesc_find(&s->td, "satp");
    if (have[0])
      rc = arch_detect_riscv(v[0], r && r->bits == 32 ? 32 : 64, ctx);
    else
      missing = "satp";
    break;
  }
  default:
    missing = "paging registers (unknown architecture)";
    break;
  }
  if (s->arch_forced) {
    /* A forced mode keeps the roots the registers gave, if any. */
    arch_ctx d = *ctx;
    int ok = rc == 0 || rc == ARCH_ENOPAGING;
    arch_ctx_init(ctx, (arch_mode)s->arch_mode);
    if (ok && !has_root) {
      if (ctx->mode == d.mode) {
        *ctx = d;
      } else if (s->td.arch == SVC_ARCH_X86 || s->td.arch == SVC_ARCH_X86_64) {
        arch_set_root(ctx, 0, v[1]);
      } else if (s->td.arch == SVC_ARCH_AARCH64) {
        arch_set_root(ctx, 0, v[2]);
        arch_set_root(ctx, 1, v[3]);
      } else if (s->td.arch == SVC_ARCH_RISCV) {
        arch_set_root(ctx, 0, (v[0] & ((1ull << 44) - 1)) << 12);
      }
    } else if (!has_root) {
      snprintf(err, cap, "%s unavailable: give --root PA", missing ? missing : "registers");
      return -1;
    }
    rc = 0;
  } else if (rc == ARCH_ENOPAGING) {
    if (!has_root) {
      ctx->mode = ARCH_MODE_NONE;
      return 0;
    }
    /* Paging is off, but the user names a table: walk it in the default mode. */
    arch_ctx_init(ctx, default_mode(s));
    rc = 0;
  } else if (rc) {
    if (!has_root || default_mode(s) == ARCH_MODE_NONE) {
      if (missing)
        snprintf(err, cap, "%s unavailable: give --root PA (and `arch MODE`)", missing);
      else
        snprintf(err, cap, "cannot use the paging registers: %s", arch_strerror(rc));
      return -1;
    }
    arch_ctx_init(ctx, default_mode(s));
    rc = 0;
  }
  if (has_root && arch_set_root(ctx, half, root)) {
    snprintf(err, cap, "bad --root 0x%llx for %s", (unsigned long long)root,
             arch_mode_name(ctx->mode));
    return -1;
  }
  return rc;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int dry_run(void *arg, const arch_run *r) {
  (void)r;
  svc_walk *w = arg;
  if ((++w->runs & 1023) == 0)
    svc__keepalive(w->s, "reading page tables...\n");
  return w->s->io->interrupted && w->s->io->interrupted(w->s->ctx);
}

#define PREWALK_BATCH 256
int svc__prewalk(svc *s, const arch_ctx *ctx, uint64_t lo, uint64_t hi, void *work, size_t wl) {
  svc_cache *pc = svc__pcache(s);
  if (!pc)
    return 0;
  size_t budget = pc->max / 2, fetched = 0;
  int batches = 0;
  svc_walk w;
  svc__walk_init(&w, s);
  w.dry = 1;
  w.mem.tables_only = 1; /* children of the level above are seen by prefetch */
  uint8_t(*tmp)[SVC_CPAGE] = malloc(PREWALK_BATCH * sizeof(*tmp));
  svc_prd *rd = malloc(PREWALK_BATCH * sizeof(*rd));
  /* Pass k finds the tables of level k; after the last level's batch a
   * further pass would only walk everything again to find nothing. */
  int levels;
  switch (ctx->mode) {
  case ARCH_X86_32:
  case ARCH_RISCV_SV32:
    levels = 2;
    break;
  case ARCH_X86_PAE:
  case ARCH_RISCV_SV39:
    levels = 3;
    break;
  case ARCH_X86_64_5L:
  case ARCH_RISCV_SV57:
    levels = 5;
    break;
  default:
    levels = 4; /* x86-64, Sv48; AArch64 has at most 4 */
    break;
  }
  for (int pass = 0; pass < levels && tmp && rd; pass++) {
    w.nmiss = 0;
    if (arch_enumerate(ctx, &w.mem, lo, hi, work, wl, dry_run, &w, NULL) == ARCH_ECANCELED)
      break;
    if (!w.nmiss)
      break;
    qsort(w.miss, w.nmiss, sizeof(*w.miss), cmp_u64);
    size_t n = 0;
    for (size_t i = 0; i < w.nmiss; i++)
      if (!n || w.miss[n - 1] != w.miss[i])
        w.miss[n++] = w.miss[i];
    if (fetched + n > budget)
      break; /* does not fit: the enumeration reads the rest itself */
    fetched += n;
    unsigned gen = atomic_load(&s->gen);
    for (size_t i = 0; i < n; i += PREWALK_BATCH) {
      size_t k = n - i < PREWALK_BATCH ? n - i : PREWALK_BATCH;
      for (size_t j = 0; j < k; j++) {
        rd[j].pa = w.miss[i + j];
        rd[j].len = SVC_CPAGE;
        rd[j].buf = tmp[j];
        rd[j].rc = 0;
      }
      svc__phys_read(s, rd, k);
      batches++;
      svc__keepalive(s, "reading page tables: %zu so far...\n", fetched);
      if (gen == atomic_load(&s->gen))
        for (size_t j = 0; j < k; j++)
          if (rd[j].rc == SVC_OK)
            svc__cache_put(pc, SVC_AS_PHYS, rd[j].pa, rd[j].buf);
    }
    if (s->io->interrupted && s->io->interrupted(s->ctx))
      break;
  }
  free(tmp);
  free(rd);
  free(w.miss);
  return batches;
}
