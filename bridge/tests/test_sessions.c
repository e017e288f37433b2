/* test_sessions.c - several RSP clients on one target (--sessions): an
 * observer reads while the target is stopped, its writes and run control
 * are refused naming the controller, control is handed over once the
 * controller left (`monitor session take`), and an observer's queries
 * while the controller's resume is outstanding pause the guest without
 * the controller seeing anything but its own stop reply. */
#include "fixture.h"

#include <sys/socket.h>

static void four_sessions(br_config *cfg) {
  cfg->max_sessions = 4;
}

/* A second client, an observer once its first request is answered. */
static peer *observer(fx *f) {
  peer *o = peer_new(tcp_connect_port(f->h.port));
  assert_true(o->fd >= 0);
  return o;
}

/* An observer whose first request (a read) went through to the target. */
static peer *observer_up(fx *f) {
  peer *o = observer(f);
  pass_pkt(o, f->t, "m0,1");
  pass_pkt(f->t, o, "00");
  return o;
}

/* The observer o sends req while the controller's resume is out: the
 * target gets the ^C of a pause for it. */
static void pause_for(fx *f, peer *o, const char *req) {
  peer_send(o, req);
  assert_int_equal(peer_next_noack(f->t, WAIT, NULL, NULL), EV_INTR);
}

/* The controller goes; returns once the bridge closed its connection
 * (the bridge has let go of it). */
static void controller_leaves(fx *f) {
  shutdown(f->c->fd, SHUT_WR);
  int k;
  while ((k = peer_next(f->c, WAIT, NULL, NULL)) != EV_EOF)
    assert_int_not_equal(k, EV_TIMEOUT);
  peer_free(f->c);
  f->c = NULL;
}

static void send_rcmd(peer *p, const char *cmd) {
  static char body[8192] = "qRcmd,";
  for (size_t i = 0; cmd[i]; i++)
    snprintf(body + 6 + 2 * i, 3, "%02x", (unsigned char)cmd[i]);
  peer_send(p, body);
}

/* A monitor command's output (its O packets decoded) until its final
 * reply, which is returned (static storage). */
static const char *rcmd_reply(peer *p, char *out, size_t cap) {
  static char fin[64];
  size_t o = 0;
  out[0] = 0;
  for (;;) {
    const char *b = peer_packet(p, WAIT);
    assert_non_null(b);
    size_t n = strlen(b);
    if (b[0] == 'O' && n > 1 && n % 2 == 1 && strcmp(b, "OK")) {
      for (size_t i = 1; i + 1 < n && o + 1 < cap; i += 2) {
        unsigned v;
        sscanf(b + i, "%2x", &v);
        out[o++] = (char)v;
      }
      out[o] = 0;
      continue;
    }
    snprintf(fin, sizeof(fin), "%s", b);
    return fin;
  }
}

static void t_observer_reads_while_stopped(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, four_sessions);
  peer *o = observer(&f);
  /* Its qSupported is answered here, from the controller's. */
  peer_send(o, "qSupported:multiprocess+;swbreak+");
  const char *r = peer_packet(o, WAIT);
  assert_non_null(r);
  assert_non_null(strstr(r, "PacketSize=1000"));
  assert_non_null(strstr(r, "QStartNoAckMode+"));
  /* Reads go to the target, answered to the observer only. */
  pass_pkt(o, f.t, "m1000,4");
  pass_pkt(f.t, o, "deadbeef");
  pass_pkt(o, f.t, "g");
  pass_pkt(f.t, o, "00112233");
  pass_pkt(o, f.t, "p10");
  pass_pkt(f.t, o, "44556677");
  pass_pkt(o, f.t, "?");
  pass_pkt(f.t, o, "T05thread:p01.01;");
  /* Thread selection is answered here: the controller's stays. */
  peer_send(o, "Hg0");
  expect_pkt(o, "OK");
  /* Its own no-ack mode; the controller stays in ack mode. */
  peer_send(o, "QStartNoAckMode");
  expect_pkt(o, "OK");
  peer_raw(o, "$m2000,2#00", 11); /* not verified: no-ack */
  expect_pkt(f.t, "m2000,2");
  peer_send(f.t, "abcd");
  const char *b;
  assert_int_equal(peer_next(o, WAIT, &b, NULL), EV_PACKET); /* no ack first */
  assert_string_equal(b, "abcd");
  peer_send(f.c, "m3000,1");
  expect_ev(f.c, EV_ACK);
  expect_pkt(f.t, "m3000,1");
  pass_pkt(f.t, f.c, "ee");
  /* Both at once: each gets its own reply. */
  peer_send(f.c, "m4000,1");
  expect_pkt(f.t, "m4000,1");
  peer_raw(o, "$m5000,1#00", 11);
  peer_send(f.t, "11");
  expect_pkt(f.c, "11");
  expect_pkt(f.t, "m5000,1");
  peer_send(f.t, "22");
  assert_int_equal(peer_next(o, WAIT, &b, NULL), EV_PACKET);
  assert_string_equal(b, "22");
  peer_free(o);
  fx_down(&f);
}

