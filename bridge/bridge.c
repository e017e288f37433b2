/* bridge.c - the sides' I/O (framing, acks, output buffers, reading), the
 * worker thread that runs the service, and the lifecycle (br_init,
 * br_start, br_close).  The rest of the core: client.c, upstream.c,
 * target.c (file map and threading rules in README.md).
 *
 * How it behaves, in short:
 * - Each side has its own parser and its own ack state.  The client may
 *   switch to no-ack mode (answered here); the target side stays in ack
 *   mode and the bridge acks and checks it.  The ack for a target reply
 *   rides with the next request (or goes alone after 1 ms).
 * - Upstream is a FIFO of requests, each answered in order: client
 *   requests (pipelined as the client sends them), the worker's
 *   (pipelined up to BR_WORKER_WINDOW) and the bridge's own.  'O' console
 *   packets do not complete a request; a stop reply that cannot be the
 *   answer is dropped; notifications and replies nobody asked for go to
 *   the client as they come.
 * - A request unanswered for timeout_ms (a resume only after a ^C) fails
 *   with an error reply; its late reply is recognised by its place in the
 *   FIFO and dropped.
 * - The target connection lives with the client: made when a client
 *   arrives, closed (after what was written went out) when it leaves, so
 *   each client gets what a direct connection would give it.  A lost
 *   connection fails what is in flight, is re-made per the reconnect
 *   policy and the session's setup (qSupported, target description) is
 *   replayed.
 *
 * References are to the GDB manual, appendix "Remote Serial Protocol".
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include "bridge.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "br_int.h"

/* Reasons of error replies (see br__client_fail). */
const char *const br__why_lost = "target connection lost";
const char *const br__why_noconn = "target not connected";

/* ------------------------------------------------------------------------
 * Small helpers.
 */

int br__buf_reserve(br_buf *b, size_t extra) {
  /* Allocates even for 0 bytes: an empty body is copied to b->p + len. */
  if (b->p && b->cap - b->len >= extra)
    return 0;
  size_t want = b->cap ? b->cap : 4096;
  while (want - b->len < extra)
    want *= 2;
  char *p = realloc(b->p, want);
  if (!p)
    return UV_ENOMEM;
  b->p = p;
  b->cap = want;
  return 0;
}

static int buf_append(br_buf *b, const void *d, size_t n) {
  if (br__buf_reserve(b, n))
    return UV_ENOMEM;
  memcpy(b->p + b->len, d, n);
  b->len += n;
  return 0;
}

static void buf_free(br_buf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

int br__eq(const char *b, size_t len, const char *s) {
  size_t n = strlen(s);
  return len == n && memcmp(b, s, n) == 0;
}

/* Requests whose reply is a stop reply that comes when the target stops
 * (proto/classify.c: c, C, s, S, i, I, vCont with actions, vRun, vAttach,
 * and the client's File-I/O answer "Fretcode,errno,C", which resumes the
 * target it answers). */
int br__is_resume(const char *b, size_t len) {
  return rsp_classify_request(b, len, NULL) == RSP_REQ_RESUME;
}

/* ------------------------------------------------------------------------
 * Output: per-side accumulation buffer, one write in flight, try_write
 * first.  Everything queued while handling one read is written with one
 * system call at the end of the callback.
 */

static void side_fail(br__side *s, int err);
static void worker_poll(br_t *br);

static int side_writable(br__side *s) {
  br_t *br = s->br;
  if (br->closing)
    return 0;
  if (s->client)
    return s->up;
  /* Requests may queue while the first connection is being made; a lost
   * connection fails them (br__target_lost) and new ones are refused. */
  return 1;
}

static size_t side_out(const br__side *s) {
  return s->acc.len + s->fly.len;
}

static void side_reading(br__side *s, int pause, int resume) {
  if (pause && s->up && !s->paused) {
    uv_read_stop(s->rd);
    s->paused = 1;
    br__log_rl(s->br, 2, "pausing %s (output not drained)", s->name);
  } else if (resume && s->paused) {
    s->paused = 0;
    if (s->up && !s->br->closing)
      uv_read_start(s->rd, br__alloc_cb, br__read_cb);
  }
}

/* Back-pressure, with hysteresis (pause above BR_HIGH_WATER, resume at
 * half).  The target's input becomes output to the client; the client's
 * input becomes output to the target and also to the client itself
 * (replies the bridge makes: acks, cached reads, refusals), so a client
 * that never reads is not read either, and memory stays bounded. */
void br__flow_check(br_t *br) {
  size_t c = side_out(br->c), t = side_out(&br->t);
  const size_t hi = BR_HIGH_WATER, lo = BR_HIGH_WATER / 2;
  /* Requests queued behind a busy pipe count too. */
  size_t pb = br->pend.len - br->pend_off;
  int pend_hi = br->pend_count > BR_PEND_MAX || pb > BR_PEND_BYTES;
  int pend_lo = br->pend_count <= BR_PEND_MAX / 2 && pb <= BR_PEND_BYTES / 2;
  side_reading(br->c, c > hi || t > hi || pend_hi, c <= lo && t <= lo && pend_lo);
  side_reading(&br->t, c > hi, c <= lo);
}

/* An observer's output holds back only its own reading. */
static int is_observer(br__side *s) {
  return s->client && s != s->br->c;
}

static void side_pause_check(br__side *s) {
  if (side_out(s) > BR_HIGH_WATER) {
    if (is_observer(s))
      side_reading(s, 1, 0);
    else
      br__flow_check(s->br);
  }
}

static void side_resume_check(br__side *s) {
  if (side_out(s) <= BR_HIGH_WATER / 2) {
    if (is_observer(s))
      side_reading(s, 0, ((br__sess *)s)->q_count <= BR_PEND_MAX / 2);
    else
      br__flow_check(s->br);
  }
}

int br__side_raw(br__side *s, const char *d, size_t n) {
  if (!side_writable(s))
    return UV_ENOTCONN;
  if (buf_append(&s->acc, d, n))
    return UV_ENOMEM;
  side_pause_check(s);
  return 0;
}

static const char *dir_out(br__side *s) {
  return s == &s->br->t ? "b>t" : s == s->br->c ? "b>c" : "b>o";
}

/* The same frame rsp_encode() builds without RLE, on the hot path
 * ("Binary Data": '$', '#', '}' and '*' are escaped).  Replies are mostly
 * long hex runs: with SSE2, 16 bytes are checked, copied and summed at
 * once.  out has room for RSP_FRAME_MAX(len) bytes. */
static size_t frame_encode(char *out, const char *body, size_t len, int notify) {
  static const char hex[] = "0123456789abcdef";
  const uint8_t *b = (const uint8_t *)body;
  size_t o = 1, i = 0;
  unsigned sum = 0;
  out[0] = notify ? '%' : '$';
#if defined(__SSE2__)
  const __m128i c1 = _mm_set1_epi8('$'), c2 = _mm_set1_epi8('#'), c3 = _mm_set1_epi8('}'),
                c4 = _mm_set1_epi8('*'), zero = _mm_setzero_si128();
  __m128i acc = zero;
  while (len - i >= 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(b + i));
    __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, c1), _mm_cmpeq_epi8(v, c2)),
                               _mm_or_si128(_mm_cmpeq_epi8(v, c3), _mm_cmpeq_epi8(v, c4)));
    if (_mm_movemask_epi8(hit))
      break;
    _mm_storeu_si128((__m128i *)(out + o), v);
    acc = _mm_add_epi64(acc, _mm_sad_epu8(v, zero));
    o += 16;
    i += 16;
  }
  sum += (unsigned)_mm_cvtsi128_si32(acc) + (unsigned)_mm_cvtsi128_si32(_mm_srli_si128(acc, 8));
