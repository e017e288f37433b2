/* sessions.c - several RSP clients on one target.  The controller is the
 * client of the rest of the core (br->c); the others are observers: each
 * has its own side (parser, acks, no-ack mode) and its requests are served
 * one at a time, in order: answered here, forwarded upstream as entries
 * of their own (BR__OWN_OBS) or run on the worker as jobs (jobs.c).  Run
 * control and writes are refused.  While the controller's resume is
 * outstanding, an observer's request pauses the guest: a ^C, the stop
 * reply it causes swallowed, the requests served, the controller's resume
 * sent again (the pause protocol, README.md).  Loop thread only.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include <string.h>

#include "br_int.h"

br__sess *br__sess_new(br_t *br) {
  br__sess *o = calloc(1, sizeof(*o));
  if (!o)
    return NULL;
  br__side *s = &o->s;
  s->br = br;
  s->name = "client";
  s->client = 1;
  rsp_parser_init(&s->parser, s->body, sizeof(s->body));
  s->parser.data = s;
  o->id = ++br->sess_next;
  snprintf(o->peer, sizeof(o->peer), "?");
  br__sess **pp = &br->sessions;
  while (*pp)
    pp = &(*pp)->next;
  *pp = o;
  return o;
}

br__sess *br__sess_find(br_t *br, unsigned id) {
  for (br__sess *o = br->sessions; o; o = o->next)
    if (o->id == id)
      return o;
  return NULL;
}

/* Sessions up (open 0) or with a handle open or closing (open 1). */
unsigned br__sess_count(const br_t *br, int open) {
  unsigned n = 0;
  for (const br__sess *o = br->sessions; o; o = o->next)
    n += open ? o->s.handles > 0 : o->s.up;
  return n;
}

void br__sess_free(br_t *br, br__sess *o) {
  for (br__sess **pp = &br->sessions; *pp; pp = &(*pp)->next)
    if (*pp == o) {
      *pp = o->next;
      break;
    }
  if (br->c == &o->s) {
    br->c = &br->c_none;
    br->ctl = NULL;
  }
  free(o->s.acc.p);
  free(o->s.fly.p);
  free(o->q.p);
  free(o);
}

void br__sess_closed(uv_handle_t *h) {
  br__side *s = h->data;
  br_t *br = s->br;
  br->open_handles--;
  s->handles--;
  if (s->handles == 0) {
    br__sess_free(br, (br__sess *)s);
    if (br->accept_pending && !br->closing)
      br__try_accept(br);
  }
  br__maybe_finish_close(br);
}

/* Every session goes (br_close): observers' requests upstream give up
 * their replies. */
void br__sess_close_all(br_t *br) {
  for (unsigned i = 0; i < br->fcount; i++) {
    br__req *r = br__fifo_at(br, i);
    if (r->owner == BR__OWN_OBS) {
      r->owner = BR__OWN_ORPHAN;
      br->forphan++;
      br->fobs--;
    }
  }
  for (br__sess *o = br->sessions; o; o = o->next) {
    if (!o->s.handles)
      continue;
    o->s.up = 0;
    br__close_handle(br, &o->s.h.handle, br__sess_closed);
    if (br->client_stdio && o->s.handles > 1)
      br__close_handle(br, &o->s.w.handle, br__sess_closed);
  }
}

void br__sess_free_all(br_t *br) {
  while (br->sessions)
    br__sess_free(br, br->sessions);
}

/* ------------------------------------------------------------------------
 * Observer requests: a queue per session, the head served at a time.
 */

static int obs_head(br__sess *o, const char **b, size_t *len) {
  if (!o->q_count)
    return 0;
  uint32_t n;
  memcpy(&n, o->q.p + o->q_off, 4);
  *b = o->q.p + o->q_off + 4;
  *len = n;
  return 1;
}

