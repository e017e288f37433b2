/* target.c - the target connection and its state: connecting, losing and
 * re-making it (with the session's setup replayed), the target's packets
 * (each completes the request at the head of the upstream pipe), and
 * finishing it (svc_finish() on the worker before the connection closes).
 * Loop thread only.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "br_int.h"

static void retry_cb(uv_timer_t *t);
static void fail_fifo(br_t *br, const char *why);
static void fail_client_requests(br_t *br);
static void target_retry(br_t *br, const char *why);
static void target_close_handle(br_t *br, const char *retry_why);
static void replay_session(br_t *br);
static void target_up(br_t *br);
static void connect_cb(uv_connect_t *req, int status);
static void complete_head(br_t *br, const char *b, size_t len);
static int t_on_packet(rsp_parser *p, const char *b, size_t len);
static int t_on_notification(rsp_parser *p, const char *b, size_t len);
static int t_on_ack(rsp_parser *p);
static int t_on_nak(rsp_parser *p);
static void fail_head(br_t *br, const char *why);
static int t_on_bad_checksum(rsp_parser *p);
static int t_on_error(rsp_parser *p);
static int t_on_interrupt(rsp_parser *p);
static void release_shutdown_cb(uv_shutdown_t *req, int status);
static void target_release_now(br_t *br);

static void retry_cb(uv_timer_t *t) {
  br_t *br = t->data;
  if (!br->closing && br->tstate == BR__T_IDLE)
    br__target_connect(br);
}

/* Every client request sent upstream fails with why; the pipe is
 * emptied. */
static void fail_fifo(br_t *br, const char *why) {
  br__fifo_disown(br, why, BR__DISOWN_ALL | BR__DISOWN_VKILL_OK);
  br__fifo_clear(br);
  if (br->kill_pending && br->c->up) {
    /* A forwarded k (no reply in the manual, W or X for LLDB): the target
     * closed without one, the client that waits gets it now. */
    br__client_reply(br, "X09", 3);
  }
  br->kill_pending = 0;
}

/* The bridge gives up on the target: every client request still waiting,
 * sent upstream or queued behind a busy pipe, gets its error now. */
static void fail_client_requests(br_t *br) {
  fail_fifo(br, br__why_noconn);
  br__pend_drop(br, br__why_noconn);
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

void br__target_closed(uv_handle_t *h) {
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
    } else if (!br->closing && br__sess_count(br, 0)) {
      br__target_connect(br); /* a client came while the last one's was released */
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
  br__close_handle(br, &t->h.handle, br__target_closed);
}

static void replay_session(br_t *br) {
  /* A fresh connection to QEMU knows nothing: p/P answer empty until the
   * target description was read ("QEMU 7.2 facts" in DESIGN.md). */
  if (br->sess_qsupported_len) {
    br__side_send(&br->t, br->sess_qsupported, br->sess_qsupported_len, 0);
    br__fifo_push(br, BR__OWN_INTERNAL, 0, 0);
  }
  if (br->sess_xml) {
    static const char xml[] = "qXfer:features:read:target.xml:0,ffb";
    br__side_send(&br->t, xml, sizeof(xml) - 1, 0);
    br__fifo_push(br, BR__OWN_INTERNAL, 0, 0);
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
  br->ops->event(br->svc, SVC_EV_CONNECT);
  uv_read_start(&t->h.stream, br__alloc_cb, br__read_cb);
  if (br->need_replay) {
    br->need_replay = 0;
    replay_session(br);
  }
  br__timer_kick(br, 1);
  br__obs_pump(br); /* observers' requests wait for the connection */
  if (br->xcount)
    uv_async_send(&br->async); /* a job waits for the connection */
  else if (!br__sess_count(br, 0) && !br->shutting)
    uv_timer_start(&br->xlinger, br__xlinger_cb, BR_XLINGER_MS, 0); /* made for no one */
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
      fail_fifo(br, br__why_noconn);
      br__wtx_fail(br, status);
      br->t.acc.len = 0;
      br__timer_kick(br, 0);
    }
    target_close_handle(br, "unreachable");
    br__drain_pending(br);
    br__flush_all(br);
    return;
  }
  if (br->cfg.target.kind == BR_ADDR_TCP)
    uv_tcp_nodelay(&br->t.h.tcp, 1);
  target_up(br);
}

