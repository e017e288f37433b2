/* port.c - the stub core on bare metal (see port.h). */
#include <string.h>

#include "port.h"

static stub_port *port_of(void *ctx) {
  return ctx;
}

/* The bytes of [addr, addr + len) that lie in one RAM range from addr on. */
static size_t readable(const stub_port *p, uint64_t addr, size_t len) {
  unsigned i;
  for (i = 0; i < p->nranges; i++) {
    const stub_port_range *r = &p->ranges[i];
    if (addr >= r->lo && addr <= r->hi) {
      uint64_t room = r->hi - addr + 1;
      return room == 0 || room > len ? len : (size_t)room; /* room 0: the whole space */
    }
  }
  return 0;
}

static int mem_read(void *ctx, uint64_t addr, void *buf, size_t len) {
  stub_port *p = port_of(ctx);
  size_t n = readable(p, addr, len), i;
  uint8_t *out = buf;
  if (n == 0)
    return -STUB_EFAULT;
  for (i = 0; i < n; i++)
    out[i] = *(volatile const uint8_t *)(uintptr_t)(addr + i);
  return (int)n;
}

static int mem_write(void *ctx, uint64_t addr, const void *buf, size_t len) {
  stub_port *p = port_of(ctx);
  const uint8_t *in = buf;
  size_t i;
  if (readable(p, addr, len) != len)
    return -STUB_EFAULT;
  for (i = 0; i < len; i++)
    *(volatile uint8_t *)(uintptr_t)(addr + i) = in[i];
  if (p->hooks.sync_icache)
    p->hooks.sync_icache(p->hooks.ctx, addr, len);
  return 0;
}

static int reg_read(void *ctx, unsigned regno, void *buf, size_t len) {
  stub_port *p = port_of(ctx);
  const uint8_t *src = p->regs + p->target.arch->regs[regno].offset;
  uint8_t *out = buf;
  size_t i;
  for (i = 0; i < len; i++)
    out[i] = src[i];
  return 0;
}

static int reg_write(void *ctx, unsigned regno, const void *buf, size_t len) {
  stub_port *p = port_of(ctx);
  uint8_t *dst = p->regs + p->target.arch->regs[regno].offset;
  const uint8_t *in = buf;
  size_t i;
  for (i = 0; i < len; i++)
    dst[i] = in[i];
  return 0;
}

static int run_cont(void *ctx, int sig) {
  stub_port *p = port_of(ctx);
  (void)sig; /* signals mean nothing to bare metal */
  if (p->hooks.set_step)
    p->hooks.set_step(p->hooks.ctx, 0);
  p->resumed = 1;
  return 0;
}

static int run_step(void *ctx, int sig) {
  stub_port *p = port_of(ctx);
  (void)sig;
  p->hooks.set_step(p->hooks.ctx, 1);
  p->resumed = 1;
  return 0;
}

/* 0x03 while the target runs: stub_port_poll() reports it. */
static int run_interrupt(void *ctx) {
  (void)ctx;
  return 0;
}

static int run_end(void *ctx) {
  stub_port *p = port_of(ctx);
  if (p->hooks.set_step)
    p->hooks.set_step(p->hooks.ctx, 0);
  p->resumed = 1;
  return 0;
}

static int hw_insert(void *ctx, uint64_t addr, unsigned kind) {
  stub_port *p = port_of(ctx);
  (void)kind;
  return p->hooks.hw_break(p->hooks.ctx, addr, 1);
}

static int hw_remove(void *ctx, uint64_t addr, unsigned kind) {
  stub_port *p = port_of(ctx);
  (void)kind;
  return p->hooks.hw_break(p->hooks.ctx, addr, 0);
}

static const stub_mem_ops port_mem = {mem_read, mem_write};
/* Hardware breakpoints only: Z0 stays with the core, which plants the
 * architecture's breakpoint instruction through port_mem. */
static const stub_break_ops port_hw_break = {NULL, NULL, hw_insert, hw_remove};
static const stub_reg_ops port_regs = {reg_read, reg_write};
static const stub_run_ops port_run_step = {run_cont, run_step, run_interrupt, run_end, run_end};
static const stub_run_ops port_run_nostep = {run_cont, NULL, run_interrupt, run_end, run_end};

static int uart_write(void *ctx, const void *buf, size_t len) {
  stub_port *p = ctx;
  const uint8_t *b = buf;
  size_t i;
  for (i = 0; i < len; i++)
    p->uart->putc(p->uart_ctx, b[i]);
  return 0;
}

static const stub_transport_ops port_transport = {uart_write};

int stub_port_init(stub_port *p, const stub_arch *arch, const stub_uart_ops *uart, void *uart_ctx,
                   const stub_port_range *ranges, unsigned nranges, const stub_port_hooks *hooks) {
  unsigned i, end = 0;
  if (!p || !arch || !uart || nranges > STUB_PORT_MAX_RANGES)
    return RSP_EINVAL;
  for (i = 0; i < arch->nregs; i++)
    if ((unsigned)arch->regs[i].offset + arch->regs[i].bitsize / 8 > end)
      end = arch->regs[i].offset + arch->regs[i].bitsize / 8;
  if (end > STUB_PORT_REGS)
    return RSP_EINVAL;
  memset(p, 0, sizeof(*p));
  p->uart = uart;
  p->uart_ctx = uart_ctx;
  if (hooks)
    p->hooks = *hooks;
  for (i = 0; i < nranges; i++)
    p->ranges[i] = ranges[i];
  p->nranges = nranges;
  p->target.arch = arch;
  p->target.mem = &port_mem;
  p->target.regs = &port_regs;
  p->target.run = p->hooks.set_step ? &port_run_step : &port_run_nostep;
  p->target.brk = p->hooks.hw_break ? &port_hw_break : NULL;
  p->target.ctx = p;
  return stub_init(&p->core, &p->target, &port_transport, p, p->mem, sizeof(p->mem));
}

int stub_port_enter(stub_port *p, int sig) {
  /* Sends the stop reply if the debugger is waiting for one; otherwise
   * only records the signal for its next '?'. */
  stub_report_stop(&p->core, sig);
  p->resumed = 0;
  while (!p->resumed) {
    int c = p->uart->getc(p->uart_ctx);
    char b;
    if (c < 0)
      continue;
    b = (char)c;
    if (stub_feed(&p->core, &b, 1) < 0) {
      /* k, D or a fatal error: the session is over, the target goes on. */
      stub_reset(&p->core);
      p->core.running = 0;
      return STUB_ECLOSED;
    }
  }
  return 0;
}

int stub_port_poll(stub_port *p) {
  int c = p->uart->getc(p->uart_ctx);
  char b;
  if (c < 0)
    return 0;
  if (c == 0x03)
    return 1;
  b = (char)c;
  if (stub_feed(&p->core, &b, 1) < 0) {
    stub_reset(&p->core);
    return 0;
  }
  /* A packet starting while the core believes the target stopped: a
   * debugger (re)connected to a free-running target (after D, or before
   * any stop).  Stop the target so that the packet is answered with
   * registers that mean something; the rest of it is read in
   * stub_port_enter().  A late ack while running is simply consumed. */
  return c == '$' && !p->core.running;
}
