/* lldb.c - the packets LLDB asks and QEMU's gdbstub does not answer.
 *
 *   qHostInfo               triple, endianness, pointer size, and whether the
 *                           target reports a watchpoint before the access
 *                           (AArch64, RISC-V: QEMU stops before the store, so
 *                           LLDB must step over it before it looks at the
 *                           value) or after it (x86)
 *   qWatchpointSupportInfo  the slot count; without it LLDB 14 ignores the
 *                           "before" of qHostInfo and an arm64 watchpoint
 *                           stops again and again on the same store
 *   qProcessInfo            pid 1 (QEMU's process), triple, endianness, size
 *   qMemoryRegionInfo:ADDR  the region of ADDR from the page tables: start,
 *                           size, rwx, name "kernel" or "user"; holes are
 *                           regions without permissions (LLDB's `memory
 *                           region`)
 *
 * Each packet goes to the target first, once per connection: a target that
 * answers it (a real lldb-server, a stub of our own) keeps answering it;
 * one that answers "" (QEMU) gets the bridge's answer from then on.  When
 * the bridge cannot know (unknown architecture, paging registers
 * unreadable) the client gets what the target said.
 *
 * Regions come from one enumeration of the whole address space per stop,
 * thread and context (LLDB walks `memory region` from 0 to the top, one
 * packet per region), coalesced by permissions and privilege regardless of
 * the physical addresses.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsp.h"
#include "walk.h"

/* Regions kept per stop; beyond them a region is found from its address on. */
#define MAX_REGIONS (1u << 16)

enum { P_READ = 1, P_WRITE = 2, P_EXEC = 4, P_USER = 8 };

typedef struct {
  uint64_t lo, hi; /* inclusive */
  unsigned perm;   /* P_* */
} region;

/* What the target answers itself: -1 not asked yet, 0 nothing, 1 it does. */
enum { Q_HOST, Q_WATCH, Q_PROC, Q_REGION, Q_COUNT };

struct svc_lldb {
  unsigned conn; /* s->seen_conn the answers below belong to */
  int target_answers[Q_COUNT];
  /* Regions of one stop. */
  int valid;
  unsigned gen;
  uint64_t thread, root;
  int ctx_on;
  int paging;    /* 0: paging off, the regions are the RAM map */
  int truncated; /* more than MAX_REGIONS: the list ends at covered */
  uint64_t covered;
  region *r;
  size_t n, cap;
};

int svc__lldb_classify(const char *b, size_t len) {
  return (len == 9 && !memcmp(b, "qHostInfo", 9)) ||
         (len == 12 && !memcmp(b, "qProcessInfo", 12)) ||
         rsp_has_prefix(b, len, "qWatchpointSupportInfo") ||
         rsp_has_prefix(b, len, "qMemoryRegionInfo:");
}

void svc__lldb_free(svc *s) {
  if (s->lldb) {
    free(s->lldb->r);
    free(s->lldb);
    s->lldb = NULL;
  }
}

static struct svc_lldb *state(svc *s) {
  if (!s->lldb) {
    s->lldb = calloc(1, sizeof(*s->lldb));
    if (!s->lldb)
      return NULL;
    s->lldb->conn = s->seen_conn + 1; /* differs: reset below */
  }
  struct svc_lldb *l = s->lldb;
  if (l->conn != s->seen_conn) {
    l->conn = s->seen_conn;
    for (int i = 0; i < Q_COUNT; i++)
      l->target_answers[i] = -1;
    l->valid = 0;
  }
  return l;
}

/* ------------------------------------------------------------------------
 * Host and process. */

static const char *triple(const svc *s) {
  switch (s->td.arch) {
  case SVC_ARCH_X86_64:
    return "x86_64-unknown-unknown";
  case SVC_ARCH_X86:
    return "i386-unknown-unknown";
  case SVC_ARCH_AARCH64:
    return "aarch64-unknown-unknown";
  case SVC_ARCH_RISCV: {
    const svc_reg *r = svc__tdesc_find(&s->td, "satp");
    return r && r->bits == 32 ? "riscv32-unknown-unknown" : "riscv64-unknown-unknown";
  }
  default:
    return NULL;
  }
}

static int ptr_size(const svc *s) {
  const char *t = triple(s);
  return t && (!strncmp(t, "i386", 4) || !strncmp(t, "riscv32", 7)) ? 4 : 8;
}

