/* commands.c - the monitor commands (`monitor vtop ...` arrives as qRcmd).
 *
 * Output is streamed to the client in chunks of about SVC_OUT_CHUNK bytes
 * ('O' packets, sent by the core), then one final reply: OK, or E01 after a
 * one-line error message.  Every query takes --json.  Numbers are hex, 0x
 * optional.  Unknown commands go to the target's own monitor.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rsp.h"
#include "maps.h"
#include "walk.h"

static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------------
 * Output. */

void svc__out_flush(svc *s) {
  if (s->out.len && !s->out_err && s->io->output) {
    if (s->io->output(s->ctx, s->out.p, s->out.len))
      s->out_err = 1;
    s->last_out = mono();
  }
  s->out.len = 0;
  if (s->out.p)
    s->out.p[0] = 0;
}

void svc__outf(svc *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  svc__sb_vprintf(&s->out, fmt, ap);
  va_end(ap);
  if (s->out.len >= SVC_OUT_CHUNK)
    svc__out_flush(s);
}

void svc__keepalive(svc *s, const char *fmt, ...) {
  double t = mono();
  if (t - s->last_out < s->keepalive_s || s->out_err || !s->io->output)
    return;
  if (s->out.len) {
    svc__out_flush(s);
    return;
  }
  if (s->json_mode) {
    svc__sb_add(&s->out, " ", 1);
  } else {
    va_list ap;
    va_start(ap, fmt);
    svc__sb_vprintf(&s->out, fmt, ap);
    va_end(ap);
  }
  svc__out_flush(s);
}

static void out_json_str(svc *s, const char *str) {
  svc__sb_json_str(&s->out, str, strlen(str));
}

static int stop_requested(svc *s) {
  return s->out_err || atomic_load(&s->intr) || (s->io->interrupted && s->io->interrupted(s->ctx));
}

