/* test_worker.c - the worker path: a fake service (injected through
 * br_config.service) handles qRcmd on the worker thread with transact() (pipelined
 * on the same upstream pipe), output() ('O' packets), interrupted() and
 * reply(). */
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>

/* ------------------------------------------------------------------------
 * The fake service.
 */

struct svc {
  const svc_io *io;
  void *ctx;
  int interrupts;
  int events[8];
  int mode; /* a target mode a command left set (QEMU's PhyMemMode) */
};

/* The events seen by the last service, saved when it is freed (on the
 * loop thread, before the test joins it). */
static int last_events[8];
static svc *cur_svc; /* loop thread: the live service */

/* Marks: the commands say where they are, the tests wait for it (and the
 * other way round), instead of sleeping. */
enum { MK_SPIN = 1, MK_MODE_ON = 2, MK_CLEANUP = 4, MK_GO = 8 };
static uv_mutex_t mk_mtx;
static uv_cond_t mk_cond;
static unsigned mk_bits;

static void mark(unsigned m) {
  uv_mutex_lock(&mk_mtx);
  mk_bits |= m;
  uv_cond_broadcast(&mk_cond);
  uv_mutex_unlock(&mk_mtx);
}

/* Whether m was marked within timeout_ms (a hang guard). */
static int mark_wait(unsigned m, int timeout_ms) {
  uint64_t deadline = uv_hrtime() + (uint64_t)timeout_ms * 1000000u;
  uv_mutex_lock(&mk_mtx);
  while (!(mk_bits & m)) {
    uint64_t now = uv_hrtime();
    if (now >= deadline)
      break;
    uv_cond_timedwait(&mk_cond, &mk_mtx, deadline - now);
  }
  int r = (mk_bits & m) != 0;
  uv_mutex_unlock(&mk_mtx);
  return r;
}

/* A long operation polls interrupted() (the service API has no wait for
 * it): until ^C, or the hang guard; whether ^C came. */
static int until_interrupted(svc *s) {
  uint64_t deadline = uv_hrtime() + 10ull * WAIT * 1000000u;
  while (!s->io->interrupted(s->ctx)) {
    if (uv_hrtime() >= deadline)
      return 0;
    usleep(1000); /* the service's own pace, not the test's */
  }
  return 1;
}

static svc *fake_new(const svc_io *io, void *ctx, const svc_config *cfg) {
  (void)cfg;
  svc *s = calloc(1, sizeof(*s));
  s->io = io;
  s->ctx = ctx;
  uv_mutex_lock(&mk_mtx);
  mk_bits = 0;
  uv_mutex_unlock(&mk_mtx);
  cur_svc = s;
  return s;
}

static void fake_free(svc *s) {
  memcpy(last_events, s->events, sizeof(last_events));
  cur_svc = NULL;
  free(s);
}

static enum svc_action fake_classify(svc *s, const char *b, size_t len) {
  (void)s;
  if (rsp_has_prefix(b, len, "qRcmd,"))
    return SVC_HANDLE;
  if (len && b[0] == 'c')
    return SVC_FORWARD_RESUME;
  return SVC_FORWARD;
}

static void fake_event(svc *s, enum svc_event ev) {
  if ((unsigned)ev < 8)
    s->events[ev]++;
}

static void fake_interrupt(svc *s) {
  s->interrupts++;
}

typedef struct {
  size_t n, finals, console;
  int order_ok;
} pipe_acc;

static int on_pipe(void *arg, size_t i, const char *body, size_t len) {
  pipe_acc *a = arg;
  char want[16];
  if (len && body[0] == 'O' && len % 2 == 1) {
    a->console++;
    return 0;
  }
  snprintf(want, sizeof(want), "%02zx", i & 0xff);
  if (i != a->finals || len != 2 || memcmp(body, want, 2) != 0)
    a->order_ok = 0;
  a->finals++;
  return 0;
}

static unsigned fake_set_packet_size(svc *s, unsigned target, unsigned ours) {
  (void)s;
  return target && target < ours ? target : ours; /* nothing is split */
}

