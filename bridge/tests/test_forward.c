/* test_forward.c - transparent forwarding through an embedded bridge:
 * acks per side, no-ack mode, NAKs, bad checksums, qSupported merging,
 * packets refused locally, interrupts, async stop replies, notifications,
 * console output, detach and kill. */
#include "fixture.h"

static void t_forward_and_acks(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, NULL);
  peer_send(f.c, "m1000,4");
  expect_ev(f.c, EV_ACK);
  expect_pkt(f.t, "m1000,4");
  peer_send(f.t, "deadbeef");
  expect_ev(f.t, EV_ACK); /* the bridge acks the target itself */
  expect_pkt(f.c, "deadbeef");
  /* Binary bodies survive re-encoding (escapes). */
  static const char bin[] = "Xabc}$#*end";
  peer_send_n(f.c, bin, sizeof(bin) - 1, 0);
  const char *b;
  size_t n;
  assert_int_equal(peer_next_noack(f.t, WAIT, &b, &n), EV_PACKET);
  assert_int_equal(n, sizeof(bin) - 1);
  assert_memory_equal(b, bin, n);
  pass_pkt(f.t, f.c, "OK");
  fx_down(&f);
}

/* Long bodies in both directions, every byte value, escapes anywhere:
 * the bridge's re-encoding must be exact (the target checks checksums). */
static void t_long_binary_bodies(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, NULL);
  static char body[4000];
  for (int round = 0; round < 3; round++) {
    size_t n = round == 0 ? 17 : round == 1 ? 1000 : 4000 - 1;
    body[0] = 'X';
    for (size_t i = 1; i < n; i++)
      body[i] =
          round == 2 ? "0123456789abcdef"[(i * 7) % 16] : (char)((i * 37 + (size_t)round) & 0xff);
    if (round == 2)
      body[3000] = '#'; /* one escape after a long plain run */
    const char *b;
    size_t len;
    if (n < 4000 - 50) {
      peer_send_n(f.c, body, n, 0);
      assert_int_equal(peer_next_noack(f.t, WAIT, &b, &len), EV_PACKET);
      assert_int_equal(len, n);
      assert_memory_equal(b, body, n);
    } else {
      pass_pkt(f.c, f.t, "m0,7cf");
    }
    peer_send_n(f.t, body, n, 0);
    assert_int_equal(peer_next_noack(f.c, WAIT, &b, &len), EV_PACKET);
    assert_int_equal(len, n);
    assert_memory_equal(b, body, n);
  }
  fx_down(&f);
}

static void t_qsupported_packetsize(void **state) {
  (void)state;
  fx f;
  fx_up(&f, NULL);
  pass_pkt(f.c, f.t, "qSupported:multiprocess+");
  /* A target offering more than the bridge can take gets the bridge's
   * size; its own QStartNoAckMode- is replaced. */
  peer_send(f.t, "PacketSize=100000;QStartNoAckMode-;swbreak+");
  const char *r = peer_packet(f.c, WAIT);
  assert_non_null(r);
  assert_non_null(strstr(r, "swbreak+"));
  assert_non_null(strstr(r, "PacketSize=20000;"));
  assert_null(strstr(r, "QStartNoAckMode-"));
  assert_non_null(strstr(r, "QStartNoAckMode+"));
  fx_down(&f);
}

static void t_noack_client_only(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, NULL);
  peer_send(f.c, "QStartNoAckMode");
  expect_ev(f.c, EV_ACK);
  expect_pkt(f.c, "OK");
  peer_raw(f.c, "+", 1);
  /* No-ack mode: checksums are not verified and no acks come back. */
  peer_raw(f.c, "$g#00", 5);
  expect_pkt(f.t, "g"); /* the target never saw QStartNoAckMode */
  peer_send(f.t, "0011");
  expect_ev(f.t, EV_ACK); /* the target side stays in ack mode */
  const char *b;
  assert_int_equal(peer_next(f.c, WAIT, &b, NULL), EV_PACKET);
  assert_string_equal(b, "0011");
  /* Nothing else reached the target: the next request is the next thing
   * it sees. */
  peer_raw(f.c, "$?#00", 5);
  expect_pkt(f.t, "?");
  fx_down(&f);
}

