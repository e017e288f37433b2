/* uart_pl011.c - polled ARM PL011 UART (QEMU virt: 0x09000000).
 *
 * Registers: 0x00 DR, 0x18 FR (bit 4 RXFE receive FIFO empty, bit 5 TXFF
 * transmit FIFO full), 0x30 CR (bit 0 UARTEN, 8 TXE, 9 RXE), 0x2c LCR_H
 * (bit 4 FEN, bits 6:5 word length), 0x38 IMSC.
 */
#include "port.h"

enum { DR = 0x00, FR = 0x18, LCR_H = 0x2c, CR = 0x30, IMSC = 0x38 };
enum { FR_RXFE = 0x10, FR_TXFF = 0x20 };

static uint32_t rd(void *base, unsigned reg) {
  return *(volatile uint32_t *)((uintptr_t)base + reg);
}

static void wr(void *base, unsigned reg, uint32_t v) {
  *(volatile uint32_t *)((uintptr_t)base + reg) = v;
}

/* 8N1 with FIFOs, no interrupts (the stub polls); the baud rate is the
 * firmware's or irrelevant (QEMU). */
void stub_uart_pl011_init(void *base) {
  wr(base, CR, 0);
  wr(base, IMSC, 0);
  wr(base, LCR_H, 0x70);
  wr(base, CR, 0x301);
}

static int pl011_getc(void *base) {
  return (rd(base, FR) & FR_RXFE) ? -1 : (int)(rd(base, DR) & 0xff);
}

static void pl011_putc(void *base, int c) {
  while (rd(base, FR) & FR_TXFF)
    ;
  wr(base, DR, (uint32_t)(c & 0xff));
}

const stub_uart_ops stub_uart_pl011 = {pl011_getc, pl011_putc};
