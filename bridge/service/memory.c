/* memory.c - the client's own memory packets (m, M, X): served from the
 * cache while the target is stopped, or translated through a context root
 * (context ROOT, like .process /p).
 *
 * Reads follow ReadVirtual: fewer bytes than asked is success when at least
 * one byte was read; nothing read gives the target's error (E14 for QEMU).
 * Writes are write-through: the cache is updated only after the target's OK,
 * and every other unit is dropped because it may alias the written bytes.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsp.h"
#include "walk.h"

static void reply_data(svc *s, const uint8_t *buf, size_t n) {
  char *hex = malloc(2 * n + 1);
  if (!hex) {
    s->io->reply(s->ctx, "E0c", 3);
    return;
  }
  rsp_hex_encode(hex, 2 * n + 1, buf, n);
  s->io->reply(s->ctx, hex, 2 * n);
  free(hex);
}

/* Forwards a request unchanged and relays the reply; returns 1 for OK. */
typedef struct {
  svc *s;
  int ok;
} fwd_ctx;
static int on_fwd(void *arg, size_t i, const char *body, size_t len) {
  fwd_ctx *f = arg;
  (void)i;
  f->ok = len == 2 && body[0] == 'O' && body[1] == 'K';
  f->s->io->reply(f->s->ctx, body, len);
  return 0;
}
static int forward(svc *s, const char *body, size_t len) {
  fwd_ctx f = {s, -1};
  svc_req r = {body, len};
  int rc = svc__transact(s, &r, 1, on_fwd, &f);
  if (f.ok < 0) { /* no reply was delivered */
    s->io->reply(s->ctx, "E05", 3);
    return 0;
  }
  return rc ? 0 : f.ok;
}

/* ------------------------------------------------------------------------
 * Default context: virtual units cached under the selected thread. */

/* Replies with the n bytes read, or with the target's own error (E14 when
 * it gave none) if nothing was read. */
static void reply_read(svc *s, const uint8_t *buf, size_t n, const char *err) {
  if (n)
    reply_data(s, buf, n);
  else if (err && err[0])
    s->io->reply(s->ctx, err, strlen(err));
  else
    s->io->reply(s->ctx, "E14", 3);
}

static void read_default(svc *s, const char *body, size_t blen, uint64_t addr, uint64_t len) {
  if (svc__is_uncached(s, addr, len) || !atomic_load(&s->cache_on) || !s->cache.max) {
    /* Uncached: exactly what was asked, no read-ahead, in pieces the
     * target takes. */
    if (len <= atomic_load(&s->max_m)) {
      forward(s, body, blen);
      return;
    }
    uint8_t *out = malloc(len);
    if (!out) {
      s->io->reply(s->ctx, "E0c", 3);
      return;
    }
    svc_mrd r = {addr, (size_t)len, out, 0, 0, {0}};
    svc__mread(s, &r, 1, NULL, NULL);
    reply_read(s, out, r.got, r.err);
    free(out);
    return;
  }
  uint64_t as = svc__client_as(s);
  uint64_t first = addr & ~(uint64_t)(SVC_CPAGE - 1);
  uint64_t last = (addr + len - 1) & ~(uint64_t)(SVC_CPAGE - 1);
  size_t nunit = (size_t)((last - first) / SVC_CPAGE + 1);
  uint8_t(*units)[SVC_CPAGE] = malloc(nunit * sizeof(*units));
  size_t *have = calloc(nunit, sizeof(size_t)); /* valid bytes from the unit's start */
  svc_mrd *rd = calloc(nunit, sizeof(*rd));
  size_t *idx = calloc(nunit, sizeof(size_t));
  uint8_t *out = malloc(len);
  char err[8] = "";
  if (!units || !have || !rd || !idx || !out) {
    s->io->reply(s->ctx, "E0c", 3);
    goto done;
  }
  size_t nr = 0;
  for (size_t u = 0; u < nunit; u++) {
    const uint8_t *hit = svc__cache_get(&s->cache, as, first + u * SVC_CPAGE);
    if (hit) {
      memcpy(units[u], hit, SVC_CPAGE);
      have[u] = SVC_CPAGE;
      continue;
    }
    rd[nr].addr = first + u * SVC_CPAGE;
    rd[nr].len = SVC_CPAGE;
    rd[nr].buf = units[u];
    idx[nr++] = u;
  }
  if (nr) {
    unsigned gen = atomic_load(&s->gen);
    int rc = svc__mread(s, rd, nr, NULL, NULL);
    int fresh = !rc && gen == atomic_load(&s->gen);
    for (size_t k = 0; k < nr; k++) {
      have[idx[k]] = rd[k].got;
      if (rd[k].got == SVC_CPAGE && fresh)
        svc__cache_put(&s->cache, as, rd[k].addr, units[idx[k]]);
      if (!err[0] && rd[k].err[0])
        memcpy(err, rd[k].err, sizeof(err));
    }
  }
  /* ReadVirtual: the bytes from addr up to the first one that was not read. */
  size_t got = 0;
  for (size_t u = 0; u < nunit; u++) {
    uint64_t ua = first + u * SVC_CPAGE;
    uint64_t lo = ua < addr ? addr : ua;
    uint64_t hi = ua + SVC_CPAGE < addr + len ? ua + SVC_CPAGE : addr + len;
    if (ua + have[u] < hi)
      hi = ua + have[u] > lo ? ua + have[u] : lo;
    memcpy(out + (lo - addr), units[u] + (lo - ua), (size_t)(hi - lo));
    got = (size_t)(hi - addr);
    if (have[u] < SVC_CPAGE && ua + have[u] < addr + len)
      break;
  }
  reply_read(s, out, got, err);
done:
  free(units);
  free(have);
  free(rd);
  free(idx);
  free(out);
}