static void t_nak_retransmit_bounded(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, NULL);
  pass_pkt(f.c, f.t, "?");
  pass_pkt(f.t, f.c, "S05");
  for (int i = 0; i < BR_MAX_RETRIES; i++) {
    peer_raw(f.c, "-", 1);
    expect_pkt(f.c, "S05");
  }
  peer_raw(f.c, "-", 1); /* one too many: no more retransmissions */
  expect_none(&f.h, f.c);
  /* The target NAKs the bridge's packet: it is sent again (and no S05
   * comes before the client's next reply, checked below). */
  pass_pkt(f.c, f.t, "g");
  peer_raw(f.t, "-", 1);
  expect_pkt(f.t, "g");
  pass_pkt(f.t, f.c, "00");
  fx_down(&f);
}

static void t_bad_checksums(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, NULL);
  /* From the client: '-', nothing forwarded. */
  peer_raw(f.c, "$m0,4#00", 8);
  expect_ev(f.c, EV_NAK);
  pass_pkt(f.c, f.t, "?"); /* the first thing the target sees */
  pass_pkt(f.t, f.c, "S05");
  /* From the target: '-' and the good retransmission goes through. */
  pass_pkt(f.c, f.t, "m0,4");
  peer_raw(f.t, "$01020304#00", 12);
  expect_ev(f.t, EV_NAK);
  pass_pkt(f.t, f.c, "01020304");
  fx_down(&f);
}

static void t_bc_bs_never_forwarded(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, NULL);
  peer_send(f.c, "bc");
  expect_prefix(f.c, "E.");
  peer_send(f.c, "bs");
  expect_prefix(f.c, "E.");
  pass_pkt(f.c, f.t, "?"); /* the first thing the target sees */
  fx_down(&f);
}

static void ro(br_config *c) {
  c->read_only = 1;
}

static void t_read_only(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, ro);
  const char *w[] = {"M1000,2:abcd", "X1000,1:a", "P8=00000000", "G0011"};
  for (int i = 0; i < 4; i++) {
    peer_send(f.c, w[i]);
    const char *r = peer_packet(f.c, WAIT);
    assert_non_null(r);
    assert_non_null(strstr(r, "read-only"));
    assert_true(r[0] == 'E' && r[1] == '.');
  }
  pass_pkt(f.c, f.t, "m1000,2"); /* reads still go through, writes never did */
  pass_pkt(f.t, f.c, "abcd");
  fx_down(&f);
}

static void t_interrupt_async_stop_notification(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, NULL);
  pass_pkt(f.c, f.t, "vCont;c");
  peer_raw(f.c, "\003", 1);
  assert_int_equal(peer_next_noack(f.t, WAIT, NULL, NULL), EV_INTR);
  pass_pkt(f.t, f.c, "T02thread:p01.01;");
  /* Asynchronous: nothing was asked. */
  peer_send_n(f.t, "Stop:T05thread:01;", 18, RSP_ENC_NOTIFY);
  const char *b;
  assert_int_equal(peer_next_noack(f.c, WAIT, &b, NULL), EV_NOTIFY);
  assert_string_equal(b, "Stop:T05thread:01;");
  /* A '$' stop reply while no resume is pending is never taken for the
   * reply to the client's next request (QEMU sends W00 when it is
   * terminated while stopped). */
  peer_send(f.t, "T05thread:01;");
  peer_send(f.t, "W00");
  expect_ev(f.t, EV_ACK);
  expect_ev(f.t, EV_ACK);
  pass_pkt(f.c, f.t, "m1000,4");
  pass_pkt(f.t, f.c, "deadbeef");
  /* While a resume is pending, W is its reply. */
  pass_pkt(f.c, f.t, "vCont;c");
  pass_pkt(f.t, f.c, "W00");
  fx_down(&f);
}

