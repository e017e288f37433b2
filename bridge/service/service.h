/* service.h - the bridge's own services: monitor commands, memory cache,
 * address-space contexts, physical-access backends, target discovery.
 *
 * Contract between the bridge core (the .c files of bridge/: libuv loop, connections,
 * forwarding) and the service (bridge/service/: everything that needs more
 * than forwarding).
 *
 * Threads.  The core runs the libuv loop on one thread.  Work that needs
 * upstream round trips runs on ONE worker thread owned by the core: the
 * core calls svc_handle() there, one client request at a time (RSP clients
 * have at most one request outstanding).  Inside svc_handle() the service
 * talks to the target with the blocking io->transact(), which the core
 * implements by queueing the requests on the upstream pipe (in order,
 * pipelined) and waking the worker when the replies are in.
 *
 * The loop thread calls only svc_classify(), svc_event() and
 * svc_interrupt(); those are cheap and thread-safe.
 */
#ifndef SVC_SERVICE_H
#define SVC_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct svc svc;

/* One upstream request body (not framed). */
typedef struct {
  const char *body;
  size_t len;
} svc_req;

/* Reply i of a transact() call, in the worker thread.  The body is only
 * valid during the call.  Return non-zero to mark the transaction failed
 * (the remaining replies are still consumed so the pipe stays in sync).
 * Console output the target sends before a final reply (the 'O' packets of
 * a qRcmd) is delivered the same way, with the same i, before that reply. */
typedef int (*svc_reply_cb)(void *arg, size_t i, const char *body, size_t len);

typedef struct {
  /* Worker thread, blocking: send n requests upstream in order (the core may
   * pipeline them), wait for their n replies and deliver each in order.
   * Returns 0, or a negative error (target gone, timeout) after which some
   * replies may not have been delivered. */
  int (*transact)(void *ctx, const svc_req *reqs, size_t n, svc_reply_cb on_reply, void *arg);
  /* Worker thread: console text for the client, sent as one or more 'O'
   * packets (the core hex-encodes and chunks).  May block for flow control.
   * Returns 0 or a negative error (client gone). */
  int (*output)(void *ctx, const char *text, size_t len);
  /* Worker thread: non-zero once the client sent ^C (0x03) during the
   * current svc_handle(); long operations poll it and stop early. */
  int (*interrupted)(void *ctx);
  /* Worker thread: the final reply to the client request being handled.
   * Called exactly once per svc_handle(). */
  void (*reply)(void *ctx, const char *body, size_t len);
  /* Any thread: a log line (level 0 = info, 1 = -v, 2 = -vv). May be NULL. */
  void (*log)(void *ctx, int level, const char *msg);
} svc_io;

typedef struct {
  size_t cache_bytes;       /* --cache-size; 0 disables the cache */
  int read_only;            /* --read-only: refuse physical writes */
  const char *phys_backend; /* "auto" (NULL), "qemu", "offset:OFF", "none" */
  uint64_t root_override;   /* --root, when has_root_override */
  int has_root_override;
  /* --monitor: which commands go on to the target's own monitor (QEMU's
   * HMP).  SVC_MON_ALL (the default) forwards every one; SVC_MON_READ_ONLY
   * only those on a read-only allow-list (`info ...`, `gva2gpa`, `x`, `xp`,
   * `help`, `?`); SVC_MON_NONE none.  read_only implies at least
   * SVC_MON_READ_ONLY. */
  int monitor_policy;
  /* --save-dir: the directory `phys read ... --file NAME` creates NAME in
   * (never overwriting); NULL: --file is refused. */
  const char *save_dir;
} svc_config;

enum { SVC_MON_ALL = 0, SVC_MON_READ_ONLY = 1, SVC_MON_NONE = 2 };

/* Loop thread: what to do with a client request body. */
enum svc_action {
  SVC_FORWARD = 0,        /* forward unchanged; no service involvement */
  SVC_FORWARD_RESUME = 1, /* forward; the target resumes (c, s, vCont, ...):
                             the core calls svc_event(SVC_EV_RESUME) first */
  SVC_HANDLE = 2          /* the core must call svc_handle() on the worker */
};

