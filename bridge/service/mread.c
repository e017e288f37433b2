/* mread.c - reading memory upstream in 'm' packets the target takes.
 *
 * Every read the service makes goes through svc__mread(): ranges are cut
 * into pieces of at most s->max_m bytes (half the target's PacketSize, as
 * GDB does), all pieces of one round go out pipelined in one transaction,
 * and a short reply is data, not an error (a stub may answer fewer bytes
 * than asked): the rest of such a range is asked again, from the first
 * missing byte, in a following round.  A round that makes no progress ends
 * the read; so does the target's error for the first missing byte.  The
 * following rounds ask in pieces no larger than the shortest answer, so a
 * stub with a small buffer costs one extra round trip per read, not one
 * per piece.
 */
#include <stdlib.h>
#include <string.h>

#include "rsp.h"
#include "svc_int.h"

/* Rounds of re-asking before a range that keeps coming back short is
 * given up (each round must also make progress). */
#define MAX_ROUNDS 64

typedef struct {
  svc_mrd *r;
  size_t *rng; /* request -> range index, (size_t)-1 for the prefix */
  size_t *off; /* request -> offset in its range */
  size_t *ask; /* request -> bytes asked */
  size_t *got; /* request -> bytes received */
  int *pre_ok;
} mr_ctx;

static int on_piece(void *arg, size_t i, const char *body, size_t len) {
  mr_ctx *c = arg;
  if (c->rng[i] == (size_t)-1) {
    if (c->pre_ok)
      *c->pre_ok = len == 2 && body[0] == 'O' && body[1] == 'K';
    return 0;
  }
  svc_mrd *r = &c->r[c->rng[i]];
  int code;
  const char *msg;
  size_t ml;
  c->got[i] = 0;
  if (len && len % 2 == 0 && len <= 2 * c->ask[i] &&
      rsp_hex_decode(r->buf + c->off[i], c->ask[i], body, len) == (int)(len / 2)) {
    c->got[i] = len / 2;
  } else if (rsp_parse_error(body, len, &code, &msg, &ml) == 1) {
    if (!r->err[0]) {
      size_t n = len < sizeof(r->err) - 1 ? len : sizeof(r->err) - 1;
      memcpy(r->err, body, n);
      r->err[n] = 0;
    }
  }
  return 0;
}

int svc__mread(svc *s, svc_mrd *r, size_t n, const char *pre, int *pre_ok) {
  size_t piece = atomic_load(&s->max_m);
  if (piece == 0)
    piece = SVC_MAX_M;
  for (size_t k = 0; k < n; k++) {
    r[k].got = 0;
    r[k].err[0] = 0;
    r[k].rc = r[k].len ? SVC_EIO : SVC_OK;
  }
  if (pre_ok)
    *pre_ok = 0;
  int result = 0;
  for (int round = 0; round < MAX_ROUNDS; round++) {
    size_t nreq = pre ? 1 : 0;
    for (size_t k = 0; k < n; k++)
      if (r[k].rc == SVC_EIO && r[k].got < r[k].len)
        nreq += (r[k].len - r[k].got + piece - 1) / piece;
    if (nreq == (pre ? 1u : 0u))
      break;
    svc_req *reqs = calloc(nreq, sizeof(*reqs));
    char *texts = malloc(nreq * 48);
    size_t *idx = malloc(4 * nreq * sizeof(size_t));
    if (!reqs || !texts || !idx) {
      free(reqs);
      free(texts);
      free(idx);
      return SVC_ENOMEM;
    }
    mr_ctx c = {r, idx, idx + nreq, idx + 2 * nreq, idx + 3 * nreq, pre_ok};
    size_t q = 0;
    if (pre) {
      reqs[q].body = pre;
      reqs[q].len = strlen(pre);
      c.rng[q++] = (size_t)-1;
      pre = NULL; /* once, in the first round */
    }
    for (size_t k = 0; k < n; k++) {
      if (r[k].rc != SVC_EIO)
        continue;
      for (size_t o = r[k].got; o < r[k].len; o += piece) {
        size_t ask = r[k].len - o < piece ? r[k].len - o : piece;
        char *t = texts + q * 48;
        reqs[q].body = t;
        reqs[q].len = (size_t)rsp_format_m(t, 48, r[k].addr + o, ask);
        c.rng[q] = k;
        c.off[q] = o;
        c.ask[q] = ask;
        c.got[q] = 0;
        q++;
      }
    }
    int rc = svc__transact(s, reqs, q, on_piece, &c);
    /* Each range advances over its contiguous pieces, in request order. */
    size_t progress = 0;
    for (size_t i = 0; i < q; i++) {
      if (c.rng[i] == (size_t)-1)
        continue;
      svc_mrd *m = &r[c.rng[i]];
      if (c.off[i] != m->got)
        continue; /* after a gap: asked again next round */
      m->got += c.got[i];
      progress += c.got[i];
      if (c.got[i] && c.got[i] < c.ask[i] && c.got[i] < piece)
        piece = c.got[i]; /* the most this stub answers: ask no more next round */
      if (c.got[i] == 0)
        m->rc = SVC_ETARGET; /* the target's error (or nonsense) for the first missing byte */
    }
    free(reqs);
    free(texts);
    free(idx);
    for (size_t k = 0; k < n; k++)
      if (r[k].got == r[k].len)
        r[k].rc = SVC_OK;
    if (rc) {
      result = SVC_EIO;
      break;
    }
    if (!progress)
      break;
  }
  for (size_t k = 0; k < n; k++)
    if (r[k].rc == SVC_EIO && !result)
      r[k].rc = SVC_ETARGET; /* gave up on a range that kept coming back short */
  return result;
}
