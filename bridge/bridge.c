/* bridge.c - the packet path: one client, one target, an ordered upstream
 * pipe shared by the client's requests and the worker's, and the worker
 * thread that runs the services.
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

static const char *const msg_lost = "E.rspbridge: target connection lost";
static const char *const msg_noconn = "E.rspbridge: target not connected";

/* ------------------------------------------------------------------------
 * Small helpers.
 */

static int buf_reserve(br_buf *b, size_t extra) {
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
  if (buf_reserve(b, n))
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

static int eq(const char *b, size_t len, const char *s) {
  size_t n = strlen(s);
  return len == n && memcmp(b, s, n) == 0;
}

/* Console output from a stub ('O' followed by hex), as opposed to "OK". */
static int is_console(const char *b, size_t len) {
  if (len < 3 || b[0] != 'O' || len % 2 == 0)
    return 0;
  for (size_t i = 1; i < len; i++)
    if (rsp_hex_digit((unsigned char)b[i]) < 0)
      return 0;
  return 1;
}

/* "Stop Reply Packets": S AA, T AA..., W AA..., X AA... with two hex
 * digits, so that "T0;tnotrun:0" (qTStatus) is not one. */
static int is_stop_reply(const char *b, size_t len) {
  rsp_stop st;
  if (len < 3 || !(b[0] == 'S' || b[0] == 'T' || b[0] == 'W' || b[0] == 'X'))
    return 0;
  return rsp_parse_stop(b, len, &st) == 0;
}

/* A File-I/O request from the target ("File-I/O Remote Protocol
 * Extension"): "Fcall-id,parameter...", the reply to a resume. */
static int is_fileio_request(const char *b, size_t len) {
  return len >= 2 && b[0] == 'F' && ((b[1] >= 'a' && b[1] <= 'z') || (b[1] >= 'A' && b[1] <= 'Z'));
}

/* Requests whose reply is a stop reply that comes when the target stops
 * ("Packets": c, C, s, S, i, I, vCont with actions, vRun, vAttach; and
 * the client's File-I/O reply "Fretcode,errno,C", which resumes the target
 * it answers, the next stop reply or F request being its reply). */
static int is_resume(const char *b, size_t len) {
  if (!len)
    return 0;
  switch (b[0]) {
  case 'F':
  case 'c':
  case 'C':
  case 's':
  case 'S':
  case 'i':
  case 'I':
    return 1;
  case 'v':
    return rsp_has_prefix(b, len, "vCont;") || rsp_has_prefix(b, len, "vRun") ||
           rsp_has_prefix(b, len, "vAttach");
  default:
    return 0;
  }
}

/* ------------------------------------------------------------------------
 * Output: per-side accumulation buffer, one write in flight, try_write
 * first.  Everything queued while handling one read is written with one
 * system call at the end of the callback.
 */

static void side_fail(br__side *s, int err);
static void br__flush_all(br_t *br);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
static void req_timeout_cb(uv_timer_t *t);
static void worker_poll(br_t *br);

static int side_writable(br__side *s) {
  br_t *br = s->br;
  if (br->closing)
    return 0;
  if (s == &br->c)
    return s->up;
  /* Requests may queue while the first connection is being made; a lost
   * connection fails them (target_lost) and new ones are refused. */
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
      uv_read_start(s->rd, alloc_cb, read_cb);
  }
}

/* Back-pressure, with hysteresis (pause above BR_HIGH_WATER, resume at
 * half).  The target's input becomes output to the client; the client's
 * input becomes output to the target and also to the client itself
 * (replies the bridge makes: acks, cached reads, refusals), so a client
 * that never reads is not read either, and memory stays bounded. */
static void flow_check(br_t *br) {
  size_t c = side_out(&br->c), t = side_out(&br->t);
  const size_t hi = BR_HIGH_WATER, lo = BR_HIGH_WATER / 2;
  /* Requests queued behind a busy pipe count too. */
  size_t pb = br->pend.len - br->pend_off;
  int pend_hi = br->pend_count > BR_PEND_MAX || pb > BR_PEND_BYTES;
  int pend_lo = br->pend_count <= BR_PEND_MAX / 2 && pb <= BR_PEND_BYTES / 2;
  side_reading(&br->c, c > hi || t > hi || pend_hi, c <= lo && t <= lo && pend_lo);
  side_reading(&br->t, c > hi, c <= lo);
}

static void side_pause_check(br__side *s) {
  if (side_out(s) > BR_HIGH_WATER)
    flow_check(s->br);
}

static void side_resume_check(br__side *s) {
  if (side_out(s) <= BR_HIGH_WATER / 2)
    flow_check(s->br);
}

static int side_raw(br__side *s, const char *d, size_t n) {
  if (!side_writable(s))
    return UV_ENOTCONN;
  if (buf_append(&s->acc, d, n))
    return UV_ENOMEM;
  side_pause_check(s);
  return 0;
}

static const char *dir_out(br__side *s) {
  return s == &s->br->c ? "b>c" : "b>t";
}

static void ack_flush(br_t *br);

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

