/* bench_http: vtop requests per second over HTTP keep-alive (bridge/http
 * in front of the real service on the simulated target), against
 *   - the same `vtop VA --json` as a GDB monitor command: qRcmd over RSP on
 *     loopback TCP, no-ack mode, the output in hex 'O' packets, answered by
 *     the same service behind a small RSP server thread (the bridge's way,
 *     minus its upstream hop), from a GDB-like client (bench/common);
 *   - the service called directly in the same process (no transport: the
 *     ceiling).
 * Prints rates and ratios; asserts nothing about time.
 *   bench_http [--short]
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "benchclient.h"
#include "client.h"
#include "rsp.h"
#include "simbk.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
  uv_loop_t loop;
  simbk bk;
  http_server *srv;
  uv_async_t stop;
  pthread_t th;
  int port, threaded;
} server;

static void on_stop(uv_async_t *a) {
  server *s = a->data;
  http_server_close(s->srv, NULL, NULL);
  simbk_close(&s->bk);
  uv_close((uv_handle_t *)a, NULL);
}

static void *server_main(void *arg) {
  server *s = arg;
  uv_run(&s->loop, UV_RUN_DEFAULT);
  return NULL;
}

static int server_start(server *s, int threaded) {
  memset(s, 0, sizeof(*s));
  uv_loop_init(&s->loop);
  if (simbk_init(&s->bk, &s->loop, threaded, NULL))
    return -1;
  http_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.ops = &simbk_ops;
  cfg.ctx = &s->bk;
  if (http_server_start(&s->loop, &cfg, &s->srv))
    return -1;
  s->port = http_server_port(s->srv);
  uv_async_init(&s->loop, &s->stop, on_stop);
  s->stop.data = s;
  return pthread_create(&s->th, NULL, server_main, s);
}

static void server_stop(server *s) {
  uv_async_send(&s->stop);
  pthread_join(s->th, NULL);
  uv_loop_close(&s->loop);
  simbk_free(&s->bk);
}

static const unsigned long long vas[4] = {0xffff800000001980ull, 0xffff800000412345ull, 0x400010ull,
                                          0xffff8000001ff000ull};

typedef struct {
  int port;
  long n;
  long bad;
} job;

static void *client_main(void *arg) {
  job *j = arg;
  cl_conn *c = malloc(sizeof(*c));
  if (!c || cl_connect(c, j->port)) {
    j->bad = j->n;
    free(c);
    return NULL;
  }
  for (long i = 0; i < j->n; i++) {
    cl_resp r;
    cl_sendf(c, "GET /v1/vtop?va=0x%llx HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", vas[i % 4]);
    if (cl_read(c, &r) || r.status != 200)
      j->bad++;
    cl_resp_free(&r);
  }
  cl_close(c);
  free(c);
  return NULL;
}

/* n requests spread over k keep-alive clients; returns requests/s. */
static double over_http(int threaded, int k, long n, long *bad) {
  server s;
  if (server_start(&s, threaded)) {
    fprintf(stderr, "bench_http: server failed\n");
    exit(1);
  }
  pthread_t th[16];
  job jobs[16];
  double t0 = now();
  for (int i = 0; i < k; i++) {
    jobs[i] = (job){s.port, n / k, 0};
    pthread_create(&th[i], NULL, client_main, &jobs[i]);
  }
  for (int i = 0; i < k; i++) {
    pthread_join(th[i], NULL);
    *bad += jobs[i].bad;
  }
  double dt = now() - t0;
  server_stop(&s);
  return (double)(n / k * k) / dt;
}

/* ------------------------------------------------------------------------
 * The monitor over RSP: a one-client RSP server thread answering from its
 * own service and simulator, as the bridge answers a GDB. */

typedef struct {
  int lfd, fd, port;
  simbk bk;
  uv_loop_t loop;
  int noack;
  char out[RSP_FRAME_MAX(70000)];
} rsp_server;

static void rs_send(rsp_server *r, const char *body, size_t len) {
  int n = rsp_encode(r->out, sizeof(r->out), body, len, 0);
  if (n > 0 && write(r->fd, r->out, (size_t)n) != n)
    r->fd = -1;
}

