/* discover.c - what the target is: target description (expat, following
 * xi:include through qXfer:features:read), the physical backend
 * (qqemu.Supported) and the physical memory map (`info mtree -f`). */
#define _POSIX_C_SOURCE 200809L
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsp.h"
#include "svc_int.h"

#define TDESC_MAX_BYTES (1u << 20)
#define TDESC_MAX_DEPTH 4
#define TDESC_MAX_DOCS  32

const svc_reg *svc__tdesc_find(const svc_tdesc *t, const char *name) {
  for (int i = 0; i < t->nregs; i++)
    if (!strcmp(t->regs[i].name, name))
      return &t->regs[i];
  return NULL;
}

void svc__tdesc_free(svc_tdesc *t) {
  free(t->regs);
  memset(t, 0, sizeof(*t));
}

static enum svc_tarch arch_of(const char *n) {
  if (!strcmp(n, "i386:x86-64"))
    return SVC_ARCH_X86_64;
  if (!strncmp(n, "i386", 4))
    return SVC_ARCH_X86;
  if (!strncmp(n, "aarch64", 7))
    return SVC_ARCH_AARCH64;
  if (!strncmp(n, "riscv", 5))
    return SVC_ARCH_RISCV;
  return SVC_ARCH_UNKNOWN;
}

/* Fetches one annex of qXfer:features:read into a malloc'ed buffer. */
typedef int (*fetch_fn)(void *arg, const char *annex, char **xml, size_t *len);

typedef struct {
  svc_tdesc *t;
  int next_num;
  int in_arch;
  svc_sb arch;
  fetch_fn fetch;
  void *farg;
  int depth;
  int err;
  XML_Parser parser;
} tparse;

static int parse_doc(tparse *tp, const char *xml, size_t len);

static const char *attr(const XML_Char **a, const char *name) {
  for (; a && a[0]; a += 2)
    if (!strcmp(a[0], name))
      return a[1];
  return NULL;
}

static void on_start(void *ud, const XML_Char *el, const XML_Char **a) {
  tparse *tp = ud;
  if (tp->err)
    return;
  if (!strcmp(el, "architecture")) {
    tp->in_arch = 1;
    tp->arch.len = 0;
    return;
  }
  if (!strcmp(el, "reg")) {
    const char *name = attr(a, "name"), *bits = attr(a, "bitsize"), *rn = attr(a, "regnum");
    if (!name || !bits) {
      tp->err = -1;
      return;
    }
    int num = tp->next_num;
    if (rn) {
      char *end;
      long v = strtol(rn, &end, 10);
      if (*end || v < 0 || v > 100000) {
        tp->err = -1;
        return;
      }
      num = (int)v;
    }
    tp->next_num = num + 1;
    svc_tdesc *t = tp->t;
    if (t->nregs == t->capregs) {
      if (t->capregs >= SVC_MAX_REGS) {
        tp->err = -1;
        return;
      }
      int cap = t->capregs ? t->capregs * 2 : 64;
      svc_reg *r = realloc(t->regs, (size_t)cap * sizeof(*r));
      if (!r) {
        tp->err = -1;
        return;
      }
      t->regs = r;
      t->capregs = cap;
    }
    svc_reg *r = &t->regs[t->nregs++];
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->num = num;
    r->bits = atoi(bits);
    return;
  }
  if (!strcmp(el, "xi:include") || !strcmp(el, "include")) {
    const char *href = attr(a, "href");
    if (!href || !tp->fetch || tp->depth >= TDESC_MAX_DEPTH || tp->t->docs >= TDESC_MAX_DOCS) {
      tp->err = -1;
      return;
    }
    char *sub = NULL;
    size_t sublen = 0;
    if (tp->fetch(tp->farg, href, &sub, &sublen)) {
      tp->err = -1;
      return;
    }
    tp->depth++;
    int rc = parse_doc(tp, sub, sublen);
    tp->depth--;
    free(sub);
    if (rc)
      tp->err = -1;
  }
}