static void t_observer_writes_refused(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, four_sessions);
  peer *o = observer(&f);
  static const char *const refused[] = {
      "M1000,2:abcd", "X1000,0:",  "P10=00000000", "G00112233", "c",       "s",
      "vCont;c",      "Z0,1000,1", "z0,1000,1",    "k",         "vKill;1", "D",
      "QNonStop:1",   "vCtrlC",    "C05"};
  char want[128];
  snprintf(want, sizeof(want), "E.rspbridge: session 2 is an observer; session 1 (127.0.0.1:");
  for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
    peer_send(o, refused[i]);
    const char *r = peer_packet(o, WAIT);
    assert_non_null(r);
    if (strncmp(r, want, strlen(want)) || !strstr(r, ") controls run state"))
      fail_msg("%s: got '%s'", refused[i], r);
  }
  /* A monitor command that writes: refused with the same reason. */
  char out[1024];
  send_rcmd(o, "phys write 1000 00");
  assert_string_equal(rcmd_reply(o, out, sizeof(out)), "E01");
  assert_non_null(strstr(out, "`phys write` refused: session 2 is an observer"));
  /* Settings the controller would see change are refused too. */
  static const char *const shared[][2] = {{"cache off", "`cache off`"},
                                          {"uncached add 0 1000", "`uncached add`"},
                                          {"arch x86-32", "`arch x86-32`"}};
  for (size_t i = 0; i < 3; i++) {
    send_rcmd(o, shared[i][0]);
    assert_string_equal(rcmd_reply(o, out, sizeof(out)), "E01");
    if (!strstr(out, shared[i][1]) || !strstr(out, "refused: session 2 is an observer"))
      fail_msg("%s: '%s'", shared[i][0], out);
  }
  /* However long the line: its first words decide. */
  static char longw[2048] = "phys write 1000";
  for (size_t i = strlen(longw); i + 3 < sizeof(longw) - 1; i += 3)
    memcpy(longw + i, " 00", 3);
  send_rcmd(o, longw);
  assert_string_equal(rcmd_reply(o, out, sizeof(out)), "E01");
  assert_non_null(strstr(out, "`phys write` refused: session 2 is an observer"));
  send_rcmd(o, "system_reset");
  assert_string_equal(rcmd_reply(o, out, sizeof(out)), "E01");
  assert_non_null(strstr(out, "`system_reset` refused"));
  /* Its ^C reaches nobody: the target's next event is the next read. */
  peer_raw(o, "\003", 1);
  pass_pkt(o, f.t, "m1000,4");
  pass_pkt(f.t, o, "01020304");
  /* The controller's writes still go. */
  pass_pkt(f.c, f.t, "M1000,2:abcd");
  pass_pkt(f.t, f.c, "OK");
  peer_free(o);
  fx_down(&f);
}