static int side_send(br__side *s, const char *body, size_t len, unsigned flags) {
  if (!side_writable(s))
    return UV_ENOTCONN;
  if (s == &s->br->t)
    ack_flush(s->br);
  size_t need = RSP_FRAME_MAX(len);
  if (buf_reserve(&s->acc, need))
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
static void ack_flush(br_t *br) {
  if (!br->t_ack_pending)
    return;
  br->t_ack_pending = 0;
  uv_timer_stop(&br->ack_timer);
  side_raw(&br->t, "+", 1);
}

static void ack_timer_cb(uv_timer_t *t) {
  br_t *br = t->data;
  if (br->closing)
    return;
  ack_flush(br);
  br__flush_all(br);
}

/* QEMU does not wait for acks, but a stub in ack mode may: the ack is
 * only held for a millisecond. */
static void ack_later(br_t *br) {
  if (br->t_ack_pending)
    return;
  br->t_ack_pending = 1;
  uv_timer_start(&br->ack_timer, ack_timer_cb, 1, 0);
}

static void write_cb(uv_write_t *req, int status);

static void side_flush(br__side *s) {
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
  side_flush(s);
  side_resume_check(s);
  if (s == &s->br->c)
    worker_poll(s->br);
  br__flush_all(s->br);
}

static void br__flush_all(br_t *br) {
  side_flush(&br->t);
  side_flush(&br->c);
  if (br->cfg.trace)
    fflush(br->cfg.trace);
}

/* ------------------------------------------------------------------------
 * Handles.
 */

static void br__maybe_finish_close(br_t *br);

static void handle_closed(uv_handle_t *h) {
  br_t *br = h->data;
  br->open_handles--;
  br__maybe_finish_close(br);
}

static void close_handle(br_t *br, uv_handle_t *h, uv_close_cb cb) {
  (void)br;
  if (!uv_is_closing(h))
    uv_close(h, cb);
}

/* ------------------------------------------------------------------------
 * Client replies.
 */

static void client_reply(br_t *br, const char *body, size_t len) {
  side_send(&br->c, body, len, 0);
}

static void client_error(br_t *br, const char *emsg) {
  client_reply(br, emsg, strlen(emsg));
}

static int is_mem_read(const char *b, size_t len) {
  return len && (b[0] == 'm' || b[0] == 'x');
}

/* An error the bridge makes for a client request.  GDB takes the reply to
 * m (and x) for data unless it is exactly "Enn" ("E.text" would be printed
 * as "Invalid hex digit"), so those get E05 (EIO: GDB then says "Cannot
 * access memory") and the text goes to the log. */
static const char *client_err(br_t *br, int mem, const char *emsg) {
  if (!mem)
    return emsg;
  br__log_rl(br, 0, "client memory read failed: %s",
             emsg[0] == 'E' && emsg[1] == '.' ? emsg + 2 : emsg);
  return "E05";
}

static void client_fail(br_t *br, int mem, const char *emsg) {
  client_error(br, client_err(br, mem, emsg));
}

/* GDB manual, "General Query Packets", qSupported: the client sees the
 * target's features, with a PacketSize both the target and the bridge can
 * take, plus QStartNoAckMode, which the bridge implements on the client
 * side whatever the target does. */
static size_t merge_qsupported(br_t *br, const char *in, size_t len, char *out, size_t cap) {
  int code;
  const char *m;
  size_t ml;
  if (len && rsp_parse_error(in, len, &code, &m, &ml) == 1) {
    if (len > cap)
      len = cap;
    memcpy(out, in, len);
    return len;
  }
  size_t o = 0;
  uint64_t psize = 0;
  rsp_feature_iter it;
  rsp_feature f;
  rsp_features_begin(&it, in, len);
  while (rsp_features_next(&it, &f) == 1) {
    if (f.name_len == 10 && memcmp(f.name, "PacketSize", 10) == 0) {
      const char *p = f.value;
      if (f.kind == '=' && rsp_parse_hex(&p, f.value + f.value_len, &psize) < 0)
        psize = 0;
      continue;
    }
    if (f.name_len == 15 && memcmp(f.name, "QStartNoAckMode", 15) == 0)
      continue;
    if (f.name_len == 12 && memcmp(f.name, "multiprocess", 12) == 0)
      br->target_mp = f.kind == '+';
    size_t need = f.name_len + 2 + (f.kind == '=' ? f.value_len : 0);
    if (cap - o < need + 64)
      break;
    if (o)
      out[o++] = ';';
    memcpy(out + o, f.name, f.name_len);
    o += f.name_len;
    if (f.kind == '=') {
      out[o++] = '=';
      memcpy(out + o, f.value, f.value_len);
      o += f.value_len;
    } else {
      out[o++] = f.kind;
    }
  }
  br->target_psize = psize ? (unsigned)(psize > 0xffffffu ? 0xffffffu : psize) : 0;
  /* What the client may send us: the service splits what the target
   * cannot take. */
  unsigned ps = svc_set_packet_size(br->svc, br->target_psize, BR_BODY_MAX);
  o += (size_t)snprintf(out + o, cap - o, "%sPacketSize=%x;QStartNoAckMode+", o ? ";" : "", ps);
  return o;
}

/* ------------------------------------------------------------------------
 * The upstream FIFO.
 */

static br__req *fifo_at(br_t *br, unsigned i) {
  return &br->fifo[(br->fhead + i) % BR_FIFO_CAP];
}

static int fifo_push(br_t *br, uint8_t owner, uint8_t flags, uint32_t idx) {
  if (br->fcount == BR_FIFO_CAP)
    return -1;
  br__req *r = &br->fifo[(br->fhead + br->fcount) % BR_FIFO_CAP];
  r->owner = owner;
  r->flags = flags;
  r->idx = idx;
  br->fcount++;
  if (owner == BR__OWN_CLIENT)
    br->fclient++;
  return 0;
}

static br__req fifo_pop(br_t *br) {
  br__req r = br->fifo[br->fhead];
  br->fhead = (br->fhead + 1) % BR_FIFO_CAP;
  br->fcount--;
  if (r.owner == BR__OWN_CLIENT)
    br->fclient--;
  if (r.owner == BR__OWN_ORPHAN)
    br->forphan--;
  return r;
}

static void fifo_clear(br_t *br) {
  br->fhead = br->fcount = br->fclient = br->forphan = 0;
}

static void timer_kick(br_t *br, int progress);
static void xlinger_cb(uv_timer_t *t);
static void drain_pending(br_t *br);

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

static void wtx_fail(br_t *br, int status) {
  uv_mutex_lock(&br->mtx);
  br__wtx *tx = br->ltx;
  if (tx) {
    tx->status = status;
    wtx_finish(br, tx);
  }
  uv_mutex_unlock(&br->mtx);
}

/* A reply (final) or console output (not final) for worker request idx. */
static void wtx_reply(br_t *br, uint32_t idx, const char *body, size_t len, int final) {
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
    if (br->rxe_len < br->rxe_cap && buf_reserve(&br->rx, len) == 0) {
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
static void wtx_topup(br_t *br) {
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
    side_send(&br->t, r->body, r->len, 0);
    uint8_t fl = is_resume(r->body, r->len) ? BR__REQ_RESUME : 0;
    if (eq(r->body, r->len, "?"))
      fl |= BR__REQ_STOPQ;
    fifo_push(br, BR__OWN_WORKER, fl, (uint32_t)tx->sent);
    tx->sent++;
  }
  timer_kick(br, 0);
}

static void job_start(br_t *br, const char *body, size_t len) {
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
  uv_cond_broadcast(&br->cond);
  uv_mutex_unlock(&br->mtx);
}

/* The worker's last job before the target connection closes: svc_finish()
 * puts back what the service changed on the target. */
static void job_start_finish(br_t *br) {
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
  uv_cond_broadcast(&br->cond);
  uv_mutex_unlock(&br->mtx);
}

/* Whether the running job's output and reply still go to the client: the
 * client that asked is attached and has not given up on it (under mtx). */
static int job_for_client(const br_t *br) {
  return br->c.up && br->wk_job_gen == br->client_gen && !br->wk_abandoned && !br->wk_job_ext;
}

/* ------------------------------------------------------------------------
 * Jobs for others than the client (br_job_submit): a ring on the loop
 * thread; its head runs on the worker like a client's service request,
 * its output collected in xout, its reply and output handed to its cb.
 */

/* Ends the head job with status (loop thread): cb, then the next one. */
static void xjob_end(br_t *br, int status, const char *out, size_t olen, const char *reply,
                     size_t rlen) {
  struct br__xjob j = br->xq[br->xhead];
  br->xhead = (br->xhead + 1) % BR_XJOB_MAX;
  br->xcount--;
  br->x_running = 0;
  free(j.body);
  if (!br->xcount && !br->c.up && !br->closing && !br->shutting && !br->close_cb && br->started)
    uv_timer_start(&br->xlinger, xlinger_cb, BR_XLINGER_MS, 0);
  j.cb(j.arg, status, out ? out : "", olen, reply ? reply : "", rlen);
}

/* Every queued job (the running one too with all) ends with status. */
static void xjob_cancel(br_t *br, int status, int all) {
  while (br->xcount && (all || !br->x_running))
    xjob_end(br, status, NULL, 0, NULL, 0);
}

/* A client resume is outstanding: the target runs, nothing else goes up. */
static int client_running(const br_t *br) {
  for (unsigned i = 0; i < br->fcount; i++) {
    const br__req *r = &br->fifo[(br->fhead + i) % BR_FIFO_CAP];
    if (r->owner == BR__OWN_CLIENT && (r->flags & BR__REQ_RESUME))
      return 1;
  }
  return 0;
}

static void target_connect(br_t *br);

/* The head job, the worker idle: 1 if it was started or ended, 0 if it
 * waits (for the client's requests in flight, or the connection). */
static int xjob_try(br_t *br) {
  if (client_running(br)) {
    xjob_end(br, BR_EJOB_RUNNING, NULL, 0, NULL, 0);
    return 1;
  }
  if (br->tstate != BR__T_UP) {
    int retrying = uv_is_active((uv_handle_t *)&br->retry_timer);
    if (br->t_lost || retrying) {
      if (br->tstate == BR__T_IDLE && !retrying)
        target_connect(br);
      xjob_end(br, BR_EJOB_LOST, NULL, 0, NULL, 0);
      return 1;
    }
    if (br->tstate == BR__T_IDLE)
      target_connect(br); /* no client: the job makes the connection */
    return 0;
  }
  if (br->fclient || br->forphan)
    return 0;
  uv_timer_stop(&br->xlinger);
  struct br__xjob *j = &br->xq[br->xhead];
  br->x_running = 1;
  br->x_losses = br->t_losses;
  uv_mutex_lock(&br->mtx);
  if (j->len)
    memcpy(br->job, j->body, j->len);
  br->job_len = j->len;
  br->wk_has_job = 1;
  br->wk_busy = 1;
  br->wk_idle = 0;
  br->wk_job_gen = br->client_gen;
  br->wk_job_qsup = br->wk_job_rcmd = br->wk_job_finish = 0;
  br->wk_abandoned = 0;
  br->wk_client_ok = 0;
  br->wk_intr = 0;
  br->wk_job_ext = 1;
  br->wk_job_fn = j->fn;
  br->wk_job_fn_arg = j->fn_arg;
  br->xout.len = 0;
  br->xout_over = 0;
  uv_cond_broadcast(&br->cond);
  uv_mutex_unlock(&br->mtx);
  return 1;
}

/* The running job's reply is in (loop thread, worker idle): its cb. */
static void xjob_complete(br_t *br) {
  int status = 0;
  if (br->shutting || br->closing)
    status = UV_ECANCELED;
  else if (br->t_losses != br->x_losses || br->tstate != BR__T_UP)
    status = BR_EJOB_LOST;
  /* The worker waits for its next job: xout and wreply are the loop's. */
  xjob_end(br, status, br->xout.p, br->xout.len, br->wreply.p, br->wreply.len);
}

/* Moves the worker's console output to the client, respecting the
 * client's back-pressure. */
static void br__pump_worker_output(br_t *br) {
  uv_mutex_lock(&br->mtx);
  if (br->wout.len) {
    if (!job_for_client(br)) {
      br->wout.len = 0;
      uv_cond_broadcast(&br->cond);
    } else if (side_out(&br->c) < BR_HIGH_WATER) {
      size_t off = 0;
      while (off + 4 <= br->wout.len) {
        uint32_t n;
        memcpy(&n, br->wout.p + off, 4);
        side_send(&br->c, br->wout.p + off + 4, n, 0);
        off += 4 + n;
      }
      br->wout.len = 0;
      uv_cond_broadcast(&br->cond);
    }
  }
  uv_mutex_unlock(&br->mtx);
}

static void target_release(br_t *br);
static void fin_follow(br_t *br, int then);
static void shutdown_step(br_t *br);

static void async_cb(uv_async_t *a) {
  br_t *br = a->data;
  if (br->closing)
    return;
  worker_poll(br);
  if (br->xcount && !br->wk_busy)
    drain_pending(br); /* a job submitted, or the connection changed */
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
  wtx_topup(br);
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
        size_t n =
            merge_qsupported(br, br->wreply.p, br->wreply.len, br->scratch, sizeof(br->scratch));
        client_reply(br, br->scratch, n);
      } else {
        client_reply(br, br->wreply.p, br->wreply.len);
      }
    }
  }
  uv_mutex_unlock(&br->mtx);
  if (finished && ext)
    xjob_complete(br);
  if (fin_done) {
    int then = br->fin_then;
    br->fin_then = BR__FIN_NONE;
    fin_follow(br, then);
    return;
  }
  if (finished && br->shutting) {
    br->release_after_job = 0;
    shutdown_step(br);
    return;
  }
  if (finished && br->release_after_job) {
    br->release_after_job = 0;
    if (!br->c.up)
      target_release(br);
  }
  if (finished)
    drain_pending(br);
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
  if (br->wk_job_ext) {
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
    int rc = buf_reserve(&br->wout, 4 + need);
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
  br->wk_reply_ready = 1;
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
      int rc = svc_finish(br->svc);
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
      svc_handle(br->svc, br->job, len);
    }
    if (!br->wk_replied)
      io_reply(br, "E.rspbridge: the service gave no reply", 38);
    uv_mutex_lock(&br->mtx);
  }
  uv_mutex_unlock(&br->mtx);
}