static int fake_serve_cached(svc *s, const char *body, size_t len, char *out, size_t cap) {
  (void)s;
  (void)body;
  (void)len;
  (void)out;
  (void)cap;
  return -1;
}

static void fake_handle(svc *s, const char *body, size_t len) {
  char cmd[256];
  char msg[256];
  int n = rsp_parse_qrcmd(body, len, cmd, sizeof(cmd) - 1);
  if (n < 0) {
    s->io->reply(s->ctx, "E01", 3);
    return;
  }
  cmd[n] = 0;
  unsigned count;
  if (sscanf(cmd, "pipe %u", &count) == 1) {
    /* count reads of one byte each, pipelined; the fake target answers
     * request i with the byte i. */
    svc_req *reqs = calloc(count, sizeof(*reqs));
    char(*bodies)[32] = calloc(count, 32);
    for (unsigned i = 0; i < count; i++) {
      int l = rsp_format_m(bodies[i], 32, i, 1);
      reqs[i].body = bodies[i];
      reqs[i].len = (size_t)l;
    }
    pipe_acc a = {0, 0, 0, 1};
    int rc = s->io->transact(s->ctx, reqs, count, on_pipe, &a);
    snprintf(msg, sizeof(msg), "rc=%d replies=%zu console=%zu order=%s\n", rc, a.finals, a.console,
             a.order_ok ? "ok" : "bad");
    s->io->output(s->ctx, msg, strlen(msg));
    s->io->reply(s->ctx, rc == 0 ? "OK" : "E02", 3 - (rc == 0));
    free(reqs);
    free(bodies);
  } else if (strcmp(cmd, "spin") == 0) {
    /* A long operation that polls for ^C. */
    mark(MK_SPIN);
    int ok = until_interrupted(s);
    s->io->reply(s->ctx, ok ? "OK" : "E03", ok ? 2 : 3);
  } else if (strcmp(cmd, "cleanup") == 0) {
    /* Undoes a mode on the target once the test says the client has
     * gone. */
    mark(MK_CLEANUP);
    mark_wait(MK_GO, 10 * WAIT);
    svc_req r = {"Qcleanup", 8};
    pipe_acc a = {0, 0, 0, 1};
    int rc = s->io->transact(s->ctx, &r, 1, on_pipe, &a);
    s->io->reply(s->ctx, rc == 0 ? "OK" : "E06", 3 - (rc == 0));
  } else if (strcmp(cmd, "mode") == 0 || strcmp(cmd, "leave") == 0) {
    /* Sets a target mode; "mode" works until ^C and puts it back itself,
     * "leave" returns with it set (svc_finish() puts it back). */
    svc_req on = {"Qmode:1", 7}, off = {"Qmode:0", 7};
    pipe_acc a = {0, 0, 0, 1};
    int rc = s->io->transact(s->ctx, &on, 1, on_pipe, &a);
    if (rc == 0)
      s->mode = 1;
    if (rc == 0)
      mark(MK_MODE_ON);
    if (rc == 0 && cmd[0] == 'm') {
      until_interrupted(s);
      if (s->io->transact(s->ctx, &off, 1, on_pipe, &a) == 0)
        s->mode = 0;
    }
    s->io->reply(s->ctx, rc == 0 ? "OK" : "E08", 3 - (rc == 0));
  } else if (strcmp(cmd, "empty") == 0) {
    /* An empty reply from the target, and an empty reply to the client. */
    svc_req r = {"qEmpty", 6};
    pipe_acc a = {0, 0, 0, 1};
    int rc = s->io->transact(s->ctx, &r, 1, on_pipe, &a);
    s->io->reply(s->ctx, rc == 0 ? "" : "E07", rc == 0 ? 0 : 3);
  } else if (strcmp(cmd, "big") == 0) {
    /* Output larger than one packet: chunked into several O packets. */
    char *t = malloc(3000);
    memset(t, 'z', 3000);
    int rc = s->io->output(s->ctx, t, 3000);
    free(t);
    s->io->reply(s->ctx, rc == 0 ? "OK" : "E04", 3 - (rc == 0));
  } else {
    s->io->reply(s->ctx, "E05", 3);
  }
}

