/* physical.c - physical-memory backends (qemu, offset, none) and the
 * physical side of the cache.
 *
 * qemu: Qqemu.PhyMemMode:1 is sent in front of the first batch of a command
 * and the client's own mode (0 unless it chose physical mode itself) by
 * svc__phys_end(), which svc_handle() calls on every path before replying,
 * so the mode is always restored, also when a read fails midway.  When the
 * restore fails (a stalled target), the mode is unknown: every client
 * memory request goes through the worker, which restores it first.  Reads
 * of addresses outside the RAM map are answered "no physical page" without
 * asking the target (QEMU would return zeros).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsp.h"
#include "svc_int.h"

const char *svc__strerror(int rc) {
  switch (rc) {
  case SVC_OK:
    return "ok";
  case SVC_ENOPAGE:
    return "no physical page";
  case SVC_EMMIO:
    return "I/O region, not read";
  case SVC_ETARGET:
    return "target error";
  case SVC_EIO:
    return "target connection failed";
  case SVC_ENOBACK:
    return "no physical-memory backend (use `monitor phys backend qemu` with QEMU, or "
           "`phys backend offset OFF` when physical memory is mapped at PA+OFF)";
  case SVC_EINTR:
    return "interrupted";
  case SVC_ENOMEM:
    return "out of memory";
  case SVC_EREADONLY:
    return "the bridge is read-only (--read-only)";
  default:
    return "error";
  }
}

const char *svc__phys_name(const svc *s) {
  switch (s->phys) {
  case SVC_PHYS_QEMU:
    return "qemu";
  case SVC_PHYS_OFFSET:
    return "offset";
  default:
    return "none";
  }
}

int svc__is_uncached(const svc *s, uint64_t lo, uint64_t len) {
  uint64_t hi = lo + len; /* exclusive; wrap is clamped */
  if (hi < lo)
    hi = ~0ull;
  for (int i = 0; i < s->nunc; i++)
    if (lo < s->unc[i].hi && s->unc[i].lo < hi)
      return 1;
  return 0;
}

/* How many of the max bytes from a are RAM (contiguous RAM/ROM regions of
 * the map).  When fewer, *why says what is at a + the result. */
uint64_t svc__ram_span(const svc *s, uint64_t a, uint64_t max, int *why) {
  *why = SVC_OK;
  if (s->phys != SVC_PHYS_QEMU || !max)
    return max;
  uint64_t lim = max;
  if (s->td.arch == SVC_ARCH_X86) {
    if (a >> 32) {
      *why = SVC_ENOPAGE;
      return 0;
    }
    if (lim > (1ull << 32) - a)
      lim = (1ull << 32) - a;
  }
  if (!s->ram_known) {
    if (lim < max)
      *why = SVC_ENOPAGE;
    return lim;
  }
  uint64_t n = 0;
  while (n < lim) {
    const svc_region *r = svc__ram_find(s, a + n);
    if (!r || r->kind != 'r') {
      *why = r ? SVC_EMMIO : SVC_ENOPAGE;
      return n;
    }
    uint64_t room = r->hi - (a + n) + 1; /* 0: the region ends at 2^64 */
    if (!room || room >= lim - n) {
      n = lim;
      break;
    }
    n += room;
  }
  if (lim < max)
    *why = SVC_ENOPAGE;
  return n;
}

/* Checks [pa, pa+len) against the RAM map (qemu backend). */
static int ram_check(const svc *s, uint64_t pa, size_t len) {
  int why;
  return svc__ram_span(s, pa, len, &why) == len ? SVC_OK : why;
}

int svc__phys_read(svc *s, svc_prd *rds, size_t n) {
  if (!n)
    return 0;
  if (s->phys == SVC_PHYS_NONE) {
    for (size_t i = 0; i < n; i++)
      rds[i].rc = SVC_ENOBACK;
    return SVC_ENOBACK;
  }
  svc_mrd *m = calloc(n, sizeof(*m));
  size_t *map = calloc(n, sizeof(*map));
  if (!m || !map) {
    free(m);
    free(map);
    return SVC_ENOMEM;
  }
  size_t nm = 0;
  for (size_t i = 0; i < n; i++) {
    rds[i].rc = ram_check(s, rds[i].pa, rds[i].len);
    if (rds[i].rc || svc__local_try(s, &rds[i]))
      continue;
    m[nm].addr = rds[i].pa + (s->phys == SVC_PHYS_OFFSET ? s->phys_off : 0);
    m[nm].len = rds[i].len;
    m[nm].buf = rds[i].buf;
    map[nm++] = i;
  }
  const char *pre = NULL;
  int pre_ok = 1;
  int want = s->phys == SVC_PHYS_QEMU; /* offset: virtual reads */
  if (nm && s->tmode != want && (want || s->qemu_phys || s->mode_touched)) {
    pre = want ? "Qqemu.PhyMemMode:1" : "Qqemu.PhyMemMode:0";
    s->tmode = -1; /* known again once answered; svc__phys_end() restores */
    s->mode_touched = 1;
  }
  int rc = nm ? svc__mread(s, m, nm, pre, pre ? &pre_ok : NULL) : 0;
  if (pre && pre_ok)
    s->tmode = want;
  svc__mode_publish(s);
  for (size_t k = 0; k < nm; k++) {
    svc_prd *r = &rds[map[k]];
    if (!pre_ok)
      r->rc = SVC_EIO; /* read in the wrong mode: discard */
    else if (m[k].rc == SVC_OK)
      r->rc = SVC_OK;
    else
      r->rc = rc ? SVC_EIO : SVC_ETARGET; /* a partial physical read is not trusted */
  }
  free(m);
  free(map);
  return rc ? SVC_EIO : 0;
}