typedef struct {
  svc *s;
  const char *name; /* command name for messages */
  int json;
  int has_root;
  uint64_t root;
  int width;
  int all; /* maps --all */
  int uw;  /* --u8/16/32/64: bytes */
  const char *uval;
  uint64_t max; /* --max */
  int has_max;
  const char *file; /* phys read --file NAME */
  const char *pos[SVC_MAX_TOK];
  int npos;
  int failed;
} cmd;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 0)))
#endif
static void
vfail(cmd *c, const char *open, const char *fmt, va_list ap) {
  char msg[1024];
  vsnprintf(msg, sizeof(msg), fmt, ap);
  if (c->json) {
    svc__outf(c->s, "%s\"error\":", open);
    out_json_str(c->s, msg);
    svc__outf(c->s, "}\n");
  } else {
    svc__outf(c->s, "%s: %s\n", c->name, msg);
  }
  c->failed = 1;
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
fail(cmd *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(c, "{", fmt, ap);
  va_end(ap);
}

/* The same, in a JSON document already open as {"key":[ ...: the error
 * closes it, so the output stays one document. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
fail_in_list(cmd *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(c, "],", fmt, ap);
  va_end(ap);
}

static int num(cmd *c, const char *tok, const char *what, uint64_t *v) {
  if (!tok) {
    fail(c, "missing %s", what);
    return -1;
  }
  if (svc__parse_num(tok, v)) {
    fail(c, "bad %s '%s' (hex number expected)", what, tok);
    return -1;
  }
  return 0;
}

static int extra(cmd *c, int max);

static const char *human(uint64_t n, char *buf, size_t cap) {
  static const char u[] = "KMGTPE";
  if (n && !(n & 1023)) {
    int k = -1;
    while (n && !(n & 1023) && k < 5) {
      n >>= 10;
      k++;
    }
    snprintf(buf, cap, "%llu%c", (unsigned long long)n, u[k]);
  } else {
    snprintf(buf, cap, "%llu", (unsigned long long)n);
  }
  return buf;
}

/* QEMU HMP commands --monitor read-only lets through (monitor_allowed). */
#define RO_MONITOR_LIST "info ..., gva2gpa, x, xp, help, ?"

/* ------------------------------------------------------------------------
 * Help. */

typedef struct {
  const char *name;
  const char *usage;
  const char *text;
} help_entry;

static const help_entry help_tab[] = {
    {"vtop", "vtop VA [--root PA] [--json]",
     "Translate VA to a physical address with the selected thread's page tables (or the\n"
     "table at --root): PA, page size, effective flags; or where the walk stopped.\n"
     "A valid leaf is always a translation; what backs the PA (RAM, a device, nothing:\n"
     "a hole of QEMU's memory map) is a note (--json: \"backed\": ram|io|none|unknown).\n"},
    {"pte", "pte VA [--root PA] [--json]",
     "Every level of the walk for VA, like !pte: name, index, entry PA, raw entry,\n"
     "next-table PA or page PFN, decoded flags.\n"},
    {"phys",
     "phys read PA LEN [--width 1|2|4|8 | --file NAME]\n"
     "     | write PA BYTES | write PA --u8|--u16|--u32|--u64 V\n"
     "     | fill PA LEN PATTERN | search PA LEN PATTERN [--max N]\n"
     "     | backend [auto|qemu|offset OFF|none]\n"
     "     | map   [--json]",
     "Physical memory: hex+ASCII dump (like !db/!dw/!dd/!dq), write, fill with a byte\n"
     "pattern, search for a byte pattern, choose the access backend, show the RAM map.\n"
     "BYTES and PATTERN are hex bytes (\"deadbeef\"); --uN values are little endian.\n"
     "BYTES: at most 512; PATTERN: at most 256.\n"
     "A write or fill stops at the end of RAM, writing what is before it.  search reads\n"
     "only RAM when the RAM map is known (qemu backend), hole skipped at once; without\n"
     "it (offset backend) LEN is at most 0x40000000.  search stops after N matches\n"
     "(--max, default 0x100) and names where the next one is.  ^C stops read, fill\n"
     "and search.  read --file NAME saves the raw bytes (LEN up to 64 GiB) in a new\n"
     "file NAME in the bridge's --save-dir, never overwriting one; a read that stops\n"
     "leaves no file.\n"},
    {"maps", "maps [VA_LO VA_HI] [--root PA] [--all] [--json]",
     "Coalesced mappings of the address space (ptdump): VA range, size, leaf level,\n"
     "flags and PA.  VA_HI is exclusive.  ^C stops it.  Runs repeating at a fixed\n"
     "stride (aliases like Linux's espfix area) are folded into one line giving the\n"
     "count, period and stride and the runs of one period; --all lists every run.\n"},
    {"ptov", "ptov PA [--root PA] [--json]",
     "Every virtual address that maps the physical page of PA (!ptov).\n"},
    {"context", "context [ROOT | default] [--json]",
     "Translate GDB's own memory packets through the page table at ROOT (like .process /p;\n"
     "on AArch64 ROOT replaces TTBR0); `context default` restores pass-through.\n"},
    {"cache", "cache [on|off|flush|stats] [--json]",
     "The memory cache: valid while the target is stopped, flushed on resume, step,\n"
     "register write, detach and reconnect; write-through.\n"},
    {"uncached", "uncached add LO HI | del LO HI | list [--json]",
     "Ranges [LO, HI) that are never cached nor read ahead (MMIO); they apply to\n"
     "virtual and physical addresses alike.\n"},
    {"arch", "arch [auto|MODE] [--json]",
     "Show the paging mode, or force one (x86-32 x86-pae x86-64 x86-64-la57 aarch64\n"
     "sv32 sv39 sv48 sv57); `arch auto` detects it from the control registers.\n"},
    {"session", "session [take] [--json]",
     "The RSP clients of the bridge (--sessions): id, role (controller or observer),\n"
     "ack mode, peer, pauses made for observers.  `session take`: an observer becomes\n"
     "the controller once none is in place.\n"},
    {"help", "help [COMMAND]", "This text.  Unknown commands go to the target's own monitor.\n"},
};

static void cmd_help(cmd *c) {
  const char *which = c->npos > 0 ? c->pos[0] : NULL;
  if (c->json) {
    /* One document: the commands (or the one asked), their usage and text. */
    int n = 0;
    svc__outf(c->s, "{\"commands\":[");
    for (size_t i = 0; i < sizeof(help_tab) / sizeof(help_tab[0]); i++) {
      if (which && strcmp(which, help_tab[i].name))
        continue;
      svc__outf(c->s, "%s{\"name\":", n++ ? "," : "");
      out_json_str(c->s, help_tab[i].name);
      svc__outf(c->s, ",\"usage\":");
      out_json_str(c->s, help_tab[i].usage);
      svc__outf(c->s, ",\"text\":");
      out_json_str(c->s, help_tab[i].text);
      svc__outf(c->s, "}");
    }
    if (which && !n) {
      fail_in_list(c, "no command '%s' (try `monitor help`)", which);
      return;
    }
    svc__outf(c->s, "],\"numbers\":\"hex\",\"line_max\":%d,\"monitor\":\"%s\"}\n", SVC_LINE_MAX,
              c->s->cfg.monitor_policy == SVC_MON_NONE        ? "none"
              : c->s->cfg.monitor_policy == SVC_MON_READ_ONLY ? "read-only"
                                                              : "all");
    return;
  }
  for (size_t i = 0; i < sizeof(help_tab) / sizeof(help_tab[0]); i++) {
    if (which && strcmp(which, help_tab[i].name))
      continue;
    if (which)
      svc__outf(c->s, "usage: %s\n%s", help_tab[i].usage, help_tab[i].text);
    else
      svc__outf(c->s, "  %s\n", help_tab[i].usage);
    if (which)
      return;
  }
  if (which) {
    fail(c, "no command '%s' (try `monitor help`)", which);
    return;
  }
  svc__outf(c->s,
            "Numbers are hex, 0x optional: `vtop 1000` is 0x1000; a word that is not a hex\n"
            "number, or one argument too many, is an error.  A command line is at most %d\n"
            "characters.  --json: one JSON document, OK also for errors ({\"error\": ...}).\n"
            "Other commands go to the target's monitor",
            SVC_LINE_MAX);
  if (c->s->cfg.monitor_policy == SVC_MON_NONE)
    svc__outf(c->s, " (refused here: --monitor none).\n");
  else if (c->s->cfg.monitor_policy == SVC_MON_READ_ONLY)
    svc__outf(c->s, " (here only " RO_MONITOR_LIST ": %s).\n",
              c->s->cfg.read_only ? "--read-only" : "--monitor read-only");
  else
    svc__outf(c->s, ".\n");
  svc__outf(c->s, "GDB helper script: source PREFIX/share/rspbridge/rspbridge.py (gdb/ in the\n"
                  "source tree) for vtop EXPR, pte EXPR, ptov EXPR, phys read EXPR LEN with GDB\n"
                  "expressions (`vtop $rsp`) and the functions $vtop(va) and $ptov(pa).\n");
}

/* ------------------------------------------------------------------------
 * Translation commands. */

static int get_ctx(cmd *c, uint64_t va, arch_ctx *ctx) {
  char err[200];
  int half = 0;
  if (c->has_root)
    half = (int)((va >> 55) & 1);
  if (svc__make_ctx(c->s, c->has_root, c->root, half, ctx, err, sizeof(err))) {
    fail(c, "%s", err);
    return -1;
  }
  return 0;
}

static void flags_str(arch_mode m, uint32_t f, int style, char *buf, size_t cap) {
  if (arch_flags_str(m, f, style, buf, cap) < 0)
    snprintf(buf, cap, "0x%x", f);
}

/* "PML4E[0x100] at 0x1a3f800 = 0x0 (not present)" */
static void stop_reason(const svc_walk *w, const arch_xlate *xl, char *buf, size_t cap) {
  const char *why = arch_stop_str(xl->stop);
  char extra[320] = "";
  const arch_level *last = xl->nlevels ? &xl->lv[xl->nlevels - 1] : NULL;
  if (xl->stop == ARCH_STOP_READ && w->err && last && w->err_pa == last->entry_pa)
    snprintf(extra, sizeof(extra), ": %s", svc__strerror(w->err));
  else if (xl->stop == ARCH_STOP_READ && w->err)
    snprintf(extra, sizeof(extra), ": %s at 0x%llx", svc__strerror(w->err),
             (unsigned long long)w->err_pa);
  else if ((xl->stop == ARCH_STOP_RESERVED || xl->stop == ARCH_STOP_ADDR_SIZE) && xl->bad_bits)
    snprintf(extra, sizeof(extra), ": bits 0x%llx", (unsigned long long)xl->bad_bits);
  if (xl->nlevels == 0) {
    if (xl->stop == ARCH_STOP_READ)
      snprintf(buf, cap, "cannot read the root table%s", extra);
    else
      snprintf(buf, cap, "%s", why);
    return;
  }
  const arch_level *l = &xl->lv[xl->nlevels - 1];
  if (xl->stop == ARCH_STOP_READ)
    snprintf(buf, cap, "%s[0x%x] at 0x%llx: %s%s", l->name, l->index,
             (unsigned long long)l->entry_pa, why, extra);
  else
    snprintf(buf, cap, "%s[0x%x] at 0x%llx = 0x%llx (%s%s)", l->name, l->index,
             (unsigned long long)l->entry_pa, (unsigned long long)l->raw, why, extra);
}

/* What backs a physical address, from QEMU's memory map: "ram", "io",
 * "none" (a hole: nothing answers there), or "unknown" (no map).  *name:
 * the region's name. */
static const char *backing(svc *s, uint64_t pa, const char **name) {
  *name = "";
  if (s->phys != SVC_PHYS_QEMU || !s->ram_known)
    return "unknown";
  const svc_region *r = svc__ram_find(s, pa);
  if (!r)
    return "none";
  *name = r->name;
  return r->kind == 'r' ? "ram" : "io";
}

/* The note after a translation in text mode ("" for RAM or no map). */
static void backing_note(svc *s, uint64_t pa, char *buf, size_t cap) {
  const char *name, *b = backing(s, pa, &name);
  if (!strcmp(b, "io"))
    snprintf(buf, cap, "  I/O: %s", name);
  else if (!strcmp(b, "none"))
    snprintf(buf, cap, "  note: nothing backs PA 0x%llx (a hole in QEMU's memory map)",
             (unsigned long long)pa);
  else
    buf[0] = 0;
}

static void cmd_vtop(cmd *c) {
  svc *s = c->s;
  uint64_t va;
  if (num(c, c->npos ? c->pos[0] : NULL, "VA", &va))
    return;
  arch_ctx ctx;
  if (get_ctx(c, va, &ctx))
    return;
  svc_walk w;
  svc__walk_init(&w, s);
  arch_xlate xl;
  memset(&xl, 0, sizeof(xl));
  int rc = ctx.mode == ARCH_MODE_NONE ? ARCH_ENOPAGING : arch_translate(&ctx, &w.mem, va, &xl);
  if (rc == ARCH_ENOPAGING) {
    const char *name, *b = backing(s, va, &name);
    char note[160];
    backing_note(s, va, note, sizeof(note));
    if (c->json)
      svc__outf(s,
                "{\"va\":\"0x%llx\",\"pa\":\"0x%llx\",\"mode\":\"none\",\"paging\":false,"
                "\"backed\":\"%s\"}\n",
                (unsigned long long)va, (unsigned long long)va, b);
    else
      svc__outf(s, "0x%llx -> 0x%llx (paging off)%s\n", (unsigned long long)va,
                (unsigned long long)va, note);
    return;
  }
  if (w.intr) {
    fail(c, "interrupted");
    return;
  }
  if (rc == ARCH_ENOTMAPPED) {
    /* An entry that could not be read says nothing about the mapping. */
    const char *what = xl.stop == ARCH_STOP_READ ? "not translated" : "not mapped";
    char why[512];
    stop_reason(&w, &xl, why, sizeof(why));
    if (c->json) {
      svc__outf(s, "{\"va\":\"0x%llx\",\"mapped\":%s,\"stop\":", (unsigned long long)va,
                xl.stop == ARCH_STOP_READ ? "null" : "false");
      out_json_str(s, arch_stop_str(xl.stop));
      svc__outf(s, ",\"error\":");
      char msg[640];
      snprintf(msg, sizeof(msg), "0x%llx %s: %s", (unsigned long long)va, what, why);
      out_json_str(s, msg);
      svc__outf(s, "}\n");
      c->failed = 1;
    } else {
      fail(c, "0x%llx %s: %s", (unsigned long long)va, what, why);
    }
    return;
  }
  if (rc) {
    fail(c, "%s", arch_strerror(rc));
    return;
  }
  /* A valid leaf is a translation, whatever backs the PA (a 4 KiB page
   * over a 1 KiB device, a hole): that is a note, never an error. */
  char fc[64], fl[256], sz[24], note[160];
  flags_str(ctx.mode, xl.flags, ARCH_FMT_COMPACT, fc, sizeof(fc));
  flags_str(ctx.mode, xl.flags, ARCH_FMT_LONG, fl, sizeof(fl));
  const char *lvl = xl.nlevels ? xl.lv[xl.nlevels - 1].name : "";
  const char *rname, *b = backing(s, xl.pa, &rname);
  backing_note(s, xl.pa, note, sizeof(note));
  if (c->json) {
    svc__outf(s,
              "{\"va\":\"0x%llx\",\"mapped\":true,\"pa\":\"0x%llx\",\"page_pa\":\"0x%llx\","
              "\"page_size\":\"0x%llx\",\"level\":",
              (unsigned long long)va, (unsigned long long)xl.pa, (unsigned long long)xl.page_pa,
              (unsigned long long)xl.page_size);
    out_json_str(s, lvl);
    svc__outf(s, ",\"mode\":");
    out_json_str(s, arch_mode_name(ctx.mode));
    svc__outf(s, ",\"flags\":");
    out_json_str(s, fc);
    svc__outf(s, ",\"flags_long\":");
    out_json_str(s, fl);
    char pr[5];
    *svc__prot(ctx.mode, xl.flags, pr) = 0;
    svc__outf(s,
              ",\"prot\":\"%s\",\"write\":%s,\"user\":%s,\"exec\":%s,\"levels\":%u,\"mmio\":%s,"
              "\"backed\":\"%s\",\"region\":",
              pr, xl.flags & ARCH_F_WRITE ? "true" : "false",
              xl.flags & ARCH_F_USER ? "true" : "false", pr[2] == 'x' ? "true" : "false",
              xl.nlevels, !strcmp(b, "io") ? "true" : "false", b);
    out_json_str(s, rname);
    svc__outf(s, "}\n");
    return;
  }
  svc__outf(s, "0x%llx -> 0x%llx  %s page at 0x%llx (%s)  %s  [%s]%s\n", (unsigned long long)va,
            (unsigned long long)xl.pa, human(xl.page_size, sz, sizeof(sz)),
            (unsigned long long)xl.page_pa, lvl, fc, fl, note);
}

static void cmd_pte(cmd *c) {
  svc *s = c->s;
  uint64_t va;
  if (num(c, c->npos ? c->pos[0] : NULL, "VA", &va))
    return;
  arch_ctx ctx;
  if (get_ctx(c, va, &ctx))
    return;
  if (ctx.mode == ARCH_MODE_NONE) {
    fail(c, "paging is off: 0x%llx is a physical address", (unsigned long long)va);
    return;
  }
  svc_walk w;
  svc__walk_init(&w, s);
  arch_xlate xl;
  memset(&xl, 0, sizeof(xl));
  int rc = arch_translate(&ctx, &w.mem, va, &xl);
  if (w.intr) {
    fail(c, "interrupted");
    return;
  }
  if (rc && rc != ARCH_ENOTMAPPED) {
    fail(c, "%s", arch_strerror(rc));
    return;
  }
  if (rc && xl.nlevels == 0) {
    /* Nothing to show: the walk did not even reach a table entry. */
    char why[512];
    stop_reason(&w, &xl, why, sizeof(why));
    fail(c, "0x%llx: %s", (unsigned long long)va, why);
    return;
  }
  char cs[160];
  if (arch_ctx_str(&ctx, cs, sizeof(cs)) < 0)
    snprintf(cs, sizeof(cs), "%s", arch_mode_name(ctx.mode));
  char why[512] = "";
  if (rc)
    stop_reason(&w, &xl, why, sizeof(why));
  /* Only the levels really read are shown; an entry that could not be read
   * ends the command with an error naming it. */
  int unread = rc && xl.stop == ARCH_STOP_READ;
  unsigned shown = unread ? xl.nlevels - 1 : xl.nlevels;
  if (unread && shown == 0) {
    fail(c, "0x%llx not translated: %s", (unsigned long long)va, why);
    return;
  }
  if (c->json) {
    svc__outf(s, "{\"va\":\"0x%llx\",\"mode\":", (unsigned long long)va);
    out_json_str(s, arch_mode_name(ctx.mode));
    svc__outf(s, ",\"context\":");
    out_json_str(s, cs);
    svc__outf(s, ",\"levels\":[");
    for (unsigned i = 0; i < shown; i++) {
      const arch_level *l = &xl.lv[i];
      char fc[64], fl[256];
      flags_str(ctx.mode, l->flags, ARCH_FMT_COMPACT, fc, sizeof(fc));
      flags_str(ctx.mode, l->flags, ARCH_FMT_LONG, fl, sizeof(fl));
      svc__outf(s, "%s{\"name\":", i ? "," : "");
      out_json_str(s, l->name);
      svc__outf(s,
                ",\"index\":%u,\"table_pa\":\"0x%llx\",\"entry_pa\":\"0x%llx\",\"raw\":\"0x%llx\","
                "\"next_pa\":\"0x%llx\",\"size\":\"0x%llx\",\"leaf\":%s,\"flags\":",
                l->index, (unsigned long long)l->table_pa, (unsigned long long)l->entry_pa,
                (unsigned long long)l->raw, (unsigned long long)l->next_pa,
                (unsigned long long)l->size, l->leaf ? "true" : "false");
      out_json_str(s, fc);
      svc__outf(s, ",\"flags_long\":");
      out_json_str(s, fl);
      svc__outf(s, "}");
    }
    svc__outf(s, "],\"mapped\":%s", unread ? "null" : rc ? "false" : "true");
    if (!rc)
      svc__outf(s, ",\"pa\":\"0x%llx\",\"page_size\":\"0x%llx\"", (unsigned long long)xl.pa,
                (unsigned long long)xl.page_size);
    else {
      svc__outf(s, ",\"stop\":");
      out_json_str(s, arch_stop_str(xl.stop));
      svc__outf(s, ",\"reason\":");
      out_json_str(s, why);
    }
    svc__outf(s, "}\n");
    if (unread)
      c->failed = 1;
    return;
  }
  svc__outf(s, "VA 0x%llx  %s\n", (unsigned long long)va, cs);
  svc__outf(s, "%-6s %-6s %-18s %-18s %-22s %s\n", "level", "index", "entry at", "contains",
            "next table / page", "flags");
  for (unsigned i = 0; i < shown; i++) {
    const arch_level *l = &xl.lv[i];
    char fc[64], nx[40], ea[24], raw[24], idx[12];
    flags_str(ctx.mode, l->flags, ARCH_FMT_COMPACT, fc, sizeof(fc));
    if (!(l->flags & ARCH_F_VALID))
      snprintf(nx, sizeof(nx), "-");
    else if (l->leaf)
      snprintf(nx, sizeof(nx), "pfn 0x%llx", (unsigned long long)(l->next_pa >> 12));
    else
      snprintf(nx, sizeof(nx), "0x%llx", (unsigned long long)l->next_pa);
    snprintf(ea, sizeof(ea), "0x%llx", (unsigned long long)l->entry_pa);
    snprintf(raw, sizeof(raw), "0x%llx", (unsigned long long)l->raw);
    snprintf(idx, sizeof(idx), "0x%x", l->index);
    svc__outf(s, "%-6s %-6s %-18s %-18s %-22s %s\n", l->name, idx, ea, raw, nx, fc);
  }
  if (unread) {
    fail(c, "0x%llx not translated: %s", (unsigned long long)va, why);
  } else if (rc) {
    svc__outf(s, "not mapped: %s\n", why);
  } else {
    char sz[24];
    svc__outf(s, "-> 0x%llx (%s page at 0x%llx)\n", (unsigned long long)xl.pa,
              human(xl.page_size, sz, sizeof(sz)), (unsigned long long)xl.page_pa);
  }
}

static void cmd_maps(cmd *c) {
  svc *s = c->s;
  uint64_t lo = 0, hi = ~0ull;
  if (c->npos >= 1 && num(c, c->pos[0], "VA_LO", &lo))
    return;
  if (c->npos >= 2) {
    if (num(c, c->pos[1], "VA_HI", &hi))
      return;
    if (hi <= lo) {
      fail(c, "empty range 0x%llx-0x%llx", (unsigned long long)lo, (unsigned long long)hi);
      return;
    }
    hi--;
  }
  arch_ctx ctx;
  if (get_ctx(c, lo, &ctx))
    return;
  if (ctx.mode == ARCH_MODE_NONE) {
    fail(c, "paging is off: every address is physical");
    return;
  }
  size_t wl = arch_work_size(&ctx);
  if (wl < ARCH_WORK_MIN || wl > ARCH_WORK_MAX)
    wl = ARCH_WORK_MAX;
  void *work = malloc(wl);
  if (!work) {
    fail(c, "out of memory");
    return;
  }
  svc_walk w;
  svc__walk_init(&w, s);
  svc_maps rc;
  if (svc__maps_init(&rc, s, ctx.mode, c->json, c->all)) {
    free(work);
    fail(c, "out of memory");
    return;
  }
  arch_walk_stats st;
  memset(&st, 0, sizeof(st));
  svc__prewalk(s, &ctx, lo, hi, work, wl);
  if (c->json)
    svc__outf(s, "{\"runs\":[\n");
  int r = arch_enumerate(&ctx, &w.mem, lo, hi, work, wl, svc__maps_run, &rc, &st);
  if (!r && svc__maps_finish(&rc))
    r = ARCH_ECANCELED;
  svc__maps_free(&rc);
  free(work);
  int intr = r == ARCH_ECANCELED || w.intr;
  if (r && r != ARCH_ECANCELED) {
    fail_in_list(c, "%s", arch_strerror(r));
    return;
  }
  if (!intr && st.read_errors && st.read_errors == st.tables) {
    fail_in_list(c, "cannot read the page tables at 0x%llx: %s",
                 (unsigned long long)st.first_error_pa, svc__strerror(w.err));
    return;
  }
  if (c->json) {
    svc__outf(s,
              "],\"runs_count\":%llu,\"entries\":%llu,\"folds\":%llu,\"fold_rule\":\"%s\","
              "\"tables\":%llu,\"leaves\":%llu,\"faults\":%llu,"
              "\"read_errors\":%llu,\"interrupted\":%s}\n",
              (unsigned long long)rc.runs, (unsigned long long)rc.entries,
              (unsigned long long)rc.folds, SVC_MAPS_FOLD_RULE, (unsigned long long)st.tables,
              (unsigned long long)st.leaves, (unsigned long long)st.faults,
              (unsigned long long)st.read_errors, intr ? "true" : "false");
  } else {
    svc__outf(s, "%llu runs, %llu leaves, %llu tables", (unsigned long long)rc.runs,
              (unsigned long long)st.leaves, (unsigned long long)st.tables);
    if (rc.folds)
      svc__outf(s, ", %llu of them folded into %llu lines (--all lists every run)",
                (unsigned long long)(rc.runs - rc.entries + rc.folds),
                (unsigned long long)rc.folds);
    if (st.faults)
      svc__outf(s, ", %llu bad entries skipped", (unsigned long long)st.faults);
    if (st.read_errors)
      svc__outf(s, ", %llu unreadable tables (first at 0x%llx)", (unsigned long long)st.read_errors,
                (unsigned long long)st.first_error_pa);
    svc__outf(s, "%s\n", intr ? " (interrupted)" : "");
  }
}

typedef struct {
  cmd *c;
  arch_mode mode;
  uint64_t n;
} ptov_ctx;

static int on_ptov(void *arg, uint64_t va, const arch_run *r) {
  ptov_ctx *p = arg;
  svc *s = p->c->s;
  char fc[64], ps[24];
  flags_str(p->mode, r->flags, ARCH_FMT_COMPACT, fc, sizeof(fc));
  if (p->c->json) {
    svc__outf(s, "%s{\"va\":\"0x%llx\",\"level\":", p->n ? "," : "", (unsigned long long)va);
    out_json_str(s, r->level ? r->level : "");
    svc__outf(s, ",\"page_size\":\"0x%llx\",\"flags\":", (unsigned long long)r->page_size);
    out_json_str(s, fc);
    svc__outf(s, "}");
  } else {
    svc__outf(s, "0x%llx  (%s, %s page)  %s\n", (unsigned long long)va, r->level ? r->level : "",
              human(r->page_size, ps, sizeof(ps)), fc);
  }
  p->n++;
  return stop_requested(s);
}

static void cmd_ptov(cmd *c) {
  svc *s = c->s;
  uint64_t pa;
  if (num(c, c->npos ? c->pos[0] : NULL, "PA", &pa))
    return;
  arch_ctx ctx;
  if (get_ctx(c, 0, &ctx))
    return;
  if (ctx.mode == ARCH_MODE_NONE) {
    fail(c, "paging is off: 0x%llx is mapped at the same address", (unsigned long long)pa);
    return;
  }
  size_t wl = arch_work_size(&ctx);
  if (wl < ARCH_WORK_MIN || wl > ARCH_WORK_MAX)
    wl = ARCH_WORK_MAX;
  void *work = malloc(wl);
  if (!work) {
    fail(c, "out of memory");
    return;
  }
  svc_walk w;
  svc__walk_init(&w, s);
  ptov_ctx p = {c, ctx.mode, 0};
  svc__prewalk(s, &ctx, 0, ~0ull, work, wl);
  if (c->json)
    svc__outf(s, "{\"pa\":\"0x%llx\",\"vas\":[", (unsigned long long)pa);
  arch_walk_stats st;
  memset(&st, 0, sizeof(st));
  int r = arch_ptov(&ctx, &w.mem, pa, work, wl, on_ptov, &p, &st);
  free(work);
  if (r != ARCH_ECANCELED && st.read_errors && st.read_errors == st.tables) {
    fail_in_list(c, "cannot read the page tables at 0x%llx: %s",
                 (unsigned long long)st.first_error_pa, svc__strerror(w.err));
    return;
  }
  if (c->json) {
    svc__outf(s, "],\"count\":%llu,\"interrupted\":%s}\n", (unsigned long long)p.n,
              r == ARCH_ECANCELED ? "true" : "false");
  } else if (r < 0 && r != ARCH_ECANCELED) {
    fail(c, "%s", arch_strerror(r));
  } else {
    svc__outf(s, "%llu virtual address%s map%s 0x%llx%s", (unsigned long long)p.n,
              p.n == 1 ? "" : "es", p.n == 1 ? "s" : "", (unsigned long long)pa,
              r == ARCH_ECANCELED ? " (interrupted)" : "");
    if (st.read_errors)
      svc__outf(s, "; %llu of %llu tables could not be read (first at 0x%llx: %s)",
                (unsigned long long)st.read_errors, (unsigned long long)st.tables,
                (unsigned long long)st.first_error_pa, svc__strerror(w.err));
    svc__outf(s, "\n");
  }
}

/* ------------------------------------------------------------------------
 * Physical memory. */

#define PHYS_CHUNK            0x40000u
#define PHYS_MAX_READ         (64u << 20)
/* phys read --file: streamed to the file, bounded only against typos. */
#define PHYS_MAX_SAVE         (64ull << 30)
/* phys search without a RAM map (offset backend, qemu without `info mtree`):
 * nothing says where RAM ends, so the length is capped. */
#define PHYS_MAX_SEARCH_NOMAP 0x40000000ull
/* phys write BYTES; a monitor line holds 1023 characters, so about 500 fit. */
#define PHYS_MAX_BYTES        512
/* fill and search PATTERN. */
#define PHYS_MAX_PATTERN      256
/* phys search stops after this many matches unless --max says otherwise. */
#define PHYS_SEARCH_MAX       0x100

/* The RAM map bounds physical accesses (what physical.c's ram_check
 * enforces): the qemu backend, with a map or on x86 (no RAM above 4 GiB). */
static int ram_bounded(const svc *s) {
  return s->phys == SVC_PHYS_QEMU && (s->ram_known || s->td.arch == SVC_ARCH_X86);
}

/* The first RAM address in [a, last] (ram_bounded): 1 and *next, or 0. */
static int ram_next(const svc *s, uint64_t a, uint64_t last, uint64_t *next) {
  int found = 0;
  for (int i = 0; s->ram_known && i < s->nram; i++) {
    const svc_region *r = &s->ram[i];
    uint64_t lo = r->lo > a ? r->lo : a;
    if (r->kind == 'r' && r->hi >= a && lo <= last && (!found || lo < *next)) {
      *next = lo;
      found = 1;
    }
  }
  if (found && s->td.arch == SVC_ARCH_X86 && *next >> 32)
    found = 0;
  return found;
}

/* An argument echoed in a message: at most 40 characters, then "...". */
static const char *cut(const char *tok, char *buf, size_t cap) {
  if (strlen(tok) <= 40 || cap < 45)
    return tok;
  snprintf(buf, cap, "%.40s...", tok);
  return buf;
}

/* "00".."ff": two digits per byte with one load. */
#define HX16(c) \
  c "0" c "1" c "2" c "3" c "4" c "5" c "6" c "7" c "8" c "9" c "a" c "b" c "c" c "d" c "e" c "f"
static const char hx2[513] = HX16("0") HX16("1") HX16("2") HX16("3") HX16("4") HX16("5") HX16("6")
    HX16("7") HX16("8") HX16("9") HX16("a") HX16("b") HX16("c") HX16("d") HX16("e") HX16("f");
#undef HX16

/* Bulk output (a dump, --json data) is flushed in chunks this large: one
 * O packet each (the core sends up to 64 KiB of text per packet), instead
 * of one hand-over to the loop thread per SVC_OUT_CHUNK. */
#define PHYS_OUT_CHUNK 0xf000u

static char *hex_bytes(char *o, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++, o += 2)
    memcpy(o, hx2 + 2 * p[i], 2);
  return o;
}

