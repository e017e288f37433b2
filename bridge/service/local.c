/* local.c - the `local` physical backend: guest RAM read straight out of
 * the QEMU process when the bridge runs beside it (it started QEMU with
 * --exec, or was given --qemu-pid PID).
 *
 * Once per target connection, on the first physical read: every RAM/ROM
 * region of QEMU's flat memory map (`info mtree -f`, already loaded for the
 * qemu backend), except RAM devices ("ramd": a device's MMIO mapped into
 * QEMU), is looked up with QEMU's own `gpa2hva`; a region of the flat map
 * is one slice of one RAM block, contiguous in QEMU's address space.  Then
 * 64 bytes are read both ways (process_vm_readv and RSP) and must agree.
 * From then on a physical read wholly inside such a region is one
 * process_vm_readv; anything else (MMIO, holes, writes) goes over RSP as
 * before.  The guest is stopped while a command runs, so what is read is
 * what the vCPUs would see.
 *
 * The kernel lets the bridge read QEMU's memory only under the ptrace
 * rules (same user, and with Yama's ptrace_scope 1 only a descendant, as
 * with --exec, or CAP_SYS_PTRACE): otherwise the backend stays off and the
 * log says why.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "svc_int.h"

typedef struct {
  uint64_t lo, hi; /* inclusive */
  uint64_t hva;
} local_region;

struct svc_local {
  int state;     /* 0: not set up for this connection, 1: on, -1: off */
  unsigned conn; /* s->seen_conn it was set up for */
  int busy;      /* setting up: reads go over RSP */
  local_region *r;
  int n, last;
  uint64_t reads, bytes;
};

static void local_off(svc *s, struct svc_local *l, const char *why) {
  l->state = -1;
  l->n = 0;
  svc__log(s, 0, "local backend off: %s; reads go over RSP", why);
}

/* "Host virtual address for 0x100000 (pc.ram) is 0x7f2a5c100000" */
static int gpa2hva(svc *s, uint64_t pa, uint64_t *hva) {
  char cmd[48];
  snprintf(cmd, sizeof(cmd), "gpa2hva 0x%llx", (unsigned long long)pa);
  svc_sb text;
  svc__sb_init(&text);
  int rc = svc__rcmd(s, cmd, 0, &text, NULL);
  const char *p = text.p ? strstr(text.p, ") is 0x") : NULL;
  char *end = NULL;
  if (!rc && p)
    *hva = strtoull(p + 7, &end, 16);
  int ok = !rc && p && end != p + 7;
  svc__sb_free(&text);
  return ok ? 0 : -1;
}

/* Whether [lo, hi] overlaps a RAM device ("ramd") of the flat map text. */
static int overlaps_ramd(const char *text, uint64_t lo, uint64_t hi) {
  for (const char *p = text; p && (p = strstr(p, ", ramd)")); p++) {
    const char *b = p;
    while (b > text && b[-1] != '\n')
      b--;
    unsigned long long a, z;
    if (sscanf(b, " %llx-%llx", &a, &z) == 2 && a <= hi && lo <= z)
      return 1;
  }
  return 0;
}

static const char *ptrace_hint(char *buf, size_t cap, int pid, int err) {
  char scope[16] = "?";
  FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "r");
  if (f) {
    if (!fgets(scope, sizeof(scope), f))
      strcpy(scope, "?");
    fclose(f);
    scope[strcspn(scope, "\n")] = 0;
  }
  if (err == ESRCH)
    snprintf(buf, cap, "no process %d", pid);
  else if (err == EFAULT)
    snprintf(buf, cap,
             "process %d has no memory where QEMU put guest RAM (is it this target's QEMU?)", pid);
  else
    snprintf(buf, cap,
             "may not read process %d's memory (%s): needs QEMU's user and ptrace permission "
             "(yama ptrace_scope=%s; 1 allows only a QEMU started with --exec)",
             pid, strerror(err), scope);
  return buf;
}

