/* bench_bridge - rspbridge against direct QEMU, in the same run.
 *
 *   median round trip of a tiny packet ('?')
 *   bulk read throughput in the largest m packets each side takes (GDB asks
 *     half the stub's PacketSize: 0x800 bytes from QEMU 7.2, more from the
 *     bridge, which splits them upstream), one request at a time like GDB;
 *     and in 0x800-byte packets on both, the pure forwarding cost
 *   the bridge's resident memory at idle and after N bytes passed through
 *   the loopback round trip of the machine (two processes, one byte), the
 *     floor under any round trip measured here, and the round trip through
 *     a byte-copying relay that polls like the bridge (a third QEMU): what
 *     a process in the middle costs when it only moves bytes (the client's
 *     acks then reach QEMU; the bridge answers them itself)
 *
 * The client behaves like GDB: ack mode to QEMU (7.2 has no no-ack mode),
 * no-ack mode to the bridge, which offers it.  The bridge runs as a
 * separate process with --cache-size 0, so every read really crosses it.
 * Direct and bridge are measured in interleaved rounds against two
 * identical idle QEMUs, so a change in the machine's load hits both alike.
 *
 * Usage: bench_bridge --bridge PATH [--short] [--qemu BIN]
 * Exit 77 (skip) without QEMU unless RSP_NO_SKIP=1.  Prints figures, never
 * asserts timings. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchclient.h"

static void die(const char *msg) {
  bc_die("bench_bridge", msg);
}

static void rtt_samples(bc_client *c, int count, double *v) {
  for (int i = 0; i < count; i++) {
    double t0 = bc_now();
    bc_request(c, "?");
    v[i] = (bc_now() - t0) * 1e6;
  }
}

/* Seconds to read total bytes in chunk-sized m packets, cycling over the
 * first 64 MiB of guest memory. */
static double bulk(bc_client *c, uint64_t total, size_t chunk, uint64_t *addr) {
  double t0 = bc_now();
  for (uint64_t done = 0; done < total; done += 0x10000) {
    bc_read(c, *addr, 0x10000, chunk);
    *addr = (*addr + 0x10000) % (64u << 20);
  }
  return bc_now() - t0;
}

static long rss_kib(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  long v = -1;
  if (!f)
    return -1;
  while (fgets(line, sizeof(line), f))
    if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
      break;
  fclose(f);
  return v;
}