#endif
  for (; i < len; i++) {
    uint8_t c = b[i];
    if (c == '$' || c == '#' || c == '}' || c == '*') {
      out[o++] = '}';
      c ^= 0x20;
      sum += '}';
    }
    out[o++] = (char)c;
    sum += c;
  }
  out[o++] = '#';
  out[o++] = hex[(sum >> 4) & 0xf];
  out[o++] = hex[sum & 0xf];
  return o;
}

int br__side_send(br__side *s, const char *body, size_t len, unsigned flags) {
  if (!side_writable(s))
    return UV_ENOTCONN;
  if (s == &s->br->t)
    br__ack_flush(s->br);
  size_t need = RSP_FRAME_MAX(len);
  if (br__buf_reserve(&s->acc, need))
    return UV_ENOMEM;
  int n = (int)frame_encode(s->acc.p + s->acc.len, body, len, (flags & RSP_ENC_NOTIFY) != 0);
  if (!(flags & RSP_ENC_NOTIFY) && (size_t)n <= sizeof(s->last)) {
    memcpy(s->last, s->acc.p + s->acc.len, (size_t)n);
    s->last_len = (size_t)n;
    s->naks = 0;
  }
  s->acc.len += (size_t)n;
  br__trace(s->br, dir_out(s), (flags & RSP_ENC_NOTIFY) ? "%" : "$", body, len);
  side_pause_check(s);
  return 0;
}

/* Queues the held-back ack to the target, if any. */
void br__ack_flush(br_t *br) {
  if (!br->t_ack_pending)
    return;
  br->t_ack_pending = 0;
  uv_timer_stop(&br->ack_timer);
  br__side_raw(&br->t, "+", 1);
}

static void ack_timer_cb(uv_timer_t *t) {
  br_t *br = t->data;
  if (br->closing)
    return;
  br__ack_flush(br);
  br__flush_all(br);
}

/* QEMU does not wait for acks, but a stub in ack mode may: the ack is
 * only held for a millisecond. */
void br__ack_later(br_t *br) {
  if (br->t_ack_pending)
    return;
  br->t_ack_pending = 1;
  uv_timer_start(&br->ack_timer, ack_timer_cb, 1, 0);
}

static void write_cb(uv_write_t *req, int status);

void br__side_flush(br__side *s) {
  br_t *br = s->br;
  if (br->closing || !s->up || s->writing || s->acc.len == 0)
    return;
  uv_buf_t b = uv_buf_init(s->acc.p, (unsigned)s->acc.len);
  int n = uv_try_write(s->wr, &b, 1);
  if (n == UV_EAGAIN || n == UV_ENOSYS)
    n = 0;
  if (n < 0) {
    side_fail(s, n);
    return;
  }
  if ((size_t)n == s->acc.len) {
    s->acc.len = 0;
    side_resume_check(s);
    return;
  }
  br_buf tmp = s->fly;
  s->fly = s->acc;
  s->acc = tmp;
  s->acc.len = 0;
  b = uv_buf_init(s->fly.p + n, (unsigned)(s->fly.len - (size_t)n));
  s->wreq.data = s;
  int rc = uv_write(&s->wreq, s->wr, &b, 1, write_cb);
  if (rc < 0) {
    s->fly.len = 0;
    side_fail(s, rc);
    return;
  }
  s->writing = 1;
}

