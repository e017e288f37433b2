/* bench_service_reread - re-reading a 64 KiB region like GDB (the largest m
 * each side takes, one at a time) directly from QEMU and through rspbridge
 * with its cache on (the default), against two identical idle QEMUs, in
 * interleaved rounds.  Also counts what the bridge asked upstream during
 * the cached rounds (`monitor cache stats --json`), and prints the floor a
 * one-request-at-a-time client cannot go under: its number of requests
 * times the machine's loopback round trip.  Prints figures; never asserts
 * timings.
 *
 * Usage: bench_service_reread --bridge PATH [--short] [--qemu BIN]
 * Exit 77 (skip) without QEMU unless RSP_NO_SKIP=1. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchclient.h"

#define REGION 0x10000u

static void die(const char *msg) {
  bc_die("bench_service_reread", msg);
}

static double reread(bc_client *c) {
  double t0 = bc_now();
  bc_read(c, 0x100000, REGION, bc_max_read(c));
  return bc_now() - t0;
}

static long upstream(bc_client *c) {
  char text[2048];
  bc_monitor(c, "cache stats --json", text, sizeof(text));
  const char *p = strstr(text, "\"upstream_requests\":");
  return p ? atol(p + 20) : -1;
}

int main(int argc, char **argv) {
  const char *bridge, *qemu;
  int rounds = bc_options(argc, argv, "bench_service_reread", &bridge, &qemu) ? 40 : 200;
  bc_init();
  int qp[2] = {bc_free_port(), bc_free_port()};
  pid_t q0 = bc_start_qemu(qemu, qp[0]), q1 = bc_start_qemu(qemu, qp[1]);
  int probe = bc_dial_wait(qp[1], q1);
  if (probe < 0)
    die("QEMU did not start");
  close(probe);
  usleep(100000);
  int bp = bc_free_port();
  pid_t bpid = fork();
  if (bpid == 0) {
    char l[64], t[64];
    snprintf(l, sizeof(l), "127.0.0.1:%d", bp);
    snprintf(t, sizeof(t), "tcp:127.0.0.1:%d", qp[1]);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0)
      dup2(devnull, 2);
    execl(bridge, bridge, "--listen", l, t, (char *)NULL);
    _exit(127);
  }
  bc_track(bpid, 1);
  bc_client d, b;
  int fd = bc_dial_wait(qp[0], q0);
  if (fd < 0)
    die("QEMU did not start");
  bc_client_init(&d, fd);
  fd = bc_dial_wait(bp, bpid);
  if (fd < 0)
    die("the bridge did not start");
  bc_client_init(&b, fd);
  bc_handshake(&d);
  bc_handshake(&b);
  reread(&d);
  reread(&b); /* the first pass fills the cache */
  long up0 = upstream(&b);
  double *dv = malloc(sizeof(double) * (size_t)rounds),
         *bv = malloc(sizeof(double) * (size_t)rounds);
  if (!dv || !bv)
    die("out of memory");
  for (int r = 0; r < rounds; r++) {
    dv[r] = reread(&d);
    bv[r] = reread(&b);
  }
  long up1 = upstream(&b);
  double loop_rtt = bc_loopback_rtt_us(2000);
  qsort(dv, (size_t)rounds, sizeof(double), bc_cmp_double);
  qsort(bv, (size_t)rounds, sizeof(double), bc_cmp_double);
  double dm = dv[rounds / 2], bm = bv[rounds / 2];
  size_t dn = REGION / bc_max_read(&d), bn = REGION / bc_max_read(&b);
  printf("bench_service_reread (%s, a 64 KiB region read like GDB: direct in %zu m packets of "
         "0x%zx, ack mode; bridge in %zu m packets of 0x%zx, no-ack mode; %d rounds):\n",
         qemu, dn, bc_max_read(&d), bn, bc_max_read(&b), rounds);
  printf("  median re-read: direct QEMU %.0f us, bridge with cache %.0f us, ratio %.2fx "
         "(target >= 20x); upstream requests during the cached rounds: %ld\n",
         dm * 1e6, bm * 1e6, dm / bm, up1 - up0);
  printf("  floor for the bridge: %zu round trips x %.1f us loopback = %.0f us (at most %.1fx "
         "for a client that waits for each reply)\n",
         bn, loop_rtt, (double)bn * loop_rtt, dm * 1e6 / ((double)bn * loop_rtt));
  free(dv);
  free(bv);
  close(d.fd);
  close(b.fd);
  bc_cleanup();
  return 0;
}