/* ------------------------------------------------------------------------
 * Timeouts.  A request other than a resume must be answered within
 * timeout_ms of the last progress on the pipe; a resume only once a ^C was
 * sent for it.
 */

static int needs_timer(br_t *br) {
  if (br->forphan && br->tstate == BR__T_UP)
    return 1; /* their late replies must come, or the pipe is out of step */
  for (unsigned i = 0; i < br->fcount; i++) {
    br__req *r = fifo_at(br, i);
    if (r->owner == BR__OWN_ORPHAN)
      continue;
    if (!(r->flags & BR__REQ_RESUME) || br->intr_sent)
      return 1;
  }
  return 0;
}

/* progress: 0 none, 1 a reply (or the pipe changed), 2 console output,
 * which extends the deadline up to BR_CONSOLE_TIMEOUTS timeouts after the
 * last reply. */
static void timer_kick(br_t *br, int progress) {
  if (br->closing)
    return;
  if (!needs_timer(br)) {
    uv_timer_stop(&br->req_timer);
    return;
  }
  uint64_t now = uv_now(br->loop), t = br->cfg.timeout_ms;
  if (progress == 2 && uv_is_active((uv_handle_t *)&br->req_timer)) {
    uint64_t end = br->progress_at + (uint64_t)BR_CONSOLE_TIMEOUTS * t;
    if (now >= end)
      return; /* the deadline stays where it is */
    uv_timer_start(&br->req_timer, req_timeout_cb, end - now < t ? end - now : t, 0);
    return;
  }
  if (progress || !uv_is_active((uv_handle_t *)&br->req_timer)) {
    br->progress_at = now;
    uv_timer_start(&br->req_timer, req_timeout_cb, t, 0);
  }
}

static void target_lost(br_t *br, const char *why);

static void req_timeout_cb(uv_timer_t *t) {
  br_t *br = t->data;
  if (br->closing)
    return;
  if (br->tstate == BR__T_UP && br->forphan == br->fcount) {
    /* Requests that timed out got no late reply either: the target
     * dropped them, and every later reply would go to the wrong request.
     * A new connection puts the pipe back in step. */
    target_lost(br, "requests left unanswered, resynchronising");
    drain_pending(br);
    br__flush_all(br);
    return;
  }
  br__log_rl(br, 0, "target did not answer within %u ms%s", br->cfg.timeout_ms,
             br->tstate == BR__T_UP ? "" : " (not connected)");
  for (unsigned i = 0; i < br->fcount; i++) {
    br__req *r = fifo_at(br, i);
    if (r->owner == BR__OWN_ORPHAN)
      continue;
    if (r->owner == BR__OWN_CLIENT) {
      client_fail(br, r->flags & BR__REQ_MEM,
                  br->tstate == BR__T_UP ? "E.rspbridge: target timeout" : msg_noconn);
      br->fclient--;
    }
    r->owner = BR__OWN_ORPHAN;
    br->forphan++;
  }
  wtx_fail(br, UV_ETIMEDOUT);
  br->intr_sent = 0;
  if (br->tstate != BR__T_UP) {
    /* Nothing went out: forget the queued frames too. */
    fifo_clear(br);
    br->t.acc.len = 0;
  } else if (br->forphan > BR_FIFO_CAP / 2) {
    target_lost(br, "too many unanswered requests");
  }
  timer_kick(br, 1);
  drain_pending(br);
  br__flush_all(br);
}

/* ------------------------------------------------------------------------
 * Target connection.
 */

static void target_connect(br_t *br);
static void br__stop(br_t *br, int status, const char *why);

static void retry_cb(uv_timer_t *t) {
  br_t *br = t->data;
  if (!br->closing && br->tstate == BR__T_IDLE)
    target_connect(br);
}

/* Every client request sent upstream gets emsg; the pipe is emptied. */
static void fail_fifo(br_t *br, const char *emsg) {
  for (unsigned i = 0; i < br->fcount; i++) {
    br__req *r = fifo_at(br, i);
    /* A target that exits on vKill may close before it answers: the
     * process is gone, which is what the client asked for. */
    if (r->owner == BR__OWN_CLIENT)
      client_fail(br, r->flags & BR__REQ_MEM, (r->flags & BR__REQ_VKILL) ? "OK" : emsg);
  }
  fifo_clear(br);
  if (br->kill_pending && br->c.up) {
    /* A forwarded k (no reply in the manual, W or X for LLDB): the target
     * closed without one, the client that waits gets it now. */
    client_reply(br, "X09", 3);
  }
  br->kill_pending = 0;
}

/* The bridge gives up on the target: every client request still waiting,
 * sent upstream or queued behind a busy pipe, gets its error now. */
static void fail_client_requests(br_t *br) {
  fail_fifo(br, msg_noconn);
  size_t off = br->pend_off;
  for (; br->pend_count; br->pend_count--) {
    uint32_t n;
    memcpy(&n, br->pend.p + off, 4);
    client_fail(br, is_mem_read(br->pend.p + off + 8, n), msg_noconn);
    off += 8 + (size_t)n;
  }
  br->pend.len = br->pend_off = 0;
  br__flush_all(br);
}

static void target_retry(br_t *br, const char *why) {
  if (br->closing || br->shutting)
    return;
  int pol = br->cfg.reconnect;
  if (pol == 0 || (pol > 0 && br->retries >= pol)) {
    char msg[256];
    snprintf(msg, sizeof(msg), "target %s, not reconnecting (--reconnect %s)", why,
             pol == 0 ? "never" : "attempts exhausted");
    fail_client_requests(br);
    br__stop(br, 1, msg);
    return;
  }
  br->retries++;
  br__log(br, 1, "target: next attempt in %u ms", br->cfg.retry_ms);
  uv_timer_start(&br->retry_timer, retry_cb, br->cfg.retry_ms, 0);
}

static void target_closed(uv_handle_t *h) {
  br__side *s = h->data;
  br_t *br = s->br;
  br->open_handles--;
  s->handles--;
  if (s->handles == 0) {
    br->tstate = BR__T_IDLE;
    s->fly.len = 0;
    s->writing = 0;
    if (!br->closing && br->retry_pending_reason) {
      const char *why = br->retry_pending_reason;
      br->retry_pending_reason = NULL;
      target_retry(br, why);
    } else if (!br->closing && br->c.up) {
      target_connect(br); /* a client came while the last one's was released */
    }
    if (!br->closing && br->xcount)
      uv_async_send(&br->async); /* a job waits for the connection */
  }
  br__maybe_finish_close(br);
}

static void target_close_handle(br_t *br, const char *retry_why) {
  br__side *t = &br->t;
  t->up = 0;
  br->tstate = BR__T_CLOSING;
  br->retry_pending_reason = retry_why;
  close_handle(br, &t->h.handle, target_closed);
}

static void replay_session(br_t *br) {
  /* A fresh connection to QEMU knows nothing: p/P answer empty until the
   * target description was read ("QEMU 7.2 facts" in DESIGN.md). */
  if (br->sess_qsupported_len) {
    side_send(&br->t, br->sess_qsupported, br->sess_qsupported_len, 0);
    fifo_push(br, BR__OWN_INTERNAL, 0, 0);
  }
  if (br->sess_xml) {
    static const char xml[] = "qXfer:features:read:target.xml:0,ffb";
    side_send(&br->t, xml, sizeof(xml) - 1, 0);
    fifo_push(br, BR__OWN_INTERNAL, 0, 0);
  }
}

