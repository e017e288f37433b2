/* bridge.h - the rspbridge core: one RSP client, one RSP target, a libuv
 * loop in between.
 *
 * Lifecycle (libuv style): the caller allocates br_size() bytes for a br_t
 * (it is large: the packet buffers live inside it), br_init() fills it without allocating,
 * br_start() opens the listener (or stdio) and the worker thread,
 * br_close(br, cb) closes every handle; the memory may be reclaimed only in
 * or after cb.  No globals: several bridges may run in one process, which is
 * how the integration tests embed the bridge in their own loop.
 *
 * Errors are libuv's negative error codes (uv_strerror/uv_err_name).
 * As with any libuv program that writes to sockets, the embedding process
 * must ignore SIGPIPE (a peer that vanishes is then an EPIPE, handled).
 *
 * Threads: everything here runs on the loop thread except the worker
 * thread, which runs svc_handle() (see service/service.h) and talks to the
 * loop through one uv_async_t, one mutex and one condition variable.
 */
#ifndef BR_BRIDGE_H
#define BR_BRIDGE_H

#include <stdint.h>
#include <stdio.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

#include "rsp.h"
#include "service.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The largest packet body the bridge takes from either side, and the
 * PacketSize it offers the client.  QEMU 7.2 answers at most 4096 payload
 * characters (the service splits what is larger); GDB 13 sends m packets of
 * PacketSize / 2 bytes, so a 64 KiB read is one round trip to the bridge,
 * served from the cache.  Anything longer is an error (answered, never a
 * crash), and memory stays bounded by these buffers (about 1 MiB a
 * bridge). */
#define BR_BODY_MAX         0x20000
#define BR_FRAME_MAX        RSP_FRAME_MAX(BR_BODY_MAX)
#define BR_READ_SIZE        65536
/* Upstream requests in flight (client requests plus the worker's). */
#define BR_FIFO_CAP         64
/* The worker's requests in flight at once (QEMU answers pipelined requests
 * in order; 8 to 16 in flight is where its throughput levels off). */
#define BR_WORKER_WINDOW    16
/* Consecutive NAKs or bad checksums before the bridge gives up on a
 * packet. */
#define BR_MAX_RETRIES      5
/* Pending output above which the bridge stops reading the other side. */
#define BR_HIGH_WATER       (1024 * 1024)
/* Client requests waiting behind a busy pipe or a service command: above
 * this many (or BR_PEND_BYTES) the bridge stops reading the client until
 * half have been sent on; none is dropped. */
#define BR_PEND_MAX         256
#define BR_PEND_BYTES       (4 * BR_BODY_MAX)
/* Console output ('O' packets) for the request at the head of the pipe
 * extends its --timeout, up to this many timeouts in all: a target that
 * streams output forever does not hold the request forever. */
#define BR_CONSOLE_TIMEOUTS 10

/* Default busy-poll window after traffic, in microseconds (--busy-poll). */
#define BR_DEFAULT_SPIN_US 200

/* Default listen port, stated in --help. */
#define BR_DEFAULT_PORT     3333
/* RSP clients at once: one controller and up to seven observers. */
#define BR_DEFAULT_SESSIONS 8

typedef enum {
  BR_ADDR_NONE = 0,
  BR_ADDR_TCP,
  BR_ADDR_UNIX,
  BR_ADDR_SERIAL,
  BR_ADDR_STDIO
} br_addr_kind;

typedef struct {
  br_addr_kind kind;
  struct sockaddr_storage sa; /* BR_ADDR_TCP, resolved */
  char path[108];             /* BR_ADDR_UNIX, BR_ADDR_SERIAL */
  int baud;                   /* BR_ADDR_SERIAL; 0 leaves the line as it is */
} br_addr;

/* Parses a listen address (HOST:PORT, :PORT, unix:PATH) or, with
 * is_target, a target (tcp:HOST:PORT, HOST:PORT, unix:PATH,
 * serial:DEV[,BAUD]).  Host names are resolved here, synchronously.
 * Returns 0 or a negative libuv error; *why names the problem. */
int br_addr_parse(br_addr *a, const char *s, int is_target, const char **why);
/* "127.0.0.1:3333", "unix:/path", ... into out. */
void br_addr_format(const br_addr *a, char *out, size_t cap);

/* What k and vKill do (--on-kill).  Forward: the target gets them (QEMU
 * exits), the client gets the target's answer.  Detach: the target gets a
 * detach (QEMU keeps running the guest) and the client an answer as if the
 * process had exited: W00 for k (what QEMU answers to k before it exits),
 * OK for vKill (the manual's success reply). */
enum { BR_KILL_FORWARD = 0, BR_KILL_DETACH = 1 };

/* The forward-everything service (svc_default.c): every request is
 * forwarded, resumes are marked (SVC_FORWARD_RESUME), nothing is cached. */
extern const svc_ops br_forward_ops;

typedef struct br br_t;
typedef void (*br_close_cb)(br_t *br);
/* The bridge wants to end: the stdio client went away (status 0), or the
 * target is lost and the reconnect policy says stop (status 1).  The owner
 * usually calls br_close() from here.  why is valid during the call. */
typedef void (*br_stop_cb)(br_t *br, int status, const char *why);

