/* guest.c - a RISC-V (QEMU virt, M-mode) program with the bare-metal stub
 * on the 16550 UART at 0x10000000.  It stops in the debugger at once, then
 * calls worker() forever, polling the UART for Ctrl-C between calls. */
#include <stdint.h>
#include <string.h>

#include "port.h"

#define UART ((void *)0x10000000)

extern void stub_breakpoint(void);
extern char stub_compiled_break[];

static stub_port port;
static volatile int interrupt_pending;

/* What the tests look at. */
volatile uint64_t counter;
uint8_t pattern[256];

__attribute__((noinline)) void worker(void) {
  counter++;
}

static void fence_i(void *ctx, uint64_t addr, size_t len) {
  (void)ctx, (void)addr, (void)len;
  __asm__ volatile("fence.i" ::: "memory");
}

void guest_trap(uint64_t *frame);
void guest_main(void);

void guest_trap(uint64_t *frame) {
  uint64_t cause, mstatus, satp = 0;
  int sig;
  __asm__ volatile("csrr %0, mcause" : "=r"(cause));
  __asm__ volatile("csrr %0, mstatus" : "=r"(mstatus));
  if (cause == 3) {
    if (frame[32] == (uint64_t)(uintptr_t)stub_compiled_break)
      frame[32] += 4; /* resume after the compiled-in ebreak */
    sig = interrupt_pending ? 2 : 5;
    interrupt_pending = 0;
  } else {
    sig = cause == 2 ? 4 : 11; /* SIGILL, else SIGSEGV */
  }
  frame[0] = 0;
  memcpy(port.regs, frame, 33 * 8);
  memcpy(port.regs + 33 * 8, &satp, 8);
  memcpy(port.regs + 34 * 8, &mstatus, 8);
  port.regs[35 * 8] = 3; /* priv: machine mode */
  stub_port_enter(&port, sig);
  memcpy(frame + 1, port.regs + 8, 32 * 8);
}

void guest_main(void) {
  static const stub_port_range ram[] = {{0x80000000u, 0x87ffffffu}};
  static const stub_port_hooks hooks = {fence_i, NULL, NULL, NULL};
  unsigned i;
  for (i = 0; i < sizeof(pattern); i++)
    pattern[i] = (uint8_t)(i ^ 0x5a);
  stub_uart_16550_mmio_init(UART);
  if (stub_port_init(&port, &stub_arch_riscv64, &stub_uart_16550_mmio, UART, ram, 1, &hooks) != 0)
    for (;;)
      ;
  stub_breakpoint();
  for (;;) {
    worker();
    if (stub_port_poll(&port)) {
      interrupt_pending = 1;
      stub_breakpoint();
    }
  }
}