static void target_up(br_t *br) {
  br__side *t = &br->t;
  t->rd = t->wr = &t->h.stream;
  t->up = 1;
  t->naks = t->bad = 0;
  t->paused = 0;
  br->tstate = BR__T_UP;
  br->retries = 0;
  rsp_parser_reset(&t->parser);
  char a[160];
  br_addr_format(&br->cfg.target, a, sizeof(a));
  br__log(br, br->t_lost || !br->ever_connected ? 0 : 1, "%s target %s",
          br->t_lost ? "reconnected to" : "connected to", a);
  br->t_lost = 0;
  br->ever_connected = 1;
  svc_event(br->svc, SVC_EV_CONNECT);
  uv_read_start(&t->h.stream, alloc_cb, read_cb);
  if (br->need_replay) {
    br->need_replay = 0;
    replay_session(br);
  }
  timer_kick(br, 1);
  if (br->xcount)
    uv_async_send(&br->async); /* a job waits for the connection */
  else if (!br->c.up && !br->shutting)
    uv_timer_start(&br->xlinger, xlinger_cb, BR_XLINGER_MS, 0); /* re-made for no one */
  br__flush_all(br);
}

static void connect_cb(uv_connect_t *req, int status) {
  br_t *br = req->data;
  if (br->closing || br->tstate != BR__T_CONNECTING)
    return; /* released meanwhile */
  if (status < 0) {
    br__log(br, br->ever_connected ? 1 : 0, "cannot connect to target: %s", uv_strerror(status));
    if (br->t_lost) {
      /* Reconnecting after a loss: requests that arrived meanwhile get
       * their error now, as they would have before the attempt began (the
       * first connection, QEMU still starting, is waited for instead). */
      fail_fifo(br, msg_noconn);
      wtx_fail(br, status);
      br->t.acc.len = 0;
      timer_kick(br, 0);
    }
    target_close_handle(br, "unreachable");
    drain_pending(br);
    br__flush_all(br);
    return;
  }
  if (br->cfg.target.kind == BR_ADDR_TCP)
    uv_tcp_nodelay(&br->t.h.tcp, 1);
  target_up(br);
}

static void target_connect(br_t *br) {
  br__side *t = &br->t;
  if (br->closing || br->tstate != BR__T_IDLE)
    return;
  const br_addr *a = &br->cfg.target;
  int rc = 0;
  br->treq.data = br;
  switch (a->kind) {
  case BR_ADDR_TCP:
    rc = uv_tcp_init(br->loop, &t->h.tcp);
    break;
  case BR_ADDR_UNIX:
  case BR_ADDR_SERIAL:
    rc = uv_pipe_init(br->loop, &t->h.pipe, 0);
    break;
  default:
    rc = UV_EINVAL;
  }
  if (rc < 0) {
    br__log(br, 0, "target: %s", uv_strerror(rc));
    return;
  }
  t->h.handle.data = t;
  t->handles = 1;
  br->open_handles++;
  br->tstate = BR__T_CONNECTING;
  if (a->kind == BR_ADDR_TCP) {
    rc = uv_tcp_connect(&br->treq, &t->h.tcp, (const struct sockaddr *)&a->sa, connect_cb);
  } else if (a->kind == BR_ADDR_UNIX) {
    uv_pipe_connect(&br->treq, &t->h.pipe, a->path, connect_cb);
  } else {
    int fd = br__open_serial(br);
    rc = fd < 0 ? fd : uv_pipe_open(&t->h.pipe, fd);
    if (rc == 0) {
      target_up(br);
      return;
    }
    if (fd >= 0)
      close(fd);
  }
  if (rc < 0) {
    br__log(br, br->ever_connected ? 1 : 0, "cannot connect to target: %s", uv_strerror(rc));
    target_close_handle(br, "unreachable");
  }
}

/* The pipe is unusable: every request in flight fails, the connection is
 * closed and re-established according to the policy. */
static void target_lost(br_t *br, const char *why) {
  if (br->tstate != BR__T_UP && br->tstate != BR__T_CONNECTING)
    return;
  br__log(br, 0, "target connection lost (%s)", why);
  br->t_lost = 1;
  br->t_losses++;
  fail_fifo(br, msg_lost);
  wtx_fail(br, UV_ECONNRESET);
  br->intr_sent = 0;
  if (br->c.up && (br->sess_qsupported_len || br->sess_xml))
    br->need_replay = 1;
  br->t.acc.len = 0;
  flow_check(br);
  br->t_ack_pending = 0;
  uv_timer_stop(&br->ack_timer);
  target_close_handle(br, "lost");
  timer_kick(br, 0);
  drain_pending(br);
}

/* ------------------------------------------------------------------------
 * Client requests.
 */

static void client_drop(br_t *br, const char *why);

/* Local answers that must not overtake replies still in flight. */
static const char *local_answer(br_t *br, const char *b, size_t len) {
  if (eq(b, len, "QStartNoAckMode"))
    return "OK";
  /* QEMU 7.2 answers bc/bs with E22 and then aborts: never forward them. */
  if (eq(b, len, "bc") || eq(b, len, "bs"))
    return "E.rspbridge: reverse execution (bc/bs) is not supported by this target";
  if (br->cfg.read_only && len &&
      (b[0] == 'M' || b[0] == 'X' || b[0] == 'P' || b[0] == 'G' ||
       rsp_has_prefix(b, len, "vFlashWrite") || rsp_has_prefix(b, len, "vFlashErase")))
    return "E.rspbridge: read-only mode: memory and register writes are refused";
  if (br->cfg.read_only && (eq(b, len, "k") || rsp_has_prefix(b, len, "vKill")))
    return "E.rspbridge: read-only mode: kill is refused (the target is left running as it is)";
  return NULL;
}

enum { DISPATCH_DONE = 0, DISPATCH_WAIT = 1 };

/* Whether qSupported:... lists feat (e.g. "multiprocess+"). */
static int has_feature(const char *b, size_t len, const char *feat) {
  size_t n = strlen(feat);
  for (size_t i = 0; i + n <= len; i++)
    if ((b[i - (i > 0)] == ':' || b[i - (i > 0)] == ';') && i > 0 && memcmp(b + i, feat, n) == 0 &&
        (i + n == len || b[i + n] == ';'))
      return 1;
  return 0;
}

/* A read the cache holds whole is answered here, on the loop thread, when
 * the worker is idle (the service's cache is then ours to read). */
static int serve_cached(br_t *br, const char *b, size_t len) {
  uv_mutex_lock(&br->mtx);
  int idle = br->wk_idle && !br->wk_has_job && br->thread_started;
  int n = idle ? svc_serve_cached(br->svc, b, len, br->fast, sizeof(br->fast)) : -1;
  uv_mutex_unlock(&br->mtx);
  if (n < 0)
    return 0;
  client_reply(br, br->fast, (size_t)n);
  return 1;
}

