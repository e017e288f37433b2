/* benchclient.c - see benchclient.h. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include "benchclient.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double bc_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void bc_die(const char *name, const char *msg) {
  fprintf(stderr, "%s: %s\n", name, msg);
  exit(1);
}

static void fail(const char *msg) {
  bc_die("bench", msg);
}

/* ------------------------------------------------------------------------
 * Children. */

enum { MAX_KIDS = 8 };
static pid_t kids[MAX_KIDS];
static int gentle[MAX_KIDS];
static int nkids;

void bc_track(pid_t pid, int soft) {
  if (pid > 0 && nkids < MAX_KIDS) {
    kids[nkids] = pid;
    gentle[nkids++] = soft;
  }
}

void bc_cleanup(void) {
  while (nkids > 0) {
    pid_t p = kids[--nkids];
    if (gentle[nkids]) {
      kill(p, SIGTERM);
      for (int i = 0; i < 200; i++) {
        if (waitpid(p, NULL, WNOHANG) == p) {
          p = -1;
          break;
        }
        usleep(10000);
      }
    }
    if (p > 0) {
      kill(p, SIGKILL);
      waitpid(p, NULL, 0);
    }
  }
}

static void on_signal(int sig) {
  (void)sig;
  bc_cleanup();
  _exit(1);
}

void bc_init(void) {
  atexit(bc_cleanup);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);
}

int bc_have(const char *prog) {
  if (strchr(prog, '/'))
    return access(prog, X_OK) == 0;
  const char *path = getenv("PATH");
  char buf[4096];
  while (path && *path) {
    const char *e = strchr(path, ':');
    size_t n = e ? (size_t)(e - path) : strlen(path);
    snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, prog);
    if (access(buf, X_OK) == 0)
      return 1;
    path = e ? e + 1 : NULL;
  }
  return 0;
}

int bc_skip_code(void) {
  const char *ns = getenv("RSP_NO_SKIP");
  return ns && !strcmp(ns, "1") ? 1 : 77;
}

int bc_options(int argc, char **argv, const char *name, const char **bridge, const char **qemu) {
  int shortrun = 0;
  *bridge = NULL;
  *qemu = "qemu-system-x86_64";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--bridge") && i + 1 < argc)
      *bridge = argv[++i];
    else if (!strcmp(argv[i], "--qemu") && i + 1 < argc)
      *qemu = argv[++i];
    else if (!strcmp(argv[i], "--short"))
      shortrun = 1;
    else {
      fprintf(stderr, "usage: %s --bridge PATH [--short] [--qemu BIN]\n", name);
      exit(2);
    }
  }
  if (!*bridge) {
    fprintf(stderr, "%s: --bridge PATH is required\n", name);
    exit(2);
  }
  if (!bc_have(*qemu)) {
    fprintf(stderr, "%s: %s not found\n", name, *qemu);
    exit(bc_skip_code());
  }
  return shortrun;
}

pid_t bc_start_bridge(const char *bridge, int target_port, const char *const *extra, int *port) {
  int bpipe[2];
  if (pipe(bpipe))
    bc_die("bench", "pipe");
  pid_t pid = fork();
  if (pid == 0) {
    dup2(bpipe[1], 2);
    close(bpipe[0]);
    char target[64];
    snprintf(target, sizeof(target), "tcp:127.0.0.1:%d", target_port);
    const char *argv[32] = {bridge, "--listen", "127.0.0.1:0", "--cache-size", "0"};
    int n = 5;
    for (; extra && *extra && n < 30; extra++)
      argv[n++] = *extra;
    argv[n++] = target;
    argv[n] = NULL;
    execv(bridge, (char *const *)argv);
    _exit(127);
  }
  bc_track(pid, 1);
  close(bpipe[1]);
  FILE *be = fdopen(bpipe[0], "r"); /* kept open: the bridge's stderr */
  char line[512];
  static const char says[] = "listening on 127.0.0.1:";
  *port = 0;
  while (!*port && be && fgets(line, sizeof(line), be)) {
    char *p = strstr(line, says);
    if (p)
      *port = atoi(p + sizeof(says) - 1);
  }
  if (!*port)
    bc_die("bench", "the bridge did not say where it listens");
  return pid;
}

