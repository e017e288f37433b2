/* bench_bridge - rspbridge against direct QEMU, in the same run.
 *
 *   median round trip of a tiny packet ('?')
 *   bulk read throughput with the largest m packets QEMU answers (0x800
 *     bytes), one request at a time like GDB
 *   the bridge's resident memory at idle and after N bytes passed through
 *
 * The client behaves like GDB in ack mode (it waits for the '+' and the
 * reply, then acks the reply).  The bridge runs as a separate process
 * with --cache-size 0, so every read really crosses it.
 *
 * Usage: bench_bridge --bridge PATH [--short] [--qemu BIN]
 * Exit 77 (skip) without QEMU unless RSP_NO_SKIP=1.  QEMU and the bridge
 * are killed by PID and reaped on every exit path.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rsp.h"

static pid_t qemu_pid = -1, qemu2_pid = -1, bridge_pid = -1;

static void reap(pid_t *p) {
  if (*p > 0) {
    kill(*p, SIGKILL);
    waitpid(*p, NULL, 0);
    *p = -1;
  }
}

static void cleanup(void) {
  /* The bridge first gets a chance to exit cleanly. */
  if (bridge_pid > 0) {
    kill(bridge_pid, SIGTERM);
    for (int i = 0; i < 200; i++) {
      if (waitpid(bridge_pid, NULL, WNOHANG) == bridge_pid) {
        bridge_pid = -1;
        break;
      }
      usleep(10000);
    }
  }
  reap(&bridge_pid);
  reap(&qemu_pid);
  reap(&qemu2_pid);
}

static void on_signal(int sig) {
  (void)sig;
  cleanup();
  _exit(1);
}

static void die(const char *msg) {
  fprintf(stderr, "bench_bridge: %s\n", msg);
  exit(1);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t n = sizeof(sa);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
      getsockname(fd, (struct sockaddr *)&sa, &n))
    die("no free port");
  close(fd);
  return ntohs(sa.sin_port);
}

static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                           .sin_port = htons((uint16_t)port)};
  if (fd < 0)
    return -1;
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

/* ------------------------------------------------------------------------
 * A GDB-like client.
 */

typedef struct {
  int fd;
  int noack;
  rsp_parser p;
  char body[0x5000];
  size_t got_len;
  int got;
  char rbuf[65536];
  size_t rlen, rpos;
} client;

static int on_packet(rsp_parser *p, const char *b, size_t len) {
  client *c = p->data;
  (void)b;
  c->got_len = len;
  c->got = 1;
  return 1; /* stop: one reply at a time */
}

static const rsp_parser_settings settings = {.on_packet = on_packet};

static void client_init(client *c, int fd) {
  memset(c, 0, sizeof(*c));
  c->fd = fd;
  rsp_parser_init(&c->p, c->body, sizeof(c->body));
  c->p.data = c;
}

static void send_all(int fd, const char *d, size_t n) {
  while (n) {
    ssize_t w = write(fd, d, n);
    if (w <= 0) {
      if (w < 0 && errno == EINTR)
        continue;
      die("write failed");
    }
    d += w;
    n -= (size_t)w;
  }
}

/* Sends body, waits for the reply (acks before it are parsed away), acks
 * the reply.  Returns the reply length; the body is in c->body. */
