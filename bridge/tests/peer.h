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
  unsigned dropped;
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
  char *logbuf;
  size_t loglen;
  FILE *log;
  int stop_sent;
  /* harness_call(): fn(arg) on the loop thread. */
  uv_async_t call;
  uv_mutex_t call_mtx;
  uv_cond_t call_cond;
  void (*call_fn)(void *arg);
  void *call_arg;
  int call_done;
} harness;

/* Bridge listening on 127.0.0.1:0 forwarding to 127.0.0.1:target_port. */
void harness_config(br_config *cfg, int target_port);
void harness_start(harness *h, const br_config *cfg);
/* Asks the bridge to close (br_close on its loop thread) and returns at
 * once: the test can then play the peers while the bridge finishes. */
void harness_stop_begin(harness *h);
/* Closes the bridge, joins the loop thread and asserts the loop closes
 * with no live handles. */
void harness_stop(harness *h);
/* Runs fn(arg) on the bridge's loop thread and waits for it to return
 * (not after harness_stop_begin). */
void harness_call(harness *h, void (*fn)(void *arg), void *arg);
/* Whether the bridge's log contains s (after harness_stop). */
int harness_log_has(harness *h, const char *s);
void harness_free(harness *h);

#endif