static atomic_int last_finishes; /* the worker writes it, the tests read it */

static int fake_finish(svc *s) {
  last_finishes++;
  if (!s->mode)
    return 0;
  svc_req off = {"Qmode:0", 7};
  pipe_acc a = {0, 0, 0, 1};
  int rc = s->io->transact(s->ctx, &off, 1, on_pipe, &a);
  if (rc == 0)
    s->mode = 0;
  return rc;
}

static const svc_ops fake_ops = {
    .create = fake_new,
    .free = fake_free,
    .set_packet_size = fake_set_packet_size,
    .classify = fake_classify,
    .event = fake_event,
    .interrupt = fake_interrupt,
    .serve_cached = fake_serve_cached,
    .handle = fake_handle,
    .finish = fake_finish,
};

/* The bridge runs the fake service. */
static void fake(br_config *cfg) {
  cfg->service = &fake_ops;
}

/* ------------------------------------------------------------------------
 * Tests.
 */

static int no_session(br_t *br, void *arg) {
  (void)arg;
  br_state st;
  br_get_state(br, &st);
  return st.sessions == 0;
}

static int detached(br_t *br, void *arg) {
  (void)br;
  (void)arg;
  return cur_svc && cur_svc->events[SVC_EV_DETACH] > 0;
}

static void send_rcmd(peer *c, const char *cmd) {
  char body[600];
  int n = rsp_format_qrcmd(body, sizeof(body), cmd, strlen(cmd));
  assert_true(n > 0);
  peer_send_n(c, body, (size_t)n, 0);
}

static char *decode_O(const char *b) {
  static char text[4096];
  assert_int_equal(b[0], 'O');
  int n = rsp_hex_decode(text, sizeof(text) - 1, b + 1, strlen(b + 1));
  assert_true(n >= 0);
  text[n] = 0;
  return text;
}

static void t_transact_pipelined_in_order(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, fake);
  send_rcmd(f.c, "pipe 40");
  /* A window of requests arrives before any reply: pipelined, and
   * bounded (nothing more until a reply comes). */
  unsigned got = 0;
  const char *b;
  for (; got < BR_WORKER_WINDOW; got++) {
    char want[32];
    snprintf(want, sizeof(want), "m%x,1", got);
    expect_pkt(f.t, want);
  }
  expect_none(&f.h, f.t);
  /* Answer in order, with some console output in the middle; the rest of
   * the requests follow as replies come in. */
  unsigned answered = 0;
  while (answered < 40) {
    if (answered == 3)
      peer_send(f.t, "O6869");
    char r[8];
    snprintf(r, sizeof(r), "%02x", answered);
    peer_send(f.t, r);
    answered++;
    while (got < 40 && got < answered + BR_WORKER_WINDOW) {
      b = peer_packet(f.t, WAIT);
      assert_non_null(b);
      char want[32];
      snprintf(want, sizeof(want), "m%x,1", got);
      assert_string_equal(b, want);
      got++;
    }
  }
  b = peer_packet(f.c, WAIT);
  assert_non_null(b);
  assert_string_equal(decode_O(b), "rc=0 replies=40 console=1 order=ok\n");
  expect_pkt(f.c, "OK");
  fx_down(&f);
}

static void t_interrupt_goes_to_the_service(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, fake);
  send_rcmd(f.c, "spin");
  assert_true(mark_wait(MK_SPIN, WAIT));
  peer_raw(f.c, "\003", 1);
  expect_pkt(f.c, "OK");
  /* The ^C was for the monitor command: the target's next event is the
   * next request. */
  pass_pkt(f.c, f.t, "?");
  fx_down(&f);
}

/* GDB 13 on Ctrl-C during a monitor command prints "Quit" and sends its
 * next request without a ^C: the command is stopped and nothing of it
 * reaches the client, whose next reply is its own. */