/* One line of a dump, formatted straight into the output buffer without
 * printf (64 MiB are four million lines):
 *   <PA, 16 digits>  00 11 22 33 44 55 66 77  88 ... ff  <16 characters>
 * with --width 2/4/8 the words little endian, most significant byte
 * first; the bytes of a last word past the end of the range show as ??
 * ("??434241"), missing words as blanks. */
static void dump_line(svc *s, uint64_t a, const uint8_t *p, size_t n, int width) {
  char *line = svc__sb_room(&s->out, 96);
  if (!line)
    return;
  char *o = line;
  for (int d = 56; d >= 0; d -= 8, o += 2)
    memcpy(o, hx2 + 2 * ((a >> d) & 0xff), 2);
  *o++ = ' ';
  if (width == 1 && n == 16) { /* the common line */
    for (size_t i = 0; i < 16; i++) {
      o[0] = ' ';
      memcpy(o + 1, hx2 + 2 * p[i], 2);
      o += 3;
      if (i == 7)
        *o++ = ' ';
    }
  } else {
    for (size_t i = 0; i < 16; i += (size_t)width) {
      *o++ = ' ';
      for (int b = width - 1; b >= 0; b--, o += 2) {
        size_t at = i + (size_t)b;
        if (i >= n)
          memcpy(o, "  ", 2);
        else if (at < n)
          memcpy(o, hx2 + 2 * p[at], 2);
        else
          memcpy(o, "??", 2);
      }
      if (width == 1 && i == 7)
        *o++ = ' ';
    }
  }
  *o++ = ' ';
  *o++ = ' ';
  for (size_t i = 0; i < n; i++)
    *o++ = (unsigned)(p[i] - 0x20) < 0x5f ? (char)p[i] : '.';
  *o++ = '\n';
  s->out.len += (size_t)(o - line);
  s->out.p[s->out.len] = 0;
  if (s->out.len >= PHYS_OUT_CHUNK)
    svc__out_flush(s);
}

