/* service.c - the contract with the bridge core: lifecycle, classification
 * of client requests, events, and the worker-side entry point.
 *
 * Thread safety: the loop thread only reads and writes atomics here.
 * Invalidating events bump s->gen; the worker compares it with the value it
 * last saw (svc__sync) before it uses the cache or the register snapshot,
 * and a cache fill is discarded when gen moved while its reads were in
 * flight.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsp.h"
#include "svc_int.h"

#define DEFAULT_CACHE_BYTES (8u << 20)
/* Table reads of one command when the cache is off or too small. */
#define SCRATCH_BYTES       (4u << 20)

svc *svc_new(const svc_io *io, void *ctx, const svc_config *cfg) {
  svc *s = calloc(1, sizeof(*s));
  if (!s)
    return NULL;
  s->io = io;
  s->ctx = ctx;
  if (cfg)
    s->cfg = *cfg;
  s->cache_bytes = cfg ? cfg->cache_bytes : DEFAULT_CACHE_BYTES;
  if (svc__cache_init(&s->cache, s->cache_bytes)) {
    free(s);
    return NULL;
  }
  atomic_init(&s->gen, 0);
  atomic_init(&s->conn_gen, 0);
  atomic_init(&s->intr, 0);
  atomic_init(&s->ctx_on, 0);
  atomic_init(&s->cache_on, s->cache.max > 0);
  atomic_init(&s->thread, 0);
  atomic_init(&s->max_m, SVC_MAX_M);
  atomic_init(&s->max_w, SVC_MAX_MW);
  atomic_init(&s->max_pkt, 0);
  atomic_init(&s->client_m, 0x1000);
  atomic_init(&s->mode_ev, 0);
  atomic_init(&s->mode_ok, ~0u); /* unknown until the first memory request */
  atomic_init(&s->cmode_pub, 0);
  atomic_init(&s->detach_gen, 0);
  atomic_init(&s->detached, 0);
  s->tmode = -1;
  if (s->cfg.read_only && s->cfg.monitor_policy < SVC_MON_READ_ONLY)
    s->cfg.monitor_policy = SVC_MON_READ_ONLY;
  const char *pb = s->cfg.phys_backend;
  if (pb) {
    snprintf(s->backend_arg, sizeof(s->backend_arg), "%s", pb);
    s->cfg.phys_backend = s->backend_arg;
    if (!strcmp(pb, "qemu")) {
      s->phys = SVC_PHYS_QEMU;
      s->phys_forced = 1;
    } else if (!strcmp(pb, "none")) {
      s->phys = SVC_PHYS_NONE;
      s->phys_forced = 1;
    } else if (!strncmp(pb, "offset:", 7) || !strncmp(pb, "offset=", 7)) {
      if (svc__parse_num(pb + 7, &s->phys_off)) {
        svc__log(s, 0, "bad offset in '%s' (hex expected): using auto", pb);
      } else {
        s->phys = SVC_PHYS_OFFSET;
        s->phys_forced = 1;
      }
    } else if (strcmp(pb, "auto")) {
      /* Not an allocation failure: say so and detect the backend. */
      svc__log(s, 0, "unknown physical backend '%s' (auto, qemu, offset:OFF, none): using auto",
               pb);
    }
  }
  if (svc__cache_init(&s->scratch, SCRATCH_BYTES)) {
    svc__cache_free(&s->cache);
    free(s);
    return NULL;
  }
  svc__sb_init(&s->out);
  s->keepalive_s = 1.0; /* GDB's remotetimeout is 2 s */
  s->x_support = -1;
  return s;
}

void svc_free(svc *s) {
  if (!s)
    return;
  svc__cache_free(&s->cache);
  svc__cache_free(&s->scratch);
  svc__tdesc_free(&s->td);
  free(s->ram);
  svc__local_free(s);
  svc__sb_free(&s->out);
  svc__lldb_free(s);
  free(s);
}

