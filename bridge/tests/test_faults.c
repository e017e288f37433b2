/* test_faults.c - the bridge under faults: the target disconnects
 * mid-packet or mid-request, the client disconnects, the target stalls,
 * either side sends oversized or malformed packets. */
#include "fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>

/* A state of the bridge to wait for (harness_wait). */
static int target_lost(br_t *br, void *arg) {
  (void)arg;
  br_state st;
  br_get_state(br, &st);
  return st.lost && !st.connected;
}

/* After a loss the bridge reconnects and replays the session's setup. */
static void t_target_gone_mid_packet(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, NULL);
  pass_pkt(f.c, f.t, "m0,8");
  peer_raw(f.t, "$00112233", 9); /* half a reply, then gone (TCP keeps the order) */
  peer_free(f.t);
  f.t = NULL;
  const char *r = peer_packet(f.c, WAIT);
  assert_non_null(r);
  assert_string_equal(r, "E05"); /* the text goes to the log (client_fail) */
  /* The bridge comes back by itself and the session works again. */
  f.t = fx_reaccept(&f);
  pass_pkt(f.c, f.t, "m0,2");
  pass_pkt(f.t, f.c, "abcd");
  fx_stop(&f);
  assert_true(harness_log_has(&f.h, "target connection lost"));
  assert_true(
      harness_log_has(&f.h, "client memory read failed: rspbridge: target connection lost"));
  assert_true(harness_log_has(&f.h, "reconnected to target"));
  harness_free(&f.h);
}

static void t_target_gone_mid_request(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, NULL);
  /* A resume in flight: the client must not wait for a stop forever. */
  pass_pkt(f.c, f.t, "c");
  peer_free(f.t);
  f.t = NULL;
  expect_pkt(f.c, "E.rspbridge: target connection lost");
  f.t = fx_reaccept(&f);
  pass_pkt(f.c, f.t, "?");
  pass_pkt(f.t, f.c, "S05");
  fx_down(&f);
}

/* The target is down: a request is answered at once, not after the
 * timeout (which is virtual here: it never passes unless the test says). */
static void t_target_down_answers_at_once(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, NULL);
  close(f.lfd); /* nothing to reconnect to */
  f.lfd = -1;
  peer_free(f.t);
  f.t = NULL;
  assert_true(harness_wait(&f.h, target_lost, NULL, WAIT));
  peer_send(f.c, "g");
  expect_pkt(f.c, "E.rspbridge: target not connected");
  assert_false(harness_log_has(&f.h, "did not answer within"));
  f.lfd = tcp_listen_any(&f.tport); /* for fx_down */
  fx_down(&f);
}

static void fast_retry(br_config *c) {
  c->retry_ms = 1;
}

/* The target is gone and the bridge retries every millisecond: a request
 * that arrives while an attempt is under way gets its error when the
 * attempt fails, not after the timeout. */
static void t_target_down_while_reconnecting(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, fast_retry);
  close(f.lfd);
  f.lfd = -1;
  peer_free(f.t);
  f.t = NULL;
  assert_true(harness_wait(&f.h, target_lost, NULL, WAIT));
  for (int i = 0; i < 300; i++) {
    peer_send(f.c, "g");
    expect_pkt(f.c, "E.rspbridge: target not connected");
  }
  assert_false(harness_log_has(&f.h, "did not answer within"));
  f.lfd = tcp_listen_any(&f.tport); /* for fx_down */
  fx_down(&f);
}