/* The head request is answered. */
static void obs_done(br_t *br, br__sess *o) {
  const char *b;
  size_t len;
  if (!obs_head(o, &b, &len))
    return;
  if (o->q_paused) {
    br__log(br, 1, "session %u: %.*s answered during a pause, %.3f ms after it came", o->id,
            (int)(len < 24 ? len : 24), b, (double)(uv_hrtime() - o->q_t0) / 1e6);
  }
  o->q_off += 4 + len;
  o->q_count--;
  o->busy = 0;
  o->q_paused = 0;
  o->q_t0 = uv_hrtime();
  if (!o->q_count)
    o->q.len = o->q_off = 0;
  if (o->s.paused && o->q_count <= BR_PEND_MAX / 2) {
    o->s.paused = 0;
    if (o->s.up && !br->closing)
      uv_read_start(o->s.rd, br__alloc_cb, br__read_cb);
  }
}

static void obs_send(br__sess *o, const char *b, size_t len) {
  br__side_send(&o->s, b, len, 0);
}

static void obs_error(br_t *br, br__sess *o, int mem, const char *why) {
  char buf[256];
  const char *e = br__err_body(br, mem, why, buf, sizeof(buf));
  obs_send(o, e, strlen(e));
}

/* Console text for a session, in O packets. */
static void sess_text(br__side *s, const char *text, size_t len) {
  char pkt[1 + 2 * 1024];
  while (len) {
    size_t take = len > 1024 ? 1024 : len;
    int n = rsp_format_O(pkt, sizeof(pkt), text, take);
    if (n > 0)
      br__side_send(s, pkt, (size_t)n, 0);
    text += take;
    len -= take;
  }
}

void br__obs_reply(br_t *br, unsigned id, const char *b, size_t len, int final, int qsup) {
  br__sess *o = br__sess_find(br, id);
  if (!o || !o->s.up)
    return;
  if (qsup && final) {
    size_t n = br__merge_qsupported(br, b, len, br->scratch, sizeof(br->scratch));
    if (n <= sizeof(br->qsup_reply)) {
      memcpy(br->qsup_reply, br->scratch, n);
      br->qsup_reply_len = n;
    }
    obs_send(o, br->scratch, n);
  } else {
    obs_send(o, b, len);
  }
  if (final)
    obs_done(br, o);
}

void br__obs_fail(br_t *br, unsigned id, int mem, const char *why) {
  br__sess *o = br__sess_find(br, id);
  if (!o || !o->s.up)
    return;
  obs_error(br, o, mem, why);
  obs_done(br, o);
}

/* The controller, as an observer's error names it. */
static void who_controls(br_t *br, br__sess *o, char *buf, size_t cap) {
  if (br->ctl)
    snprintf(buf, cap, "session %u is an observer; session %u (%s) controls run state", o->id,
             br->ctl->id, br->ctl->peer);
  else
    snprintf(buf, cap,
             "session %u is an observer and no session controls run state (`monitor session "
             "take`)",
             o->id);
}

/* QEMU HMP commands that only look, and the bridge's commands that do not
 * write the target (bridge/service/commands.c). */
static const char *const ro_words[] = {"info",    "gva2gpa", "x",    "xp",       "help",
                                       "?",       "vtop",    "pte",  "maps",     "ptov",
                                       "context", "cache",   "arch", "uncached", "phys"};

/* Whether an observer may run this monitor command line: nothing that
 * writes the target or changes what the controller sees (the bridge's
 * shared settings: cache on/off/flush, uncached add/del, a forced arch);
 * its own context is its own (svc_session).  name gets what is refused. */
static int rcmd_allowed(const char *line, size_t n, char *name, size_t cap) {
  size_t i = 0, k = 0;
  while (i < n && line[i] == ' ')
    i++;
  while (i < n && line[i] != ' ' && line[i] != '/' && k + 1 < cap)
    name[k++] = line[i++];
  name[k] = 0;
  while (i < n && line[i] == ' ')
    i++;
  size_t w = i; /* the second word: line[i, w) */
  while (w < n && line[w] != ' ')
    w++;
#define W2(s) (w - i == sizeof(s) - 1 && !memcmp(line + i, s, sizeof(s) - 1))
  int refused = (!strcmp(name, "phys") && (W2("write") || W2("fill"))) ||
                (!strcmp(name, "cache") && (W2("on") || W2("off") || W2("flush"))) ||
                (!strcmp(name, "uncached") && (W2("add") || W2("del"))) ||
                (!strcmp(name, "arch") && w > i && !W2("--json"));
#undef W2
  if (refused) {
    snprintf(name + strlen(name), cap - strlen(name), " %.*s", (int)(w - i), line + i);
    return 0;
  }
  for (size_t j = 0; j < sizeof(ro_words) / sizeof(ro_words[0]); j++)
    if (!strcmp(name, ro_words[j]))
      return 1;
  return 0;
}