int main(int argc, char **argv) {
  const char *bridge, *qemu;
  int shortrun = bc_options(argc, argv, "bench_bridge", &bridge, &qemu);
  int rtt_n = shortrun ? 2000 : 20000;
  uint64_t bulk_bytes = shortrun ? (16u << 20) : (256u << 20);
  uint64_t through = shortrun ? (64u << 20) : (1u << 30);
  bc_init();

  int qport = bc_free_port(), qport2 = bc_free_port(), qport3 = bc_free_port();
  pid_t q1 = bc_start_qemu(qemu, qport), q2 = bc_start_qemu(qemu, qport2);
  pid_t q3 = bc_start_qemu(qemu, qport3);
  bc_client d, b;
  int fd = bc_dial_wait(qport, q1);
  if (fd < 0)
    die("QEMU did not start");
  bc_client_init(&d, fd);
  bc_handshake(&d);

  int bport;
  pid_t bpid = bc_start_bridge(bridge, qport2, NULL, &bport);
  int probe = bc_dial_wait(qport2, q2); /* QEMU 2 is up */
  if (probe < 0)
    die("QEMU 2 did not start");
  close(probe);
  usleep(100000);
  fd = bc_dial_wait(bport, bpid);
  if (fd < 0)
    die("cannot connect to the bridge");
  bc_client_init(&b, fd);
  bc_handshake(&b);
  long rss_idle = rss_kib(bpid);
  bc_client rl;
  probe = bc_dial_wait(qport3, q3);
  if (probe < 0)
    die("QEMU 3 did not start");
  close(probe);
  usleep(100000);
  fd = bc_dial_wait(bc_start_relay(qport3), -1);
  if (fd < 0)
    die("cannot connect to the relay");
  bc_client_init(&rl, fd);
  bc_handshake(&rl);
  size_t dmax = bc_max_read(&d), bmax = bc_max_read(&b);

  enum { ROUNDS = 10 };
  int per = rtt_n / ROUNDS;
  double *dv = malloc(sizeof(double) * (size_t)rtt_n);
  double *bv = malloc(sizeof(double) * (size_t)rtt_n);
  double *rv = malloc(sizeof(double) * (size_t)rtt_n);
  if (!dv || !bv || !rv)
    die("out of memory");
  double t_d = 0, t_b = 0, t_d8 = 0, t_b8 = 0;
  uint64_t chunk = bulk_bytes / ROUNDS, da = 0, ba = 0;
  for (int i = 0; i < 200; i++) {
    bc_request(&d, "?");
    bc_request(&b, "?");
    bc_request(&rl, "?");
  }
  double loop_rtt = bc_loopback_rtt_us(shortrun ? 2000 : 10000);
  for (int r = 0; r < ROUNDS; r++) {
    rtt_samples(&d, per, dv + r * per);
    rtt_samples(&b, per, bv + r * per);
    rtt_samples(&rl, per, rv + r * per);
    t_d += bulk(&d, chunk, dmax, &da);
    t_b += bulk(&b, chunk, bmax, &ba);
    t_d8 += bulk(&d, chunk / 2, 0x800, &da);
    t_b8 += bulk(&b, chunk / 2, 0x800, &ba);
  }
  double d_rtt = bc_median(dv, per * ROUNDS), b_rtt = bc_median(bv, per * ROUNDS);
  double r_rtt = bc_median(rv, per * ROUNDS);
  double bytes = (double)(chunk * ROUNDS);
  double d_bw = bytes / t_d / 1e6, b_bw = bytes / t_b / 1e6;
  double d_bw8 = bytes / 2 / t_d8 / 1e6, b_bw8 = bytes / 2 / t_b8 / 1e6;
  free(dv);
  free(bv);
  free(rv);
  uint64_t passed = chunk * ROUNDS * 3 / 2;
  double t0 = bc_now();
  if (through > passed)
    bulk(&b, through - passed, bmax, &ba);
  double t_through = bc_now() - t0;
  long rss_after = rss_kib(bpid);
  close(d.fd);
  close(b.fd);
  close(rl.fd);

  printf("bench_bridge (%s run, %s with no guest, bridge --cache-size 0 and default\n"
         "--busy-poll; GDB-like client: ack mode to QEMU, no-ack mode to the bridge; %d\n"
         "interleaved rounds against identical QEMUs)\n",
         shortrun ? "short" : "full", qemu, ROUNDS);
  printf("  loopback round trip of this machine (1 byte, two processes): %.1f us\n", loop_rtt);
  printf("  tiny packet '?' median RTT: direct %.1f us, bridge %.1f us, ratio %.3fx "
         "(target <= 1.15x), %d samples each\n",
         d_rtt, b_rtt, b_rtt / d_rtt, per * ROUNDS);
  printf("  the same through a byte-copying relay that polls like the bridge (acks travel end to "
         "end, as through any transparent relay): %.1f us, ratio %.3fx; bridge minus relay "
         "%+.1f us\n",
         r_rtt, r_rtt / d_rtt, b_rtt - r_rtt);
  printf("  bulk reads in the largest m each side takes (direct 0x%zx, bridge 0x%zx): "
         "direct %.1f MB/s, bridge %.1f MB/s, ratio %.3fx (target >= 0.95x), %llu MiB each\n",
         dmax, bmax, d_bw, b_bw, b_bw / d_bw, (unsigned long long)((chunk * ROUNDS) >> 20));
  printf("  bulk reads in m 0x800 on both (forwarding only): direct %.1f MB/s, bridge %.1f "
         "MB/s, ratio %.3fx\n",
         d_bw8, b_bw8, b_bw8 / d_bw8);
  printf("  bridge RSS: idle %ld KiB, after %llu MiB of memory read through it %ld KiB "
         "(%.1f s for the rest)\n",
         rss_idle, (unsigned long long)(through >> 20), rss_after, t_through);
  bc_cleanup();
  return 0;
}