static void add_hex_str(svc_sb *b, const char *str) {
  for (const char *p = str; *p; p++)
    svc__sb_printf(b, "%02x", (unsigned char)*p);
}

/* Forwards the request once per connection; 1 when the target's non-empty
 * answer was relayed. */
static int ask_target(svc *s, struct svc_lldb *l, int q, const char *body, size_t len,
                      svc_rep *keep) {
  keep->body = NULL;
  keep->len = 0;
  if (l->target_answers[q] == 0)
    return 0;
  svc_req r = {body, len};
  svc_rep rep;
  if (svc__transact_copy(s, &r, 1, &rep)) {
    s->io->reply(s->ctx, "E05", 3);
    return 1;
  }
  if (rep.len) {
    l->target_answers[q] = 1;
    s->io->reply(s->ctx, rep.body, rep.len);
    svc__reps_free(&rep, 1);
    return 1;
  }
  l->target_answers[q] = 0;
  *keep = rep;
  return 0;
}

static void reply_sb(svc *s, svc_sb *b) {
  if (b->oom)
    s->io->reply(s->ctx, "E0c", 3);
  else
    s->io->reply(s->ctx, b->p ? b->p : "", b->len);
}

static void host_info(svc *s, int process) {
  const char *t = triple(s);
  if (!t) {
    s->io->reply(s->ctx, "", 0); /* as the target said */
    return;
  }
  svc_sb b;
  svc__sb_init(&b);
  if (process)
    svc__sb_puts(&b, "pid:1;parent-pid:1;");
  svc__sb_puts(&b, "triple:");
  add_hex_str(&b, t);
  svc__sb_printf(&b, ";endian:little;ptrsize:%d;", ptr_size(s));
  if (!process) {
    /* QEMU raises a watchpoint hit before the access on Arm and RISC-V
     * (the store has not happened), after it on x86. */
    int before = s->td.arch == SVC_ARCH_AARCH64 || s->td.arch == SVC_ARCH_RISCV;
    svc__sb_printf(&b, "watchpoint_exceptions_received:%s;", before ? "before" : "after");
    svc__sb_puts(&b, "vm-page-size:4096;");
  }
  reply_sb(s, &b);
  svc__sb_free(&b);
}

/* ------------------------------------------------------------------------
 * Regions. */

static unsigned perm_of(arch_mode mode, uint32_t f) {
  unsigned p = 0;
  if (f & ARCH_F_READ)
    p |= P_READ;
  if (f & ARCH_F_WRITE)
    p |= P_WRITE;
  if (f & ARCH_F_USER)
    p |= P_USER;
  /* AArch64: user pages execute at EL0 unless UXN, the others at EL1
   * unless PXN. */
  int nx = mode == ARCH_AARCH64 && !(f & ARCH_F_USER) ? (f & ARCH_F_PXN) : (f & ARCH_F_NX);
  if (!nx)
    p |= P_EXEC;
  return p;
}

static int add_region(struct svc_lldb *l, uint64_t lo, uint64_t hi, unsigned perm) {
  if (l->n && l->r[l->n - 1].perm == perm && l->r[l->n - 1].hi + 1 == lo &&
      l->r[l->n - 1].hi != ~0ull) {
    l->r[l->n - 1].hi = hi;
    return 0;
  }
  if (l->n == MAX_REGIONS)
    return 1;
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 256;
    region *r = realloc(l->r, cap * sizeof(*r));
    if (!r)
      return 1;
    l->r = r;
    l->cap = cap;
  }
  l->r[l->n].lo = lo;
  l->r[l->n].hi = hi;
  l->r[l->n].perm = perm;
  l->n++;
  return 0;
}

typedef struct {
  svc *s;
  struct svc_lldb *l;
  arch_mode mode;
} build_ctx;

static int on_run(void *arg, const arch_run *r) {
  build_ctx *b = arg;
  if (add_region(b->l, r->va, r->va + (r->size - 1), perm_of(b->mode, r->flags))) {
    b->l->truncated = 1;
    return 1;
  }
  return b->s->io->interrupted && b->s->io->interrupted(b->s->ctx);
}

/* One region from ADDR on, when the list is truncated there. */
typedef struct {
  arch_mode mode;
  int have;
  region r;
} one_ctx;