static void t_controller_leaves_take(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, four_sessions);
  peer *o = observer(&f);
  char out[2048];
  send_rcmd(o, "session");
  assert_string_equal(rcmd_reply(o, out, sizeof(out)), "OK");
  assert_non_null(strstr(out, "1   controller  ack     127.0.0.1:"));
  assert_non_null(strstr(out, "2   observer    ack     127.0.0.1:"));
  assert_non_null(strstr(out, "(this session)"));
  send_rcmd(o, "session --json");
  assert_string_equal(rcmd_reply(o, out, sizeof(out)), "OK");
  assert_non_null(strstr(out, "{\"sessions\":[{\"id\":1,\"role\":\"controller\",\"ack\":true,"));
  assert_non_null(
      strstr(out, "{\"id\":2,\"role\":\"observer\",\"ack\":true,\"peer\":\"127.0.0.1:"));
  assert_non_null(strstr(out, "\"this\":true}],\"pauses\":{\"count\":0,"));
  send_rcmd(o, "session bogus");
  assert_string_equal(rcmd_reply(o, out, sizeof(out)), "E01");
  assert_non_null(strstr(out, "usage: session"));
  /* Taking control while the controller is there is refused. */
  send_rcmd(o, "session take");
  assert_string_equal(rcmd_reply(o, out, sizeof(out)), "E01");
  assert_non_null(strstr(out, "session 1 (127.0.0.1:"));
  /* The controller leaves the target stopped: the observer keeps it. */
  controller_leaves(&f);
  pass_pkt(o, f.t, "m1000,4");
  pass_pkt(f.t, o, "aabbccdd");
  peer_send(o, "c");
  const char *r = peer_packet(o, WAIT);
  assert_non_null(r);
  assert_non_null(strstr(r, "no session controls run state"));
  send_rcmd(o, "session take");
  assert_string_equal(rcmd_reply(o, out, sizeof(out)), "OK");
  assert_non_null(strstr(out, "session 2 now controls run state"));
  /* Now its run control goes, and a new client is an observer. */
  pass_pkt(o, f.t, "vCont;c");
  peer *o3 = observer(&f);
  peer_send(o3, "Z0,1000,1");
  r = peer_packet(o3, WAIT);
  assert_non_null(r);
  assert_non_null(strstr(r, "session 3 is an observer; session 2 (127.0.0.1:"));
  pass_pkt(f.t, o, "T05thread:p01.01;");
  f.c = o; /* fx_down frees it */
  peer_free(o3);
  fx_down(&f);
}

/* With no controller, the next new connection takes control. */
static void t_next_connection_controls(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, four_sessions);
  peer *o = observer_up(&f);
  controller_leaves(&f);
  f.c = peer_new(tcp_connect_port(f.h.port));
  pass_pkt(f.c, f.t, "c");
  pass_pkt(f.t, f.c, "S05");
  peer_send(o, "s");
  const char *r = peer_packet(o, WAIT);
  assert_non_null(r);
  assert_non_null(strstr(r, "session 2 is an observer; session 3 (127.0.0.1:"));
  peer_free(o);
  fx_down(&f);
}

/* The controller's c is in flight: each observer query pauses the guest
 * (^C), the stop reply it causes is swallowed, the query is answered and
 * the controller's c goes again; the controller only ever gets its own
 * stop reply. */
static void t_observer_pauses_running_guest(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, four_sessions);
  peer *o = observer_up(&f);
  pass_pkt(f.c, f.t, "vCont;c:p1.-1");
  for (int round = 0; round < 3; round++) {
    pause_for(&f, o, "m1000,4");
    peer_send(f.t, "T02thread:p01.01;");
    expect_pkt(f.t, "m1000,4");
    peer_send(f.t, "c0ffee00");
    expect_pkt(o, "c0ffee00");
    expect_pkt(f.t, "vCont;c:p1.-1"); /* resumed with its own action */
  }
  /* Several queries during one pause: all answered, one resume. */
  pause_for(&f, o, "g");
  peer_send(f.t, "T02thread:p01.01;");
  expect_pkt(f.t, "g");
  peer_send(o, "p10");  /* while its g is in flight */
  expect_ev(o, EV_ACK); /* g's */
  expect_ev(o, EV_ACK); /* p10's: the bridge has it */
  peer_send(f.t, "0011");
  expect_pkt(o, "0011");
  expect_pkt(f.t, "p10");
  peer_send(f.t, "2233");
  expect_pkt(o, "2233");
  expect_pkt(f.t, "vCont;c:p1.-1");
  /* The real stop: the controller's, once. */
  pass_pkt(f.t, f.c, "T05thread:p01.01;");
  pass_pkt(f.c, f.t, "g");
  pass_pkt(f.t, f.c, "4455");
  peer_free(o);
  fx_down(&f);
}

/* A resume with a signal or an address carries on without them: the
 * signal is not delivered twice. */
static void t_pause_carries_on_without_signal(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, four_sessions);
  peer *o = observer_up(&f);
  static const char *const cases[][2] = {{"C0b", "c"},
                                         {"c1000", "c"},
                                         {"vCont;C0b:p1.1;c", "vCont;c:p1.1;c"},
                                         {"vCont;c:p1.-1", "vCont;c:p1.-1"}};
  for (size_t i = 0; i < 4; i++) {
    pass_pkt(f.c, f.t, cases[i][0]);
    pause_for(&f, o, "m1000,4");
    peer_send(f.t, "T02thread:p01.01;");
    expect_pkt(f.t, "m1000,4");
    pass_pkt(f.t, o, "01020304");
    expect_pkt(f.t, cases[i][1]);
    pass_pkt(f.t, f.c, "T05thread:p01.01;");
  }
  peer_free(o);
  fx_down(&f);
}