/* Requests answered here whatever the target does: 1 if answered. */
static int obs_local(br_t *br, br__sess *o, const char *b, size_t len) {
  char why[256];
  if (br__eq(b, len, "QStartNoAckMode")) {
    obs_send(o, "OK", 2);
    o->s.noack = 1;
    o->s.parser.flags |= RSP_PARSER_NOVERIFY;
    return 1;
  }
  unsigned fl = 0;
  int cls = rsp_classify_request(b, len, &fl);
  if (cls == RSP_REQ_THREAD && b[0] == 'H') {
    /* Thread selection is the controller's: an observer reads the thread
     * the controller selected. */
    obs_send(o, "OK", 2);
    return 1;
  }
  if (cls == RSP_REQ_MONITOR) {
    if (br__session_rcmd(br, o, b, len))
      return 1;
    /* The first words decide (the rest may be longer than any buffer
     * here: the service answers for its length). */
    char line[256], name[64];
    size_t k = len - 6 > 2 * (sizeof(line) - 1) ? 2 * (sizeof(line) - 1) : (len - 6) & ~(size_t)1;
    int n = rsp_hex_decode(line, sizeof(line) - 1, b + 6, k);
    if (n < 0)
      return 0; /* not hex: the service says so */
    int ok = rcmd_allowed(line, (size_t)n, name, sizeof(name));
    if (!strcmp(name, "context"))
      o->own_state = 1; /* its own context (svc_session) */
    if (!ok) {
      who_controls(br, o, why, sizeof(why));
      char msg[400];
      int m = snprintf(msg, sizeof(msg), "`%s` refused: %s\n", name, why);
      sess_text(&o->s, msg, (size_t)m);
      obs_send(o, "E01", 3);
      return 1;
    }
    return 0;
  }
  if (rsp_has_prefix(b, len, "Qqemu.PhyMemMode:")) {
    o->own_state = 1; /* its own memory mode (svc_session) */
    return 0;
  }
  if ((fl & RSP_REQF_CHANGES) || cls == RSP_REQ_SET || cls == RSP_REQ_KILL ||
      cls == RSP_REQ_DETACH || cls == RSP_REQ_INTERRUPT || cls == RSP_REQ_RESTART ||
      cls == RSP_REQ_REVERSE || cls == RSP_REQ_RESUME) {
    who_controls(br, o, why, sizeof(why));
    br__log_rl(br, 1, "refused an observer's request: %s", why);
    obs_error(br, o, 0, why);
    return 1;
  }
  if (rsp_has_prefix(b, len, "qSupported")) {
    o->mp = 0;
    for (size_t i = 0; i + 13 <= len && !o->mp; i++)
      o->mp = !memcmp(b + i, "multiprocess+", 13);
    if (br->qsup_reply_len) {
      obs_send(o, br->qsup_reply, br->qsup_reply_len);
      return 1;
    }
    return 0;
  }
  if (br__eq(b, len, "vMustReplyEmpty")) {
    obs_send(o, "", 0);
    return 1;
  }
  return 0;
}

static void obs_job_cb(void *arg, int status, const char *out, size_t olen, const char *reply,
                       size_t rlen) {
  br_t **pbr = arg;
  br_t *br = pbr[0];
  unsigned id = (unsigned)(uintptr_t)pbr[1];
  free(arg);
  br__sess *o = br__sess_find(br, id);
  if (!o || !o->s.up || status == UV_ECANCELED)
    return;
  if (o->abandon) { /* it moved on: nothing of it may pass for the next reply */
    o->abandon = 0;
    obs_done(br, o);
    return;
  }
  if (status < 0) {
    const char *b;
    size_t len;
    int mem = obs_head(o, &b, &len) && br__is_mem_read(b, len);
    br__obs_fail(br, id, mem,
                 status == BR_EJOB_LOST      ? br__why_lost
                 : status == BR_EJOB_RUNNING ? br__why_nopause
                                             : "the request failed");
    return;
  }
  sess_text(&o->s, out, olen);
  br__obs_reply(br, id, reply, rlen, 1, 0);
}