static void t_target_late_first_connect(void **state) {
  (void)state;
  /* The target is not listening yet when the client arrives (QEMU still
   * starting): the client's first request waits for the connection. */
  int tport;
  int lfd = tcp_listen_any(&tport);
  close(lfd);
  br_config cfg;
  harness_config(&cfg, tport);
  harness h;
  harness_start(&h, &cfg);
  peer *c = peer_new(tcp_connect_port(h.port));
  peer_send(c, "qSupported:multiprocess+");
  /* An attempt failed and the request still waits. */
  assert_true(harness_log_wait(&h, "cannot connect to target", WAIT));
  assert_int_equal(peer_next_noack(c, 0, NULL, NULL), EV_TIMEOUT);
  lfd = tcp_listen_on(&tport);
  peer *t = peer_new(tcp_accept_timeout(lfd, WAIT));
  expect_pkt(t, "qSupported:multiprocess+");
  peer_send(t, QEMU_FEATURES);
  expect_prefix(c, "qXfer:features:read+");
  peer_free(c);
  peer_free(t);
  harness_stop(&h);
  harness_free(&h);
  close(lfd);
}

static void never(br_config *c) {
  c->reconnect = 0;
}

static void t_reconnect_never_stops(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, never);
  pass_pkt(f.c, f.t, "g");
  peer_free(f.t);
  f.t = NULL;
  expect_pkt(f.c, "E.rspbridge: target connection lost");
  assert_int_equal(harness_wait_stop(&f.h, WAIT), 1);
  /* No reconnection, however long one waits. */
  harness_advance(&f.h, BR_TEST_TIMEOUT);
  assert_true(tcp_accept_timeout(f.lfd, 0) < 0);
  assert_false(harness_log_has(&f.h, "next attempt"));
  fx_down(&f);
}

/* The first connection fails and the policy says never: the client's
 * waiting requests are answered before the bridge stops. */
static void t_reconnect_never_unreachable(void **state) {
  (void)state;
  int port = 0, lfd = tcp_listen_on(&port);
  close(lfd); /* nothing listens there now */
  harness h;
  memset(&h, 0, sizeof(h));
  br_config cfg;
  harness_config(&cfg, port);
  never(&cfg);
  harness_start(&h, &cfg);
  peer *c = peer_new(tcp_connect_port(h.port));
  peer_send(c, "?");
  peer_send(c, "m0,4");
  const char *r = peer_packet(c, WAIT);
  assert_non_null(r);
  assert_string_equal(r, "E.rspbridge: target not connected");
  r = peer_packet(c, WAIT);
  assert_non_null(r);
  assert_string_equal(r, "E05");
  assert_int_equal(harness_wait_stop(&h, WAIT), 1);
  peer_free(c);
  harness_stop(&h);
  assert_true(harness_log_has(&h, "not reconnecting (--reconnect never)"));
  harness_free(&h);
}

static void t_client_gone_target_untouched(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, NULL);
  pass_pkt(f.c, f.t, "vCont;c");
  peer_free(f.c);
  f.c = NULL;
  /* Nothing reaches the target (no ^C, no D, no k): its connection is
   * closed like a debugger that went away would close it. */
  const char *b = NULL;
  int k = peer_next_noack(f.t, WAIT, &b, NULL);
  if (k != EV_EOF)
    fail_msg("target got event %d '%s' instead of a plain close", k, b ? b : "");
  peer_free(f.t);
  /* A new client attaches: a fresh target connection, as with a direct
   * attach. */
  f.c = peer_new(tcp_connect_port(f.h.port));
  f.t = peer_new(tcp_accept_timeout(f.lfd, WAIT));
  pass_pkt(f.c, f.t, "?");
  pass_pkt(f.t, f.c, "S02");
  /* Detach goes through before the connection is closed behind it. */
  pass_pkt(f.c, f.t, "D;1");
  pass_pkt(f.t, f.c, "OK");
  peer_free(f.c);
  f.c = NULL;
  assert_int_equal(peer_next_noack(f.t, WAIT, NULL, NULL), EV_EOF);
  peer_free(f.t);
  /* A client that comes right back is served, not refused. */
  f.c = peer_new(tcp_connect_port(f.h.port));
  f.t = peer_new(tcp_accept_timeout(f.lfd, WAIT));
  fx_handshake(&f);
  fx_down(&f);
}

