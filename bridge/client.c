/* client.c - the client side: the listener (one client at a time, a second
 * one refused), the client session, its requests (answered here, queued,
 * sent upstream or given to the service) and every error reply the bridge
 * makes (br__err_body).  Loop thread only.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "br_int.h"

static const char *local_refusal(br_t *br, const char *b, size_t len);
static int has_feature(const char *b, size_t len, const char *feat);
static int serve_cached(br_t *br, const char *b, size_t len);
static void client_request(br_t *br, const char *b, size_t len);
static int c_on_packet(rsp_parser *p, const char *b, size_t len);
static int c_on_notification(rsp_parser *p, const char *b, size_t len);
static int c_on_ack(rsp_parser *p);
static int c_on_nak(rsp_parser *p);
static int c_on_interrupt(rsp_parser *p);
static int c_on_bad_checksum(rsp_parser *p);
static int c_on_error(rsp_parser *p);
static void reject_closed(uv_handle_t *h);
static int init_like_listener(br_t *br, uv_handle_t *h);
static int client_at_eof(br_t *br);
static void accept_check_cb(uv_check_t *h);

void br__client_reply(br_t *br, const char *body, size_t len) {
  br__side_send(br->c, body, len, 0);
}

int br__is_mem_read(const char *b, size_t len) {
  return len && (b[0] == 'm' || b[0] == 'x');
}

/* Error replies.  Every error the bridge answers in place of a reply is
 * made here: "E.rspbridge: " and the reason.  For a memory read (m, x) of
 * the client it is E05 instead: GDB takes the reply to those for data
 * unless it is exactly "Enn" ("E.text" would be printed as "Invalid hex
 * digit"); E05 (EIO) makes it say "Cannot access memory", and the reason
 * goes to the log.  The body is in buf, or a constant. */
const char *br__err_body(br_t *br, int mem, const char *why, char *buf, size_t cap) {
  if (mem) {
    br__log_rl(br, 0, "client memory read failed: rspbridge: %s", why);
    return "E05";
  }
  snprintf(buf, cap, "E.rspbridge: %s", why);
  return buf;
}

/* The client's request (a memory read if mem) fails with the reason why. */
void br__client_fail(br_t *br, int mem, const char *why) {
  char buf[256];
  const char *e = br__err_body(br, mem, why, buf, sizeof(buf));
  br__client_reply(br, e, strlen(e));
}

/* GDB manual, "General Query Packets", qSupported: the client sees the
 * target's features, with a PacketSize both the target and the bridge can
 * take, plus QStartNoAckMode, which the bridge implements on the client
 * side whatever the target does. */
size_t br__merge_qsupported(br_t *br, const char *in, size_t len, char *out, size_t cap) {
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
  unsigned ps = br->ops->set_packet_size(br->svc, br->target_psize, BR_BODY_MAX);
  o += (size_t)snprintf(out + o, cap - o, "%sPacketSize=%x;QStartNoAckMode+", o ? ";" : "", ps);
  return o;
}

/* Requests the bridge refuses itself (the reason), after the replies still
 * in flight. */
static const char *local_refusal(br_t *br, const char *b, size_t len) {
  /* QEMU 7.2 answers bc/bs with E22 and then aborts: never forward them. */
  if (br__eq(b, len, "bc") || br__eq(b, len, "bs"))
    return "reverse execution (bc/bs) is not supported by this target";
  if (br->cfg.read_only && len &&
      (b[0] == 'M' || b[0] == 'X' || b[0] == 'P' || b[0] == 'G' ||
       rsp_has_prefix(b, len, "vFlashWrite") || rsp_has_prefix(b, len, "vFlashErase")))
    return "read-only mode: memory and register writes are refused";
  if (br->cfg.read_only && (br__eq(b, len, "k") || rsp_has_prefix(b, len, "vKill")))
    return "read-only mode: kill is refused (the target is left running as it is)";
  return NULL;
}

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
  int n = idle ? br->ops->serve_cached(br->svc, b, len, br->fast, sizeof(br->fast)) : -1;
  uv_mutex_unlock(&br->mtx);
  if (n < 0)
    return 0;
  br__client_reply(br, br->fast, (size_t)n);
  return 1;
}