/* A pause whose --timeout passed (pz_timer ran out) with no stop yet. */
int br__pause_stuck(const br_t *br) {
  return br->pz_state == BR__PZ_INTR && !uv_is_active((const uv_handle_t *)&br->pz_timer);
}

const char br__why_nopause[] = "the target did not stop for an observer's request (it ignores "
                               "^C?); the guest runs on";

/* Whether the target is stopped for the observers: no resume of the
 * controller outstanding, no pause being made. */
static int obs_target_ready(br_t *br) {
  return br->tstate == BR__T_UP && !br__client_running(br) && br->pz_state != BR__PZ_INTR &&
         !br->kill_pending;
}

/* Serves o's head request, or not yet: 1 if it was answered or started. */
static int obs_start(br_t *br, br__sess *o) {
  const char *b;
  size_t len;
  if (!obs_head(o, &b, &len))
    return 0;
  if (obs_local(br, o, b, len)) {
    obs_done(br, o);
    return 1;
  }
  if (br->tstate != BR__T_UP) {
    int retrying = uv_is_active((uv_handle_t *)&br->retry_timer);
    if (br->t_lost || retrying) {
      br__obs_fail(br, o->id, br__is_mem_read(b, len), br__why_noconn);
      if (br->tstate == BR__T_IDLE && !retrying)
        br__target_connect(br);
      return 1;
    }
    if (br->tstate == BR__T_IDLE)
      br__target_connect(br);
    return 0;
  }
  if (br__pause_stuck(br)) {
    br__obs_fail(br, o->id, br__is_mem_read(b, len), br__why_nopause);
    return 1;
  }
  if (!obs_target_ready(br))
    return 0;
  /* The service is in the controller's session: its classification holds
   * for an observer with no memory mode or context of its own. */
  int action = (int)br->ops->classify(br->svc, b, len);
  if (action == SVC_HANDLE || (o->own_state && br__is_mem_read(b, len))) {
    br_t **arg = malloc(2 * sizeof(*arg));
    if (!arg) {
      br__obs_fail(br, o->id, 0, "out of memory");
      return 1;
    }
    arg[0] = br;
    arg[1] = (br_t *)(uintptr_t)o->id;
    int rc = br__xjob_push(br, b, len, o->id, obs_job_cb, arg);
    if (rc < 0) {
      free(arg);
      br__obs_fail(br, o->id, br__is_mem_read(b, len), uv_strerror(rc));
      return 1;
    }
    o->busy = 1;
    return 1;
  }
  /* Forwarded: in the pipe among the controller's requests, when nothing
   * else may have changed the target's mode (a command on the worker). */
  if (br->wk_busy || br->forphan || br->fcount == BR_FIFO_CAP)
    return 0;
  if (br->pend_count && br->pz_state == BR__PZ_NONE)
    return 0; /* the controller's requests first (during a pause they wait) */
  if (br->target_psize && RSP_FRAME_MAX(len) - 4 >= br->target_psize) {
    br__obs_fail(br, o->id, 0, "packet longer than the target's PacketSize");
    return 1;
  }
  uint8_t flags = 0;
  if (br__is_mem_read(b, len))
    flags |= BR__REQ_MEM;
  if (rsp_has_prefix(b, len, "qSupported"))
    flags |= BR__REQ_QSUP;
  if (rsp_classify_request(b, len, NULL) == RSP_REQ_STOP_QUERY)
    flags |= BR__REQ_STOPQ;
  br__side_send(&br->t, b, len, 0);
  br__fifo_push(br, BR__OWN_OBS, flags, o->id);
  o->busy = 1;
  br__timer_kick(br, 0);
  return 1;
}

/* An observer's request came. */
/* Whether o's own command runs on the worker now. */
static int obs_job_running(br_t *br, br__sess *o) {
  return br->wk_busy && br->wk_job_ext && br->wk_job_sess == o->id;
}

/* Stops o's running command (^C, or a request during a monitor command:
 * GDB's Ctrl-C prints Quit and moves on); abandon: its output and reply
 * are dropped. */
