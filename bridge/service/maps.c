/* maps.c - the lines of `monitor maps`.
 *
 * A Linux kernel has tens of thousands of runs (its espfix area alone maps
 * one page at 65,536 places), so each line is formatted once, directly
 * into the output buffer, without printf.  By default repeated runs are
 * folded (arch/fold.h): one line says how many runs repeat which period at
 * which stride, enough to expand it to exactly what `maps --all` lists.
 *
 * Text, one run (as before folding existed):
 *   0x<va 16 digits>-0x<end 16 digits> <size %7s> <level %-5s> <page %5s>
 *   x<leaves %-6> <flags> -> 0x<pa>
 * Text, a fold: the same columns for the whole area (size end - va, leaves
 * of every run, level/page/flags '*' when the period mixes them, the PA of
 * its first run), then
 *   folded: N runs, period P, stride 0x<S>: +0x<off> <size> -> 0x<pa>, ...
 * one entry per run of the first period, offset from va, with
 * [<level> <page> <flags>] when they differ from the first run's.  Run i is
 * entry i % P moved up by (i / P) * S.
 * JSON, one run (nothing a reader can derive: no end, which is va + size):
 *   {"va","size","pa","page_size","level","flags","prot"}
 * prot is /proc/PID/maps' rwx plus u/k: 'r' ('-' only for a RISC-V leaf
 * without R), 'w' or '-', 'x' or '-' (execution at the page's own
 * privilege, svc__prot), 'u' or 'k'.  A run whose first or last leaf is only
 * partly inside the VA_LO/VA_HI bounds (arch_enumerate cuts the run there,
 * count still counts the leaf) has size != count * page_size: it carries
 * "count", the leaves it touches, after "page_size".  Every other run has
 * size / page_size leaves.
 * JSON, a fold: {"va","size","leaves","fold":{"count","period","stride"},
 * "runs":[the first period, as plain runs]}; the document states the rule
 * in "fold_rule".
 */
#define _POSIX_C_SOURCE 200809L
#include "maps.h"

#include <stdlib.h>
#include <string.h>

/* Flushed to the client past this much text. */
#define MAPS_CHUNK 0x8000u

static const char hexd[] = "0123456789abcdef";

static char *hex16(char *p, uint64_t v) {
  for (int i = 15; i >= 0; i--) {
    p[i] = hexd[v & 15];
    v >>= 4;
  }
  return p + 16;
}

static char *hex(char *p, uint64_t v) {
  char t[16];
  int n = 0;
  do {
    t[n++] = hexd[v & 15];
    v >>= 4;
  } while (v);
  while (n)
    *p++ = t[--n];
  return p;
}

static char *dec(char *p, uint64_t v) {
  char t[20];
  int n = 0;
  do {
    t[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n)
    *p++ = t[--n];
  return p;
}

/* 4096 -> "4K", 1536 -> "1536" (as commands.c's human()). */
static size_t human(uint64_t n, char *buf) {
  static const char u[] = "KMGTPE";
  char *p = buf;
  if (n && !(n & 1023)) {
    int k = -1;
    while (n && !(n & 1023) && k < 5) {
      n >>= 10;
      k++;
    }
    p = dec(p, n);
    *p++ = u[k];
  } else {
    p = dec(p, n);
  }
  return (size_t)(p - buf);
}

/* s padded to width: on the left (right-aligned) or on the right. */
static char *pad(char *p, const char *s, size_t n, size_t width, int right) {
  size_t fill = n < width ? width - n : 0;
  if (right) {
    memset(p, ' ', fill);
    p += fill;
  }
  memcpy(p, s, n);
  p += n;
  if (!right) {
    memset(p, ' ', fill);
    p += fill;
  }
  return p;
}

static char *json_str(char *p, const char *s) {
  *p++ = '"';
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      *p++ = '\\';
      *p++ = (char)c;
    } else if (c < 0x20 || c >= 0x7f) {
      memcpy(p, "\\u00", 4);
      p[4] = hexd[c >> 4];
      p[5] = hexd[c & 15];
      p += 6;
    } else {
      *p++ = (char)c;
    }
  }
  *p++ = '"';
  return p;
}

static const char *flags_of(svc_maps *m, uint32_t f, size_t *len) {
  if (!m->fl_valid || m->fl_key != f) {
    if (arch_flags_str(m->mode, f, ARCH_FMT_COMPACT, m->fl, sizeof(m->fl)) < 0) {
      char *p = m->fl;
      memcpy(p, "0x", 2);
      p = hex(p + 2, f);
      *p = 0;
    }
    m->fl_len = strlen(m->fl);
    m->fl_key = f;
    m->fl_valid = 1;
  }
  *len = m->fl_len;
  return m->fl;
}