int br__dispatch(br_t *br, const char *b, size_t len, int *action) {
  /* The guest is paused for observers: the controller's requests (it
   * believes the target runs) wait for its resume to go again. */
  if (br->pz_state != BR__PZ_NONE)
    return DISPATCH_WAIT;
  int noack = br__eq(b, len, "QStartNoAckMode");
  const char *refused = noack ? NULL : local_refusal(br, b, len);
  if (noack || refused) {
    /* Answered here, but not before the replies still in flight. */
    if (br->fclient)
      return DISPATCH_WAIT;
    if (refused) {
      br__client_fail(br, 0, refused);
    } else {
      br__client_reply(br, "OK", 2);
      /* "Packet Acknowledgment": the mode starts once our OK is sent. */
      br->c->noack = 1;
      br->c->parser.flags |= RSP_PARSER_NOVERIFY;
      br__log(br, 1, "client: no-ack mode");
    }
    return DISPATCH_DONE;
  }
  if (br->ctl && rsp_has_prefix(b, len, "qRcmd,")) {
    if (br->fclient)
      return DISPATCH_WAIT;
    if (br__session_rcmd(br, br->ctl, b, len))
      return DISPATCH_DONE; /* monitor session: the bridge's own */
  }
  br->kill_pending = 0; /* another request: a late W/X is not its reply */
  if (rsp_has_prefix(b, len, "qSupported")) {
    br->client_mp = has_feature(b, len, "multiprocess+");
    if (br->ctl)
      br->ctl->mp = br->client_mp;
  }
  int kill = br__eq(b, len, "k") || rsp_has_prefix(b, len, "vKill;");
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
      if (br->fcount < BR_FIFO_CAP && br__side_send(&br->t, d, strlen(d), 0) == 0) {
        br__fifo_push(br, BR__OWN_INTERNAL, 0, 0);
        br__timer_kick(br, 0);
      }
      br->ops->event(br->svc, SVC_EV_DETACH);
      br__log(br, 0, "client asked to kill the target: detached instead (--on-kill detach)");
    }
    br__client_reply(br, b[0] == 'k' ? "W00" : "OK", 2 + (b[0] == 'k'));
    return DISPATCH_DONE;
  }
  if (*action < 0)
    *action = (int)br->ops->classify(br->svc, b, len);
  if (*action == SVC_HANDLE) {
    if (br->fclient)
      return DISPATCH_WAIT;
    if (len && b[0] == 'm' && serve_cached(br, b, len))
      return DISPATCH_DONE;
    br__job_start(br, b, len);
    return DISPATCH_DONE;
  }
  if (br->tstate != BR__T_UP && br->tstate != BR__T_CONNECTING) {
    if (br->t_lost) {
      if (br->fclient)
        return DISPATCH_WAIT;
      br__client_fail(br, br__is_mem_read(b, len), br__why_noconn);
      if (br->tstate == BR__T_IDLE && !uv_is_active((uv_handle_t *)&br->retry_timer))
        br__target_connect(br);
      return DISPATCH_DONE;
    }
    if (br->tstate == BR__T_IDLE && !uv_is_active((uv_handle_t *)&br->retry_timer))
      br__target_connect(br);
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
      br__client_fail(br, 0, "packet longer than the target's PacketSize");
      return DISPATCH_DONE;
    }
  }
  uint8_t flags = 0;
  if (*action == SVC_FORWARD_RESUME || br__is_resume(b, len)) {
    flags |= BR__REQ_RESUME;
    br->ops->event(br->svc, SVC_EV_RESUME);
    br->intr_sent = 0;
  }
  if (br__eq(b, len, "?"))
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
  if (br__is_mem_read(b, len))
    flags |= BR__REQ_MEM;
  if (rsp_has_prefix(b, len, "vKill"))
    flags |= BR__REQ_VKILL;
  if (len && (b[0] == 'P' || b[0] == 'G'))
    br->ops->event(br->svc, SVC_EV_REG_WRITE);
  if (len && b[0] == 'D')
    br->ops->event(br->svc, SVC_EV_DETACH);
  br__side_send(&br->t, b, len, 0);
  if (flags & BR__REQ_RESUME)
    br__ctl_resume_note(br, b, len, flags);
  if (br->intr_deferred) {
    br->intr_deferred = 0;
    if ((flags & BR__REQ_RESUME) && br__side_raw(&br->t, "\003", 1) == 0) {
      br__trace(br, "b>t", "^C", NULL, 0);
      br->intr_sent = 1;
    }
  }
  /* "k" has no reply in the manual (the stub may just exit), but QEMU sends
   * W00 first and LLDB waits for it: it goes to the client if nothing else
   * was asked meanwhile (kill_pending), like a reply. */
  br->kill_pending = br__eq(b, len, "k");
  if (!br->kill_pending)
    br__fifo_push(br, BR__OWN_CLIENT, flags, 0);
  br__timer_kick(br, 0);
  return DISPATCH_DONE;
}

