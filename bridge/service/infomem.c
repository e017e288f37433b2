/* infomem.c - QEMU's `info mem` and `info tlb` where QEMU has none.
 *
 * QEMU implements both HMP commands for x86 only (7.2: AArch64 has
 * neither, RISC-V has an `info mem` of its own layout).  Tools that parse
 * the x86 text (GEF's and pwndbg's vmmap under QEMU) then find nothing.
 * On an AArch64 or RISC-V QEMU target the bridge answers both itself, from
 * its own walk, in QEMU's x86 layout:
 *
 *   info mem   one line per range of contiguous VAs with the same effective
 *              user/write permission (the physical side is not looked at):
 *              "%016llx-%016llx %016llx urw"   start, end, size; u/-, r, w/-
 *   info tlb   one line per leaf entry:
 *              "%016llx: %016llx XGPDACTUW"    VA, page PA, the entry's own
 *              bits (X no-execute, G global, P large page, D dirty, A accessed,
 *              C cache disabled, T write-through, U user, W writable)
 *
 * On x86 the commands go to QEMU as before; `info mem --bridge` and `info
 * tlb --bridge` give the bridge's rendering on any architecture (on x86 it
 * is QEMU's byte for byte: the tests compare them), `--target` forwards to
 * the target's own command (RISC-V's `info mem`).
 *
 * x86 quirks reproduced: QEMU walks a 48-bit (57-bit with LA57) index
 * space, so ranges are contiguous across the non-canonical hole and every
 * printed number is sign-extended from bit 47 (56); the PA column of `info
 * tlb` is the entry masked as QEMU masks it (NX and high bits kept under
 * PAE), and QEMU's monitor ends its lines with CR LF.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rsp.h"
#include "walk.h"

typedef struct {
  svc *s;
  arch_ctx ctx;
  svc_walk w;
  int x86;
  unsigned key_bits; /* x86: the width of QEMU's index space; 0: none */
  /* info mem: the open range, in index space. */
  int open;
  uint64_t start, end;
  unsigned prot;
  uint64_t lines;
  int stop;
} render;

static int stopped(render *r) {
  svc *s = r->s;
  if (s->out_err || atomic_load(&s->intr) || (s->io->interrupted && s->io->interrupted(s->ctx)))
    r->stop = 1;
  return r->stop;
}

static uint64_t canon(const render *r, uint64_t a) {
  if (r->key_bits == 48 && (a >> 47) & 1)
    return a | ~((1ull << 48) - 1);
  if (r->key_bits == 57 && (a >> 56) & 1)
    return a | ~((1ull << 57) - 1);
  return a;
}

static uint64_t key(const render *r, uint64_t va) {
  return r->key_bits && r->key_bits < 64 ? va & ((1ull << r->key_bits) - 1) : va;
}

/* ------------------------------------------------------------------------
 * info mem */

enum { PR_WRITE = 1, PR_USER = 2 };

static void mem_flush(render *r) {
  if (!r->open)
    return;
  svc__outf(r->s, "%016llx-%016llx %016llx %cr%c\r\n", (unsigned long long)canon(r, r->start),
            (unsigned long long)canon(r, r->end), (unsigned long long)canon(r, r->end - r->start),
            r->prot & PR_USER ? 'u' : '-', r->prot & PR_WRITE ? 'w' : '-');
  r->open = 0;
  r->lines++;
}

static int on_mem_run(void *arg, const arch_run *run) {
  render *r = arg;
  unsigned prot =
      (run->flags & ARCH_F_WRITE ? PR_WRITE : 0) | (run->flags & ARCH_F_USER ? PR_USER : 0);
  uint64_t k = key(r, run->va);
  if (!(r->open && r->prot == prot && r->end == k)) {
    mem_flush(r);
    r->open = 1;
    r->start = k;
    r->prot = prot;
  }
  r->end = k + run->size; /* 0 at the top of a 64-bit space */
  svc__keepalive(r->s, "walking the page tables...\n");
  return stopped(r);
}

/* ------------------------------------------------------------------------
 * info tlb */

static uint64_t tlb_pa(const render *r, const arch_xlate *xl, uint64_t raw) {
  switch (r->ctx.mode) {
  case ARCH_X86_32:
    return raw & (xl->page_size > 0x1000 ? 0xffe00000u : 0xfffff000u);
  case ARCH_X86_PAE:
    return raw & (xl->page_size > 0x1000 ? ~0xfffffull : ~0xfffull);
  case ARCH_X86_64_4L:
  case ARCH_X86_64_5L:
    return raw & (xl->page_size >= 0x40000000 ? 0x3ffffc0000000ull
                  : xl->page_size >= 0x200000 ? 0x3ffffffe00000ull
                                              : 0x3fffffffff000ull);
  default:
    return xl->page_pa;
  }
}