static void t_unsolicited_stop_reply(void **state) {
  (void)state;
  fx f;
  fx_up(&f, NULL);
  /* QEMU stops a running guest when a debugger connects and says so with
   * a stop reply that may cross the client's first request. */
  pass_pkt(f.c, f.t, "qSupported:multiprocess+");
  peer_send(f.t, "T02thread:p01.01;");
  peer_send(f.t, QEMU_FEATURES);
  expect_prefix(f.c, "qXfer:features:read+;");
  /* But a reply to '?' is a stop reply, and qTStatus's "T0;..." is not. */
  pass_pkt(f.c, f.t, "?");
  pass_pkt(f.t, f.c, "T05thread:p01.01;");
  pass_pkt(f.c, f.t, "qTStatus");
  pass_pkt(f.t, f.c, "T0;tnotrun:0");
  fx_down(&f);
}

static void one_session(br_config *cfg) {
  cfg->max_sessions = 1;
}

/* --sessions 1: a second client is refused (closed at once). */
static void t_second_client_refused(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, one_session);
  peer *c2 = peer_new(tcp_connect_port(f.h.port));
  assert_int_equal(peer_next(c2, WAIT, NULL, NULL), EV_EOF);
  peer_free(c2);
  pass_pkt(f.c, f.t, "?");
  pass_pkt(f.t, f.c, "S05");
  fx_down(&f);
}

static void t_stalled_target(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, NULL);
  /* A request the target never answers: an error once the timeout has
   * passed (virtual time), not before. */
  pass_pkt(f.c, f.t, "m0,4");
  harness_advance(&f.h, BR_TEST_TIMEOUT - 1000);
  expect_none(&f.h, f.c);
  harness_advance(&f.h, BR_TEST_TIMEOUT);
  expect_pkt(f.c, "E05");
  assert_true(harness_log_has(&f.h, "target did not answer within 600000 ms"));
  /* Its late reply is dropped; the next request gets its own reply. */
  peer_send(f.t, "11111111");
  pass_pkt(f.c, f.t, "m4,4");
  pass_pkt(f.t, f.c, "22222222");
  /* A running target that ignores ^C: the ^C still reaches it, and the
   * client gets an error instead of waiting forever. */
  pass_pkt(f.c, f.t, "c");
  harness_advance(&f.h, 10 * BR_TEST_TIMEOUT);
  pass_pkt(f.t, f.c, "O6869"); /* running is not a timeout: no error came first */
  peer_raw(f.c, "\003", 1);
  assert_int_equal(peer_next_noack(f.t, WAIT, NULL, NULL), EV_INTR);
  harness_advance(&f.h, BR_TEST_TIMEOUT);
  expect_pkt(f.c, "E.rspbridge: target timeout");
  /* A request sent meanwhile waits: the late stop reply may still come
   * and must not be taken for its answer. */
  peer_send(f.c, "g");
  expect_none(&f.h, f.t);
  /* It never comes: the bridge re-makes the connection to get the pipe
   * back in step, and the waiting request is answered (an error: the
   * target was lost under it), never by the wrong reply. */
  harness_advance(&f.h, BR_TEST_TIMEOUT);
  assert_int_equal(peer_next_noack(f.t, WAIT, NULL, NULL), EV_EOF);
  expect_prefix(f.c, "E.rspbridge: target");
  peer_free(f.t);
  f.t = fx_reaccept(&f);
  pass_pkt(f.c, f.t, "?");
  pass_pkt(f.t, f.c, "S05");
  fx_down(&f);
}

/* Random bytes from both sides, packets or not: no crash, no hang, and a
 * clean exchange works afterwards. */