static void br__pump_worker_output(br_t *br);

static void write_cb(uv_write_t *req, int status) {
  br__side *s = req->data;
  s->writing = 0;
  s->fly.len = 0;
  if (status == UV_ECANCELED || s->br->closing)
    return;
  if (status < 0) {
    side_fail(s, status);
    return;
  }
  br__side_flush(s);
  side_resume_check(s);
  if (s->client) /* the worker's output may wait for this side */
    worker_poll(s->br);
  br__flush_all(s->br);
}

void br__flush_all(br_t *br) {
  br__side_flush(&br->t);
  for (br__sess *o = br->sessions; o; o = o->next)
    br__side_flush(&o->s);
  if (br->cfg.trace)
    fflush(br->cfg.trace);
}

/* ------------------------------------------------------------------------
 * Handles.
 */

/* The handles the core keeps from br_start() to its close: the timers
 * first (N_CORE_TIMERS of them), then the async, idle and check. */
enum { N_CORE_TIMERS = 6, N_CORE_HANDLES = 9 };

static void core_handles(br_t *br, uv_handle_t *hs[N_CORE_HANDLES]) {
  uv_handle_t *list[N_CORE_HANDLES] = {
      (uv_handle_t *)&br->retry_timer, (uv_handle_t *)&br->req_timer,
      (uv_handle_t *)&br->ack_timer,   (uv_handle_t *)&br->fin_timer,
      (uv_handle_t *)&br->xlinger,     (uv_handle_t *)&br->pz_timer,
      (uv_handle_t *)&br->async,       (uv_handle_t *)&br->spin,
      (uv_handle_t *)&br->accept_check};
  memcpy(hs, list, sizeof(list));
}

static void handle_closed(uv_handle_t *h) {
  br_t *br = h->data;
  br->open_handles--;
  br__maybe_finish_close(br);
}

void br__close_handle(br_t *br, uv_handle_t *h, uv_close_cb cb) {
  (void)br;
  if (!uv_is_closing(h))
    uv_close(h, cb);
}

/* ------------------------------------------------------------------------
 * Worker side of the loop.
 */

static void wtx_finish(br_t *br, br__wtx *tx) {
  /* Under mtx. */
  tx->done = 1;
  if (br->ltx == tx)
    br->ltx = NULL;
  uv_cond_broadcast(&br->cond);
}

void br__wtx_fail(br_t *br, int status) {
  uv_mutex_lock(&br->mtx);
  br__wtx *tx = br->ltx;
  if (tx) {
    tx->status = status;
    wtx_finish(br, tx);
  }
  uv_mutex_unlock(&br->mtx);
}

/* A reply (final) or console output (not final) for worker request idx. */
void br__wtx_reply(br_t *br, uint32_t idx, const char *body, size_t len, int final) {
  uv_mutex_lock(&br->mtx);
  br__wtx *tx = br->ltx;
  if (tx && !final && br->rx.len + len > BR_HIGH_WATER) {
    /* Console output without end: dropped, memory stays bounded; the
     * transaction fails once its replies are in. */
    tx->status = UV_ENOBUFS;
    tx = NULL;
  }
  if (tx) {
    if (br->rxe_len == br->rxe_cap) {
      size_t nc = br->rxe_cap ? 2 * br->rxe_cap : 64;
      struct br__rxent *ne = realloc(br->rxe, nc * sizeof(*ne));
      if (!ne) {
        tx->status = UV_ENOMEM;
      } else {
        br->rxe = ne;
        br->rxe_cap = nc;
      }
    }
    if (br->rxe_len < br->rxe_cap && br__buf_reserve(&br->rx, len) == 0) {
      struct br__rxent *e = &br->rxe[br->rxe_len++];
      e->off = br->rx.len;
      e->len = len;
      e->idx = idx;
      memcpy(br->rx.p + br->rx.len, body, len);
      br->rx.len += len;
    } else {
      tx->status = UV_ENOMEM;
    }
    if (final) {
      tx->got++;
      if (tx->got == tx->n || (tx->status < 0 && tx->got == tx->sent))
        wtx_finish(br, tx);
    }
  }
  uv_mutex_unlock(&br->mtx);
}

/* Queues more of the worker's requests, up to the window. */
void br__wtx_topup(br_t *br) {
  br__wtx *tx = br->ltx; /* only the loop thread changes ltx to non-NULL */
  if (!tx || br->forphan)
    return;
  while (tx->sent < tx->n && tx->sent - tx->got < BR_WORKER_WINDOW && br->fcount < BR_FIFO_CAP) {
    const svc_req *r = &tx->reqs[tx->sent];
    int bad = r->len > BR_BODY_MAX || (br->target_psize && r->len >= br->target_psize);
    if (bad || br->tstate != BR__T_UP) {
      uv_mutex_lock(&br->mtx);
      tx->status = bad ? UV_E2BIG : UV_ENOTCONN;
      if (tx->got == tx->sent)
        wtx_finish(br, tx);
      tx->n = tx->sent; /* send nothing more */
      uv_mutex_unlock(&br->mtx);
      return;
    }
    br__side_send(&br->t, r->body, r->len, 0);
    uint8_t fl = br__is_resume(r->body, r->len) ? BR__REQ_RESUME : 0;
    if (br__eq(r->body, r->len, "?"))
      fl |= BR__REQ_STOPQ;
    br__fifo_push(br, BR__OWN_WORKER, fl, (uint32_t)tx->sent);
    tx->sent++;
  }
  br__timer_kick(br, 0);
}