static void t_request_abandons_command(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, fake);
  send_rcmd(f.c, "spin");
  assert_true(mark_wait(MK_SPIN, WAIT));
  pass_pkt(f.c, f.t, "?");
  pass_pkt(f.t, f.c, "S05"); /* not the command's "OK" */
  pass_pkt(f.c, f.t, "g");   /* nor after it */
  pass_pkt(f.t, f.c, "00");
  fx_stop(&f);
  assert_true(harness_log_has(&f.h, "during a monitor command: stopping"));
  harness_free(&f.h);
}

static void t_output_chunks_and_ordering(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, fake);
  /* A forwarded request, then one for the worker right behind it: the
   * worker waits for the first reply, replies stay in order. */
  peer_send(f.c, "m0,1");
  send_rcmd(f.c, "big");
  expect_pkt(f.t, "m0,1");
  expect_none(&f.h, f.c);
  pass_pkt(f.t, f.c, "aa"); /* the next packet: no output came first */
  size_t total = 0;
  const char *b;
  while ((b = peer_packet(f.c, WAIT)) && b[0] == 'O' && b[1] != 'K')
    total += strlen(decode_O(b));
  assert_non_null(b);
  assert_string_equal(b, "OK");
  assert_int_equal(total, 3000);
  fx_down(&f);
}

static void t_target_lost_during_transact(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, fake);
  send_rcmd(f.c, "pipe 4");
  expect_pkt(f.t, "m0,1");
  peer_send(f.t, "00");
  peer_free(f.t);
  f.t = NULL;
  const char *b = peer_packet(f.c, WAIT);
  assert_non_null(b);
  char want[64];
  snprintf(want, sizeof(want), "rc=%d replies=1", UV_ECONNRESET);
  assert_non_null(strstr(decode_O(b), want));
  expect_pkt(f.c, "E02");
  fx_down(&f);
}

static void t_client_gone_during_command(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, fake);
  send_rcmd(f.c, "cleanup");
  assert_true(mark_wait(MK_CLEANUP, WAIT));
  peer_free(f.c);
  f.c = NULL;
  assert_true(harness_wait(&f.h, no_session, NULL, WAIT));
  mark(MK_GO);
  /* The command still reaches the target before its connection goes. */
  expect_pkt(f.t, "Qcleanup");
  peer_send(f.t, "OK");
  assert_int_equal(peer_next_noack(f.t, WAIT, NULL, NULL), EV_EOF);
  peer_free(f.t);
  f.t = NULL;
  fx_down(&f);
}

static void t_events(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, fake);
  pass_pkt(f.c, f.t, "c");
  pass_pkt(f.t, f.c, "S05");
  pass_pkt(f.c, f.t, "P8=00");
  pass_pkt(f.t, f.c, "OK");
  peer_free(f.c);
  f.c = NULL;
  assert_true(harness_wait(&f.h, detached, NULL, WAIT));
  fx_down(&f);
  assert_int_equal(last_events[SVC_EV_CONNECT], 1);
  assert_int_equal(last_events[SVC_EV_RESUME], 1);
  assert_int_equal(last_events[SVC_EV_STOP], 1);
  assert_int_equal(last_events[SVC_EV_REG_WRITE], 1);
  assert_int_equal(last_events[SVC_EV_DETACH], 1);
}

/* Found by fuzz_bridge: empty bodies were copied to a NULL buffer (UB). */
static void t_empty_replies(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, fake);
  send_rcmd(f.c, "empty");
  expect_pkt(f.t, "qEmpty");
  pass_pkt(f.t, f.c, "");
  fx_down(&f);
}

/* Found by fuzz_bridge: console output during a worker transaction was
 * kept without bound until the final reply came. */
