/* stub.h - a portable gdbstub core.
 *
 * Freestanding: no allocation, no stdio.  The core owns no buffers: the
 * caller hands it one memory area (see STUB_MEM_SIZE) and the core
 * divides it into a receive body, a reply body and a transmit frame.
 *
 * The target is described by data, not code paths:
 *
 *   - an architecture (stub_arch): register table, target XML (generated
 *     from the table unless stored), breakpoint instruction;
 *   - const ops tables for memory, registers, run control, breakpoints,
 *     optional physical memory, an optional monitor hook and optional
 *     threads (CPUs).  Every member
 *     takes the target's context pointer first; a NULL table or a NULL
 *     member means "not supported".
 *
 * The qSupported reply, vCont? and the set of packets answered are derived
 * from what is set, never written twice.  A packet whose operation is not
 * implemented gets the empty reply, which the GDB manual ("Standard
 * Replies") defines as "not supported".
 *
 * Error classes of a target operation (the three of the Rust gdbstub
 * crate):
 *   >= 0                      success (a byte count where one is asked for)
 *   -1 .. -255                non-fatal errno: the client gets "Exx"
 *                             (or "E.message" when stub_set_error() was
 *                             called and the packet allows it)
 *   <= STUB_EFATAL (-256)     fatal: the session ends, feed() returns
 *                             STUB_EFATAL
 *   STUB_EUNAVAIL             (register reads only) value unavailable:
 *                             sent as "xx" per byte
 *
 * Input is pushed in with stub_feed(); output goes through a transport ops
 * table.  Nothing blocks inside the core, so the same core runs in a UART
 * poll loop, an interrupt handler or a libuv callback.
 */
#ifndef STUB_H
#define STUB_H

#include <stddef.h>
#include <stdint.h>

#include "rsp.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
  STUB_EFATAL = -256,   /* this or below: the session ends */
  STUB_EUNAVAIL = -257, /* register value unavailable ("xx") */
  STUB_ECLOSED = -258   /* feed(): the session ended normally (k, D) */
};

/* Common errno values for targets that have no <errno.h>. */
enum { STUB_EPERM = 1, STUB_EIO = 5, STUB_EFAULT = 14, STUB_EINVAL = 22, STUB_ENOSPC = 28 };

/* ------------------------------------------------------------------------
 * Architecture as data.
 */
typedef struct {
  const char *name;    /* as GDB and the bridge look it up: "rip", "cr3", "TTBR0_EL1" */
  uint16_t bitsize;    /* multiple of 8, at most 512 */
  uint16_t offset;     /* byte offset in the 'g' packet / a flat register file */
  const char *group;   /* "general", "float", "system", or NULL */
  const char *type;    /* GDB type: "int64", "code_ptr", "i387_ext"... NULL = "int" */
  const char *feature; /* target XML feature; a change opens a new <feature> */
} stub_reg;

typedef struct {
  const char *xml_arch; /* <architecture>, e.g. "i386:x86-64"; NULL omits it */
  const stub_reg *regs;
  unsigned nregs;
  unsigned g_nregs; /* registers 0..g_nregs-1 travel in 'g'/'G' */
  int pc_regno;
  const uint8_t *bp_insn; /* software breakpoint instruction, or NULL */
  unsigned bp_len;
  unsigned bp_kind; /* the Z0 kind GDB uses for it */
  const char *xml;  /* stored target.xml; NULL = generated from regs */
  /* Type definitions (<flags>, <vector>...) for the generated XML, put at
   * the start of the first feature, whose registers may use them. */
  const char *xml_types;
} stub_arch;

extern const stub_arch stub_arch_x86_64;
extern const stub_arch stub_arch_i386;
extern const stub_arch stub_arch_aarch64;
extern const stub_arch stub_arch_riscv64;

/* Looks a register up by name; its number or -1. */
int stub_arch_find_reg(const stub_arch *a, const char *name);
/* Size of the generated (or stored) target.xml in bytes. */
size_t stub_arch_xml_size(const stub_arch *a);
/* Copies bytes [offset, offset + cap) of target.xml into out; returns the
 * count copied (0 past the end). */
size_t stub_arch_xml_read(const stub_arch *a, uint64_t offset, char *out, size_t cap);

/* ------------------------------------------------------------------------
 * Target ops.
 */
typedef struct stub_core stub_core;

typedef struct {
  /* Returns the bytes read (1..len, a short read is allowed) or an error. */
  int (*read)(void *ctx, uint64_t addr, void *buf, size_t len);
  /* Returns 0 when all bytes were written, or an error. */
  int (*write)(void *ctx, uint64_t addr, const void *buf, size_t len);
} stub_mem_ops;

typedef struct {
  /* len is the register's bitsize / 8, target byte order.  0 or an error
   * (STUB_EUNAVAIL for an unavailable value). */
  int (*read)(void *ctx, unsigned regno, void *buf, size_t len);
  int (*write)(void *ctx, unsigned regno, const void *buf, size_t len);
} stub_reg_ops;

typedef struct {
  /* Resume.  sig is 0 or the signal to deliver.  Returning 0 means the
   * target runs; the port calls stub_report_stop() when it stops (which
   * may happen before cont/step returns). */
  int (*cont)(void *ctx, int sig);
  int (*step)(void *ctx, int sig); /* NULL: GDB single-steps with breakpoints */
  int (*interrupt)(void *ctx);     /* 0x03 or vCont;t while running */
  int (*kill)(void *ctx);
  int (*detach)(void *ctx); /* let the target run freely */
} stub_run_ops;