/* Creates NAME in --save-dir for writing: a plain name (no '/', not . or
 * ..), never an existing file, never through a symlink.  The fd, or -1 after
 * the error. */
static int save_open(cmd *c, const char *name) {
  const char *dir = c->s->cfg.save_dir;
  char cb[48];
  if (!dir) {
    fail(c, "--file: the bridge saves files only in the directory given with --save-dir DIR "
            "(not given)");
    return -1;
  }
  size_t n = strlen(name);
  if (!n || n > 255 || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
    fail(c, "--file '%s': a file name in %s expected (no '/')", cut(name, cb, sizeof(cb)), dir);
    return -1;
  }
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int fd =
      dfd < 0 ? -1 : openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  int err = errno;
  if (dfd >= 0)
    close(dfd);
  if (fd < 0)
    fail(c, "%s/%s: %s%s", dir, cut(name, cb, sizeof(cb)), strerror(err),
         err == EEXIST ? " (files are never overwritten)" : "");
  return fd;
}

static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return -1;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

/* phys read PA LEN --file NAME: the raw bytes into a new file in
 * --save-dir, with one line of output.  A read or write that stops removes
 * the file: a file that exists holds all LEN bytes. */
static void phys_save(cmd *c, uint64_t pa, uint64_t len) {
  svc *s = c->s;
  const char *dir = s->cfg.save_dir;
  int fd = save_open(c, c->file);
  if (fd < 0)
    return;
  uint8_t *buf = malloc(PHYS_CHUNK);
  uint64_t done = 0;
  int rc = buf ? 0 : SVC_ENOMEM, werr = 0;
  s->bulk = len > (uint64_t)s->cache.max * SVC_CPAGE / 4;
  while (!rc && done < len) {
    svc__keepalive(s, "phys read: 0x%llx of 0x%llx bytes saved\n", (unsigned long long)done,
                   (unsigned long long)len);
    size_t n = len - done > PHYS_CHUNK ? PHYS_CHUNK : (size_t)(len - done), got = 0;
    rc = svc__phys_read_cached(s, pa + done, buf, n, &got);
    if (write_all(fd, buf, got)) {
      werr = errno;
      break;
    }
    done += got;
    if (!rc && stop_requested(s))
      rc = SVC_EINTR;
  }
  free(buf);
  if (!werr && close(fd))
    werr = errno;
  else if (werr)
    close(fd);
  char cb[48];
  const char *name = cut(c->file, cb, sizeof(cb));
  if (rc || werr) {
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      unlinkat(dfd, c->file, 0);
      close(dfd);
    }
    fail(c, "%s/%s not saved (removed): %s at 0x%llx", dir, name,
         werr ? strerror(werr) : svc__strerror(rc), (unsigned long long)(pa + done));
    return;
  }
  if (c->json) {
    svc__outf(s, "{\"pa\":\"0x%llx\",\"len\":\"0x%llx\",\"file\":", (unsigned long long)pa,
              (unsigned long long)len);
    svc_sb path;
    svc__sb_init(&path);
    svc__sb_printf(&path, "%s/%s", dir, c->file);
    out_json_str(s, path.p ? path.p : "");
    svc__sb_free(&path);
    svc__outf(s, "}\n");
  } else {
    svc__outf(s, "0x%llx bytes of PA 0x%llx saved in %s/%s\n", (unsigned long long)len,
              (unsigned long long)pa, dir, name);
  }
}