void br__target_connect(br_t *br) {
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
void br__target_lost(br_t *br, const char *why) {
  if (br->tstate != BR__T_UP && br->tstate != BR__T_CONNECTING)
    return;
  br__log(br, 0, "target connection lost (%s)", why);
  br->t_lost = 1;
  br->t_losses++;
  /* Nothing learned from this target may be served any more: not while
   * the connection is down, not once it is re-made (issue 12). */
  br->ops->event(br->svc, SVC_EV_LOST);
  fail_fifo(br, br__why_lost);
  br__pause_lost(br);
  br__wtx_fail(br, UV_ECONNRESET);
  br->intr_sent = 0;
  if (br->c->up && (br->sess_qsupported_len || br->sess_xml))
    br->need_replay = 1;
  br->t.acc.len = 0;
  br__flow_check(br);
  br->t_ack_pending = 0;
  uv_timer_stop(&br->ack_timer);
  target_close_handle(br, "lost");
  br__timer_kick(br, 0);
  br__drain_pending(br);
}

/* The head request got its reply (or an error in its place). */
static void complete_head(br_t *br, const char *b, size_t len) {
  const br__req *h = br__fifo_at(br, 0);
  if (h->owner == BR__OWN_CLIENT && (h->flags & BR__REQ_RESUME) && br__pause_stop(br, b, len)) {
    /* The stop our ^C caused for observers: the controller never sees
     * it (sessions.c). */
    br__fifo_pop(br);
    br->intr_sent = 0;
    br__timer_kick(br, 1);
    br__drain_pending(br);
    return;
  }
  br__req r = br__fifo_pop(br);
  if (r.flags & BR__REQ_RESUME)
    br->intr_sent = 0;
  switch (r.owner) {
  case BR__OWN_CLIENT:
    if (r.flags & BR__REQ_QSUP) {
      size_t n = br__merge_qsupported(br, b, len, br->scratch, sizeof(br->scratch));
      br__client_reply(br, br->scratch, n);
      if (n <= sizeof(br->qsup_reply)) { /* for observers */
        memcpy(br->qsup_reply, br->scratch, n);
        br->qsup_reply_len = n;
      }
    } else {
      br__client_reply(br, b, len);
    }
    if (r.flags & BR__REQ_RESUME) {
      br->intr_sent = 0;
      /* A File-I/O request stops the target too: the client reads or
       * writes its memory before it answers. */
      int rc = rsp_classify_reply(b, len, NULL);
      if (rc == RSP_REPLY_STOP || rc == RSP_REPLY_FILE_IO)
        br->ops->event(br->svc, SVC_EV_STOP);
    }
    break;
  case BR__OWN_OBS:
    br__obs_reply(br, r.idx, b, len, 1, (r.flags & BR__REQ_QSUP) != 0);
    break;
  case BR__OWN_WORKER:
    br__wtx_reply(br, r.idx, b, len, 1);
    br__wtx_topup(br);
    break;
  case BR__OWN_ORPHAN:
    br__log_rl(br, 1, "dropped a late reply");
    br__wtx_topup(br);
    break;
  default:
    break;
  }
  br__timer_kick(br, 1);
  br__drain_pending(br);
}

static int t_on_packet(rsp_parser *p, const char *b, size_t len) {
  br__side *t = p->data;
  br_t *br = t->br;
  br__trace(br, "t>b", "$", b, len);
  t->bad = 0;
  unsigned rf;
  int rc = rsp_classify_reply(b, len, &rf);
  if (br->fcount == 0 || rc == RSP_REPLY_CONSOLE) {
    br__ack_flush(br);
    br__side_raw(t, "+", 1);
  } else {
    br__ack_later(br);
  }
  if (br->fcount == 0) {
    /* Nothing asked, so no resume is pending either.  In all-stop mode
     * GDB reads a '$' packet only as the reply to its own request, so
     * forwarding this one would make it the reply to GDB's next request
     * and shift every reply after it by one (QEMU sends W00 when it is
     * terminated while stopped, then closes).  Asynchronous events in
     * non-stop mode come as notifications (t_on_notification). */
    if ((rf & RSP_REPF_EXITED) && br->kill_pending) {
      br->kill_pending = 0;
      br__client_reply(br, b, len); /* the answer to k */
    } else if (rf & RSP_REPF_EXITED)
      br__log_rl(br, 0, "target: the process ended (%.*s) while no resume was pending",
                 (int)(len < 16 ? len : 16), b);
    else
      br__log_rl(br, 1, "target: a packet nothing asked for dropped: %.*s",
                 (int)(len < 32 ? len : 32), b);
    return 0;
  }
  br__req *head = br__fifo_at(br, 0);
  /* Every stop reply of the manual counts, w (thread exit) and N (no
   * resumed thread) too: "Stop Reply Packets" lists them among the replies
   * a resume gets when the target halts, so they can no more be the answer
   * to another request than S or T can. */
  if (!(head->flags & (BR__REQ_RESUME | BR__REQ_STOPQ)) && rc == RSP_REPLY_STOP) {
    /* A stop reply where none can be the answer: QEMU sends one when a
     * new connection stops a running guest, before it reads our
     * request.  GDB connecting directly would see it before sending
     * anything and ignore it; here it must not be taken for the reply. */
    br__log_rl(br, 1, "target: unsolicited stop reply dropped");
    return 0;
  }
  if (rc == RSP_REPLY_CONSOLE) {
    /* "Stop Reply Packets": O packets may precede the final reply of a
     * resume or a qRcmd; they do not complete the request. */
    if (head->owner == BR__OWN_WORKER)
      br__wtx_reply(br, head->idx, b, len, 0);
    else if (head->owner == BR__OWN_CLIENT)
      br__client_reply(br, b, len);
    else if (head->owner == BR__OWN_OBS)
      br__obs_reply(br, head->idx, b, len, 0, 0);
    br__timer_kick(br, 2);
    return 0;
  }
  complete_head(br, b, len);
  return 0;
}

static int t_on_notification(rsp_parser *p, const char *b, size_t len) {
  br__side *t = p->data;
  br_t *br = t->br;
  br__trace(br, "t>b", "%", b, len);
  if (br->c->up)
    br__side_send(br->c, b, len, RSP_ENC_NOTIFY);
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
  br__side_raw(t, t->last, t->last_len);
  return 0;
}

/* The head request fails with why, whoever sent it. */
static void fail_head(br_t *br, const char *why) {
  if (!br->fcount)
    return;
  const br__req *head = br__fifo_at(br, 0);
  char buf[256];
  const char *e = br__err_body(br,
                               (head->owner == BR__OWN_CLIENT || head->owner == BR__OWN_OBS) &&
                                   (head->flags & BR__REQ_MEM),
                               why, buf, sizeof(buf));
  complete_head(br, e, strlen(e));
}

static int t_on_bad_checksum(rsp_parser *p) {
  br__side *t = p->data;
  br_t *br = t->br;
  if (++t->bad <= BR_MAX_RETRIES) {
    br__log_rl(br, 1, "target: bad checksum, NAK");
    br__ack_flush(br);
    br__side_raw(t, "-", 1);
    return 0;
  }
  br__log_rl(br, 0, "target: %u bad checksums in a row, failing the request", t->bad);
  t->bad = 0;
  br__ack_flush(br);
  br__side_raw(t, "+", 1);
  fail_head(br, "corrupt reply from the target");
  return 0;
}

static int t_on_error(rsp_parser *p) {
  br__side *t = p->data;
  br_t *br = t->br;
  br__log_rl(br, 0, "target: malformed packet (%s)", rsp_strerror(p->err));
  if (p->err == RSP_EOVERFLOW) {
    /* The reply was sent and is lost: the request gets an error. */
    br__ack_flush(br);
    br__side_raw(t, "+", 1);
    fail_head(br, "reply from the target too long");
  } else if (p->err != RSP_ETRUNCATED && ++t->bad <= BR_MAX_RETRIES) {
    br__ack_flush(br);
    br__side_raw(t, "-", 1);
  }
  return 0;
}

static int t_on_interrupt(rsp_parser *p) {
  (void)p;
  return 0;
}

const rsp_parser_settings br__t_settings = {
    .on_packet = t_on_packet,
    .on_notification = t_on_notification,
    .on_ack = t_on_ack,
    .on_nak = t_on_nak,
    .on_interrupt = t_on_interrupt,
    .on_bad_checksum = t_on_bad_checksum,
    .on_error = t_on_error,
};

static void release_shutdown_cb(uv_shutdown_t *req, int status) {
  br_t *br = req->data;
  (void)status;
  if (br->tstate == BR__T_CLOSING && !uv_is_closing(&br->t.h.handle))
    br__close_handle(br, &br->t.h.handle, br__target_closed);
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
  br__wtx_fail(br, UV_ECONNRESET);
  br__fifo_disown(br, "target connection released", BR__DISOWN_OBS);
  br__fifo_clear(br);
  br->intr_sent = 0;
  br->kill_pending = 0;
  br->pz_state = BR__PZ_NONE;
  if (br->tstate != BR__T_UP && br->tstate != BR__T_CONNECTING)
    return;
  br__log(br, 1, "releasing the target connection");
  br__ack_flush(br);
  int was_up = br->tstate == BR__T_UP;
  br__side *t = &br->t;
  if (was_up) {
    br__side_flush(t);
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
    br__close_handle(br, &t->h.handle, br__target_closed);
  t->acc.len = 0;
}

/* Runs svc_finish() on the worker before the target connection closes
 * (then: BR__FIN_RELEASE or BR__FIN_CLOSE); 0 if there is nothing to
 * finish (no worker, no live connection), the caller goes on at once. */
int br__finish_start(br_t *br, int then) {
  if (!br->thread_started || br->closing || br->tstate != BR__T_UP || br->wk_busy)
    return 0;
  br->fin_then = then;
  br__job_start_finish(br);
  /* svc_finish's requests fail after timeout_ms like any other; this is
   * the bound on the whole job. */
  uv_timer_start(&br->fin_timer, br__fin_timer_cb, br->cfg.timeout_ms + br->cfg.timeout_ms / 2, 0);
  return 1;
}

void br__target_release(br_t *br) {
  if (!br__finish_start(br, BR__FIN_RELEASE))
    target_release_now(br);
}

void br__fin_follow(br_t *br, int then) {
  uv_timer_stop(&br->fin_timer);
  uv_mutex_lock(&br->mtx);
  br->wk_cut = 0;
  uv_mutex_unlock(&br->mtx);
  if (br->shutting) {
    br__close_now(br);
    return;
  }
  if (then == BR__FIN_RELEASE)
    target_release_now(br);
  br__drain_pending(br);
  br__flush_all(br);
}

/* The finishing deadline passed (a job that does not end after its
 * interrupt, or svc_finish that the target does not answer): the worker's
 * requests fail now and every later one at once. */
void br__fin_timer_cb(uv_timer_t *t) {
  br_t *br = t->data;
  if (br->closing)
    return;
  br__log(br, 0, "%s did not end within the timeout: cutting it short",
          br->fin_then ? "restoring the target" : "the interrupted command");
  uv_mutex_lock(&br->mtx);
  br->wk_cut = 1;
  uv_mutex_unlock(&br->mtx);
  br__wtx_fail(br, UV_ETIMEDOUT);
  br__flush_all(br);
}
