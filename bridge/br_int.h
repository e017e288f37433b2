/* br_int.h - private to the bridge core (the .c files of bridge/): the types and the
 * helpers shared by its files.  Threads: see bridge.h; br__log() is safe on
 * any thread, br__log_rl() and br__trace() on the loop thread only. */
#ifndef BR_INT_H
#define BR_INT_H

#include "bridge.h"

/* Threads: the loop thread runs everything but svc_handle() and
 * svc_finish(), which run on the worker (bridge.c: job_*, worker_*, io_*,
 * wtx_*).  struct br below says which thread may touch which field. */

/* One request on the upstream pipe. */
typedef struct {
  uint8_t owner; /* BR__OWN_* */
  uint8_t flags; /* BR__REQ_* */
  uint32_t idx;  /* worker: index in its transact() call */
} br__req;

/* One side of the bridge: the client or the target.  Private. */
typedef struct br__side {
  br_t *br;
  const char *name; /* "client", "target" */
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
    uv_tty_t tty;
  } h;
  union { /* stdio only: stdout, when reading stdin */
    uv_handle_t handle;
    uv_stream_t stream;
    uv_pipe_t pipe;
    uv_tty_t tty;
  } w;
  uv_stream_t *rd, *wr;
  int up;      /* connected and reading */
  int handles; /* handles open or closing */
  int client;  /* an RSP client's side (the controller's or an observer's) */
  int noack;   /* this side is in no-ack mode */
  int paused;  /* reading stopped for back-pressure */
  int writing; /* a uv_write of fly is in flight */
  unsigned naks;
  unsigned bad;
  rsp_parser parser;
  br_buf acc; /* bytes waiting to be written */
  br_buf fly; /* bytes being written */
  uv_write_t wreq;
  size_t last_len; /* the last frame sent, for retransmission on '-' */
  char last[BR_FRAME_MAX];
  char body[BR_BODY_MAX];
  char rbuf[BR_READ_SIZE];
} br__side;

/* An RSP client session (sessions.c): its side (own parser, ack and no-ack
 * state), and as an observer its requests, served one at a time. */
typedef struct br__sess {
  br__side s; /* first: a client side is its session */
  struct br__sess *next;
  unsigned id;   /* 1, 2, ... in the order they came */
  char peer[64]; /* "127.0.0.1:50123", "unix", "stdio" */
  int mp;        /* its qSupported offered multiprocess+ */
  /* Observer requests waiting: [u32 len][body]...; the head runs when busy. */
  br_buf q;
  size_t q_off;
  unsigned q_count;
  int busy;      /* the head request is forwarded or a job */
  uint64_t q_t0; /* uv_hrtime() when the head request came */
  int q_paused;  /* the head request paused the guest */
  int own_state; /* it chose a memory mode or context: its reads are jobs */
  int abandon;   /* its running command was given up: its reply is dropped */
} br__sess;

/* A repeated log line (loop thread): printed once a second at most, the
 * rest counted and summarised (see br__log_rl in log.c). */
#define BR_LOG_SLOTS 8
typedef struct {
  const char *key; /* the call site's format string */
  int level;
  uint64_t since; /* uv_now() when it was last printed */
  unsigned n;     /* not printed since */
  char text[96];  /* the start of the last line, for the summary */
} br__logrl;

/* A worker transaction, shared between the worker and the loop. */
typedef struct br__wtx br__wtx;

/* A job for someone other than the RSP client (jobs.c). */
struct br__xjob {
  br_job_cb cb;
  void *arg;
  br_job_fn fn;
  void *fn_arg;
  char *body; /* malloc'd */
  size_t len;
  uint64_t seq;  /* client requests taken before it */
  unsigned sess; /* an observer's request (its session id), or 0 */
};

/* The bridge.  Fields are grouped by the thread that may touch them; a
 * field is moved between groups only with the code that uses it. */
struct br {
  /* ==== Public, and fixed once br_start() returns: any thread reads. ==== */
  void *data;
  br_config cfg;
  uv_loop_t *loop;
  const svc_ops *ops; /* cfg.service, or br_forward_ops */
  svc *svc;           /* made by ops->create; the service has its own rules (service.h) */

  /* ==== Worker plumbing, set up by br_start() before the worker runs. ==== */
  uv_thread_t thread;
  int thread_started;
  uv_async_t async; /* uv_async_send() from the worker */
  uv_mutex_t mtx;
  uv_cond_t cond;

