/* simbk.c - see simbk.h. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "simbk.h"
#include "http_svc.h"

enum { OP_CMD = 1, OP_REQ = 2, OP_REGS = 3 };

/* The registers, as the bridge's adapter reads them too (svc_regs.c). */
static void run_regs(simbk *b) {
  svc_sb o;
  svc__sb_init(&o);
  if (http_svc_regs_json(b->s, &o))
    b->status = HTTP_BK_FAILED;
  b->out = o.oom ? NULL : o.p;
  b->out_len = o.len;
  if (o.oom)
    svc__sb_free(&o);
}

static void run(simbk *b) {
  const char *reply;
  if (b->kind == OP_CMD) {
    reply = sim_cmd(b->t, b->s, b->line);
    const char *o = b->t->out ? b->t->out : "";
    b->out_len = b->t->out ? b->t->out_len : 0;
    b->out = malloc(b->out_len + 1);
    if (b->out) {
      memcpy(b->out, o, b->out_len);
      b->out[b->out_len] = 0;
    }
    b->status = !strcmp(reply, "OK") ? HTTP_BK_OK
                : reply[0] == 'E'    ? HTTP_BK_FAILED
                                     : HTTP_BK_OK; /* HMP commands end in their own reply */
    if (b->status == HTTP_BK_FAILED && !strcmp(reply, "E05"))
      b->status = HTTP_BK_LOST;
  } else if (b->kind == OP_REGS) {
    run_regs(b);
  } else {
    reply = sim_packet(b->t, b->s, b->line);
    b->out = strdup(reply);
    b->out_len = b->out ? strlen(reply) : 0;
    b->status = HTTP_BK_OK;
  }
  if (!b->out)
    b->status = HTTP_BK_NOMEM;
}

static void finish(simbk *b) {
  http_done_cb done = b->done;
  void *arg = b->arg;
  char *out = b->out;
  size_t len = b->out_len;
  int status = b->status;
  free(b->line);
  b->line = NULL;
  b->out = NULL;
  b->active--;
  done(arg, status, out ? out : "", out ? len : 0);
  free(out);
}

static void work_cb(uv_work_t *w) {
  simbk *b = w->data;
  if (b->status == HTTP_BK_OK)
    run(b);
}

static void after_work(uv_work_t *w, int status) {
  (void)status;
  finish(w->data);
}

static void timer_cb(uv_timer_t *t) {
  simbk *b = t->data;
  if (b->status == HTTP_BK_OK)
    run(b);
  finish(b);
}

static int start(simbk *b, int kind, const char *line, size_t len, http_done_cb done, void *arg) {
  if (b->refuse)
    return -1;
  b->line = malloc(len + 1);
  if (!b->line)
    return -1;
  memcpy(b->line, line, len);
  b->line[len] = 0;
  b->len = len;
  b->kind = kind;
  b->done = done;
  b->arg = arg;
  b->out = NULL;
  b->out_len = 0;
  b->status = b->lost ? HTTP_BK_LOST : b->running ? HTTP_BK_RUNNING : HTTP_BK_OK;
  b->ops++;
  if (++b->active > (int)b->max_concurrent)
    b->max_concurrent = (unsigned long)b->active;
  if (b->hold) {
    b->held = 1;
    return 0;
  }
  if (b->threaded) {
    b->work.data = b;
    if (uv_queue_work(b->loop, &b->work, work_cb, after_work) == 0)
      return 0;
  } else if (uv_timer_start(&b->timer, timer_cb, 0, 0) == 0) {
    return 0;
  }
  b->active--;
  free(b->line);
  b->line = NULL;
  return -1;
}

static int op_command(void *ctx, const char *line, size_t len, http_done_cb done, void *arg) {
  return start(ctx, OP_CMD, line, len, done, arg);
}

static int op_request(void *ctx, const char *body, size_t len, http_done_cb done, void *arg) {
  return start(ctx, OP_REQ, body, len, done, arg);
}

static int op_regs(void *ctx, http_done_cb done, void *arg) {
  return start(ctx, OP_REGS, "", 0, done, arg);
}

static void op_state(void *ctx, http_target_state *st) {
  simbk *b = ctx;
  st->run_state = b->lost ? "lost" : b->running ? "running" : b->detached ? "detached" : "stopped";
  st->sessions = b->detached ? 0 : 1;
  st->live = !b->lost && !b->running && !b->detached;
}

const http_backend_ops simbk_ops = {op_command, op_request, op_regs, op_state};

int simbk_init(simbk *b, uv_loop_t *loop, int threaded, const svc_config *cfg) {
  memset(b, 0, sizeof(*b));
  b->loop = loop;
  b->threaded = threaded;
  b->t = sim_new();
  if (!b->t)
    return -1;
  svc_config def = {.cache_bytes = 1u << 20};
  b->s = svc_new(&sim_io, b->t, cfg ? cfg : &def);
  if (!b->s) {
    sim_free(b->t);
    return -1;
  }
  uv_timer_init(loop, &b->timer);
  b->timer.data = b;
  return 0;
}

void simbk_release(simbk *b) {
  if (!b->held)
    return;
  b->held = 0;
  timer_cb(&b->timer);
}

void simbk_close(simbk *b) {
  uv_close((uv_handle_t *)&b->timer, NULL);
}

void simbk_free(simbk *b) {
  svc_free(b->s);
  sim_free(b->t);
}

char *simbk_direct(simbk *b, const char *line, int *ok) {
  const char *reply = sim_cmd(b->t, b->s, line);
  *ok = !strcmp(reply, "OK");
  return strdup(b->t->out ? b->t->out : "");
}