static uint64_t hash_tid(const char *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
  return (h >> 16) | 1; /* never 0: 0 is "no Hg seen" */
}

void svc_set_qemu_pid(svc *s, int pid) {
  atomic_store(&s->qemu_pid, pid);
}

unsigned svc_set_packet_size(svc *s, unsigned target, unsigned ours) {
  /* GDB's rule: an m asks at most PacketSize / 2 bytes.  An M must stay
   * under the PacketSize with its header ("M" 16 digits "," 8 digits ":"). */
  unsigned m = target ? target / 2 : SVC_MAX_M;
  unsigned w = target > 64 ? ((target - 28) / 2) & ~15u : SVC_MAX_MW;
  if (m > SVC_MAX_M)
    m = SVC_MAX_M;
  if (m < 16)
    m = 16;
  if (w > SVC_MAX_MW)
    w = SVC_MAX_MW;
  if (w < 16)
    w = 16;
  atomic_store(&s->max_m, m);
  atomic_store(&s->max_w, w);
  atomic_store(&s->max_pkt, target);
  atomic_store(&s->client_m, ours / 2);
  return ours;
}

/* Whether a client read or write is larger than the target takes (it must
 * then be split by svc_handle). */
static int too_big(svc *s, const char *b, size_t len) {
  const char *p = b + 1, *end = b + len;
  uint64_t addr, n;
  if (rsp_parse_hex(&p, end, &addr) < 0 || p == end || *p++ != ',' ||
      rsp_parse_hex(&p, end, &n) < 0)
    return 0; /* malformed: the target answers it */
  return n > (b[0] == 'm' ? atomic_load(&s->max_m) : atomic_load(&s->max_w));
}

/* The target is not known to be in the client's memory mode. */
static int mode_dirty(svc *s) {
  return atomic_load(&s->mode_ok) != atomic_load(&s->mode_ev);
}

enum svc_action svc_classify(svc *s, const char *b, size_t len) {
  switch (rsp_classify_request(b, len, NULL)) {
  case RSP_REQ_RESUME:
    /* Detached: the stop reply of an attach says the CPU is back. */
    if (rsp_has_prefix(b, len, "vAttach") && atomic_load(&s->detached))
      return SVC_HANDLE;
    /* The client's File-I/O answer (F) too: the target carries on. */
    return SVC_FORWARD_RESUME;
  case RSP_REQ_STOP_QUERY:
    if (b[0] == '?' && atomic_load(&s->detached))
      return SVC_HANDLE;
    return SVC_FORWARD;
  case RSP_REQ_DETACH:
    return SVC_HANDLE; /* tracked: no bridge command may need a CPU after it */
  case RSP_REQ_MEM_READ:
  case RSP_REQ_MEM_WRITE:
    if (b[0] != 'm' && b[0] != 'M' && b[0] != 'X')
      return SVC_FORWARD; /* x and flash writes go to the target as they are */
    if (atomic_load(&s->ctx_on) || (atomic_load(&s->cache_on) && s->cache.max) || mode_dirty(s) ||
        atomic_load(&s->detached) || too_big(s, b, len))
      return SVC_HANDLE;
    return SVC_FORWARD;
  case RSP_REQ_THREAD:
    if (len >= 2 && b[0] == 'H' && b[1] == 'g')
      atomic_store(&s->thread, hash_tid(b + 2, len - 2));
    return SVC_FORWARD;
  case RSP_REQ_REG_WRITE:
  case RSP_REQ_BREAKPOINT:
    /* Register writes change the translation; a stub may implement
     * software breakpoints by patching memory. */
    atomic_fetch_add(&s->gen, 1);
    return SVC_FORWARD;
  case RSP_REQ_REVERSE:
    return SVC_HANDLE; /* QEMU answers E22 and then aborts: never forward */
  case RSP_REQ_SET:
    if (rsp_has_prefix(b, len, "Qqemu.PhyMemMode:"))
      return SVC_HANDLE; /* the client's own mode: tracked */
    return SVC_FORWARD;
  case RSP_REQ_MONITOR:
    return SVC_HANDLE;
  case RSP_REQ_QUERY:
    if (b[0] != 'q')
      return SVC_FORWARD; /* vCont?, vMustReplyEmpty, t */
    if (svc__lldb_classify(b, len))
      return SVC_HANDLE;
    if (rsp_has_prefix(b, len, "qqemu.PhyMemMode") && mode_dirty(s))
      return SVC_HANDLE; /* answered once the client's mode is back */
    return SVC_FORWARD;
  default:
    return SVC_FORWARD;
  }
}