typedef struct {
  br_addr listen; /* BR_ADDR_STDIO: the client is stdin/stdout */
  br_addr target;
  int verbose;         /* 0 info, 1 -v, 2 -vv */
  FILE *log;           /* log lines; NULL: stderr */
  FILE *trace;         /* --trace: every packet, timestamped; may be NULL */
  int read_only;       /* refuse M, X, P, G, k, vKill */
  int on_kill;         /* BR_KILL_FORWARD (default) or BR_KILL_DETACH */
  int reconnect;       /* -1: forever, 0: never, N: N attempts per loss */
  unsigned retry_ms;   /* delay between connection attempts */
  unsigned timeout_ms; /* a request unanswered this long fails */
  /* After any traffic, poll without sleeping for this long (0: never).
   * A debugger session is a chain of round trips; a sleeping bridge pays
   * two wake-ups per forwarded request, a polling one none. */
  unsigned busy_poll_us;
  /* The clock of the log rate limiter and of the deadline console output
   * extends (BR_CONSOLE_TIMEOUTS), in ms; NULL: the loop's (uv_now).
   * Tests set a virtual one. */
  uint64_t (*clock_ms)(void);
  /* RSP clients at once (--sessions).  0 or 1: one, a second is refused.
   * More: the first with no controller in place controls run state, the
   * others are observers (bridge/README.md, "Sessions"). */
  unsigned max_sessions;
  /* The service (service.h): svc_walker_ops for bridge/service/, or a
   * test's fake.  NULL: br_forward_ops. */
  const svc_ops *service;
  svc_config svc; /* given to service->create */
  br_stop_cb on_stop;
  void *data; /* for the owner */
} br_config;

/* Fills cfg with the defaults (listen 127.0.0.1:BR_DEFAULT_PORT, reconnect
 * forever every second, 5 s request timeout, busy-poll BR_DEFAULT_SPIN_US,
 * BR_DEFAULT_SESSIONS clients). */
void br_config_default(br_config *cfg);

/* A growable byte buffer; grows to its high-water mark and stays there, so
 * the packet path does not allocate in the steady state. */
typedef struct {
  char *p;
  size_t len;
  size_t cap;
} br_buf;

/* The bridge: private (bridge/br_int.h).  The caller allocates
 * br_size() bytes, zeroed or not, and hands them to br_init(). */
size_t br_size(void);
/* The service the bridge made (NULL before br_init or without one). */
svc *br_service(br_t *br);
/* The owner's pointer, set with br_set_data() (NULL before). */
void *br_data(const br_t *br);
void br_set_data(br_t *br, void *data);
/* The configuration the bridge runs with (after br_init). */
const br_config *br_get_config(const br_t *br);

/* 0, or UV_EINVAL when cfg->service lacks an op it must have. */
int br_init(uv_loop_t *loop, br_t *br, const br_config *cfg);
/* Listens (or opens stdio) and starts the worker.  UV_EALREADY if it was
 * started (or closed) before. */
int br_start(br_t *br);
/* Closes everything; cb runs once every handle is closed and the worker
 * thread has ended.  Safe to call twice (the second call does nothing).
 * The client is let go at once; a service command still running is
 * interrupted and allowed to end, then svc_finish() puts back what the
 * service changed on the target, each bounded by cfg.timeout_ms, before
 * the target connection is closed. */
void br_close(br_t *br, br_close_cb cb);
/* The TCP port the bridge listens on (after br_start), else 0. */
int br_listen_port(const br_t *br);
/* Whether the target connection was ever made. */
int br_ever_connected(const br_t *br);

/* Jobs run for someone other than the RSP client (br_job_submit). */
#define BR_XJOB_MAX   64                /* queued at once; more is UV_EBUSY */
#define BR_XOUT_MAX   (8 * 1024 * 1024) /* a job's output text beyond this fails it */
#define BR_XLINGER_MS 1000 /* no client: the target is released this long after the last job */
enum { BR_EJOB_RUNNING = -100001, BR_EJOB_LOST = -100002 };
typedef void (*br_job_cb)(void *arg, int status, const char *out, size_t out_len, const char *reply,
                          size_t reply_len);
/* Worker thread, in place of svc_handle(): *text (malloc'd, freed by the
 * core) is the job's output; returns 0 (reply "OK") or not (reply "E01"). */
typedef int (*br_job_fn)(svc *s, void *fn_arg, char **text, size_t *len);

/* Loop thread.  Runs one service request on the worker as a job of its
 * own, not the RSP client's: body is a packet body as a client sends it
 * ("qRcmd,<hex>", "m...", "M...").  It runs when the worker is free, in
 * the order it came among the client's requests.  Output text is
 * collected (not sent as O packets) and, with the final reply, given to cb
 * on the loop thread, once, never from inside this call; out/reply valid
 * during cb only.  status: 0; BR_EJOB_RUNNING when the client's resume is
 * outstanding (the target is not paused for this); BR_EJOB_LOST when the
 * target is not connected or was lost during the job; UV_ECANCELED when
 * the bridge closes.  With no client attached the job connects the target
 * and the connection is released (svc_finish() first) BR_XLINGER_MS after
 * the last job.  Returns 0 (cb follows) or a negative error: UV_EBUSY
 * (BR_XJOB_MAX queued), UV_E2BIG, UV_ECANCELED (closing); cb is then not
 * called. */
int br_job_submit(br_t *br, const char *body, size_t len, br_job_cb cb, void *arg);
/* The same with fn(svc, fn_arg, ...) run on the worker in place of
 * svc_handle(); its text goes to cb as out, the reply is "OK" or "E01". */
int br_job_call(br_t *br, br_job_fn fn, void *fn_arg, br_job_cb cb, void *arg);
/* Loop thread, cheap. */
typedef struct {
  int connected; /* the target connection is up */
  int running;   /* a client resume is outstanding */
  int lost;      /* the connection was lost and not re-made */
  int sessions;  /* RSP clients attached */
} br_state;
void br_get_state(const br_t *br, br_state *st);
uv_loop_t *br_loop(br_t *br);

/* Logging to cfg.log (stderr): level 0 info, 1 -v, 2 -vv.  Any thread. */
void br__log(br_t *br, int level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#ifdef __cplusplus
}
#endif
#endif /* BR_BRIDGE_H */