static void phys_read(cmd *c) {
  svc *s = c->s;
  uint64_t pa, len;
  if (num(c, c->npos > 1 ? c->pos[1] : NULL, "PA", &pa) ||
      num(c, c->npos > 2 ? c->pos[2] : NULL, "LEN", &len))
    return;
  if (c->file) {
    if (c->width)
      fail(c, "--width does not apply with --file (the file holds the raw bytes)");
    else if (!len || len > PHYS_MAX_SAVE || pa + len - 1 < pa)
      fail(c, "LEN 0x%llx out of range (1..0x%llx, no wrap around)", (unsigned long long)len,
           (unsigned long long)PHYS_MAX_SAVE);
    else
      phys_save(c, pa, len);
    return;
  }
  int width = c->width ? c->width : 1;
  if (width != 1 && width != 2 && width != 4 && width != 8) {
    fail(c, "bad --width %d (1, 2, 4 or 8)", width);
    return;
  }
  if (!len || len > PHYS_MAX_READ) {
    fail(c, "LEN 0x%llx out of range (1..0x%x)", (unsigned long long)len, PHYS_MAX_READ);
    return;
  }
  if (pa + len < pa) {
    fail(c, "range wraps around");
    return;
  }
  uint8_t *buf = malloc(PHYS_CHUNK);
  if (!buf) {
    fail(c, "out of memory");
    return;
  }
  /* A dump larger than a quarter of the cache would only evict the tables. */
  s->bulk = len > (uint64_t)s->cache.max * SVC_CPAGE / 4;
  if (c->json)
    svc__outf(s, "{\"pa\":\"0x%llx\",\"data\":\"", (unsigned long long)pa);
  uint64_t done = 0;
  int rc = 0;
  while (done < len) {
    size_t n = len - done > PHYS_CHUNK ? PHYS_CHUNK : (size_t)(len - done);
    size_t got = 0;
    rc = svc__phys_read_cached(s, pa + done, buf, n, &got);
    if (c->json) {
      /* The hex digits straight into the output, a chunk at a time. */
      for (size_t i = 0; i < got;) {
        size_t m = got - i > PHYS_OUT_CHUNK / 2 ? PHYS_OUT_CHUNK / 2 : got - i;
        char *o = svc__sb_room(&s->out, 2 * m);
        if (!o)
          break;
        s->out.len = (size_t)(hex_bytes(o, buf + i, m) - s->out.p);
        s->out.p[s->out.len] = 0;
        if (s->out.len >= PHYS_OUT_CHUNK)
          svc__out_flush(s);
        i += m;
      }
    } else {
      for (size_t i = 0; i < got; i += 16)
        dump_line(s, pa + done + i, buf + i, got - i > 16 ? 16 : got - i, width);
    }
    done += got;
    if (rc)
      break;
    if (stop_requested(s)) {
      rc = SVC_EINTR;
      break;
    }
  }
  free(buf);
  if (c->json) {
    svc__outf(s, "\",\"len\":\"0x%llx\"", (unsigned long long)done);
    if (rc) {
      char msg[200];
      snprintf(msg, sizeof(msg), "stopped at 0x%llx: %s", (unsigned long long)(pa + done),
               svc__strerror(rc));
      svc__outf(s, ",\"error\":");
      out_json_str(s, msg);
      c->failed = 1;
    }
    svc__outf(s, "}\n");
    return;
  }
  if (rc)
    fail(c, "read stopped at 0x%llx: %s", (unsigned long long)(pa + done), svc__strerror(rc));
}

static int pattern(cmd *c, const char *tok, uint8_t *buf, size_t cap) {
  if (!tok) {
    fail(c, "missing PATTERN (hex bytes)");
    return -1;
  }
  /* Parsed whole first (a token is shorter than a command line), so that
   * a pattern too long is told from one that is not hex. */
  uint8_t tmp[sizeof(((svc_args *)0)->buf) / 2];
  char cb[48];
  int n = svc__parse_bytes(tok, tmp, sizeof(tmp));
  if (n <= 0) {
    fail(c, "bad byte pattern '%s' (hex bytes expected, e.g. deadbeef)", cut(tok, cb, sizeof(cb)));
    return -1;
  }
  if ((size_t)n > cap) {
    fail(c, "byte pattern too long: %d bytes (max %zu)", n, cap);
    return -1;
  }
  memcpy(buf, tmp, (size_t)n);
  return n;
}

/* The failure of a write that stopped at pa + done: what was written, where
 * it stopped and why. */
static void write_stopped(cmd *c, const char *key, uint64_t pa, uint64_t done, uint64_t len,
                          int rc) {
  char msg[200];
  if (done)
    snprintf(msg, sizeof(msg), "wrote 0x%llx of 0x%llx bytes at 0x%llx; stopped at 0x%llx: %s",
             (unsigned long long)done, (unsigned long long)len, (unsigned long long)pa,
             (unsigned long long)(pa + done), svc__strerror(rc));
  else
    snprintf(msg, sizeof(msg), "0x%llx: %s", (unsigned long long)pa, svc__strerror(rc));
  if (c->json) {
    svc__outf(c->s, "{\"pa\":\"0x%llx\",\"%s\":\"0x%llx\",\"error\":", (unsigned long long)pa, key,
              (unsigned long long)done);
    out_json_str(c->s, msg);
    svc__outf(c->s, "}\n");
    c->failed = 1;
  } else {
    fail(c, "%s", msg);
  }
}

static void phys_write(cmd *c) {
  svc *s = c->s;
  uint64_t pa;
  if (num(c, c->npos > 1 ? c->pos[1] : NULL, "PA", &pa))
    return;
  uint8_t buf[PHYS_MAX_BYTES];
  int n;
  if (c->uw) {
    uint64_t v;
    if (num(c, c->uval, "value", &v))
      return;
    if (c->uw < 8 && v >> (8 * c->uw)) {
      fail(c, "value 0x%llx does not fit in %d bytes", (unsigned long long)v, c->uw);
      return;
    }
    for (int i = 0; i < c->uw; i++)
      buf[i] = (uint8_t)(v >> (8 * i));
    n = c->uw;
  } else {
    n = pattern(c, c->npos > 2 ? c->pos[2] : NULL, buf, sizeof(buf));
    if (n <= 0)
      return;
  }
  if (pa + (uint64_t)n - 1 < pa) {
    fail(c, "range wraps around");
    return;
  }
  /* The bytes up to the end of RAM are written; the first one past it is
   * the address named. */
  int why;
  uint64_t span = svc__ram_span(s, pa, (uint64_t)n, &why);
  int rc = span ? svc__phys_write(s, pa, buf, (size_t)span) : why;
  if (!rc && span < (uint64_t)n)
    rc = why;
  else if (rc)
    span = 0;
  if (rc) {
    write_stopped(c, "written", pa, span, (uint64_t)n, rc);
    return;
  }
  if (c->json)
    svc__outf(s, "{\"pa\":\"0x%llx\",\"written\":%d}\n", (unsigned long long)pa, n);
  else
    svc__outf(s, "wrote %d byte%s at 0x%llx\n", n, n == 1 ? "" : "s", (unsigned long long)pa);
}

static void phys_fill(cmd *c) {
  svc *s = c->s;
  uint64_t pa, len;
  if (num(c, c->npos > 1 ? c->pos[1] : NULL, "PA", &pa) ||
      num(c, c->npos > 2 ? c->pos[2] : NULL, "LEN", &len))
    return;
  uint8_t pat[PHYS_MAX_PATTERN];
  int pn = pattern(c, c->npos > 3 ? c->pos[3] : NULL, pat, sizeof(pat));
  if (pn <= 0)
    return;
  if (!len || len > PHYS_MAX_READ || pa + len - 1 < pa) {
    fail(c, "LEN 0x%llx out of range (1..0x%x)", (unsigned long long)len, PHYS_MAX_READ);
    return;
  }
  uint8_t *buf = malloc(PHYS_CHUNK);
  if (!buf) {
    fail(c, "out of memory");
    return;
  }
  uint64_t done = 0;
  int rc = 0;
  while (done < len) {
    size_t n = len - done > PHYS_CHUNK ? PHYS_CHUNK : (size_t)(len - done);
    int why;
    size_t ram = (size_t)svc__ram_span(s, pa + done, n, &why);
    if (!ram) {
      rc = why; /* the end of RAM: what came before it is written */
      break;
    }
    n = ram;
    for (size_t i = 0; i < n; i++)
      buf[i] = pat[(done + i) % (uint64_t)pn];
    rc = svc__phys_write(s, pa + done, buf, n);
    if (rc)
      break;
    done += n;
    if (done < len && stop_requested(s)) {
      rc = SVC_EINTR;
      break;
    }
    svc__keepalive(s, "phys fill: 0x%llx of 0x%llx bytes written\n", (unsigned long long)done,
                   (unsigned long long)len);
  }
  free(buf);
  if (rc) {
    write_stopped(c, "filled", pa, done, len, rc);
    return;
  }
  if (c->json)
    svc__outf(s, "{\"pa\":\"0x%llx\",\"filled\":\"0x%llx\"}\n", (unsigned long long)pa,
              (unsigned long long)done);
  else
    svc__outf(s, "filled 0x%llx bytes at 0x%llx\n", (unsigned long long)done,
              (unsigned long long)pa);
}