void svc_event(svc *s, enum svc_event ev) {
  switch (ev) {
  case SVC_EV_CONNECT:
  case SVC_EV_LOST:
    atomic_fetch_add(&s->conn_gen, 1);
    atomic_fetch_add(&s->mode_ev, 1);
    atomic_fetch_add(&s->gen, 1);
    break;
  case SVC_EV_DETACH:
    atomic_fetch_add(&s->detach_gen, 1);
    atomic_fetch_add(&s->mode_ev, 1);
    atomic_fetch_add(&s->gen, 1);
    break;
  case SVC_EV_RESUME:
  case SVC_EV_STOP:
  case SVC_EV_REG_WRITE:
  default:
    atomic_fetch_add(&s->gen, 1);
    break;
  }
}

void svc_interrupt(svc *s) {
  atomic_store(&s->intr, 1);
}

/* The client left or detached: what it chose ends with it. */
static void client_gone(svc *s) {
  s->cmode = 0; /* a new client expects virtual addresses */
  if (atomic_load(&s->ctx_on)) {
    atomic_store(&s->ctx_on, 0);
    svc__log(s, 0, "context root 0x%llx ended with its client (back to the default context)",
             (unsigned long long)s->ctx_root);
  }
}

void svc__sync(svc *s) {
  unsigned cg = atomic_load(&s->conn_gen);
  if (cg != s->seen_conn) {
    s->seen_conn = cg;
    s->discovered = 0;
    s->tmode = -1; /* a new connection, maybe a new QEMU: mode unknown */
    s->x_support = -1;
    s->ram_known = 0;
    svc__tdesc_free(&s->td);
    s->regs_valid = 0;
    atomic_store(&s->detached, 0); /* QEMU attaches its first process to a new connection */
  }
  unsigned dg = atomic_load(&s->detach_gen);
  if (dg != s->seen_detach) {
    s->seen_detach = dg;
    client_gone(s);
  }
  unsigned me = atomic_load(&s->mode_ev);
  if (me != s->seen_mode_ev) {
    s->seen_mode_ev = me;
    svc__mode_publish(s);
  }
  unsigned g = atomic_load(&s->gen);
  if (g != s->seen_gen) {
    s->seen_gen = g;
    svc__cache_flush(&s->cache);
    svc__cache_flush(&s->scratch);
    s->regs_valid = 0;
  }
}

/* ------------------------------------------------------------------------
 * Upstream. */

int svc__transact(svc *s, const svc_req *reqs, size_t n, svc_reply_cb cb, void *arg) {
  s->n_transact++;
  s->n_requests += n;
  int rc = s->io->transact(s->ctx, reqs, n, cb, arg);
  if (rc < 0)
    atomic_fetch_add(&s->gen, 1); /* the target may be gone: nothing cached is served */
  return rc;
}

static int on_copy(void *arg, size_t i, const char *body, size_t len) {
  svc_rep *reps = arg;
  /* A later reply for the same index (the final reply after console 'O'
   * packets of a qRcmd) replaces an earlier one. */
  free(reps[i].body);
  reps[i].body = malloc(len + 1);
  if (!reps[i].body) {
    reps[i].len = 0;
    return 1;
  }
  memcpy(reps[i].body, body, len);
  reps[i].body[len] = 0;
  reps[i].len = len;
  return 0;
}

