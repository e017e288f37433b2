/* peer.h - fake RSP peers (client and target) for the bridge tests, built
 * on proto/ and blocking sockets, plus a harness that runs an embedded
 * bridge on its own loop thread. */
#ifndef BR_TEST_PEER_H
#define BR_TEST_PEER_H

#include <stdatomic.h>
#include <stddef.h>

#include "bridge.h"

enum { EV_TIMEOUT = 0, EV_PACKET, EV_NOTIFY, EV_ACK, EV_NAK, EV_INTR, EV_BADSUM, EV_ERROR, EV_EOF };

#define PEER_BODY 40000
#define PEER_QLEN 1024

typedef struct {
  int kind;
  size_t len;
  char *body;
} peer_ev;

typedef struct {
  int fd;
  int eof;
  rsp_parser p;
  char pbody[PEER_BODY];
  peer_ev q[PEER_QLEN];
  unsigned qh, qn;
  /* Read and not parsed yet: parsing stops while the queue is full, so
   * that no event is ever lost, however much a noisy bridge sends. */
  char raw[8192];
  size_t raw_off, raw_len;
} peer;

peer *peer_new(int fd);
void peer_free(peer *p);
/* The next event within timeout_ms (EV_TIMEOUT if none); *body (NUL
 * terminated, valid until the next call) for packets and notifications. */
int peer_next(peer *p, int timeout_ms, const char **body, size_t *len);
/* The next packet, skipping acks; NULL on timeout, EOF or another event. */
const char *peer_packet(peer *p, int timeout_ms);
/* Like peer_next but skips acks. */
int peer_next_noack(peer *p, int timeout_ms, const char **body, size_t *len);
void peer_send(peer *p, const char *body);
void peer_send_n(peer *p, const char *body, size_t len, unsigned flags);
void peer_raw(peer *p, const void *d, size_t n);
void peer_close(peer *p);

/* Sockets. */
int tcp_listen_any(int *port);
/* Listens on 127.0.0.1:*port (0: any; the port is written back). */
int tcp_listen_on(int *port);
int tcp_accept_timeout(int lfd, int timeout_ms);
int tcp_connect_port(int port);

/* An embedded bridge running on its own thread. */
typedef struct {
  uv_loop_t loop;
  br_t *br;
  uv_thread_t th;
  uv_async_t stop;
  int port;
  atomic_int stop_status; /* from on_stop, -1 if none */
  int stop_sent;
  /* The log: written by the loop and the worker, read by the test at any
   * time under log_mtx (log_cond: a line came). */
  FILE *log;
  uv_mutex_t log_mtx;
  uv_cond_t log_cond;
  char *logbuf; /* NUL terminated */
  size_t loglen, logcap;
  int logpipe[2]; /* a byte per write */
  /* harness_call(): fn(arg) on the loop thread. */
  uv_async_t call;
  uv_mutex_t call_mtx;
  uv_cond_t call_cond;
  void (*call_fn)(void *arg);
  void *call_arg;
  int call_done;
  int closed; /* under call_mtx: br_close() has completed */
  /* harness_wait(): pred checked in every loop iteration, before the loop
   * may sleep (under call_mtx); kick wakes the loop for a first look. */
  uv_prepare_t look;
  uv_async_t kick;
  int (*wait_pred)(br_t *br, void *arg);
  void *wait_arg;
  int wait_result;
} harness;

#define BR_TEST_TIMEOUT 600000u /* ms: fires only through harness_advance() */

/* Bridge listening on 127.0.0.1:0 forwarding to 127.0.0.1:target_port,
 * request timeout BR_TEST_TIMEOUT, reconnection every 50 ms, virtual log
 * clock. */
void harness_config(br_config *cfg, int target_port);
void harness_start(harness *h, const br_config *cfg);
/* Asks the bridge to close (br_close on its loop thread) and returns at
 * once: the test can then play the peers while the bridge finishes. */
void harness_stop_begin(harness *h);
/* Closes the bridge, joins the loop thread and asserts the loop closes
 * with no live handles. */
void harness_stop(harness *h);
/* Runs fn(arg) on the bridge's loop thread and waits for it to return: 0,
 * or -1 (fn not run) once the bridge has closed (after harness_stop_begin
 * it works until then). */
int harness_call(harness *h, void (*fn)(void *arg), void *arg);
/* A barrier: the loop has handled every event that was ready when it was
 * called (two loop iterations; bytes still in flight on loopback excepted). */
void harness_sync(harness *h);
/* Waits until pred(br, arg), run on the loop thread in each loop
 * iteration before the loop may sleep (the prepare phase: every change of
 * the bridge's state is followed by one), returns non-zero; timeout_ms is a hang guard.  Returns
 * pred's value, 0 on timeout. */
int harness_wait(harness *h, int (*pred)(br_t *br, void *arg), void *arg, int timeout_ms);
/* The bridge's br_get_state(), read on its loop thread. */
void harness_state(harness *h, br_state *st);
/* Waits for on_stop (timeout_ms: a hang guard); its status, -1 if none. */
int harness_wait_stop(harness *h, int timeout_ms);
/* Whether the loop busy-polls now (an idle handle is active). */
int harness_polling(harness *h);

/* Virtual time.  Tests configure timeouts far longer than any test runs
 * (harness_config: BR_TEST_TIMEOUT) and make time pass by hand:
 * harness_advance() fires at once every timer of the bridge due within ms
 * from now (not cumulative: time jumps ms ahead and back), and returns once
 * they have run; the number fired.  The log rate limiter
 * reads harness_clock_ms() (cfg.clock_ms), which only harness_clock_add()
 * moves. */
unsigned harness_advance(harness *h, unsigned ms);
uint64_t harness_clock_ms(void);
void harness_clock_add(uint64_t ms);

/* The log, at any time (the worker may still be writing to it). */
int harness_log_has(harness *h, const char *s);
/* Waits until the log has s (timeout_ms: a hang guard); whether it has. */
int harness_log_wait(harness *h, const char *s, int timeout_ms);
/* A descriptor that becomes readable when a line comes (for poll()), and
 * its drain. */
int harness_log_fd(harness *h);
void harness_log_fd_drain(harness *h);
/* A copy of the log (free() it). */
char *harness_log_copy(harness *h);
void harness_free(harness *h);

#endif
