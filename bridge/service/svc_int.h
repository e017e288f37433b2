/* svc_int.h - internals of the bridge service (not part of the contract).
 *
 * Everything here runs on the worker thread unless it says otherwise.  The
 * loop thread only touches the atomics in struct svc (generation counter,
 * interrupt flag, selected thread, context/cache switches).
 */
#ifndef SVC_INT_H
#define SVC_INT_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "service.h"

/* The cache unit.  QEMU's largest 'm' is 0x800 bytes, so a unit is one
 * upstream request there (a target with a smaller PacketSize fills it in
 * several); every supported paging mode maps at least 4 KiB, so a unit is
 * either wholly mapped or wholly unmapped. */
#define SVC_CPAGE     0x800u
/* Largest 'm'/'M' payload sent upstream, whatever the target's PacketSize
 * (QEMU 7.2: PacketSize 0x1000, and it drops packets of 4096+ chars), and
 * the defaults while the target's PacketSize is unknown. */
#define SVC_MAX_M     0x800u
#define SVC_MAX_MW    0x7c0u
/* Output is flushed to the client in chunks of about this size. */
#define SVC_OUT_CHUNK 2048u

/* ------------------------------------------------------------------------
 * Growing text buffer. */
typedef struct {
  char *p;
  size_t len, cap;
  int oom;
} svc_sb;
void svc__sb_init(svc_sb *b);
void svc__sb_free(svc_sb *b);
/* Room for n more bytes and a NUL at the end of b (len is not changed), or
 * NULL when memory ran out (b->oom is then set). */
char *svc__sb_room(svc_sb *b, size_t n);
void svc__sb_add(svc_sb *b, const char *s, size_t n);
void svc__sb_puts(svc_sb *b, const char *s);
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void svc__sb_printf(svc_sb *b, const char *fmt, ...);
void svc__sb_vprintf(svc_sb *b, const char *fmt, va_list ap);
/* JSON string literal, quoted and escaped. */
void svc__sb_json_str(svc_sb *b, const char *s, size_t n);

/* ------------------------------------------------------------------------
 * Command-line tokens. */
#define SVC_MAX_TOK  24
/* Longest monitor command line (phys write takes 512 bytes: 1024 digits). */
#define SVC_LINE_MAX 2047
typedef struct {
  char buf[SVC_LINE_MAX + 1];
  char *tok[SVC_MAX_TOK];
  int n;
} svc_args;
/* Splits on blanks; returns the token count, -1 if too long, -2 if too
 * many tokens. */
int svc__split(svc_args *a, const char *line, size_t len);
/* Hex number with optional 0x and '`' / '_' separators (like 0xffff8000`00001000).
 * Returns 0 or -1. */
int svc__parse_num(const char *s, uint64_t *v);
/* Hex byte string ("deadbeef", "de ad", "0xde") into buf; returns its length or -1. */
int svc__parse_bytes(const char *s, uint8_t *buf, size_t cap);

/* ------------------------------------------------------------------------
 * Page cache: (address space, unit address) -> SVC_CPAGE bytes, LRU. */
typedef struct svc_cpage svc_cpage;
struct svc_cpage {
  uint64_t as, addr;
  svc_cpage *hnext;
  svc_cpage *prev, *next;
  uint8_t data[SVC_CPAGE];
};
typedef struct {
  size_t max; /* in units; 0 = cache disabled */
  size_t n;
  svc_cpage **bucket;
  size_t nbucket;
  svc_cpage lru; /* sentinel: lru.next is the most recent */
  uint64_t hits, misses, evictions, flushes, inserts;
} svc_cache;
int svc__cache_init(svc_cache *c, size_t bytes);
void svc__cache_free(svc_cache *c);
void svc__cache_flush(svc_cache *c);
/* Flush every unit except those of as overlapping [lo, hi) (after a write
 * there: other units may alias the written bytes through another mapping). */
void svc__cache_flush_except(svc_cache *c, uint64_t as, uint64_t lo, uint64_t hi);
const uint8_t *svc__cache_get(svc_cache *c, uint64_t as, uint64_t addr);
/* Whether a unit is cached, without counting a hit or a miss or touching
 * the LRU order. */
int svc__cache_peek(const svc_cache *c, uint64_t as, uint64_t addr);
void svc__cache_put(svc_cache *c, uint64_t as, uint64_t addr, const uint8_t *data);
/* Update len bytes at addr (any alignment) in units that are cached. */
void svc__cache_update(svc_cache *c, uint64_t as, uint64_t addr, const uint8_t *data, size_t len);

