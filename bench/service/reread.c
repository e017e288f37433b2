/* bench_service_reread - re-reading a 64 KiB region like GDB (0x800-byte m
 * packets, one at a time, acked) directly from QEMU and through rspbridge
 * with its cache on (the default), against two identical idle QEMUs, in
 * interleaved rounds.  Also counts what the bridge asked upstream
 * (`monitor cache stats --json`).  Prints figures; never asserts timings.
 *
 * Usage: bench_service_reread --bridge PATH [--short] [--qemu BIN]
 * Exit 77 (skip) without QEMU unless RSP_NO_SKIP=1.  QEMU and the bridge
 * are killed by PID and reaped on every exit path. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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

static pid_t pids[3] = {-1, -1, -1}; /* QEMU direct, QEMU behind the bridge, bridge */

static void cleanup(void) {
  for (int i = 2; i >= 0; i--)
    if (pids[i] > 0) {
      kill(pids[i], i == 2 ? SIGTERM : SIGKILL);
      waitpid(pids[i], NULL, 0);
      pids[i] = -1;
    }
}

static void on_signal(int sig) {
  (void)sig;
  cleanup();
  _exit(1);
}

static void die(const char *msg) {
  fprintf(stderr, "bench_service_reread: %s\n", msg);
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

static int dial_wait(int port, pid_t pid) {
  for (int i = 0; i < 500; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                             .sin_port = htons((uint16_t)port)};
    if (fd >= 0 && !connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      return fd;
    }
    if (fd >= 0)
      close(fd);
    if (waitpid(pid, NULL, WNOHANG) == pid)
      return -1;
    usleep(10000);
  }
  return -1;
}

typedef struct {
  int fd;
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
  /* Console output of a qRcmd is collected by the caller through body. */
  c->got_len = len;
  c->got = 1;
  return 1;
}

static const rsp_parser_settings settings = {.on_packet = on_packet};

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

static size_t next_packet(client *c) {
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
      send_all(c->fd, "+", 1); /* ack mode, like GDB with QEMU */
      return c->got_len;
    }
  }
}

static size_t request(client *c, const char *body) {
  char frame[512];
  int n = rsp_encode(frame, sizeof(frame), body, strlen(body), 0);
  send_all(c->fd, frame, (size_t)n);
  return next_packet(c);
}

static void client_init(client *c, int fd) {
  memset(c, 0, sizeof(*c));
  c->fd = fd;
  rsp_parser_init(&c->p, c->body, sizeof(c->body));
  c->p.data = c;
}

/* One 64 KiB re-read: 32 m packets of 0x800 bytes. */
static double reread(client *c) {
  char b[64];
  double t0 = now_s();
  for (uint64_t off = 0; off < 0x10000; off += 0x800) {
    snprintf(b, sizeof(b), "m%llx,800", (unsigned long long)(0x100000 + off));
    if (request(c, b) != 0x1000)
      die("unexpected m reply");
  }
  return now_s() - t0;
}

/* The value of "key":N in the JSON output of `monitor cache stats --json`. */
static long upstream(client *c) {
  char q[128];
  int n = rsp_format_qrcmd(q, sizeof(q) - 1, "cache stats --json", 18);
  q[n] = 0;
  char text[2048] = "";
  size_t tl = 0;
  size_t len = request(c, q);
  while (len > 1 && c->body[0] == 'O' && !(len == 2 && c->body[1] == 'K')) {
    int k = rsp_hex_decode(text + tl, sizeof(text) - 1 - tl, c->body + 1, len - 1);
    if (k > 0)
      tl += (size_t)k;
    len = next_packet(c);
  }
  text[tl] = 0;
  const char *p = strstr(text, "\"upstream_requests\":");
  return p ? atol(p + 20) : -1;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  const char *bridge = NULL, *qemu = "qemu-system-x86_64";
  int rounds = 200;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--bridge") && i + 1 < argc)
      bridge = argv[++i];
    else if (!strcmp(argv[i], "--qemu") && i + 1 < argc)
      qemu = argv[++i];
    else if (!strcmp(argv[i], "--short"))
      rounds = 40;
    else
      die("usage: bench_service_reread --bridge PATH [--short] [--qemu BIN]");
  }
  if (!bridge)
    die("--bridge PATH is required");
  int have = 0;
  char *path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
  for (char *d = path ? strtok(path, ":") : NULL; d && !have; d = strtok(NULL, ":")) {
    char f[512];
    snprintf(f, sizeof(f), "%s/%s", d, qemu);
    have = access(f, X_OK) == 0;
  }
  free(path);
  if (!have) {
    const char *ns = getenv("RSP_NO_SKIP");
    fprintf(stderr, "bench_service_reread: %s not found\n", qemu);
    return ns && !strcmp(ns, "1") ? 1 : 77;
  }
  atexit(cleanup);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);

  int qp[2] = {free_port(), free_port()};
  for (int k = 0; k < 2; k++) {
    char g[64];
    snprintf(g, sizeof(g), "tcp:127.0.0.1:%d", qp[k]);
    pids[k] = fork();
    if (pids[k] == 0) {
      execlp(qemu, qemu, "-S", "-display", "none", "-monitor", "none", "-serial", "none",
             "-nodefaults", "-m", "128", "-gdb", g, (char *)NULL);
      _exit(127);
    }
  }
  int probe = dial_wait(qp[1], pids[1]);
  if (probe < 0)
    die("QEMU did not start");
  close(probe);
  usleep(100000);
  int bp = free_port();
  pids[2] = fork();
  if (pids[2] == 0) {
    char l[64], t[64];
    snprintf(l, sizeof(l), "127.0.0.1:%d", bp);
    snprintf(t, sizeof(t), "tcp:127.0.0.1:%d", qp[1]);
    int devnull = open("/dev/null", 1);
    if (devnull >= 0)
      dup2(devnull, 2);
    execl(bridge, bridge, "--listen", l, t, (char *)NULL);
    _exit(127);
  }
  client d, b;
  int fd = dial_wait(qp[0], pids[0]);
  if (fd < 0)
    die("QEMU did not start");
  client_init(&d, fd);
  fd = dial_wait(bp, pids[2]);
  if (fd < 0)
    die("the bridge did not start");
  client_init(&b, fd);
  request(&d, "qSupported:multiprocess+;xmlRegisters=i386");
  request(&b, "qSupported:multiprocess+;xmlRegisters=i386");
  reread(&d);
  reread(&b); /* the first pass fills the cache */
  long up0 = upstream(&b);
  double *dv = malloc(sizeof(double) * (size_t)rounds),
         *bv = malloc(sizeof(double) * (size_t)rounds);
  for (int r = 0; r < rounds; r++) {
    dv[r] = reread(&d);
    bv[r] = reread(&b);
  }
  long up1 = upstream(&b);
  qsort(dv, (size_t)rounds, sizeof(double), cmp);
  qsort(bv, (size_t)rounds, sizeof(double), cmp);
  double dm = dv[rounds / 2], bm = bv[rounds / 2];
  printf("bench_service_reread (%s, 64 KiB as 32 m packets of 0x800, ack mode, %d rounds):\n", qemu,
         rounds);
  printf("  median re-read: direct QEMU %.0f us, bridge with cache %.0f us, ratio %.2fx "
         "(target >= 20x); upstream requests during the cached rounds: %ld\n",
         dm * 1e6, bm * 1e6, dm / bm, up1 - up0);
  free(dv);
  free(bv);
  close(d.fd);
  close(b.fd);
  cleanup();
  return 0;
}