/* A client write larger than the target takes: M packets of the largest
 * payload it takes, one after the other, stopping at the first failure
 * (as GDB itself does).  Returns 1 when every part was acknowledged. */
static int write_split(svc *s, uint64_t addr, const uint8_t *data, size_t len) {
  size_t mw = atomic_load(&s->max_w);
  char *t = malloc(2 * mw + 64);
  if (!t) {
    s->io->reply(s->ctx, "E0c", 3);
    return 0;
  }
  char ans[16] = "";
  int ok = 1;
  for (size_t off = 0; off < len && ok; off += mw) {
    size_t n = len - off < mw ? len - off : mw;
    int l = rsp_format_M(t, 2 * mw + 64, addr + off, data + off, n);
    svc_req r = {t, l < 0 ? 0 : (size_t)l};
    svc_rep rep;
    if (l < 0 || svc__transact_copy(s, &r, 1, &rep)) {
      snprintf(ans, sizeof(ans), "E05");
      ok = 0;
      break;
    }
    ok = rep.len == 2 && !memcmp(rep.body, "OK", 2);
    if (!ok)
      snprintf(ans, sizeof(ans), "%.*s", (int)(rep.len < 15 ? rep.len : 15), rep.body);
    svc__reps_free(&rep, 1);
  }
  free(t);
  if (ok)
    s->io->reply(s->ctx, "OK", 2);
  else
    s->io->reply(s->ctx, ans[0] ? ans : "E14", strlen(ans[0] ? ans : "E14"));
  return ok;
}

/* ------------------------------------------------------------------------
 * Context: the bridge translates through s->ctx_root. */

typedef struct {
  arch_ctx ctx;
  int have;
  uint64_t page_va, page_pa, page_size; /* last translation */
  int page_ok;
} xl_cache;

static int xlate(svc *s, xl_cache *x, uint64_t va, uint64_t *pa, uint64_t *room) {
  if (!x->have) {
    char err[160];
    if (svc__make_ctx(s, 1, s->ctx_root, 0, &x->ctx, err, sizeof(err)))
      return -1;
    x->have = 1;
  }
  if (x->page_ok && va >= x->page_va && va - x->page_va < x->page_size) {
    *pa = x->page_pa + (va - x->page_va);
    *room = x->page_size - (va - x->page_va);
    return 0;
  }
  svc_walk w;
  svc__walk_init(&w, s);
  arch_xlate xl;
  int rc = arch_translate(&x->ctx, &w.mem, va, &xl);
  if (rc == ARCH_ENOPAGING) {
    *pa = va;
    *room = SVC_CPAGE - (va & (SVC_CPAGE - 1));
    return 0;
  }
  if (rc)
    return -1;
  x->page_ok = 1;
  x->page_va = va - (xl.pa - xl.page_pa);
  x->page_pa = xl.page_pa;
  x->page_size = xl.page_size;
  *pa = xl.pa;
  *room = x->page_size - (va - x->page_va);
  return 0;
}

static void read_context(svc *s, uint64_t addr, uint64_t len) {
  uint8_t *out = malloc(len);
  if (!out) {
    s->io->reply(s->ctx, "E0c", 3);
    return;
  }
  xl_cache x;
  memset(&x, 0, sizeof(x));
  size_t got = 0;
  while (got < len) {
    uint64_t pa, room;
    if (xlate(s, &x, addr + got, &pa, &room))
      break;
    size_t n = len - got < room ? (size_t)(len - got) : (size_t)room;
    size_t g = 0;
    int rc = svc__phys_read_cached(s, pa, out + got, n, &g);
    got += g;
    if (rc)
      break;
  }
  svc__phys_end(s);
  if (!got)
    s->io->reply(s->ctx, "E14", 3);
  else
    reply_data(s, out, got);
  free(out);
}