static void obs_stop_job(br_t *br, br__sess *o, int abandon) {
  uv_mutex_lock(&br->mtx);
  br->wk_intr = 1;
  if (abandon) {
    br->wk_client_ok = 0;
    br->wout.len = 0;
    uv_cond_broadcast(&br->cond);
  }
  uv_mutex_unlock(&br->mtx);
  br->ops->interrupt(br->svc);
  o->abandon |= abandon;
}

static void obs_request(br_t *br, br__sess *o, const char *b, size_t len) {
  const char *h;
  size_t hl;
  if (o->busy && !o->abandon && obs_job_running(br, o) && obs_head(o, &h, &hl) &&
      rsp_has_prefix(h, hl, "qRcmd,")) {
    br__log(br, 0, "session %u sent a request during its monitor command: stopping the command",
            o->id);
    obs_stop_job(br, o, 1);
  }
  if (br__buf_reserve(&o->q, len + 4)) {
    obs_error(br, o, 0, "out of memory");
    return;
  }
  uint32_t n = (uint32_t)len;
  memcpy(o->q.p + o->q.len, &n, 4);
  memcpy(o->q.p + o->q.len + 4, b, len);
  o->q.len += 4 + len;
  if (!o->q_count++)
    o->q_t0 = uv_hrtime();
  if (o->q_count > BR_PEND_MAX && !o->s.paused) {
    uv_read_stop(o->s.rd); /* a client that never waits for its replies */
    o->s.paused = 1;
  }
  br__obs_pump(br);
}

/* ------------------------------------------------------------------------
 * The pause protocol.
 */

/* A step ends by itself: observers wait for it. */
static int is_step(const char *b, size_t len) {
  if (len && (b[0] == 's' || b[0] == 'S' || b[0] == 'i' || b[0] == 'I'))
    return 1;
  if (rsp_has_prefix(b, len, "vCont;"))
    for (size_t i = 5; i + 1 < len; i++)
      if (b[i] == ';' && (b[i + 1] == 's' || b[i + 1] == 'S' || b[i + 1] == 'r'))
        return 1;
  return 0;
}

/* The resume that carries on from a pause what b started, in out: the
 * same actions, but a signal is not delivered twice nor an address jumped
 * to again (c ADDR, C sig and the client's File-I/O answer F... carry on
 * as c; vCont's C sig actions as c).  Returns its length, 0 if b cannot
 * be carried on (vRun, vAttach, or too long). */
static size_t carry_on(const char *b, size_t len, char *out, size_t cap) {
  if (!len || len > cap || rsp_has_prefix(b, len, "vRun") || rsp_has_prefix(b, len, "vAttach"))
    return 0;
  if (b[0] == 'c' || b[0] == 'C' || b[0] == 'F') {
    out[0] = 'c';
    return 1;
  }
  if (!rsp_has_prefix(b, len, "vCont;")) {
    memcpy(out, b, len); /* s, S, i, I: waited for, never sent again */
    return len;
  }
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    if (b[i] == ';' && i + 1 < len && b[i + 1] == 'C') {
      out[o++] = ';';
      out[o++] = 'c';
      i += 2;
      while (i < len && b[i] != ':' && b[i] != ';')
        i++; /* the signal */
      continue;
    }
    out[o++] = b[i++];
  }
  return o;
}

/* The controller's resume (flags of its upstream entry), kept to be sent
 * again after a pause. */
void br__ctl_resume_note(br_t *br, const char *b, size_t len, uint8_t flags) {
  br->ctl_resume_len = carry_on(b, len, br->ctl_resume, sizeof(br->ctl_resume));
  br->ctl_resume_step = is_step(b, len);
  br->ctl_resume_flags = flags;
}

/* --timeout after the ^C of a pause: the target ignores it (or is wedged).
 * Observers' requests fail instead of waiting for ever; the pause stays
 * open, so the stop the ^C causes, if it ever comes, is still ours. */
static void pause_timeout_cb(uv_timer_t *t) {
  br_t *br = t->data;
  if (br->closing || br->pz_state != BR__PZ_INTR)
    return;
  br__log(br, 0, "the target did not stop within %u ms of a ^C for observers: their requests fail",
          br->cfg.timeout_ms);
  br__drain_pending(br); /* observers' requests and jobs: they fail */
  br__flush_all(br);
}