/* Address spaces of the cache. */
#define SVC_AS_PHYS              0u
/* The client's own reads while it put QEMU in physical mode
 * (Qqemu.PhyMemMode:1): physical bytes, but as the target gives them
 * (no RAM-map check), so kept apart from the bridge's. */
#define SVC_AS_CLIENT_PHYS       2u
#define SVC_AS_VIRT(thread_hash) (1u + ((uint64_t)(thread_hash) << 1))

/* The address space of the client's own m/M/X: virtual under the selected
 * thread, or physical when the client switched QEMU to physical mode. */
#define svc__client_as(s) \
  (atomic_load(&(s)->cmode_pub) ? SVC_AS_CLIENT_PHYS : SVC_AS_VIRT(atomic_load(&(s)->thread)))

/* ------------------------------------------------------------------------
 * Target description. */
#define SVC_MAX_REGS 1024
typedef struct {
  char name[32];
  int num;
  int bits;
} svc_reg;
enum svc_tarch {
  SVC_ARCH_UNKNOWN = 0,
  SVC_ARCH_X86,
  SVC_ARCH_X86_64,
  SVC_ARCH_AARCH64,
  SVC_ARCH_RISCV
};
typedef struct {
  int loaded;
  char arch_name[64];
  enum svc_tarch arch;
  svc_reg *regs;
  int nregs, capregs;
  int docs; /* documents read, including includes */
} svc_tdesc;
const svc_reg *svc__tdesc_find(const svc_tdesc *t, const char *name);

/* ------------------------------------------------------------------------
 * Physical RAM map (from `info mtree -f`). */
typedef struct {
  uint64_t lo, hi; /* inclusive */
  char kind;       /* 'r' ram/rom, 'i' i/o */
  char name[24];
} svc_region;

enum svc_phys_kind { SVC_PHYS_NONE = 0, SVC_PHYS_QEMU, SVC_PHYS_OFFSET };

/* Result codes of physical and virtual accesses. */
enum {
  SVC_OK = 0,
  SVC_ENOPAGE = -1, /* no physical page (unassigned PA) */
  SVC_EMMIO = -2,   /* PA is an I/O region: not read */
  SVC_ETARGET = -3, /* target answered an error */
  SVC_EIO = -4,     /* transport failure */
  SVC_ENOBACK = -5, /* no physical backend */
  SVC_EINTR = -6,   /* interrupted by the client */
  SVC_ENOMEM = -7,
  SVC_EREADONLY = -8
};

/* One physical read (len <= SVC_MAX_M). */
typedef struct {
  uint64_t pa;
  size_t len;
  uint8_t *buf;
  int rc; /* out: SVC_OK or SVC_E* */
} svc_prd;

/* One upstream read (mread.c): addr as sent in the 'm' packet. */
typedef struct {
  uint64_t addr;
  size_t len;
  uint8_t *buf;
  size_t got;  /* out: bytes read from addr on (a prefix) */
  int rc;      /* out: SVC_OK when all len bytes came, else SVC_ETARGET */
  char err[8]; /* out: the target's error reply, if one came ("E14") */
} svc_mrd;
/* Reads the n ranges in pieces the target takes, pipelined; short replies
 * are data and the rest is asked again.  pre, if not NULL, is sent first in
 * the same transaction (QEMU's physical-mode switch); *pre_ok says whether
 * it was answered OK.  Returns 0 or SVC_EIO (transport) / SVC_ENOMEM. */
int svc__mread(svc *s, svc_mrd *r, size_t n, const char *pre, int *pre_ok);

/* ------------------------------------------------------------------------
 * The service. */
#define SVC_MAX_UNCACHED 32
struct svc {
  const svc_io *io;
  void *ctx;
  svc_config cfg;
  char backend_arg[64];