void br__job_start(br_t *br, const char *body, size_t len) {
  uv_mutex_lock(&br->mtx);
  memcpy(br->job, body, len);
  br->job_len = len;
  br->wk_has_job = 1;
  br->wk_busy = 1;
  br->wk_idle = 0;
  br->wk_job_gen = br->client_gen;
  br->wk_job_qsup = rsp_has_prefix(body, len, "qSupported");
  br->wk_job_rcmd = rsp_has_prefix(body, len, "qRcmd,");
  br->wk_job_finish = 0;
  br->wk_abandoned = 0;
  br->wk_client_ok = 1;
  br->wk_intr = 0;
  br->wk_job_ext = 0;
  br->wk_job_fn = NULL;
  br->wk_job_sess = 0;
  uv_cond_broadcast(&br->cond);
  uv_mutex_unlock(&br->mtx);
}

/* The worker's last job before the target connection closes: svc_finish()
 * puts back what the service changed on the target. */
void br__job_start_finish(br_t *br) {
  uv_mutex_lock(&br->mtx);
  br->job_len = 0;
  br->wk_has_job = 1;
  br->wk_busy = 1;
  br->wk_idle = 0;
  br->wk_job_gen = br->client_gen;
  br->wk_job_qsup = br->wk_job_rcmd = 0;
  br->wk_job_finish = 1;
  br->wk_fin_done = 0;
  br->wk_abandoned = 1; /* nothing of it is for a client */
  br->wk_client_ok = 0;
  br->wk_intr = 0;
  br->wk_cut = 0;
  br->wk_job_ext = 0;
  br->wk_job_fn = NULL;
  br->wk_job_sess = 0;
  uv_cond_broadcast(&br->cond);
  uv_mutex_unlock(&br->mtx);
}

/* Whether the running job's output and reply still go to the client: the
 * client that asked is attached and has not given up on it (under mtx). */
static int job_for_client(const br_t *br) {
  return br->c->up && br->wk_job_gen == br->client_gen && !br->wk_abandoned && !br->wk_job_ext;
}

/* Where the running job's console output goes (under mtx): the client,
 * the observer whose job it is (sessions.c), or nowhere. */
static br__side *job_output_side(br_t *br) {
  if (br->wk_job_ext && br->wk_job_sess && br->wk_client_ok) {
    br__sess *o = br__sess_find(br, br->wk_job_sess);
    return o && o->s.up ? &o->s : NULL;
  }
  return job_for_client(br) ? br->c : NULL;
}

/* Moves the worker's console output to the client (or the observer),
 * respecting its back-pressure. */
static void br__pump_worker_output(br_t *br) {
  uv_mutex_lock(&br->mtx);
  if (br->wout.len) {
    br__side *dst = job_output_side(br);
    if (!dst) {
      br->wout.len = 0;
      uv_cond_broadcast(&br->cond);
    } else if (side_out(dst) < BR_HIGH_WATER) {
      size_t off = 0;
      while (off + 4 <= br->wout.len) {
        uint32_t n;
        memcpy(&n, br->wout.p + off, 4);
        br__side_send(dst, br->wout.p + off + 4, n, 0);
        off += 4 + n;
      }
      br->wout.len = 0;
      uv_cond_broadcast(&br->cond);
    }
  }
  uv_mutex_unlock(&br->mtx);
}

static void shutdown_step(br_t *br);

static void async_cb(uv_async_t *a) {
  br_t *br = a->data;
  if (br->closing)
    return;
  worker_poll(br);
  if (br->xcount && !br->wk_busy)
    br__drain_pending(br); /* a job submitted, or the connection changed */
  br__flush_all(br);
}

/* Everything the worker may have handed over: a transaction to start,
 * console output, its final reply. */
static void worker_poll(br_t *br) {
  int finished = 0;
  uv_mutex_lock(&br->mtx);
  br__wtx *tx = br->wtx;
  if (tx && !tx->accepted) {
    tx->accepted = 1;
    tx->sent = tx->got = 0;
    br->rx.len = 0;
    br->rxe_len = 0;
    if (br->tstate != BR__T_UP) {
      tx->status = UV_ENOTCONN;
      wtx_finish(br, tx);
    } else {
      br->ltx = tx;
    }
  }
  uv_mutex_unlock(&br->mtx);
  br__wtx_topup(br);
  br__pump_worker_output(br);
  uv_mutex_lock(&br->mtx);
  int ext = br->wk_job_ext;
  int fin_done = br->wk_fin_done;
  if (fin_done) {
    br->wk_fin_done = 0;
    br->wk_busy = 0;
  }
  if (br->wk_reply_ready && br->wout.len == 0) {
    br->wk_reply_ready = 0;
    br->wk_busy = 0;
    finished = 1;
    if (job_for_client(br)) {
      if (br->wk_job_qsup) {
        size_t n = br__merge_qsupported(br, br->wreply.p, br->wreply.len, br->scratch,
                                        sizeof(br->scratch));
        br__client_reply(br, br->scratch, n);
      } else {
        br__client_reply(br, br->wreply.p, br->wreply.len);
      }
    }
  }
  uv_mutex_unlock(&br->mtx);
  if (finished && ext)
    br__xjob_complete(br);
  if (fin_done) {
    int then = br->fin_then;
    br->fin_then = BR__FIN_NONE;
    br__fin_follow(br, then);
    return;
  }
  if (finished && br->shutting) {
    br->release_after_job = 0;
    shutdown_step(br);
    return;
  }
  if (finished && br->release_after_job) {
    br->release_after_job = 0;
    if (!br->c->up)
      br__target_release(br);
  }
  if (finished)
    br__drain_pending(br);
}

