/* phys_cmds.c - the `phys` monitor commands: read (a hex dump, --json, or
 * the raw bytes saved with --file), write, fill, search, backend and map.
 * Physical accesses go through physical.c; QEMU's memory mode is restored
 * by the dispatcher (commands.c) after every command.  Worker thread. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "rsp.h"

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

/* PA and LEN, the arguments after read, fill and search: 0, or -1 after
 * the error. */
static int pa_len(cmd *c, uint64_t *pa, uint64_t *len) {
  if (svc__num(c, c->npos > 1 ? c->pos[1] : NULL, "PA", pa) ||
      svc__num(c, c->npos > 2 ? c->pos[2] : NULL, "LEN", len))
    return -1;
  return 0;
}

/* Creates NAME in --save-dir for writing: a plain name (no '/', not . or
 * ..), never an existing file, never through a symlink.  The fd, and the
 * directory's in *dfd (to remove NAME again); or -1 after the error, with
 * nothing left open. */
static int save_open(cmd *c, const char *name, int *dfd) {
  const char *dir = c->s->cfg.save_dir;
  char cb[48];
  if (!dir) {
    svc__fail(c, "--file: the bridge saves files only in the directory given with --save-dir DIR "
                 "(not given)");
    return -1;
  }
  size_t n = strlen(name);
  if (!n || n > 255 || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
    svc__fail(c, "--file '%s': a file name in %s expected (no '/')", svc__cut(name, cb, sizeof(cb)),
              dir);
    return -1;
  }
  *dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int fd = *dfd < 0
               ? -1
               : openat(*dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    int err = errno;
    if (*dfd >= 0)
      close(*dfd);
    svc__fail(c, "%s/%s: %s%s", dir, svc__cut(name, cb, sizeof(cb)), strerror(err),
              err == EEXIST ? " (files are never overwritten)" : "");
  }
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
  int dfd, fd = save_open(c, c->file, &dfd);
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
    if (!rc && svc__stop_requested(s))
      rc = SVC_EINTR;
  }
  free(buf);
  if (close(fd) && !werr)
    werr = errno;
  if (rc || werr)
    unlinkat(dfd, c->file, 0);
  close(dfd);
  char cb[48];
  const char *name = svc__cut(c->file, cb, sizeof(cb));
  if (rc || werr) {
    svc__fail(c, "%s/%s not saved (removed): %s at 0x%llx", dir, name,
              werr ? strerror(werr) : svc__strerror(rc), (unsigned long long)(pa + done));
    return;
  }
  if (c->json) {
    svc__outf(s, "{\"pa\":\"0x%llx\",\"len\":\"0x%llx\",\"file\":", (unsigned long long)pa,
              (unsigned long long)len);
    svc_sb path;
    svc__sb_init(&path);
    svc__sb_printf(&path, "%s/%s", dir, c->file);
    svc__out_json_str(s, path.p ? path.p : "");
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
  if (pa_len(c, &pa, &len))
    return;
  if (c->file) {
    if (c->width)
      svc__fail(c, "--width does not apply with --file (the file holds the raw bytes)");
    else if (!len || len > PHYS_MAX_SAVE || pa + len - 1 < pa)
      svc__fail(c, "LEN 0x%llx out of range (1..0x%llx, no wrap around)", (unsigned long long)len,
                (unsigned long long)PHYS_MAX_SAVE);
    else
      phys_save(c, pa, len);
    return;
  }
  int width = c->width ? c->width : 1;
  if (width != 1 && width != 2 && width != 4 && width != 8) {
    svc__fail(c, "bad --width %d (1, 2, 4 or 8)", width);
    return;
  }
  if (!len || len > PHYS_MAX_READ) {
    svc__fail(c, "LEN 0x%llx out of range (1..0x%x)", (unsigned long long)len, PHYS_MAX_READ);
    return;
  }
  if (pa + len < pa) {
    svc__fail(c, "range wraps around");
    return;
  }
  uint8_t *buf = malloc(PHYS_CHUNK);
  if (!buf) {
    svc__fail(c, "out of memory");
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
    if (svc__stop_requested(s)) {
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
      svc__out_json_str(s, msg);
      c->failed = 1;
    }
    svc__outf(s, "}\n");
    return;
  }
  if (rc)
    svc__fail(c, "read stopped at 0x%llx: %s", (unsigned long long)(pa + done), svc__strerror(rc));
}

static int pattern(cmd *c, const char *tok, uint8_t *buf, size_t cap) {
  if (!tok) {
    svc__fail(c, "missing PATTERN (hex bytes)");
    return -1;
  }
  /* Parsed whole first (a token is shorter than a command line), so that
   * a pattern too long is told from one that is not hex. */
  uint8_t tmp[sizeof(((svc_args *)0)->buf) / 2];
  char cb[48];
  int n = svc__parse_bytes(tok, tmp, sizeof(tmp));
  if (n <= 0) {
    svc__fail(c, "bad byte pattern '%s' (hex bytes expected, e.g. deadbeef)",
              svc__cut(tok, cb, sizeof(cb)));
    return -1;
  }
  if ((size_t)n > cap) {
    svc__fail(c, "byte pattern too long: %d bytes (max %zu)", n, cap);
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
    svc__out_json_str(c->s, msg);
    svc__outf(c->s, "}\n");
    c->failed = 1;
  } else {
    svc__fail(c, "%s", msg);
  }
}