  /* Shared with the loop thread. */
  atomic_uint gen;      /* bumped by every invalidating event */
  atomic_uint conn_gen; /* bumped by SVC_EV_CONNECT */
  atomic_int intr;      /* svc_interrupt() */
  atomic_int ctx_on;    /* a context root is set */
  atomic_int cache_on;  /* cache enabled */
  atomic_ullong thread; /* hash of the Hg thread id */
  atomic_uint max_m;    /* largest m the target answers (its PacketSize / 2) */
  atomic_uint max_w;    /* largest M payload the target takes */
  atomic_uint max_pkt;  /* the target's PacketSize (0: unknown) */
  atomic_uint client_m; /* largest m the client may send (our PacketSize / 2) */
  /* QEMU's physical-memory mode.  The target must be in the client's mode
   * (cmode) whenever a client request reaches it: mode_ok == mode_ev says
   * so; otherwise memory requests are classified SVC_HANDLE and the worker
   * puts the client's mode back first (after a failed transaction, a
   * reconnect, a new client). */
  atomic_uint mode_ev;    /* bumped by SVC_EV_CONNECT / SVC_EV_DETACH */
  atomic_uint mode_ok;    /* the mode_ev value the target is known good for */
  atomic_int cmode_pub;   /* cmode, for the loop thread (cache address space) */
  atomic_uint detach_gen; /* bumped by SVC_EV_DETACH: the client left or detached */
  atomic_int detached;    /* the target has no process attached (after D) */
  atomic_int qemu_pid;    /* svc_set_qemu_pid(): the local backend's process */

  /* Worker state. */
  unsigned seen_gen, seen_conn;
  svc_cache cache;
  svc_cache scratch; /* per command, when the cache is off: reads stay consistent */
  size_t cache_bytes;
  svc_tdesc td;
  int discovered;
  int qemu_phys; /* qqemu.Supported lists PhyMemMode */
  enum svc_phys_kind phys;
  uint64_t phys_off;
  int phys_forced;  /* backend chosen by config or command */
  int tmode;        /* QEMU's mode as far as known: 0, 1, or -1 unknown */
  int cmode;        /* the mode the client chose (Qqemu.PhyMemMode) */
  int mode_touched; /* a mode switch went to the target */
  unsigned seen_mode_ev, seen_detach;
  int bulk;      /* a long dump: use cached units, do not insert (keeps the tables) */
  int x_support; /* the target accepts X: -1 unknown, 0 no, 1 yes */
  svc_region *ram;
  int nram;
  int ram_known;
  uint64_t ctx_root;
  int arch_forced;
  int arch_mode; /* forced arch mode (arch.h id) */
  struct {
    uint64_t lo, hi;
  } unc[SVC_MAX_UNCACHED];
  int nunc;
  /* Register snapshot. */
  unsigned regs_gen;
  uint64_t regs_thread;
  int regs_valid;
  struct {
    const char *name;
    uint64_t val;
    int have;
  } snap[8];
  int nsnap;
  /* x86-64 CR3 as QEMU's monitor shows it (walk.c cr3_compat), per stop. */
  int cr3_fix_valid;
  unsigned cr3_fix_gen;
  uint64_t cr3_fix_thread, cr3_fix_rip, cr3_fix_in, cr3_fix_val;
  int cr3_fix_rc;
  struct svc_local *local; /* local.c: guest RAM read from QEMU's process */
  /* Statistics. */
  uint64_t n_transact, n_requests;
  /* Output of the current command. */
  svc_sb out;
  int out_err;
  int json_mode;      /* the command prints one JSON document */
  double last_out;    /* monotonic seconds of the last output to the client */
  double keepalive_s; /* silence after which svc__keepalive speaks (1 s) */

  struct svc_lldb *lldb; /* lldb.c */
  /* svc_session(): the session served, and the others' own state. */
  unsigned sess_id;
  uint64_t sess_tick;
  struct {
    unsigned id;
    int cmode, ctx_on;
    uint64_t ctx_root, used; /* used: sess_tick when last served, 0: free */
  } sess[8];
};

/* Upstream.  A reply copy for callers that want all replies. */
typedef struct {
  char *body;
  size_t len;
} svc_rep;
int svc__transact(svc *s, const svc_req *reqs, size_t n, svc_reply_cb cb, void *arg);
/* Sends n requests; stores copies of the replies in reps (caller frees with svc__reps_free). */
int svc__transact_copy(svc *s, const svc_req *reqs, size_t n, svc_rep *reps);
void svc__reps_free(svc_rep *reps, size_t n);
/* One request, reply copied to buf (NUL-terminated, truncated to cap-1); returns length or <0. */
int svc__simple(svc *s, const char *req, char *buf, size_t cap);
void svc__log(svc *s, int level, const char *fmt, ...);

