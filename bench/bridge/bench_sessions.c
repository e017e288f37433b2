/* bench_sessions - an observer's `monitor vtop` against a running guest
 * (rspbridge --sessions), in the same run as its baseline: the same
 * command while the guest is stopped.
 *
 * A controller connects first, an observer second.  In interleaved rounds
 * the observer runs `monitor vtop 1000` N times with the guest stopped,
 * then N times while the controller's `c` is outstanding: each of those
 * pauses the guest (^C), is served, and resumes it with the controller's
 * `c` (the pause protocol, bridge/README.md).  Prints the median latency of
 * both, their ratio, and the pause lengths the bridge measured (`monitor
 * session`).  The bridge runs with --cache-size 0: a stopped guest's vtop
 * reads its tables each time too.  QEMU has no guest: its CPU runs
 * whatever the reset vector finds, which is all a running guest must do.
 *
 * Usage: bench_sessions --bridge PATH [--short] [--qemu BIN]
 * Exit 77 (skip) without QEMU unless RSP_NO_SKIP=1.  Prints figures, never
 * asserts timings. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchclient.h"

static void die(const char *msg) {
  bc_die("bench_sessions", msg);
}

/* Sends a packet without waiting for its reply (no-ack mode). */
static void send_only(bc_client *c, const char *body) {
  char f[64];
  unsigned sum = 0;
  for (const char *p = body; *p; p++)
    sum += (unsigned char)*p;
  int n = snprintf(f, sizeof(f), "$%s#%02x", body, sum & 0xff);
  if (write(c->fd, f, (size_t)n) != n)
    die("write failed");
}

static void vtops(bc_client *o, int n, double *v) {
  char out[4096];
  for (int i = 0; i < n; i++) {
    double t0 = bc_now();
    bc_monitor(o, "vtop 1000", out, sizeof(out));
    v[i] = (bc_now() - t0) * 1e6;
    if (!strstr(out, "0x1000"))
      die("vtop printed no translation");
  }
}

int main(int argc, char **argv) {
  const char *bridge, *qemu;
  int shortrun = bc_options(argc, argv, "bench_sessions", &bridge, &qemu);
  int per = shortrun ? 50 : 500;
  enum { ROUNDS = 10 };
  bc_init();
  int qport = bc_free_port();
  pid_t q = bc_start_qemu(qemu, qport);
  int probe = bc_dial_wait(qport, q);
  if (probe < 0)
    die("QEMU did not start");
  close(probe);
  usleep(100000);

  static const char *const two[] = {"--sessions", "2", NULL};
  int bport;
  pid_t bpid = bc_start_bridge(bridge, qport, two, &bport);
  bc_client c, o;
  int fd = bc_dial_wait(bport, bpid);
  if (fd < 0)
    die("cannot connect to the bridge");
  bc_client_init(&c, fd);
  bc_handshake(&c);
  if (!c.noack)
    die("the bridge offered no no-ack mode");
  fd = bc_dial_wait(bport, bpid);
  if (fd < 0)
    die("cannot connect to the bridge as an observer");
  bc_client_init(&o, fd);
  bc_handshake(&o);

  double *sv = malloc(sizeof(double) * (size_t)(per * ROUNDS));
  double *rv = malloc(sizeof(double) * (size_t)(per * ROUNDS));
  if (!sv || !rv)
    die("out of memory");
  char out[4096];
  vtops(&o, 5, sv); /* warm-up: discovery */
  for (int r = 0; r < ROUNDS; r++) {
    vtops(&o, per, sv + r * per);
    send_only(&c, "c");
    vtops(&o, per, rv + r * per);
    if (write(c.fd, "\003", 1) != 1)
      die("write failed");
    size_t n = bc_next(&c);
    if (n < 3 || (c.body[0] != 'T' && c.body[0] != 'S'))
      die("the controller got no stop reply after its ^C");
  }
  bc_monitor(&o, "session", out, sizeof(out));
  const char *pz = strstr(out, "pauses for observers:");
  char pzline[160] = "none reported";
  if (pz)
    snprintf(pzline, sizeof(pzline), "%.*s", (int)strcspn(pz, "\n"), pz);
  double s_med = bc_median(sv, per * ROUNDS), r_med = bc_median(rv, per * ROUNDS);
  printf("bench_sessions (%s run, %s with no guest, bridge --sessions 2 --cache-size 0; %d\n"
         "interleaved rounds of %d observer `monitor vtop 1000` each)\n",
         shortrun ? "short" : "full", qemu, ROUNDS, per);
  printf("  observer vtop median: guest stopped %.1f us, guest running (controller's c "
         "outstanding) %.1f us, ratio %.3fx\n",
         s_med, r_med, r_med / s_med);
  printf("  the bridge's %s\n", pzline);
  free(sv);
  free(rv);
  close(c.fd);
  close(o.fd);
  bc_cleanup();
  return 0;
}
