/* commands.c - the monitor commands (`monitor vtop ...` arrives as qRcmd).
 *
 * Output is streamed to the client in chunks of about SVC_OUT_CHUNK bytes
 * ('O' packets, sent by the core), then one final reply: OK, or E01 after a
 * one-line error message.  Every query takes --json.  Numbers are hex, 0x
 * optional.  Unknown commands go to the target's own monitor.  The `phys`
 * commands are in phys_cmds.c (cmd.h: what the two share).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rsp.h"
#include "maps.h"
#include "walk.h"
#include "cmd.h"

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

void svc__out_json_str(svc *s, const char *str) {
  svc__sb_json_str(&s->out, str, strlen(str));
}

/* An argument echoed in a message: at most 40 characters, then "...". */
const char *svc__cut(const char *tok, char *buf, size_t cap) {
  if (strlen(tok) <= 40 || cap < 45)
    return tok;
  snprintf(buf, cap, "%.40s...", tok);
  return buf;
}

int svc__stop_requested(svc *s) {
  return s->out_err || atomic_load(&s->intr) || (s->io->interrupted && s->io->interrupted(s->ctx));
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 0)))
#endif
static void
vfail(cmd *c, const char *open, const char *fmt, va_list ap) {
  char msg[1024];
  vsnprintf(msg, sizeof(msg), fmt, ap);
  if (c->json) {
    svc__outf(c->s, "%s\"error\":", open);
    svc__out_json_str(c->s, msg);
    svc__outf(c->s, "}\n");
  } else {
    svc__outf(c->s, "%s: %s\n", c->name, msg);
  }
  c->failed = 1;
}