static void t_console_flood_is_bounded(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, fake);
  send_rcmd(f.c, "pipe 1");
  expect_pkt(f.t, "m0,1");
  size_t n = 16001, sent = 0;
  char *o = malloc(n);
  assert_non_null(o);
  o[0] = 'O';
  memset(o + 1, '6', n - 1);
  for (; sent < 2 * BR_HIGH_WATER; sent += n)
    peer_send_n(f.t, o, n, 0);
  free(o);
  peer_send(f.t, "00");
  const char *b = peer_packet(f.c, WAIT);
  assert_non_null(b);
  char want[64];
  snprintf(want, sizeof(want), "rc=%d replies=1 console=", UV_ENOBUFS);
  const char *text = decode_O(b);
  if (strncmp(text, want, strlen(want)) != 0)
    fail_msg("got '%s', want '%s...'", text, want);
  unsigned long console = strtoul(text + strlen(want), NULL, 10);
  assert_true(console * n <= BR_HIGH_WATER);
  expect_pkt(f.c, "E02");
  fx_down(&f);
}

/* The bridge is closed (SIGINT, SIGTERM) during a command that changed a
 * target mode: the command is interrupted, its own clean-up still reaches
 * the target, then the target connection closes. */
static void t_close_during_command(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, fake);
  send_rcmd(f.c, "mode");
  expect_pkt(f.t, "Qmode:1");
  peer_send(f.t, "OK");
  assert_true(mark_wait(MK_MODE_ON, WAIT)); /* it waits for ^C */
  expect_none(&f.h, f.t);
  harness_stop_begin(&f.h);
  expect_pkt(f.t, "Qmode:0");
  peer_send(f.t, "OK");
  assert_int_equal(peer_next_noack(f.t, WAIT, NULL, NULL), EV_EOF);
  fx_stop(&f);
  assert_true(harness_log_has(&f.h, "stopping the running command before exiting"));
  harness_free(&f.h);
}

/* A mode left set by a command is put back by svc_finish() before the
 * target connection closes: when the client leaves, and when the bridge
 * closes. */
static void t_finish_before_close(void **state) {
  (void)state;
  for (int closing = 0; closing < 2; closing++) {
    fx f;
    fx_ready(&f, fake);
    send_rcmd(f.c, "leave");
    expect_pkt(f.t, "Qmode:1");
    pass_pkt(f.t, f.c, "OK");
    if (closing) {
      harness_stop_begin(&f.h);
    } else {
      peer_free(f.c);
      f.c = NULL;
    }
    expect_pkt(f.t, "Qmode:0");
    peer_send(f.t, "OK");
    assert_int_equal(peer_next_noack(f.t, WAIT, NULL, NULL), EV_EOF);
    if (!closing) {
      /* The next client is served on a fresh connection. */
      f.c = peer_new(tcp_connect_port(f.h.port));
      peer_free(f.t);
      f.t = peer_new(tcp_accept_timeout(f.lfd, WAIT));
      fx_handshake(&f);
    }
    fx_down(&f);
  }
}

/* The target does not answer svc_finish's request: the bridge still
 * closes, after the timeout. */
static void t_finish_bounded(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, fake);
  send_rcmd(f.c, "leave");
  expect_pkt(f.t, "Qmode:1");
  pass_pkt(f.t, f.c, "OK");
  harness_stop_begin(&f.h);
  expect_pkt(f.t, "Qmode:0");
  /* No answer: the connection stays until the timeout has passed (virtual
   * time), then closes all the same. */
  expect_none(&f.h, f.t);
  harness_advance(&f.h, 2 * BR_TEST_TIMEOUT);
  assert_int_equal(peer_next_noack(f.t, WAIT, NULL, NULL), EV_EOF);
  fx_stop(&f);
  assert_true(harness_log_has(&f.h, "the target may be left changed"));
  harness_free(&f.h);
}

/* ------------------------------------------------------------------------
 * Jobs for someone other than the client (br_job_submit, br_job_call).
 */

typedef struct {
  uv_mutex_t m;
  uv_cond_t c;
  int done, status, order;
  char out[256], reply[64];
} jobrec;

static int job_order; /* loop thread */

static void jr_init(jobrec *r) {
  memset(r, 0, sizeof(*r));
  uv_mutex_init(&r->m);
  uv_cond_init(&r->c);
}

static void jr_free(jobrec *r) {
  uv_cond_destroy(&r->c);
  uv_mutex_destroy(&r->m);
}

