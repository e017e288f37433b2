/* peer.c - see peer.h. */
#define _GNU_SOURCE /* fopencookie */
#include "peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* Returns non-zero, which stops the parser, once the queue is full. */
static int push(peer *p, int kind, const char *b, size_t len) {
  assert_true(p->qn < PEER_QLEN);
  peer_ev *e = &p->q[(p->qh + p->qn) % PEER_QLEN];
  e->kind = kind;
  e->len = len;
  e->body = malloc(len + 1);
  assert_non_null(e->body);
  if (len)
    memcpy(e->body, b, len);
  e->body[len] = 0;
  p->qn++;
  return p->qn == PEER_QLEN;
}

static int on_packet(rsp_parser *rp, const char *b, size_t len) {
  return push(rp->data, EV_PACKET, b, len);
}
static int on_notify(rsp_parser *rp, const char *b, size_t len) {
  return push(rp->data, EV_NOTIFY, b, len);
}
static int on_ack(rsp_parser *rp) {
  return push(rp->data, EV_ACK, NULL, 0);
}
static int on_nak(rsp_parser *rp) {
  return push(rp->data, EV_NAK, NULL, 0);
}
static int on_intr(rsp_parser *rp) {
  return push(rp->data, EV_INTR, NULL, 0);
}
static int on_bad(rsp_parser *rp) {
  return push(rp->data, EV_BADSUM, NULL, 0);
}
static int on_err(rsp_parser *rp) {
  return push(rp->data, EV_ERROR, NULL, 0);
}

static const rsp_parser_settings settings = {
    .on_packet = on_packet,
    .on_notification = on_notify,
    .on_ack = on_ack,
    .on_nak = on_nak,
    .on_interrupt = on_intr,
    .on_bad_checksum = on_bad,
    .on_error = on_err,
};

peer *peer_new(int fd) {
  assert_true(fd >= 0);
  peer *p = calloc(1, sizeof(*p));
  assert_non_null(p);
  p->fd = fd;
  rsp_parser_init(&p->p, p->pbody, sizeof(p->pbody));
  p->p.data = p;
  return p;
}

static char *last_body;

void peer_free(peer *p) {
  if (!p)
    return;
  if (p->fd >= 0)
    close(p->fd);
  while (p->qn) {
    free(p->q[p->qh].body);
    p->qh = (p->qh + 1) % PEER_QLEN;
    p->qn--;
  }
  free(p);
  free(last_body);
  last_body = NULL;
}

void peer_close(peer *p) {
  if (p->fd >= 0)
    close(p->fd);
  p->fd = -1;
}

int peer_next(peer *p, int timeout_ms, const char **body, size_t *len) {
  uint64_t deadline = uv_hrtime() + (uint64_t)timeout_ms * 1000000u;
  while (p->qn == 0) {
    if (p->raw_off < p->raw_len) {
      /* What was read and not parsed first; parsing stops on a full queue. */
      p->raw_off +=
          rsp_parser_execute(&p->p, &settings, p->raw + p->raw_off, p->raw_len - p->raw_off);
      continue;
    }
    if (p->eof || p->fd < 0)
      break;
    /* Always one look, even with timeout_ms 0: what has arrived is read. */
    uint64_t now = uv_hrtime();
    int ms = now >= deadline ? 0 : (int)((deadline - now) / 1000000u) + 1;
    struct pollfd pf = {.fd = p->fd, .events = POLLIN};
    int r = poll(&pf, 1, ms);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    ssize_t n = read(p->fd, p->raw, sizeof(p->raw));
    if (n <= 0) {
      p->eof = 1;
      break;
    }
    p->raw_off = 0;
    p->raw_len = (size_t)n;
  }
  if (p->qn == 0)
    return p->eof ? EV_EOF : EV_TIMEOUT;
  peer_ev e = p->q[p->qh];
  p->qh = (p->qh + 1) % PEER_QLEN;
  p->qn--;
  free(last_body);
  last_body = e.body;
  if (body)
    *body = e.body;
  if (len)
    *len = e.len;
  return e.kind;
}

int peer_next_noack(peer *p, int timeout_ms, const char **body, size_t *len) {
  int k;
  while ((k = peer_next(p, timeout_ms, body, len)) == EV_ACK)
    ;
  return k;
}

const char *peer_packet(peer *p, int timeout_ms) {
  const char *b;
  int k = peer_next_noack(p, timeout_ms, &b, NULL);
  return k == EV_PACKET ? b : NULL;
}