/* A real event during the pause (a breakpoint hit before our ^C took
 * effect) goes to the controller and the target is not resumed; a step is
 * waited for, not interrupted. */
static void t_real_stop_during_pause(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, four_sessions);
  peer *o = observer_up(&f);
  pass_pkt(f.c, f.t, "c");
  pause_for(&f, o, "m1000,4");
  peer_send(f.t, "T05thread:p01.01;swbreak:;");
  expect_pkt(f.c, "T05thread:p01.01;swbreak:;");
  expect_pkt(f.t, "m1000,4");
  pass_pkt(f.t, o, "01020304");
  /* Not resumed: the target's next packet is the controller's. */
  pass_pkt(f.c, f.t, "g");
  pass_pkt(f.t, f.c, "00");
  /* A step: the observer's read waits for it, no ^C. */
  pass_pkt(f.c, f.t, "vCont;s:p1.1");
  peer_send(o, "m2000,4");
  expect_ev(o, EV_ACK); /* the bridge has it before the step ends */
  peer_send(f.t, "T05thread:p01.01;");
  expect_pkt(f.c, "T05thread:p01.01;");
  const char *b;
  assert_int_equal(peer_next_noack(f.t, WAIT, &b, NULL), EV_PACKET);
  assert_string_equal(b, "m2000,4");
  pass_pkt(f.t, o, "05060708");
  /* The controller's ^C while the guest is held for observers: it gets
   * the stop reply in place of the resume. */
  pass_pkt(f.c, f.t, "c");
  pause_for(&f, o, "m3000,4");
  peer_send(f.t, "T02thread:p01.01;");
  expect_pkt(f.t, "m3000,4");
  peer_raw(f.c, "\003", 1);
  send_rcmd(f.c, "session");
  expect_ev(f.c, EV_ACK); /* c's */
  expect_ev(f.c, EV_ACK); /* the rcmd's: the ^C before it was taken */
  peer_send(f.t, "0a0b0c0d");
  expect_pkt(o, "0a0b0c0d");
  expect_pkt(f.c, "T02thread:p01.01;");
  char out[1024];
  assert_string_equal(rcmd_reply(f.c, out, sizeof(out)), "OK");
  assert_non_null(strstr(out, "pauses for observers: 1"));
  pass_pkt(f.c, f.t, "g"); /* stopped: no resume went */
  pass_pkt(f.t, f.c, "00");
  peer_free(o);
  fx_down(&f);
}

/* A controller that sends a request while the guest is paused for an
 * observer (GDB does not, a raw client may): it waits for the pause to
 * end, which does not wait for it. */
static void t_controller_request_during_pause(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, four_sessions);
  peer *o = observer_up(&f);
  pass_pkt(f.c, f.t, "c");
  pause_for(&f, o, "m1000,4");
  peer_send(f.c, "qC");
  expect_ev(f.c, EV_ACK); /* c's */
  expect_ev(f.c, EV_ACK); /* qC's: the bridge has it */
  peer_send(f.t, "T02thread:p01.01;");
  expect_pkt(f.t, "m1000,4");
  pass_pkt(f.t, o, "01020304");
  expect_pkt(f.t, "c");
  expect_pkt(f.t, "qC");
  peer_free(o);
  fx_down(&f);
}

/* The observer leaves during the pause it caused: the controller's c goes
 * again all the same. */
static void t_observer_leaves_during_pause(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, four_sessions);
  peer *o = observer_up(&f);
  pass_pkt(f.c, f.t, "c");
  pause_for(&f, o, "m1000,4");
  peer_free(o);
  peer_send(f.t, "T02thread:p01.01;");
  /* Its read may have gone up before its leaving was seen: answered
   * (and dropped), then the resume. */
  const char *b = peer_packet(f.t, WAIT);
  assert_non_null(b);
  if (!strcmp(b, "m1000,4")) {
    peer_send(f.t, "01020304");
    b = peer_packet(f.t, WAIT);
    assert_non_null(b);
  }
  assert_string_equal(b, "c");
  pass_pkt(f.t, f.c, "T05thread:p01.01;");
  fx_down(&f);
}

/* The controller leaves during a pause: its c goes again and the target
 * connection is released as without observers (the guest runs on); an
 * observer's next request connects again. */
