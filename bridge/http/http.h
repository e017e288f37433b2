/* http.h - the bridge's HTTP/JSON automation endpoint (issue 15).
 *
 * An HTTP/1.1 server on a libuv loop, its requests parsed by http-parser,
 * that answers the /v1/ API (see api.c and bridge/http/README.md) and one
 * static page.  It knows nothing of the bridge core: everything it asks of
 * the target goes through a backend ops table, so the bridge plugs in with
 * a small adapter and the tests plug in the service simulator.
 *
 * Threads.  Everything here runs on the loop thread, including every
 * backend op and every done callback.  A backend that does its work on
 * another thread (the bridge's worker) hands the result back to the loop
 * before calling done.
 *
 * Signals.  Like every libuv program writing to sockets, the program must
 * ignore SIGPIPE (a client may leave before its answer is written).
 *
 * Ordering.  The server calls the backend one operation at a time: it
 * never calls command() or request() again before the previous one called
 * done.  HTTP requests from all connections wait in one bounded queue.
 */
#ifndef HTTP_HTTP_H
#define HTTP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Outcome of one backend operation. */
enum http_bk_status {
  HTTP_BK_OK = 0,       /* ran; out is its output (command) or reply body (request) */
  HTTP_BK_FAILED = -1,  /* a command ran and reported an error (its output says which) */
  HTTP_BK_RUNNING = -2, /* the target runs and cannot be paused for this */
  HTTP_BK_LOST = -3,    /* no target connection */
  HTTP_BK_NOMEM = -4
};

/* Called exactly once per accepted operation, on the loop thread, never from
 * inside the op that started it.  out is owned by the backend and valid only
 * during the call. */
typedef void (*http_done_cb)(void *arg, int status, const char *out, size_t len);

/* What the backend knows of the target's state, for GET /v1/target.  That
 * request never connects or pauses the target: it asks the backend for a
 * fresh description (a command) only when live says it can without either;
 * otherwise it answers with the description it last saw. */
typedef struct {
  const char *run_state; /* "stopped", "running", "lost", "detached" (no
                            connection held; the target runs as the last
                            debugger left it) or NULL (unknown) */
  int sessions;          /* debugger sessions on the target; -1 unknown */
  int live;              /* 1: connected, stopped and held by a debugger:
                            a command reads it and changes nothing */
} http_target_state;

typedef struct http_backend_ops {
  /* One monitor command line (as after `monitor`, e.g. "vtop 0x1000 --json").
   * Returns 0 (done follows) or a negative errno (done is not called). */
  int (*command)(void *ctx, const char *line, size_t len, http_done_cb done, void *arg);
  /* One raw RSP request body (unframed: "m 1000,40", "M...", "g"); done gets
   * the target's reply body ("E14" is HTTP_BK_OK with that body). */
  int (*request)(void *ctx, const char *body, size_t len, http_done_cb done, void *arg);
  /* Optional: the target's registers as one JSON object of names to hex
   * strings ({"rip":"0xffff...",...}), given to done as out.  NULL:
   * /v1/regs gives the raw reply to g instead. */
  int (*regs)(void *ctx, http_done_cb done, void *arg);
  /* Cheap and synchronous; may be NULL (state unknown: /v1/target then
   * runs its command, as if live). */
  void (*state)(void *ctx, http_target_state *st);
} http_backend_ops;

typedef struct {
  const char *addr; /* listen address; NULL: 127.0.0.1 */
  int port;         /* 0: an ephemeral port (see http_server_port) */
  int read_only;    /* PUT is refused with 403 */
  size_t max_conns; /* 0: 256 */
  size_t max_queue; /* HTTP requests waiting for the backend; 0: 64 */
  size_t max_io;    /* largest phys/virt read or write; 0: 1 MiB */
  unsigned idle_ms; /* a connection idle this long (no request being
                       answered, nothing read) is closed; 0: 60 s */
  const http_backend_ops *ops;
  void *ctx;
  /* Optional: a log line (level 0 info, 1 verbose). */
  void (*log)(void *ctx, int level, const char *msg);
} http_config;

/* Request limits (a larger request is answered with 414/431/413 and the
 * connection closes). */
#define HTTP_MAX_URL     8192u
#define HTTP_MAX_HEADERS 16384u /* all header names and values together */
#define HTTP_MAX_NHEAD   64u
/* A connection whose client does not read: the next pipelined request is
 * not taken while this many answer bytes wait to be written. */
#define HTTP_WRITE_HIGH  (4u << 20)

typedef struct http_server http_server;

/* Allocates a server and starts listening.  Returns 0 and *out, or a
 * negative libuv error (address in use, bad address, ENOMEM). */
int http_server_start(uv_loop_t *loop, const http_config *cfg, http_server **out);
/* The port listened on (useful with port 0). */
int http_server_port(const http_server *s);
/* Stops listening and closes every connection; requests not yet given to
 * the backend are dropped.  The backend operation in flight, if any, must
 * still call done; cb (may be NULL) runs once that happened and every
 * handle is closed, and the server's memory is then freed.  Safe to call
 * once only. */
void http_server_close(http_server *s, void (*cb)(void *arg), void *arg);

/* Adopts an already connected stream socket (a socketpair end, for the
 * fuzz target) as one more HTTP connection.  The server owns fd from now on
 * and closes it.  Returns 0 or a negative libuv error (fd then still
 * belongs to the caller). */
int http_server_adopt_fd(http_server *s, int fd);

/* Counters, for tests and the log. */
typedef struct {
  uint64_t conns, requests, responses, bad_requests, backend_ops, queue_full;
  size_t open_conns;
  size_t max_wqueue; /* most answer bytes waiting to be written on one connection */
} http_stats;
void http_server_stats(const http_server *s, http_stats *st);

#ifdef __cplusplus
}
#endif
#endif /* HTTP_HTTP_H */