void peer_raw(peer *p, const void *d, size_t n) {
  const char *c = d;
  while (n) {
    ssize_t w = write(p->fd, c, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return; /* the other side may be gone: the test checks effects */
    c += w;
    n -= (size_t)w;
  }
}

void peer_send_n(peer *p, const char *body, size_t len, unsigned flags) {
  size_t cap = RSP_FRAME_MAX(len);
  char *f = malloc(cap);
  assert_non_null(f);
  int n = rsp_encode(f, cap, body, len, flags);
  assert_true(n > 0);
  peer_raw(p, f, (size_t)n);
  free(f);
}

void peer_send(peer *p, const char *body) {
  peer_send_n(p, body, strlen(body), 0);
}

/* ------------------------------------------------------------------------ */

int tcp_listen_any(int *port) {
  *port = 0;
  return tcp_listen_on(port);
}

int tcp_listen_on(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons((uint16_t)*port);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  assert_int_equal(listen(fd, 8), 0);
  socklen_t n = sizeof(sa);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &n), 0);
  *port = ntohs(sa.sin_port);
  return fd;
}

int tcp_accept_timeout(int lfd, int timeout_ms) {
  struct pollfd pf = {.fd = lfd, .events = POLLIN};
  if (poll(&pf, 1, timeout_ms) <= 0)
    return -1;
  int fd = accept(lfd, NULL, NULL);
  if (fd >= 0) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  return fd;
}