static int line_done(svc_maps *m, char *end) {
  svc *s = m->s;
  s->out.len = (size_t)(end - s->out.p);
  s->out.p[s->out.len] = 0;
  m->entries++;
  if (s->out.len >= MAPS_CHUNK)
    svc__out_flush(s);
  return svc__stop_requested(s);
}

/* Room for one run's text or JSON: level names are cut at 32 characters,
 * flags strings are shorter than 64 (fl[]), numbers at most 20 digits. */
#define RUN_MAX 1024

#define PUT(p, lit) (memcpy((p), (lit), sizeof(lit) - 1), (p) += sizeof(lit) - 1)

/* The columns up to the PA, shared by runs and folds. */
static char *columns(char *p, uint64_t va, uint64_t end, const char *level, uint64_t page,
                     uint64_t leaves, const char *fl, size_t fl_len, uint64_t pa) {
  char b[24];
  *p++ = '0';
  *p++ = 'x';
  p = hex16(p, va);
  memcpy(p, "-0x", 3);
  p = hex16(p + 3, end);
  *p++ = ' ';
  p = pad(p, b, human(end - va, b), 7, 1);
  *p++ = ' ';
  size_t ln = strlen(level);
  if (ln > 32)
    ln = 32;
  p = pad(p, level, ln, 5, 0);
  *p++ = ' ';
  if (page)
    p = pad(p, b, human(page, b), 5, 1);
  else
    p = pad(p, "*", 1, 5, 1);
  *p++ = ' ';
  *p++ = 'x';
  char *q = dec(b, leaves);
  p = pad(p, b, (size_t)(q - b), 6, 0);
  *p++ = ' ';
  memcpy(p, fl, fl_len);
  p += fl_len;
  memcpy(p, " -> 0x", 6);
  return hex(p + 6, pa);
}

/* The opening of a JSON entry: {"va":"0x..","size":"0x.. */
static char *span_json(char *p, uint64_t va, uint64_t size) {
  PUT(p, "{\"va\":\"0x");
  p = hex(p, va);
  PUT(p, "\",\"size\":\"0x");
  return hex(p, size);
}

/* "rw-k": like /proc/PID/maps, and u (user) or k (kernel) for the
 * privilege.  Every leaf is readable on x86 and AArch64 (ARCH_F_READ is
 * always set there); RISC-V has its own R bit (execute-only pages).  x is
 * execution at the page's own privilege: AArch64 has a bit for each EL,
 * so a user page executes at EL0 unless UXN, a kernel page at EL1 unless
 * PXN (as lldb.c's permissions). */
char *svc__prot(arch_mode mode, uint32_t f, char *p) {
  int rv = mode >= ARCH_RISCV_SV32 && mode <= ARCH_RISCV_SV57;
  int nx = mode == ARCH_AARCH64 && !(f & ARCH_F_USER) ? f & ARCH_F_PXN : f & ARCH_F_NX;
  p[0] = !rv || (f & ARCH_F_READ) ? 'r' : '-';
  p[1] = f & ARCH_F_WRITE ? 'w' : '-';
  p[2] = nx ? '-' : 'x';
  p[3] = f & ARCH_F_USER ? 'u' : 'k';
  return p + 4;
}

/* A run whose first or last leaf sticks out of the VA_LO/VA_HI bounds
 * (arch_enumerate cuts the run, count still counts the leaf). */
static int clipped(const arch_run *r) {
  return !r->page_size || r->size / r->page_size != r->count || r->size % r->page_size;
}

static char *run_json(svc_maps *m, char *p, const arch_run *r) {
  size_t fl_len;
  const char *fl = flags_of(m, r->flags, &fl_len);
  p = span_json(p, r->va, r->size);
  PUT(p, "\",\"pa\":\"0x");
  p = hex(p, r->pa);
  PUT(p, "\",\"page_size\":\"0x");
  p = hex(p, r->page_size);
  *p++ = '"';
  if (clipped(r)) {
    PUT(p, ",\"count\":");
    p = dec(p, r->count);
  }
  PUT(p, ",\"level\":");
  char lv[33];
  size_t ln = r->level ? strlen(r->level) : 0;
  if (ln > 32)
    ln = 32;
  memcpy(lv, r->level ? r->level : "", ln);
  lv[ln] = 0;
  p = json_str(p, lv);
  PUT(p, ",\"flags\":");
  p = json_str(p, fl);
  PUT(p, ",\"prot\":\"");
  p = svc__prot(m->mode, r->flags, p);
  *p++ = '"';
  *p++ = '}';
  return p;
}