/* Worker: apply pending invalidations from the loop thread. */
void svc__sync(svc *s);

/* Discovery. */
int svc__discover(svc *s);
int svc__tdesc_load(svc *s, svc_tdesc *t);
void svc__tdesc_free(svc_tdesc *t);
/* Parses a description; fetch(arg, href, &xml, &len) returns a malloc'ed
 * included document.  Exposed for the tests. */
int svc__tdesc_parse(svc_tdesc *t, const char *xml, size_t len,
                     int (*fetch)(void *arg, const char *annex, char **xml, size_t *len),
                     void *arg);
int svc__ram_load(svc *s);
int svc__rcmd(svc *s, const char *cmd, int relay, svc_sb *text, svc_sb *final);
/* Runs line on the target's monitor, its output relayed, and replies with
 * the target's final answer (E05 when the target gave none); everything
 * learned before it is stale after it. */
void svc__forward_rcmd(svc *s, const char *line);
int svc__ram_parse(const char *text, size_t len, svc_region **out, int *nout);
const svc_region *svc__ram_find(const svc *s, uint64_t pa);
/* How many of the max bytes from a are RAM (qemu backend: contiguous RAM
 * regions of the map; below 4 GiB on x86); when fewer, *why says what is at
 * a + the result.  Other backends: max. */
uint64_t svc__ram_span(const svc *s, uint64_t a, uint64_t max, int *why);

/* The local backend (local.c): reads rd from QEMU's memory when it lies in
 * guest RAM QEMU's process holds; returns 1 (rd->rc set) or 0 (use RSP). */
int svc__local_try(svc *s, svc_prd *rd);
/* The same for a long read (any length) that bypasses the cache. */
int svc__local_bulk(svc *s, uint64_t pa, uint8_t *buf, size_t len, size_t *got);
void svc__local_free(svc *s);

/* Physical access (physical.c). */
int svc__phys_read(svc *s, svc_prd *rds, size_t n);
/* Physical read of any length through the cache; *got = bytes read before the first failure. */
int svc__phys_read_cached(svc *s, uint64_t pa, uint8_t *buf, size_t len, size_t *got);
int svc__phys_write(svc *s, uint64_t pa, const uint8_t *buf, size_t len);
/* The cache physical reads go through: the cache, or the per-command scratch. */
svc_cache *svc__pcache(svc *s);
/* Puts QEMU back in the client's mode (virtual unless the client chose
 * physical) after the bridge's own physical accesses, or when the mode is
 * unknown.  Returns 0 or SVC_EIO. */
int svc__phys_end(svc *s);
/* Puts QEMU in mode m (0 or 1) unless it is known to be in it. */
int svc__mode_set(svc *s, int m);
/* Publishes whether the target is in the client's mode (loop thread). */
void svc__mode_publish(svc *s);
const char *svc__phys_name(const svc *s);
const char *svc__strerror(int rc);
int svc__is_uncached(const svc *s, uint64_t lo, uint64_t len);

/* Registers. */
int svc__regs_get(svc *s, const char *const *names, int n, uint64_t *vals, int *have);

/* Memory requests from the client (memory.c). */
void svc__handle_mem(svc *s, const char *body, size_t len);

/* Monitor commands (commands.c).  Output goes to s->out.  line NULL: the
 * qRcmd could not be decoded (len: its length in characters). */
void svc__monitor(svc *s, const char *line, size_t len);
void svc__out_flush(svc *s);
/* Long operations call this often: when nothing reached the client for a
 * second, it sends the pending output, or a progress line (whitespace in
 * --json mode, where it must not break the document), so that GDB, whose
 * remotetimeout is 2 s, never gives up on a command that is working. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void svc__keepalive(svc *s, const char *fmt, ...);
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void svc__outf(svc *s, const char *fmt, ...);
/* The client went, sent ^C, or output failed: long commands stop. */
int svc__stop_requested(svc *s);

/* LLDB's packets (lldb.c): classify on any thread; handle replies and
 * returns 1 when the packet is one of them. */
int svc__lldb_classify(const char *body, size_t len);
int svc__lldb_handle(svc *s, const char *body, size_t len);
void svc__lldb_free(svc *s);
/* QEMU's `info mem` / `info tlb` where QEMU has none (infomem.c): replies
 * and returns 1 when it answered the monitor line. */
int svc__infomem(svc *s, const char *line, size_t len);

#endif /* SVC_INT_H */
