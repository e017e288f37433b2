/* sim_server.c - the HTTP endpoint serving the simulated target on
 * 127.0.0.1 (for the Python client's tests, the page's browser test and the
 * benchmark).  Prints "port N" on stdout once listening; exits when stdin
 * closes, so a test harness that dies takes it along.
 *   http_sim_server [--port N] [--read-only] [--inline]
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simbk.h"

static http_server *srv;
static simbk bk;
static uv_pipe_t in;

static void on_stdin(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  free(buf->base);
  if (n >= 0)
    return;
  uv_close((uv_handle_t *)s, NULL);
  http_server_close(srv, NULL, NULL);
  simbk_close(&bk);
}

static void on_alloc(uv_handle_t *h, size_t n, uv_buf_t *buf) {
  (void)h;
  buf->base = malloc(n);
  buf->len = buf->base ? n : 0;
}

int main(int argc, char **argv) {
  http_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  int threaded = 1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--port") && i + 1 < argc)
      cfg.port = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--read-only"))
      cfg.read_only = 1;
    else if (!strcmp(argv[i], "--inline"))
      threaded = 0;
    else {
      fprintf(stderr, "usage: http_sim_server [--port N] [--read-only] [--inline]\n");
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  uv_loop_t *loop = uv_default_loop();
  /* --read-only also for the service: POST /v1/monitor "phys write" is
   * refused as with rspbridge --read-only. */
  svc_config scfg = {.cache_bytes = 1u << 20, .read_only = cfg.read_only};
  if (simbk_init(&bk, loop, threaded, &scfg)) {
    fprintf(stderr, "http_sim_server: out of memory\n");
    return 1;
  }
  cfg.ops = &simbk_ops;
  cfg.ctx = &bk;
  int rc = http_server_start(loop, &cfg, &srv);
  if (rc < 0) {
    fprintf(stderr, "http_sim_server: %s\n", uv_strerror(rc));
    return 1;
  }
  printf("port %d\n", http_server_port(srv));
  fflush(stdout);
  uv_pipe_init(loop, &in, 0);
  if (uv_pipe_open(&in, 0) == 0)
    uv_read_start((uv_stream_t *)&in, on_alloc, on_stdin);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  simbk_free(&bk);
  return 0;
}
