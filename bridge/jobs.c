/* jobs.c - service requests run for someone other than the RSP client
 * (br_job_submit, br_job_call: the HTTP endpoint).  A ring on the loop
 * thread; its head runs on the worker like a client's service request when
 * the worker is free, in the order it came among the client's requests; its
 * output is collected in xout (under mtx), its reply and output handed to
 * its cb on the loop thread.  Loop thread only, but the fields named
 * "under mtx" in br_int.h.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include <string.h>

#include "br_int.h"

/* Ends the head job with status: cb, then the next one may start. */
static void xjob_end(br_t *br, int status, const char *out, size_t olen, const char *reply,
                     size_t rlen) {
  struct br__xjob j = br->xq[br->xhead];
  br->xhead = (br->xhead + 1) % BR_XJOB_MAX;
  br->xcount--;
  br->x_running = 0;
  free(j.body);
  if (!br->xcount && !br__sess_count(br, 0) && !br->closing && !br->shutting && !br->close_cb &&
      br->started)
    uv_timer_start(&br->xlinger, br__xlinger_cb, BR_XLINGER_MS, 0);
  j.cb(j.arg, status, out ? out : "", olen, reply ? reply : "", rlen);
}

/* Every queued job (the running one too with all) ends with status, in
 * the order they came.  The running head, when kept, ends on its own. */
void br__xjob_cancel(br_t *br, int status, int all) {
  if (all || !br->x_running) {
    while (br->xcount)
      xjob_end(br, status, NULL, 0, NULL, 0);
    return;
  }
  struct br__xjob gone[BR_XJOB_MAX];
  unsigned n = br->xcount - 1;
  for (unsigned i = 0; i < n; i++)
    gone[i] = br->xq[(br->xhead + 1 + i) % BR_XJOB_MAX];
  br->xcount = 1; /* before the callbacks: they may look at the ring */
  for (unsigned i = 0; i < n; i++) {
    free(gone[i].body);
    gone[i].cb(gone[i].arg, status, "", 0, "", 0);
  }
}

/* A client resume is outstanding: the target runs, nothing else goes up. */
int br__client_running(const br_t *br) {
  for (unsigned i = 0; i < br->fcount; i++) {
    const br__req *r = &br->fifo[(br->fhead + i) % BR_FIFO_CAP];
    if (r->owner == BR__OWN_CLIENT && (r->flags & BR__REQ_RESUME))
      return 1;
  }
  return 0;
}

/* The head job, the worker idle: 1 if it was started or ended, 0 if it
 * waits (for the client's requests in flight, or the connection). */
int br__xjob_try(br_t *br) {
  if (br__client_running(br) || br->pz_state == BR__PZ_INTR) {
    if (br->xq[br->xhead].sess && !br__pause_stuck(br))
      return 0; /* an observer's: the guest is paused for it (sessions.c) */
    xjob_end(br, BR_EJOB_RUNNING, NULL, 0, NULL, 0);
    return 1;
  }
  if (br->tstate != BR__T_UP) {
    int retrying = uv_is_active((uv_handle_t *)&br->retry_timer);
    if (br->t_lost || retrying) {
      if (br->tstate == BR__T_IDLE && !retrying)
        br__target_connect(br);
      xjob_end(br, BR_EJOB_LOST, NULL, 0, NULL, 0);
      return 1;
    }
    if (br->tstate == BR__T_IDLE)
      br__target_connect(br); /* no client: the job makes the connection */
    return 0;
  }
  if (br->fclient || br->forphan || br->fobs)
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
  br->wk_client_ok = j->sess != 0; /* an observer's output goes to it as it comes */
  br->wk_intr = 0;
  br->wk_job_ext = 1;
  br->wk_job_fn = j->fn;
  br->wk_job_fn_arg = j->fn_arg;
  br->wk_job_sess = j->sess;
  br->xout.len = 0;
  br->xout_over = 0;
  uv_cond_broadcast(&br->cond);
  uv_mutex_unlock(&br->mtx);
  return 1;
}

/* The running job's reply is in (worker idle): its cb. */
void br__xjob_complete(br_t *br) {
  int status = 0;
  if (br->shutting || br->closing)
    status = UV_ECANCELED;
  else if (br->t_losses != br->x_losses || br->tstate != BR__T_UP)
    status = BR_EJOB_LOST;
  /* The worker waits for its next job: xout and wreply are the loop's. */
  xjob_end(br, status, br->xout.p, br->xout.len, br->wreply.p, br->wreply.len);
}

static int xjob_push(br_t *br, const char *body, size_t len, br_job_fn fn, void *fn_arg,
                     unsigned sess, br_job_cb cb, void *arg) {
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
  j->sess = sess;
  br->xcount++;
  /* Never from inside this call: the loop runs it (async_cb). */
  uv_async_send(&br->async);
  return 0;
}

int br_job_submit(br_t *br, const char *body, size_t len, br_job_cb cb, void *arg) {
  if (!len)
    return UV_EINVAL;
  return xjob_push(br, body, len, NULL, NULL, 0, cb, arg);
}

/* An observer's request (sessions.c), as a job of its session. */
int br__xjob_push(br_t *br, const char *body, size_t len, unsigned sess, br_job_cb cb, void *arg) {
  return xjob_push(br, body, len, NULL, NULL, sess, cb, arg);
}

int br_job_call(br_t *br, br_job_fn fn, void *fn_arg, br_job_cb cb, void *arg) {
  return xjob_push(br, NULL, 0, fn, fn_arg, 0, cb, arg);
}

void br__xlinger_cb(uv_timer_t *t) {
  br_t *br = t->data;
  if (br->closing || br->shutting || br__sess_count(br, 0) || br->wk_busy || br->xcount ||
      br->tstate != BR__T_UP || br->fcount)
    return;
  br__log(br, 1, "no client and no HTTP request: releasing the target connection");
  br__target_release(br);
}

void br_get_state(const br_t *br, br_state *st) {
  st->connected = br->tstate == BR__T_UP;
  st->running = br__client_running(br);
  st->lost = br->t_lost;
  st->sessions = (int)br__sess_count(br, 0);
}

uv_loop_t *br_loop(br_t *br) {
  return br->loop;
}
