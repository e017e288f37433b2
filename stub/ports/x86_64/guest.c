/* guest.c - an x86-64 program with the bare-metal stub on COM1 (a 16550
 * at I/O port 0x3f8).  It stops in the debugger at once, then calls
 * worker() forever, polling COM1 for Ctrl-C between calls.  Single-step
 * uses the trap flag (RFLAGS.TF), which raises #DB after one instruction. */
#include <stdint.h>
#include <string.h>

#include "port.h"

#define COM1 ((void *)0x3f8)

extern void stub_breakpoint(void);
extern void isr_db(void);
extern void isr_bp(void);

static stub_port port;
static volatile int interrupt_pending;

/* What the tests look at. */
volatile uint64_t counter;
uint8_t pattern[256];

__attribute__((noinline)) void worker(void) {
  counter++;
}

typedef struct {
  uint16_t off0, sel;
  uint8_t ist, type;
  uint16_t off1;
  uint32_t off2, zero;
} __attribute__((packed)) idt_gate;

static idt_gate idt[32];

static void set_gate(int v, void (*h)(void)) {
  uint64_t a = (uint64_t)(uintptr_t)h;
  idt[v].off0 = (uint16_t)a;
  idt[v].sel = 0x08;
  idt[v].ist = 0;
  idt[v].type = 0x8e; /* present, DPL 0, 64-bit interrupt gate */
  idt[v].off1 = (uint16_t)(a >> 16);
  idt[v].off2 = (uint32_t)(a >> 32);
  idt[v].zero = 0;
}

static int reg_no(const char *name) {
  return stub_arch_find_reg(&stub_arch_x86_64, name);
}

static void put(const char *name, uint64_t v) {
  int r = reg_no(name);
  if (r >= 0)
    memcpy(port.regs + stub_arch_x86_64.regs[r].offset, &v, stub_arch_x86_64.regs[r].bitsize / 8);
}

static uint64_t get(const char *name) {
  uint64_t v = 0;
  int r = reg_no(name);
  if (r >= 0)
    memcpy(&v, port.regs + stub_arch_x86_64.regs[r].offset, stub_arch_x86_64.regs[r].bitsize / 8);
  return v;
}

/* Hardware breakpoints: DR0-DR3 hold addresses, DR7 enables them (local
 * enable bit 2n; RW and LEN zero: instruction execution). */
static uint64_t dr_addr[4];
static int dr_used[4];

static void write_dr(int n, uint64_t v) {
  switch (n) {
  case 0:
    __asm__ volatile("mov %0, %%dr0" : : "r"(v));
    break;
  case 1:
    __asm__ volatile("mov %0, %%dr1" : : "r"(v));
    break;
  case 2:
    __asm__ volatile("mov %0, %%dr2" : : "r"(v));
    break;
  default:
    __asm__ volatile("mov %0, %%dr3" : : "r"(v));
    break;
  }
}

static int hw_break(void *ctx, uint64_t addr, int insert) {
  uint64_t dr7;
  int i;
  (void)ctx;
  __asm__ volatile("mov %%dr7, %0" : "=r"(dr7));
  for (i = 0; i < 4; i++) {
    if (insert ? !dr_used[i] : (dr_used[i] && dr_addr[i] == addr))
      break;
  }
  if (i == 4)
    return insert ? -STUB_ENOSPC : -STUB_EINVAL;
  if (insert) {
    write_dr(i, addr);
    dr7 = (dr7 & ~(0xfull << (16 + 4 * i))) | (1ull << (2 * i));
  } else {
    dr7 &= ~(1ull << (2 * i));
  }
  dr_used[i] = insert;
  dr_addr[i] = addr;
  __asm__ volatile("mov %0, %%dr7" : : "r"(dr7));
  return 0;
}

/* TF lives in the saved RFLAGS, which iretq restores. */
static void set_step(void *ctx, int on) {
  uint64_t fl = get("eflags");
  (void)ctx;
  put("eflags", on ? fl | 0x100 : fl & ~0x100ull);
}

static const char *const gpr[] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8",
                                  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};

void guest_trap(uint64_t *frame);
void guest_main(void);

/* frame: the 15 registers of gpr[], the vector, then the CPU's rip, cs,
 * rflags, rsp, ss. */
void guest_trap(uint64_t *frame) {
  uint64_t cr0, cr2, cr3, cr4, dr6 = 0;
  unsigned i;
  int sig = 5, hw_hit = 0;
  if (frame[15] == 1) {
    /* #DB: DR6 says which breakpoint (B0-B3) or a single step (BS). */
    __asm__ volatile("mov %%dr6, %0" : "=r"(dr6));
    hw_hit = (dr6 & 0xf) != 0;
    __asm__ volatile("mov %0, %%dr6" : : "r"((uint64_t)0));
  }
  if (frame[15] == 3 && interrupt_pending) {
    sig = 2;
    interrupt_pending = 0;
  }
  for (i = 0; i < 15; i++)
    put(gpr[i], frame[i]);
  put("rip", frame[16]);
  put("cs", frame[17]);
  put("eflags", frame[18] & ~0x100ull);
  put("rsp", frame[19]);
  put("ss", frame[20]);
  __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
  __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
  __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
  __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
  put("cr0", cr0);
  put("cr2", cr2);
  put("cr3", cr3);
  put("cr4", cr4);
  put("efer", 0x500); /* LME and LMA: this guest runs in long mode */
  stub_port_enter(&port, sig);
  for (i = 0; i < 15; i++)
    frame[i] = get(gpr[i]);
  frame[16] = get("rip");
  frame[18] = get("eflags");
  /* An instruction breakpoint is a fault: resume with RF so that it does
   * not fire again on the same instruction. */
  if (hw_hit)
    frame[18] |= 1ull << 16;
}

void guest_main(void) {
  static const stub_port_range ram[] = {{0x100000u, 0x7ffffffu}};
  static const stub_port_hooks hooks = {NULL, set_step, hw_break, NULL};
  struct {
    uint16_t limit;
    uint64_t base;
  } __attribute__((packed)) idtr = {sizeof(idt) - 1, (uint64_t)(uintptr_t)idt};
  unsigned i;
  for (i = 0; i < sizeof(pattern); i++)
    pattern[i] = (uint8_t)(i ^ 0x5a);
  set_gate(1, isr_db);
  set_gate(3, isr_bp);
  __asm__ volatile("lidt %0" : : "m"(idtr));
  stub_uart_16550_pio_init(COM1);
  if (stub_port_init(&port, &stub_arch_x86_64, &stub_uart_16550_pio, COM1, ram, 1, &hooks) != 0)
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
