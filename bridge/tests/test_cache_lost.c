/* test_cache_lost.c - nothing cached from a target is served once its
 * connection is lost (issue 12).  A fake caching service (injected through
 * br_config.service) keeps the last memory read, valid for one generation; the
 * bridge's events (SVC_EV_LOST, SVC_EV_CONNECT, SVC_EV_RESUME) end it. */
#include "fixture.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

struct svc {
  const svc_io *io;
  void *ctx;
  atomic_uint gen; /* bumped by the loop thread's events */
  /* The cached read: written by the worker, read by the loop thread only
   * while the worker is idle (the bridge's rule for svc_serve_cached). */
  char key[64], val[64];
  unsigned key_gen;
  int has;
};

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

static enum svc_action fake_classify(svc *s, const char *b, size_t len) {
  (void)s;
  if (len && b[0] == 'm')
    return SVC_HANDLE;
  if (rsp_classify_request(b, len, NULL) == RSP_REQ_RESUME)
    return SVC_FORWARD_RESUME;
  return SVC_FORWARD;
}

static void fake_event(svc *s, enum svc_event ev) {
  if (ev == SVC_EV_LOST || ev == SVC_EV_CONNECT || ev == SVC_EV_RESUME)
    atomic_fetch_add(&s->gen, 1);
}

static void fake_interrupt(svc *s) {
  (void)s;
}

static unsigned fake_set_packet_size(svc *s, unsigned target, unsigned ours) {
  (void)s;
  return target && target < ours ? target : ours;
}

/* The cached answer to body, or -1. */
static int lookup(svc *s, const char *body, size_t len, char *out, size_t cap) {
  size_t n = strlen(s->val);
  if (!s->has || s->key_gen != atomic_load(&s->gen) || len != strlen(s->key) ||
      memcmp(body, s->key, len) != 0 || n > cap)
    return -1;
  memcpy(out, s->val, n);
  return (int)n;
}

static int fake_serve_cached(svc *s, const char *body, size_t len, char *out, size_t cap) {
  return lookup(s, body, len, out, cap);
}

typedef struct {
  char val[64];
  int got;
} one_reply;

static int on_reply(void *arg, size_t i, const char *body, size_t len) {
  one_reply *r = arg;
  (void)i;
  if (len < sizeof(r->val)) {
    memcpy(r->val, body, len);
    r->val[len] = 0;
    r->got = 1;
  }
  return 0;
}

static void fake_handle(svc *s, const char *body, size_t len) {
  char out[64];
  int n = lookup(s, body, len, out, sizeof(out));
  if (n >= 0) {
    s->io->reply(s->ctx, out, (size_t)n);
    return;
  }
  unsigned g = atomic_load(&s->gen);
  svc_req r = {body, len};
  one_reply a = {{0}, 0};
  if (s->io->transact(s->ctx, &r, 1, on_reply, &a) != 0 || !a.got || len >= sizeof(s->key)) {
    s->io->reply(s->ctx, "E05", 3);
    return;
  }
  memcpy(s->key, body, len);
  s->key[len] = 0;
  strcpy(s->val, a.val);
  s->key_gen = g;
  s->has = 1;
  s->io->reply(s->ctx, a.val, strlen(a.val));
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
    .finish = fake_finish,
};

/* The bridge runs the fake service. */
static void fake(br_config *cfg) {
  cfg->service = &fake_ops;
}

static void t_cache_ends_with_the_target(void **state) {
  (void)state;
  fx f;
  fx_up(&f, fake);
  fx_handshake(&f);
  peer_send(f.c, "m1000,4");
  expect_pkt(f.t, "m1000,4");
  peer_send(f.t, "11223344");
  expect_pkt(f.c, "11223344");
  /* Cached: the target is not asked again. */
  peer_send(f.c, "m1000,4");
  expect_pkt(f.c, "11223344");
  peer_send(f.c, "g");
  expect_pkt(f.t, "g");
  /* The target goes away with g unanswered; nothing listens for the
   * bridge's reconnection attempts yet. */
  close(f.lfd);
  peer_free(f.t);
  f.t = NULL;
  expect_pkt(f.c, "E.rspbridge: target connection lost");
  /* The old target's bytes are not served. */
  peer_send(f.c, "m1000,4");
  expect_prefix(f.c, "E");
  /* A new target: the session is replayed, then the read goes to it. */
  f.lfd = tcp_listen_on(&f.tport);
  f.t = peer_new(tcp_accept_timeout(f.lfd, WAIT));
  expect_prefix(f.t, "qSupported:");
  peer_send(f.t, QEMU_FEATURES);
  peer_send(f.c, "m1000,4");
  expect_pkt(f.t, "m1000,4");
  peer_send(f.t, "55667788");
  expect_pkt(f.c, "55667788");
  fx_down(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(t_cache_ends_with_the_target),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