static void on_end(void *ud, const XML_Char *el) {
  tparse *tp = ud;
  if (!strcmp(el, "architecture") && tp->in_arch) {
    tp->in_arch = 0;
    size_t n =
        tp->arch.len < sizeof(tp->t->arch_name) - 1 ? tp->arch.len : sizeof(tp->t->arch_name) - 1;
    if (tp->arch.p)
      memcpy(tp->t->arch_name, tp->arch.p, n);
    tp->t->arch_name[n] = 0;
    tp->t->arch = arch_of(tp->t->arch_name);
  }
}

static void on_text(void *ud, const XML_Char *s, int len) {
  tparse *tp = ud;
  if (tp->in_arch && tp->arch.len < 256) {
    for (int i = 0; i < len; i++)
      if (s[i] != ' ' && s[i] != '\n' && s[i] != '\r' && s[i] != '\t')
        svc__sb_add(&tp->arch, &s[i], 1);
  }
}

static int parse_doc(tparse *tp, const char *xml, size_t len) {
  XML_Parser p = XML_ParserCreate(NULL);
  if (!p)
    return -1;
  tp->t->docs++;
  XML_SetUserData(p, tp);
  XML_SetElementHandler(p, on_start, on_end);
  XML_SetCharacterDataHandler(p, on_text);
  /* External entities (the DTD) are never fetched: expat's default. */
  int ok = XML_Parse(p, xml, (int)len, 1) == XML_STATUS_OK;
  XML_ParserFree(p);
  return ok && !tp->err ? 0 : -1;
}

int svc__tdesc_parse(svc_tdesc *t, const char *xml, size_t len, fetch_fn fetch, void *arg) {
  tparse tp;
  memset(&tp, 0, sizeof(tp));
  tp.t = t;
  tp.fetch = fetch;
  tp.farg = arg;
  svc__sb_init(&tp.arch);
  int rc = parse_doc(&tp, xml, len);
  svc__sb_free(&tp.arch);
  t->loaded = rc == 0;
  return rc;
}

/* ------------------------------------------------------------------------ */

static int fetch_xfer(void *arg, const char *annex, char **xml, size_t *len) {
  svc *s = arg;
  svc_sb b;
  svc__sb_init(&b);
  if (strlen(annex) > 100 || strchr(annex, ':')) /* hostile href */
    return -1;
  for (uint64_t off = 0; b.len < TDESC_MAX_BYTES;) {
    char req[160];
    int n = snprintf(req, sizeof(req), "qXfer:features:read:%s:%llx,7f0", annex,
                     (unsigned long long)off);
    svc_req r = {req, (size_t)n};
    svc_rep rep = {0};
    if (svc__transact_copy(s, &r, 1, &rep)) {
      svc__sb_free(&b);
      return -1;
    }
    int more;
    const char *data;
    size_t dlen;
    int rc = rsp_parse_qxfer_reply(rep.body, rep.len, &more, &data, &dlen);
    if (rc < 0) {
      svc__reps_free(&rep, 1);
      svc__sb_free(&b);
      return -1;
    }
    svc__sb_add(&b, data, dlen);
    svc__reps_free(&rep, 1);
    off += dlen;
    if (!more)
      break;
    if (!dlen) {
      svc__sb_free(&b);
      return -1;
    }
  }
  if (b.oom || !b.p) {
    svc__sb_free(&b);
    return -1;
  }
  *xml = b.p;
  *len = b.len;
  return 0;
}

int svc__tdesc_load(svc *s, svc_tdesc *t) {
  char *xml;
  size_t len;
  svc__tdesc_free(t);
  if (fetch_xfer(s, "target.xml", &xml, &len))
    return -1;
  int rc = svc__tdesc_parse(t, xml, len, fetch_xfer, s);
  free(xml);
  if (rc)
    svc__log(s, 0, "target description unreadable; paging registers unknown");
  return rc;
}

/* ------------------------------------------------------------------------
 * `info mtree -f`: the flat view used by the CPU ("cpu-memory-0", else
 * "memory").  Lines look like
 *   0000000000100000-0000000007ffffff (prio 0, ram): pc.ram @0000000000100000
 */