static void tlb_line(render *r, uint64_t va, const arch_xlate *xl) {
  const arch_level *lv = &xl->lv[xl->nlevels - 1];
  uint64_t raw = lv->raw;
  char f[10];
  if (r->x86) {
    int large = xl->page_size > 0x1000;
    f[0] = r->ctx.mode != ARCH_X86_32 && (raw >> 63) ? 'X' : '-';
    f[1] = raw & 0x100 ? 'G' : '-';
    f[2] = large && (raw & 0x80) ? 'P' : '-';
    f[3] = raw & 0x40 ? 'D' : '-';
    f[4] = raw & 0x20 ? 'A' : '-';
    f[5] = raw & 0x10 ? 'C' : '-';
    f[6] = raw & 0x08 ? 'T' : '-';
    f[7] = raw & 0x04 ? 'U' : '-';
    f[8] = raw & 0x02 ? 'W' : '-';
  } else {
    uint32_t o = lv->flags;
    int user = (o & ARCH_F_USER) != 0;
    int nx = r->ctx.mode == ARCH_AARCH64 && !user ? (o & ARCH_F_PXN) : (o & ARCH_F_NX);
    int riscv = r->ctx.mode >= ARCH_RISCV_SV32 && r->ctx.mode <= ARCH_RISCV_SV57;
    f[0] = nx ? 'X' : '-';
    f[1] = o & ARCH_F_GLOBAL ? 'G' : '-';
    f[2] = xl->page_size > 0x1000 ? 'P' : '-';
    f[3] = o & ARCH_F_DIRTY ? 'D' : '-';
    f[4] = o & ARCH_F_ACCESSED ? 'A' : '-';
    f[5] = riscv && ARCH_F_PBMT(o) ? 'C' : '-'; /* Svpbmt NC or IO */
    f[6] = '-';
    f[7] = user ? 'U' : '-';
    f[8] = o & ARCH_F_WRITE ? 'W' : '-';
  }
  f[9] = 0;
  svc__outf(r->s, "%016llx: %016llx %s\r\n", (unsigned long long)canon(r, va),
            (unsigned long long)tlb_pa(r, xl, raw), f);
  r->lines++;
}

static int on_tlb_run(void *arg, const arch_run *run) {
  render *r = arg;
  for (uint64_t i = 0; i < run->count; i++) {
    uint64_t va = run->va + i * run->page_size;
    arch_xlate xl;
    memset(&xl, 0, sizeof(xl));
    if (arch_translate(&r->ctx, &r->w.mem, va, &xl) == 0 && xl.nlevels)
      tlb_line(r, va, &xl);
    if ((i & 255) == 255)
      svc__keepalive(r->s, "walking the page tables...\n");
    if (stopped(r))
      return 1;
  }
  return stopped(r);
}

/* ------------------------------------------------------------------------ */

/* Returns 0, or -1 with a message already in the output. */
static int run(svc *s, int tlb) {
  render *r = calloc(1, sizeof(*r));
  if (!r) {
    svc__outf(s, "info %s: out of memory\n", tlb ? "tlb" : "mem");
    return -1;
  }
  r->s = s;
  char err[200];
  int rc = -1;
  if (svc__make_ctx(s, 0, 0, 0, &r->ctx, err, sizeof(err))) {
    svc__outf(s, "info %s: %s\n", tlb ? "tlb" : "mem", err);
    free(r);
    return -1;
  }
  if (r->ctx.mode == ARCH_MODE_NONE) {
    svc__outf(s, "PG disabled\r\n"); /* QEMU's words */
    free(r);
    return 0;
  }
  r->x86 = r->ctx.mode >= ARCH_X86_32 && r->ctx.mode <= ARCH_X86_64_5L;
  r->key_bits = r->ctx.mode == ARCH_X86_64_4L ? 48 : r->ctx.mode == ARCH_X86_64_5L ? 57 : 0;
  size_t wl = arch_work_size(&r->ctx);
  if (wl < ARCH_WORK_MIN || wl > ARCH_WORK_MAX)
    wl = ARCH_WORK_MAX;
  void *work = malloc(wl);
  if (!work) {
    svc__outf(s, "info %s: out of memory\n", tlb ? "tlb" : "mem");
    free(r);
    return -1;
  }
  svc__walk_init(&r->w, s);
  svc__prewalk(s, &r->ctx, 0, ~0ull, work, wl);
  arch_walk_stats st;
  memset(&st, 0, sizeof(st));
  int er =
      arch_enumerate(&r->ctx, &r->w.mem, 0, ~0ull, work, wl, tlb ? on_tlb_run : on_mem_run, r, &st);
  free(work);
  if (!tlb)
    mem_flush(r);
  if (r->stop || er == ARCH_ECANCELED) {
    svc__outf(s, "info %s: interrupted\n", tlb ? "tlb" : "mem");
  } else if (er) {
    svc__outf(s, "info %s: %s\n", tlb ? "tlb" : "mem", arch_strerror(er));
  } else if (st.read_errors && st.read_errors == st.tables) {
    svc__outf(s, "info %s: cannot read the page tables at 0x%llx: %s\n", tlb ? "tlb" : "mem",
              (unsigned long long)st.first_error_pa, svc__strerror(r->w.err));
  } else {
    rc = 0;
  }
  free(r);
  return rc;
}

int svc__infomem(svc *s, const char *line, size_t len) {
  svc_args a;
  if (svc__split(&a, line, len) < 2 || a.n > 3 || strcmp(a.tok[0], "info") ||
      (strcmp(a.tok[1], "mem") && strcmp(a.tok[1], "tlb")))
    return 0;
  int tlb = a.tok[1][0] == 't';
  const char *opt = a.n == 3 ? a.tok[2] : NULL;
  if (opt && strcmp(opt, "--bridge") && strcmp(opt, "--target"))
    return 0;
  if (opt && !strcmp(opt, "--target")) {
    svc__forward_rcmd(s, tlb ? "info tlb" : "info mem");
    return 1;
  }
  if (!opt) {
    svc__discover(s);
    if (!s->qemu_phys || (s->td.arch != SVC_ARCH_AARCH64 && s->td.arch != SVC_ARCH_RISCV))
      return 0; /* QEMU's own command (x86), or not QEMU */
  }
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  s->last_out = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
  int rc = run(s, tlb);
  svc__phys_end(s); /* QEMU's mode is restored on every path */
  s->bulk = 0;
  svc__cache_flush(&s->scratch);
  svc__out_flush(s);
  s->io->reply(s->ctx, rc ? "E01" : "OK", 2 + (rc != 0));
  return 1;
}