/* ------------------------------------------------------------------------
 * Worker thread and the svc_io it gives the service.
 */

static int io_transact(void *ctx, const svc_req *reqs, size_t n, svc_reply_cb on_reply, void *arg) {
  br_t *br = ctx;
  if (n == 0)
    return 0;
  br__wtx tx;
  memset(&tx, 0, sizeof(tx));
  tx.reqs = reqs;
  tx.n = n;
  uv_mutex_lock(&br->mtx);
  if (br->wk_quit || br->wk_cut) {
    uv_mutex_unlock(&br->mtx);
    return br->wk_quit ? UV_ECANCELED : UV_ETIMEDOUT;
  }
  br->wtx = &tx;
  uv_mutex_unlock(&br->mtx);
  uv_async_send(&br->async);
  uv_mutex_lock(&br->mtx);
  while (!tx.done && !br->wk_quit)
    uv_cond_wait(&br->cond, &br->mtx);
  if (!tx.done) {
    tx.status = UV_ECANCELED;
    if (br->ltx == &tx)
      br->ltx = NULL;
  }
  br->wtx = NULL;
  uv_mutex_unlock(&br->mtx);
  /* The loop no longer touches rx: deliver without the lock, so that the
   * callbacks may call output(). */
  int failed = 0;
  for (size_t i = 0; i < br->rxe_len; i++) {
    const struct br__rxent *e = &br->rxe[i];
    if (on_reply(arg, e->idx, br->rx.p + e->off, e->len))
      failed = 1;
  }
  if (tx.status < 0)
    return tx.status;
  return failed ? UV_EIO : 0;
}

/* Console output in O packets as large as the client takes: the m replies
 * it gets are up to BR_BODY_MAX characters, so an O packet of that size is
 * one too (GDB's cost per packet, not per byte, dominated with 512-byte
 * packets).  Encoded straight into wout, under the lock. */
static int io_output(void *ctx, const char *text, size_t len) {
  br_t *br = ctx;
  uv_mutex_lock(&br->mtx);
  if (br->wk_job_ext && !br->wk_job_sess) { /* a job for someone else: collected in xout */
    int rc = 0;
    if (br->wk_quit)
      rc = UV_ECANCELED;
    else if (br->xout_over || br->xout.len + len > BR_XOUT_MAX)
      br->xout_over = 1, rc = UV_ENOBUFS;
    else if (buf_append(&br->xout, text, len))
      rc = UV_ENOMEM;
    uv_mutex_unlock(&br->mtx);
    return rc;
  }
  uv_mutex_unlock(&br->mtx);
  while (len) {
    size_t take = len > (BR_BODY_MAX - 1) / 2 ? (BR_BODY_MAX - 1) / 2 : len;
    size_t need = 1 + 2 * take;
    uv_mutex_lock(&br->mtx);
    while (!br->wk_quit && br->wk_client_ok && br->wout.len > 65536)
      uv_cond_wait(&br->cond, &br->mtx);
    if (br->wk_quit || !br->wk_client_ok) {
      uv_mutex_unlock(&br->mtx);
      return UV_ENOTCONN;
    }
    int rc = br__buf_reserve(&br->wout, 4 + need);
    if (!rc) {
      int n = rsp_format_O(br->wout.p + br->wout.len + 4, need, text, take);
      if (n < 0) {
        rc = UV_EINVAL;
      } else {
        uint32_t n32 = (uint32_t)n;
        memcpy(br->wout.p + br->wout.len, &n32, 4);
        br->wout.len += 4 + (size_t)n;
      }
    }
    uv_mutex_unlock(&br->mtx);
    if (rc)
      return rc;
    uv_async_send(&br->async);
    text += take;
    len -= take;
  }
  return 0;
}

static int io_interrupted(void *ctx) {
  br_t *br = ctx;
  uv_mutex_lock(&br->mtx);
  int v = br->wk_intr;
  uv_mutex_unlock(&br->mtx);
  return v;
}

static void io_reply(void *ctx, const char *body, size_t len) {
  br_t *br = ctx;
  static const char toolong[] = "E.rspbridge: reply too long";
  if (br->wk_replied)
    return;
  br->wk_replied = 1;
  if (len > BR_BODY_MAX) {
    body = toolong;
    len = sizeof(toolong) - 1;
  }
  uv_mutex_lock(&br->mtx);
  br->wreply.len = 0;
  if (buf_append(&br->wreply, body, len))
    buf_append(&br->wreply, "E0c", 3);
  /* An observer's job: published once the service is back in the
   * controller's session (worker_main). */
  br->wk_reply_ready = !br->wk_job_sess;
  uv_mutex_unlock(&br->mtx);
  uv_async_send(&br->async);
}