static void t_console_output_then_reply(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, NULL);
  pass_pkt(f.c, f.t, "qRcmd,696e666f");
  peer_send(f.t, "O68690a");
  peer_send(f.t, "O7468657265");
  peer_send(f.t, "OK");
  expect_pkt(f.c, "O68690a");
  expect_pkt(f.c, "O7468657265");
  expect_pkt(f.c, "OK");
  fx_down(&f);
}

static void t_detach_and_kill(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, NULL);
  pass_pkt(f.c, f.t, "k"); /* no reply expected */
  pass_pkt(f.c, f.t, "?");
  pass_pkt(f.t, f.c, "S05");
  pass_pkt(f.c, f.t, "D;1");
  pass_pkt(f.t, f.c, "OK");
  fx_down(&f);
}

/* GDB File-I/O ("File-I/O Remote Protocol Extension"): the target's F
 * request ends the pending resume like a stop reply; the target is stopped
 * while the client serves it (memory reads), and the client's F reply
 * resumes it like c: no timeout while it runs, the stop reply that follows
 * is its answer. */
static void t_file_io(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, NULL);
  pass_pkt(f.c, f.t, "vCont;c");
  for (int round = 0; round < 2; round++) {
    pass_pkt(f.t, f.c, "Fwrite,1,1234,5");
    pass_pkt(f.c, f.t, "m1234,5");
    pass_pkt(f.t, f.c, "68656c6c6f");
    pass_pkt(f.c, f.t, "F5");
    /* Running: the timeout passes (virtual time), no error; the next
     * packet the client sees is the target's. */
    harness_advance(&f.h, 2 * BR_TEST_TIMEOUT);
  }
  /* ^C during a File-I/O resume works as for c. */
  peer_raw(f.c, "\003", 1);
  assert_int_equal(peer_next_noack(f.t, WAIT, NULL, NULL), EV_INTR);
  pass_pkt(f.t, f.c, "T02thread:01;");
  pass_pkt(f.c, f.t, "m0,1");
  pass_pkt(f.t, f.c, "00");
  assert_false(harness_log_has(&f.h, "did not answer"));
  fx_down(&f);
}

/* A forwarded k: QEMU answers W00 and exits; LLDB waits for that answer
 * (GDB reads none), so it reaches the client at once.  A target that closes
 * without one: the waiting client gets X09 when the connection goes. */
static void t_kill_forward(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, NULL);
  pass_pkt(f.c, f.t, "k");
  pass_pkt(f.t, f.c, "W00");
  peer_free(f.t);
  f.t = fx_reaccept(&f);
  pass_pkt(f.c, f.t, "k");
  peer_free(f.t);
  f.t = NULL;
  expect_pkt(f.c, "X09");
  /* vKill: the target may exit before its OK. */
  f.t = fx_reaccept(&f);
  pass_pkt(f.c, f.t, "vKill;1");
  peer_free(f.t);
  f.t = NULL;
  expect_pkt(f.c, "OK");
  f.t = peer_new(tcp_accept_timeout(f.lfd, WAIT));
  fx_down(&f);
}

static void ro_kill(br_config *c) {
  c->read_only = 1;
}

/* --read-only: k and vKill get an error, nothing reaches the target, and
 * the session goes on. */
static void t_kill_read_only(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, ro_kill);
  peer_send(f.c, "k");
  expect_prefix(f.c, "E.rspbridge: read-only mode: kill");
  peer_send(f.c, "vKill;1");
  expect_prefix(f.c, "E.rspbridge: read-only mode: kill");
  pass_pkt(f.c, f.t, "?"); /* the first thing the target sees */
  pass_pkt(f.t, f.c, "S05");
  fx_down(&f);
}