static int dispatch(br_t *br, const char *b, size_t len, int *action) {
  const char *local = local_answer(br, b, len);
  if (local) {
    if (br->fclient)
      return DISPATCH_WAIT;
    client_error(br, local);
    if (eq(b, len, "QStartNoAckMode")) {
      /* "Packet Acknowledgment": the mode starts once our OK is sent. */
      br->c.noack = 1;
      br->c.parser.flags |= RSP_PARSER_NOVERIFY;
      br__log(br, 1, "client: no-ack mode");
    }
    return DISPATCH_DONE;
  }
  br->kill_pending = 0; /* another request: a late W/X is not its reply */
  if (rsp_has_prefix(b, len, "qSupported"))
    br->client_mp = has_feature(b, len, "multiprocess+");
  int kill = eq(b, len, "k") || rsp_has_prefix(b, len, "vKill;");
  if (kill && br->cfg.on_kill == BR_KILL_DETACH) {
    if (br->fclient)
      return DISPATCH_WAIT;
    if (br->tstate == BR__T_UP || br->tstate == BR__T_CONNECTING) {
      /* "D;pid" with the multiprocess extensions (QEMU answers a bare D
       * with E22 then), "D" without. */
      char d[48] = "D";
      if (b[0] == 'v')
        snprintf(d, sizeof(d), "D;%.*s", (int)(len - 6 < 32 ? len - 6 : 32), b + 6);
      else if (br->client_mp && br->target_mp)
        snprintf(d, sizeof(d), "D;1");
      if (br->fcount < BR_FIFO_CAP && side_send(&br->t, d, strlen(d), 0) == 0) {
        fifo_push(br, BR__OWN_INTERNAL, 0, 0);
        timer_kick(br, 0);
      }
      svc_event(br->svc, SVC_EV_DETACH);
      br__log(br, 0, "client asked to kill the target: detached instead (--on-kill detach)");
    }
    client_reply(br, b[0] == 'k' ? "W00" : "OK", 2 + (b[0] == 'k'));
    return DISPATCH_DONE;
  }
  if (*action < 0)
    *action = (int)svc_classify(br->svc, b, len);
  if (*action == SVC_HANDLE) {
    if (br->fclient)
      return DISPATCH_WAIT;
    if (len && b[0] == 'm' && serve_cached(br, b, len))
      return DISPATCH_DONE;
    job_start(br, b, len);
    return DISPATCH_DONE;
  }
  if (br->tstate != BR__T_UP && br->tstate != BR__T_CONNECTING) {
    if (br->t_lost) {
      if (br->fclient)
        return DISPATCH_WAIT;
      client_fail(br, is_mem_read(b, len), msg_noconn);
      if (br->tstate == BR__T_IDLE && !uv_is_active((uv_handle_t *)&br->retry_timer))
        target_connect(br);
      return DISPATCH_DONE;
    }
    if (br->tstate == BR__T_IDLE && !uv_is_active((uv_handle_t *)&br->retry_timer))
      target_connect(br);
  }
  /* After a timeout, new requests wait until the late replies came (or
   * the connection is re-made): a reply must never go to the wrong one. */
  if (br->fcount == BR_FIFO_CAP || (br->forphan && br->tstate == BR__T_UP))
    return DISPATCH_WAIT;
  /* QEMU 7.2 silently drops a packet of PacketSize payload characters or
   * more: refuse it here rather than let the client wait forever. */
  if (br->target_psize && RSP_FRAME_MAX(len) - 4 >= br->target_psize) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
      n += (b[i] == '$' || b[i] == '#' || b[i] == '}' || b[i] == '*') ? 2 : 1;
    if (n >= br->target_psize) {
      if (br->fclient)
        return DISPATCH_WAIT;
      client_error(br, "E.rspbridge: packet longer than the target's PacketSize");
      return DISPATCH_DONE;
    }
  }
  uint8_t flags = 0;
  if (*action == SVC_FORWARD_RESUME || is_resume(b, len)) {
    flags |= BR__REQ_RESUME;
    svc_event(br->svc, SVC_EV_RESUME);
    br->intr_sent = 0;
  }
  if (eq(b, len, "?"))
    flags |= BR__REQ_STOPQ;
  if (rsp_has_prefix(b, len, "qSupported")) {
    flags |= BR__REQ_QSUP;
    if (len <= sizeof(br->sess_qsupported)) {
      memcpy(br->sess_qsupported, b, len);
      br->sess_qsupported_len = len;
    }
  }
  if (rsp_has_prefix(b, len, "qXfer:features:read:"))
    br->sess_xml = 1;
  if (is_mem_read(b, len))
    flags |= BR__REQ_MEM;
  if (rsp_has_prefix(b, len, "vKill"))
    flags |= BR__REQ_VKILL;
  if (len && (b[0] == 'P' || b[0] == 'G'))
    svc_event(br->svc, SVC_EV_REG_WRITE);
  if (len && b[0] == 'D')
    svc_event(br->svc, SVC_EV_DETACH);
  side_send(&br->t, b, len, 0);
  if (br->intr_deferred) {
    br->intr_deferred = 0;
    if ((flags & BR__REQ_RESUME) && side_raw(&br->t, "\003", 1) == 0) {
      br__trace(br, "b>t", "^C", NULL, 0);
      br->intr_sent = 1;
    }
  }
  /* "k" has no reply in the manual (the stub may just exit), but QEMU sends
   * W00 first and LLDB waits for it: it goes to the client if nothing else
   * was asked meanwhile (kill_pending), like a reply. */
  br->kill_pending = eq(b, len, "k");
  if (!br->kill_pending)
    fifo_push(br, BR__OWN_CLIENT, flags, 0);
  timer_kick(br, 0);
  return DISPATCH_DONE;
}

/* Queues a client request; never drops one: above BR_PEND_MAX the client
 * is not read any more (the packets of the read being parsed still come,
 * at most BR_READ_SIZE bytes of them) until the queue is half empty. */
static int pend_push(br_t *br, const char *b, size_t len, int action) {
  uint32_t n = (uint32_t)len;
  int32_t a = action;
  if (buf_reserve(&br->pend, len + 8))
    return -1;
  memcpy(br->pend.p + br->pend.len, &n, 4);
  memcpy(br->pend.p + br->pend.len + 4, &a, 4);
  memcpy(br->pend.p + br->pend.len + 8, b, len);
  br->pend.len += len + 8;
  br->pend_count++;
  if (br->pend_count > BR_PEND_MAX || br->pend.len - br->pend_off > BR_PEND_BYTES)
    flow_check(br);
  return 0;
}

static void drain_pending(br_t *br) {
  while (!br->wk_busy && !br->closing) {
    /* A job for someone else that came before the next client request
     * goes first. */
    if (br->xcount && !br->x_running && !br->shutting &&
        (!br->pend_count || br->xq[br->xhead].seq <= br->req_seq - br->pend_count)) {
      if (xjob_try(br))
        continue;
      break;
    }
    if (!br->pend_count)
      break;
    uint32_t n;
    int32_t a;
    char *e = br->pend.p + br->pend_off;
    memcpy(&n, e, 4);
    memcpy(&a, e + 4, 4);
    int action = a;
    /* Copy out: dispatch may not run on the pend buffer it rewrites. */
    memcpy(br->scratch, e + 8, n);
    int r = dispatch(br, br->scratch, n, &action);
    if (r == DISPATCH_WAIT) {
      a = action;
      memcpy(br->pend.p + br->pend_off + 4, &a, 4);
      break;
    }
    br->pend_off += 8 + (size_t)n;
    br->pend_count--;
  }
  if (!br->pend_count) {
    br->pend.len = br->pend_off = 0;
  } else if (br->pend_off > br->pend.len / 2) {
    memmove(br->pend.p, br->pend.p + br->pend_off, br->pend.len - br->pend_off);
    br->pend.len -= br->pend_off;
    br->pend_off = 0;
  }
  if (br->c.paused)
    flow_check(br);
}

/* GDB never sends a request while it waits for the reply to a monitor
 * command, except when the user pressed Ctrl-C: GDB 13 then prints "Quit"
 * and moves on without sending ^C.  The command is stopped like on ^C and
 * the rest of its output and its reply are dropped, or they would be
 * taken for the replies to GDB's next requests. */
static void abandon_job(br_t *br) {
  br__log(br, 0, "client sent a request during a monitor command: stopping the command");
  uv_mutex_lock(&br->mtx);
  br->wk_abandoned = 1;
  br->wk_intr = 1;
  br->wk_client_ok = 0;
  br->wout.len = 0;
  uv_cond_broadcast(&br->cond);
  uv_mutex_unlock(&br->mtx);
  svc_interrupt(br->svc);
}

static void client_request(br_t *br, const char *b, size_t len) {
  br->req_seq++;
  if (br->wk_busy && br->wk_job_rcmd && !br->wk_abandoned)
    abandon_job(br);
  if (br->pend_count || br->wk_busy) {
    pend_push(br, b, len, -1);
    return;
  }
  int action = -1;
  if (dispatch(br, b, len, &action) == DISPATCH_WAIT)
    pend_push(br, b, len, action);
}

/* ------------------------------------------------------------------------
 * Parser callbacks, client side.
 */

static int c_on_packet(rsp_parser *p, const char *b, size_t len) {
  br__side *c = p->data;
  br_t *br = c->br;
  br__trace(br, "c>b", "$", b, len);
  if (!c->noack)
    side_raw(c, "+", 1);
  client_request(br, b, len);
  return 0;
}

static int c_on_notification(rsp_parser *p, const char *b, size_t len) {
  br__side *c = p->data;
  br__trace(c->br, "c>b", "%", b, len);
  br__log_rl(c->br, 1, "client sent a notification: ignored");
  return 0;
}

static int c_on_ack(rsp_parser *p) {
  br__side *c = p->data;
  c->naks = 0;
  return 0;
}

static int c_on_nak(rsp_parser *p) {
  br__side *c = p->data;
  br__trace(c->br, "c>b", "-", NULL, 0);
  if (c->noack || !c->last_len)
    return 0;
  if (++c->naks > BR_MAX_RETRIES) {
    br__log_rl(c->br, 0, "client: %u NAKs for one packet, giving up on it", c->naks - 1);
    return 0;
  }
  side_raw(c, c->last, c->last_len);
  br__trace(c->br, "b>c", "(again) ", c->last, c->last_len);
  return 0;
}

static int c_on_interrupt(rsp_parser *p) {
  br__side *c = p->data;
  br_t *br = c->br;
  br__trace(br, "c>b", "^C", NULL, 0);
  if (br->wk_busy && br->wk_job_ext && br->pend_count) {
    /* The job is not the client's: the ^C is for the client's resume
     * waiting behind it, sent up right after it. */
    br->intr_deferred = 1;
    return 0;
  }
  if (br->wk_busy) {
    uv_mutex_lock(&br->mtx);
    br->wk_intr = 1;
    uv_mutex_unlock(&br->mtx);
    svc_interrupt(br->svc);
    return 0;
  }
  if (br->tstate != BR__T_UP && br->tstate != BR__T_CONNECTING)
    return 0; /* nothing to interrupt */
  ack_flush(br);
  if (side_raw(&br->t, "\003", 1) == 0) {
    br__trace(br, "b>t", "^C", NULL, 0);
    for (unsigned i = 0; i < br->fcount; i++) {
      br__req *r = fifo_at(br, i);
      if (r->owner == BR__OWN_CLIENT && (r->flags & BR__REQ_RESUME)) {
        br->intr_sent = 1;
        timer_kick(br, 1);
        break;
      }
    }
  }
  return 0;
}

static int c_on_bad_checksum(rsp_parser *p) {
  br__side *c = p->data;
  br__log_rl(c->br, 1, "client: bad checksum, NAK");
  side_raw(c, "-", 1);
  return 0;
}