static int one_run(svc_maps *m, const arch_run *r) {
  svc *s = m->s;
  char *p = svc__sb_room(&s->out, RUN_MAX);
  if (!p)
    return 1;
  if (m->json) {
    if (m->entries) {
      *p++ = ',';
      *p++ = '\n';
    }
    p = run_json(m, p, r);
  } else {
    size_t fl_len;
    const char *fl = flags_of(m, r->flags, &fl_len);
    p = columns(p, r->va, r->va + r->size, r->level ? r->level : "", r->page_size, r->count, fl,
                fl_len, r->pa);
    *p++ = '\n';
  }
  return line_done(m, p);
}

static int one_fold(svc_maps *m, const arch_fold *f) {
  svc *s = m->s;
  const arch_run *r0 = &f->runs[0];
  char *p = svc__sb_room(&s->out, RUN_MAX * (f->period + 1));
  if (!p)
    return 1;
  m->folds++;
  if (m->json) {
    if (m->entries) {
      *p++ = ',';
      *p++ = '\n';
    }
    p = span_json(p, f->va, f->end - f->va);
    PUT(p, "\",\"leaves\":");
    p = dec(p, f->leaves);
    PUT(p, ",\"fold\":{\"count\":");
    p = dec(p, f->count);
    PUT(p, ",\"period\":");
    p = dec(p, f->period);
    PUT(p, ",\"stride\":\"0x");
    p = hex(p, f->stride);
    PUT(p, "\"},\"runs\":[");
    for (unsigned k = 0; k < f->period; k++) {
      if (k)
        *p++ = ',';
      p = run_json(m, p, &f->runs[k]);
    }
    *p++ = ']';
    *p++ = '}';
    return line_done(m, p);
  }
  int same_lv = 1, same_ps = 1, same_fl = 1;
  for (unsigned k = 1; k < f->period; k++) {
    const arch_run *r = &f->runs[k];
    same_lv &= r->level == r0->level || (r->level && r0->level && !strcmp(r->level, r0->level));
    same_ps &= r->page_size == r0->page_size;
    same_fl &= r->flags == r0->flags;
  }
  size_t fl_len = 1;
  const char *fl = same_fl ? flags_of(m, r0->flags, &fl_len) : "*";
  p = columns(p, f->va, f->end, same_lv ? (r0->level ? r0->level : "") : "*",
              same_ps ? r0->page_size : 0, f->leaves, fl, fl_len, r0->pa);
  PUT(p, "  folded: ");
  p = dec(p, f->count);
  PUT(p, " runs, period ");
  p = dec(p, f->period);
  PUT(p, ", stride 0x");
  p = hex(p, f->stride);
  *p++ = ':';
  for (unsigned k = 0; k < f->period; k++) {
    const arch_run *r = &f->runs[k];
    char b[24];
    if (k)
      *p++ = ',';
    PUT(p, " +0x");
    p = hex(p, r->va - f->va);
    *p++ = ' ';
    size_t n = human(r->size, b);
    memcpy(p, b, n);
    p += n;
    PUT(p, " -> 0x");
    p = hex(p, r->pa);
    int lv = r->level == r0->level || (r->level && r0->level && !strcmp(r->level, r0->level));
    if (!lv || r->page_size != r0->page_size || r->flags != r0->flags) {
      size_t rl;
      const char *rf = flags_of(m, r->flags, &rl);
      size_t ln = r->level ? strlen(r->level) : 0;
      *p++ = ' ';
      *p++ = '[';
      memcpy(p, r->level ? r->level : "", ln > 32 ? 32 : ln);
      p += ln > 32 ? 32 : ln;
      *p++ = ' ';
      n = human(r->page_size, b);
      memcpy(p, b, n);
      p += n;
      *p++ = ' ';
      memcpy(p, rf, rl);
      p += rl;
      *p++ = ']';
    }
  }
  *p++ = '\n';
  return line_done(m, p);
}

static int on_fold(void *arg, const arch_fold *f) {
  svc_maps *m = arg;
  m->runs += f->count;
  return f->count == 1 ? one_run(m, &f->runs[0]) : one_fold(m, f);
}

int svc__maps_init(svc_maps *m, svc *s, arch_mode mode, int json, int all) {
  memset(m, 0, sizeof(*m));
  m->s = s;
  m->mode = mode;
  m->json = json;
  m->all = all;
  if (!all) {
    m->folder = malloc(sizeof(*m->folder));
    if (!m->folder)
      return SVC_ENOMEM;
    arch_fold_init(m->folder, SVC_MAPS_FOLD_MIN, on_fold, m);
  }
  return 0;
}

int svc__maps_run(void *arg, const arch_run *run) {
  svc_maps *m = arg;
  if (m->folder)
    return arch_fold_push(m->folder, run);
  m->runs++;
  return one_run(m, run);
}

int svc__maps_finish(svc_maps *m) {
  return m->folder ? arch_fold_finish(m->folder) : 0;
}

void svc__maps_free(svc_maps *m) {
  free(m->folder);
  m->folder = NULL;
}