  /* ==== Loop thread only. ==== */
  /* Lifecycle (bridge.c). */
  int started;
  int closing;
  int open_handles;
  br_close_cb close_cb;
  int stopped;                   /* on_stop called */
  br__logrl logrl[BR_LOG_SLOTS]; /* log.c */
  uv_idle_t spin;                /* active while busy-polling (cfg.busy_poll_us) */
  uint64_t last_io;              /* uv_hrtime() of the last bytes read */

  /* Listener and client session (client.c). */
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } listener;
  int listening;
  int accept_pending;  /* a connection waits until the client slot frees */
  int accept_deferred; /* accept_check decides on a connection that came while a client is up */
  union {
    uv_handle_t handle;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } reject;
  int reject_busy;
  int listen_port;         /* after br_start, for TCP */
  uv_check_t accept_check; /* a second connection is decided after this iteration's I/O */
  br__side *c;             /* the controller's side, or &c_none */
  br__side c_none;         /* no controller: never up */
  unsigned client_gen;
  int client_stdio;
  int client_mp;              /* the client's qSupported offered multiprocess+ */
  char scratch[BR_FRAME_MAX]; /* merged qSupported, local replies */

  /* Sessions (sessions.c): every RSP client; br->c is the controller's. */
  br__sess *sessions;
  br__sess *ctl;         /* the controller, or NULL */
  unsigned sess_next;    /* the last session id given */
  char qsup_reply[1024]; /* the last merged qSupported reply, for observers */
  size_t qsup_reply_len;
  /* The controller's last resume, replayed after an observer's pause. */
  char ctl_resume[256];
  size_t ctl_resume_len; /* 0: too long or not replayable (vRun, vAttach) */
  int ctl_resume_step;   /* a step: observers wait for it, no pause */
  uint8_t ctl_resume_flags;
  int pz_state;      /* BR__PZ_*: a pause for observers */
  int pz_ctl_intr;   /* the controller sent ^C during the pause */
  char pz_stop[256]; /* the stop reply our ^C caused */
  size_t pz_stop_len;
  uint64_t pz_t0;      /* uv_hrtime() when our ^C went */
  uv_timer_t pz_timer; /* --timeout for the stop our ^C asks; run out: br__pause_stuck() */
  uint64_t pz_count, pz_ns_total, pz_ns_max; /* pauses so far */
  unsigned fobs;                             /* upstream entries owned by observers */
  int obs_pumping;                           /* br__obs_pump() runs */

  /* Target connection and state (target.c). */
  br__side t; /* target */
  int tstate; /* BR__T_* */
  uv_connect_t treq;
  uv_timer_t retry_timer;
  int retries; /* attempts since the last loss */
  int ever_connected;
  int need_replay;                  /* reconnected under a live session: replay its setup */
  const char *retry_pending_reason; /* retry once the handle is closed */
  unsigned target_psize;
  /* What the client set up on the target, replayed after a reconnect. */
  char sess_qsupported[512];
  size_t sess_qsupported_len;
  int sess_xml;
  int target_mp;     /* the target's qSupported reply had multiprocess+ */
  int kill_pending;  /* a forwarded k waits for the target's W/X (or its close) */
  int intr_sent;     /* a ^C went up while a resume was pending */
  int intr_deferred; /* the client's ^C came during another's job: for its resume */
  int t_lost;        /* the target connection was lost and not yet re-made */
  /* The ack for the target's last reply, held back to ride with the next
   * request (one write fewer per round trip); ack_timer sends it alone if
   * no request follows soon. */
  uv_timer_t ack_timer;
  int t_ack_pending;
  /* Finishing the target connection: svc_finish() runs on the worker as
   * its last job before the connection is closed (a client leaving, or
   * br_close()), bounded by fin_timer. */
  int release_after_job; /* the client left during a service command */
  int shutting;          /* br_close() called: the bridge closes once finished */
  int fin_then;          /* BR__FIN_*: what follows the finish job */
  uv_timer_t fin_timer;
  uv_shutdown_t shutdown_req;

  /* Upstream pipe (upstream.c). */
  br__req fifo[BR_FIFO_CAP];
  unsigned fhead, fcount;
  unsigned fclient; /* entries owned by the client */
  unsigned forphan;
  uv_timer_t req_timer;
  uint64_t progress_at; /* uv_now() of the last reply (see BR_CONSOLE_TIMEOUTS) */
  /* Client requests waiting their turn: [u32 len][i32 action][body]... */
  br_buf pend;
  size_t pend_off; /* the first waiting request is at pend.p + pend_off */
  unsigned pend_count;
  uint64_t req_seq; /* client requests taken so far */

  /* Jobs for others (jobs.c): a ring, its head runs when x_running. */
  struct br__xjob xq[BR_XJOB_MAX];
  unsigned xhead, xcount;
  int x_running;
  unsigned t_losses;  /* target losses so far */
  unsigned x_losses;  /* t_losses when the running job started */
  uv_timer_t xlinger; /* no client: releases the target the jobs connected */

  /* ==== Under mtx: either thread, holding br->mtx. ==== */
  int wk_quit;
  int wk_has_job;
  int wk_busy;         /* loop's view: a job is running */
  int wk_idle;         /* the worker waits for a job (svc_handle() returned) */
  unsigned wk_job_gen; /* client_gen of the job */
  int wk_job_qsup;     /* the job is a qSupported: merge its reply */
  int wk_job_rcmd;     /* the job is a monitor command (qRcmd) */
  int wk_job_finish;   /* the job is svc_finish() */
  int wk_fin_done;     /* svc_finish() returned */
  int wk_cut;          /* transact() fails at once: the finishing deadline passed */
  int wk_abandoned;    /* the client gave up on it: output and reply dropped */
  int wk_client_ok;    /* output() may still reach the client */
  br__wtx *wtx;        /* submitted by the worker */
  br__wtx *ltx;        /* accepted by the loop (only the loop sets it non-NULL) */
  br_buf wout;         /* O frames from the worker, for the client */
  br_buf rx;           /* replies for the current transaction */
  struct br__rxent *rxe;
  size_t rxe_len, rxe_cap;
  int wk_reply_ready;
  br_buf wreply;
  char job[BR_BODY_MAX];
  size_t job_len;
  char fast[BR_BODY_MAX]; /* a reply served on the loop thread (serve_cached) */
  int wk_job_ext;         /* the job is xq's head: output to xout */
  br_job_fn wk_job_fn;    /* run in place of svc_handle() */
  void *wk_job_fn_arg;
  unsigned wk_job_sess; /* the job is an observer's (its session id), or 0 */
  br_buf xout;
  int xout_over;

  /* ==== Worker thread only (but wk_intr: set by the loop, read by the
   * worker without the lock, a flag polled by interrupted()). ==== */
  int wk_replied;
  volatile int wk_intr; /* ^C during the current job */
};

