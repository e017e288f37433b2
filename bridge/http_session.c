/* http_session.c - the HTTP endpoint's backend ops on the bridge core: each
 * op is one job on the bridge's worker (br_job_submit, br_job_call), run
 * in turn with the RSP client's service requests. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "http_session.h"
#include "http_svc.h"

struct br_http {
  br_t *br;
  http_server *srv;
  /* The op in flight (the server runs one at a time). */
  http_done_cb done;
  void *done_arg;
  int is_cmd;
  void (*close_cb)(void *arg);
  void *close_arg;
};

static int map_status(int status) {
  if (status == BR_EJOB_RUNNING)
    return HTTP_BK_RUNNING;
  return HTTP_BK_LOST; /* lost, or cancelled because the bridge closes */
}

static void job_done(void *arg, int status, const char *out, size_t out_len, const char *reply,
                     size_t reply_len) {
  br_http *h = arg;
  http_done_cb done = h->done;
  void *darg = h->done_arg;
  h->done = NULL;
  if (status) {
    done(darg, map_status(status), "", 0);
  } else if (h->is_cmd) {
    /* A monitor command: its output; the reply says whether it failed
     * (E05: the service could not reach the target). */
    int st = HTTP_BK_OK;
    if (reply_len == 3 && !memcmp(reply, "E05", 3))
      st = HTTP_BK_LOST;
    else if (reply_len && reply[0] == 'E')
      st = HTTP_BK_FAILED;
    done(darg, st, out, out_len);
  } else {
    done(darg, HTTP_BK_OK, reply, reply_len);
  }
}

static int op_command(void *ctx, const char *line, size_t len, http_done_cb done, void *arg) {
  br_http *h = ctx;
  size_t cap = 6 + 2 * len + 1;
  if (cap > BR_BODY_MAX)
    return -E2BIG;
  char *body = malloc(cap);
  if (!body)
    return -ENOMEM;
  int n = rsp_format_qrcmd(body, cap, line, len);
  int rc = n < 0 ? -EINVAL : 0;
  if (!rc) {
    h->done = done;
    h->done_arg = arg;
    h->is_cmd = 1;
    rc = br_job_submit(h->br, body, (size_t)n, job_done, h);
  }
  free(body);
  return rc;
}

static int op_request(void *ctx, const char *body, size_t len, http_done_cb done, void *arg) {
  br_http *h = ctx;
  h->done = done;
  h->done_arg = arg;
  h->is_cmd = 0;
  return br_job_submit(h->br, body, len, job_done, h);
}

/* Worker thread. */
static int regs_fn(svc *s, void *fn_arg, char **text, size_t *len) {
  (void)fn_arg;
  svc_sb o;
  svc__sb_init(&o);
  int rc = http_svc_regs_json(s, &o);
  if (o.oom) {
    svc__sb_free(&o);
    return -1;
  }
  *text = o.p;
  *len = o.len;
  return rc;
}

static void regs_done(void *arg, int status, const char *out, size_t out_len, const char *reply,
                      size_t reply_len) {
  br_http *h = arg;
  http_done_cb done = h->done;
  h->done = NULL;
  (void)reply_len;
  if (status)
    done(h->done_arg, map_status(status), "", 0);
  else
    done(h->done_arg, reply[0] == 'E' ? HTTP_BK_FAILED : HTTP_BK_OK, out, out_len);
}

static int op_regs(void *ctx, http_done_cb done, void *arg) {
  br_http *h = ctx;
  h->done = done;
  h->done_arg = arg;
  return br_job_call(h->br, regs_fn, NULL, regs_done, h);
}

static void op_state(void *ctx, http_target_state *st) {
  br_http *h = ctx;
  br_state s;
  br_get_state(h->br, &s);
  /* Detached: the client detached (D: QEMU resumed the guest, nothing is
   * attached until it attaches again), or the bridge released the target
   * (no client, no HTTP request for a second); it runs as the last
   * debugger left it. */
  svc *sv = br_service(h->br);
  int detached = s.connected && sv && atomic_load(&sv->detached);
  st->run_state = s.running                  ? "running"
                  : s.connected && !detached ? "stopped"
                  : s.lost                   ? "lost"
                                             : "detached";
  st->sessions = s.sessions;
  /* Asking then neither connects the target nor pauses it, nor keeps a
   * connection made for HTTP alive longer. */
  st->live = s.connected && !detached && !s.running && s.sessions > 0;
}

static const http_backend_ops ops = {op_command, op_request, op_regs, op_state};

static void log_cb(void *ctx, int level, const char *msg) {
  br_http *h = ctx;
  br__log(h->br, level, "%s", msg);
}

int br_http_start(br_t *br, const char *addr, int port, int read_only, br_http **out) {
  br_http *h = calloc(1, sizeof(*h));
  if (!h)
    return UV_ENOMEM;
  h->br = br;
  http_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.addr = addr;
  cfg.port = port;
  cfg.read_only = read_only;
  cfg.ops = &ops;
  cfg.ctx = h;
  cfg.log = log_cb;
  int rc = http_server_start(br_loop(br), &cfg, &h->srv);
  if (rc < 0) {
    free(h);
    return rc;
  }
  *out = h;
  return 0;
}

int br_http_port(const br_http *h) {
  return http_server_port(h->srv);
}

static void closed(void *arg) {
  br_http *h = arg;
  void (*cb)(void *) = h->close_cb;
  void *cb_arg = h->close_arg;
  free(h);
  if (cb)
    cb(cb_arg);
}

void br_http_close(br_http *h, void (*cb)(void *arg), void *arg) {
  h->close_cb = cb;
  h->close_arg = arg;
  http_server_close(h->srv, closed, h);
}