static void client_request(br_t *br, const char *b, size_t len) {
  br->req_seq++;
  if (br->wk_busy && br->wk_job_rcmd && !br->wk_abandoned)
    br__abandon_job(br);
  if (br->pend_count || br->wk_busy) {
    br__pend_push(br, b, len, -1);
    return;
  }
  int action = -1;
  if (br__dispatch(br, b, len, &action) == DISPATCH_WAIT)
    br__pend_push(br, b, len, action);
}

static int c_on_packet(rsp_parser *p, const char *b, size_t len) {
  br__side *c = p->data;
  br_t *br = c->br;
  br__trace(br, "c>b", "$", b, len);
  if (!c->noack)
    br__side_raw(c, "+", 1);
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
  br__side_raw(c, c->last, c->last_len);
  br__trace(c->br, "b>c", "(again) ", c->last, c->last_len);
  return 0;
}

static int c_on_interrupt(rsp_parser *p) {
  br__side *c = p->data;
  br_t *br = c->br;
  br__trace(br, "c>b", "^C", NULL, 0);
  if (br->pz_state == BR__PZ_HELD) {
    /* Stopped for observers already: the controller gets the stop reply
     * once they are served, in place of the resume going again. */
    br->pz_ctl_intr = 1;
    return 0;
  }
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
    br->ops->interrupt(br->svc);
    return 0;
  }
  if (br->tstate != BR__T_UP && br->tstate != BR__T_CONNECTING)
    return 0; /* nothing to interrupt */
  br__ack_flush(br);
  if (br__side_raw(&br->t, "\003", 1) == 0) {
    br__trace(br, "b>t", "^C", NULL, 0);
    for (unsigned i = 0; i < br->fcount; i++) {
      br__req *r = br__fifo_at(br, i);
      if (r->owner == BR__OWN_CLIENT && (r->flags & BR__REQ_RESUME)) {
        br->intr_sent = 1;
        br__timer_kick(br, 1);
        break;
      }
    }
  }
  return 0;
}

static int c_on_bad_checksum(rsp_parser *p) {
  br__side *c = p->data;
  br__log_rl(c->br, 1, "client: bad checksum, NAK");
  br__side_raw(c, "-", 1);
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
      br__side_raw(c, "+", 1);
    if (idle)
      br__client_fail(br, 0, "packet too long");
  } else if (!c->noack) {
    br__side_raw(c, "-", 1);
  } else if (idle) {
    br__client_fail(br, 0, "malformed packet");
  }
  return 0;
}

const rsp_parser_settings br__c_settings = {
    .on_packet = c_on_packet,
    .on_notification = c_on_notification,
    .on_ack = c_on_ack,
    .on_nak = c_on_nak,
    .on_interrupt = c_on_interrupt,
    .on_bad_checksum = c_on_bad_checksum,
    .on_error = c_on_error,
};