int svc__transact_copy(svc *s, const svc_req *reqs, size_t n, svc_rep *reps) {
  for (size_t i = 0; i < n; i++) {
    reps[i].body = NULL;
    reps[i].len = 0;
  }
  int rc = svc__transact(s, reqs, n, on_copy, reps);
  for (size_t i = 0; i < n && !rc; i++)
    if (!reps[i].body)
      rc = -1;
  if (rc)
    svc__reps_free(reps, n);
  return rc;
}

void svc__reps_free(svc_rep *reps, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(reps[i].body);
    reps[i].body = NULL;
    reps[i].len = 0;
  }
}

int svc__simple(svc *s, const char *req, char *buf, size_t cap) {
  svc_req r = {req, strlen(req)};
  svc_rep rep;
  if (svc__transact_copy(s, &r, 1, &rep))
    return -1;
  size_t n = rep.len < cap - 1 ? rep.len : cap - 1;
  memcpy(buf, rep.body, n);
  buf[n] = 0;
  svc__reps_free(&rep, 1);
  return (int)n;
}

void svc__log(svc *s, int level, const char *fmt, ...) {
  if (!s->io->log)
    return;
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  s->io->log(s->ctx, level, buf);
}

/* ------------------------------------------------------------------------
 * Registers: one snapshot per stop and thread, read in one batch. */

/* rip: QEMU cuts cr3 to 32 bits while the CPU runs 32-bit code (walk.c). */
static const char *const regs_x86[] = {"cr0", "cr3", "cr4", "efer", "rip"};
static const char *const regs_a64[] = {"SCTLR", "TCR_EL1", "TTBR0_EL1", "TTBR1_EL1", "cpsr"};
static const char *const regs_rv[] = {"satp", "priv"};

static int on_reg(void *arg, size_t i, const char *body, size_t len) {
  svc *s = arg;
  s->snap[i].have = 0;
  if (!len || len % 2 || len > 16 * 2)
    return 0;
  uint8_t b[16];
  if (rsp_hex_decode(b, sizeof(b), body, len) < 0)
    return 0; /* "xx": unavailable; Exx */
  if (body[0] == 'E' && len == 3)
    return 0;
  uint64_t v = 0;
  size_t n = len / 2 > 8 ? 8 : len / 2;
  for (size_t k = 0; k < n; k++)
    v |= (uint64_t)b[k] << (8 * k); /* target byte order: little endian */
  s->snap[i].val = v;
  s->snap[i].have = 1;
  return 0;
}

int svc__regs_get(svc *s, const char *const *names, int n, uint64_t *vals, int *have) {
  svc__sync(s);
  svc__discover(s);
  uint64_t th = atomic_load(&s->thread);
  if (!s->regs_valid || s->regs_thread != th) {
    const char *const *list = NULL;
    int nl = 0;
    switch (s->td.arch) {
    case SVC_ARCH_X86:
    case SVC_ARCH_X86_64:
      list = regs_x86;
      nl = 5;
      break;
    case SVC_ARCH_AARCH64:
      list = regs_a64;
      nl = 5;
      break;
    case SVC_ARCH_RISCV:
      list = regs_rv;
      nl = 2;
      break;
    default:
      break;
    }
    svc_req reqs[8];
    char texts[8][24];
    int map[8], nr = 0;
    s->nsnap = nl;
    for (int i = 0; i < nl; i++) {
      s->snap[i].name = list[i];
      s->snap[i].have = 0;
      const svc_reg *r = svc__tdesc_find(&s->td, list[i]);
      if (!r)
        continue;
      int len = snprintf(texts[nr], sizeof(texts[nr]), "p%x", r->num);
      reqs[nr].body = texts[nr];
      reqs[nr].len = (size_t)len;
      map[nr++] = i;
    }
    if (nr) {
      /* Replies land in snap[] by request index; remap afterwards. */
      struct {
        uint64_t val;
        int have;
      } tmp[8];
      for (int i = 0; i < nl; i++)
        tmp[i].have = 0;
      int rc = svc__transact(s, reqs, (size_t)nr, on_reg, s);
      for (int k = 0; k < nr; k++) {
        tmp[map[k]].val = s->snap[k].val;
        tmp[map[k]].have = !rc && s->snap[k].have;
      }
      for (int i = 0; i < nl; i++) {
        s->snap[i].val = tmp[i].val;
        s->snap[i].have = tmp[i].have;
      }
    }
    s->regs_valid = 1;
    s->regs_thread = th;
  }
  int all = 1;
  for (int k = 0; k < n; k++) {
    have[k] = 0;
    vals[k] = 0;
    for (int i = 0; i < s->nsnap; i++)
      if (!strcmp(s->snap[i].name, names[k]) && s->snap[i].have) {
        vals[k] = s->snap[i].val;
        have[k] = 1;
      }
    all = all && have[k];
  }
  return all ? 0 : -1;
}