static void pause_begin(br_t *br) {
  if (br->pz_state != BR__PZ_NONE || !br->ctl || !br__client_running(br) || br->intr_sent ||
      !br->ctl_resume_len || br->ctl_resume_step || br->tstate != BR__T_UP)
    return;
  br__ack_flush(br);
  if (br__side_raw(&br->t, "\003", 1) < 0)
    return;
  br__trace(br, "b>t", "^C (pause for observers)", NULL, 0);
  br->pz_state = BR__PZ_INTR;
  br->pz_ctl_intr = 0;
  br->pz_t0 = uv_hrtime();
  uv_timer_start(&br->pz_timer, pause_timeout_cb, br->cfg.timeout_ms, 0);
  for (br__sess *o = br->sessions; o; o = o->next)
    if (o->q_count)
      o->q_paused = 1;
}

/* The stop reply to the controller's resume came during a pause: 1 if it
 * is the one our ^C caused (swallowed: the controller never sees it), 0
 * if it is a real event (delivered, the target stays stopped). */
int br__pause_stop(br_t *br, const char *b, size_t len) {
  if (br->pz_state != BR__PZ_INTR)
    return 0;
  if (br__pause_stuck(br))
    br__log(br, 0, "the target stopped %.3f ms after the ^C for observers",
            (double)(uv_hrtime() - br->pz_t0) / 1e6);
  uv_timer_stop(&br->pz_timer);
  br->pz_state = BR__PZ_NONE;
  int ours = !br->intr_sent && len >= 3 && len <= sizeof(br->pz_stop) &&
             (b[0] == 'T' || b[0] == 'S') && rsp_classify_reply(b, len, NULL) == RSP_REPLY_STOP &&
             rsp_hex_digit((unsigned char)b[1]) == 0 && rsp_hex_digit((unsigned char)b[2]) == 2;
  if (!ours) {
    br__log(br, 1, "a stop during a pause for observers was a real event: given to the controller");
    return 0;
  }
  memcpy(br->pz_stop, b, len);
  br->pz_stop_len = len;
  br->pz_state = BR__PZ_HELD;
  br->ops->event(br->svc, SVC_EV_STOP);
  return 1;
}

/* The observers are served: the controller's resume goes again (or, if it
 * sent ^C meanwhile, it gets the stop reply). */
static void pause_end(br_t *br) {
  uint64_t ns = uv_hrtime() - br->pz_t0;
  br->pz_state = BR__PZ_NONE;
  br->pz_count++;
  br->pz_ns_total += ns;
  if (ns > br->pz_ns_max)
    br->pz_ns_max = ns;
  br__log(br, 1, "the guest was paused %.3f ms for observers", (double)ns / 1e6);
  if (!br->ctl)
    return;
  if (br->pz_ctl_intr || br->tstate != BR__T_UP) {
    br__client_reply(br, br->pz_stop, br->pz_stop_len);
    return;
  }
  br__side_send(&br->t, br->ctl_resume, br->ctl_resume_len, 0);
  br__fifo_push(br, BR__OWN_CLIENT, br->ctl_resume_flags, 0);
  br->ops->event(br->svc, SVC_EV_RESUME);
  br__timer_kick(br, 0);
}

/* The controller left during a pause: its resume goes now, the target is
 * left running as it left it. */
void br__pause_ctl_gone(br_t *br) {
  if (br->pz_state == BR__PZ_NONE)
    return;
  if (br->tstate == BR__T_UP && br->ctl_resume_len)
    br__side_send(&br->t, br->ctl_resume, br->ctl_resume_len, 0);
  br->pz_state = BR__PZ_NONE;
}

/* The target connection is lost during a pause: the controller's resume,
 * held, fails like every request in flight. */
void br__pause_lost(br_t *br) {
  if (br->pz_state == BR__PZ_HELD && br->ctl)
    br__client_fail(br, 0, br__why_lost);
  br->pz_state = BR__PZ_NONE;
}

/* Starts what the observers' queues allow; begins or ends a pause.
 * Returns 1 if it ended one (the controller's requests may go on). */