static void setup(svc *s, struct svc_local *l) {
  int pid = atomic_load(&s->qemu_pid);
  char why[400];
  l->busy = 1;
  l->conn = s->seen_conn;
  l->state = -1;
  l->n = l->last = 0;
  if (!s->ram_known || !s->nram) {
    local_off(s, l, "QEMU's memory map (info mtree -f) is unknown");
    goto out;
  }
  svc_sb mt;
  svc__sb_init(&mt);
  if (svc__rcmd(s, "info mtree -f", 0, &mt, NULL) || !mt.p) {
    svc__sb_free(&mt);
    local_off(s, l, "`info mtree -f` failed");
    goto out;
  }
  free(l->r);
  l->r = calloc((size_t)s->nram, sizeof(*l->r));
  if (!l->r) {
    svc__sb_free(&mt);
    local_off(s, l, "out of memory");
    goto out;
  }
  for (int i = 0; i < s->nram; i++) {
    const svc_region *g = &s->ram[i];
    uint64_t hva;
    if (g->kind != 'r' || overlaps_ramd(mt.p, g->lo, g->hi) || gpa2hva(s, g->lo, &hva))
      continue;
    l->r[l->n].lo = g->lo;
    l->r[l->n].hi = g->hi;
    l->r[l->n].hva = hva;
    l->n++;
  }
  svc__sb_free(&mt);
  if (!l->n) {
    local_off(s, l, "QEMU's gpa2hva gave no host address for any RAM region");
    goto out;
  }
  /* The same 64 bytes both ways, from the largest region. */
  int big = 0;
  for (int i = 1; i < l->n; i++)
    if (l->r[i].hi - l->r[i].lo > l->r[big].hi - l->r[big].lo)
      big = i;
  uint8_t mine[64], theirs[64];
  size_t len =
      l->r[big].hi - l->r[big].lo + 1 < 64 ? (size_t)(l->r[big].hi - l->r[big].lo + 1) : 64;
  struct iovec lv = {mine, len}, rv = {(void *)(uintptr_t)l->r[big].hva, len};
  if (process_vm_readv(pid, &lv, 1, &rv, 1, 0) != (ssize_t)len) {
    local_off(s, l, ptrace_hint(why, sizeof(why), pid, errno));
    goto out;
  }
  svc_prd rd = {l->r[big].lo, len, theirs, 0};
  if (svc__phys_read(s, &rd, 1) || rd.rc) {
    local_off(s, l, "the check read over RSP failed");
    goto out;
  }
  if (memcmp(mine, theirs, len)) {
    snprintf(why, sizeof(why), "process %d does not hold this target's RAM (is it its QEMU?)", pid);
    local_off(s, l, why);
    goto out;
  }
  l->state = 1;
  svc__log(s, 0, "local backend: guest RAM read from QEMU process %d (%d regions)", pid, l->n);
out:
  l->busy = 0;
}

int svc__local_try(svc *s, svc_prd *rd) {
  int pid = atomic_load(&s->qemu_pid);
  if (pid <= 0 || s->phys != SVC_PHYS_QEMU || !rd->len)
    return 0;
  struct svc_local *l = s->local;
  if (!l && !(l = s->local = calloc(1, sizeof(*l))))
    return 0;
  if (l->busy)
    return 0;
  if (!l->state || l->conn != s->seen_conn)
    setup(s, l);
  if (l->state != 1)
    return 0;
  uint64_t last = rd->pa + rd->len - 1;
  if (last < rd->pa)
    return 0;
  int k = l->last;
  if (!(l->r[k].lo <= rd->pa && last <= l->r[k].hi)) {
    for (k = 0; k < l->n; k++)
      if (l->r[k].lo <= rd->pa && last <= l->r[k].hi)
        break;
    if (k == l->n)
      return 0; /* not wholly in one RAM region: RSP decides */
    l->last = k;
  }
  struct iovec lv = {rd->buf, rd->len};
  struct iovec rv = {(void *)(uintptr_t)(l->r[k].hva + (rd->pa - l->r[k].lo)), rd->len};
  ssize_t got = process_vm_readv(pid, &lv, 1, &rv, 1, 0);
  if (got != (ssize_t)rd->len) {
    char why[400];
    local_off(s, l,
              got < 0 ? ptrace_hint(why, sizeof(why), pid, errno)
                      : "a short read from QEMU's memory");
    return 0;
  }
  l->reads++;
  l->bytes += rd->len;
  rd->rc = SVC_OK;
  return 1;
}

int svc__local_bulk(svc *s, uint64_t pa, uint8_t *buf, size_t len, size_t *got) {
  if (svc__is_uncached(s, pa, len))
    return 0; /* the user asked for exactly these accesses over RSP */
  svc_prd rd = {pa, len, buf, 0};
  int why;
  if (svc__ram_span(s, pa, len, &why) != len || !svc__local_try(s, &rd))
    return 0;
  *got = len;
  return 1;
}

void svc__local_free(svc *s) {
  if (s->local)
    free(s->local->r);
  free(s->local);
  s->local = NULL;
}
