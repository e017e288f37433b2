/* bench_core.c - the core's cost per packet, without any I/O.
 *
 *   stub_bench_core [seconds [request]]
 *
 * Feeds pre-framed requests to a core over an in-memory target and a
 * transport that only counts bytes, and prints requests per second for a
 * tiny query (qC), a register read (p10), a whole register set (g) and
 * 2 KiB memory reads (m...,800 in no-ack mode), the last also in MB/s of
 * memory served. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stub.h"

static uint8_t mem[1 << 20], regs[1024];
static size_t out_bytes;

static int m_read(void *ctx, uint64_t addr, void *buf, size_t len) {
  (void)ctx;
  if (addr >= sizeof(mem))
    return -STUB_EFAULT;
  if (len > sizeof(mem) - addr)
    len = (size_t)(sizeof(mem) - addr);
  memcpy(buf, mem + addr, len);
  return (int)len;
}

static int r_read(void *ctx, unsigned regno, void *buf, size_t len) {
  (void)ctx;
  memcpy(buf, regs + stub_arch_x86_64.regs[regno].offset, len);
  return 0;
}

static int t_write(void *ctx, const void *buf, size_t len) {
  (void)ctx, (void)buf;
  out_bytes += len;
  return 0;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const stub_mem_ops mem_ops = {m_read, NULL};
static const stub_reg_ops reg_ops = {r_read, NULL};
static const stub_transport_ops transport = {t_write};
static const stub_target target = {
    .arch = &stub_arch_x86_64, .mem = &mem_ops, .regs = &reg_ops, .phys = &mem_ops};
static char area[STUB_MEM_SIZE(4096)];

static const char *only; /* argv[2]: run only the benchmark named so */

static void run(stub_core *c, const char *name, const char *body, double seconds, size_t bytes) {
  char frame[64];
  int n = rsp_encode(frame, sizeof(frame), body, strlen(body), 0);
  long count = 0;
  double t0 = now(), t;
  if (only && strcmp(only, body) != 0)
    return;
  do {
    int i;
    for (i = 0; i < 1000; i++)
      if (stub_feed(c, frame, (size_t)n) != n)
        exit(1);
    count += 1000;
    t = now() - t0;
  } while (t < seconds);
  printf("%-22s %10.0f requests/s", name, (double)count / t);
  if (bytes)
    printf("  %8.1f MB/s served", (double)count * (double)bytes / t / 1e6);
  printf("\n");
}

int main(int argc, char **argv) {
  static stub_core core;
  double seconds = argc > 1 ? atof(argv[1]) : 1.0;
  only = argc > 2 ? argv[2] : NULL;
  if (stub_init(&core, &target, &transport, NULL, area, sizeof(area)) != 0)
    return 1;
  run(&core, "qC (ack mode)", "qC", seconds, 0);
  stub_feed(&core, "$QStartNoAckMode#b0", 19);
  run(&core, "qC", "qC", seconds, 0);
  run(&core, "p10", "p10", seconds, 0);
  run(&core, "g (348 bytes)", "g", seconds, 0);
  run(&core, "m1000,800", "m1000,800", seconds, 0x800);
  return 0;
}