static void phys_search(cmd *c) {
  svc *s = c->s;
  uint64_t pa, len;
  if (num(c, c->npos > 1 ? c->pos[1] : NULL, "PA", &pa) ||
      num(c, c->npos > 2 ? c->pos[2] : NULL, "LEN", &len))
    return;
  uint8_t pat[PHYS_MAX_PATTERN];
  int pn = pattern(c, c->npos > 3 ? c->pos[3] : NULL, pat, sizeof(pat));
  if (pn <= 0)
    return;
  if (!len || pa + len - 1 < pa) {
    fail(c, "bad range (LEN 0 or past the end of the address space)");
    return;
  }
  /* With a RAM map only RAM is read and a hole is crossed in one step, so
   * any length ends; without one each unread unit costs a round trip. */
  int bounded = ram_bounded(s);
  if (!bounded && len > PHYS_MAX_SEARCH_NOMAP) {
    fail(c,
         "LEN 0x%llx too large without a RAM map (max 0x%llx; the %s backend does not know "
         "where RAM is)",
         (unsigned long long)len, PHYS_MAX_SEARCH_NOMAP, svc__phys_name(s));
    return;
  }
  size_t keep = (size_t)pn - 1;
  uint8_t *buf = malloc(PHYS_CHUNK + keep);
  if (!buf) {
    fail(c, "out of memory");
    return;
  }
  s->bulk = len > (uint64_t)s->cache.max * SVC_CPAGE / 4;
  if (c->json)
    svc__outf(s, "{\"pattern_len\":%d,\"matches\":[", pn);
  uint64_t hits = 0, skipped = 0, pos = 0;
  uint64_t max = c->has_max ? c->max : PHYS_SEARCH_MAX, more_at = ~0ull;
  size_t have = 0; /* bytes carried over, ending at pa + pos */
  int rc = 0;
  while (pos < len) {
    if (stop_requested(s)) {
      rc = SVC_EINTR;
      break;
    }
    svc__keepalive(s, "phys search: at 0x%llx, %llu match%s so far\n",
                   (unsigned long long)(pa + pos), (unsigned long long)hits, hits == 1 ? "" : "es");
    size_t n = len - pos > PHYS_CHUNK ? PHYS_CHUNK : (size_t)(len - pos);
    if (bounded) {
      int why;
      n = (size_t)svc__ram_span(s, pa + pos, n, &why);
      if (!n) {
        /* A hole of the map: on to the next RAM region (or the end) at once. */
        uint64_t next = 0, npos = len;
        if (ram_next(s, pa + pos, pa + len - 1, &next))
          npos = next - pa;
        skipped += npos - pos;
        pos = npos;
        have = 0;
        continue;
      }
    }
    size_t got = 0;
    rc = svc__phys_read_cached(s, pa + pos, buf + have, n, &got);
    size_t total = have + got;
    uint64_t base = pa + pos - have;
    for (size_t i = 0; i + (size_t)pn <= total; i++) {
      const uint8_t *f = memchr(buf + i, pat[0], total - (size_t)pn + 1 - i);
      if (!f)
        break; /* no first byte left: memchr is ten times a memcmp per byte */
      i = (size_t)(f - buf);
      if (!memcmp(buf + i, pat, (size_t)pn)) {
        if (hits == max) {
          more_at = base + i; /* one match too many: where to go on from */
          break;
        }
        if (c->json)
          svc__outf(s, "%s\"0x%llx\"", hits ? "," : "", (unsigned long long)(base + i));
        else
          svc__outf(s, "0x%llx\n", (unsigned long long)(base + i));
        hits++;
      }
    }
    if (more_at != ~0ull)
      break;
    pos += got;
    if (rc == SVC_ENOPAGE || rc == SVC_EMMIO || rc == SVC_ETARGET) {
      /* Not RAM here: skip to the next unit, a match cannot span the hole. */
      uint64_t next = ((pa + pos) | (SVC_CPAGE - 1)) + 1;
      if (next - pa > len || next < pa)
        next = pa + len;
      skipped += next - (pa + pos);
      pos = next - pa;
      have = 0;
      rc = 0;
      continue;
    }
    if (rc)
      break;
    have = total < keep ? total : keep;
    memmove(buf, buf + total - have, have);
    if (stop_requested(s)) {
      rc = SVC_EINTR;
      break;
    }
  }
  free(buf);
  if (c->json) {
    svc__outf(s, "],\"count\":%llu,\"skipped\":\"0x%llx\",\"max\":\"0x%llx\",\"truncated\":%s",
              (unsigned long long)hits, (unsigned long long)skipped, (unsigned long long)max,
              more_at != ~0ull ? "true" : "false");
    if (more_at != ~0ull)
      svc__outf(s, ",\"next\":\"0x%llx\"", (unsigned long long)more_at);
    if (rc) {
      svc__outf(s, ",\"error\":");
      out_json_str(s, svc__strerror(rc));
      c->failed = 1;
    }
    svc__outf(s, "}\n");
    return;
  }
  if (rc) {
    fail(c, "stopped at 0x%llx: %s", (unsigned long long)(pa + pos), svc__strerror(rc));
    return;
  }
  svc__outf(s, "%llu match%s", (unsigned long long)hits, hits == 1 ? "" : "es");
  if (more_at != ~0ull)
    svc__outf(s, "; stopped at the limit of 0x%llx matches (--max N), the next is at 0x%llx",
              (unsigned long long)max, (unsigned long long)more_at);
  if (skipped)
    svc__outf(s, " (0x%llx bytes without physical pages skipped)", (unsigned long long)skipped);
  svc__outf(s, "\n");
}

static void phys_backend(cmd *c) {
  svc *s = c->s;
  svc__discover(s);
  if (c->npos > 1) {
    const char *b = c->pos[1];
    if (!strcmp(b, "auto")) {
      s->phys_forced = 0;
      s->phys = s->qemu_phys ? SVC_PHYS_QEMU : SVC_PHYS_NONE;
    } else if (!strcmp(b, "qemu")) {
      if (!s->qemu_phys) {
        fail(c, "the target does not list PhyMemMode in qqemu.Supported");
        return;
      }
      s->phys = SVC_PHYS_QEMU;
      s->phys_forced = 1;
    } else if (!strcmp(b, "offset")) {
      uint64_t off;
      if (num(c, c->npos > 2 ? c->pos[2] : NULL, "OFF", &off))
        return;
      s->phys = SVC_PHYS_OFFSET;
      s->phys_off = off;
      s->phys_forced = 1;
    } else if (!strcmp(b, "none")) {
      s->phys = SVC_PHYS_NONE;
      s->phys_forced = 1;
    } else {
      fail(c, "unknown backend '%s' (auto, qemu, offset OFF, none)", b);
      return;
    }
    svc__cache_flush(&s->cache);
    if (s->phys == SVC_PHYS_QEMU && !s->ram_known)
      svc__ram_load(s);
  }
  if (c->json)
    svc__outf(s, "{\"backend\":\"%s\",\"offset\":\"0x%llx\",\"forced\":%s,\"ram_map\":%s}\n",
              svc__phys_name(s), (unsigned long long)s->phys_off, s->phys_forced ? "true" : "false",
              s->ram_known ? "true" : "false");
  else if (s->phys == SVC_PHYS_OFFSET)
    svc__outf(s, "physical backend: offset 0x%llx (PA + offset read as virtual)\n",
              (unsigned long long)s->phys_off);
  else if (s->phys == SVC_PHYS_QEMU)
    svc__outf(s, "physical backend: qemu (PhyMemMode)%s\n",
              s->ram_known ? ", RAM map from `info mtree -f`" : ", RAM map unknown");
  else
    svc__outf(s, "physical backend: none (%s)\n", svc__strerror(SVC_ENOBACK));
}

static void phys_map(cmd *c) {
  svc *s = c->s;
  svc__discover(s);
  if (!s->ram_known) {
    fail(c, "physical memory map unknown (qemu backend only)");
    return;
  }
  if (c->json)
    svc__outf(s, "{\"regions\":[");
  for (int i = 0; i < s->nram; i++) {
    const svc_region *r = &s->ram[i];
    if (c->json) {
      svc__outf(s, "%s{\"lo\":\"0x%llx\",\"hi\":\"0x%llx\",\"kind\":\"%s\",\"name\":", i ? "," : "",
                (unsigned long long)r->lo, (unsigned long long)r->hi,
                r->kind == 'r' ? "ram" : "io");
      out_json_str(s, r->name);
      svc__outf(s, "}");
    } else {
      svc__outf(s, "0x%016llx-0x%016llx %-4s %s\n", (unsigned long long)r->lo,
                (unsigned long long)r->hi, r->kind == 'r' ? "ram" : "i/o", r->name);
    }
  }
  if (c->json)
    svc__outf(s, "]}\n");
}

static void cmd_phys(cmd *c) {
  const char *sub = c->npos ? c->pos[0] : NULL;
  svc__discover(c->s);
  if (!sub) {
    fail(c, "missing subcommand (read, write, fill, search, backend, map)");
    return;
  }
  if (!strcmp(sub, "backend")) {
    if (!extra(c, c->npos > 1 && !strcmp(c->pos[1], "offset") ? 3 : 2))
      phys_backend(c);
    return;
  }
  if (!strcmp(sub, "map")) {
    if (!extra(c, 1))
      phys_map(c);
    return;
  }
  /* Options and argument counts of each subcommand: nothing is ignored. */
  const char *bad = c->width && strcmp(sub, "read")       ? "--width"
                    : c->file && strcmp(sub, "read")      ? "--file"
                    : c->uw && strcmp(sub, "write")       ? "--uN"
                    : c->has_max && strcmp(sub, "search") ? "--max"
                                                          : NULL;
  if (bad) {
    fail(c, "%s does not apply to `phys %s` (see `monitor help phys`)", bad, sub);
    return;
  }
  int maxpos = !strcmp(sub, "read") || !strcmp(sub, "write")    ? (c->uw ? 2 : 3)
               : !strcmp(sub, "fill") || !strcmp(sub, "search") ? 4
                                                                : 5;
  if (extra(c, maxpos))
    return;
  if (c->s->phys == SVC_PHYS_NONE) {
    fail(c, "%s", svc__strerror(SVC_ENOBACK));
    return;
  }
  if (!strcmp(sub, "read"))
    phys_read(c);
  else if (!strcmp(sub, "write"))
    phys_write(c);
  else if (!strcmp(sub, "fill"))
    phys_fill(c);
  else if (!strcmp(sub, "search"))
    phys_search(c);
  else
    fail(c, "unknown subcommand '%s' (read, write, fill, search, backend, map)", sub);
}