static int c_on_error(rsp_parser *p) {
  br__side *c = p->data;
  br_t *br = c->br;
  br__log_rl(br, 0, "client: malformed packet (%s)", rsp_strerror(p->err));
  if (p->err == RSP_ETRUNCATED)
    return 0; /* a new packet started; the client retransmits if it cares */
  int idle = !br->fclient && !br->wk_busy && !br->pend_count;
  if (p->err == RSP_EOVERFLOW) {
    if (!c->noack)
      side_raw(c, "+", 1);
    if (idle)
      client_error(br, "E.rspbridge: packet too long");
  } else if (!c->noack) {
    side_raw(c, "-", 1);
  } else if (idle) {
    client_error(br, "E.rspbridge: malformed packet");
  }
  return 0;
}

static const rsp_parser_settings c_settings = {
    .on_packet = c_on_packet,
    .on_notification = c_on_notification,
    .on_ack = c_on_ack,
    .on_nak = c_on_nak,
    .on_interrupt = c_on_interrupt,
    .on_bad_checksum = c_on_bad_checksum,
    .on_error = c_on_error,
};

/* ------------------------------------------------------------------------
 * Parser callbacks, target side.
 */

/* The head request got its reply (or an error in its place). */
static void complete_head(br_t *br, const char *b, size_t len) {
  br__req r = fifo_pop(br);
  if (r.flags & BR__REQ_RESUME)
    br->intr_sent = 0;
  switch (r.owner) {
  case BR__OWN_CLIENT:
    if (r.flags & BR__REQ_QSUP) {
      size_t n = merge_qsupported(br, b, len, br->scratch, sizeof(br->scratch));
      client_reply(br, br->scratch, n);
    } else {
      client_reply(br, b, len);
    }
    if (r.flags & BR__REQ_RESUME) {
      br->intr_sent = 0;
      /* A File-I/O request stops the target too: the client reads or
       * writes its memory before it answers. */
      if (is_stop_reply(b, len) || is_fileio_request(b, len))
        svc_event(br->svc, SVC_EV_STOP);
    }
    break;
  case BR__OWN_WORKER:
    wtx_reply(br, r.idx, b, len, 1);
    wtx_topup(br);
    break;
  case BR__OWN_ORPHAN:
    br__log_rl(br, 1, "dropped a late reply");
    wtx_topup(br);
    break;
  default:
    break;
  }
  timer_kick(br, 1);
  drain_pending(br);
}

static int t_on_packet(rsp_parser *p, const char *b, size_t len) {
  br__side *t = p->data;
  br_t *br = t->br;
  br__trace(br, "t>b", "$", b, len);
  t->bad = 0;
  if (br->fcount == 0 || is_console(b, len)) {
    ack_flush(br);
    side_raw(t, "+", 1);
  } else {
    ack_later(br);
  }
  if (br->fcount == 0) {
    /* Nothing asked, so no resume is pending either.  In all-stop mode
     * GDB reads a '$' packet only as the reply to its own request, so
     * forwarding this one would make it the reply to GDB's next request
     * and shift every reply after it by one (QEMU sends W00 when it is
     * terminated while stopped, then closes).  Asynchronous events in
     * non-stop mode come as notifications (t_on_notification). */
    if (is_stop_reply(b, len) && (b[0] == 'W' || b[0] == 'X') && br->kill_pending) {
      br->kill_pending = 0;
      client_reply(br, b, len); /* the answer to k */
    } else if (is_stop_reply(b, len) && (b[0] == 'W' || b[0] == 'X'))
      br__log_rl(br, 0, "target: the process ended (%.*s) while no resume was pending",
                 (int)(len < 16 ? len : 16), b);
    else
      br__log_rl(br, 1, "target: a packet nothing asked for dropped: %.*s",
                 (int)(len < 32 ? len : 32), b);
    return 0;
  }
  br__req *head = fifo_at(br, 0);
  if (!(head->flags & (BR__REQ_RESUME | BR__REQ_STOPQ)) && is_stop_reply(b, len)) {
    /* A stop reply where none can be the answer: QEMU sends one when a
     * new connection stops a running guest, before it reads our
     * request.  GDB connecting directly would see it before sending
     * anything and ignore it; here it must not be taken for the reply. */
    br__log_rl(br, 1, "target: unsolicited stop reply dropped");
    return 0;
  }
  if (is_console(b, len)) {
    /* "Stop Reply Packets": O packets may precede the final reply of a
     * resume or a qRcmd; they do not complete the request. */
    if (head->owner == BR__OWN_WORKER)
      wtx_reply(br, head->idx, b, len, 0);
    else if (head->owner == BR__OWN_CLIENT)
      client_reply(br, b, len);
    timer_kick(br, 2);
    return 0;
  }
  complete_head(br, b, len);
  return 0;
}

static int t_on_notification(rsp_parser *p, const char *b, size_t len) {
  br__side *t = p->data;
  br_t *br = t->br;
  br__trace(br, "t>b", "%", b, len);
  if (br->c.up)
    side_send(&br->c, b, len, RSP_ENC_NOTIFY);
  return 0;
}

static int t_on_ack(rsp_parser *p) {
  br__side *t = p->data;
  t->naks = 0;
  return 0;
}

static int t_on_nak(rsp_parser *p) {
  br__side *t = p->data;
  if (!t->last_len)
    return 0;
  if (++t->naks > BR_MAX_RETRIES) {
    br__log_rl(t->br, 0, "target: %u NAKs for one packet, giving up on it", t->naks - 1);
    return 0;
  }
  side_raw(t, t->last, t->last_len);
  return 0;
}

static void fail_head(br_t *br, const char *emsg) {
  if (!br->fcount)
    return;
  const br__req *head = fifo_at(br, 0);
  emsg = client_err(br, head->owner == BR__OWN_CLIENT && (head->flags & BR__REQ_MEM), emsg);
  complete_head(br, emsg, strlen(emsg));
}

static int t_on_bad_checksum(rsp_parser *p) {
  br__side *t = p->data;
  br_t *br = t->br;
  if (++t->bad <= BR_MAX_RETRIES) {
    br__log_rl(br, 1, "target: bad checksum, NAK");
    ack_flush(br);
    side_raw(t, "-", 1);
    return 0;
  }
  br__log_rl(br, 0, "target: %u bad checksums in a row, failing the request", t->bad);
  t->bad = 0;
  ack_flush(br);
  side_raw(t, "+", 1);
  fail_head(br, "E.rspbridge: corrupt reply from the target");
  return 0;
}

static int t_on_error(rsp_parser *p) {
  br__side *t = p->data;
  br_t *br = t->br;
  br__log_rl(br, 0, "target: malformed packet (%s)", rsp_strerror(p->err));
  if (p->err == RSP_EOVERFLOW) {
    /* The reply was sent and is lost: the request gets an error. */
    ack_flush(br);
    side_raw(t, "+", 1);
    fail_head(br, "E.rspbridge: reply from the target too long");
  } else if (p->err != RSP_ETRUNCATED && ++t->bad <= BR_MAX_RETRIES) {
    ack_flush(br);
    side_raw(t, "-", 1);
  }
  return 0;
}

static int t_on_interrupt(rsp_parser *p) {
  (void)p;
  return 0;
}

static const rsp_parser_settings t_settings = {
    .on_packet = t_on_packet,
    .on_notification = t_on_notification,
    .on_ack = t_on_ack,
    .on_nak = t_on_nak,
    .on_interrupt = t_on_interrupt,
    .on_bad_checksum = t_on_bad_checksum,
    .on_error = t_on_error,
};

/* ------------------------------------------------------------------------
 * Reading.
 */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
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

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
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
    rsp_parser_execute(&s->parser, s == &br->c ? &c_settings : &t_settings, s->rbuf, (size_t)nread);
  }
  br__flush_all(br);
}

static void side_fail(br__side *s, int err) {
  br_t *br = s->br;
  const char *why = err == UV_EOF ? "closed" : uv_strerror(err);
  if (s == &br->c)
    client_drop(br, why);
  else
    target_lost(br, why);
}

/* ------------------------------------------------------------------------
 * Client connection.
 */

static void try_accept(br_t *br);

static void client_closed(uv_handle_t *h) {
  br__side *c = h->data;
  br_t *br = c->br;
  br->open_handles--;
  c->handles--;
  if (c->handles == 0) {
    c->acc.len = c->fly.len = 0;
    c->writing = 0;
    if (br->accept_pending && !br->closing)
      try_accept(br);
  }
  br__maybe_finish_close(br);
}

static void client_up(br_t *br) {
  br__side *c = &br->c;
  c->up = 1;
  c->noack = 0;
  c->naks = c->bad = 0;
  c->paused = 0;
  c->last_len = 0;
  c->acc.len = 0;
  br->client_gen++;
  rsp_parser_reset(&c->parser);
  c->parser.flags = 0;
  uv_read_start(c->rd, alloc_cb, read_cb);
  br__log(br, 0, "client connected");
  if (br->tstate == BR__T_IDLE && !uv_is_active((uv_handle_t *)&br->retry_timer))
    target_connect(br);
}