static void phys_write(cmd *c) {
  svc *s = c->s;
  uint64_t pa;
  if (svc__num(c, c->npos > 1 ? c->pos[1] : NULL, "PA", &pa))
    return;
  uint8_t buf[PHYS_MAX_BYTES];
  int n;
  if (c->uw) {
    uint64_t v;
    if (svc__num(c, c->uval, "value", &v))
      return;
    if (c->uw < 8 && v >> (8 * c->uw)) {
      svc__fail(c, "value 0x%llx does not fit in %d bytes", (unsigned long long)v, c->uw);
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
    svc__fail(c, "range wraps around");
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
  if (pa_len(c, &pa, &len))
    return;
  uint8_t pat[PHYS_MAX_PATTERN];
  int pn = pattern(c, c->npos > 3 ? c->pos[3] : NULL, pat, sizeof(pat));
  if (pn <= 0)
    return;
  if (!len || len > PHYS_MAX_READ || pa + len - 1 < pa) {
    svc__fail(c, "LEN 0x%llx out of range (1..0x%x)", (unsigned long long)len, PHYS_MAX_READ);
    return;
  }
  uint8_t *buf = malloc(PHYS_CHUNK);
  if (!buf) {
    svc__fail(c, "out of memory");
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
    if (done < len && svc__stop_requested(s)) {
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
  if (pa_len(c, &pa, &len))
    return;
  uint8_t pat[PHYS_MAX_PATTERN];
  int pn = pattern(c, c->npos > 3 ? c->pos[3] : NULL, pat, sizeof(pat));
  if (pn <= 0)
    return;
  if (!len || pa + len - 1 < pa) {
    svc__fail(c, "bad range (LEN 0 or past the end of the address space)");
    return;
  }
  /* With a RAM map only RAM is read and a hole is crossed in one step, so
   * any length ends; without one each unread unit costs a round trip. */
  int bounded = ram_bounded(s);
  if (!bounded && len > PHYS_MAX_SEARCH_NOMAP) {
    svc__fail(c,
              "LEN 0x%llx too large without a RAM map (max 0x%llx; the %s backend does not know "
              "where RAM is)",
              (unsigned long long)len, PHYS_MAX_SEARCH_NOMAP, svc__phys_name(s));
    return;
  }
  size_t keep = (size_t)pn - 1;
  uint8_t *buf = malloc(PHYS_CHUNK + keep);
  if (!buf) {
    svc__fail(c, "out of memory");
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
    if (svc__stop_requested(s)) {
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
    if (svc__stop_requested(s)) {
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
      svc__out_json_str(s, svc__strerror(rc));
      c->failed = 1;
    }
    svc__outf(s, "}\n");
    return;
  }
  if (rc) {
    svc__fail(c, "stopped at 0x%llx: %s", (unsigned long long)(pa + pos), svc__strerror(rc));
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
        svc__fail(c, "the target does not list PhyMemMode in qqemu.Supported");
        return;
      }
      s->phys = SVC_PHYS_QEMU;
      s->phys_forced = 1;
    } else if (!strcmp(b, "offset")) {
      uint64_t off;
      if (svc__num(c, c->npos > 2 ? c->pos[2] : NULL, "OFF", &off))
        return;
      s->phys = SVC_PHYS_OFFSET;
      s->phys_off = off;
      s->phys_forced = 1;
    } else if (!strcmp(b, "none")) {
      s->phys = SVC_PHYS_NONE;
      s->phys_forced = 1;
    } else {
      svc__fail(c, "unknown backend '%s' (auto, qemu, offset OFF, none)", b);
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
    svc__fail(c, "physical memory map unknown (qemu backend only)");
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
      svc__out_json_str(s, r->name);
      svc__outf(s, "}");
    } else {
      svc__outf(s, "0x%016llx-0x%016llx %-4s %s\n", (unsigned long long)r->lo,
                (unsigned long long)r->hi, r->kind == 'r' ? "ram" : "i/o", r->name);
    }
  }
  if (c->json)
    svc__outf(s, "]}\n");
}

void svc__cmd_phys(cmd *c) {
  const char *sub = c->npos ? c->pos[0] : NULL;
  svc__discover(c->s);
  if (!sub) {
    svc__fail(c, "missing subcommand (read, write, fill, search, backend, map)");
    return;
  }
  if (!strcmp(sub, "backend")) {
    if (!svc__extra(c, c->npos > 1 && !strcmp(c->pos[1], "offset") ? 3 : 2))
      phys_backend(c);
    return;
  }
  if (!strcmp(sub, "map")) {
    if (!svc__extra(c, 1))
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
    svc__fail(c, "%s does not apply to `phys %s` (see `monitor help phys`)", bad, sub);
    return;
  }
  int maxpos = !strcmp(sub, "read") || !strcmp(sub, "write")    ? (c->uw ? 2 : 3)
               : !strcmp(sub, "fill") || !strcmp(sub, "search") ? 4
                                                                : 5;
  if (svc__extra(c, maxpos))
    return;
  if (c->s->phys == SVC_PHYS_NONE) {
    svc__fail(c, "%s", svc__strerror(SVC_ENOBACK));
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
    svc__fail(c, "unknown subcommand '%s' (read, write, fill, search, backend, map)", sub);
}