typedef struct {
  /* Z0/z0.  When NULL and the target has memory writes and the
   * architecture a breakpoint instruction, the core plants breakpoints
   * itself (STUB_MAX_SWBP of them). */
  int (*sw_insert)(void *ctx, uint64_t addr, unsigned kind);
  int (*sw_remove)(void *ctx, uint64_t addr, unsigned kind);
  /* Z1/z1, where the port can. */
  int (*hw_insert)(void *ctx, uint64_t addr, unsigned kind);
  int (*hw_remove)(void *ctx, uint64_t addr, unsigned kind);
} stub_break_ops;

typedef struct {
  /* qRcmd.  Output goes through stub_monitor_output() during the call.
   * Returns 0 (the client gets "OK") or an error. */
  int (*command)(void *ctx, stub_core *core, const char *cmd, size_t len);
} stub_monitor_ops;

typedef struct {
  /* Threads 1..count() (CPUs, for a system target).  select() makes tid
   * the thread that register and memory ops act on (Hg); 0 or an error.
   * Without this table the target has one thread, 1. */
  int (*count)(void *ctx);
  int (*select)(void *ctx, int tid);
} stub_thread_ops;

typedef struct {
  const stub_arch *arch;     /* required */
  const stub_mem_ops *mem;   /* virtual (CPU view) memory */
  const stub_reg_ops *regs;  /* registers */
  const stub_run_ops *run;   /* NULL for a dump: c/s/vCont answer an error */
  const stub_break_ops *brk; /* breakpoints */
  const stub_mem_ops *phys;  /* physical memory: enables qqemu.PhyMemMode */
  const stub_monitor_ops *monitor;
  const stub_thread_ops *threads; /* NULL: one thread */
  void *ctx;
} stub_target;

/* ------------------------------------------------------------------------
 * Transport.
 */
typedef struct {
  /* Writes all len bytes; 0, or an error (the session then ends). */
  int (*write)(void *ctx, const void *buf, size_t len);
} stub_transport_ops;

/* ------------------------------------------------------------------------
 * The core.
 */
enum { STUB_MAX_SWBP = 32 };

/* Memory the caller gives stub_init() for a packet size P: the receive
 * body (P), the reply body (P) and the frame (2P + 4). */
#define STUB_MEM_SIZE(P) (4 * (size_t)(P) + 4)
enum { STUB_MIN_PACKET = 256 };

struct stub_core {
  /* Public, read-only. */
  int running; /* the target was resumed and has not reported a stop */
  int no_ack;  /* QStartNoAckMode is in effect */
  int phys;    /* Qqemu.PhyMemMode:1 is in effect */
  size_t fed;  /* bytes the last stub_feed() consumed (all, unless the session ended) */
  /* Private. */
  const stub_target *t;
  const stub_transport_ops *tr;
  void *tctx;
  rsp_parser parser;
  char *rx, *body, *tx;
  size_t pkt, txcap, txlen;
  int client_errmsg;
  int ended;
  int tid;  /* the thread Hg selected (1 without thread ops) */
  int tid0; /* the thread each session starts on */
  int last_sig;
  const char *errmsg;
  struct {
    uint64_t addr;
    uint8_t saved[16];
    uint8_t used;
  } swbp[STUB_MAX_SWBP];
};

/* mem/memsize: see STUB_MEM_SIZE; the packet size is derived from memsize
 * and must reach STUB_MIN_PACKET.  Returns 0 or RSP_EINVAL. */
int stub_init(stub_core *c, const stub_target *t, const stub_transport_ops *tr, void *tctx,
              void *mem, size_t memsize);
/* A new session (reconnect): ack mode, virtual memory mode, no partial
 * packet, the initial thread selected again (as QEMU does for a new
 * debugger).  Planted breakpoints stay. */
void stub_reset(stub_core *c);
/* After STUB_ECLOSED: keep the connection and accept further packets in
 * the same ack mode (a bridge in front of the stub keeps its connection
 * across its clients' detaches). */
void stub_rearm(stub_core *c);
/* Pushes received bytes.  Returns len, or STUB_EFATAL (a target op or the
 * transport failed fatally) or STUB_ECLOSED (k or D): the port then closes
 * the connection and calls stub_reset() before the next session. */
int stub_feed(stub_core *c, const void *buf, size_t len);
/* The target stopped with signal sig (5 = SIGTRAP, 2 = SIGINT): sends the
 * stop reply.  Returns 0 or a negative transport error. */
int stub_report_stop(stub_core *c, int sig);
/* During monitor->command: sends text as an 'O' console packet. */
int stub_monitor_output(stub_core *c, const char *text, size_t len);
/* During any target op: the next error reply uses this message ("E.msg")
 * where the packet allows the textual form.  msg must stay valid until the
 * op returns. */
void stub_set_error(stub_core *c, const char *msg);
/* Makes tid the current thread, and the one every session starts on,
 * without calling threads->select (for a port whose target starts on
 * another thread than 1). */
void stub_set_thread(stub_core *c, int tid);
/* The packet size advertised in qSupported. */
size_t stub_packet_size(const stub_core *c);

#ifdef __cplusplus
}
#endif
#endif /* STUB_H */