static void io_log(void *ctx, int level, const char *msg) {
  br__log(ctx, level, "%s", msg);
}

static const svc_io br__io = {
    .transact = io_transact,
    .output = io_output,
    .interrupted = io_interrupted,
    .reply = io_reply,
    .log = io_log,
};

static void worker_main(void *arg) {
  br_t *br = arg;
  uv_mutex_lock(&br->mtx);
  for (;;) {
    br->wk_idle = 1;
    while (!br->wk_quit && !br->wk_has_job)
      uv_cond_wait(&br->cond, &br->mtx);
    if (br->wk_quit)
      break;
    br->wk_has_job = 0;
    size_t len = br->job_len;
    if (br->wk_job_finish) {
      uv_mutex_unlock(&br->mtx);
      int rc = br->ops->finish(br->svc);
      if (rc < 0)
        br__log(br, 0, "the target may be left changed: svc_finish failed (%d)", rc);
      uv_mutex_lock(&br->mtx);
      br->wk_fin_done = 1;
      uv_mutex_unlock(&br->mtx);
      uv_async_send(&br->async);
      uv_mutex_lock(&br->mtx);
      continue;
    }
    br_job_fn fn = br->wk_job_fn;
    void *fn_arg = br->wk_job_fn_arg;
    unsigned sess = br->wk_job_sess;
    uv_mutex_unlock(&br->mtx);
    br->wk_replied = 0;
    if (fn) {
      char *text = NULL;
      size_t tlen = 0;
      int rc = fn(br->svc, fn_arg, &text, &tlen);
      if (text) {
        uv_mutex_lock(&br->mtx);
        if (buf_append(&br->xout, text, tlen))
          rc = -1;
        uv_mutex_unlock(&br->mtx);
        free(text);
      }
      io_reply(br, rc ? "E01" : "OK", rc ? 3 : 2);
    } else {
      if (sess && br->ops->session)
        br->ops->session(br->svc, sess); /* an observer's memory mode and context */
      br->ops->handle(br->svc, br->job, len);
    }
    if (!br->wk_replied)
      io_reply(br, "E.rspbridge: the service gave no reply", 38);
    if (sess) {
      if (br->ops->session) /* the controller's, before the loop classifies again */
        br->ops->session(br->svc, 0);
      uv_mutex_lock(&br->mtx);
      br->wk_reply_ready = 1;
      uv_mutex_unlock(&br->mtx);
      uv_async_send(&br->async);
    }
    uv_mutex_lock(&br->mtx);
  }
  uv_mutex_unlock(&br->mtx);
}

/* ------------------------------------------------------------------------
 * The client's service command.
 */

/* GDB never sends a request while it waits for the reply to a monitor
 * command, except when the user pressed Ctrl-C: GDB 13 then prints "Quit"
 * and moves on without sending ^C.  The command is stopped like on ^C and
 * the rest of its output and its reply are dropped, or they would be
 * taken for the replies to GDB's next requests. */
void br__abandon_job(br_t *br) {
  br__log(br, 0, "client sent a request during a monitor command: stopping the command");
  uv_mutex_lock(&br->mtx);
  br->wk_abandoned = 1;
  br->wk_intr = 1;
  br->wk_client_ok = 0;
  br->wout.len = 0;
  uv_cond_broadcast(&br->cond);
  uv_mutex_unlock(&br->mtx);
  br->ops->interrupt(br->svc);
}

/* ------------------------------------------------------------------------
 * Reading.
 */

void br__alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  br__side *s = h->data;
  (void)suggested;
  *buf = uv_buf_init(s->rbuf, sizeof(s->rbuf));
}

/* Busy-polling: while the idle handle is active, the loop polls with a
 * zero timeout instead of sleeping.  It stops by itself once no bytes came
 * for cfg.busy_poll_us. */
static void spin_cb(uv_idle_t *h) {
  br_t *br = h->data;
  if (uv_hrtime() - br->last_io > (uint64_t)br->cfg.busy_poll_us * 1000u)
    uv_idle_stop(h);
}

static void spin_kick(br_t *br) {
  if (!br->cfg.busy_poll_us)
    return;
  br->last_io = uv_hrtime();
  if (!uv_is_active((uv_handle_t *)&br->spin))
    uv_idle_start(&br->spin, spin_cb);
}

void br__read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  br__side *s = st->data;
  br_t *br = s->br;
  (void)buf;
  if (br->closing)
    return;
  spin_kick(br);
  if (nread < 0) {
    side_fail(s, (int)nread);
    br__flush_all(br);
    return;
  }
  if (nread > 0) {
    const rsp_parser_settings *set = s == &br->t  ? &br__t_settings
                                     : s == br->c ? &br__c_settings
                                                  : &br__o_settings;
    rsp_parser_execute(&s->parser, set, s->rbuf, (size_t)nread);
  }
  br__flush_all(br);
}

static void side_fail(br__side *s, int err) {
  br_t *br = s->br;
  const char *why = err == UV_EOF ? "closed" : uv_strerror(err);
  if (s == &br->t)
    br__target_lost(br, why);
  else if (s == br->c)
    br__client_drop(br, why);
  else
    br__obs_drop((br__sess *)s, why);
}

/* ------------------------------------------------------------------------
 * Lifecycle.
 */