static void job_cb(void *arg, int status, const char *out, size_t olen, const char *reply,
                   size_t rlen) {
  jobrec *r = arg;
  uv_mutex_lock(&r->m);
  assert_int_equal(r->done, 0); /* once */
  r->status = status;
  snprintf(r->out, sizeof(r->out), "%.*s", (int)olen, out);
  snprintf(r->reply, sizeof(r->reply), "%.*s", (int)rlen, reply);
  r->order = ++job_order;
  r->done = 1;
  uv_cond_broadcast(&r->c);
  uv_mutex_unlock(&r->m);
}

/* Waits for the job's cb (WAIT ms at most); whether it came. */
static int jr_wait(jobrec *r) {
  uv_mutex_lock(&r->m);
  for (int i = 0; i < WAIT / 10 && !r->done; i++)
    uv_cond_timedwait(&r->c, &r->m, 10 * 1000000ull);
  int d = r->done;
  uv_mutex_unlock(&r->m);
  return d;
}

static int job_fn(svc *s, void *fn_arg, char **text, size_t *len) {
  (void)s;
  *text = strdup((const char *)fn_arg);
  *len = strlen(*text);
  return 0;
}

struct submit {
  br_t *br;
  const char *cmd; /* NULL: br_job_call(job_fn, "from fn") */
  jobrec *r;
  int rc;
};

static void do_submit(void *arg) {
  struct submit *sb = arg;
  if (!sb->cmd) {
    sb->rc = br_job_call(sb->br, job_fn, "from fn", job_cb, sb->r);
    return;
  }
  char body[600];
  int n = rsp_format_qrcmd(body, sizeof(body), sb->cmd, strlen(sb->cmd));
  assert_true(n > 0);
  sb->rc = br_job_submit(sb->br, body, (size_t)n, job_cb, sb->r);
  assert_int_equal(sb->r->done, 0); /* never from inside the call */
}

static void submit(fx *f, const char *cmd, jobrec *r) {
  struct submit sb = {f->h.br, cmd, r, -1};
  harness_call(&f->h, do_submit, &sb);
  assert_int_equal(sb.rc, 0);
}

static void t_job_for_another(void **state) {
  (void)state;
  fx f;
  fx_up(&f, fake);
  fx_handshake(&f);
  jobrec r, k;
  jr_init(&r);
  jr_init(&k);
  submit(&f, "pipe 2", &r);
  expect_pkt(f.t, "m0,1");
  expect_pkt(f.t, "m1,1");
  peer_send(f.t, "O6869"); /* console output from the target is the job's too */
  peer_send(f.t, "00");
  peer_send(f.t, "01");
  assert_true(jr_wait(&r));
  assert_int_equal(r.status, 0);
  assert_string_equal(r.out, "rc=0 replies=2 console=1 order=ok\n");
  assert_string_equal(r.reply, "OK");
  expect_none(&f.h, f.c); /* nothing of it reaches the client */
  submit(&f, NULL, &k);
  assert_true(jr_wait(&k));
  assert_int_equal(k.status, 0);
  assert_string_equal(k.out, "from fn");
  assert_string_equal(k.reply, "OK");
  /* The client's own commands are as before. */
  send_rcmd(f.c, "pipe 1");
  expect_pkt(f.t, "m0,1");
  peer_send(f.t, "00");
  assert_string_equal(decode_O(peer_packet(f.c, WAIT)), "rc=0 replies=1 console=0 order=ok\n");
  expect_pkt(f.c, "OK");
  jr_free(&r);
  jr_free(&k);
  fx_down(&f);
}