/* ------------------------------------------------------------------------ */

/* Forwards a client request unchanged, relays the final reply and keeps
 * its first bytes in ans (NUL-terminated). */
typedef struct {
  svc *s;
  char ans[8];
  int got;
} relay_ctx;

static int on_relay(void *arg, size_t i, const char *body, size_t len) {
  relay_ctx *r = arg;
  (void)i;
  if (len > 1 && body[0] == 'O' && len % 2 && !(len == 2 && body[1] == 'K'))
    return 0; /* console output */
  size_t n = len < sizeof(r->ans) - 1 ? len : sizeof(r->ans) - 1;
  memcpy(r->ans, body, n);
  r->ans[n] = 0;
  r->got = 1;
  r->s->io->reply(r->s->ctx, body, len);
  return 0;
}

static void relay(svc *s, const char *body, size_t len, relay_ctx *r) {
  memset(r, 0, sizeof(*r));
  r->s = s;
  svc_req q = {body, len};
  svc__transact(s, &q, 1, on_relay, r);
  if (!r->got)
    s->io->reply(s->ctx, "E05", 3);
}

/* The client's own Qqemu.PhyMemMode:N: forwarded, and once the target said
 * OK, its mode (the cache then keeps its reads apart). */
static void client_mode(svc *s, const char *body, size_t len) {
  const char *p = body + 17, *end = body + len;
  uint64_t v;
  int parsed = rsp_parse_hex(&p, end, &v) == 0 && p == end;
  s->tmode = -1; /* whatever the answer, until it says OK */
  s->mode_touched = 1;
  relay_ctx r;
  relay(s, body, len, &r);
  if (r.got && !strcmp(r.ans, "OK") && parsed) {
    s->cmode = v != 0;
    s->tmode = s->cmode;
    svc__log(s, 1, "client switched QEMU to %s memory mode", s->cmode ? "physical" : "virtual");
  }
  svc__mode_publish(s);
}

static int is_stop_reply(const char *a) {
  return a[0] == 'T' || a[0] == 'S';
}