/* BR__OWN_OBS: an observer's forwarded request, idx its session id. */
enum { BR__OWN_CLIENT = 0, BR__OWN_WORKER, BR__OWN_INTERNAL, BR__OWN_ORPHAN, BR__OWN_OBS };

/* A pause for observers (sessions.c). */
enum { BR__PZ_NONE = 0, BR__PZ_INTR, BR__PZ_HELD };

enum {
  BR__REQ_RESUME = 1, /* the reply is a stop reply, it may take forever */
  BR__REQ_QSUP = 2,   /* qSupported: merge the reply */
  BR__REQ_STOPQ = 4,  /* '?': the reply is a stop reply */
  BR__REQ_MEM = 8,    /* m or x: an error must be "Enn" (see br__client_fail) */
  BR__REQ_VKILL = 16  /* vKill: the target may exit before it answers */
};

/* br__fifo_disown(): what else it lets go of. */
enum {
  BR__DISOWN_ALL = 1, /* the worker's and the bridge's requests too */
  /* A vKill gets OK: a target that exits on vKill may close before it
   * answers; the process is gone, which is what the client asked for. */
  BR__DISOWN_VKILL_OK = 2,
  BR__DISOWN_OBS = 4 /* the observers' requests too */
};

/* What br__dispatch() did with a client request. */
enum { DISPATCH_DONE = 0, DISPATCH_WAIT = 1 };

enum { BR__T_IDLE = 0, BR__T_CONNECTING, BR__T_UP, BR__T_CLOSING };

/* What follows the finish job (svc_finish() on the worker). */
enum { BR__FIN_NONE = 0, BR__FIN_RELEASE, BR__FIN_CLOSE };

struct br__rxent {
  size_t off, len;
  uint32_t idx;
};

struct br__wtx {
  const svc_req *reqs;
  size_t n;
  size_t sent, got; /* loop thread */
  int status;       /* under mtx */
  int accepted;     /* under mtx */
  int done;         /* under mtx */
};

/* Logging (log.c). */
/* A line a peer can repeat at will: printed once a second per call site
 * (fmt), the rest counted and summarised. */