static void write_context(svc *s, uint64_t addr, const uint8_t *data, size_t len) {
  xl_cache x;
  memset(&x, 0, sizeof(x));
  size_t done = 0;
  int rc = 0;
  while (done < len) {
    uint64_t pa, room;
    if (xlate(s, &x, addr + done, &pa, &room)) {
      rc = SVC_ENOPAGE;
      break;
    }
    size_t n = len - done < room ? len - done : (size_t)room;
    rc = svc__phys_write(s, pa, data + done, n);
    if (rc)
      break;
    done += n;
  }
  svc__phys_end(s); /* svc__phys_write dropped every unit that may alias */
  if (rc == 0)
    s->io->reply(s->ctx, "OK", 2);
  else if (rc == SVC_EREADONLY)
    s->io->reply(s->ctx, "E01", 3);
  else
    s->io->reply(s->ctx, "E14", 3);
}

/* ------------------------------------------------------------------------ */

static void handle_mem(svc *s, const char *body, size_t len);

void svc__handle_mem(svc *s, const char *body, size_t len) {
  /* The first memory request of a connection learns the target; QEMU's
   * mode is put back to the client's if it is not known to be in it (the
   * mode is global: a stale 1 from an earlier session, a failed restore). */
  svc__discover(s);
  svc__phys_end(s);
  handle_mem(s, body, len);
  /* The scratch space holds tables only for the duration of one request. */
  svc__cache_flush(&s->scratch);
}

static void handle_mem(svc *s, const char *body, size_t len) {
  uint64_t addr, n;
  if (body[0] == 'm') {
    if (rsp_parse_m(body, len, &addr, &n) < 0) {
      s->io->reply(s->ctx, "E01", 3);
      return;
    }
    if (n == 0) {
      s->io->reply(s->ctx, "", 0);
      return;
    }
    if (n > atomic_load(&s->client_m))
      n = atomic_load(&s->client_m); /* a partial read, as ReadVirtual allows */
    if (addr + n < addr)
      n = 0 - addr;
    if (atomic_load(&s->ctx_on))
      read_context(s, addr, n);
    else
      read_default(s, body, len, addr, n);
    return;
  }
  /* M and X. */
  uint8_t *data = malloc(len + 1);
  if (!data) {
    s->io->reply(s->ctx, "E0c", 3);
    return;
  }
  int rc;
  const char *xdata = NULL;
  if (body[0] == 'M') {
    rc = rsp_parse_M(body, len, &addr, &n, data, len + 1);
  } else {
    rc = rsp_parse_X(body, len, &addr, &n, &xdata);
    if (rc >= 0 && n <= len)
      memcpy(data, xdata, (size_t)n);
  }
  if (rc < 0 || n > len) {
    free(data);
    s->io->reply(s->ctx, "E01", 3);
    return;
  }
  if (body[0] == 'X' && s->x_support < 0 && atomic_load(&s->ctx_on)) {
    /* GDB probes X once ("X addr,0:") and keeps the answer for the session:
     * the answer must be the target's in every context, or after `context
     * default` GDB sends X packets that QEMU (which has no X) ignores.  A
     * zero-length write is harmless to ask upstream. */
    char probe[48];
    int pn = snprintf(probe, sizeof(probe), "X%llx,0:", (unsigned long long)addr);
    char ans[16];
    svc_req r = {probe, (size_t)pn};
    svc_rep rep;
    if (svc__transact_copy(s, &r, 1, &rep) == 0) {
      snprintf(ans, sizeof(ans), "%.*s", (int)(rep.len < 15 ? rep.len : 15), rep.body);
      s->x_support = !strcmp(ans, "OK");
      svc__reps_free(&rep, 1);
    }
  }
  if (body[0] == 'X' && s->x_support == 0) {
    s->io->reply(s->ctx, "", 0); /* as the target answers: GDB falls back to M */
  } else if (atomic_load(&s->ctx_on)) {
    write_context(s, addr, data, (size_t)n);
  } else {
    uint64_t as = svc__client_as(s);
    int ok =
        n > atomic_load(&s->max_w) ? write_split(s, addr, data, (size_t)n) : forward(s, body, len);
    if (body[0] == 'X' && n == 0)
      s->x_support = ok; /* the target's own answer to GDB's probe */
    if (ok) {
      svc__cache_flush_except(&s->cache, as, addr, addr + n);
      svc__cache_update(&s->cache, as, addr, data, (size_t)n);
    } else {
      svc__cache_flush(&s->cache); /* X unsupported, or a partial write */
    }
  }
  free(data);
}