int bc_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double bc_median(double *v, int n) {
  qsort(v, (size_t)n, sizeof(double), bc_cmp_double);
  return v[n / 2];
}

/* ------------------------------------------------------------------------
 * Sockets. */

int bc_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t n = sizeof(sa);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
      getsockname(fd, (struct sockaddr *)&sa, &n))
    fail("no free port");
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

int bc_dial_wait(int port, pid_t pid) {
  for (int i = 0; i < 1000; i++) {
    int fd = dial(port);
    if (fd >= 0)
      return fd;
    if (pid > 0 && waitpid(pid, NULL, WNOHANG) == pid)
      return -1;
    usleep(10000);
  }
  return -1;
}

pid_t bc_start_qemu(const char *qemu, int port) {
  char gdbarg[64];
  snprintf(gdbarg, sizeof(gdbarg), "tcp:127.0.0.1:%d", port);
  pid_t pid = fork();
  if (pid == 0) {
    execlp(qemu, qemu, "-S", "-display", "none", "-monitor", "none", "-serial", "none",
           "-nodefaults", "-m", "128", "-gdb", gdbarg, (char *)NULL);
    _exit(127);
  }
  if (pid < 0)
    fail("fork");
  bc_track(pid, 0);
  return pid;
}

static void send_all(int fd, const char *d, size_t n) {
  while (n) {
    ssize_t w = write(fd, d, n);
    if (w <= 0) {
      if (w < 0 && errno == EINTR)
        continue;
      fail("write failed");
    }
    d += w;
    n -= (size_t)w;
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Copies what is readable; returns the bytes copied. */
static ssize_t copy_all(int from, int to, char *buf, size_t cap) {
  ssize_t r = read(from, buf, cap);
  if (r == 0)
    _exit(0);
  for (ssize_t w = 0; r > 0 && w < r;) {
    ssize_t k = write(to, buf + w, (size_t)(r - w));
    if (k > 0)
      w += k;
    else if (k < 0 && errno != EAGAIN && errno != EINTR)
      _exit(0);
  }
  return r > 0 ? r : 0;
}

int bc_start_relay(int target_port) {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof(sa);
  if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 1) ||
      getsockname(l, (struct sockaddr *)&sa, &sl))
    fail("relay listen");
  pid_t pid = fork();
  if (pid == 0) {
    int c = accept(l, NULL, NULL);
    int t = bc_dial_wait(target_port, -1);
    if (c < 0 || t < 0)
      _exit(1);
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(c, F_SETFL, O_NONBLOCK);
    fcntl(t, F_SETFL, O_NONBLOCK);
    static char buf[65536];
    /* Polls without sleeping for 200 us after traffic, like the bridge's
     * default --busy-poll, then sleeps until the next bytes. */
    double last = bc_now();
    for (;;) {
      if (copy_all(c, t, buf, sizeof(buf)) + copy_all(t, c, buf, sizeof(buf)) > 0) {
        last = bc_now();
      } else if (bc_now() - last > 200e-6) {
        struct pollfd pf[2] = {{.fd = c, .events = POLLIN}, {.fd = t, .events = POLLIN}};
        poll(pf, 2, -1);
        last = bc_now();
      }
    }
  }
  close(l);
  bc_track(pid, 0);
  return ntohs(sa.sin_port);
}