static void t_random_noise(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, NULL);
  uint32_t x = 12345;
  static const char alphabet[] = "$#}*+-\003%0123456789abcdefmgMXqT:;,";
  char buf[512];
  for (int round = 0; round < 300; round++) {
    size_t n = 1 + (x = x * 1103515245u + 12345u) % sizeof(buf);
    for (size_t i = 0; i < n; i++) {
      x = x * 1103515245u + 12345u;
      buf[i] = (x >> 24) % 4 ? alphabet[(x >> 8) % (sizeof(alphabet) - 1)] : (char)(x >> 16);
    }
    peer_raw(round % 2 ? f.c : f.t, buf, n);
    if (round % 3 == 0) {
      /* Valid packets too, so that requests and replies do flow. */
      peer_send(f.c, "m0,4");
      peer_send(f.t, "01020304");
    }
    /* What has arrived, without waiting; a target connection the bridge
     * closed is replaced by its next one. */
    int k;
    while ((k = peer_next(f.c, 0, NULL, NULL)) != EV_TIMEOUT)
      assert_int_not_equal(k, EV_EOF);
    while ((k = peer_next(f.t, 0, NULL, NULL)) != EV_TIMEOUT) {
      if (k == EV_EOF) {
        peer_free(f.t);
        f.t = peer_new(tcp_accept_timeout(f.lfd, WAIT));
      }
    }
  }
  /* Whatever state the session is in, the bridge answers: the client's
   * request reaches the target or gets an error reply.  The fake target
   * answers every request; when nothing moves, the timeouts pass (virtual
   * time) and the bridge resynchronises. */
  peer_send(f.c, "qC");
  int got = 0, idle = 0;
  const char *b;
  uint64_t guard = uv_hrtime() + 60000000000u; /* a hang guard: 60 s */
  while (!got && idle < 20 && uv_hrtime() < guard) {
    harness_sync(&f.h);
    int k, moved = 0;
    while ((k = peer_next_noack(f.t, 0, &b, NULL)) != EV_TIMEOUT) {
      moved = 1;
      if (k == EV_PACKET) {
        peer_send(f.t, "QC1");
      } else if (k == EV_EOF) {
        peer_free(f.t);
        f.t = peer_new(tcp_accept_timeout(f.lfd, WAIT));
      }
    }
    while (!got && (k = peer_next_noack(f.c, 0, &b, NULL)) != EV_TIMEOUT) {
      assert_int_not_equal(k, EV_EOF);
      moved = 1;
      if (k == EV_PACKET && (!strcmp(b, "QC1") || b[0] == 'E'))
        got = 1;
    }
    if (!moved) {
      idle++;
      harness_advance(&f.h, BR_TEST_TIMEOUT);
    }
  }
  assert_true(got);
  fx_down(&f);
}

static void t_client_oversized_and_malformed(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, NULL);
  size_t n = 3 * BR_BODY_MAX;
  char *big = malloc(n);
  assert_non_null(big);
  memset(big, 'a', n);
  peer_send_n(f.c, big, n, 0);
  expect_prefix(f.c, "E.rspbridge: packet too long");
  /* Garbage, a bad escape, an RLE with nothing to repeat, binary noise. */
  peer_raw(f.c, "garbage\xff\x01", 9);
  peer_raw(f.c, "$m0}#00", 7);
  expect_ev(f.c, EV_NAK);
  peer_raw(f.c, "$*a#00", 6);
  expect_ev(f.c, EV_NAK);
  /* Longer than the target's PacketSize (0x1000): refused, not dropped by
   * the target in silence. */
  memset(big, 'b', 0x1000);
  big[0] = 'M';
  peer_send_n(f.c, big, 0x1000, 0);
  expect_prefix(f.c, "E.rspbridge: packet longer");
  /* Resynchronised: the next packet goes through. */
  pass_pkt(f.c, f.t, "?");
  pass_pkt(f.t, f.c, "S05");
  /* Lots of noise, in and out of a packet that never ends: one error, and
   * memory does not grow (the body buffer is fixed). */
  memset(big, 'x', n);
  for (int i = 0; i < 100; i++)
    peer_raw(f.c, big, n);
  peer_raw(f.c, "$", 1);
  for (int i = 0; i < 100; i++)
    peer_raw(f.c, big, n);
  peer_raw(f.c, "#00", 3);
  expect_prefix(f.c, "E.rspbridge: packet too long");
  pass_pkt(f.c, f.t, "?");
  pass_pkt(f.t, f.c, "S05");
  free(big);
  fx_down(&f);
}

