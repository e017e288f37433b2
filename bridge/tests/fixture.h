/* fixture.h - one embedded bridge, one fake client, one fake target. */
#ifndef BR_TEST_FIXTURE_H
#define BR_TEST_FIXTURE_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "peer.h"

#define QEMU_FEATURES "PacketSize=1000;qXfer:features:read+;vContSupported+;multiprocess+"
#define WAIT          3000

typedef struct {
  harness h;
  int lfd, tport;
  peer *c, *t;
} fx;

static inline void fx_up(fx *f, void (*tweak)(br_config *)) {
  memset(f, 0, sizeof(*f));
  f->lfd = tcp_listen_any(&f->tport);
  br_config cfg;
  harness_config(&cfg, f->tport);
  if (tweak)
    tweak(&cfg);
  harness_start(&f->h, &cfg);
  f->c = peer_new(tcp_connect_port(f->h.port));
  /* The bridge connects upstream when its first client arrives. */
  f->t = peer_new(tcp_accept_timeout(f->lfd, WAIT));
}

/* Stops the bridge and checks the loop closed with no live handles; the
 * log stays readable until harness_free(). */
static inline void fx_stop(fx *f) {
  peer_free(f->c);
  peer_free(f->t);
  harness_stop(&f->h);
  close(f->lfd);
}

static inline void fx_down(fx *f) {
  fx_stop(f);
  harness_free(&f->h);
}

#define expect_pkt(p, want)                    \
  do {                                         \
    const char *got_ = peer_packet((p), WAIT); \
    assert_non_null(got_);                     \
    assert_string_equal(got_, (want));         \
  } while (0)

#define expect_prefix(p, want)                              \
  do {                                                      \
    const char *got_ = peer_packet((p), WAIT);              \
    assert_non_null(got_);                                  \
    if (strncmp(got_, (want), strlen(want)) != 0)           \
      fail_msg("got '%s', want prefix '%s'", got_, (want)); \
  } while (0)

/* body sent by one peer arrives unchanged at the other: the bridge
 * forwarded it. */
#define pass_pkt(from, to, body) \
  do {                           \
    peer_send((from), (body));   \
    expect_pkt((to), (body));    \
  } while (0)

/* The next event is exactly kind (acks are not skipped). */
#define expect_ev(p, kind) assert_int_equal(peer_next((p), WAIT, NULL, NULL), (kind))

/* Nothing but acks arrives within ms.  Prefer expect_none(): a window of
 * real time proves little on a loaded machine. */
static inline void expect_quiet(peer *p, int ms) {
  const char *b = NULL;
  int k;
  while ((k = peer_next(p, ms, &b, NULL)) == EV_ACK)
    ;
  if (k != EV_TIMEOUT)
    fail_msg("expected silence, got event %d '%s'", k, b ? b : "");
}

/* Nothing but acks has reached p: once the bridge's loop has handled every
 * event that was ready (a barrier), p takes what arrived, without waiting.
 * A negative check that a slow machine cannot make fail; where a packet
 * must follow, checking that it is the next one is stronger. */
static inline void expect_none(harness *h, peer *p) {
  harness_sync(h);
  const char *b = NULL;
  int k;
  while ((k = peer_next(p, 0, &b, NULL)) == EV_ACK)
    ;
  if (k != EV_TIMEOUT)
    fail_msg("expected nothing, got event %d '%s'", k, b ? b : "");
}

/* The bridge's state, read on its loop thread. */
static inline br_state fx_state(fx *f) {
  br_state st;
  memset(&st, 0, sizeof(st));
  harness_state(&f->h, &st);
  return st;
}

/* The client's qSupported reaches the target, QEMU's answer comes back. */
static inline void fx_handshake(fx *f) {
  peer_send(f->c, "qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386");
  expect_ev(f->c, EV_ACK);
  expect_pkt(f->t, "qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386");
  peer_send(f->t, QEMU_FEATURES);
  expect_ev(f->t, EV_ACK);
  const char *r = peer_packet(f->c, WAIT);
  assert_non_null(r);
  assert_non_null(strstr(r, "qXfer:features:read+"));
  assert_non_null(strstr(r, "multiprocess+"));
  assert_non_null(strstr(r, "PacketSize=1000"));
  assert_non_null(strstr(r, "QStartNoAckMode+"));
}

/* fx_up, then the handshake: a session ready for the test's packets. */
static inline void fx_ready(fx *f, void (*tweak)(br_config *)) {
  fx_up(f, tweak);
  fx_handshake(f);
}

/* The bridge reconnected: accepts its connection and answers its
 * qSupported as QEMU does.  Returns the new target peer. */
static inline peer *fx_reaccept(fx *f) {
  int fd = tcp_accept_timeout(f->lfd, WAIT);
  assert_true(fd >= 0);
  peer *t = peer_new(fd);
  expect_prefix(t, "qSupported:");
  peer_send(t, QEMU_FEATURES);
  return t;
}

#endif