/* Jobs and the client's requests run in the order they came. */
static void t_job_fifo_with_client(void **state) {
  (void)state;
  fx f;
  fx_up(&f, fake);
  fx_handshake(&f);
  jobrec a, b;
  jr_init(&a);
  jr_init(&b);
  submit(&f, "pipe 1", &a);
  expect_pkt(f.t, "m0,1");
  peer_send(f.c, "g"); /* waits: the worker is busy */
  expect_ev(f.c, EV_ACK);
  submit(&f, "pipe 1", &b); /* after the client's g */
  expect_none(&f.h, f.t);
  peer_send(f.t, "00");
  assert_true(jr_wait(&a));
  expect_pkt(f.t, "g");
  expect_none(&f.h, f.t); /* b waits for the answer to g */
  peer_send(f.t, "1234");
  expect_pkt(f.c, "1234");
  expect_pkt(f.t, "m0,1");
  peer_send(f.t, "00");
  assert_true(jr_wait(&b));
  assert_int_equal(a.status, 0);
  assert_int_equal(b.status, 0);
  assert_true(a.order < b.order);
  jr_free(&a);
  jr_free(&b);
  fx_down(&f);
}

/* The client's target runs: the job is refused, the target not paused. */
static void t_job_target_running(void **state) {
  (void)state;
  fx f;
  fx_up(&f, fake);
  fx_handshake(&f);
  jobrec r, r2;
  jr_init(&r);
  jr_init(&r2);
  peer_send(f.c, "c");
  expect_pkt(f.t, "c");
  submit(&f, "pipe 1", &r);
  assert_true(jr_wait(&r));
  assert_int_equal(r.status, BR_EJOB_RUNNING);
  expect_none(&f.h, f.t); /* no ^C, no request */
  peer_send(f.t, "S05");
  expect_pkt(f.c, "S05");
  submit(&f, "pipe 1", &r2);
  expect_pkt(f.t, "m0,1");
  peer_send(f.t, "00");
  assert_true(jr_wait(&r2));
  assert_int_equal(r2.status, 0);
  jr_free(&r);
  jr_free(&r2);
  fx_down(&f);
}

static void t_job_target_lost(void **state) {
  (void)state;
  fx f;
  fx_up(&f, fake);
  fx_handshake(&f);
  jobrec r, r2;
  jr_init(&r);
  jr_init(&r2);
  close(f.lfd); /* no reconnection */
  f.lfd = -1;
  submit(&f, "pipe 1", &r);
  expect_pkt(f.t, "m0,1");
  peer_free(f.t); /* lost during the job */
  f.t = NULL;
  assert_true(jr_wait(&r));
  assert_int_equal(r.status, BR_EJOB_LOST);
  submit(&f, "pipe 1", &r2); /* and after it */
  assert_true(jr_wait(&r2));
  assert_int_equal(r2.status, BR_EJOB_LOST);
  jr_free(&r);
  jr_free(&r2);
  fx_down(&f);
}

/* br_close: the queued jobs are cancelled, the running one too once it
 * ends.  (The queued one waits for the running one to end: br_close()
 * cancels the jobs behind the head only when the head is not running.
 * This test passed before only because a 2 s timeout ended the head.) */
static void t_job_cancelled_on_close(void **state) {
  (void)state;
  fx f;
  fx_up(&f, fake);
  fx_handshake(&f);
  jobrec a, b;
  jr_init(&a);
  jr_init(&b);
  submit(&f, "pipe 1", &a);
  submit(&f, "pipe 1", &b);
  expect_pkt(f.t, "m0,1");
  harness_stop_begin(&f.h);
  /* The queued job ends at once; the running one when its target answers. */
  assert_true(jr_wait(&b));
  assert_int_equal(b.status, UV_ECANCELED);
  uv_mutex_lock(&a.m);
  assert_false(a.done);
  uv_mutex_unlock(&a.m);
  peer_send(f.t, "00");
  assert_true(jr_wait(&a));
  assert_int_equal(a.status, UV_ECANCELED);
  assert_int_equal(peer_next_noack(f.t, WAIT, NULL, NULL), EV_EOF);
  fx_stop(&f);
  harness_free(&f.h);
  jr_free(&a);
  jr_free(&b);
}

/* The client's ^C during another's job is for the client's resume that
 * waits behind it: it follows that resume up, the job is left alone. */