int tcp_connect_port(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons((uint16_t)port);
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

/* ------------------------------------------------------------------------ */

static void h_on_stop(br_t *br, int status, const char *why) {
  harness *h = br_data(br);
  (void)why;
  h->stop_status = status;
}

/* The virtual clock of the log rate limiter. */
static _Atomic uint64_t vclock_ms = 1000000;

uint64_t harness_clock_ms(void) {
  return vclock_ms;
}

void harness_clock_add(uint64_t ms) {
  vclock_ms += ms;
}

void harness_config(br_config *cfg, int target_port) {
  br_config_default(cfg);
  const char *why;
  assert_int_equal(br_addr_parse(&cfg->listen, "127.0.0.1:0", 0, &why), 0);
  char t[64];
  snprintf(t, sizeof(t), "tcp:127.0.0.1:%d", target_port);
  assert_int_equal(br_addr_parse(&cfg->target, t, 1, &why), 0);
  cfg->retry_ms = 50;
  cfg->timeout_ms = BR_TEST_TIMEOUT;
  cfg->clock_ms = harness_clock_ms;
  cfg->verbose = 2;
}

/* ------------------------------------------------------------------------
 * The log: a stdio stream whose lines land in a buffer under log_mtx.
 */

static ssize_t log_write(void *cookie, const char *d, size_t n) {
  harness *h = cookie;
  uv_mutex_lock(&h->log_mtx);
  if (h->loglen + n + 1 > h->logcap) {
    size_t cap = h->logcap ? h->logcap : 4096;
    while (cap < h->loglen + n + 1)
      cap *= 2;
    char *nb = realloc(h->logbuf, cap);
    if (!nb) {
      uv_mutex_unlock(&h->log_mtx);
      return -1;
    }
    h->logbuf = nb;
    h->logcap = cap;
  }
  memcpy(h->logbuf + h->loglen, d, n);
  h->loglen += n;
  h->logbuf[h->loglen] = 0;
  uv_cond_broadcast(&h->log_cond);
  uv_mutex_unlock(&h->log_mtx);
  char one = 1;
  if (write(h->logpipe[1], &one, 1) < 0) {
    /* full: it is readable already */
  }
  return (ssize_t)n;
}

int harness_log_fd(harness *h) {
  return h->logpipe[0];
}

void harness_log_fd_drain(harness *h) {
  char b[256];
  while (read(h->logpipe[0], b, sizeof(b)) > 0)
    ;
}

static FILE *log_open(harness *h) {
  assert_int_equal(pipe2(h->logpipe, O_NONBLOCK | O_CLOEXEC), 0);
  assert_int_equal(uv_mutex_init(&h->log_mtx), 0);
  assert_int_equal(uv_cond_init(&h->log_cond), 0);
  cookie_io_functions_t io = {.write = log_write};
  FILE *f = fopencookie(h, "w", io);
  assert_non_null(f);
  setvbuf(f, NULL, _IOLBF, 0); /* each line as it is printed */
  return f;
}

int harness_log_has(harness *h, const char *s) {
  uv_mutex_lock(&h->log_mtx);
  int r = h->logbuf && strstr(h->logbuf, s) != NULL;
  uv_mutex_unlock(&h->log_mtx);
  return r;
}

int harness_log_wait(harness *h, const char *s, int timeout_ms) {
  uint64_t deadline = uv_hrtime() + (uint64_t)timeout_ms * 1000000u;
  uv_mutex_lock(&h->log_mtx);
  int r;
  while (!(r = h->logbuf && strstr(h->logbuf, s) != NULL)) {
    uint64_t now = uv_hrtime();
    if (now >= deadline)
      break;
    uv_cond_timedwait(&h->log_cond, &h->log_mtx, deadline - now);
  }
  uv_mutex_unlock(&h->log_mtx);
  return r;
}

char *harness_log_copy(harness *h) {
  uv_mutex_lock(&h->log_mtx);
  char *c = strdup(h->logbuf ? h->logbuf : "");
  uv_mutex_unlock(&h->log_mtx);
  assert_non_null(c);
  return c;
}

/* ------------------------------------------------------------------------
 * The loop thread.
 */

static void loop_thread(void *arg) {
  harness *h = arg;
  uv_run(&h->loop, UV_RUN_DEFAULT);
}

/* The bridge has closed: harness_call() and harness_wait() return at once
 * from now on, and the loop ends. */
static void closed_cb(br_t *br) {
  harness *h = br_data(br);
  uv_mutex_lock(&h->call_mtx);
  h->closed = 1;
  uv_cond_broadcast(&h->call_cond);
  uv_mutex_unlock(&h->call_mtx);
  uv_close((uv_handle_t *)&h->call, NULL);
  uv_close((uv_handle_t *)&h->kick, NULL);
  uv_close((uv_handle_t *)&h->look, NULL);
}

/* br_close(); harness_call() still works while the bridge finishes. */
static void stop_cb(uv_async_t *a) {
  harness *h = a->data;
  br_close(h->br, closed_cb);
  uv_close((uv_handle_t *)a, NULL);
}

static void call_cb(uv_async_t *a) {
  harness *h = a->data;
  uv_mutex_lock(&h->call_mtx);
  void (*fn)(void *) = h->call_fn;
  void *arg = h->call_arg;
  h->call_fn = NULL;
  uv_mutex_unlock(&h->call_mtx);
  if (fn)
    fn(arg);
  uv_mutex_lock(&h->call_mtx);
  h->call_done = 1;
  uv_cond_broadcast(&h->call_cond);
  uv_mutex_unlock(&h->call_mtx);
}

int harness_call(harness *h, void (*fn)(void *arg), void *arg) {
  uv_mutex_lock(&h->call_mtx);
  if (h->closed) {
    uv_mutex_unlock(&h->call_mtx);
    return -1;
  }
  h->call_fn = fn;
  h->call_arg = arg;
  h->call_done = 0;
  uv_async_send(&h->call);
  while (!h->call_done && !h->closed)
    uv_cond_wait(&h->call_cond, &h->call_mtx);
  int r = h->call_done ? 0 : -1;
  h->call_fn = NULL;
  uv_mutex_unlock(&h->call_mtx);
  return r;
}

static void nothing(void *arg) {
  (void)arg;
}

void harness_sync(harness *h) {
  /* The first call may run before the I/O callbacks of its own iteration;
   * the second runs after them. */
  harness_call(h, nothing, NULL);
  harness_call(h, nothing, NULL);
}

static void look_cb(uv_prepare_t *c) {
  harness *h = c->data;
  uv_mutex_lock(&h->call_mtx);
  if (h->wait_pred && !h->wait_result) {
    h->wait_result = h->wait_pred(h->br, h->wait_arg);
    if (h->wait_result)
      uv_cond_broadcast(&h->call_cond);
  }
  uv_mutex_unlock(&h->call_mtx);
}

static void kick_cb(uv_async_t *a) {
  (void)a; /* the prepare phase of the next iteration has a look */
}

int harness_wait(harness *h, int (*pred)(br_t *br, void *arg), void *arg, int timeout_ms) {
  uint64_t deadline = uv_hrtime() + (uint64_t)timeout_ms * 1000000u;
  uv_mutex_lock(&h->call_mtx);
  h->wait_pred = pred;
  h->wait_arg = arg;
  h->wait_result = 0;
  if (!h->closed)
    uv_async_send(&h->kick);
  while (!h->wait_result && !h->closed) {
    uint64_t now = uv_hrtime();
    if (now >= deadline)
      break;
    uv_cond_timedwait(&h->call_cond, &h->call_mtx, deadline - now);
  }
  int r = h->wait_result;
  h->wait_pred = NULL;
  h->wait_arg = NULL;
  uv_mutex_unlock(&h->call_mtx);
  return r;
}

struct state_call {
  harness *h;
  br_state *st;
};

static void get_state(void *arg) {
  struct state_call *sc = arg;
  br_get_state(sc->h->br, sc->st);
}

void harness_state(harness *h, br_state *st) {
  struct state_call sc = {h, st};
  harness_call(h, get_state, &sc);
}

static int stopped(br_t *br, void *arg) {
  (void)arg;
  harness *h = br_data(br);
  return h->stop_status >= 0;
}

int harness_wait_stop(harness *h, int timeout_ms) {
  harness_wait(h, stopped, NULL, timeout_ms);
  return h->stop_status;
}

static void count_idle(uv_handle_t *hd, void *arg) {
  if (hd->type == UV_IDLE && uv_is_active(hd))
    ++*(int *)arg;
}

struct polling_call {
  harness *h;
  int n;
};

static void polling(void *arg) {
  struct polling_call *pc = arg;
  uv_walk(&pc->h->loop, count_idle, &pc->n);
}

int harness_polling(harness *h) {
  struct polling_call pc = {h, 0};
  harness_call(h, polling, &pc);
  return pc.n > 0;
}

struct advance_call {
  harness *h;
  unsigned ms, fired;
};

static void fire_due(uv_handle_t *hd, void *arg) {
  struct advance_call *ac = arg;
  if (hd->type != UV_TIMER || !uv_is_active(hd))
    return;
  uv_timer_t *t = (uv_timer_t *)hd;
  if (uv_timer_get_due_in(t) > ac->ms)
    return;
  uv_timer_start(t, t->timer_cb, 0, uv_timer_get_repeat(t));
  ac->fired++;
}

static void advance(void *arg) {
  struct advance_call *ac = arg;
  uv_walk(&ac->h->loop, fire_due, ac);
}

unsigned harness_advance(harness *h, unsigned ms) {
  struct advance_call ac = {h, ms, 0};
  harness_call(h, advance, &ac);
  /* They run at the start of the next iteration, before its I/O. */
  harness_sync(h);
  return ac.fired;
}

void harness_start(harness *h, const br_config *cfg) {
  /* Like any libuv program writing to sockets (see bridge.h). */
  signal(SIGPIPE, SIG_IGN);
  memset(h, 0, sizeof(*h));
  h->stop_status = -1;
  h->log = log_open(h);
  assert_int_equal(uv_loop_init(&h->loop), 0);
  h->br = calloc(1, br_size());
  assert_non_null(h->br);
  br_config c = *cfg;
  c.on_stop = h_on_stop;
  c.log = h->log;
  assert_int_equal(br_init(&h->loop, h->br, &c), 0);
  br_set_data(h->br, h);
  assert_int_equal(br_start(h->br), 0);
  h->port = br_listen_port(h->br);
  assert_true(h->port > 0 || cfg->listen.kind != BR_ADDR_TCP);
  assert_int_equal(uv_async_init(&h->loop, &h->stop, stop_cb), 0);
  h->stop.data = h;
  assert_int_equal(uv_mutex_init(&h->call_mtx), 0);
  assert_int_equal(uv_cond_init(&h->call_cond), 0);
  assert_int_equal(uv_async_init(&h->loop, &h->call, call_cb), 0);
  h->call.data = h;
  assert_int_equal(uv_async_init(&h->loop, &h->kick, kick_cb), 0);
  assert_int_equal(uv_prepare_init(&h->loop, &h->look), 0);
  h->look.data = h;
  assert_int_equal(uv_prepare_start(&h->look, look_cb), 0);
  assert_int_equal(uv_thread_create(&h->th, loop_thread, h), 0);
}

void harness_stop_begin(harness *h) {
  if (!h->stop_sent)
    uv_async_send(&h->stop);
  h->stop_sent = 1;
}

void harness_stop(harness *h) {
  harness_stop_begin(h);
  uv_thread_join(&h->th);
  /* A leaked handle fails here. */
  assert_int_equal(uv_loop_close(&h->loop), 0);
  uv_cond_destroy(&h->call_cond);
  uv_mutex_destroy(&h->call_mtx);
  free(h->br);
  h->br = NULL;
  fclose(h->log);
  h->log = NULL;
}

void harness_free(harness *h) {
  close(h->logpipe[0]);
  close(h->logpipe[1]);
  uv_cond_destroy(&h->log_cond);
  uv_mutex_destroy(&h->log_mtx);
  free(h->logbuf);
  h->logbuf = NULL;
}
