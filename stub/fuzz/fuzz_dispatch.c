/* fuzz_dispatch.c - libFuzzer target for the core's packet dispatch.
 *
 * The input is raw wire bytes, fed in pieces whose sizes come from the
 * input itself, to a target with every ops table set (so every handler is
 * reachable) over a transport that discards output.  The first byte picks
 * a few fixture options: ack/no-ack mode, physical mode, a running target.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "stub.h"

#define MEMSZ 8192

static uint8_t mem[MEMSZ], phys[MEMSZ], regs[1024];
static stub_core core;

static int m_read(void *ctx, uint64_t addr, void *buf, size_t len) {
  uint8_t *m = ctx ? phys : mem;
  if (addr >= MEMSZ)
    return -STUB_EFAULT;
  if (len > MEMSZ - addr)
    len = (size_t)(MEMSZ - addr);
  memcpy(buf, m + addr, len);
  return (int)len;
}

static int m_write(void *ctx, uint64_t addr, const void *buf, size_t len) {
  uint8_t *m = ctx ? phys : mem;
  if (addr >= MEMSZ || len > MEMSZ - addr)
    return -STUB_EFAULT;
  memcpy(m + addr, buf, len);
  return 0;
}

static int p_read(void *ctx, uint64_t addr, void *buf, size_t len) {
  (void)ctx;
  return m_read((void *)1, addr, buf, len);
}

static int p_write(void *ctx, uint64_t addr, const void *buf, size_t len) {
  (void)ctx;
  return m_write((void *)1, addr, buf, len);
}

static int r_read(void *ctx, unsigned regno, void *buf, size_t len) {
  (void)ctx;
  if (regno == 3)
    return STUB_EUNAVAIL;
  memcpy(buf, regs + stub_arch_x86_64.regs[regno].offset, len);
  return 0;
}

static int r_write(void *ctx, unsigned regno, const void *buf, size_t len) {
  (void)ctx;
  if (regno == 5)
    return -STUB_EPERM;
  memcpy(regs + stub_arch_x86_64.regs[regno].offset, buf, len);
  return 0;
}

static int run_cont(void *ctx, int sig) {
  (void)ctx;
  /* Stop at once on odd signals, keep running otherwise. */
  if (sig & 1)
    stub_report_stop(&core, 5);
  return 0;
}

static int run_other(void *ctx) {
  (void)ctx;
  return 0;
}

static int mon(void *ctx, stub_core *c, const char *cmd, size_t len) {
  (void)ctx;
  if (len && cmd[0] == 'x') {
    stub_set_error(c, "no");
    return -STUB_EINVAL;
  }
  if (len && cmd[0] == '!')
    return STUB_EFATAL;
  return stub_monitor_output(c, cmd, len);
}

static int th_count(void *ctx) {
  (void)ctx;
  return 4;
}

static int th_select(void *ctx, int tid) {
  (void)ctx;
  return tid == 3 ? -STUB_EIO : 0;
}

static int t_write(void *ctx, const void *buf, size_t len) {
  (void)ctx, (void)buf, (void)len;
  return 0;
}

static const stub_mem_ops mem_ops = {m_read, m_write};
static const stub_mem_ops phys_ops = {p_read, p_write};
static const stub_reg_ops reg_ops = {r_read, r_write};
static const stub_run_ops run_ops = {run_cont, run_cont, run_other, run_other, run_other};
static const stub_monitor_ops mon_ops = {mon};
static const stub_transport_ops transport = {t_write};
static const stub_thread_ops thread_ops = {th_count, th_select};
static const stub_target target = {
    .arch = &stub_arch_x86_64,
    .mem = &mem_ops,
    .regs = &reg_ops,
    .run = &run_ops,
    .phys = &phys_ops,
    .monitor = &mon_ops,
    .threads = &thread_ops,
};

static char area[STUB_MEM_SIZE(512)];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t pos = 1;
  uint8_t opt;
  if (size < 1)
    return 0;
  opt = data[0];
  if (stub_init(&core, &target, &transport, NULL, area, sizeof(area)) != 0)
    __builtin_trap();
  if (opt & 1) {
    static const char noack[] = "$QStartNoAckMode#b0";
    stub_feed(&core, noack, sizeof(noack) - 1);
  }
  if (opt & 2) {
    static const char ph[] = "$Qqemu.PhyMemMode:1#77";
    stub_feed(&core, ph, sizeof(ph) - 1);
  }
  while (pos < size) {
    /* Piece sizes 1..16 from the option byte's upper bits and position. */
    size_t n = ((opt >> 4) + pos) % 16 + 1;
    int rc;
    if (n > size - pos)
      n = size - pos;
    rc = stub_feed(&core, data + pos, n);
    if (rc < 0) {
      if (rc != STUB_EFATAL && rc != STUB_ECLOSED)
        __builtin_trap();
      stub_reset(&core);
    } else if ((size_t)rc != n) {
      __builtin_trap();
    }
    pos += n;
  }
  return 0;
}