static int add_region(svc_region **v, int *n, int *cap, uint64_t lo, uint64_t hi, char kind,
                      const char *name, size_t nlen) {
  if (*n == *cap) {
    if (*cap >= 4096)
      return -1;
    int c = *cap ? *cap * 2 : 16;
    svc_region *r = realloc(*v, (size_t)c * sizeof(*r));
    if (!r)
      return -1;
    *v = r;
    *cap = c;
  }
  svc_region *r = &(*v)[(*n)++];
  r->lo = lo;
  r->hi = hi;
  r->kind = kind;
  if (nlen >= sizeof(r->name))
    nlen = sizeof(r->name) - 1;
  memcpy(r->name, name, nlen);
  r->name[nlen] = 0;
  return 0;
}

int svc__ram_parse(const char *text, size_t len, svc_region **out, int *nout) {
  const char *p = text, *end = text + len;
  int in_view = 0, want = 0, best = 0; /* best: 2 cpu-memory-0, 1 memory */
  svc_region *cur = NULL, *keep = NULL;
  int ncur = 0, capcur = 0, nkeep = 0;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
      eol = end;
    size_t ll = (size_t)(eol - p);
    if (ll && p[ll - 1] == '\r')
      ll--;
    if (ll >= 8 && !memcmp(p, "FlatView", 8)) {
      in_view = 1;
      want = 0;
      ncur = 0;
    } else if (in_view && ll > 4 && !memcmp(p, " AS \"", 5)) {
      if (ll >= 19 && !memcmp(p + 5, "cpu-memory-0\"", 13))
        want = 2;
      else if (ll >= 12 && !memcmp(p + 5, "memory\"", 7) && want < 1)
        want = 1;
    } else if (in_view && want > best && ll > 40 && p[0] == ' ' && p[1] == ' ') {
      const char *q = p + 2, *le = p + ll;
      uint64_t lo, hi;
      if (rsp_parse_hex(&q, le, &lo) == 0 && q < le && *q == '-' && (q++, 1) &&
          rsp_parse_hex(&q, le, &hi) == 0 && hi >= lo) {
        const char *comma = memchr(q, ',', (size_t)(le - q));
        const char *colon = comma ? memchr(comma, ':', (size_t)(le - comma)) : NULL;
        if (comma && colon) {
          const char *ty = comma + 1;
          while (ty < colon && *ty == ' ')
            ty++;
          size_t tl = (size_t)(colon - ty);
          if (tl && ty[tl - 1] == ')')
            tl--;
          char kind = (tl >= 3 && (!memcmp(ty, "ram", 3) || !memcmp(ty, "rom", 3))) ? 'r' : 'i';
          const char *nm = colon + 1;
          while (nm < le && *nm == ' ')
            nm++;
          const char *ne = nm;
          while (ne < le && *ne != ' ')
            ne++;
          if (add_region(&cur, &ncur, &capcur, lo, hi, kind, nm, (size_t)(ne - nm))) {
            free(cur);
            free(keep);
            return -1;
          }
        }
      }
    } else if (ll == 0 && in_view) {
      if (want > best && ncur) {
        free(keep);
        keep = cur;
        nkeep = ncur;
        cur = NULL;
        capcur = 0;
        ncur = 0;
        best = want;
      }
      in_view = 0;
    }
    p = eol + 1;
  }
  if (in_view && want > best && ncur) {
    free(keep);
    keep = cur;
    nkeep = ncur;
    cur = NULL;
    best = want;
  }
  free(cur);
  if (!best) {
    free(keep);
    return -1;
  }
  *out = keep;
  *nout = nkeep;
  return 0;
}

const svc_region *svc__ram_find(const svc *s, uint64_t pa) {
  for (int i = 0; i < s->nram; i++)
    if (pa >= s->ram[i].lo && pa <= s->ram[i].hi)
      return &s->ram[i];
  return NULL;
}

/* Collects the console output of one qRcmd: 'O' packets then the final reply. */
typedef struct {
  svc_sb text;
  int final_ok;
  int relay; /* also send the text to the client */
  svc *s;
  svc_sb fin;
} rcmd_acc;

