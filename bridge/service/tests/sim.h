/* sim.h - a simulated QEMU-like target for the service tests: an
 * in-process transact() with QEMU 7.2's gdbstub semantics (PhyMemMode, E14
 * for unmapped virtual reads with no partial data, p/P empty until
 * target.xml was read, target.xml with includes, qRcmd HMP answers) over a
 * simulated physical memory holding synthetic x86-64 page tables. */
#ifndef SVC_SIM_H
#define SVC_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "service.h"

#define SIM_RAM     (16u << 20)
#define SIM_MMIO_LO 0xfec00000ull
#define SIM_MMIO_HI 0xfec00fffull

/* x86 PTE bits. */
#define SIM_P  (1ull << 0)
#define SIM_W  (1ull << 1)
#define SIM_U  (1ull << 2)
#define SIM_A  (1ull << 5)
#define SIM_D  (1ull << 6)
#define SIM_PS (1ull << 7)
#define SIM_G  (1ull << 8)
#define SIM_NX (1ull << 63)

typedef struct sim {
  uint8_t *ram;
  uint64_t next_table; /* allocator for page tables */
  /* Registers. */
  uint64_t cr0, cr3, cr4, efer, rip;
  /* 32-bit code under a 64-bit kernel: QEMU's p of rip and cr3 is cut to 32
   * bits, its monitor's `info registers` shows CS32 and the whole values
   * (hmp_cr3, hmp_rip when non-zero: another CPU's, or a CR3 above 4 GiB). */
  int compat;
  uint64_t hmp_cr3, hmp_rip;
  int xml_read;
  int phys_mode;
  /* After D: no CPU attached.  QEMU 7.2 segfaults on a register or memory
   * access then; the simulator counts them. */
  int detached;
  unsigned long cpu_while_detached;
  /* Commands its monitor ran (qRcmd), the last one. */
  char last_rcmd[128];
  /* Counters. */
  unsigned long transacts, requests, reads_m, reads_p, mode_on, mode_off, writes, rcmds;
  double target_cpu_s; /* CPU the simulated target spent answering (not the service's) */
  /* Faults. */
  long fail_phys_read_at; /* the n-th physical m (1-based) answers E03; 0 = never */
  long phys_reads_seen;
  int fail_sticky;     /* every physical m from fail_phys_read_at on fails */
  long drop_after;     /* transact fails (target gone) after this many requests; 0 = never */
  int no_regs;         /* p answers xx (bare-metal stub without the registers) */
  int no_qemu;         /* qqemu.Supported unsupported */
  int no_xml;          /* no qXfer:features (a minimal bare-metal stub) */
  int x_ok;            /* accepts X (QEMU 7.2 does not) */
  unsigned psize;      /* PacketSize: m > psize/2 and M of psize chars fail (0: QEMU's 0x1000) */
  unsigned short_m;    /* answers an m with at most this many bytes (0: all) */
  long latency_us;     /* per transact call: one round trip of a pipelined batch */
  long per_request_ns; /* plus this per request (the target's work) */
  /* Capture of the service's answers. */
  char *out;
  size_t out_len, out_cap;
  char reply[70000];
  size_t reply_len;
  int replies;
  int interrupt_after_outputs; /* interrupted() becomes true after this many outputs */
  int force_intr;              /* interrupted() is true */
  svc *intr_svc;               /* svc_interrupt(intr_svc) on each output, as the loop would */
  int outputs;
} sim;

/* Fresh simulator with the standard layout (see sim.c). */
sim *sim_new(void);
void sim_free(sim *t);
/* Maps one page of size 4K/2M/1G in the tables rooted at root. */
void sim_map(sim *t, uint64_t root, uint64_t va, uint64_t pa, uint64_t size, uint64_t flags);
uint64_t sim_alloc_table(sim *t);
/* Its own 4-level walk (independent of arch/); returns 0 and *pa, or -1. */
int sim_translate(const sim *t, uint64_t root, uint64_t va, uint64_t *pa);

/* The svc_io wired to the simulator (ctx = sim). */
extern const svc_io sim_io;

/* Runs one monitor command through svc_handle; returns the final reply as a
 * NUL-terminated string (t->reply) and leaves the output text in t->out. */
const char *sim_cmd(sim *t, svc *s, const char *cmdline);
/* Sends one raw client packet body through svc_classify/svc_handle or, when
 * classified FORWARD, straight to the simulated target. */
const char *sim_packet(sim *t, svc *s, const char *body);

/* Standard layout constants. */
#define SIM_ROOT      0x1000ull             /* kernel CR3 */
#define SIM_ROOT2     0x2000ull             /* a second address space */
#define SIM_KVA       0xffff800000000000ull /* 2 MiB of 4K pages -> PA 0x200000 */
#define SIM_KPA       0x200000ull
#define SIM_LVA       0xffff800000400000ull /* one 2M page -> PA 0x400000 */
#define SIM_LPA       0x400000ull
#define SIM_UVA       0x400000ull /* user 4K page -> 0x300000 (root 2: 0x310000) */
#define SIM_UPA       0x300000ull
#define SIM_UPA2      0x310000ull
#define SIM_NOPAGE_VA 0x600000ull /* -> 0x80000000: no RAM there */
#define SIM_MMIO_VA   0x601000ull /* -> the MMIO page */

#endif