static void t_job_client_interrupt(void **state) {
  (void)state;
  fx f;
  fx_up(&f, fake);
  fx_handshake(&f);
  jobrec r;
  jr_init(&r);
  submit(&f, "pipe 1", &r);
  expect_pkt(f.t, "m0,1");
  peer_send(f.c, "c");
  expect_ev(f.c, EV_ACK);
  peer_raw(f.c, "\003", 1);
  expect_none(&f.h, f.t);
  peer_send(f.t, "00");
  assert_true(jr_wait(&r));
  assert_int_equal(r.status, 0);
  assert_string_equal(r.out, "rc=0 replies=1 console=0 order=ok\n");
  expect_pkt(f.t, "c");
  expect_ev(f.t, EV_INTR);
  peer_send(f.t, "T02");
  expect_pkt(f.c, "T02");
  jr_free(&r);
  fx_down(&f);
}

/* No client: a job connects the target, which is released (svc_finish
 * first) once no job came for BR_XLINGER_MS. */
static void t_job_without_client(void **state) {
  (void)state;
  fx f;
  fx_up(&f, fake);
  fx_handshake(&f);
  peer_free(f.c);
  f.c = NULL;
  int before = last_finishes;
  assert_int_equal(peer_next_noack(f.t, WAIT, NULL, NULL), EV_EOF);
  peer_free(f.t);
  jobrec r;
  jr_init(&r);
  submit(&f, "pipe 1", &r);
  f.t = peer_new(tcp_accept_timeout(f.lfd, WAIT));
  expect_pkt(f.t, "m0,1");
  peer_send(f.t, "00");
  assert_true(jr_wait(&r));
  assert_int_equal(r.status, 0);
  assert_string_equal(r.reply, "OK");
  /* BR_XLINGER_MS later (a real timer; made to pass at once here). */
  harness_advance(&f.h, BR_XLINGER_MS);
  assert_int_equal(peer_next_noack(f.t, WAIT, NULL, NULL), EV_EOF);
  assert_true(last_finishes > before);
  jr_free(&r);
  fx_down(&f);
}

/* br_init() takes a table without session (this fake's) or none (the
 * forward service), and refuses one missing a required op. */
static void t_ops_table_checked(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  br_t *br = calloc(1, br_size());
  assert_non_null(br);
  br_config cfg;
  br_config_default(&cfg);
  assert_int_equal(br_init(&loop, br, &cfg), 0);
  fake(&cfg);
  assert_null(fake_ops.session);
  assert_int_equal(br_init(&loop, br, &cfg), 0);
  assert_ptr_equal(br_get_config(br)->service, &fake_ops);
  svc_ops no_handle = fake_ops;
  no_handle.handle = NULL;
  cfg.service = &no_handle;
  assert_int_equal(br_init(&loop, br, &cfg), UV_EINVAL);
  svc_ops no_finish = fake_ops;
  no_finish.finish = NULL;
  cfg.service = &no_finish;
  assert_int_equal(br_init(&loop, br, &cfg), UV_EINVAL);
  free(br);
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  uv_mutex_init(&mk_mtx);
  uv_cond_init(&mk_cond);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(t_transact_pipelined_in_order),
      cmocka_unit_test(t_interrupt_goes_to_the_service),
      cmocka_unit_test(t_request_abandons_command),
      cmocka_unit_test(t_output_chunks_and_ordering),
      cmocka_unit_test(t_target_lost_during_transact),
      cmocka_unit_test(t_client_gone_during_command),
      cmocka_unit_test(t_events),
      cmocka_unit_test(t_empty_replies),
      cmocka_unit_test(t_console_flood_is_bounded),
      cmocka_unit_test(t_close_during_command),
      cmocka_unit_test(t_finish_before_close),
      cmocka_unit_test(t_finish_bounded),
      cmocka_unit_test(t_job_for_another),
      cmocka_unit_test(t_job_fifo_with_client),
      cmocka_unit_test(t_job_target_running),
      cmocka_unit_test(t_job_target_lost),
      cmocka_unit_test(t_job_cancelled_on_close),
      cmocka_unit_test(t_job_client_interrupt),
      cmocka_unit_test(t_job_without_client),
      cmocka_unit_test(t_ops_table_checked),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