void svc__mode_publish(svc *s) {
  unsigned ev = s->seen_mode_ev;
  atomic_store(&s->cmode_pub, s->cmode);
  atomic_store(&s->mode_ok, s->tmode == s->cmode ? ev : ev - 1);
}

int svc__mode_set(svc *s, int m) {
  if (s->tmode == m)
    return 0;
  if (s->discovered && !s->qemu_phys && !s->mode_touched) {
    s->tmode = m; /* the target has no such mode: it is in every mode */
    svc__mode_publish(s);
    return 0;
  }
  char req[24], buf[16];
  snprintf(req, sizeof(req), "Qqemu.PhyMemMode:%d", m);
  s->tmode = -1; /* until the answer says otherwise */
  s->mode_touched = 1;
  int n = svc__simple(s, req, buf, sizeof(buf));
  int rc = 0;
  if (n == 2 && !strcmp(buf, "OK")) {
    s->tmode = m;
  } else if (n == 0 && !s->qemu_phys) {
    s->tmode = m; /* not QEMU (empty answer): no mode to restore */
  } else {
    svc__log(s, 0,
             "could not put QEMU's memory mode back to %s (%s): retried before the next "
             "memory request",
             m ? "physical" : "virtual", n < 0 ? "no answer" : buf);
    rc = SVC_EIO;
  }
  svc__mode_publish(s);
  return rc;
}

int svc__phys_end(svc *s) {
  return svc__mode_set(s, s->cmode);
}

svc_cache *svc__pcache(svc *s) {
  if (atomic_load(&s->cache_on) && s->cache.max)
    return &s->cache;
  return s->scratch.max ? &s->scratch : NULL;
}

/* Batch size of one pipelined transaction of cache fills. */
#define FILL_BATCH 128

int svc__phys_read_cached(svc *s, uint64_t pa, uint8_t *buf, size_t len, size_t *got) {
  *got = 0;
  if (!len)
    return 0;
  if ((s->bulk || len >= 0x10000) && svc__local_bulk(s, pa, buf, len, got))
    return SVC_OK; /* local backend: one read from QEMU's memory */
  /* Allocated on the first miss only: hits (every table read of a warm
   * walk) cost no allocation. */
  uint8_t(*tmp)[SVC_CPAGE] = NULL;
  int result = SVC_OK;
  size_t done = 0;
  svc_cache *pc = svc__pcache(s);
  while (done < len && result == SVC_OK) {
    /* Plan up to FILL_BATCH reads covering the next stretch. */
    svc_prd rd[FILL_BATCH];
    size_t from[FILL_BATCH], cnt[FILL_BATCH], off[FILL_BATCH];
    const uint8_t *hit[FILL_BATCH];
    int nplan = 0, nrd = 0;
    int rdidx[FILL_BATCH];
    size_t pos = done;
    while (pos < len && nplan < FILL_BATCH) {
      uint64_t a = pa + pos;
      uint64_t unit = a & ~(uint64_t)(SVC_CPAGE - 1);
      size_t o = (size_t)(a - unit);
      size_t n = SVC_CPAGE - o;
      if (n > len - pos)
        n = len - pos;
      from[nplan] = pos;
      cnt[nplan] = n;
      off[nplan] = o;
      hit[nplan] = NULL;
      rdidx[nplan] = -1;
      int unc = svc__is_uncached(s, unit, SVC_CPAGE);
      if (!unc && pc)
        hit[nplan] = svc__cache_get(pc, SVC_AS_PHYS, unit);
      if (!hit[nplan]) {
        if (!tmp && !(tmp = malloc(FILL_BATCH * sizeof(*tmp)))) {
          *got = done;
          return SVC_ENOMEM;
        }
        rd[nrd].pa = unc ? a : unit; /* uncached: exactly the bytes asked, no read-ahead */
        rd[nrd].len = unc ? n : SVC_CPAGE;
        rd[nrd].buf = tmp[nrd];
        rd[nrd].rc = 0;
        rdidx[nplan] = nrd++;
      }
      nplan++;
      pos += n;
    }
    unsigned gen = atomic_load(&s->gen);
    int rc = svc__phys_read(s, rd, (size_t)nrd);
    int fresh = gen == atomic_load(&s->gen);
    for (int i = 0; i < nplan; i++) {
      const uint8_t *src;
      if (rdidx[i] < 0) {
        src = hit[i] + off[i];
      } else {
        svc_prd *r = &rd[rdidx[i]];
        if (r->rc) {
          result = r->rc;
          break;
        }
        if (r->len == SVC_CPAGE) {
          if (fresh && pc && !s->bulk)
            svc__cache_put(pc, SVC_AS_PHYS, r->pa, r->buf);
          src = r->buf + off[i];
        } else {
          src = r->buf;
        }
      }
      memcpy(buf + from[i], src, cnt[i]);
      done = from[i] + cnt[i];
    }
    if (result == SVC_OK && rc)
      result = rc;
    if (result == SVC_OK && s->io->interrupted && s->io->interrupted(s->ctx))
      result = SVC_EINTR;
  }
  free(tmp);
  *got = done;
  return result;
}