static void on_kill_detach(br_config *c) {
  c->on_kill = BR_KILL_DETACH;
}

/* --on-kill detach: the target gets a detach (D;1 with the multiprocess
 * extensions) and keeps running, the client an answer as if the process
 * exited; the target's OK to the detach goes nowhere. */
static void t_kill_detach(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, on_kill_detach);
  peer_send(f.c, "vKill;1");
  expect_pkt(f.c, "OK");
  expect_pkt(f.t, "D;1");
  peer_send(f.t, "OK");
  peer_send(f.c, "k");
  expect_pkt(f.c, "W00");
  expect_pkt(f.t, "D;1");
  peer_send(f.t, "OK");
  pass_pkt(f.c, f.t, "?");
  pass_pkt(f.t, f.c, "S05");
  fx_down(&f);
}

static void t_pipelined_client_requests(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, NULL);
  peer_send(f.c, "m0,1");
  peer_send(f.c, "m1,1");
  peer_send(f.c, "m2,1");
  expect_pkt(f.t, "m0,1");
  expect_pkt(f.t, "m1,1");
  expect_pkt(f.t, "m2,1");
  peer_send(f.t, "00");
  peer_send(f.t, "01");
  peer_send(f.t, "02");
  expect_pkt(f.c, "00");
  expect_pkt(f.c, "01");
  expect_pkt(f.c, "02");
  fx_down(&f);
}

static void window_long(br_config *cfg) {
  cfg->busy_poll_us = 4000000000u; /* longer than any test */
}

static void window_short(br_config *cfg) {
  cfg->busy_poll_us = 1000;
}

static void count_idle(uv_handle_t *hd, void *arg) {
  if (hd->type == UV_IDLE && uv_is_active(hd))
    ++*(int *)arg;
}

static int not_polling(br_t *br, void *arg) {
  (void)arg;
  int n = 0;
  uv_walk(br_loop(br), count_idle, &n);
  return n == 0;
}

/* --busy-poll: the loop polls (an active idle handle: it never sleeps)
 * right after traffic, and stops by itself once the window has
 * passed (an idle bridge must not burn a core).  No clock is read: a
 * window longer than the test for the first part, a short one waited out
 * (the hang guard aside) for the second. */
static void t_busy_poll_window(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, window_long);
  pass_pkt(f.c, f.t, "?");
  pass_pkt(f.t, f.c, "S05");
  assert_true(harness_polling(&f.h));
  harness_sync(&f.h);
  assert_true(harness_polling(&f.h)); /* still */
  fx_down(&f);

  fx_up(&f, window_short);
  pass_pkt(f.c, f.t, "?");
  assert_true(harness_wait(&f.h, not_polling, NULL, WAIT));
  harness_sync(&f.h);
  assert_false(harness_polling(&f.h)); /* idle: it stays off */
  pass_pkt(f.t, f.c, "S05");
  assert_true(harness_wait(&f.h, not_polling, NULL, WAIT));
  fx_down(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(t_forward_and_acks),
      cmocka_unit_test(t_busy_poll_window),
      cmocka_unit_test(t_long_binary_bodies),
      cmocka_unit_test(t_qsupported_packetsize),
      cmocka_unit_test(t_noack_client_only),
      cmocka_unit_test(t_nak_retransmit_bounded),
      cmocka_unit_test(t_bad_checksums),
      cmocka_unit_test(t_bc_bs_never_forwarded),
      cmocka_unit_test(t_read_only),
      cmocka_unit_test(t_interrupt_async_stop_notification),
      cmocka_unit_test(t_console_output_then_reply),
      cmocka_unit_test(t_detach_and_kill),
      cmocka_unit_test(t_pipelined_client_requests),
      cmocka_unit_test(t_file_io),
      cmocka_unit_test(t_kill_forward),
      cmocka_unit_test(t_kill_read_only),
      cmocka_unit_test(t_kill_detach),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
