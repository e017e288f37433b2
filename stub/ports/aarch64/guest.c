/* guest.c - an AArch64 (QEMU virt, EL1, MMU off) program with the
 * bare-metal stub on the PL011 UART at 0x09000000.  It stops in the
 * debugger at once, then calls worker() forever, polling the UART for
 * Ctrl-C between calls.  Single-step uses the architecture's software
 * step (MDSCR_EL1.SS and SPSR_EL1.SS, with MDSCR_EL1.KDE for EL1). */
#include <stdint.h>
#include <string.h>

#include "port.h"

#define UART ((void *)0x09000000)

extern void stub_breakpoint(void);
extern char stub_compiled_break[];

static stub_port port;
static volatile int interrupt_pending;
static int stepping;

/* What the tests look at. */
volatile uint64_t counter;
uint8_t pattern[256];

__attribute__((noinline)) void worker(void) {
  counter++;
}

#define READ_SYSREG(name)                          \
  ({                                               \
    uint64_t v_;                                   \
    __asm__ volatile("mrs %0, " #name : "=r"(v_)); \
    v_;                                            \
  })

static void sync_icache(void *ctx, uint64_t addr, size_t len) {
  (void)ctx, (void)addr, (void)len;
  __asm__ volatile("dsb ish; ic iallu; dsb ish; isb" ::: "memory");
}

static void set_step(void *ctx, int on) {
  (void)ctx;
  stepping = on;
}

/* Hardware breakpoints 0 and 1: DBGBVRn_EL1 holds the address,
 * DBGBCRn_EL1 enables it (E, PMC = EL1, BAS = all four bytes of an A64
 * instruction); MDSCR_EL1.MDE and KDE let them fire at EL1. */
static uint64_t bp_addr[2];
static int bp_used[2];

static void write_bp(int n, uint64_t addr, uint64_t ctrl) {
  if (n == 0)
    __asm__ volatile("msr dbgbvr0_el1, %0; msr dbgbcr0_el1, %1; isb" : : "r"(addr), "r"(ctrl));
  else
    __asm__ volatile("msr dbgbvr1_el1, %0; msr dbgbcr1_el1, %1; isb" : : "r"(addr), "r"(ctrl));
}

static int hw_break(void *ctx, uint64_t addr, int insert) {
  int i;
  (void)ctx;
  for (i = 0; i < 2; i++)
    if (insert ? !bp_used[i] : (bp_used[i] && bp_addr[i] == addr))
      break;
  if (i == 2)
    return insert ? -STUB_ENOSPC : -STUB_EINVAL;
  write_bp(i, addr, insert ? (0xfu << 5) | (1u << 1) | 1u : 0);
  bp_used[i] = insert;
  bp_addr[i] = addr;
  return 0;
}

static void put(const char *name, uint64_t v) {
  int regno = stub_arch_find_reg(&stub_arch_aarch64, name);
  if (regno >= 0)
    memcpy(port.regs + stub_arch_aarch64.regs[regno].offset, &v,
           stub_arch_aarch64.regs[regno].bitsize / 8);
}

void guest_trap(uint64_t *frame);
void guest_main(void);

/* frame: x0..x30, sp, pc (ELR_EL1), SPSR_EL1. */
void guest_trap(uint64_t *frame) {
  uint64_t esr = READ_SYSREG(esr_el1), mdscr;
  unsigned ec = (unsigned)(esr >> 26) & 0x3f;
  uint32_t cpsr;
  int sig;
  if (ec == 0x3c) { /* BRK */
    if (frame[32] == (uint64_t)(uintptr_t)stub_compiled_break)
      frame[32] += 4;
    sig = interrupt_pending ? 2 : 5;
    interrupt_pending = 0;
  } else if (ec == 0x32 || ec == 0x33) { /* software step */
    sig = 5;
  } else if (ec == 0x30 || ec == 0x31) { /* hardware breakpoint */
    sig = 5;
  } else {
    sig = 11;
  }
  memcpy(port.regs, frame, 33 * 8); /* x0..x30, sp, pc: the table's first 33 */
  cpsr = (uint32_t)frame[33];
  memcpy(port.regs + 264, &cpsr, 4);
  put("TTBR0_EL1", READ_SYSREG(ttbr0_el1));
  put("TTBR1_EL1", READ_SYSREG(ttbr1_el1));
  put("TCR_EL1", READ_SYSREG(tcr_el1));
  put("SCTLR", READ_SYSREG(sctlr_el1));
  put("MAIR_EL1", READ_SYSREG(mair_el1));
  put("VBAR_EL1", READ_SYSREG(vbar_el1));
  put("ESR_EL1", esr);
  put("FAR_EL1", READ_SYSREG(far_el1));
  stepping = 0;
  stub_port_enter(&port, sig);
  memcpy(frame, port.regs, 31 * 8);
  memcpy(&frame[32], port.regs + 256, 8);
  memcpy(&cpsr, port.regs + 264, 4);
  frame[33] = (frame[33] & ~0xffffffffull) | cpsr;
  mdscr = READ_SYSREG(mdscr_el1) | (1u << 15) | (1u << 13); /* MDE, KDE */
  if (stepping) {
    mdscr |= 1u;               /* SS */
    frame[33] |= 1u << 21;     /* SPSR.SS: step one instruction */
    frame[33] &= ~(1ull << 9); /* debug exceptions unmasked there */
  } else {
    mdscr &= ~1ull;
    frame[33] &= ~(1ull << 21);
  }
  __asm__ volatile("msr mdscr_el1, %0; isb" : : "r"(mdscr));
}

void guest_main(void) {
  static const stub_port_range ram[] = {{0x40000000u, 0x47ffffffu}};
  static const stub_port_hooks hooks = {sync_icache, set_step, hw_break, NULL};
  unsigned i;
  for (i = 0; i < sizeof(pattern); i++)
    pattern[i] = (uint8_t)(i ^ 0x5a);
  stub_uart_pl011_init(UART);
  if (stub_port_init(&port, &stub_arch_aarch64, &stub_uart_pl011, UART, ram, 1, &hooks) != 0)
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