void svc__fail(cmd *c, const char *fmt, ...) {
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

int svc__num(cmd *c, const char *tok, const char *what, uint64_t *v) {
  if (!tok) {
    svc__fail(c, "missing %s", what);
    return -1;
  }
  if (svc__parse_num(tok, v)) {
    svc__fail(c, "bad %s '%s' (hex number expected)", what, tok);
    return -1;
  }
  return 0;
}

int svc__extra(cmd *c, int max);

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
      svc__out_json_str(c->s, help_tab[i].name);
      svc__outf(c->s, ",\"usage\":");
      svc__out_json_str(c->s, help_tab[i].usage);
      svc__outf(c->s, ",\"text\":");
      svc__out_json_str(c->s, help_tab[i].text);
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
    svc__fail(c, "no command '%s' (try `monitor help`)", which);
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
    svc__fail(c, "%s", err);
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
  if (svc__num(c, c->npos ? c->pos[0] : NULL, "VA", &va))
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
    svc__fail(c, "interrupted");
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
      svc__out_json_str(s, arch_stop_str(xl.stop));
      svc__outf(s, ",\"error\":");
      char msg[640];
      snprintf(msg, sizeof(msg), "0x%llx %s: %s", (unsigned long long)va, what, why);
      svc__out_json_str(s, msg);
      svc__outf(s, "}\n");
      c->failed = 1;
    } else {
      svc__fail(c, "0x%llx %s: %s", (unsigned long long)va, what, why);
    }
    return;
  }
  if (rc) {
    svc__fail(c, "%s", arch_strerror(rc));
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
    svc__out_json_str(s, lvl);
    svc__outf(s, ",\"mode\":");
    svc__out_json_str(s, arch_mode_name(ctx.mode));
    svc__outf(s, ",\"flags\":");
    svc__out_json_str(s, fc);
    svc__outf(s, ",\"flags_long\":");
    svc__out_json_str(s, fl);
    char pr[5];
    *svc__prot(ctx.mode, xl.flags, pr) = 0;
    svc__outf(s,
              ",\"prot\":\"%s\",\"write\":%s,\"user\":%s,\"exec\":%s,\"levels\":%u,\"mmio\":%s,"
              "\"backed\":\"%s\",\"region\":",
              pr, xl.flags & ARCH_F_WRITE ? "true" : "false",
              xl.flags & ARCH_F_USER ? "true" : "false", pr[2] == 'x' ? "true" : "false",
              xl.nlevels, !strcmp(b, "io") ? "true" : "false", b);
    svc__out_json_str(s, rname);
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
  if (svc__num(c, c->npos ? c->pos[0] : NULL, "VA", &va))
    return;
  arch_ctx ctx;
  if (get_ctx(c, va, &ctx))
    return;
  if (ctx.mode == ARCH_MODE_NONE) {
    svc__fail(c, "paging is off: 0x%llx is a physical address", (unsigned long long)va);
    return;
  }
  svc_walk w;
  svc__walk_init(&w, s);
  arch_xlate xl;
  memset(&xl, 0, sizeof(xl));
  int rc = arch_translate(&ctx, &w.mem, va, &xl);
  if (w.intr) {
    svc__fail(c, "interrupted");
    return;
  }
  if (rc && rc != ARCH_ENOTMAPPED) {
    svc__fail(c, "%s", arch_strerror(rc));
    return;
  }
  if (rc && xl.nlevels == 0) {
    /* Nothing to show: the walk did not even reach a table entry. */
    char why[512];
    stop_reason(&w, &xl, why, sizeof(why));
    svc__fail(c, "0x%llx: %s", (unsigned long long)va, why);
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
    svc__fail(c, "0x%llx not translated: %s", (unsigned long long)va, why);
    return;
  }
  if (c->json) {
    svc__outf(s, "{\"va\":\"0x%llx\",\"mode\":", (unsigned long long)va);
    svc__out_json_str(s, arch_mode_name(ctx.mode));
    svc__outf(s, ",\"context\":");
    svc__out_json_str(s, cs);
    svc__outf(s, ",\"levels\":[");
    for (unsigned i = 0; i < shown; i++) {
      const arch_level *l = &xl.lv[i];
      char fc[64], fl[256];
      flags_str(ctx.mode, l->flags, ARCH_FMT_COMPACT, fc, sizeof(fc));
      flags_str(ctx.mode, l->flags, ARCH_FMT_LONG, fl, sizeof(fl));
      svc__outf(s, "%s{\"name\":", i ? "," : "");
      svc__out_json_str(s, l->name);
      svc__outf(s,
                ",\"index\":%u,\"table_pa\":\"0x%llx\",\"entry_pa\":\"0x%llx\",\"raw\":\"0x%llx\","
                "\"next_pa\":\"0x%llx\",\"size\":\"0x%llx\",\"leaf\":%s,\"flags\":",
                l->index, (unsigned long long)l->table_pa, (unsigned long long)l->entry_pa,
                (unsigned long long)l->raw, (unsigned long long)l->next_pa,
                (unsigned long long)l->size, l->leaf ? "true" : "false");
      svc__out_json_str(s, fc);
      svc__outf(s, ",\"flags_long\":");
      svc__out_json_str(s, fl);
      svc__outf(s, "}");
    }
    svc__outf(s, "],\"mapped\":%s", unread ? "null" : rc ? "false" : "true");
    if (!rc)
      svc__outf(s, ",\"pa\":\"0x%llx\",\"page_size\":\"0x%llx\"", (unsigned long long)xl.pa,
                (unsigned long long)xl.page_size);
    else {
      svc__outf(s, ",\"stop\":");
      svc__out_json_str(s, arch_stop_str(xl.stop));
      svc__outf(s, ",\"reason\":");
      svc__out_json_str(s, why);
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
    svc__fail(c, "0x%llx not translated: %s", (unsigned long long)va, why);
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
  if (c->npos >= 1 && svc__num(c, c->pos[0], "VA_LO", &lo))
    return;
  if (c->npos >= 2) {
    if (svc__num(c, c->pos[1], "VA_HI", &hi))
      return;
    if (hi <= lo) {
      svc__fail(c, "empty range 0x%llx-0x%llx", (unsigned long long)lo, (unsigned long long)hi);
      return;
    }
    hi--;
  }
  arch_ctx ctx;
  if (get_ctx(c, lo, &ctx))
    return;
  if (ctx.mode == ARCH_MODE_NONE) {
    svc__fail(c, "paging is off: every address is physical");
    return;
  }
  size_t wl = arch_work_size(&ctx);
  if (wl < ARCH_WORK_MIN || wl > ARCH_WORK_MAX)
    wl = ARCH_WORK_MAX;
  void *work = malloc(wl);
  if (!work) {
    svc__fail(c, "out of memory");
    return;
  }
  svc_walk w;
  svc__walk_init(&w, s);
  svc_maps rc;
  if (svc__maps_init(&rc, s, ctx.mode, c->json, c->all)) {
    free(work);
    svc__fail(c, "out of memory");
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
    svc__out_json_str(s, r->level ? r->level : "");
    svc__outf(s, ",\"page_size\":\"0x%llx\",\"flags\":", (unsigned long long)r->page_size);
    svc__out_json_str(s, fc);
    svc__outf(s, "}");
  } else {
    svc__outf(s, "0x%llx  (%s, %s page)  %s\n", (unsigned long long)va, r->level ? r->level : "",
              human(r->page_size, ps, sizeof(ps)), fc);
  }
  p->n++;
  return svc__stop_requested(s);
}

static void cmd_ptov(cmd *c) {
  svc *s = c->s;
  uint64_t pa;
  if (svc__num(c, c->npos ? c->pos[0] : NULL, "PA", &pa))
    return;
  arch_ctx ctx;
  if (get_ctx(c, 0, &ctx))
    return;
  if (ctx.mode == ARCH_MODE_NONE) {
    svc__fail(c, "paging is off: 0x%llx is mapped at the same address", (unsigned long long)pa);
    return;
  }
  size_t wl = arch_work_size(&ctx);
  if (wl < ARCH_WORK_MIN || wl > ARCH_WORK_MAX)
    wl = ARCH_WORK_MAX;
  void *work = malloc(wl);
  if (!work) {
    svc__fail(c, "out of memory");
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
    svc__fail(c, "%s", arch_strerror(r));
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
 * State commands. */

static void cmd_context(cmd *c) {
  svc *s = c->s;
  if (c->npos >= 1) {
    if (!strcmp(c->pos[0], "default")) {
      atomic_store(&s->ctx_on, 0);
    } else {
      uint64_t root;
      if (svc__num(c, c->pos[0], "ROOT", &root))
        return;
      if (atomic_load(&s->detached)) {
        svc__fail(c, "no process attached (the client detached): `context ROOT` needs the CPU's "
                     "memory; attach again first (GDB: attach 1)");
        return;
      }
      svc__discover(s);
      if (s->phys == SVC_PHYS_NONE) {
        svc__fail(c, "%s", svc__strerror(SVC_ENOBACK));
        return;
      }
      arch_ctx ctx;
      char err[200];
      if (svc__make_ctx(s, 1, root, 0, &ctx, err, sizeof(err))) {
        svc__fail(c, "%s", err);
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
          svc__fail(c, "ROOT 0x%llx: the top-level table cannot be read: %s",
                    (unsigned long long)root, svc__strerror(rc));
        else
          svc__fail(c, "ROOT 0x%llx: the top-level table at 0x%llx (%s) cannot be read: %s",
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
      svc__fail(c, "the cache has no room (--cache-size 0)");
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
    svc__fail(c, "unknown subcommand '%s' (on, off, flush, stats)", sub);
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
    if (svc__num(c, c->npos > 1 ? c->pos[1] : NULL, "LO", &lo) ||
        svc__num(c, c->npos > 2 ? c->pos[2] : NULL, "HI", &hi))
      return;
    if (hi <= lo) {
      svc__fail(c, "empty range 0x%llx-0x%llx (HI is exclusive)", (unsigned long long)lo,
                (unsigned long long)hi);
      return;
    }
    if (sub[0] == 'a') {
      if (s->nunc == SVC_MAX_UNCACHED) {
        svc__fail(c, "too many ranges (%d)", SVC_MAX_UNCACHED);
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
        svc__fail(c, "no range 0x%llx-0x%llx", (unsigned long long)lo, (unsigned long long)hi);
        return;
      }
    }
  } else if (strcmp(sub, "list")) {
    svc__fail(c, "unknown subcommand '%s' (add, del, list)", sub);
    return;
  } else if (svc__extra(c, 1)) {
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
        svc__fail(c,
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
    svc__out_json_str(s, s->td.arch_name);
    svc__outf(s, ",\"forced\":%s,\"mode\":", s->arch_forced ? "true" : "false");
    svc__out_json_str(s, rc ? "unknown" : arch_mode_name(ctx.mode));
    svc__outf(s, ",\"context\":");
    svc__out_json_str(s, rc ? err : cs);
    svc__outf(s, ",\"privilege\":");
    svc__out_json_str(s, priv);
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
      svc__fail(c, "unknown option '%s' (see `monitor help %s`)", svc__cut(t, cb, sizeof(cb)),
                c->name);
      return -1;
    } else if (!strcmp(t, "--all")) {
      c->all = 1;
    } else if (!strcmp(t, "--root")) {
      if (i + 1 >= a->n || svc__parse_num(a->tok[i + 1], &c->root)) {
        svc__fail(c, "--root needs a hex address%s%s%s", i + 1 < a->n ? " (not '" : "",
                  i + 1 < a->n ? svc__cut(a->tok[i + 1], cb, sizeof(cb)) : "",
                  i + 1 < a->n ? "')" : "");
        return -1;
      }
      c->has_root = 1;
      i++;
    } else if (!strcmp(t, "--width")) {
      uint64_t w;
      if (i + 1 >= a->n) {
        svc__fail(c, "--width needs 1, 2, 4 or 8");
        return -1;
      }
      if (svc__parse_num(a->tok[i + 1], &w) || (w != 1 && w != 2 && w != 4 && w != 8)) {
        svc__fail(c, "bad --width %s (1, 2, 4 or 8)", svc__cut(a->tok[i + 1], cb, sizeof(cb)));
        return -1;
      }
      c->width = (int)w;
      i++;
    } else if (!strcmp(t, "--max")) {
      if (i + 1 >= a->n || svc__parse_num(a->tok[i + 1], &c->max) || !c->max) {
        svc__fail(c, "--max needs a hex count of at least 1%s%s%s", i + 1 < a->n ? " (not '" : "",
                  i + 1 < a->n ? svc__cut(a->tok[i + 1], cb, sizeof(cb)) : "",
                  i + 1 < a->n ? "')" : "");
        return -1;
      }
      c->has_max = 1;
      i++;
    } else if (!strcmp(t, "--file")) {
      if (i + 1 >= a->n) {
        svc__fail(c, "--file needs a file name");
        return -1;
      }
      c->file = a->tok[++i];
    } else if (uopt) {
      if (i + 1 >= a->n) {
        svc__fail(c, "%s needs a value", t);
        return -1;
      }
      c->uw = atoi(t + 3) / 8;
      c->uval = a->tok[++i];
    } else if (t[0] == '-' && t[1] == '-') {
      svc__fail(c, "unknown option '%s' (see `monitor help %s`)", svc__cut(t, cb, sizeof(cb)),
                c->name);
      return -1;
    } else {
      c->pos[c->npos++] = t;
    }
  }
  return 0;
}

/* More positional arguments than the command takes: an error naming the
 * first one too many (never silently ignored). */
int svc__extra(cmd *c, int max) {
  if (c->npos <= max)
    return 0;
  char cb[48];
  svc__fail(c, "unexpected argument '%s' (see `monitor help %s`)",
            svc__cut(c->pos[max], cb, sizeof(cb)), c->name);
  return -1;
}

typedef struct {
  const char *name;
  void (*fn)(cmd *c);
} cmd_entry;

static const cmd_entry cmds[] = {
    {"vtop", cmd_vtop},   {"pte", cmd_pte},           {"phys", svc__cmd_phys},
    {"maps", cmd_maps},   {"ptov", cmd_ptov},         {"context", cmd_context},
    {"cache", cmd_cache}, {"uncached", cmd_uncached}, {"arch", cmd_arch},
    {"help", cmd_help},
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
      svc__fail(&c, "the command line is not valid hex in qRcmd");
    else if (n == -2)
      svc__fail(&c, "too many arguments (at most %d words)", SVC_MAX_TOK);
    else
      svc__fail(&c, "command line too long: %zu characters (the limit is %d)", len, SVC_LINE_MAX);
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
        svc__fail(&c,
                  "`%s` refused: --monitor none forwards no command to the target's monitor (the "
                  "bridge's own commands: monitor help)",
                  name);
      else
        svc__fail(&c,
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
  if (parse_opts(&c, &a, r.opts) == 0 && (r.maxpos < 0 || svc__extra(&c, r.maxpos) == 0)) {
    s->json_mode = c.json;
    if (r.needs_cpu && atomic_load(&s->detached))
      svc__fail(&c,
                "no process attached (the client detached): `%s` needs the CPU's registers and "
                "memory; attach again first (GDB: attach 1)",
                e->name);
    else
      e->fn(&c);
  }
  finish(s, &c);
}