void br__client_up(br_t *br, br__sess *o) {
  br->ctl = o;
  br->c = &o->s;
  br__side *c = br->c;
  c->up = 1;
  c->noack = 0;
  c->naks = c->bad = 0;
  c->paused = 0;
  c->last_len = 0;
  c->acc.len = 0;
  br->client_gen++;
  br->client_mp = 0;
  rsp_parser_reset(&c->parser);
  c->parser.flags = 0;
  uv_read_start(c->rd, br__alloc_cb, br__read_cb);
  if (br->cfg.max_sessions > 1)
    br__log(br, 0, "client connected (session %u, %s, controls run state)", o->id, o->peer);
  else
    br__log(br, 0, "client connected");
  if (br->tstate == BR__T_IDLE && !uv_is_active((uv_handle_t *)&br->retry_timer))
    br__target_connect(br);
}

/* A client that came while another controls run state. */
static void observer_up(br_t *br, br__sess *o) {
  br__side *c = &o->s;
  c->up = 1;
  uv_read_start(c->rd, br__alloc_cb, br__read_cb);
  br__log(br, 0, "client connected (session %u, %s, observer: session %u controls run state)",
          o->id, o->peer, br->ctl->id);
  if (br->tstate == BR__T_IDLE && !uv_is_active((uv_handle_t *)&br->retry_timer))
    br__target_connect(br);
}

void br__client_drop(br_t *br, const char *why) {
  br__side *c = br->c;
  if (!c->up)
    return;
  int running = br__client_running(br) || br->pz_state != BR__PZ_NONE;
  br__pause_ctl_gone(br);
  c->up = 0;
  br__log(br, 0, "client disconnected (%s)", why);
  br->client_gen++;
  /* The target is left exactly as the client left it: nothing is sent.
   * Replies still owed to the client are dropped when they come. */
  br__fifo_disown(br, NULL, 0);
  br__pend_drop(br, NULL);
  uv_mutex_lock(&br->mtx);
  if (!br->wk_job_sess) { /* (an observer's job keeps its output) */
    br->wk_client_ok = 0;
    br->wout.len = 0;
    uv_cond_broadcast(&br->cond);
  }
  uv_mutex_unlock(&br->mtx);
  br->sess_qsupported_len = 0;
  br->sess_xml = 0;
  br->need_replay = 0;
  br->intr_sent = 0;
  br->intr_deferred = 0;
  br->ops->event(br->svc, SVC_EV_DETACH);
  br->ctl = NULL;
  br->c = &br->c_none;
  /* Observers keep a stopped target; one the controller left running is
   * released as without them (the next session connects again). */
  int others = br__sess_count(br, 0) > 0;
  if (!others || running) {
    if (others)
      br__fifo_disown(br, "target connection released: the controller left it running",
                      BR__DISOWN_OBS);
    /* A service command still running may need the target to undo a mode
     * it set (QEMU's physical-memory mode outlives connections): the
     * connection goes when it is done. */
    if (br->wk_busy)
      br->release_after_job = 1;
    else
      br__target_release(br);
  }
  br__close_handle(br, &c->h.handle, br__sess_closed);
  if (br->client_stdio && c->w.handle.type != UV_UNKNOWN_HANDLE)
    br__close_handle(br, &c->w.handle, br__sess_closed);
  br__timer_kick(br, 0);
  if (br->client_stdio)
    br__stop(br, 0, "client closed the connection");
}

static void reject_closed(uv_handle_t *h) {
  br_t *br = h->data;
  br->open_handles--;
  br->reject_busy = 0;
  if (br->accept_pending && !br->closing)
    br__try_accept(br);
  br__maybe_finish_close(br);
}

static int init_like_listener(br_t *br, uv_handle_t *h) {
  int rc = br->cfg.listen.kind == BR_ADDR_TCP ? uv_tcp_init(br->loop, (uv_tcp_t *)h)
                                              : uv_pipe_init(br->loop, (uv_pipe_t *)h, 0);
  if (rc == 0)
    br->open_handles++;
  return rc;
}