static void t_target_oversized_and_corrupt(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, NULL);
  size_t n = 3 * BR_BODY_MAX;
  char *big = malloc(n);
  assert_non_null(big);
  memset(big, '0', n);
  pass_pkt(f.c, f.t, "m0,8000");
  peer_send_n(f.t, big, n, 0);
  /* GDB reads anything but "Enn" in reply to m as data: the text goes to
   * the log. */
  expect_pkt(f.c, "E05");
  /* A target that keeps sending bad checksums: bounded NAKs, then an
   * error reply. */
  pass_pkt(f.c, f.t, "g");
  for (int i = 0; i < BR_MAX_RETRIES; i++) {
    peer_raw(f.t, "$00#ff", 6);
    expect_ev(f.t, EV_NAK);
  }
  peer_raw(f.t, "$00#ff", 6);
  expect_ev(f.t, EV_ACK);
  expect_pkt(f.c, "E.rspbridge: corrupt reply from the target");
  /* Resynchronised. */
  peer_raw(f.t, "junk\x01\x02", 6);
  pass_pkt(f.c, f.t, "?");
  pass_pkt(f.t, f.c, "S05");
  free(big);
  fx_stop(&f);
  assert_true(harness_log_has(
      &f.h, "client memory read failed: rspbridge: reply from the target too long"));
  harness_free(&f.h);
}

/* A client that sends requests the bridge answers itself (bc is refused
 * locally) and never reads: once its replies pile up the bridge stops
 * reading it, so memory stays bounded and the client's writes block.  When
 * it reads again, every request is answered, in order. */
static void t_client_never_reads(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, NULL);
  static const char req[] = "$bc#c5";
  const size_t rl = sizeof(req) - 1, limit = 48u << 20;
  static char chunk[6 * 4096];
  for (size_t i = 0; i < sizeof(chunk); i += rl)
    memcpy(chunk + i, req, rl);
  int fd = f.c->fd, fl = fcntl(fd, F_GETFL);
  assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
  /* Writes until they block after the bridge said it stopped reading (the
   * socket buffers are full then, and nothing will empty them). */
  size_t sent = 0;
  while (sent < limit) {
    size_t off = sent % sizeof(chunk);
    ssize_t n = write(fd, chunk + off, sizeof(chunk) - off);
    if (n > 0) {
      sent += (size_t)n;
      continue;
    }
    assert_true(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
    if (harness_log_has(&f.h, "pausing client"))
      break;
    /* Blocked, but the bridge may still read: until there is room again
     * or it says it stopped (a line in the log). */
    struct pollfd pf[2] = {{.fd = fd, .events = POLLOUT},
                           {.fd = harness_log_fd(&f.h), .events = POLLIN}};
    assert_true(poll(pf, 2, WAIT) > 0); /* a hang guard */
    harness_log_fd_drain(&f.h);
  }
  assert_int_equal(fcntl(fd, F_SETFL, fl), 0);
  assert_true(harness_log_has(&f.h, "pausing client (output not drained)"));
  print_message("client wrote %zu bytes before the bridge stopped reading\n", sent);
  if (sent >= limit)
    fail_msg("the bridge read %zu bytes from a client that reads nothing", sent);
  for (size_t i = 0; i < sent / rl; i++)
    expect_prefix(f.c, "E.rspbridge: reverse execution");
  if (sent % rl) {
    /* The frame cut by the last write, completed once the bridge reads. */
    peer_raw(f.c, req + sent % rl, rl - sent % rl);
    expect_prefix(f.c, "E.rspbridge: reverse execution");
  }
  pass_pkt(f.c, f.t, "?");
  pass_pkt(f.t, f.c, "S05");
  fx_down(&f);
}

