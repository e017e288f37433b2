/* test_sessions_svc.c - observers and the service: a fake service (injected
 * through br_config.service) records the session svc_session() puts it in.
 * An observer's command runs in its own session and the service is back
 * in the controller's (0) before the reply reaches anyone; an observer's
 * command output reaches it while the command still runs. */
#include "fixture.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

struct svc {
  const svc_io *io;
  void *ctx;
};

static atomic_uint g_sess;   /* the session the service is in */
static atomic_int g_bad;     /* the loop saw the service in an observer's session */
static atomic_int g_release; /* "hold" may end */
static uv_mutex_t g_mtx;
static uv_cond_t g_cond;

static svc *fake_new(const svc_io *io, void *ctx, const svc_config *cfg) {
  (void)cfg;
  svc *s = calloc(1, sizeof(*s));
  s->io = io;
  s->ctx = ctx;
  return s;
}

static void fake_free(svc *s) {
  free(s);
}

static void fake_session(svc *s, unsigned id) {
  (void)s;
  atomic_store(&g_sess, id);
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
  (void)s;
  (void)ev;
}

static void fake_interrupt(svc *s) {
  (void)s;
}

static unsigned fake_set_packet_size(svc *s, unsigned target, unsigned ours) {
  (void)s;
  return target && target < ours ? target : ours;
}

/* Loop thread, worker idle: the controller's reads. */
static int fake_serve_cached(svc *s, const char *body, size_t len, char *out, size_t cap) {
  (void)s;
  (void)body;
  (void)len;
  (void)out;
  (void)cap;
  if (atomic_load(&g_sess) != 0)
    atomic_store(&g_bad, 1);
  return -1;
}

static void fake_handle(svc *s, const char *body, size_t len) {
  char cmd[64], msg[64];
  int n = rsp_parse_qrcmd(body, len, cmd, sizeof(cmd) - 1);
  if (n < 0) {
    s->io->reply(s->ctx, "E01", 3);
    return;
  }
  cmd[n] = 0;
  int m = snprintf(msg, sizeof(msg), "in session %u\n", atomic_load(&g_sess));
  s->io->output(s->ctx, msg, (size_t)m);
  if (!strcmp(cmd, "maps")) {
    /* Output now, the reply once the test released it or the command was
     * interrupted (polled, as the real service polls it). */
    int intr = 0;
    uv_mutex_lock(&g_mtx);
    while (!atomic_load(&g_release) && !(intr = s->io->interrupted(s->ctx)))
      uv_cond_timedwait(&g_cond, &g_mtx, 10 * 1000 * 1000);
    uv_mutex_unlock(&g_mtx);
    if (intr) {
      s->io->reply(s->ctx, "E02", 3);
      return;
    }
  }
  s->io->reply(s->ctx, "OK", 2);
}

static int fake_finish(svc *s) {
  (void)s;
  return 0;
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
    .session = fake_session,
    .finish = fake_finish,
};

static void four_sessions(br_config *cfg) {
  cfg->service = &fake_ops;
  cfg->max_sessions = 4;
}

static void send_rcmd(peer *p, const char *cmd) {
  char body[256] = "qRcmd,";
  for (size_t i = 0; cmd[i]; i++)
    snprintf(body + 6 + 2 * i, 3, "%02x", (unsigned char)cmd[i]);
  peer_send(p, body);
}

/* The fake answers every command with the session it runs in; `maps`
 * gives its reply only once the test released it. */

/* The next O packet's text (static storage). */
static const char *next_output(peer *p) {
  static char text[256];
  const char *b = peer_packet(p, WAIT);
  assert_non_null(b);
  if (b[0] != 'O' || !strcmp(b, "OK"))
    fail_msg("want console output, got '%s'", b);
  int n = rsp_hex_decode(text, sizeof(text) - 1, b + 1, strlen(b) - 1);
  assert_true(n >= 0);
  text[n] = 0;
  return text;
}

static void t_observer_job_in_its_session(void **state) {
  (void)state;
  uv_mutex_init(&g_mtx);
  uv_cond_init(&g_cond);
  fx f;
  fx_ready(&f, four_sessions);
  peer *o = peer_new(tcp_connect_port(f.h.port));
  for (int round = 0; round < 3; round++) {
    send_rcmd(o, "vtop 1000");
    assert_string_equal(next_output(o), "in session 2\n");
    expect_pkt(o, "OK");
    /* At once after: the controller's command and reads see session 0. */
    send_rcmd(f.c, "vtop 1000");
    assert_string_equal(next_output(f.c), "in session 0\n");
    expect_pkt(f.c, "OK");
    pass_pkt(f.c, f.t, "m1000,4");
    pass_pkt(f.t, f.c, "00000000");
  }
  /* Output reaches the observer while its command runs. */
  send_rcmd(o, "maps"); /* holds its reply until released */
  assert_string_equal(next_output(o), "in session 2\n");
  uv_mutex_lock(&g_mtx);
  atomic_store(&g_release, 1);
  uv_cond_broadcast(&g_cond);
  uv_mutex_unlock(&g_mtx);
  expect_pkt(o, "OK");
  send_rcmd(f.c, "vtop 1000");
  assert_string_equal(next_output(f.c), "in session 0\n");
  expect_pkt(f.c, "OK");
  /* Its ^C stops its own command (and nothing else). */
  atomic_store(&g_release, 0);
  send_rcmd(o, "maps");
  assert_string_equal(next_output(o), "in session 2\n");
  peer_raw(o, "\003", 1);
  expect_pkt(o, "E02");
  /* A request during its command (GDB's Quit): the command stops, its
   * reply is dropped, the request gets its own. */
  send_rcmd(o, "maps");
  assert_string_equal(next_output(o), "in session 2\n");
  send_rcmd(o, "vtop 2000");
  assert_string_equal(next_output(o), "in session 2\n");
  expect_pkt(o, "OK");
  pass_pkt(o, f.t, "m1000,4");
  pass_pkt(f.t, o, "01020304");
  assert_int_equal(atomic_load(&g_bad), 0);
  peer_free(o);
  fx_down(&f);
  uv_cond_destroy(&g_cond);
  uv_mutex_destroy(&g_mtx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(t_observer_job_in_its_session),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