int br__obs_pump(br_t *br) {
  if (br->closing || br->shutting || br->obs_pumping)
    return 0;
  br->obs_pumping = 1;
  int want = 0;
  for (br__sess *o = br->sessions; o; o = o->next) {
    if (o == br->ctl || !o->s.up)
      continue;
    while (o->q_count && !o->busy && o->s.up && o != br->ctl)
      if (!obs_start(br, o))
        break;
    if (o->q_count && o != br->ctl)
      want = 1;
  }
  int ended = 0;
  if (want) {
    pause_begin(br);
  } else if (br->pz_state == BR__PZ_HELD && !br->fobs) {
    pause_end(br);
    ended = 1;
  }
  br->obs_pumping = 0;
  return ended;
}

/* ------------------------------------------------------------------------
 * monitor session.
 */

static void ctl_take(br_t *br, br__sess *o) {
  br->ctl = o;
  br->c = &o->s;
  br->client_gen++;
  br->client_mp = o->mp;
  br->pz_state = BR__PZ_NONE;
  br__log(br, 0, "session %u (%s) took control", o->id, o->peer);
}

/* "qRcmd,<hex of session ...>" from who: 1 if it was (answered here). */
int br__session_rcmd(br_t *br, br__sess *who, const char *b, size_t len) {
  char line[128];
  int n = rsp_parse_qrcmd(b, len, line, sizeof(line) - 1);
  if (n < 0)
    return 0;
  line[n] = 0;
  char w1[16] = "", w2[16] = "", w3[4] = "";
  int nw = sscanf(line, "%15s %15s %3s", w1, w2, w3);
  if (nw < 1 || strcmp(w1, "session"))
    return 0;
  br__side *s = &who->s;
  char msg[512];
  int m;
  if (nw == 1) {
    sess_text(s, "id  role        ack     peer\n", 29);
    for (br__sess *o = br->sessions; o; o = o->next) {
      if (!o->s.up)
        continue;
      m = snprintf(msg, sizeof(msg), "%-3u %-11s %-7s %s%s\n", o->id,
                   o == br->ctl ? "controller" : "observer", o->s.noack ? "no-ack" : "ack", o->peer,
                   o == who ? " (this session)" : "");
      sess_text(s, msg, (size_t)m);
    }
    if (br->pz_count) {
      m = snprintf(msg, sizeof(msg), "pauses for observers: %llu, mean %.3f ms, longest %.3f ms\n",
                   (unsigned long long)br->pz_count,
                   (double)br->pz_ns_total / (double)br->pz_count / 1e6,
                   (double)br->pz_ns_max / 1e6);
      sess_text(s, msg, (size_t)m);
    }
    br__side_send(s, "OK", 2, 0);
    return 1;
  }
  if (nw == 2 && !strcmp(w2, "--json")) {
    /* One document, as the service's commands give with --json. */
    sess_text(s, "{\"sessions\":[", 13);
    const char *sep = "";
    for (br__sess *o = br->sessions; o; o = o->next) {
      if (!o->s.up)
        continue;
      m = snprintf(msg, sizeof(msg),
                   "%s{\"id\":%u,\"role\":\"%s\",\"ack\":%s,\"peer\":\"%s\",\"this\":%s}", sep,
                   o->id, o == br->ctl ? "controller" : "observer", o->s.noack ? "false" : "true",
                   o->peer, o == who ? "true" : "false");
      sess_text(s, msg, (size_t)m);
      sep = ",";
    }
    m = snprintf(msg, sizeof(msg),
                 "],\"pauses\":{\"count\":%llu,\"mean_ms\":%.3f,\"max_ms\":%.3f}}\n",
                 (unsigned long long)br->pz_count,
                 br->pz_count ? (double)br->pz_ns_total / (double)br->pz_count / 1e6 : 0.0,
                 (double)br->pz_ns_max / 1e6);
    sess_text(s, msg, (size_t)m);
    br__side_send(s, "OK", 2, 0);
    return 1;
  }
  if (nw == 2 && !strcmp(w2, "take")) {
    if (br->ctl == who) {
      m = snprintf(msg, sizeof(msg), "session %u controls run state already\n", who->id);
    } else if (br->ctl) {
      m = snprintf(msg, sizeof(msg),
                   "session %u (%s) controls run state: take works once it has left\n", br->ctl->id,
                   br->ctl->peer);
      sess_text(s, msg, (size_t)m);
      br__side_send(s, "E01", 3, 0);
      return 1;
    } else {
      ctl_take(br, who);
      m = snprintf(msg, sizeof(msg), "session %u now controls run state\n", who->id);
    }
    sess_text(s, msg, (size_t)m);
    br__side_send(s, "OK", 2, 0);
    return 1;
  }
  m = snprintf(msg, sizeof(msg), "usage: session [take | --json]\n");
  sess_text(s, msg, (size_t)m);
  br__side_send(s, "E01", 3, 0);
  return 1;
}