enum svc_event {
  SVC_EV_RESUME = 1,    /* target resumed or stepped: drop cache and registers */
  SVC_EV_STOP = 2,      /* a stop reply was forwarded to the client */
  SVC_EV_CONNECT = 3,   /* (re)connected upstream: forget everything learned */
  SVC_EV_DETACH = 4,    /* client detached or disconnected: its context and
                           its QEMU memory mode end with it */
  SVC_EV_REG_WRITE = 5, /* forwarded a register write (P, G) */
  SVC_EV_LOST = 6       /* the target connection was lost: nothing cached
                           from it may be served any more */
};

/* Returns NULL on allocation failure.  io and ctx must outlive the svc. */
svc *svc_new(const svc_io *io, void *ctx, const svc_config *cfg);
void svc_free(svc *s);

/* Loop thread: the target's PacketSize from its qSupported reply (0 if it
 * gave none) and the largest the bridge takes from the client.  Returns the
 * PacketSize to offer the client: the service splits client reads and
 * writes into packets the target takes. */
unsigned svc_set_packet_size(svc *s, unsigned target, unsigned ours);
/* Any thread: QEMU's process id (--exec, --qemu-pid); physical reads of
 * guest RAM then come from its memory when the kernel allows (local.c). */
void svc_set_qemu_pid(svc *s, int pid);

/* Loop thread.  May record cheap state (e.g. the Hg thread). */
enum svc_action svc_classify(svc *s, const char *body, size_t len);
void svc_event(svc *s, enum svc_event ev);
void svc_interrupt(svc *s);

/* Loop thread, only while the worker thread is idle (no svc_handle() runs
 * or is about to): answers a client 'm' whose every byte is in the cache,
 * writing the hex reply body to out.  Returns its length, or -1 when the
 * request must go to svc_handle() (a miss, a context, an invalidation not
 * yet applied, ...).  The answer is the one svc_handle() would give. */
int svc_serve_cached(svc *s, const char *body, size_t len, char *out, size_t cap);

/* Worker thread.  Handles one client request (classified SVC_HANDLE), e.g.
 * qRcmd (our commands; unknown ones are forwarded with transact), m/M/X
 * served from the cache or translated through a context, qSupported
 * merging.  Calls io->reply exactly once. */
void svc_handle(svc *s, const char *body, size_t len);

/* Worker thread, between svc_handle() calls: the calls that follow serve
 * RSP session id (0: the controller, the one client of everything else
 * here; n: an observer of the bridge's --sessions).  Each session has its
 * own memory mode (Qqemu.PhyMemMode) and context (monitor context); the
 * cache and what was learned of the target are shared.  The core switches
 * back to 0 before it reads svc_classify() again. */
void svc_session(svc *s, unsigned id);

/* Worker thread, blocking: the core's last job before it closes the target
 * connection (shutdown, or the bridge giving up on the target).  Puts back
 * whatever a service command or the client may have left changed on the
 * target (QEMU's physical-memory mode: virtual, as a new debugger expects;
 * nothing is sent when nothing was switched) and returns 0, or a negative
 * error when that could not be confirmed.  Never calls io->reply; may call io->transact.  The core
 * bounds it with its request timeout. */
int svc_finish(svc *s);

/* The service as the core sees it: an ops table, chosen at run time
 * (br_config.service), so that a program or a test picks the service it
 * runs, real or fake.  Each op is the function of the same name above
 * (create: svc_new), with its thread rules.  Every op is required except session: NULL when
 * the service keeps one memory mode and context for every session. */
typedef struct {
  svc *(*create)(const svc_io *io, void *ctx, const svc_config *cfg);
  void (*free)(svc *s);
  unsigned (*set_packet_size)(svc *s, unsigned target, unsigned ours);
  enum svc_action (*classify)(svc *s, const char *body, size_t len);
  void (*event)(svc *s, enum svc_event ev);
  void (*interrupt)(svc *s);
  int (*serve_cached)(svc *s, const char *body, size_t len, char *out, size_t cap);
  void (*handle)(svc *s, const char *body, size_t len);
  void (*session)(svc *s, unsigned id);
  int (*finish)(svc *s);
} svc_ops;

/* This service (bridge/service/, library rsp_service): the functions
 * above.  svc_set_qemu_pid() and the rest of this header take only an svc
 * made by its create. */
extern const svc_ops svc_walker_ops;

#ifdef __cplusplus
}
#endif
#endif /* SVC_SERVICE_H */
