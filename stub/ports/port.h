/* port.h - the stub core on bare metal: a polled UART and a register frame.
 *
 * Freestanding like the core.  A guest links port.c, one UART driver and
 * (when it has no libc) port_libc.c, and calls:
 *
 *   stub_port_init()   once, with its UART, architecture and RAM ranges;
 *   stub_port_enter()  from its debug exception handler, after saving the
 *                      interrupted registers into port->regs in the layout
 *                      of the architecture's register table (stub_reg.offset);
 *                      it serves the debugger until the debugger resumes
 *                      the target, then the handler restores the frame
 *                      (which the debugger may have changed) and returns;
 *   stub_port_poll()   now and then while running, to notice a Ctrl-C
 *                      (0x03) from the debugger.
 *
 * Memory is accessed directly (the CPU's view), but only inside the RAM
 * ranges given at init: a debugger reading an unmapped or device address
 * must not fault the stub itself.
 */
#ifndef STUB_PORT_H
#define STUB_PORT_H

#include <stddef.h>
#include <stdint.h>

#include "stub.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int (*getc)(void *ctx);         /* a received byte, or -1 when none (never blocks) */
  void (*putc)(void *ctx, int c); /* waits for room in the transmitter */
} stub_uart_ops;

/* Drivers (uart_16550.c, uart_pl011.c).  ctx: the device base address
 * (an I/O port number for the x86 PIO variant). */
extern const stub_uart_ops stub_uart_16550_mmio; /* byte registers, stride 1 (RISC-V virt) */
extern const stub_uart_ops stub_uart_16550_pio;  /* x86 in/out, e.g. COM1 = 0x3f8 */
extern const stub_uart_ops stub_uart_pl011;      /* ARM PL011 (AArch64 virt: 0x09000000) */
void stub_uart_16550_mmio_init(void *base);
void stub_uart_16550_pio_init(void *port);
void stub_uart_pl011_init(void *base);

typedef struct {
  uint64_t lo, hi; /* inclusive */
} stub_port_range;

enum { STUB_PORT_PACKET = 4096, STUB_PORT_MAX_RANGES = 4, STUB_PORT_REGS = 1024 };

/* Hooks of the architecture that the generic port cannot know. */
typedef struct {
  /* After a memory write: make instruction fetches see it (RISC-V
   * fence.i, AArch64 dc/ic).  May be NULL. */
  void (*sync_icache)(void *ctx, uint64_t addr, size_t len);
  /* Arm or disarm hardware single-step in the saved frame (x86 TF,
   * AArch64 SPSR.SS with MDSCR_EL1.SS).  NULL: no 's'; GDB then steps
   * with breakpoints. */
  void (*set_step)(void *ctx, int on);
  /* Insert (insert = 1) or remove a hardware instruction breakpoint (x86
   * DR0-DR3, AArch64 DBGBVR): 0 or an error (-STUB_ENOSPC when none is
   * free).  NULL: no Z1. */
  int (*hw_break)(void *ctx, uint64_t addr, int insert);
  void *ctx;
} stub_port_hooks;

typedef struct {
  stub_core core;
  stub_target target;
  const stub_uart_ops *uart;
  void *uart_ctx;
  stub_port_hooks hooks;
  stub_port_range ranges[STUB_PORT_MAX_RANGES];
  unsigned nranges;
  int resumed;                  /* the debugger said c/s/D/k: leave stub_port_enter() */
  int detached;                 /* no debugger (after D or k) until it talks again */
  uint8_t regs[STUB_PORT_REGS]; /* the saved frame, arch table layout */
  char mem[STUB_MEM_SIZE(STUB_PORT_PACKET)];
} stub_port;

/* Returns 0, or RSP_EINVAL (no arch, a register table larger than
 * STUB_PORT_REGS, too many ranges). */
int stub_port_init(stub_port *p, const stub_arch *arch, const stub_uart_ops *uart, void *uart_ctx,
                   const stub_port_range *ranges, unsigned nranges, const stub_port_hooks *hooks);
/* Serves the debugger with the target stopped by signal sig (5 = SIGTRAP
 * for a breakpoint or a step, 2 = SIGINT after Ctrl-C).  Returns 0 when
 * the target should resume, STUB_ECLOSED when the debugger detached or
 * killed the session (the target resumes too). */
int stub_port_enter(stub_port *p, int sig);
/* Non-blocking: 1 when the debugger asked for an interrupt; the caller
 * then enters the stub (directly, or by trapping). */
int stub_port_poll(stub_port *p);

#ifdef __cplusplus
}
#endif
#endif /* STUB_PORT_H */