void br__log_rl(br_t *br, int level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Prints the counts of the lines br__log_rl() held back. */
void br__log_rl_flush(br_t *br);
/* --trace: one packet, timestamped, with its direction. */
void br__trace(br_t *br, const char *dir, const char *what, const char *body, size_t len);

/* Target transports (serial.c). */
/* Opens cfg.target (BR_ADDR_SERIAL) raw, non-blocking: an fd or a negative
 * error. */
int br__open_serial(br_t *br);

/* Defined in bridge.c (upstream split). */
int br__buf_reserve(br_buf *b, size_t extra);
void br__flow_check(br_t *br);
void br__flush_all(br_t *br);
void br__client_reply(br_t *br, const char *body, size_t len);
int br__is_mem_read(const char *b, size_t len);
void br__client_fail(br_t *br, int mem, const char *why);
void br__wtx_fail(br_t *br, int status);
void br__target_lost(br_t *br, const char *why);
int br__dispatch(br_t *br, const char *b, size_t len, int *action);
extern const char *const br__why_noconn;

/* Defined in upstream.c (upstream split). */
br__req *br__fifo_at(br_t *br, unsigned i);
int br__fifo_push(br_t *br, uint8_t owner, uint8_t flags, uint32_t idx);
br__req br__fifo_pop(br_t *br);
void br__fifo_clear(br_t *br);
void br__fifo_disown(br_t *br, const char *why, unsigned how);
void br__pend_drop(br_t *br, const char *why);
void br__timer_kick(br_t *br, int progress);
int br__pend_push(br_t *br, const char *b, size_t len, int action);
void br__drain_pending(br_t *br);

/* Defined in bridge.c (target split). */
int br__side_raw(br__side *s, const char *d, size_t n);
int br__side_send(br__side *s, const char *body, size_t len, unsigned flags);
void br__ack_flush(br_t *br);
void br__ack_later(br_t *br);
void br__side_flush(br__side *s);
void br__close_handle(br_t *br, uv_handle_t *h, uv_close_cb cb);
const char *br__err_body(br_t *br, int mem, const char *why, char *buf, size_t cap);
size_t br__merge_qsupported(br_t *br, const char *in, size_t len, char *out, size_t cap);
void br__wtx_reply(br_t *br, uint32_t idx, const char *body, size_t len, int final);
void br__wtx_topup(br_t *br);
void br__job_start_finish(br_t *br);
void br__alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
void br__read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
void br__stop(br_t *br, int status, const char *why);
void br__maybe_finish_close(br_t *br);
void br__close_now(br_t *br);
extern const char *const br__why_lost;

/* Defined in target.c (target split). */
void br__target_closed(uv_handle_t *h);
void br__target_connect(br_t *br);
int br__finish_start(br_t *br, int then);
void br__target_release(br_t *br);
void br__fin_follow(br_t *br, int then);
void br__fin_timer_cb(uv_timer_t *t);
extern const rsp_parser_settings br__t_settings;

/* Defined in bridge.c (client split). */
int br__eq(const char *b, size_t len, const char *s);
int br__is_resume(const char *b, size_t len);
void br__job_start(br_t *br, const char *body, size_t len);
void br__abandon_job(br_t *br);

/* Defined in client.c (client split). */
void br__try_accept(br_t *br);
void br__client_up(br_t *br, br__sess *o);
void br__client_drop(br_t *br, const char *why);
void br__connection_cb(uv_stream_t *server, int status);
extern const rsp_parser_settings br__c_settings;

/* Defined in sessions.c. */
br__sess *br__sess_new(br_t *br);
br__sess *br__sess_find(br_t *br, unsigned id);
void br__sess_free(br_t *br, br__sess *o);
void br__sess_closed(uv_handle_t *h);
unsigned br__sess_count(const br_t *br, int open);
void br__sess_close_all(br_t *br);
void br__sess_free_all(br_t *br);
void br__obs_drop(br__sess *o, const char *why);
void br__obs_reply(br_t *br, unsigned id, const char *b, size_t len, int final, int qsup);
void br__obs_fail(br_t *br, unsigned id, int mem, const char *why);
int br__obs_pump(br_t *br);
int br__pause_stop(br_t *br, const char *b, size_t len);
/* The target ignored the ^C of a pause for --timeout: observers' requests
 * that need it stopped fail at once instead of waiting. */
int br__pause_stuck(const br_t *br);
extern const char br__why_nopause[];
void br__pause_ctl_gone(br_t *br);
void br__pause_lost(br_t *br);
int br__session_rcmd(br_t *br, br__sess *who, const char *b, size_t len);
void br__ctl_resume_note(br_t *br, const char *b, size_t len, uint8_t flags);
extern const rsp_parser_settings br__o_settings;

/* Defined in jobs.c. */
int br__client_running(const br_t *br);
int br__xjob_try(br_t *br);
int br__xjob_push(br_t *br, const char *body, size_t len, unsigned sess, br_job_cb cb, void *arg);
void br__xjob_complete(br_t *br);
void br__xjob_cancel(br_t *br, int status, int all);
void br__xlinger_cb(uv_timer_t *t);

#endif /* BR_INT_H */
