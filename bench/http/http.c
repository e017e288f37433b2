/* bench_http: vtop requests per second over HTTP keep-alive (bridge/http
 * in front of the real service on the simulated target), against the same
 * `vtop VA --json` run straight through the service in the same process
 * (the monitor path without any transport: the ceiling).  Prints rates and
 * the ratio; asserts nothing about time.
 *   bench_http [--short]
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
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
    cl_sendf(c, "GET /v1/vtop?va=0x%llx HTTP/1.1\r\nHost: b\r\n\r\n", vas[i % 4]);
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
  double h1 = over_http(1, 1, n, &bad);
  double hi = over_http(0, 1, n, &bad);
  double h8 = over_http(1, 8, n, &bad);
  printf("vtop --json straight through the service: %10.0f /s (baseline)\n", d);
  printf("GET /v1/vtop, 1 keep-alive client, worker: %10.0f /s  ratio %.3f\n", h1, h1 / d);
  printf("GET /v1/vtop, 1 keep-alive client, inline: %10.0f /s  ratio %.3f\n", hi, hi / d);
  printf("GET /v1/vtop, 8 keep-alive clients, worker:%10.0f /s  ratio %.3f\n", h8, h8 / d);
  if (bad) {
    printf("%ld requests failed\n", bad);
    return 1;
  }
  return 0;
}