void svc_handle(svc *s, const char *body, size_t len) {
  svc__sync(s);
  atomic_store(&s->intr, 0);
  if (len == 2 && body[0] == 'b' && (body[1] == 'c' || body[1] == 's')) {
    s->io->reply(s->ctx, "", 0); /* unsupported: reverse execution */
    return;
  }
  if (rsp_has_prefix(body, len, "Qqemu.PhyMemMode:")) {
    client_mode(s, body, len);
    return;
  }
  int detached = atomic_load(&s->detached);
  if (len && body[0] == 'D') {
    relay_ctx r;
    relay(s, body, len, &r);
    if (r.got && !strcmp(r.ans, "OK")) {
      /* QEMU resumes the guest when no process is left attached. */
      atomic_store(&s->detached, 1);
      atomic_fetch_add(&s->gen, 1);
      client_gone(s);
      svc__phys_end(s);
      svc__log(s, 1, "client detached: bridge commands refused until it attaches again");
    }
    return;
  }
  if (len && (body[0] == 'm' || body[0] == 'M' || body[0] == 'X')) {
    if (detached) {
      static const char e[] = "E.rspbridge: no process attached (after detach): attach first";
      s->io->reply(s->ctx, e, sizeof(e) - 1);
      return;
    }
    svc__handle_mem(s, body, len);
    return;
  }
  if (detached && len == 1 && body[0] == '?') {
    /* QEMU never answers `?` with no process attached (the request would
     * time out): no process, as a stub says it (attach again: vAttach). */
    s->io->reply(s->ctx, "W00", 3);
    return;
  }
  if (rsp_has_prefix(body, len, "qRcmd,")) {
    char line[SVC_LINE_MAX + 1];
    int n = rsp_parse_qrcmd(body, len, line, sizeof(line) - 1);
    if (n < 0) {
      svc__monitor(s, NULL, (len - 6) / 2); /* says why */
      return;
    }
    svc__monitor(s, line, (size_t)n);
    return;
  }
  /* LLDB's host and region packets read registers and page tables: only
   * with a process attached (QEMU crashes otherwise); detached, they go to
   * the target like everything else. */
  if (!detached && svc__lldb_handle(s, body, len))
    return;
  /* Anything else: the client's mode first (it was unknown), then the
   * request as it came; an attach's stop reply ends the detached state. */
  svc__phys_end(s);
  relay_ctx r;
  relay(s, body, len, &r);
  if (detached && r.got && is_stop_reply(r.ans)) {
    atomic_store(&s->detached, 0);
    atomic_fetch_add(&s->gen, 1);
  }
}

/* The slot of session id, made (the oldest other one reused) if new: a new
 * session starts in virtual mode with no context. */
static int sess_slot(svc *s, unsigned id) {
  int n = (int)(sizeof(s->sess) / sizeof(s->sess[0])), old = -1;
  for (int i = 0; i < n; i++) {
    if (s->sess[i].used && s->sess[i].id == id)
      return i;
    int mine = s->sess[i].used && s->sess[i].id == s->sess_id; /* never the current one */
    if (!mine && (old < 0 || s->sess[i].used < s->sess[old].used))
      old = i;
  }
  s->sess[old].id = id;
  s->sess[old].cmode = s->sess[old].ctx_on = 0;
  s->sess[old].ctx_root = 0;
  s->sess[old].used = ++s->sess_tick;
  return old;
}

void svc_session(svc *s, unsigned id) {
  if (id == s->sess_id)
    return;
  svc__sync(s); /* events so far are the current session's */
  int cur = sess_slot(s, s->sess_id);
  s->sess[cur].cmode = s->cmode;
  s->sess[cur].ctx_on = atomic_load(&s->ctx_on);
  s->sess[cur].ctx_root = s->ctx_root;
  int nx = sess_slot(s, id);
  s->sess[nx].used = ++s->sess_tick;
  s->cmode = s->sess[nx].cmode;
  s->ctx_root = s->sess[nx].ctx_root;
  atomic_store(&s->ctx_on, s->sess[nx].ctx_on);
  s->sess_id = id;
  svc__mode_publish(s);
}

int svc_finish(svc *s) {
  /* The session ends: QEMU is left in virtual mode, as a new debugger
   * expects it, whatever the bridge or its client switched. */
  svc__sync(s);
  s->cmode = 0;
  if (s->tmode == 0 || (!s->mode_touched && !(s->discovered && s->qemu_phys)))
    return 0;
  return svc__mode_set(s, 0) ? -1 : 0;
}

const svc_ops svc_walker_ops = {
    .create = svc_new,
    .free = svc_free,
    .set_packet_size = svc_set_packet_size,
    .classify = svc_classify,
    .event = svc_event,
    .interrupt = svc_interrupt,
    .serve_cached = svc_serve_cached,
    .handle = svc_handle,
    .session = svc_session,
    .finish = svc_finish,
};