static void t_controller_leaves_during_pause(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, four_sessions);
  peer *o = observer_up(&f);
  pass_pkt(f.c, f.t, "c");
  pause_for(&f, o, "g");
  peer_send(f.t, "T02thread:p01.01;");
  expect_pkt(f.t, "g");
  controller_leaves(&f);
  expect_pkt(f.t, "c"); /* left running, as it left it */
  int k;
  while ((k = peer_next_noack(f.t, WAIT, NULL, NULL)) == EV_PACKET)
    ;
  assert_int_equal(k, EV_EOF);
  const char *r = peer_packet(o, WAIT);
  assert_non_null(r);
  assert_non_null(strstr(r, "target connection released"));
  peer_free(f.t);
  f.t = peer_new(tcp_accept_timeout(f.lfd, WAIT)); /* made again for the observer */
  pass_pkt(o, f.t, "m1000,4");
  pass_pkt(f.t, o, "0a0b0c0d");
  peer_free(o);
  fx_down(&f);
}

/* The target is lost while the guest is held for observers: the
 * controller's resume fails like any request in flight. */
static void t_target_lost_during_pause(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, four_sessions);
  peer *o = observer_up(&f);
  pass_pkt(f.c, f.t, "c");
  pause_for(&f, o, "m1000,4");
  peer_send(f.t, "T02thread:p01.01;");
  expect_pkt(f.t, "m1000,4");
  peer_free(f.t);
  f.t = NULL;
  expect_pkt(o, "E05");
  expect_prefix(f.c, "E.rspbridge: target connection lost");
  f.t = fx_reaccept(&f); /* the session's setup replayed */
  pass_pkt(f.c, f.t, "?");
  pass_pkt(f.t, f.c, "S05");
  peer_free(o);
  fx_down(&f);
}

/* A target that ignores the ^C of a pause: after --timeout the observer's
 * request fails (no hang) and later ones fail at once, with no second ^C;
 * when the target stops at last, the stop is the pause's (the controller
 * never sees it) and the controller's resume goes again. */
static void t_target_ignores_pause(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, four_sessions);
  peer *o = observer_up(&f);
  pass_pkt(f.c, f.t, "c");
  pause_for(&f, o, "m1000,4");
  assert_true(harness_advance(&f.h, BR_TEST_TIMEOUT) >= 1);
  expect_pkt(o, "E05");
  assert_true(harness_log_wait(&f.h, "did not stop within", 10000));
  send_rcmd(o, "vtop 0x1000");
  expect_prefix(o, "E.rspbridge: the target did not stop for an observer's request");
  peer_send(o, "g");
  expect_prefix(o, "E.rspbridge: the target did not stop");
  peer_send(f.t, "T02thread:p01.01;");
  expect_pkt(f.t, "c");
  pass_pkt(f.t, f.c, "T05thread:p01.01;");
  /* Stopped: the observer is served again. */
  pass_pkt(o, f.t, "m1000,4");
  pass_pkt(f.t, o, "01020304");
  peer_free(o);
  fx_down(&f);
}

/* One client at a time unless --sessions says more. */
static void t_sessions_limit(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, four_sessions);
  peer *o[3];
  for (int i = 0; i < 3; i++) {
    o[i] = observer(&f);
    pass_pkt(o[i], f.t, "qC");
    pass_pkt(f.t, o[i], "QCp01.01");
  }
  peer *x = peer_new(tcp_connect_port(f.h.port));
  assert_int_equal(peer_next(x, WAIT, NULL, NULL), EV_EOF);
  peer_free(x);
  for (int i = 0; i < 3; i++)
    peer_free(o[i]);
  fx_stop(&f);
  assert_true(harness_log_has(&f.h, "refused a client: 4 sessions at most"));
  harness_free(&f.h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(t_observer_reads_while_stopped),
      cmocka_unit_test(t_observer_writes_refused),
      cmocka_unit_test(t_controller_leaves_take),
      cmocka_unit_test(t_next_connection_controls),
      cmocka_unit_test(t_observer_pauses_running_guest),
      cmocka_unit_test(t_real_stop_during_pause),
      cmocka_unit_test(t_pause_carries_on_without_signal),
      cmocka_unit_test(t_controller_request_during_pause),
      cmocka_unit_test(t_observer_leaves_during_pause),
      cmocka_unit_test(t_controller_leaves_during_pause),
      cmocka_unit_test(t_target_lost_during_pause),
      cmocka_unit_test(t_target_ignores_pause),
      cmocka_unit_test(t_sessions_limit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
