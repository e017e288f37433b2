/* fuzz_http.c - libFuzzer target for the HTTP request path: the input is
 * what a client sends on one connection (any bytes: pipelined requests,
 * malformed HTTP, bad parameters), fed through a socketpair into the real
 * server, http-parser, the API and the service simulator behind it.  The
 * connection is then half-closed; the server must answer, close, and never
 * crash or hang.  The simulator is shared by all inputs and read-only, so
 * no input can change what the next one sees through its tables. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "simbk.h"

static uv_loop_t *loop;
static simbk bk;
static http_server *srv;

typedef struct {
  uv_pipe_t pipe;
  uv_write_t w;
  uv_shutdown_t sd;
  int closed;
  size_t got;
} client;

static void on_closed(uv_handle_t *h) {
  ((client *)h->data)->closed = 1;
}

static void on_alloc(uv_handle_t *h, size_t n, uv_buf_t *buf) {
  (void)h;
  static char sink[65536];
  (void)n;
  *buf = uv_buf_init(sink, sizeof(sink));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  client *c = s->data;
  if (n > 0)
    c->got += (size_t)n;
  else if (n < 0 && !uv_is_closing((uv_handle_t *)s))
    uv_close((uv_handle_t *)s, on_closed);
}

static void on_shutdown(uv_shutdown_t *sd, int status) {
  (void)sd;
  (void)status;
}

static void on_write(uv_write_t *w, int status) {
  client *c = w->data;
  if (status == 0 && uv_shutdown(&c->sd, (uv_stream_t *)&c->pipe, on_shutdown) == 0)
    return;
  if (!uv_is_closing((uv_handle_t *)&c->pipe))
    uv_close((uv_handle_t *)&c->pipe, on_closed);
}

static void init(void) {
  signal(SIGPIPE, SIG_IGN);
  loop = uv_default_loop();
  svc_config scfg = {.cache_bytes = 1u << 20, .read_only = 1};
  if (simbk_init(&bk, loop, 0, &scfg))
    abort();
  http_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.ops = &simbk_ops;
  cfg.ctx = &bk;
  cfg.read_only = 1;
  cfg.max_io = 0x4000;
  if (http_server_start(loop, &cfg, &srv))
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!loop)
    init();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
    abort();
  if (http_server_adopt_fd(srv, sv[0])) {
    close(sv[0]);
    close(sv[1]);
    return 0;
  }
  client c;
  memset(&c, 0, sizeof(c));
  uv_pipe_init(loop, &c.pipe, 0);
  c.pipe.data = &c;
  c.w.data = &c;
  c.sd.data = &c;
  if (uv_pipe_open(&c.pipe, sv[1]))
    abort();
  uv_read_start((uv_stream_t *)&c.pipe, on_alloc, on_read);
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)size);
  if (uv_write(&c.w, (uv_stream_t *)&c.pipe, &b, 1, on_write))
    uv_close((uv_handle_t *)&c.pipe, on_closed);
  while (!c.closed)
    uv_run(loop, UV_RUN_ONCE);
  /* The server's side closes too (after EOF, or at once on bad input). */
  http_stats st;
  for (;;) {
    http_server_stats(srv, &st);
    if (!st.open_conns)
      break;
    uv_run(loop, UV_RUN_ONCE);
  }
  return 0;
}