/* The observer leaves: its requests upstream give up their replies. */
void br__obs_drop(br__sess *o, const char *why) {
  br_t *br = o->s.br;
  if (!o->s.up)
    return;
  o->s.up = 0;
  br__log(br, 0, "session %u (%s, observer) disconnected (%s)", o->id, o->peer, why);
  for (unsigned i = 0; i < br->fcount; i++) {
    br__req *r = br__fifo_at(br, i);
    if (r->owner == BR__OWN_OBS && r->idx == o->id) {
      r->owner = BR__OWN_ORPHAN;
      br->forphan++;
      br->fobs--;
    }
  }
  o->q.len = o->q_off = 0;
  o->q_count = 0;
  o->busy = 0;
  uv_mutex_lock(&br->mtx);
  if (br->wk_busy && br->wk_job_sess == o->id) { /* its job's output goes nowhere */
    br->wk_client_ok = 0;
    br->wout.len = 0;
    uv_cond_broadcast(&br->cond);
  }
  uv_mutex_unlock(&br->mtx);
  br__close_handle(br, &o->s.h.handle, br__sess_closed);
  if (!br__sess_count(br, 0) && !br->wk_busy)
    br__target_release(br);
  br__timer_kick(br, 0);
  br__obs_pump(br);
}

/* ------------------------------------------------------------------------
 * An observer's side.
 */

static int o_on_packet(rsp_parser *p, const char *b, size_t len) {
  br__side *s = p->data;
  br__trace(s->br, "o>b", "$", b, len);
  if (!s->noack)
    br__side_raw(s, "+", 1);
  obs_request(s->br, (br__sess *)s, b, len);
  return 0;
}

static int o_on_notification(rsp_parser *p, const char *b, size_t len) {
  br__side *s = p->data;
  (void)b;
  (void)len;
  br__log_rl(s->br, 1, "observer sent a notification: ignored");
  return 0;
}

static int o_on_ack(rsp_parser *p) {
  br__side *s = p->data;
  s->naks = 0;
  return 0;
}

static int o_on_nak(rsp_parser *p) {
  br__side *s = p->data;
  if (s->noack || !s->last_len || ++s->naks > BR_MAX_RETRIES)
    return 0;
  br__side_raw(s, s->last, s->last_len);
  return 0;
}

static int o_on_interrupt(rsp_parser *p) {
  br__side *s = p->data;
  br__sess *o = (br__sess *)s;
  if (obs_job_running(s->br, o)) {
    obs_stop_job(s->br, o, 0); /* its own command stops early */
    return 0;
  }
  br__log_rl(s->br, 1, "observer sent ^C: ignored (observers do not control run state)");
  return 0;
}

static int o_on_bad_checksum(rsp_parser *p) {
  br__side *s = p->data;
  br__side_raw(s, "-", 1);
  return 0;
}

static int o_on_error(rsp_parser *p) {
  br__side *s = p->data;
  br__sess *o = (br__sess *)s;
  br__log_rl(s->br, 0, "observer: malformed packet (%s)", rsp_strerror(p->err));
  if (p->err == RSP_ETRUNCATED)
    return 0;
  if (p->err == RSP_EOVERFLOW) {
    if (!s->noack)
      br__side_raw(s, "+", 1);
    if (!o->q_count)
      obs_error(s->br, o, 0, "packet too long");
  } else if (!s->noack) {
    br__side_raw(s, "-", 1);
  } else if (!o->q_count) {
    obs_error(s->br, o, 0, "malformed packet");
  }
  return 0;
}

const rsp_parser_settings br__o_settings = {
    .on_packet = o_on_packet,
    .on_notification = o_on_notification,
    .on_ack = o_on_ack,
    .on_nak = o_on_nak,
    .on_interrupt = o_on_interrupt,
    .on_bad_checksum = o_on_bad_checksum,
    .on_error = o_on_error,
};