void br_config_default(br_config *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->listen.kind = BR_ADDR_TCP;
  struct sockaddr_in *s4 = (struct sockaddr_in *)&cfg->listen.sa;
  uv_ip4_addr("127.0.0.1", BR_DEFAULT_PORT, s4);
  cfg->reconnect = -1;
  cfg->retry_ms = 1000;
  cfg->timeout_ms = 5000;
  cfg->busy_poll_us = BR_DEFAULT_SPIN_US;
  cfg->max_sessions = BR_DEFAULT_SESSIONS;
}

int br_init(uv_loop_t *loop, br_t *br, const br_config *cfg) {
  memset(br, 0, sizeof(*br));
  br->loop = loop;
  br->cfg = *cfg;
  br->ops = cfg->service ? cfg->service : &br_forward_ops;
  const svc_ops *o = br->ops;
  if (!o->create || !o->free || !o->set_packet_size || !o->classify || !o->event || !o->interrupt ||
      !o->serve_cached || !o->handle || !o->finish)
    return UV_EINVAL; /* only session may be missing (service.h) */
  br->c = &br->c_none;
  br->c->br = br;
  br->c->name = "client";
  br->c->client = 1;
  br->t.br = br;
  br->t.name = "target";
  rsp_parser_init(&br->c->parser, br->c->body, sizeof(br->c->body));
  br->c->parser.data = br->c;
  rsp_parser_init(&br->t.parser, br->t.body, sizeof(br->t.body));
  br->t.parser.data = &br->t;
  if (br->cfg.timeout_ms == 0)
    br->cfg.timeout_ms = 5000;
  if (br->cfg.retry_ms == 0)
    br->cfg.retry_ms = 1000;
  return 0;
}

static int open_stdio_side(br_t *br, int fd, uv_handle_t *h) {
  int rc;
  if (uv_guess_handle(fd) == UV_TTY) {
    rc = uv_tty_init(br->loop, (uv_tty_t *)h, fd, fd == 0);
    if (rc == 0)
      br->open_handles++;
    if (rc == 0 && fd == 0)
      uv_tty_set_mode((uv_tty_t *)h, UV_TTY_MODE_RAW);
    return rc;
  }
  rc = uv_pipe_init(br->loop, (uv_pipe_t *)h, 0);
  if (rc < 0)
    return rc;
  br->open_handles++;
  rc = uv_pipe_open((uv_pipe_t *)h, fd);
  return rc;
}