static void release_shutdown_cb(uv_shutdown_t *req, int status) {
  br_t *br = req->data;
  (void)status;
  if (br->tstate == BR__T_CLOSING && !uv_is_closing(&br->t.h.handle))
    close_handle(br, &br->t.h.handle, target_closed);
}

/* The client is gone: close the target connection too, the way a debugger
 * that goes away closes its own.  Nothing is sent, so the target is left
 * exactly as the client left it (QEMU does nothing when its gdb
 * connection closes); the next client gets a fresh connection, which
 * QEMU treats like a debugger attaching (it stops the guest and attaches
 * the first process, as it would for GDB connecting directly). */
static void target_release_now(br_t *br) {
  uv_timer_stop(&br->retry_timer);
  br->retries = 0;
  br->t_lost = 0;
  wtx_fail(br, UV_ECONNRESET);
  fifo_clear(br);
  br->intr_sent = 0;
  br->kill_pending = 0;
  if (br->tstate != BR__T_UP && br->tstate != BR__T_CONNECTING)
    return;
  br__log(br, 1, "releasing the target connection");
  ack_flush(br);
  int was_up = br->tstate == BR__T_UP;
  br__side *t = &br->t;
  if (was_up) {
    side_flush(t);
    uv_read_stop(&t->h.stream);
  }
  t->up = 0;
  br->tstate = BR__T_CLOSING;
  br->retry_pending_reason = NULL;
  br->t_ack_pending = 0;
  uv_timer_stop(&br->ack_timer);
  /* Let what was written (a detach, say) reach the target first. */
  br->shutdown_req.data = br;
  if (!was_up || uv_shutdown(&br->shutdown_req, &t->h.stream, release_shutdown_cb) < 0)
    close_handle(br, &t->h.handle, target_closed);
  t->acc.len = 0;
}

static void fin_timer_cb(uv_timer_t *t);

/* Runs svc_finish() on the worker before the target connection closes
 * (then: BR__FIN_RELEASE or BR__FIN_CLOSE); 0 if there is nothing to
 * finish (no worker, no live connection), the caller goes on at once. */
static int finish_start(br_t *br, int then) {
  if (!br->thread_started || br->closing || br->tstate != BR__T_UP || br->wk_busy)
    return 0;
  br->fin_then = then;
  job_start_finish(br);
  /* svc_finish's requests fail after timeout_ms like any other; this is
   * the bound on the whole job. */
  uv_timer_start(&br->fin_timer, fin_timer_cb, br->cfg.timeout_ms + br->cfg.timeout_ms / 2, 0);
  return 1;
}

static void target_release(br_t *br) {
  if (!finish_start(br, BR__FIN_RELEASE))
    target_release_now(br);
}

static void close_now(br_t *br);

static void fin_follow(br_t *br, int then) {
  uv_timer_stop(&br->fin_timer);
  uv_mutex_lock(&br->mtx);
  br->wk_cut = 0;
  uv_mutex_unlock(&br->mtx);
  if (br->shutting) {
    close_now(br);
    return;
  }
  if (then == BR__FIN_RELEASE)
    target_release_now(br);
  drain_pending(br);
  br__flush_all(br);
}

/* The finishing deadline passed (a job that does not end after its
 * interrupt, or svc_finish that the target does not answer): the worker's
 * requests fail now and every later one at once. */
static void fin_timer_cb(uv_timer_t *t) {
  br_t *br = t->data;
  if (br->closing)
    return;
  br__log(br, 0, "%s did not end within the timeout: cutting it short",
          br->fin_then ? "restoring the target" : "the interrupted command");
  uv_mutex_lock(&br->mtx);
  br->wk_cut = 1;
  uv_mutex_unlock(&br->mtx);
  wtx_fail(br, UV_ETIMEDOUT);
  br__flush_all(br);
}

static void client_drop(br_t *br, const char *why) {
  br__side *c = &br->c;
  if (!c->up)
    return;
  c->up = 0;
  br__log(br, 0, "client disconnected (%s)", why);
  br->client_gen++;
  /* The target is left exactly as the client left it: nothing is sent.
   * Replies still owed to the client are dropped when they come. */
  for (unsigned i = 0; i < br->fcount; i++) {
    br__req *r = fifo_at(br, i);
    if (r->owner == BR__OWN_CLIENT) {
      r->owner = BR__OWN_ORPHAN;
      br->forphan++;
    }
  }
  br->fclient = 0;
  br->pend.len = br->pend_off = 0;
  br->pend_count = 0;
  uv_mutex_lock(&br->mtx);
  br->wk_client_ok = 0;
  br->wout.len = 0;
  uv_cond_broadcast(&br->cond);
  uv_mutex_unlock(&br->mtx);
  br->sess_qsupported_len = 0;
  br->sess_xml = 0;
  br->need_replay = 0;
  br->intr_sent = 0;
  br->intr_deferred = 0;
  svc_event(br->svc, SVC_EV_DETACH);
  /* A service command still running may need the target to undo a mode
   * it set (QEMU's physical-memory mode outlives connections): the
   * connection goes when it is done. */
  if (br->wk_busy)
    br->release_after_job = 1;
  else
    target_release(br);
  close_handle(br, &c->h.handle, client_closed);
  if (br->client_stdio && c->w.handle.type != UV_UNKNOWN_HANDLE)
    close_handle(br, &c->w.handle, client_closed);
  timer_kick(br, 0);
  if (br->client_stdio)
    br__stop(br, 0, "client closed the connection");
}

static void reject_closed(uv_handle_t *h) {
  br_t *br = h->data;
  br->open_handles--;
  br->reject_busy = 0;
  if (br->accept_pending && !br->closing)
    try_accept(br);
  br__maybe_finish_close(br);
}

static int init_like_listener(br_t *br, uv_handle_t *h) {
  int rc = br->cfg.listen.kind == BR_ADDR_TCP ? uv_tcp_init(br->loop, (uv_tcp_t *)h)
                                              : uv_pipe_init(br->loop, (uv_pipe_t *)h, 0);
  if (rc == 0)
    br->open_handles++;
  return rc;
}

static void accept_check_cb(uv_check_t *h);

static void try_accept(br_t *br) {
  br__side *c = &br->c;
  br->accept_pending = 0;
  if (br->shutting)
    return;
  if (c->handles == 0) {
    if (init_like_listener(br, &c->h.handle))
      return;
    c->h.handle.data = c;
    c->handles = 1;
    if (uv_accept(&br->listener.stream, &c->h.stream) < 0) {
      close_handle(br, &c->h.handle, client_closed);
      return;
    }
    if (br->cfg.listen.kind == BR_ADDR_TCP)
      uv_tcp_nodelay(&c->h.tcp, 1);
    c->rd = c->wr = &c->h.stream;
    client_up(br);
    return;
  }
  if (!c->up) {
    /* The last client's handle is still closing: take this one then. */
    br->accept_pending = 1;
    return;
  }
  if (!br->accept_deferred) {
    /* A client that closes and connects again at once: its close may be
     * in this same loop iteration's I/O, after this callback.  Decided
     * once that I/O is processed (accept_check_cb). */
    br->accept_deferred = 1;
    br->accept_pending = 1;
    uv_check_start(&br->accept_check, accept_check_cb);
    return;
  }
  if (!br->reject_busy) {
    if (init_like_listener(br, &br->reject.handle))
      return;
    br->reject.handle.data = br;
    br->reject_busy = 1;
    if (uv_accept(&br->listener.stream, (uv_stream_t *)&br->reject.handle) == 0)
      br__log_rl(br, 0, "refused a second client (one client at a time)");
    close_handle(br, &br->reject.handle, reject_closed);
    return;
  }
  br->accept_pending = 1;
}

/* Whether the client's socket has only its end left to read (libuv stops
 * reading after a short read, so a close right behind the last request is
 * only seen at the next poll): 1 at EOF, 0 with bytes waiting, -1 else. */