/* A target that streams console output without end: the request still
 * fails, BR_CONSOLE_TIMEOUTS timeouts after its start (console output
 * extends its deadline, up to there), a ^C still reaches the target, and
 * the session goes on.  Virtual time: half a timeout passes between two
 * console packets. */
static void t_console_forever(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, NULL);
  const unsigned half = BR_TEST_TIMEOUT / 2;
  pass_pkt(f.c, f.t, "qC");
  unsigned sent = 0;
  while (!harness_log_has(&f.h, "did not answer within") && sent < 10 * BR_CONSOLE_TIMEOUTS) {
    harness_clock_add(half);
    pass_pkt(f.t, f.c, "O6869"); /* the deadline moved, or stayed */
    sent++;
    harness_advance(&f.h, half);
  }
  expect_pkt(f.c, "E.rspbridge: target timeout");
  print_message("%u console packets before the timeout\n", sent);
  /* The last one came at 9.5 timeouts: the deadline, 10, followed. */
  assert_int_equal(sent, 2 * BR_CONSOLE_TIMEOUTS - 1);
  peer_raw(f.c, "\003", 1);
  assert_int_equal(peer_next_noack(f.t, WAIT, NULL, NULL), EV_INTR);
  /* The request stays unanswered: one timeout later the bridge re-makes
   * the connection to get the pipe back in step. */
  harness_advance(&f.h, BR_TEST_TIMEOUT);
  assert_int_equal(peer_next_noack(f.t, WAIT, NULL, NULL), EV_EOF);
  peer_free(f.t);
  f.t = fx_reaccept(&f);
  pass_pkt(f.c, f.t, "?");
  pass_pkt(f.t, f.c, "S05");
  fx_down(&f);
}

/* More pipelined requests than the bridge queues: none is dropped, each
 * is answered in order. */
static void t_many_pipelined(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, NULL);
  enum { N = 400 }; /* the fake client keeps 1024 events: acks and replies */
  char req[32], rep[32];
  for (int i = 0; i < N; i++) {
    snprintf(req, sizeof(req), "m%x,2", i);
    peer_send(f.c, req);
  }
  for (int i = 0; i < N; i++) {
    snprintf(req, sizeof(req), "m%x,2", i);
    expect_pkt(f.t, req);
    snprintf(rep, sizeof(rep), "%04x", i);
    peer_send(f.t, rep);
  }
  for (int i = 0; i < N; i++) {
    snprintf(rep, sizeof(rep), "%04x", i);
    expect_pkt(f.c, rep);
  }
  fx_down(&f);
}

/* A client that sends a request and closes, and connects again at once, is
 * served every time: the old connection's close is taken first (its close
 * and the new connection cross in the bridge's loop). */
static void t_immediate_reconnects(void **state) {
  (void)state;
  fx f;
  fx_up(&f, NULL);
  for (int i = 0; i < 100; i++) {
    peer_send(f.c, "qC");
    peer_free(f.c);
    f.c = peer_new(tcp_connect_port(f.h.port));
    int k;
    while ((k = peer_next_noack(f.t, WAIT, NULL, NULL)) == EV_PACKET)
      ;
    assert_int_equal(k, EV_EOF); /* the old client's target connection */
    peer_free(f.t);
    f.t = NULL;
    int fd = tcp_accept_timeout(f.lfd, WAIT);
    if (fd < 0) {
      fx_stop(&f);
      print_message("%s", f.h.logbuf ? f.h.logbuf : "");
      fail_msg("reconnect %d: no target connection for the new client (refused?)", i);
    }
    f.t = peer_new(fd);
  }
  pass_pkt(f.c, f.t, "?");
  pass_pkt(f.t, f.c, "S05");
  fx_stop(&f);
  assert_false(harness_log_has(&f.h, "refused a second client"));
  harness_free(&f.h);
}

