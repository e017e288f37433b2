/* upstream.c - the upstream pipe: one ordered FIFO of requests to the
 * target (the client's, the worker's, the bridge's own), each answered in
 * order; the client's requests that wait their turn (the pending queue);
 * and the request timeout.  Loop thread only.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include <string.h>

#include "br_int.h"

static int needs_timer(br_t *br);
static void req_timeout_cb(uv_timer_t *t);

br__req *br__fifo_at(br_t *br, unsigned i) {
  return &br->fifo[(br->fhead + i) % BR_FIFO_CAP];
}

int br__fifo_push(br_t *br, uint8_t owner, uint8_t flags, uint32_t idx) {
  if (br->fcount == BR_FIFO_CAP)
    return -1;
  br__req *r = &br->fifo[(br->fhead + br->fcount) % BR_FIFO_CAP];
  r->owner = owner;
  r->flags = flags;
  r->idx = idx;
  br->fcount++;
  if (owner == BR__OWN_CLIENT)
    br->fclient++;
  if (owner == BR__OWN_OBS)
    br->fobs++;
  return 0;
}

br__req br__fifo_pop(br_t *br) {
  br__req r = br->fifo[br->fhead];
  br->fhead = (br->fhead + 1) % BR_FIFO_CAP;
  br->fcount--;
  if (r.owner == BR__OWN_CLIENT)
    br->fclient--;
  if (r.owner == BR__OWN_OBS)
    br->fobs--;
  if (r.owner == BR__OWN_ORPHAN)
    br->forphan--;
  return r;
}

void br__fifo_clear(br_t *br) {
  br->fhead = br->fcount = br->fclient = br->forphan = br->fobs = 0;
}

/* Requests upstream give up their replies, which are dropped when they come
 * (the FIFO keeps their places, so later replies still find theirs).  The
 * client's each get the error why in place of the reply, or nothing when
 * why is NULL (the client is gone).  How the bridge lets go of requests, in
 * one place: on a client leaving (its requests), a timeout and a lost
 * target (everything, BR__DISOWN_ALL: the caller fails the worker's
 * transaction). */
void br__fifo_disown(br_t *br, const char *why, unsigned how) {
  for (unsigned i = 0; i < br->fcount; i++) {
    br__req *r = br__fifo_at(br, i);
    if (r->owner == BR__OWN_ORPHAN)
      continue;
    if (r->owner == BR__OWN_CLIENT) {
      if (why && (how & BR__DISOWN_VKILL_OK) && (r->flags & BR__REQ_VKILL))
        br__client_reply(br, "OK", 2);
      else if (why)
        br__client_fail(br, r->flags & BR__REQ_MEM, why);
      br->fclient--;
    } else if (r->owner == BR__OWN_OBS) {
      if (!(how & (BR__DISOWN_ALL | BR__DISOWN_OBS)))
        continue;
      br->fobs--;
      br__obs_fail(br, r->idx, r->flags & BR__REQ_MEM, why ? why : br__why_lost);
    } else if (!(how & BR__DISOWN_ALL)) {
      continue;
    }
    r->owner = BR__OWN_ORPHAN;
    br->forphan++;
  }
}

/* Client requests waiting behind a busy pipe (never sent) are dropped,
 * each answered with the error why unless why is NULL. */
void br__pend_drop(br_t *br, const char *why) {
  size_t off = br->pend_off;
  for (; why && br->pend_count; br->pend_count--) {
    uint32_t n;
    memcpy(&n, br->pend.p + off, 4);
    br__client_fail(br, br__is_mem_read(br->pend.p + off + 8, n), why);
    off += 8 + (size_t)n;
  }
  br->pend.len = br->pend_off = 0;
  br->pend_count = 0;
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
    br__req *r = br__fifo_at(br, i);
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
void br__timer_kick(br_t *br, int progress) {
  if (br->closing)
    return;
  if (!needs_timer(br)) {
    uv_timer_stop(&br->req_timer);
    return;
  }
  uint64_t now = br->cfg.clock_ms ? br->cfg.clock_ms() : uv_now(br->loop), t = br->cfg.timeout_ms;
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

static void req_timeout_cb(uv_timer_t *t) {
  br_t *br = t->data;
  if (br->closing)
    return;
  if (br->tstate == BR__T_UP && br->forphan == br->fcount) {
    /* Requests that timed out got no late reply either: the target
     * dropped them, and every later reply would go to the wrong request.
     * A new connection puts the pipe back in step. */
    br__target_lost(br, "requests left unanswered, resynchronising");
    br__drain_pending(br);
    br__flush_all(br);
    return;
  }
  br__log_rl(br, 0, "target did not answer within %u ms%s", br->cfg.timeout_ms,
             br->tstate == BR__T_UP ? "" : " (not connected)");
  br__fifo_disown(br, br->tstate == BR__T_UP ? "target timeout" : br__why_noconn, BR__DISOWN_ALL);
  br__wtx_fail(br, UV_ETIMEDOUT);
  br->intr_sent = 0;
  if (br->tstate != BR__T_UP) {
    /* Nothing went out: forget the queued frames too. */
    br__fifo_clear(br);
    br->t.acc.len = 0;
  } else if (br->forphan > BR_FIFO_CAP / 2) {
    br__target_lost(br, "too many unanswered requests");
  }
  br__timer_kick(br, 1);
  br__drain_pending(br);
  br__flush_all(br);
}

/* Queues a client request; never drops one: above BR_PEND_MAX the client
 * is not read any more (the packets of the read being parsed still come,
 * at most BR_READ_SIZE bytes of them) until the queue is half empty. */
int br__pend_push(br_t *br, const char *b, size_t len, int action) {
  uint32_t n = (uint32_t)len;
  int32_t a = action;
  if (br__buf_reserve(&br->pend, len + 8))
    return -1;
  memcpy(br->pend.p + br->pend.len, &n, 4);
  memcpy(br->pend.p + br->pend.len + 4, &a, 4);
  memcpy(br->pend.p + br->pend.len + 8, b, len);
  br->pend.len += len + 8;
  br->pend_count++;
  if (br->pend_count > BR_PEND_MAX || br->pend.len - br->pend_off > BR_PEND_BYTES)
    br__flow_check(br);
  return 0;
}

void br__drain_pending(br_t *br) {
  while (!br->wk_busy && !br->closing) {
    /* A job for someone else (jobs.c) that came before the next client
     * request goes first. */
    /* During a pause for observers the client's requests wait for its
     * resume: jobs go first. */
    if (br->xcount && !br->x_running && !br->shutting &&
        (!br->pend_count || br->xq[br->xhead].seq <= br->req_seq - br->pend_count ||
         br->pz_state != BR__PZ_NONE)) {
      if (br__xjob_try(br))
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
    /* Copy out: br__dispatch may not run on the pend buffer it rewrites. */
    memcpy(br->scratch, e + 8, n);
    int r = br__dispatch(br, br->scratch, n, &action);
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
  if (br->c->paused)
    br__flow_check(br);
  if (br__obs_pump(br) && br->pend_count)
    br__drain_pending(br); /* the controller's requests held by the pause */
}