static int on_rcmd(void *arg, size_t i, const char *body, size_t len) {
  rcmd_acc *a = arg;
  (void)i;
  if (len >= 1 && body[0] == 'O' && !(len == 2 && body[1] == 'K')) {
    char buf[2048];
    size_t hl = len - 1;
    while (hl) {
      size_t take = hl > 2 * sizeof(buf) ? 2 * sizeof(buf) : hl & ~(size_t)1;
      if (!take)
        break;
      int n = rsp_hex_decode(buf, sizeof(buf), body + 1 + (len - 1 - hl), take);
      if (n < 0)
        break;
      svc__sb_add(&a->text, buf, (size_t)n);
      if (a->relay && a->s->io->output)
        a->s->io->output(a->s->ctx, buf, (size_t)n);
      hl -= take;
    }
    return 0;
  }
  /* The final reply: OK, or empty (no monitor), or Exx. */
  a->final_ok = len == 2 && body[0] == 'O' && body[1] == 'K';
  a->fin.len = 0;
  svc__sb_add(&a->fin, body, len < 64 ? len : 64);
  return 0;
}

/* Runs a monitor command of the target.  With relay, its output goes to the
 * client as it arrives; *final (if given) receives the final reply. */
int svc__rcmd(svc *s, const char *cmd, int relay, svc_sb *text, svc_sb *final);
int svc__rcmd(svc *s, const char *cmd, int relay, svc_sb *text, svc_sb *final) {
  size_t cl = strlen(cmd);
  char *req = malloc(cl * 2 + 16);
  if (!req)
    return SVC_ENOMEM;
  int n = rsp_format_qrcmd(req, cl * 2 + 16, cmd, cl);
  if (n < 0) {
    free(req);
    return SVC_EIO;
  }
  rcmd_acc a;
  memset(&a, 0, sizeof(a));
  a.relay = relay;
  a.s = s;
  svc__sb_init(&a.text);
  svc__sb_init(&a.fin);
  svc_req r = {req, (size_t)n};
  int rc = svc__transact(s, &r, 1, on_rcmd, &a);
  free(req);
  if (text) {
    svc__sb_free(text);
    *text = a.text;
  } else {
    svc__sb_free(&a.text);
  }
  if (final) {
    svc__sb_free(final);
    *final = a.fin;
  } else {
    svc__sb_free(&a.fin);
  }
  if (rc)
    return SVC_EIO;
  return a.final_ok ? 0 : SVC_ETARGET;
}

int svc__ram_load(svc *s) {
  svc_sb text;
  svc__sb_init(&text);
  int rc = svc__rcmd(s, "info mtree -f", 0, &text, NULL);
  if (rc == 0 && text.p) {
    free(s->ram);
    s->ram = NULL;
    s->nram = 0;
    if (svc__ram_parse(text.p, text.len, &s->ram, &s->nram) == 0)
      s->ram_known = 1;
  }
  svc__sb_free(&text);
  if (!s->ram_known)
    svc__log(s, 0, "physical memory map unknown: unassigned addresses read as zeros");
  return 0;
}

/* Learns everything once per connection: the target description (which also
 * unlocks p/P on QEMU), whether QEMU's physical mode exists, and the RAM map. */
int svc__discover(svc *s) {
  if (s->discovered)
    return 0;
  s->discovered = 1;
  svc__tdesc_load(s, &s->td);
  char buf[256];
  int n = svc__simple(s, "qqemu.Supported", buf, sizeof(buf));
  s->qemu_phys = n > 0 && strstr(buf, "PhyMemMode") != NULL;
  if (!s->phys_forced)
    s->phys = s->qemu_phys ? SVC_PHYS_QEMU : SVC_PHYS_NONE;
  /* The mode is global and survives reconnects: a stale one is put back to
   * the client's by svc__phys_end() (the mode is unknown until then), not
   * here, so that a mode the client chose stays. */
  if (s->phys == SVC_PHYS_QEMU)
    svc__ram_load(s);
  return 0;
}