static int on_one(void *arg, const arch_run *r) {
  one_ctx *o = arg;
  unsigned p = perm_of(o->mode, r->flags);
  if (!o->have) {
    o->r.lo = r->va;
    o->r.hi = r->va + (r->size - 1);
    o->r.perm = p;
    o->have = 1;
    return 0;
  }
  if (p != o->r.perm || o->r.hi + 1 != r->va)
    return 1;
  o->r.hi = r->va + (r->size - 1);
  return 0;
}

/* The translation context LLDB's memory accesses go through; 0, 1 when
 * paging is off, -1 when it cannot be known. */
static int get_ctx(svc *s, arch_ctx *ctx) {
  char err[200];
  int on = atomic_load(&s->ctx_on);
  if (svc__make_ctx(s, on, on ? s->ctx_root : 0, 0, ctx, err, sizeof(err)))
    return -1;
  return ctx->mode == ARCH_MODE_NONE ? 1 : 0;
}

static void *work_for(const arch_ctx *ctx, size_t *wl) {
  *wl = arch_work_size(ctx);
  if (*wl < ARCH_WORK_MIN || *wl > ARCH_WORK_MAX)
    *wl = ARCH_WORK_MAX;
  return malloc(*wl);
}

/* Fills l->r for the current stop.  Returns 0, or -1 when the bridge
 * cannot know (then the target's answer stands). */
static int build(svc *s, struct svc_lldb *l, arch_ctx *ctx, char *err, size_t cap) {
  uint64_t th = atomic_load(&s->thread);
  int on = atomic_load(&s->ctx_on);
  if (l->valid && l->gen == s->seen_gen && l->thread == th && l->ctx_on == on &&
      (!on || l->root == s->ctx_root))
    return 0;
  l->valid = 0;
  l->n = 0;
  l->truncated = 0;
  int pg = get_ctx(s, ctx);
  if (pg < 0)
    return -1;
  l->paging = !pg;
  if (pg) {
    /* Paging off: virtual is physical; the RAM map, when known. */
    if (!s->ram_known) {
      add_region(l, 0, ~0ull, P_READ | P_WRITE | P_EXEC);
    } else {
      for (int i = 0; i < s->nram; i++)
        add_region(l, s->ram[i].lo, s->ram[i].hi,
                   s->ram[i].kind == 'r' ? P_READ | P_WRITE | P_EXEC : P_READ | P_WRITE);
    }
  } else {
    size_t wl;
    void *work = work_for(ctx, &wl);
    if (!work) {
      snprintf(err, cap, "out of memory");
      return 1;
    }
    svc_walk w;
    svc__walk_init(&w, s);
    svc__prewalk(s, ctx, 0, ~0ull, work, wl);
    build_ctx b = {s, l, ctx->mode};
    arch_walk_stats st;
    memset(&st, 0, sizeof(st));
    int rc = arch_enumerate(ctx, &w.mem, 0, ~0ull, work, wl, on_run, &b, &st);
    free(work);
    if (rc == ARCH_ECANCELED && !l->truncated) {
      snprintf(err, cap, "interrupted");
      return 1;
    }
    if (rc && rc != ARCH_ECANCELED) {
      snprintf(err, cap, "%s", arch_strerror(rc));
      return 1;
    }
    if (st.read_errors && st.read_errors == st.tables) {
      snprintf(err, cap, "cannot read the page tables at 0x%llx: %s",
               (unsigned long long)st.first_error_pa, svc__strerror(w.err));
      return 1;
    }
    l->covered = l->truncated && l->n ? l->r[l->n - 1].hi : ~0ull;
  }
  l->valid = 1;
  l->gen = s->seen_gen;
  l->thread = th;
  l->ctx_on = on;
  l->root = s->ctx_root;
  return 0;
}