/* ------------------------------------------------------------------------
 * State commands. */

static void cmd_context(cmd *c) {
  svc *s = c->s;
  if (c->npos >= 1) {
    if (!strcmp(c->pos[0], "default")) {
      atomic_store(&s->ctx_on, 0);
    } else {
      uint64_t root;
      if (num(c, c->pos[0], "ROOT", &root))
        return;
      if (atomic_load(&s->detached)) {
        fail(c, "no process attached (the client detached): `context ROOT` needs the CPU's "
                "memory; attach again first (GDB: attach 1)");
        return;
      }
      svc__discover(s);
      if (s->phys == SVC_PHYS_NONE) {
        fail(c, "%s", svc__strerror(SVC_ENOBACK));
        return;
      }
      arch_ctx ctx;
      char err[200];
      if (svc__make_ctx(s, 1, root, 0, &ctx, err, sizeof(err))) {
        fail(c, "%s", err);
        return;
      }
      /* The top-level table must be readable, or every later GDB access
       * would fail with nothing said. */
      uint64_t table = ctx.mode == ARCH_AARCH64 ? ctx.a64[0].root : ctx.root;
      uint8_t ent[8];
      size_t got;
      int rc = svc__phys_read_cached(s, table, ent, sizeof(ent), &got);
      if (rc) {
        if (table == root)
          fail(c, "ROOT 0x%llx: the top-level table cannot be read: %s", (unsigned long long)root,
               svc__strerror(rc));
        else
          fail(c, "ROOT 0x%llx: the top-level table at 0x%llx (%s) cannot be read: %s",
               (unsigned long long)root, (unsigned long long)table, arch_mode_name(ctx.mode),
               svc__strerror(rc));
        return;
      }
      s->ctx_root = root;
      atomic_store(&s->ctx_on, 1);
    }
    svc__cache_flush(&s->cache);
  }
  int on = atomic_load(&s->ctx_on);
  if (c->json)
    svc__outf(s, "{\"context\":\"%s\",\"root\":\"0x%llx\"}\n", on ? "root" : "default",
              (unsigned long long)(on ? s->ctx_root : 0));
  else if (on)
    svc__outf(s, "context: GDB's memory accesses are translated through root 0x%llx\n",
              (unsigned long long)s->ctx_root);
  else
    svc__outf(s, "context: default (GDB's memory accesses go to the target as they are)\n");
}

static void cmd_cache(cmd *c) {
  svc *s = c->s;
  const char *sub = c->npos ? c->pos[0] : "stats";
  if (!strcmp(sub, "on")) {
    if (!s->cache.max) {
      fail(c, "the cache has no room (--cache-size 0)");
      return;
    }
    svc__cache_flush(&s->cache);
    atomic_store(&s->cache_on, 1);
  } else if (!strcmp(sub, "off")) {
    atomic_store(&s->cache_on, 0);
    svc__cache_flush(&s->cache);
  } else if (!strcmp(sub, "flush")) {
    svc__cache_flush(&s->cache);
  } else if (strcmp(sub, "stats")) {
    fail(c, "unknown subcommand '%s' (on, off, flush, stats)", sub);
    return;
  }
  svc_cache *k = &s->cache;
  int on = atomic_load(&s->cache_on) && k->max;
  if (c->json)
    svc__outf(s,
              "{\"enabled\":%s,\"units\":%zu,\"capacity_units\":%zu,\"unit_bytes\":%u,"
              "\"hits\":%llu,\"misses\":%llu,\"evictions\":%llu,\"flushes\":%llu,"
              "\"upstream_requests\":%llu,\"upstream_transactions\":%llu}\n",
              on ? "true" : "false", k->n, k->max, SVC_CPAGE, (unsigned long long)k->hits,
              (unsigned long long)k->misses, (unsigned long long)k->evictions,
              (unsigned long long)k->flushes, (unsigned long long)s->n_requests,
              (unsigned long long)s->n_transact);
  else
    svc__outf(s,
              "cache %s: %zu of %zu units of 0x%x bytes; %llu hits, %llu misses, %llu evictions, "
              "%llu flushes; %llu upstream requests in %llu transactions\n",
              on ? "on" : "off", k->n, k->max, SVC_CPAGE, (unsigned long long)k->hits,
              (unsigned long long)k->misses, (unsigned long long)k->evictions,
              (unsigned long long)k->flushes, (unsigned long long)s->n_requests,
              (unsigned long long)s->n_transact);
}

static void cmd_uncached(cmd *c) {
  svc *s = c->s;
  const char *sub = c->npos ? c->pos[0] : "list";
  if (!strcmp(sub, "add") || !strcmp(sub, "del")) {
    uint64_t lo, hi;
    if (num(c, c->npos > 1 ? c->pos[1] : NULL, "LO", &lo) ||
        num(c, c->npos > 2 ? c->pos[2] : NULL, "HI", &hi))
      return;
    if (hi <= lo) {
      fail(c, "empty range 0x%llx-0x%llx (HI is exclusive)", (unsigned long long)lo,
           (unsigned long long)hi);
      return;
    }
    if (sub[0] == 'a') {
      if (s->nunc == SVC_MAX_UNCACHED) {
        fail(c, "too many ranges (%d)", SVC_MAX_UNCACHED);
        return;
      }
      s->unc[s->nunc].lo = lo;
      s->unc[s->nunc].hi = hi;
      s->nunc++;
      svc__cache_flush(&s->cache);
    } else {
      int found = 0;
      for (int i = 0; i < s->nunc; i++)
        if (s->unc[i].lo == lo && s->unc[i].hi == hi) {
          s->unc[i] = s->unc[--s->nunc];
          found = 1;
          break;
        }
      if (!found) {
        fail(c, "no range 0x%llx-0x%llx", (unsigned long long)lo, (unsigned long long)hi);
        return;
      }
    }
  } else if (strcmp(sub, "list")) {
    fail(c, "unknown subcommand '%s' (add, del, list)", sub);
    return;
  } else if (extra(c, 1)) {
    return;
  }
  if (c->json)
    svc__outf(s, "{\"ranges\":[");
  for (int i = 0; i < s->nunc; i++) {
    if (c->json)
      svc__outf(s, "%s{\"lo\":\"0x%llx\",\"hi\":\"0x%llx\"}", i ? "," : "",
                (unsigned long long)s->unc[i].lo, (unsigned long long)s->unc[i].hi);
    else
      svc__outf(s, "0x%llx-0x%llx\n", (unsigned long long)s->unc[i].lo,
                (unsigned long long)s->unc[i].hi);
  }
  if (c->json)
    svc__outf(s, "]}\n");
  else if (!s->nunc)
    svc__outf(s, "no uncached ranges\n");
}

static void cmd_arch(cmd *c) {
  svc *s = c->s;
  svc__discover(s);
  if (c->npos >= 1) {
    if (!strcmp(c->pos[0], "auto")) {
      s->arch_forced = 0;
    } else {
      arch_mode m = arch_mode_parse(c->pos[0], strlen(c->pos[0]));
      if (m == ARCH_MODE_NONE) {
        fail(c,
             "unknown mode '%s' (x86-32 x86-pae x86-64 x86-64-la57 aarch64 sv32 sv39 sv48 "
             "sv57, or auto)",
             c->pos[0]);
        return;
      }
      s->arch_forced = 1;
      s->arch_mode = (int)m;
    }
  }
  arch_ctx ctx;
  char err[200] = "", cs[200] = "";
  int rc = svc__make_ctx(s, 0, 0, 0, &ctx, err, sizeof(err));
  /* The CPU's privilege level, when the description names it. */
  char priv[48] = "";
  uint64_t pv;
  int have;
  static const char *const cpsr[] = {"cpsr"}, *const prv[] = {"priv"};
  if (s->td.arch == SVC_ARCH_AARCH64 && !svc__regs_get(s, cpsr, 1, &pv, &have))
    snprintf(priv, sizeof(priv), "EL%u", (unsigned)((pv >> 2) & 3));
  else if (s->td.arch == SVC_ARCH_RISCV && !svc__regs_get(s, prv, 1, &pv, &have))
    snprintf(priv, sizeof(priv), "%s-mode", pv == 0 ? "U" : pv == 1 ? "S" : pv == 3 ? "M" : "?");
  if (!rc && ctx.mode == ARCH_MODE_NONE)
    snprintf(cs, sizeof(cs), "off, virtual addresses are physical");
  else if (!rc && arch_ctx_str(&ctx, cs, sizeof(cs)) < 0)
    snprintf(cs, sizeof(cs), "%s", arch_mode_name(ctx.mode));
  if (c->json) {
    svc__outf(s, "{\"target\":");
    out_json_str(s, s->td.arch_name);
    svc__outf(s, ",\"forced\":%s,\"mode\":", s->arch_forced ? "true" : "false");
    out_json_str(s, rc ? "unknown" : arch_mode_name(ctx.mode));
    svc__outf(s, ",\"context\":");
    out_json_str(s, rc ? err : cs);
    svc__outf(s, ",\"privilege\":");
    out_json_str(s, priv);
    svc__outf(s, "}\n");
  } else {
    svc__outf(s, "target %s%s%s; paging %s%s: %s\n",
              s->td.arch_name[0] ? s->td.arch_name : "unknown", priv[0] ? ", CPU in " : "", priv,
              rc ? "unknown" : arch_mode_name(ctx.mode), s->arch_forced ? " (forced)" : "",
              rc ? err : cs);
  }
}

/* ------------------------------------------------------------------------ */

/* Options a command takes besides --json ("root width u max"). */
static int takes(const char *opts, const char *o) {
  size_t n = strlen(o);
  if (!n) /* a bare "--": strstr would find "" at every place, forever */
    return 0;
  for (const char *p = opts; (p = strstr(p, o)); p += n)
    if ((p == opts || p[-1] == ' ') && (p[n] == 0 || p[n] == ' '))
      return 1;
  return 0;
}