int br_start(br_t *br) {
  int rc;
  if (br->started || br->closing)
    return UV_EALREADY;
  br->svc = br->ops->create(&br__io, br, &br->cfg.svc);
  if (!br->svc)
    return UV_ENOMEM;
  if ((rc = uv_mutex_init(&br->mtx)) < 0)
    return rc;
  if ((rc = uv_cond_init(&br->cond)) < 0) {
    uv_mutex_destroy(&br->mtx);
    return rc;
  }
  br->started = 1;
  uv_handle_t *hs[N_CORE_HANDLES];
  core_handles(br, hs);
  for (int i = 0; i < N_CORE_TIMERS; i++)
    uv_timer_init(br->loop, (uv_timer_t *)hs[i]);
  uv_async_init(br->loop, &br->async, async_cb);
  uv_idle_init(br->loop, &br->spin);
  uv_check_init(br->loop, &br->accept_check);
  for (int i = 0; i < N_CORE_HANDLES; i++)
    hs[i]->data = br;
  br->open_handles += N_CORE_HANDLES;
  br->listener.handle.data = br;
  br->reject.handle.data = br;

  const br_addr *l = &br->cfg.listen;
  if (l->kind == BR_ADDR_STDIO) {
    br->client_stdio = 1;
    br__sess *o = br__sess_new(br);
    if (!o)
      return UV_ENOMEM;
    snprintf(o->peer, sizeof(o->peer), "stdio");
    br__side *c = &o->s;
    c->h.handle.data = c;
    c->w.handle.data = c;
    if ((rc = open_stdio_side(br, 0, &c->h.handle)) < 0)
      return rc;
    c->handles = 1;
    if ((rc = open_stdio_side(br, 1, &c->w.handle)) < 0)
      return rc;
    c->handles = 2;
    c->rd = &c->h.stream;
    c->wr = &c->w.stream;
    br__client_up(br, o);
  } else if (l->kind == BR_ADDR_TCP) {
    if ((rc = uv_tcp_init(br->loop, &br->listener.tcp)) < 0)
      return rc;
    br->open_handles++;
    br->listening = 1;
    if ((rc = uv_tcp_bind(&br->listener.tcp, (const struct sockaddr *)&l->sa, 0)) < 0)
      return rc;
    if ((rc = uv_listen(&br->listener.stream, 4, br__connection_cb)) < 0)
      return rc;
    struct sockaddr_storage ss;
    int n = sizeof(ss);
    if (uv_tcp_getsockname(&br->listener.tcp, (struct sockaddr *)&ss, &n) == 0) {
      if (ss.ss_family == AF_INET)
        br->listen_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
      else if (ss.ss_family == AF_INET6)
        br->listen_port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
  } else if (l->kind == BR_ADDR_UNIX) {
    if ((rc = uv_pipe_init(br->loop, &br->listener.pipe, 0)) < 0)
      return rc;
    br->open_handles++;
    br->listening = 1;
    if ((rc = uv_pipe_bind(&br->listener.pipe, l->path)) < 0)
      return rc;
    if ((rc = uv_listen(&br->listener.stream, 4, br__connection_cb)) < 0)
      return rc;
  } else {
    return UV_EINVAL;
  }
  if ((rc = uv_thread_create(&br->thread, worker_main, br)) < 0)
    return rc;
  br->thread_started = 1;
  return 0;
}

size_t br_size(void) {
  return sizeof(br_t);
}

svc *br_service(br_t *br) {
  return br->svc;
}

void *br_data(const br_t *br) {
  return br->data;
}

void br_set_data(br_t *br, void *data) {
  br->data = data;
}

const br_config *br_get_config(const br_t *br) {
  return &br->cfg;
}

int br_ever_connected(const br_t *br) {
  return br->ever_connected;
}

int br_listen_port(const br_t *br) {
  return br->listen_port;
}

void br__stop(br_t *br, int status, const char *why) {
  if (br->stopped || br->closing || br->shutting)
    return;
  br->stopped = 1;
  br__log(br, 0, "%s", why);
  if (br->cfg.on_stop)
    br->cfg.on_stop(br, status, why);
}

void br__maybe_finish_close(br_t *br) {
  if (!br->closing || br->open_handles > 0 || !br->close_cb)
    return;
  br_close_cb cb = br->close_cb;
  br->close_cb = NULL;
  if (br->svc)
    br->ops->free(br->svc);
  br->svc = NULL;
  if (br->started) {
    uv_cond_destroy(&br->cond);
    uv_mutex_destroy(&br->mtx);
  }
  br__sess_free_all(br);
  buf_free(&br->t.acc);
  buf_free(&br->t.fly);
  buf_free(&br->pend);
  buf_free(&br->wout);
  buf_free(&br->rx);
  buf_free(&br->wreply);
  buf_free(&br->xout);
  free(br->rxe);
  br->rxe = NULL;
  if (br->cfg.trace)
    fflush(br->cfg.trace);
  cb(br);
}

/* br_close(), first part: the client goes, a running command is
 * interrupted and may end (its own clean-up reaches the target), then the
 * finish job runs; each step bounded by fin_timer. */
void br_close(br_t *br, br_close_cb cb) {
  if (br->closing || br->shutting)
    return;
  br->close_cb = cb;
  br__xjob_cancel(br, UV_ECANCELED, 0);
  if (!br->thread_started || (!br->wk_busy && br->tstate != BR__T_UP)) {
    br__close_now(br);
    return;
  }
  br->shutting = 1;
  if (br->listening)
    br__close_handle(br, &br->listener.handle, handle_closed);
  br->listening = 0;
  br->accept_pending = 0;
  uv_timer_stop(&br->retry_timer);
  br__side *c = br->c;
  if (c->up) {
    c->up = 0;
    br->client_gen++;
    for (unsigned i = 0; i < br->fcount; i++) {
      br__req *r = br__fifo_at(br, i);
      if (r->owner == BR__OWN_CLIENT) {
        r->owner = BR__OWN_ORPHAN;
        br->forphan++;
      }
    }
    br->fclient = 0;
    br->pend.len = br->pend_off = 0;
    br->pend_count = 0;
  }
  br__sess_close_all(br);
  if (br->wk_busy && !br->wk_job_finish) {
    br__log(br, 0, "stopping the running command before exiting");
    uv_mutex_lock(&br->mtx);
    br->wk_abandoned = 1;
    br->wk_intr = 1;
    br->wk_client_ok = 0;
    br->wout.len = 0;
    uv_cond_broadcast(&br->cond);
    uv_mutex_unlock(&br->mtx);
    br->ops->interrupt(br->svc);
    uv_timer_start(&br->fin_timer, br__fin_timer_cb, br->cfg.timeout_ms, 0);
  } else if (!br->wk_busy) {
    shutdown_step(br);
  }
  br__timer_kick(br, 0);
  br__flush_all(br);
}

/* Shutting down and the worker is idle: the finish job, or the end. */
static void shutdown_step(br_t *br) {
  uv_timer_stop(&br->fin_timer);
  uv_mutex_lock(&br->mtx);
  br->wk_cut = 0;
  uv_mutex_unlock(&br->mtx);
  if (!br__finish_start(br, BR__FIN_CLOSE))
    br__close_now(br);
}

void br__close_now(br_t *br) {
  if (br->closing)
    return;
  br__log_rl_flush(br);
  br->closing = 1;
  if (br->thread_started) {
    uv_mutex_lock(&br->mtx);
    br->wk_quit = 1;
    if (br->ltx) {
      br->ltx->status = UV_ECANCELED;
      wtx_finish(br, br->ltx);
    }
    uv_cond_broadcast(&br->cond);
    uv_mutex_unlock(&br->mtx);
    uv_thread_join(&br->thread);
    br->thread_started = 0;
  }
  if (br->started) {
    uv_handle_t *hs[N_CORE_HANDLES];
    core_handles(br, hs);
    for (int i = 0; i < N_CORE_HANDLES; i++)
      br__close_handle(br, hs[i], handle_closed);
  }
  br__xjob_cancel(br, UV_ECANCELED, 1);
  if (br->listening)
    br__close_handle(br, &br->listener.handle, handle_closed);
  br->listening = 0;
  br__sess_close_all(br);
  if (br->t.handles) {
    br->t.up = 0;
    br__close_handle(br, &br->t.h.handle, br__target_closed);
  }
  br__maybe_finish_close(br);
}