double bc_loopback_rtt_us(int n) {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof(sa);
  if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 1) ||
      getsockname(l, (struct sockaddr *)&sa, &sl))
    fail("loopback listen");
  pid_t echo = fork();
  if (echo == 0) {
    int c = accept(l, NULL, NULL);
    int one = 1;
    char b;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    while (read(c, &b, 1) == 1 && write(c, &b, 1) == 1) {
    }
    _exit(0);
  }
  close(l);
  bc_track(echo, 0);
  int fd = bc_dial_wait(ntohs(sa.sin_port), echo);
  if (fd < 0)
    fail("loopback connect");
  double *v = malloc(sizeof(double) * (size_t)n);
  if (!v)
    fail("out of memory");
  char b = 'x';
  for (int i = 0; i < n; i++) {
    double t0 = bc_now();
    if (write(fd, &b, 1) != 1 || read(fd, &b, 1) != 1)
      fail("loopback ping-pong");
    v[i] = (bc_now() - t0) * 1e6;
  }
  close(fd);
  qsort(v, (size_t)n, sizeof(double), cmp_double);
  double m = v[n / 2];
  free(v);
  return m;
}

/* ------------------------------------------------------------------------
 * The client. */

static int on_packet(rsp_parser *p, const char *b, size_t len) {
  bc_client *c = p->data;
  (void)b;
  c->got_len = len;
  c->got = 1;
  return 1; /* one packet at a time */
}

static const rsp_parser_settings settings = {.on_packet = on_packet};

void bc_client_init(bc_client *c, int fd) {
  memset(c, 0, sizeof(*c));
  c->fd = fd;
  rsp_parser_init(&c->p, c->body, sizeof(c->body));
  c->p.data = c;
}

size_t bc_next(bc_client *c) {
  c->got = 0;
  for (;;) {
    if (c->rpos == c->rlen) {
      struct pollfd pf = {.fd = c->fd, .events = POLLIN};
      if (poll(&pf, 1, 10000) <= 0)
        fail("no reply within 10 s");
      ssize_t r = read(c->fd, c->rbuf, sizeof(c->rbuf));
      if (r <= 0)
        fail("connection closed");
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

size_t bc_request(bc_client *c, const char *body) {
  char frame[512];
  int n = rsp_encode(frame, sizeof(frame), body, strlen(body), 0);
  if (n < 0)
    fail("request too long");
  send_all(c->fd, frame, (size_t)n);
  return bc_next(c);
}

void bc_handshake(bc_client *c) {
  size_t n = bc_request(c, "qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386");
  c->body[n < sizeof(c->body) ? n : sizeof(c->body) - 1] = 0;
  const char *ps = strstr(c->body, "PacketSize=");
  c->psize = ps ? (unsigned)strtoul(ps + 11, NULL, 16) : 0;
  if (strstr(c->body, "QStartNoAckMode+")) {
    n = bc_request(c, "QStartNoAckMode");
    if (n == 2 && !memcmp(c->body, "OK", 2)) {
      c->noack = 1;
      c->p.flags |= RSP_PARSER_NOVERIFY;
    }
  }
  bc_request(c, "?");
}

size_t bc_max_read(const bc_client *c) {
  if (!c->psize)
    return 0x800;
  return c->psize / 2;
}

void bc_read(bc_client *c, uint64_t addr, size_t len, size_t chunk) {
  char b[64];
  while (len) {
    size_t n = len < chunk ? len : chunk;
    snprintf(b, sizeof(b), "m%llx,%zx", (unsigned long long)addr, n);
    size_t got = bc_request(c, b);
    if (got != 2 * n) {
      c->body[got < 200 ? got : 200] = 0;
      fprintf(stderr, "bench: m reply: %s\n", c->body);
      fail("unexpected m reply length");
    }
    addr += n;
    len -= n;
  }
}

void bc_monitor(bc_client *c, const char *cmd, char *out, size_t cap) {
  char q[512];
  int n = rsp_format_qrcmd(q, sizeof(q) - 1, cmd, strlen(cmd));
  if (n < 0)
    fail("monitor command too long");
  q[n] = 0;
  size_t ol = 0;
  size_t len = bc_request(c, q);
  while (len > 1 && c->body[0] == 'O' && !(len == 2 && c->body[1] == 'K')) {
    int k = rsp_hex_decode(out + ol, cap - 1 - ol, c->body + 1, len - 1);
    if (k > 0)
      ol += (size_t)k;
    len = bc_next(c);
  }
  out[ol] = 0;
}