static int parse_opts(cmd *c, svc_args *a, const char *opts) {
  for (int i = 1; i < a->n; i++) {
    const char *t = a->tok[i];
    char cb[48];
    int uopt =
        !strcmp(t, "--u8") || !strcmp(t, "--u16") || !strcmp(t, "--u32") || !strcmp(t, "--u64");
    if (!strcmp(t, "--json")) {
      c->json = 1;
    } else if (t[0] == '-' && t[1] == '-' && !takes(opts, uopt ? "u" : t + 2)) {
      fail(c, "unknown option '%s' (see `monitor help %s`)", cut(t, cb, sizeof(cb)), c->name);
      return -1;
    } else if (!strcmp(t, "--all")) {
      c->all = 1;
    } else if (!strcmp(t, "--root")) {
      if (i + 1 >= a->n || svc__parse_num(a->tok[i + 1], &c->root)) {
        fail(c, "--root needs a hex address%s%s%s", i + 1 < a->n ? " (not '" : "",
             i + 1 < a->n ? cut(a->tok[i + 1], cb, sizeof(cb)) : "", i + 1 < a->n ? "')" : "");
        return -1;
      }
      c->has_root = 1;
      i++;
    } else if (!strcmp(t, "--width")) {
      uint64_t w;
      if (i + 1 >= a->n) {
        fail(c, "--width needs 1, 2, 4 or 8");
        return -1;
      }
      if (svc__parse_num(a->tok[i + 1], &w) || (w != 1 && w != 2 && w != 4 && w != 8)) {
        fail(c, "bad --width %s (1, 2, 4 or 8)", cut(a->tok[i + 1], cb, sizeof(cb)));
        return -1;
      }
      c->width = (int)w;
      i++;
    } else if (!strcmp(t, "--max")) {
      if (i + 1 >= a->n || svc__parse_num(a->tok[i + 1], &c->max) || !c->max) {
        fail(c, "--max needs a hex count of at least 1%s%s%s", i + 1 < a->n ? " (not '" : "",
             i + 1 < a->n ? cut(a->tok[i + 1], cb, sizeof(cb)) : "", i + 1 < a->n ? "')" : "");
        return -1;
      }
      c->has_max = 1;
      i++;
    } else if (!strcmp(t, "--file")) {
      if (i + 1 >= a->n) {
        fail(c, "--file needs a file name");
        return -1;
      }
      c->file = a->tok[++i];
    } else if (uopt) {
      if (i + 1 >= a->n) {
        fail(c, "%s needs a value", t);
        return -1;
      }
      c->uw = atoi(t + 3) / 8;
      c->uval = a->tok[++i];
    } else if (t[0] == '-' && t[1] == '-') {
      fail(c, "unknown option '%s' (see `monitor help %s`)", cut(t, cb, sizeof(cb)), c->name);
      return -1;
    } else {
      c->pos[c->npos++] = t;
    }
  }
  return 0;
}

/* More positional arguments than the command takes: an error naming the
 * first one too many (never silently ignored). */
static int extra(cmd *c, int max) {
  if (c->npos <= max)
    return 0;
  char cb[48];
  fail(c, "unexpected argument '%s' (see `monitor help %s`)", cut(c->pos[max], cb, sizeof(cb)),
       c->name);
  return -1;
}

typedef struct {
  const char *name;
  void (*fn)(cmd *c);
} cmd_entry;

static const cmd_entry cmds[] = {
    {"vtop", cmd_vtop}, {"pte", cmd_pte},         {"phys", cmd_phys},   {"maps", cmd_maps},
    {"ptov", cmd_ptov}, {"context", cmd_context}, {"cache", cmd_cache}, {"uncached", cmd_uncached},
    {"arch", cmd_arch}, {"help", cmd_help},
};

/* What each command takes.  A command missing here takes every option, checks
 * its own arguments and needs the CPU. */
typedef struct {
  const char *name;
  int maxpos;       /* positional arguments; -1: the command checks */
  const char *opts; /* options besides --json */
  int needs_cpu;    /* reads registers or memory: refused with no process attached */
} cmd_rule;

static const cmd_rule rules[] = {
    {"vtop", 1, "root", 1},     {"pte", 1, "root", 1},  {"phys", -1, "width u max file", 1},
    {"maps", 2, "root all", 1}, {"ptov", 1, "root", 1}, {"context", 1, "", 0},
    {"cache", 1, "", 0},        {"uncached", 3, "", 0}, {"arch", 1, "", 1},
    {"help", 1, "", 0},
};

static cmd_rule rule_of(const char *name) {
  for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
    if (!strcmp(rules[i].name, name))
      return rules[i];
  cmd_rule any = {name, -1, "root width u max", 1};
  return any;
}

/* QEMU HMP commands that only look (--read-only, --monitor read-only). */
static const char *const ro_monitor[] = {"info", "gva2gpa", "x", "xp", "help", "?"};

/* Whether a command line for the target's own monitor may go through.  The
 * command name ends at a blank or '/' (`x/4g ADDR`), as HMP reads it. */
static int monitor_allowed(const svc *s, const char *line, size_t len, char *name, size_t cap) {
  size_t i = 0, k = 0;
  while (i < len && (line[i] == ' ' || line[i] == '\t'))
    i++;
  while (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != '/' && k + 1 < cap)
    name[k++] = line[i++];
  name[k] = 0;
  if (s->cfg.monitor_policy == SVC_MON_ALL)
    return 1;
  if (s->cfg.monitor_policy == SVC_MON_NONE)
    return 0;
  for (size_t j = 0; j < sizeof(ro_monitor) / sizeof(ro_monitor[0]); j++)
    if (!strcmp(name, ro_monitor[j]))
      return 1;
  return 0;
}

/* Ends a command: OK, or (text mode) E01 after the message.  With --json
 * the answer is always one document and OK, errors included, so that
 * `gdb.execute(..., to_string=True)` gets it. */
static void finish(svc *s, cmd *c) {
  s->json_mode = 0;
  svc__phys_end(s); /* QEMU's mode is restored on every path */
  s->bulk = 0;
  svc__cache_flush(&s->scratch);
  svc__out_flush(s);
  if (c->failed && !c->json)
    s->io->reply(s->ctx, "E01", 3);
  else
    s->io->reply(s->ctx, "OK", 2);
}

static int has_json(const char *line, size_t len) {
  for (size_t i = 0; i + 6 <= len; i++)
    if (!memcmp(line + i, "--json", 6) && (i == 0 || line[i - 1] == ' ') &&
        (i + 6 == len || line[i + 6] == ' '))
      return 1;
  return 0;
}

void svc__forward_rcmd(svc *s, const char *line) {
  svc_sb fin;
  svc__sb_init(&fin);
  int rc = svc__rcmd(s, line, 1, NULL, &fin);
  /* The target's monitor can change anything (HMP `cont`, `system_reset`,
   * device writes): nothing learned before it is trusted after it. */
  atomic_fetch_add(&s->gen, 1);
  if (rc == SVC_EIO && !fin.len)
    s->io->reply(s->ctx, "E05", 3);
  else
    s->io->reply(s->ctx, fin.p ? fin.p : "", fin.len);
  svc__sb_free(&fin);
}

void svc__monitor(svc *s, const char *line, size_t len) {
  svc_args a;
  s->out.len = 0;
  s->out_err = 0;
  cmd c;
  memset(&c, 0, sizeof(c));
  c.s = s;
  c.name = "monitor";
  s->last_out = mono();
  int n = line ? svc__split(&a, line, len) : -1;
  if (n < 0) {
    c.json = line && has_json(line, len);
    if (!line && len <= SVC_LINE_MAX)
      fail(&c, "the command line is not valid hex in qRcmd");
    else if (n == -2)
      fail(&c, "too many arguments (at most %d words)", SVC_MAX_TOK);
    else
      fail(&c, "command line too long: %zu characters (the limit is %d)", len, SVC_LINE_MAX);
    finish(s, &c);
    return;
  }
  const cmd_entry *e = NULL;
  if (n > 0)
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
      if (!strcmp(a.tok[0], cmds[i].name))
        e = &cmds[i];
  if (!e && svc__infomem(s, line, len))
    return; /* QEMU's info mem / info tlb where QEMU has none (infomem.c) */
  if (!e) {
    /* Not ours: the target's own monitor, its output relayed as it comes. */
    char name[32];
    if (!monitor_allowed(s, line, len, name, sizeof(name))) {
      c.json = has_json(line, len);
      if (s->cfg.monitor_policy == SVC_MON_NONE)
        fail(&c,
             "`%s` refused: --monitor none forwards no command to the target's monitor (the "
             "bridge's own commands: monitor help)",
             name);
      else
        fail(&c,
             "`%s` refused: %s lets only these commands through to the target's "
             "monitor: " RO_MONITOR_LIST,
             name, s->cfg.read_only ? "--read-only" : "--monitor read-only");
      svc__log(s, 1, "refused monitor command '%s'", name);
      finish(s, &c);
      return;
    }
    char *cmdline = malloc(len + 1);
    if (!cmdline) {
      s->io->reply(s->ctx, "E0c", 3);
      return;
    }
    memcpy(cmdline, line, len);
    cmdline[len] = 0;
    svc__forward_rcmd(s, cmdline);
    free(cmdline);
    return;
  }
  c.name = e->name;
  c.json = has_json(line, len); /* errors in the options are JSON too */
  cmd_rule r = rule_of(e->name);
  if (parse_opts(&c, &a, r.opts) == 0 && (r.maxpos < 0 || extra(&c, r.maxpos) == 0)) {
    s->json_mode = c.json;
    if (r.needs_cpu && atomic_load(&s->detached))
      fail(&c,
           "no process attached (the client detached): `%s` needs the CPU's registers and "
           "memory; attach again first (GDB: attach 1)",
           e->name);
    else
      e->fn(&c);
  }
  finish(s, &c);
}