/* Counts log lines containing what; adds the counts of the summaries of
 * such lines ("(N more in T ms like: ...what...)"). */
static unsigned log_events(harness *h, const char *what, unsigned *lines) {
  unsigned total = 0;
  *lines = 0;
  for (const char *p = h->logbuf; p && *p;) {
    const char *e = strchr(p, '\n');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    char line[512];
    snprintf(line, sizeof(line), "%.*s", (int)(n < 511 ? n : 511), p);
    if (strstr(line, what)) {
      (*lines)++;
      unsigned more;
      if (sscanf(line, "rspbridge: (%u more", &more) == 1)
        total += more;
      else
        total++;
    }
    p = e ? e + 1 : p + n;
  }
  return total;
}

/* A client that sends '$' floods and bad checksums: every event is counted
 * in the log, in a handful of lines, not one line per event. */
static void t_log_bounded(void **state) {
  (void)state;
  fx f;
  fx_ready(&f, NULL);
  static char flood[5000];
  memset(flood, '$', sizeof(flood));
  peer_raw(f.c, flood, sizeof(flood));
  for (int i = 0; i < 800; i++) /* the fake client keeps 1024 events */
    peer_raw(f.c, "$m0#00", 6);
  pass_pkt(f.c, f.t, "?");
  peer_send(f.t, "S05");
  const char *b = NULL;
  int k;
  while ((k = peer_next_noack(f.c, WAIT, &b, NULL)) == EV_NAK)
    ;
  if (k != EV_PACKET || strcmp(b, "S05"))
    fail_msg("event %d '%s', want S05", k, b ? b : "");
  /* The log's clock is virtual and stood still: one line of each kind so
   * far.  A second later, the next one is printed, after the count of
   * those held back. */
  harness_clock_add(1000);
  peer_raw(f.c, "$m0#00", 6);
  expect_ev(f.c, EV_NAK);
  assert_true(
      harness_log_wait(&f.h, "(799 more in 1000 ms like: client: bad checksum, NAK)", WAIT));
  fx_stop(&f);
  /* The rest is summarised at close. */
  unsigned lines, n = log_events(&f.h, "client: malformed packet", &lines);
  print_message("%u malformed packets in %u log lines\n", n, lines);
  assert_int_equal(n, sizeof(flood));
  assert_int_equal(lines, 2);
  n = log_events(&f.h, "client: bad checksum", &lines);
  print_message("%u bad checksums in %u log lines\n", n, lines);
  assert_int_equal(n, 801);
  assert_int_equal(lines, 3);
  harness_free(&f.h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(t_target_gone_mid_packet),
      cmocka_unit_test(t_target_gone_mid_request),
      cmocka_unit_test(t_target_down_answers_at_once),
      cmocka_unit_test(t_target_down_while_reconnecting),
      cmocka_unit_test(t_target_late_first_connect),
      cmocka_unit_test(t_reconnect_never_stops),
      cmocka_unit_test(t_reconnect_never_unreachable),
      cmocka_unit_test(t_client_gone_target_untouched),
      cmocka_unit_test(t_unsolicited_stop_reply),
      cmocka_unit_test(t_second_client_refused),
      cmocka_unit_test(t_stalled_target),
      cmocka_unit_test(t_random_noise),
      cmocka_unit_test(t_client_oversized_and_malformed),
      cmocka_unit_test(t_target_oversized_and_corrupt),
      cmocka_unit_test(t_client_never_reads),
      cmocka_unit_test(t_console_forever),
      cmocka_unit_test(t_many_pipelined),
      cmocka_unit_test(t_immediate_reconnects),
      cmocka_unit_test(t_log_bounded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