typedef struct {
  int *ok; /* per request: the target answered OK */
} wr_ctx;

static int on_write(void *arg, size_t i, const char *body, size_t len) {
  wr_ctx *c = arg;
  c->ok[i] = len == 2 && body[0] == 'O' && body[1] == 'K';
  return 0;
}

int svc__phys_write(svc *s, uint64_t pa, const uint8_t *buf, size_t len) {
  if (s->cfg.read_only)
    return SVC_EREADONLY;
  if (s->phys == SVC_PHYS_NONE)
    return SVC_ENOBACK;
  if (!len)
    return 0;
  int rc = ram_check(s, pa, len);
  if (rc)
    return rc;
  size_t mw = atomic_load(&s->max_w);
  size_t nchunk = (len + mw - 1) / mw;
  size_t cap = 2 * mw + 64;
  svc_req *reqs = calloc(nchunk + 1, sizeof(*reqs));
  char *texts = malloc((nchunk + 1) * cap);
  int *ok = calloc(nchunk + 1, sizeof(int));
  if (!reqs || !texts || !ok) {
    free(reqs);
    free(texts);
    free(ok);
    return SVC_ENOMEM;
  }
  size_t nr = 0;
  int want = s->phys == SVC_PHYS_QEMU, pre = 0;
  if (s->tmode != want && (want || s->qemu_phys || s->mode_touched)) {
    reqs[nr].body = want ? "Qqemu.PhyMemMode:1" : "Qqemu.PhyMemMode:0";
    reqs[nr].len = strlen(reqs[nr].body);
    nr++;
    pre = 1;
    s->tmode = -1;
    s->mode_touched = 1;
  }
  for (size_t off = 0; off < len; off += mw) {
    size_t n = len - off < mw ? len - off : mw;
    uint64_t a = pa + off + (s->phys == SVC_PHYS_OFFSET ? s->phys_off : 0);
    char *t = texts + nr * cap;
    int l = rsp_format_M(t, cap, a, buf + off, n);
    if (l < 0) {
      free(reqs);
      free(texts);
      free(ok);
      return SVC_EIO;
    }
    reqs[nr].body = t;
    reqs[nr].len = (size_t)l;
    nr++;
  }
  wr_ctx c = {ok};
  int trc = svc__transact(s, reqs, nr, on_write, &c);
  if (pre && !trc && ok[0])
    s->tmode = want;
  svc__mode_publish(s);
  int all = !trc;
  for (size_t i = 0; i < nr; i++)
    all = all && ok[i];
  if (all) {
    /* Acknowledged: other units may alias these bytes, so they go; the
     * written units are updated in place. */
    svc__cache_flush_except(&s->cache, SVC_AS_PHYS, pa, pa + len);
    svc__cache_update(&s->cache, SVC_AS_PHYS, pa, buf, len);
    svc__cache_flush_except(&s->scratch, SVC_AS_PHYS, pa, pa + len);
    svc__cache_update(&s->scratch, SVC_AS_PHYS, pa, buf, len);
  } else {
    svc__cache_flush(&s->cache); /* some bytes may have been written */
    svc__cache_flush(&s->scratch);
  }
  free(reqs);
  free(texts);
  free(ok);
  if (trc)
    return SVC_EIO;
  return all ? 0 : SVC_ETARGET;
}