static int client_at_eof(br_t *br) {
  uv_os_fd_t fd;
  if (br->client_stdio || uv_fileno(&br->c.h.handle, &fd) < 0)
    return -1;
  char ch;
  ssize_t n = recv(fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 ? 1 : n > 0 ? 0 : -1;
}

static void accept_check_cb(uv_check_t *h) {
  br_t *br = h->data;
  if (br->closing || br->shutting) {
    uv_check_stop(h);
    return;
  }
  if (br->c.up && br->accept_pending) {
    int eof = client_at_eof(br);
    if (eof == 1) {
      client_drop(br, "closed"); /* the new client is taken once it is */
    } else if (eof == 0 && ++br->accept_deferred < 8) {
      return; /* its last bytes are read in the next iteration first */
    }
  }
  uv_check_stop(h);
  if (br->accept_pending)
    try_accept(br); /* accept_deferred: now taken or refused */
  br->accept_deferred = 0;
  br__flush_all(br);
}

static void connection_cb(uv_stream_t *server, int status) {
  br_t *br = server->data;
  if (br->closing)
    return;
  if (status < 0) {
    br__log(br, 0, "accept: %s", uv_strerror(status));
    return;
  }
  try_accept(br);
  br__flush_all(br);
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
}

int br_init(uv_loop_t *loop, br_t *br, const br_config *cfg) {
  memset(br, 0, sizeof(*br));
  br->loop = loop;
  br->cfg = *cfg;
  br->c.br = br;
  br->c.name = "client";
  br->t.br = br;
  br->t.name = "target";
  rsp_parser_init(&br->c.parser, br->c.body, sizeof(br->c.body));
  br->c.parser.data = &br->c;
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
  br->svc = svc_new(&br__io, br, &br->cfg.svc);
  if (!br->svc)
    return UV_ENOMEM;
  if ((rc = uv_mutex_init(&br->mtx)) < 0)
    return rc;
  if ((rc = uv_cond_init(&br->cond)) < 0) {
    uv_mutex_destroy(&br->mtx);
    return rc;
  }
  br->started = 1;
  uv_timer_init(br->loop, &br->retry_timer);
  br->retry_timer.data = br;
  uv_timer_init(br->loop, &br->req_timer);
  br->req_timer.data = br;
  uv_timer_init(br->loop, &br->ack_timer);
  br->ack_timer.data = br;
  uv_async_init(br->loop, &br->async, async_cb);
  br->async.data = br;
  uv_idle_init(br->loop, &br->spin);
  br->spin.data = br;
  uv_timer_init(br->loop, &br->fin_timer);
  br->fin_timer.data = br;
  uv_check_init(br->loop, &br->accept_check);
  br->accept_check.data = br;
  uv_timer_init(br->loop, &br->xlinger);
  br->xlinger.data = br;
  br->open_handles += 8;
  br->listener.handle.data = br;
  br->reject.handle.data = br;

  const br_addr *l = &br->cfg.listen;
  if (l->kind == BR_ADDR_STDIO) {
    br->client_stdio = 1;
    br__side *c = &br->c;
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
    client_up(br);
  } else if (l->kind == BR_ADDR_TCP) {
    if ((rc = uv_tcp_init(br->loop, &br->listener.tcp)) < 0)
      return rc;
    br->open_handles++;
    br->listening = 1;
    if ((rc = uv_tcp_bind(&br->listener.tcp, (const struct sockaddr *)&l->sa, 0)) < 0)
      return rc;
    if ((rc = uv_listen(&br->listener.stream, 4, connection_cb)) < 0)
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
    if ((rc = uv_listen(&br->listener.stream, 4, connection_cb)) < 0)
      return rc;
  } else {
    return UV_EINVAL;
  }
  if ((rc = uv_thread_create(&br->thread, worker_main, br)) < 0)
    return rc;
  br->thread_started = 1;
  return 0;
}

int br_ever_connected(const br_t *br) {
  return br->ever_connected;
}

int br_listen_port(const br_t *br) {
  return br->listen_port;
}

static void br__stop(br_t *br, int status, const char *why) {
  if (br->stopped || br->closing || br->shutting)
    return;
  br->stopped = 1;
  br__log(br, 0, "%s", why);
  if (br->cfg.on_stop)
    br->cfg.on_stop(br, status, why);
}

static void br__maybe_finish_close(br_t *br) {
  if (!br->closing || br->open_handles > 0 || !br->close_cb)
    return;
  br_close_cb cb = br->close_cb;
  br->close_cb = NULL;
  if (br->svc)
    svc_free(br->svc);
  br->svc = NULL;
  if (br->started) {
    uv_cond_destroy(&br->cond);
    uv_mutex_destroy(&br->mtx);
  }
  buf_free(&br->c.acc);
  buf_free(&br->c.fly);
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
  xjob_cancel(br, UV_ECANCELED, 0);
  if (!br->thread_started || (!br->wk_busy && br->tstate != BR__T_UP)) {
    close_now(br);
    return;
  }
  br->shutting = 1;
  if (br->listening)
    close_handle(br, &br->listener.handle, handle_closed);
  br->listening = 0;
  br->accept_pending = 0;
  uv_timer_stop(&br->retry_timer);
  br__side *c = &br->c;
  if (c->up) {
    c->up = 0;
    br->client_gen++;
    for (unsigned i = 0; i < br->fcount; i++) {
      br__req *r = fifo_at(br, i);
      if (r->owner == BR__OWN_CLIENT) {
        r->owner = BR__OWN_ORPHAN;
        br->forphan++;
      }
    }
    br->fclient = 0;
    br->pend.len = br->pend_off = 0;
    br->pend_count = 0;
    close_handle(br, &c->h.handle, client_closed);
    if (br->client_stdio && c->w.handle.type != UV_UNKNOWN_HANDLE)
      close_handle(br, &c->w.handle, client_closed);
  }
  if (br->wk_busy && !br->wk_job_finish) {
    br__log(br, 0, "stopping the running command before exiting");
    uv_mutex_lock(&br->mtx);
    br->wk_abandoned = 1;
    br->wk_intr = 1;
    br->wk_client_ok = 0;
    br->wout.len = 0;
    uv_cond_broadcast(&br->cond);
    uv_mutex_unlock(&br->mtx);
    svc_interrupt(br->svc);
    uv_timer_start(&br->fin_timer, fin_timer_cb, br->cfg.timeout_ms, 0);
  } else if (!br->wk_busy) {
    shutdown_step(br);
  }
  timer_kick(br, 0);
  br__flush_all(br);
}

/* Shutting down and the worker is idle: the finish job, or the end. */
static void shutdown_step(br_t *br) {
  uv_timer_stop(&br->fin_timer);
  uv_mutex_lock(&br->mtx);
  br->wk_cut = 0;
  uv_mutex_unlock(&br->mtx);
  if (!finish_start(br, BR__FIN_CLOSE))
    close_now(br);
}

static void close_now(br_t *br) {
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
    close_handle(br, (uv_handle_t *)&br->retry_timer, handle_closed);
    close_handle(br, (uv_handle_t *)&br->req_timer, handle_closed);
    close_handle(br, (uv_handle_t *)&br->ack_timer, handle_closed);
    close_handle(br, (uv_handle_t *)&br->async, handle_closed);
    close_handle(br, (uv_handle_t *)&br->spin, handle_closed);
    close_handle(br, (uv_handle_t *)&br->fin_timer, handle_closed);
    close_handle(br, (uv_handle_t *)&br->accept_check, handle_closed);
    close_handle(br, (uv_handle_t *)&br->xlinger, handle_closed);
  }
  xjob_cancel(br, UV_ECANCELED, 1);
  if (br->listening)
    close_handle(br, &br->listener.handle, handle_closed);
  br->listening = 0;
  if (br->c.handles) {
    br->c.up = 0;
    close_handle(br, &br->c.h.handle, client_closed);
    if (br->c.handles > 1)
      close_handle(br, &br->c.w.handle, client_closed);
  }
  if (br->t.handles) {
    br->t.up = 0;
    close_handle(br, &br->t.h.handle, target_closed);
  }
  br__maybe_finish_close(br);
}

/* ------------------------------------------------------------------------
 * Jobs for others than the client.
 */

static int xjob_push(br_t *br, const char *body, size_t len, br_job_fn fn, void *fn_arg,
                     br_job_cb cb, void *arg) {
  if (!br->started || br->closing || br->shutting)
    return UV_ECANCELED;
  if (len > BR_BODY_MAX)
    return UV_E2BIG;
  if (br->xcount == BR_XJOB_MAX)
    return UV_EBUSY;
  char *copy = NULL;
  if (len) {
    copy = malloc(len);
    if (!copy)
      return UV_ENOMEM;
    memcpy(copy, body, len);
  }
  struct br__xjob *j = &br->xq[(br->xhead + br->xcount) % BR_XJOB_MAX];
  j->cb = cb;
  j->arg = arg;
  j->fn = fn;
  j->fn_arg = fn_arg;
  j->body = copy;
  j->len = len;
  j->seq = br->req_seq;
  br->xcount++;
  /* Never from inside this call: the loop runs it (async_cb). */
  uv_async_send(&br->async);
  return 0;
}

int br_job_submit(br_t *br, const char *body, size_t len, br_job_cb cb, void *arg) {
  if (!len)
    return UV_EINVAL;
  return xjob_push(br, body, len, NULL, NULL, cb, arg);
}

int br_job_call(br_t *br, br_job_fn fn, void *fn_arg, br_job_cb cb, void *arg) {
  return xjob_push(br, NULL, 0, fn, fn_arg, cb, arg);
}

static void xlinger_cb(uv_timer_t *t) {
  br_t *br = t->data;
  if (br->closing || br->shutting || br->c.up || br->wk_busy || br->xcount ||
      br->tstate != BR__T_UP || br->fcount)
    return;
  br__log(br, 1, "no client and no HTTP request: releasing the target connection");
  target_release(br);
}

void br_get_state(const br_t *br, br_state *st) {
  st->connected = br->tstate == BR__T_UP;
  st->running = client_running(br);
  st->lost = br->t_lost;
  st->sessions = br->c.up ? 1 : 0;
}

uv_loop_t *br_loop(br_t *br) {
  return br->loop;
}
