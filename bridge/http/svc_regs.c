/* svc_regs.c - the registers of the target as one JSON object, for a
 * backend's regs op (http.h).  Worker thread: it talks to the target
 * through the service (svc__transact), exactly as the service's own
 * commands do.
 *
 * Which registers.  The general registers come from one g packet, cut into
 * registers with the layout of the target description the service already
 * read: the registers in regnum order, each bitsize/8 bytes, as GDB lays
 * out g (QEMU's g holds its core feature: x86-64's general, segment,
 * control and x87/SSE registers; AArch64's x0..x30, sp, pc, cpsr; RISC-V's
 * x0..x31 and pc).  Then the system registers that say how the guest pages
 * and traps (TTBRs, TCR, SCTLR; satp, priv, sstatus...), by p, when g did
 * not hold them.  Should g not be answered, every described register is
 * read by p instead (at most MAX_P_ALL).  Registers wider than 64 bits
 * (vector, x87 stack) are left out; bytes the target marks unavailable
 * ('x') leave their register out.  Values are little endian, as on every
 * architecture the service walks. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "http_svc.h"
#include "rsp.h"
#include "svc_int.h"

#define MAX_P_ALL 256 /* registers read by p when there is no g */
#define P_BATCH   32  /* p requests pipelined in one transaction */

static const char *const sys_x86[] = {"cr0", "cr2", "cr3", "cr4", "cr8", "efer", NULL};
static const char *const sys_a64[] = {"SCTLR", "TCR_EL1", "TTBR0_EL1", "TTBR1_EL1", "MAIR_EL1",
                                      "VBAR",  "ESR_EL1", "FAR_EL1",   NULL};
static const char *const sys_rv[] = {"priv",  "satp",    "sstatus", "stvec", "sepc",   "scause",
                                     "stval", "mstatus", "mtvec",   "mepc",  "mcause", NULL};

static int by_num(const void *a, const void *b) {
  const svc_reg *x = *(const svc_reg *const *)a, *y = *(const svc_reg *const *)b;
  return (x->num > y->num) - (x->num < y->num);
}

/* Little-endian hex of one register (2 * bytes digits) as a number; -1
 * when a digit is not hex ('x': unavailable). */
static int le_value(const char *hex, size_t bytes, uint64_t *v) {
  uint64_t x = 0;
  for (size_t i = 0; i < bytes; i++) {
    int hi = rsp_hex_digit((unsigned char)hex[2 * i]),
        lo = rsp_hex_digit((unsigned char)hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return -1;
    if (i < 8)
      x |= (uint64_t)(hi * 16 + lo) << (8 * i);
  }
  *v = x;
  return 0;
}

typedef struct {
  svc_sb *o;
  int first;
  unsigned char *done; /* per register index of the description: already listed */
} regs_out;

static void put(regs_out *ro, const char *name, uint64_t v) {
  svc__sb_puts(ro->o, ro->first ? "" : ",");
  svc__sb_json_str(ro->o, name, strlen(name));
  svc__sb_printf(ro->o, ":\"0x%llx\"", (unsigned long long)v);
  ro->first = 0;
}

/* The g reply cut by the description's layout; returns how many registers
 * it held (0: no usable g). */
static int from_g(svc *s, svc_reg **sorted, int n, regs_out *ro) {
  svc_req req = {"g", 1};
  svc_rep rep;
  if (svc__transact_copy(s, &req, 1, &rep))
    return 0;
  const char *g = rep.body;
  size_t len = rep.len, off = 0;
  int got = 0;
  if (len < 2 || len % 2 || (len == 3 && g[0] == 'E')) {
    svc__reps_free(&rep, 1);
    return 0;
  }
  for (int i = 0; i < n; i++) {
    if (sorted[i]->bits <= 0 || sorted[i]->bits > 4096)
      break; /* a layout that cannot be followed (the description is the target's word) */
    size_t bytes = (size_t)(sorted[i]->bits + 7) / 8;
    if (off + 2 * bytes > len)
      break;
    uint64_t v;
    if (sorted[i]->bits <= 64 && le_value(g + off, bytes, &v) == 0) {
      put(ro, sorted[i]->name, v);
      ro->done[sorted[i] - s->td.regs] = 1;
    }
    off += 2 * bytes;
    got++;
  }
  svc__reps_free(&rep, 1);
  return got;
}

/* Reads regs[0..n) by p, P_BATCH at a time, and lists those answered. */
static void from_p(svc *s, const svc_reg **regs, int n, regs_out *ro) {
  for (int at = 0; at < n; at += P_BATCH) {
    int k = n - at < P_BATCH ? n - at : P_BATCH;
    svc_req reqs[P_BATCH];
    svc_rep reps[P_BATCH];
    char texts[P_BATCH][16];
    for (int i = 0; i < k; i++) {
      int m = rsp_format_p(texts[i], sizeof(texts[i]), (uint64_t)regs[at + i]->num);
      reqs[i].body = texts[i];
      reqs[i].len = m > 0 ? (size_t)m : 0;
    }
    if (svc__transact_copy(s, reqs, (size_t)k, reps))
      return;
    for (int i = 0; i < k; i++) {
      const svc_reg *r = regs[at + i];
      size_t bytes = (size_t)(r->bits + 7) / 8, len = reps[i].len;
      uint64_t v;
      /* QEMU may answer more bytes than described (a wider internal
       * value): the low ones count. */
      if (len >= 2 * bytes && len % 2 == 0 && !(len == 3 && reps[i].body[0] == 'E') &&
          le_value(reps[i].body, bytes, &v) == 0) {
        put(ro, r->name, v);
        ro->done[r - s->td.regs] = 1;
      }
    }
    svc__reps_free(reps, (size_t)k);
  }
}

int http_svc_regs_json(svc *s, svc_sb *o) {
  svc__sync(s);
  if (svc__discover(s) || !s->td.loaded || s->td.nregs <= 0) {
    svc__sb_puts(o, "no target description: the registers are not named");
    return -1;
  }
  int n = s->td.nregs;
  svc_reg **sorted = malloc((size_t)n * sizeof(*sorted));
  const svc_reg **want = malloc((size_t)n * sizeof(*want));
  unsigned char *done = calloc((size_t)n, 1);
  if (!sorted || !want || !done) {
    free(sorted);
    free(want);
    free(done);
    o->oom = 1;
    return -1;
  }
  for (int i = 0; i < n; i++)
    sorted[i] = &s->td.regs[i];
  qsort(sorted, (size_t)n, sizeof(*sorted), by_num);
  regs_out ro = {o, 1, done};
  svc__sb_puts(o, "{");
  int nw = 0;
  if (from_g(s, sorted, n, &ro) > 0) {
    const char *const *sys = s->td.arch == SVC_ARCH_AARCH64 ? sys_a64
                             : s->td.arch == SVC_ARCH_RISCV ? sys_rv
                                                            : sys_x86;
    for (; *sys; sys++) {
      const svc_reg *r = svc__tdesc_find(&s->td, *sys);
      if (r && r->bits > 0 && r->bits <= 64 && !done[r - s->td.regs])
        want[nw++] = r;
    }
  } else {
    for (int i = 0; i < n && nw < MAX_P_ALL; i++)
      if (sorted[i]->bits > 0 && sorted[i]->bits <= 64)
        want[nw++] = sorted[i];
  }
  from_p(s, want, nw, &ro);
  svc__sb_puts(o, "}");
  free(sorted);
  free(want);
  free(done);
  return o->oom ? -1 : 0;
}
