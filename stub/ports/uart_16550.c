/* uart_16550.c - polled 16550 UART, memory mapped (RISC-V virt) or x86 port I/O.
 *
 * Registers (byte offsets): 0 RBR/THR (DLL with DLAB), 1 IER (DLM with DLAB), 2 FCR,
 * 3 LCR, 4 MCR, 5 LSR (bit 0 data ready, bit 5 transmitter holding register empty).
 */
#include "port.h"

enum { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, FCR = 2, LCR = 3, MCR = 4, LSR = 5 };
enum { LSR_DR = 0x01, LSR_THRE = 0x20 };

static uint8_t mmio_in(void *base, unsigned reg) {
  return *(volatile uint8_t *)((uintptr_t)base + reg);
}

static void mmio_out(void *base, unsigned reg, uint8_t v) {
  *(volatile uint8_t *)((uintptr_t)base + reg) = v;
}

#if defined(__x86_64__) || defined(__i386__)
static uint8_t pio_in(void *port, unsigned reg) {
  uint8_t v;
  uint16_t p = (uint16_t)((uintptr_t)port + reg);
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(p));
  return v;
}

static void pio_out(void *port, unsigned reg, uint8_t v) {
  uint16_t p = (uint16_t)((uintptr_t)port + reg);
  __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(p));
}
#else
/* Port I/O exists only on x86; elsewhere the PIO driver is a stub that
 * never receives, so that a host build links. */
static uint8_t pio_in(void *port, unsigned reg) {
  (void)port;
  return reg == LSR ? LSR_THRE : 0;
}

static void pio_out(void *port, unsigned reg, uint8_t v) {
  (void)port, (void)reg, (void)v;
}
#endif

/* 115200 8N1 from the usual 1.8432 MHz clock, FIFOs on, interrupts off:
 * the stub polls. */
#define INIT(in, out)     \
  do {                    \
    out(base, IER, 0x00); \
    out(base, LCR, 0x80); \
    out(base, DLL, 0x01); \
    out(base, DLM, 0x00); \
    out(base, LCR, 0x03); \
    out(base, FCR, 0x07); \
    out(base, MCR, 0x03); \
    (void)in;             \
  } while (0)

void stub_uart_16550_mmio_init(void *base) {
  INIT(mmio_in, mmio_out);
}

void stub_uart_16550_pio_init(void *base) {
  INIT(pio_in, pio_out);
}

static int mmio_getc(void *base) {
  return (mmio_in(base, LSR) & LSR_DR) ? mmio_in(base, RBR) : -1;
}

static void mmio_putc(void *base, int c) {
  while (!(mmio_in(base, LSR) & LSR_THRE))
    ;
  mmio_out(base, THR, (uint8_t)c);
}

static int pio_getc(void *port) {
  return (pio_in(port, LSR) & LSR_DR) ? pio_in(port, RBR) : -1;
}

static void pio_putc(void *port, int c) {
  while (!(pio_in(port, LSR) & LSR_THRE))
    ;
  pio_out(port, THR, (uint8_t)c);
}

const stub_uart_ops stub_uart_16550_mmio = {mmio_getc, mmio_putc};
const stub_uart_ops stub_uart_16550_pio = {pio_getc, pio_putc};
