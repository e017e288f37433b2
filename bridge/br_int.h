/* br_int.h - private to the bridge core (the .c files of bridge/): the types and the
 * helpers shared by its files.  Threads: see bridge.h; br__log() is safe on
 * any thread, br__log_rl() and br__trace() on the loop thread only. */
#ifndef BR_INT_H
#define BR_INT_H

#include "bridge.h"

enum { BR__OWN_CLIENT = 0, BR__OWN_WORKER, BR__OWN_INTERNAL, BR__OWN_ORPHAN };

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
  BR__DISOWN_VKILL_OK = 2
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
void br__client_closed(uv_handle_t *h);
void br__client_up(br_t *br);
void br__client_drop(br_t *br, const char *why);
void br__connection_cb(uv_stream_t *server, int status);
extern const rsp_parser_settings br__c_settings;

#endif /* BR_INT_H */