static size_t request(client *c, const char *body) {
  char frame[256];
  int n = rsp_encode(frame, sizeof(frame), body, strlen(body), 0);
  send_all(c->fd, frame, (size_t)n);
  c->got = 0;
  for (;;) {
    if (c->rpos == c->rlen) {
      struct pollfd pf = {.fd = c->fd, .events = POLLIN};
      if (poll(&pf, 1, 10000) <= 0)
        die("no reply within 10 s");
      ssize_t r = read(c->fd, c->rbuf, sizeof(c->rbuf));
      if (r <= 0)
        die("connection closed");
      c->rlen = (size_t)r;
      c->rpos = 0;
    }
    c->rpos += rsp_parser_execute(&c->p, &settings, c->rbuf + c->rpos, c->rlen - c->rpos);
    if (c->got) {
      if (!c->noack)
        send_all(c->fd, "+", 1);
      return c->got_len;
    }
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* count round trips of '?', times in us appended to v. */
static void rtt_samples(client *c, int count, double *v) {
  for (int i = 0; i < count; i++) {
    double t0 = now_s();
    request(c, "?");
    v[i] = (now_s() - t0) * 1e6;
  }
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof(double), cmp_double);
  return v[n / 2];
}

/* Reads total bytes in 0x800-byte m packets over the first 64 MiB. */
static double bulk_mbps(client *c, uint64_t total) {
  char body[64];
  uint64_t addr = 0, done = 0;
  double t0 = now_s();
  while (done < total) {
    snprintf(body, sizeof(body), "m%llx,800", (unsigned long long)addr);
    size_t n = request(c, body);
    if (n != 0x1000) {
      c->body[n < 200 ? n : 200] = 0;
      fprintf(stderr, "bench_bridge: m reply: %s\n", c->body);
      die("unexpected m reply length");
    }
    done += 0x800;
    addr = (addr + 0x800) % (64u << 20);
  }
  return (double)total / (now_s() - t0) / 1e6;
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

/* Like GDB: no-ack mode when the stub offers it (the bridge does, QEMU
 * 7.2 does not). */
/* CPU time (user + system) of a process, in seconds. */
static double cpu_s(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  unsigned long ut = 0, st = 0;
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
    return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void handshake(client *c) {
  size_t n = request(c, "qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386");
  c->body[n < sizeof(c->body) ? n : sizeof(c->body) - 1] = 0;
  if (strstr(c->body, "QStartNoAckMode+")) {
    n = request(c, "QStartNoAckMode");
    if (n == 2 && !memcmp(c->body, "OK", 2)) {
      c->noack = 1;
      c->p.flags |= RSP_PARSER_NOVERIFY;
    }
  }
  request(c, "?");
}

/* ------------------------------------------------------------------------ */

static int wait_dial(int port, pid_t pid) {
  for (int i = 0; i < 1000; i++) {
    int fd = dial(port);
    if (fd >= 0)
      return fd;
    if (waitpid(pid, NULL, WNOHANG) == pid)
      return -1;
    usleep(10000);
  }
  return -1;
}

static int in_path(const char *name) {
  if (strchr(name, '/'))
    return access(name, X_OK) == 0;
  const char *path = getenv("PATH");
  char buf[4096];
  while (path && *path) {
    const char *e = strchr(path, ':');
    size_t n = e ? (size_t)(e - path) : strlen(path);
    snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, name);
    if (access(buf, X_OK) == 0)
      return 1;
    path = e ? e + 1 : NULL;
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *bridge = NULL, *qemu = "qemu-system-x86_64";
  int shortrun = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--bridge") && i + 1 < argc)
      bridge = argv[++i];
    else if (!strcmp(argv[i], "--qemu") && i + 1 < argc)
      qemu = argv[++i];
    else if (!strcmp(argv[i], "--short"))
      shortrun = 1;
    else {
      fprintf(stderr, "usage: bench_bridge --bridge PATH [--short] [--qemu BIN]\n");
      return 2;
    }
  }
  if (!bridge) {
    fprintf(stderr, "bench_bridge: --bridge PATH is required\n");
    return 2;
  }
  if (!in_path(qemu)) {
    const char *ns = getenv("RSP_NO_SKIP");
    fprintf(stderr, "bench_bridge: %s not found\n", qemu);
    return ns && !strcmp(ns, "1") ? 1 : 77;
  }
  int rtt_n = shortrun ? 2000 : 20000;
  uint64_t bulk = shortrun ? (16u << 20) : (256u << 20);
  uint64_t through = shortrun ? (64u << 20) : (1u << 30);

  atexit(cleanup);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);

  /* Two identical idle QEMUs: one direct, one behind the bridge, so the
   * measurements can be interleaved round by round and a change in the
   * machine's load hits both alike. */
  int qport = free_port(), qport2 = free_port();
  pid_t *pids[2] = {&qemu_pid, &qemu2_pid};
  int ports[2] = {qport, qport2};
  for (int k = 0; k < 2; k++) {
    char gdbarg[64];
    snprintf(gdbarg, sizeof(gdbarg), "tcp:127.0.0.1:%d", ports[k]);
    *pids[k] = fork();
    if (*pids[k] == 0) {
      execlp(qemu, qemu, "-S", "-display", "none", "-monitor", "none", "-serial", "none",
             "-nodefaults", "-m", "128", "-gdb", gdbarg, (char *)NULL);
      _exit(127);
    }
  }
  client d, b;
  int fd = wait_dial(qport, qemu_pid);
  if (fd < 0)
    die("QEMU did not start");
  client_init(&d, fd);
  handshake(&d);

  int bpipe[2];
  if (pipe(bpipe))
    die("pipe");
  bridge_pid = fork();
  if (bridge_pid == 0) {
    dup2(bpipe[1], 2);
    close(bpipe[0]);
    char target[64];
    snprintf(target, sizeof(target), "tcp:127.0.0.1:%d", qport2);
    execl(bridge, bridge, "--listen", "127.0.0.1:0", "--cache-size", "0", target, (char *)NULL);
    _exit(127);
  }
  close(bpipe[1]);
  FILE *be = fdopen(bpipe[0], "r");
  char line[512];
  int bport = 0;
  while (!bport && fgets(line, sizeof(line), be)) {
    char *p = strstr(line, "listening on 127.0.0.1:");
    if (p)
      bport = atoi(p + strlen("listening on 127.0.0.1:"));
  }
  if (!bport)
    die("the bridge did not say where it listens");
  int probe = wait_dial(qport2, qemu2_pid); /* QEMU 2 is up */
  if (probe < 0)
    die("QEMU 2 did not start");
  close(probe);
  usleep(100000);
  fd = wait_dial(bport, bridge_pid);
  if (fd < 0)
    die("cannot connect to the bridge");
  client_init(&b, fd);
  handshake(&b);
  long rss_idle = rss_kib(bridge_pid);

  enum { ROUNDS = 10 };
  int per = rtt_n / ROUNDS;
  double *dv = malloc(sizeof(double) * (size_t)rtt_n);
  double *bv = malloc(sizeof(double) * (size_t)rtt_n);
  double d_time = 0, b_time = 0;
  uint64_t chunk = bulk / ROUNDS;
  for (int i = 0; i < 200; i++) {
    request(&d, "?");
    request(&b, "?");
  }
  for (int r = 0; r < ROUNDS; r++) {
    rtt_samples(&d, per, dv + r * per);
    rtt_samples(&b, per, bv + r * per);
    double t0 = now_s();
    bulk_mbps(&d, chunk);
    double t1 = now_s();
    bulk_mbps(&b, chunk);
    d_time += t1 - t0;
    b_time += now_s() - t1;
  }
  double d_rtt = median(dv, per * ROUNDS), b_rtt = median(bv, per * ROUNDS);
  double d_bw = (double)(chunk * ROUNDS) / d_time / 1e6;
  double b_bw = (double)(chunk * ROUNDS) / b_time / 1e6;
  free(dv);
  free(bv);
  double t0 = now_s();
  uint64_t passed = chunk * ROUNDS;
  double cpu0 = cpu_s(bridge_pid);
  if (through > passed)
    bulk_mbps(&b, through - passed);
  double cpu1 = cpu_s(bridge_pid);
  double t_through = now_s() - t0;
  double nreq = (double)(through > passed ? through - passed : 0) / 0x800;
  long rss_after = rss_kib(bridge_pid);
  close(d.fd);
  close(b.fd);

  printf("bench_bridge (%s run, %s with no guest, bridge --cache-size 0; the client acts\n"
         "like GDB: ack mode to QEMU, no-ack mode to the bridge, which offers it; direct and\n"
         "bridge measured in %d interleaved rounds against two identical QEMUs)\n",
         shortrun ? "short" : "full", qemu, ROUNDS);
  printf("  tiny packet '?' median RTT: direct %.1f us, bridge %.1f us, ratio %.3fx "
         "(target <= 1.15x), %d samples each\n",
         d_rtt, b_rtt, b_rtt / d_rtt, per * ROUNDS);
  printf("  bulk m 0x800 one at a time: direct %.1f MB/s, bridge %.1f MB/s, ratio %.3fx "
         "(target >= 0.95x), %llu MiB each\n",
         d_bw, b_bw, b_bw / d_bw, (unsigned long long)((chunk * ROUNDS) >> 20));
  printf("  bridge RSS: idle %ld KiB, after %llu MiB of memory read through it %ld KiB "
         "(%.1f s for the rest)\n",
         rss_idle, (unsigned long long)(through >> 20), rss_after, t_through);
  if (nreq > 0)
    printf(
        "  bridge CPU per forwarded m 0x800 round trip: %.2f us (user+system, load-independent)\n",
        (cpu1 - cpu0) / nreq * 1e6);
  fclose(be);
  cleanup();
  return 0;
}