static void region_reply(svc *s, const struct svc_lldb *l, uint64_t lo, uint64_t hi,
                         unsigned perm) {
  svc_sb b;
  svc__sb_init(&b);
  /* A region reaching the top of the address space ends at
   * LLDB_INVALID_ADDRESS (~0, as lldb-server says): an end that wraps to 0
   * would send `memory region --all` round again. */
  uint64_t size = hi == ~0ull ? (lo == ~0ull ? 1 : ~0ull - lo) : hi - lo + 1;
  svc__sb_printf(&b, "start:%llx;size:%llx;", (unsigned long long)lo, (unsigned long long)size);
  if (perm & (P_READ | P_WRITE | P_EXEC)) {
    svc__sb_printf(&b, "permissions:%s%s%s;", perm & P_READ ? "r" : "", perm & P_WRITE ? "w" : "",
                   perm & P_EXEC ? "x" : "");
    svc__sb_puts(&b, "name:");
    add_hex_str(&b, !l->paging ? "physical" : perm & P_USER ? "user" : "kernel");
    svc__sb_puts(&b, ";");
  }
  reply_sb(s, &b);
  svc__sb_free(&b);
}

static void region_error(svc *s, const char *msg) {
  svc_sb b;
  svc__sb_init(&b);
  svc__sb_puts(&b, "error:");
  add_hex_str(&b, msg);
  svc__sb_puts(&b, ";");
  reply_sb(s, &b);
  svc__sb_free(&b);
}

static void region_info(svc *s, struct svc_lldb *l, uint64_t addr, const svc_rep *target) {
  arch_ctx ctx;
  char err[256] = "";
  int rc = build(s, l, &ctx, err, sizeof(err));
  svc__phys_end(s);
  svc__cache_flush(&s->scratch);
  if (rc < 0) {
    s->io->reply(s->ctx, target->body ? target->body : "", target->len);
    return;
  }
  if (rc > 0) {
    region_error(s, err);
    return;
  }
  if (l->truncated && addr > l->covered) {
    size_t wl;
    void *work = work_for(&ctx, &wl);
    if (!work) {
      region_error(s, "out of memory");
      return;
    }
    svc_walk w;
    svc__walk_init(&w, s);
    one_ctx o = {ctx.mode, 0, {0, 0, 0}};
    arch_enumerate(&ctx, &w.mem, addr, ~0ull, work, wl, on_one, &o, NULL);
    free(work);
    svc__phys_end(s);
    if (!o.have)
      region_reply(s, l, addr, ~0ull, 0);
    else if (o.r.lo > addr)
      region_reply(s, l, addr, o.r.lo - 1, 0);
    else
      region_reply(s, l, o.r.lo, o.r.hi, o.r.perm);
    return;
  }
  /* The first region ending at or after addr. */
  size_t lo = 0, hi = l->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (l->r[mid].hi < addr)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo < l->n && l->r[lo].lo <= addr) {
    region_reply(s, l, l->r[lo].lo, l->r[lo].hi, l->r[lo].perm);
    return;
  }
  uint64_t gap_lo = lo ? l->r[lo - 1].hi + 1 : 0;
  uint64_t gap_hi = lo < l->n ? l->r[lo].lo - 1 : ~0ull;
  region_reply(s, l, gap_lo, gap_hi, 0);
}

/* ------------------------------------------------------------------------ */

int svc__lldb_handle(svc *s, const char *body, size_t len) {
  if (!svc__lldb_classify(body, len))
    return 0;
  struct svc_lldb *l = state(s);
  if (!l) {
    s->io->reply(s->ctx, "E0c", 3);
    return 1;
  }
  int q = body[1] == 'H' ? Q_HOST : body[1] == 'W' ? Q_WATCH : body[1] == 'P' ? Q_PROC : Q_REGION;
  uint64_t addr = 0;
  if (q == Q_REGION) {
    const char *p = body + 18, *end = body + len;
    if (rsp_parse_hex(&p, end, &addr) < 0 || p != end) {
      s->io->reply(s->ctx, "E16", 3);
      return 1;
    }
  }
  svc_rep target;
  if (ask_target(s, l, q, body, len, &target))
    return 1;
  svc__discover(s);
  switch (q) {
  case Q_HOST:
  case Q_PROC:
    host_info(s, q == Q_PROC);
    break;
  case Q_WATCH:
    if (triple(s))
      s->io->reply(s->ctx, "num:4;", 6);
    else
      s->io->reply(s->ctx, "", 0);
    break;
  default:
    /* No console output may precede this reply: the walk's progress
     * lines (svc__keepalive) are for monitor commands only. */
    s->out_err = 1;
    region_info(s, l, addr, &target);
    s->out_err = 0;
    break;
  }
  svc__reps_free(&target, 1);
  return 1;
}