static void peer_name(br_t *br, br__sess *o) {
  struct sockaddr_storage ss;
  int n = sizeof(ss);
  char ip[64] = "?";
  if (br->cfg.listen.kind != BR_ADDR_TCP ||
      uv_tcp_getpeername(&o->s.h.tcp, (struct sockaddr *)&ss, &n) < 0) {
    snprintf(o->peer, sizeof(o->peer), "%s", br->cfg.listen.kind == BR_ADDR_TCP ? "?" : "unix");
    return;
  }
  int port = 0;
  if (ss.ss_family == AF_INET) {
    uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
    port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
    port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  }
  snprintf(o->peer, sizeof(o->peer), "%s:%d", ip, port);
}

/* A new connection: the controller when none is in place, else an
 * observer (--sessions), else refused. */
void br__try_accept(br_t *br) {
  br->accept_pending = 0;
  if (br->shutting)
    return;
  unsigned max = br->cfg.max_sessions > 1 ? br->cfg.max_sessions : 1;
  if (br->ctl && br->c->up && !br->accept_deferred) {
    /* A client that closes and connects again at once: its close may be
     * in this same loop iteration's I/O, after this callback.  Decided
     * once that I/O is processed (accept_check_cb). */
    br->accept_deferred = 1;
    br->accept_pending = 1;
    uv_check_start(&br->accept_check, accept_check_cb);
    return;
  }
  unsigned open = br__sess_count(br, 1);
  if (open < max) {
    br__sess *o = br__sess_new(br);
    if (!o)
      return;
    br__side *c = &o->s;
    if (init_like_listener(br, &c->h.handle)) {
      br__sess_free(br, o);
      return;
    }
    c->h.handle.data = c;
    c->handles = 1;
    if (uv_accept(&br->listener.stream, &c->h.stream) < 0) {
      br__close_handle(br, &c->h.handle, br__sess_closed);
      return;
    }
    if (br->cfg.listen.kind == BR_ADDR_TCP)
      uv_tcp_nodelay(&c->h.tcp, 1);
    c->rd = c->wr = &c->h.stream;
    peer_name(br, o);
    if (br->ctl)
      observer_up(br, o);
    else
      br__client_up(br, o);
    return;
  }
  if (br__sess_count(br, 0) < open) {
    /* A client's handle is still closing: take this one then. */
    br->accept_pending = 1;
    return;
  }
  if (!br->reject_busy) {
    if (init_like_listener(br, &br->reject.handle))
      return;
    br->reject.handle.data = br;
    br->reject_busy = 1;
    if (uv_accept(&br->listener.stream, (uv_stream_t *)&br->reject.handle) == 0) {
      if (max == 1)
        br__log_rl(br, 0, "refused a second client (one client at a time)");
      else
        br__log_rl(br, 0, "refused a client: %u sessions at most (--sessions)", max);
    }
    br__close_handle(br, &br->reject.handle, reject_closed);
    return;
  }
  br->accept_pending = 1;
}

/* Whether the client's socket has only its end left to read (libuv stops
 * reading after a short read, so a close right behind the last request is
 * only seen at the next poll): 1 at EOF, 0 with bytes waiting, -1 else. */
static int client_at_eof(br_t *br) {
  uv_os_fd_t fd;
  if (br->client_stdio || uv_fileno(&br->c->h.handle, &fd) < 0)
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
  if (br->c->up && br->accept_pending) {
    int eof = client_at_eof(br);
    if (eof == 1) {
      br__client_drop(br, "closed"); /* the new client is taken once it is */
    } else if (eof == 0 && ++br->accept_deferred < 8) {
      return; /* its last bytes are read in the next iteration first */
    }
  }
  uv_check_stop(h);
  if (br->accept_pending)
    br__try_accept(br); /* accept_deferred: now taken or refused */
  br->accept_deferred = 0;
  br__flush_all(br);
}

void br__connection_cb(uv_stream_t *server, int status) {
  br_t *br = server->data;
  if (br->closing)
    return;
  if (status < 0) {
    br__log(br, 0, "accept: %s", uv_strerror(status));
    return;
  }
  br__try_accept(br);
  br__flush_all(br);
}