static int rs_packet(rsp_parser *p, const char *at, size_t len) {
  rsp_server *r = p->data;
  char body[8192];
  if (len >= sizeof(body))
    return 0;
  memcpy(body, at, len);
  body[len] = 0;
  if (!r->noack && write(r->fd, "+", 1) != 1)
    return -1;
  if (!strcmp(body, "QStartNoAckMode")) {
    rs_send(r, "OK", 2);
    r->noack = 1;
    return 0;
  }
  if (!strncmp(body, "qRcmd,", 6)) {
    char line[4096];
    int n = rsp_parse_qrcmd(body, len, line, sizeof(line) - 1);
    line[n < 0 ? 0 : n] = 0;
    const char *reply = sim_cmd(r->bk.t, r->bk.s, line);
    /* Output in O packets of 512 bytes of text, as the bridge sends them. */
    char o[1 + 2 * 512 + 1];
    for (size_t off = 0; off < r->bk.t->out_len; off += 512) {
      size_t k = r->bk.t->out_len - off > 512 ? 512 : r->bk.t->out_len - off;
      int m = rsp_format_O(o, sizeof(o), r->bk.t->out + off, k);
      if (m > 0)
        rs_send(r, o, (size_t)m);
    }
    rs_send(r, reply, strlen(reply));
    return 0;
  }
  const char *reply = sim_packet(r->bk.t, r->bk.s, body);
  if (!strncmp(body, "qSupported", 10)) {
    char sup[1024];
    snprintf(sup, sizeof(sup), "%s;QStartNoAckMode+", reply);
    rs_send(r, sup, strlen(sup));
  } else {
    rs_send(r, reply, strlen(reply));
  }
  return 0;
}

static void *rsp_server_main(void *arg) {
  rsp_server *r = arg;
  r->fd = accept(r->lfd, NULL, NULL);
  if (r->fd < 0)
    return NULL;
  int one = 1;
  setsockopt(r->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  static char pbody[70000];
  rsp_parser p;
  rsp_parser_init(&p, pbody, sizeof(pbody));
  p.data = r;
  rsp_parser_settings st;
  memset(&st, 0, sizeof(st));
  st.on_packet = rs_packet;
  char buf[65536];
  for (;;) {
    ssize_t n = read(r->fd, buf, sizeof(buf));
    if (n <= 0 || r->fd < 0)
      break;
    if (r->noack)
      p.flags |= RSP_PARSER_NOVERIFY;
    rsp_parser_execute(&p, &st, buf, (size_t)n);
  }
  if (r->fd >= 0)
    close(r->fd);
  return NULL;
}

static double over_rsp(long n) {
  static rsp_server r;
  memset(&r, 0, sizeof(r));
  uv_loop_init(&r.loop);
  simbk_init(&r.bk, &r.loop, 0, NULL);
  r.lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t sl = sizeof(sa);
  if (bind(r.lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(r.lfd, 1) ||
      getsockname(r.lfd, (struct sockaddr *)&sa, &sl)) {
    fprintf(stderr, "bench_http: rsp server failed\n");
    exit(1);
  }
  pthread_t th;
  pthread_create(&th, NULL, rsp_server_main, &r);
  int fd = bc_dial_wait(ntohs(sa.sin_port), getpid());
  static bc_client c;
  bc_client_init(&c, fd);
  bc_handshake(&c);
  static char out[8192];
  char line[64];
  long bad = 0;
  double t0 = now();
  for (long i = 0; i < n; i++) {
    snprintf(line, sizeof(line), "vtop 0x%llx --json", vas[i % 4]);
    bc_monitor(&c, line, out, sizeof(out));
    bad += strstr(out, "\"mapped\":true") == NULL;
  }
  double dt = now() - t0;
  close(fd);
  pthread_join(th, NULL);
  close(r.lfd);
  simbk_close(&r.bk);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  uv_loop_close(&r.loop);
  simbk_free(&r.bk);
  if (bad) {
    fprintf(stderr, "bench_http: %ld monitor answers wrong\n", bad);
    exit(1);
  }
  return (double)n / dt;
}

static double direct(long n) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  simbk b;
  simbk_init(&b, &loop, 0, NULL);
  char line[64];
  double t0 = now();
  for (long i = 0; i < n; i++) {
    snprintf(line, sizeof(line), "vtop 0x%llx --json", vas[i % 4]);
    sim_cmd(b.t, b.s, line);
  }
  double dt = now() - t0;
  simbk_close(&b);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  simbk_free(&b);
  return (double)n / dt;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  int shrt = argc > 1 && !strcmp(argv[1], "--short");
  long n = shrt ? 2000 : 40000;
  long bad = 0;
  double d = direct(n);
  double g = over_rsp(n);
  double h1 = over_http(1, 1, n, &bad);
  double hi = over_http(0, 1, n, &bad);
  double h8 = over_http(1, 8, n, &bad);
  printf("vtop --json straight through the service: %10.0f /s\n", d);
  printf("monitor vtop over RSP (GDB-like, no-ack):  %10.0f /s (baseline)\n", g);
  printf("GET /v1/vtop, 1 keep-alive client, worker: %10.0f /s  ratio %.3f\n", h1, h1 / g);
  printf("GET /v1/vtop, 1 keep-alive client, inline: %10.0f /s  ratio %.3f\n", hi, hi / g);
  printf("GET /v1/vtop, 8 keep-alive clients, worker:%10.0f /s  ratio %.3f\n", h8, h8 / g);
  if (bad) {
    printf("%ld requests failed\n", bad);
    return 1;
  }
  return 0;
}
