/* test_http.c - the HTTP endpoint against the service simulator.
 *
 * Each test runs a server on 127.0.0.1 (ephemeral port) in the main
 * thread's loop, with the real service behind the backend ops table on
 * libuv's thread pool, and a blocking client in a second thread.  Answers
 * are compared with the service's own monitor output for the same command
 * and with the simulated RAM, both taken in the main thread before the loop
 * runs.  The client thread records failures; the main thread asserts them,
 * and that the loop closes with no live handle.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "client.h"
#include "simbk.h"

#define NEXP 16

typedef struct fx fx;
typedef void (*client_fn)(fx *f);
struct fx {
  uv_loop_t loop;
  simbk bk;
  http_server *srv;
  http_config cfg;
  int port;
  uv_async_t async;
  pthread_t th;
  client_fn fn;
  char fails[8192];
  size_t flen;
  int nfail;
  /* Expected answers, computed before the loop runs. */
  const char *cmd[NEXP];
  char *out[NEXP];
  int ok[NEXP];
  uint8_t ram_k[0x3000], ram_u2[0x100];
  uint64_t cr3, rip;
  http_stats st;
};

static void fail_(fx *f, int line, const char *fmt, ...) {
  f->nfail++;
  int n = snprintf(f->fails + f->flen, sizeof(f->fails) - f->flen, "line %d: ", line);
  if (n > 0 && f->flen + (size_t)n < sizeof(f->fails))
    f->flen += (size_t)n;
  va_list ap;
  va_start(ap, fmt);
  n = vsnprintf(f->fails + f->flen, sizeof(f->fails) - f->flen, fmt, ap);
  va_end(ap);
  if (n > 0 && f->flen + (size_t)n + 1 < sizeof(f->fails)) {
    f->flen += (size_t)n;
    f->fails[f->flen++] = '\n';
    f->fails[f->flen] = 0;
  }
}

#define CHECK(f, cond, ...)                                \
  do {                                                     \
    if (!(cond))                                           \
      fail_(f, __LINE__, "CHECK(" #cond ") " __VA_ARGS__); \
  } while (0)

static const char *expect(fx *f, const char *cmd, int *ok) {
  for (int i = 0; i < NEXP && f->cmd[i]; i++)
    if (!strcmp(f->cmd[i], cmd)) {
      if (ok)
        *ok = f->ok[i];
      return f->out[i];
    }
  return "(no expectation)";
}

static void *client_main(void *arg) {
  fx *f = arg;
  f->fn(f);
  uv_async_send(&f->async);
  return NULL;
}

static void on_async(uv_async_t *a) {
  fx *f = a->data;
  http_server_stats(f->srv, &f->st);
  http_server_close(f->srv, NULL, NULL);
  simbk_close(&f->bk);
  uv_close((uv_handle_t *)a, NULL);
}

static const char *const default_cmds[] = {
    "vtop 0xffff800000001980 --json",
    "vtop 0xffff800000412345 --json",
    "vtop 0x7f0000000000 --json",
    "vtop 0x600000 --json",
    "vtop 0x400000 --root 0x2000 --json",
    "pte 0xffff800000001980 --json",
    "pte 0xffff800000200000 --json",
    "ptov 0x300004 --json",
    "maps --json",
    "maps 0xffff800000000000 0xffff800000100000 --json",
    "arch --json",
    NULL,
};

typedef void (*setup_fn)(fx *f);

static void run(client_fn fn, setup_fn setup, void (*after)(fx *f)) {
  fx *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  assert_int_equal(uv_loop_init(&f->loop), 0);
  assert_int_equal(simbk_init(&f->bk, &f->loop, 1, NULL), 0);
  for (int i = 0; default_cmds[i]; i++) {
    f->cmd[i] = default_cmds[i];
    f->out[i] = simbk_direct(&f->bk, default_cmds[i], &f->ok[i]);
  }
  memcpy(f->ram_k, f->bk.t->ram + SIM_KPA, sizeof(f->ram_k));
  memcpy(f->ram_u2, f->bk.t->ram + SIM_UPA2, sizeof(f->ram_u2));
  f->cr3 = f->bk.t->cr3;
  f->rip = f->bk.t->rip;
  f->cfg.ops = &simbk_ops;
  f->cfg.ctx = &f->bk;
  if (setup)
    setup(f);
  assert_int_equal(http_server_start(&f->loop, &f->cfg, &f->srv), 0);
  f->port = http_server_port(f->srv);
  assert_true(f->port > 0);
  f->fn = fn;
  uv_async_init(&f->loop, &f->async, on_async);
  f->async.data = f;
  assert_int_equal(pthread_create(&f->th, NULL, client_main, f), 0);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  pthread_join(f->th, NULL);
  /* Every handle closed: a leaked one makes uv_loop_close fail. */
  assert_int_equal(uv_loop_close(&f->loop), 0);
  if (f->nfail)
    print_error("%s", f->fails);
  int nfail = f->nfail;
  if (after && !nfail)
    after(f);
  simbk_free(&f->bk);
  for (int i = 0; i < NEXP; i++)
    free(f->out[i]);
  free(f);
  assert_int_equal(nfail, 0);
}

/* ------------------------------------------------------------------------ */

static int has(const char *s, const char *needle) {
  return s && strstr(s, needle) != NULL;
}

static int is_json_error(const cl_resp *r) {
  return !strcmp(r->ctype, "application/json") && r->body && r->body[0] == '{' &&
         has(r->body, "\"error\":");
}

static void doc_equal(fx *f, int line, const char *path, const char *cmd, int status) {
  cl_resp r;
  int st = cl_get(f->port, "GET", path, NULL, 0, &r);
  int ok;
  const char *want = expect(f, cmd, &ok);
  if (st != status)
    fail_(f, line, "%s: status %d, want %d (%s)", path, st, status, r.body ? r.body : "");
  if (!r.body || strcmp(r.body, want))
    fail_(f, line, "%s: body\n  %s\nwant `%s` output\n  %s", path, r.body ? r.body : "(none)", cmd,
          want);
  if (strcmp(r.ctype, "application/json"))
    fail_(f, line, "%s: content type %s", path, r.ctype);
  cl_resp_free(&r);
}

static void c_documents(fx *f) {
  doc_equal(f, __LINE__, "/v1/vtop?va=0xffff800000001980", "vtop 0xffff800000001980 --json", 200);
  doc_equal(f, __LINE__, "/v1/vtop?va=ffff800000412345", "vtop 0xffff800000412345 --json", 200);
  doc_equal(f, __LINE__, "/v1/vtop?va=0x400000&root=0x2000", "vtop 0x400000 --root 0x2000 --json",
            200);
  doc_equal(f, __LINE__, "/v1/pte?va=0xffff800000001980", "pte 0xffff800000001980 --json", 200);
  doc_equal(f, __LINE__, "/v1/pte?va=0xffff800000200000", "pte 0xffff800000200000 --json", 200);
  doc_equal(f, __LINE__, "/v1/ptov?pa=0x300004", "ptov 0x300004 --json", 200);
  doc_equal(f, __LINE__, "/v1/maps", "maps --json", 200);
  doc_equal(f, __LINE__, "/v1/maps?lo=0xffff800000000000&hi=0xffff800000100000",
            "maps 0xffff800000000000 0xffff800000100000 --json", 200);
  /* Not mapped: 404 with the service's own error document. */
  doc_equal(f, __LINE__, "/v1/vtop?va=0x7f0000000000", "vtop 0x7f0000000000 --json", 404);
  /* Mapped over nothing: still a translation, with "backed": "none". */
  doc_equal(f, __LINE__, "/v1/vtop?va=0x600000", "vtop 0x600000 --json", 200);

  cl_resp r;
  CHECK(f, cl_get(f->port, "GET", "/v1/cache", NULL, 0, &r) == 200 && has(r.body, "\"hits\""), "%s",
        r.body);
  cl_resp_free(&r);
  CHECK(f, cl_get(f->port, "GET", "/v1/target", NULL, 0, &r) == 200, "%s", r.body);
  CHECK(f,
        has(r.body, "\"run_state\":\"stopped\"") && has(r.body, "\"sessions\":1") &&
            has(r.body, "\"arch\":\"i386:x86-64\"") && has(r.body, "\"paging\":\"x86-64\""),
        "%s", r.body);
  cl_resp_free(&r);
  CHECK(f, cl_get(f->port, "GET", "/v1/regs", NULL, 0, &r) == 200, "%s", r.body);
  char want[200];
  snprintf(want, sizeof(want), "\"cr3\":\"0x%llx\"", (unsigned long long)f->cr3);
  CHECK(f, has(r.body, want) && has(r.body, "\"paging\":\"x86-64\""), "%s", r.body);
  snprintf(want, sizeof(want), "\"rip\":\"0x%llx\"", (unsigned long long)f->rip);
  CHECK(f, has(r.body, want), "%s", r.body);
  cl_resp_free(&r);

  /* The monitor: the same output as the command run directly. */
  const char *line = "vtop 0xffff800000001980 --json";
  CHECK(f, cl_get(f->port, "POST", "/v1/monitor", line, strlen(line), &r) == 200, "%s", r.body);
  CHECK(f, has(r.body, "{\"ok\":true,\"output\":\"{\\\"va\\\":") && has(r.body, "0x201980"), "%s",
        r.body);
  cl_resp_free(&r);
  line = "vtop 0x7f0000000000\n";
  CHECK(f, cl_get(f->port, "POST", "/v1/monitor", line, strlen(line), &r) == 200, "%s", r.body);
  CHECK(f, has(r.body, "{\"ok\":false,") && has(r.body, "not present"), "%s", r.body);
  cl_resp_free(&r);
  /* Not ours: the target's own monitor (the simulator's HMP). */
  line = "info registers";
  CHECK(f, cl_get(f->port, "POST", "/v1/monitor", line, strlen(line), &r) == 200, "%s", r.body);
  CHECK(f, has(r.body, "\"ok\":true") && has(r.body, "CR3"), "%s", r.body);
  cl_resp_free(&r);

  /* The page. */
  CHECK(f,
        cl_get(f->port, "GET", "/", NULL, 0, &r) == 200 && has(r.ctype, "text/html") &&
            has(r.body, "<html"),
        "%s", r.ctype);
  cl_resp_free(&r);
}

static void test_documents(void **state) {
  (void)state;
  run(c_documents, NULL, NULL);
}

/* ------------------------------------------------------------------------ */

static void c_bytes(fx *f) {
  cl_resp r;
  /* Physical: the simulated RAM. */
  CHECK(f, cl_get(f->port, "GET", "/v1/phys?pa=0x201980&len=0x10", NULL, 0, &r) == 200, "%s",
        r.body);
  CHECK(f, r.len == 0x10 && !memcmp(r.body, f->ram_k + 0x1980, 0x10) &&
               !strcmp(r.ctype, "application/octet-stream"));
  cl_resp_free(&r);
  /* Virtual, across pages, through the CPU's address space (raw m). */
  CHECK(f, cl_get(f->port, "GET", "/v1/virt?va=0xffff800000000f00&len=0x2100", NULL, 0, &r) == 200,
        "%s", r.body);
  CHECK(f, r.len == 0x2100 && !memcmp(r.body, f->ram_k + 0xf00, 0x2100), "len %zu", r.len);
  cl_resp_free(&r);
  /* The same through a root (vtop, then phys read page by page). */
  CHECK(f,
        cl_get(f->port, "GET", "/v1/virt?va=0xffff800000000f00&len=0x2100&root=0x1000", NULL, 0,
               &r) == 200,
        "%s", r.body);
  CHECK(f, r.len == 0x2100 && !memcmp(r.body, f->ram_k + 0xf00, 0x2100), "len %zu", r.len);
  cl_resp_free(&r);
  /* Another address space: the user page maps elsewhere there. */
  CHECK(f, cl_get(f->port, "GET", "/v1/virt?va=0x400000&len=0x100&root=0x2000", NULL, 0, &r) == 200,
        "%s", r.body);
  CHECK(f, r.len == 0x100 && !memcmp(r.body, f->ram_u2, 0x100));
  cl_resp_free(&r);
  /* Not mapped: 404, a JSON error. */
  CHECK(f,
        cl_get(f->port, "GET", "/v1/virt?va=0x7f0000000000&len=0x10", NULL, 0, &r) == 404 &&
            is_json_error(&r),
        "%s", r.body);
  cl_resp_free(&r);
  CHECK(f,
        cl_get(f->port, "GET", "/v1/virt?va=0x7f0000000000&len=0x10&root=0x1000", NULL, 0, &r) ==
                404 &&
            is_json_error(&r) && has(r.body, "\"mapped\":false"),
        "%s", r.body);
  cl_resp_free(&r);
  /* A mapped page with no RAM behind it. */
  CHECK(f,
        cl_get(f->port, "GET", "/v1/phys?pa=0x80000000&len=0x10", NULL, 0, &r) == 404 &&
            is_json_error(&r),
        "%s", r.body);
  cl_resp_free(&r);

  /* Writes, read back. */
  uint8_t data[0x800];
  for (size_t i = 0; i < sizeof(data); i++)
    data[i] = (uint8_t)(i * 7 + 3);
  CHECK(f,
        cl_get(f->port, "PUT", "/v1/phys?pa=0x300100", (const char *)data, 700, &r) == 200 &&
            has(r.body, "\"written\":700"),
        "%s", r.body);
  cl_resp_free(&r);
  CHECK(f, cl_get(f->port, "GET", "/v1/phys?pa=0x300100&len=0x2bc", NULL, 0, &r) == 200 &&
               r.len == 700 && !memcmp(r.body, data, 700));
  cl_resp_free(&r);
  CHECK(f, cl_get(f->port, "PUT", "/v1/virt?va=0x400800", (const char *)data, 0x500, &r) == 200,
        "%s", r.body);
  cl_resp_free(&r);
  CHECK(f,
        cl_get(f->port, "PUT", "/v1/virt?va=0x400010&root=0x2000", (const char *)data, 0x300, &r) ==
            200,
        "%s", r.body);
  cl_resp_free(&r);
  CHECK(f,
        cl_get(f->port, "GET", "/v1/virt?va=0x400010&len=0x300&root=0x2000", NULL, 0, &r) == 200 &&
            r.len == 0x300 && !memcmp(r.body, data, 0x300));
  cl_resp_free(&r);
  CHECK(f,
        cl_get(f->port, "PUT", "/v1/virt?va=0x7f0000000000", (const char *)data, 8, &r) == 404 &&
            is_json_error(&r),
        "%s", r.body);
  cl_resp_free(&r);
  /* Bounded lengths. */
  CHECK(f,
        cl_get(f->port, "GET", "/v1/phys?pa=0x1000&len=0x100001", NULL, 0, &r) == 400 &&
            is_json_error(&r),
        "%s", r.body);
  cl_resp_free(&r);
  CHECK(f, cl_get(f->port, "GET", "/v1/phys?pa=0x1000&len=0", NULL, 0, &r) == 400);
  cl_resp_free(&r);
  CHECK(f, cl_get(f->port, "GET", "/v1/phys?pa=0xffffffffffffffff&len=2", NULL, 0, &r) == 400);
  cl_resp_free(&r);
  CHECK(f, cl_get(f->port, "PUT", "/v1/phys?pa=0x300000&len=4", "abc", 3, &r) == 400);
  cl_resp_free(&r);
  CHECK(f, cl_get(f->port, "PUT", "/v1/phys?pa=0x300000", "", 0, &r) == 400);
  cl_resp_free(&r);
}

static void after_bytes(fx *f) {
  /* The writes reached the simulated RAM (checked after the loop, so no
   * thread touches the simulator now). */
  uint8_t data[0x800];
  for (size_t i = 0; i < sizeof(data); i++)
    data[i] = (uint8_t)(i * 7 + 3);
  assert_memory_equal(f->bk.t->ram + 0x300100, data, 700);
  assert_memory_equal(f->bk.t->ram + SIM_UPA + 0x800, data, 0x500);
  assert_memory_equal(f->bk.t->ram + SIM_UPA2 + 0x10, data, 0x300);
}

static void test_bytes(void **state) {
  (void)state;
  run(c_bytes, NULL, after_bytes);
}

/* ------------------------------------------------------------------------ */

static void c_read_only(fx *f) {
  cl_resp r;
  CHECK(f,
        cl_get(f->port, "PUT", "/v1/phys?pa=0x300000", "abcd", 4, &r) == 403 && is_json_error(&r),
        "%s", r.body);
  cl_resp_free(&r);
  CHECK(f, cl_get(f->port, "PUT", "/v1/virt?va=0x400000", "abcd", 4, &r) == 403);
  cl_resp_free(&r);
  CHECK(f,
        cl_get(f->port, "GET", "/v1/target", NULL, 0, &r) == 200 &&
            has(r.body, "\"read_only\":true"),
        "%s", r.body);
  cl_resp_free(&r);
}

static void setup_read_only(fx *f) {
  f->cfg.read_only = 1;
}

static void after_read_only(fx *f) {
  assert_int_not_equal(memcmp(f->bk.t->ram + 0x300000, "abcd", 4), 0);
  assert_int_equal(atomic_load(&f->bk.ops), 1); /* only /v1/target's arch */
}

static void test_read_only(void **state) {
  (void)state;
  run(c_read_only, setup_read_only, after_read_only);
}

/* ------------------------------------------------------------------------ */

static void c_bad_params(fx *f) {
  static const struct {
    const char *method, *path;
    int status;
  } cases[] = {
      {"GET", "/v1/vtop", 400},
      {"GET", "/v1/vtop?va=", 400},
      {"GET", "/v1/vtop?va=0xzz", 400},
      {"GET", "/v1/vtop?va=0x", 400},
      {"GET", "/v1/vtop?va=12345678123456789", 400},
      {"GET", "/v1/vtop?va=1%", 400},
      {"GET", "/v1/vtop?va=1%2", 400},
      {"GET", "/v1/vtop?va=1%00", 400},
      {"GET", "/v1/vtop?va=0x1000&bogus=1", 400},
      {"GET", "/v1/vtop?va=0x1000&root=x", 400},
      {"GET", "/v1/vtop?va=0x1000%20--root%200", 400},
      {"GET", "/v1/pte?pa=0x1000", 400},
      {"GET", "/v1/ptov", 400},
      {"GET", "/v1/maps?lo=0x1000", 400},
      {"GET", "/v1/maps?lo=0x2000&hi=0x1000", 400},
      {"GET", "/v1/phys?pa=0x1000", 400},
      {"GET", "/v1/virt?len=0x10", 400},
      {"GET", "/v1/nothing", 404},
      {"GET", "/v1/vtop/x", 404},
      {"DELETE", "/v1/vtop?va=0", 405},
      {"POST", "/v1/vtop?va=0", 405},
      {"GET", "/v1/monitor", 405},
      {"PUT", "/", 405},
      {"POST", "/v1/monitor", 400},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    cl_resp r;
    int st = cl_get(f->port, cases[i].method, cases[i].path, NULL, 0, &r);
    CHECK(f, st == cases[i].status && is_json_error(&r), "%s %s: %d %s", cases[i].method,
          cases[i].path, st, r.body);
    cl_resp_free(&r);
  }
  /* The browser guards. */
  static const struct {
    const char *req;
    int status;
  } guard[] = {
      {"GET /v1/cache HTTP/1.1\r\nHost: evil.example:80\r\n\r\n", 403},
      {"GET /v1/cache HTTP/1.1\r\nHost: 127.0.0.1.evil.example\r\n\r\n", 403},
      {"GET /v1/cache HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: localhost\r\n\r\n", 400},
      {"POST /v1/monitor HTTP/1.1\r\nHost: 127.0.0.1:1\r\nOrigin: http://evil.example\r\n"
       "Content-Length: 4\r\n\r\nmaps",
       403},
      {"PUT /v1/phys?pa=0x300000 HTTP/1.1\r\nHost: localhost:1\r\nOrigin: null\r\n"
       "Content-Length: 1\r\n\r\nx",
       403},
  };
  for (size_t i = 0; i < sizeof(guard) / sizeof(guard[0]); i++) {
    cl_conn c;
    cl_resp r;
    CHECK(f, cl_connect(&c, f->port) == 0);
    cl_send(&c, guard[i].req, strlen(guard[i].req));
    CHECK(f, cl_read(&c, &r) == 0 && r.status == guard[i].status && is_json_error(&r),
          "guard %zu: %d %s", i, r.status, r.body);
    cl_resp_free(&r);
    cl_close(&c);
  }
  cl_resp r;
  const char *ctl = "vtop\x01 0";
  CHECK(f, cl_get(f->port, "POST", "/v1/monitor", ctl, strlen(ctl), &r) == 400);
  cl_resp_free(&r);
}

static void after_bad_params(fx *f) {
  /* None of them reached the target. */
  assert_int_equal(atomic_load(&f->bk.ops), 0);
}

static void test_bad_params(void **state) {
  (void)state;
  run(c_bad_params, NULL, after_bad_params);
}

/* ------------------------------------------------------------------------ */

/* Sends raw bytes on a fresh connection; expects status, a JSON error, and
 * the connection closed after it. */
static void bad_http(fx *f, int line, const char *what, const char *data, size_t len, int status) {
  cl_conn c;
  cl_resp r;
  if (cl_connect(&c, f->port)) {
    fail_(f, line, "%s: connect", what);
    return;
  }
  cl_send(&c, data, len);
  int rc = cl_read(&c, &r);
  if (rc || r.status != status || !is_json_error(&r) || strcmp(r.connection, "close"))
    fail_(f, line, "%s: rc %d status %d (want %d) conn %s body %s", what, rc, r.status, status,
          r.connection, r.body ? r.body : "");
  if (!cl_closed(&c))
    fail_(f, line, "%s: connection left open", what);
  cl_resp_free(&r);
  cl_close(&c);
}

static void c_malformed(fx *f) {
  static const char garbage[] = "BLAH / HTTP/1.1\r\n\r\n";
  bad_http(f, __LINE__, "bad method", garbage, sizeof(garbage) - 1, 400);
  static const char badver[] = "GET / HTTP/9x\r\n\r\n";
  bad_http(f, __LINE__, "bad version", badver, sizeof(badver) - 1, 400);
  static const char badhdr[] = "GET / HTTP/1.1\r\nHo\x01st: x\r\n\r\n";
  bad_http(f, __LINE__, "bad header", badhdr, sizeof(badhdr) - 1, 400);
  static const char badlen[] = "PUT /v1/phys?pa=0 HTTP/1.1\r\nContent-Length: 1x\r\n\r\n";
  bad_http(f, __LINE__, "bad length", badlen, sizeof(badlen) - 1, 400);
  static const char nul[] = "GET /\0 HTTP/1.1\r\n\r\n";
  bad_http(f, __LINE__, "NUL", nul, sizeof(nul) - 1, 400);

  /* Over the limits. */
  size_t big = 40000;
  char *b = malloc(big + 256);
  int n = snprintf(b, 256, "GET /v1/target HTTP/1.1\r\nX-Big: ");
  memset(b + n, 'a', big);
  memcpy(b + n + big, "\r\n\r\n", 4);
  bad_http(f, __LINE__, "huge header", b, (size_t)n + big + 4, 431);
  n = snprintf(b, 256, "GET /v1/target HTTP/1.1\r\n");
  size_t off = (size_t)n;
  for (int i = 0; off + 16 < big; i++)
    off += (size_t)snprintf(b + off, 16, "X%d: 1\r\n", i);
  memcpy(b + off, "\r\n", 2);
  bad_http(f, __LINE__, "many headers", b, off + 2, 431);
  n = snprintf(b, 256, "GET /v1/vtop?va=");
  memset(b + n, '0', 9000);
  memcpy(b + n + 9000, " HTTP/1.1\r\n\r\n", 13);
  bad_http(f, __LINE__, "huge URL", b, (size_t)n + 9000 + 13, 414);
  free(b);
  static const char huge_body[] = "PUT /v1/phys?pa=0 HTTP/1.1\r\nContent-Length: 9999999\r\n\r\n";
  bad_http(f, __LINE__, "huge body", huge_body, sizeof(huge_body) - 1, 413);

  /* The server still answers. */
  cl_resp r;
  CHECK(f, cl_get(f->port, "GET", "/v1/vtop?va=0xffff800000001980", NULL, 0, &r) == 200);
  cl_resp_free(&r);
}

static void after_malformed(fx *f) {
  assert_int_equal(f->st.bad_requests, 9);
}

static void test_malformed(void **state) {
  (void)state;
  run(c_malformed, NULL, after_malformed);
}

/* ------------------------------------------------------------------------ */

static void c_keepalive(fx *f) {
  cl_conn c;
  CHECK(f, cl_connect(&c, f->port) == 0);
  /* Keep-alive, one after the other. */
  for (int i = 0; i < 5; i++) {
    cl_resp r;
    cl_sendf(&c, "GET /v1/vtop?va=0xffff800000001980 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    CHECK(f, cl_read(&c, &r) == 0 && r.status == 200 && !strcmp(r.connection, "keep-alive"));
    CHECK(f, !strcmp(r.body, expect(f, "vtop 0xffff800000001980 --json", NULL)));
    cl_resp_free(&r);
  }
  /* Pipelined: 30 requests in one write, with bodies, answered in order. */
  char buf[16384];
  size_t off = 0;
  for (int i = 0; i < 30; i++) {
    if (i % 3 == 0)
      off += (size_t)snprintf(buf + off, sizeof(buf) - off,
                              "GET /v1/vtop?va=0xffff800000412345 HTTP/1.1\r\n\r\n");
    else if (i % 3 == 1)
      off += (size_t)snprintf(buf + off, sizeof(buf) - off,
                              "PUT /v1/phys?pa=0x%x HTTP/1.1\r\nContent-Length: 4\r\n\r\n%c%c%c%c",
                              0x300200 + 4 * i, 'a' + i % 26, 'b', 'c', 'd');
    else
      off +=
          (size_t)snprintf(buf + off, sizeof(buf) - off,
                           "GET /v1/phys?pa=0x%x&len=4 HTTP/1.1\r\n\r\n", 0x300200 + 4 * (i - 1));
  }
  /* Sent byte by byte for the first request, then the rest at once. */
  for (int i = 0; i < 20; i++)
    cl_send(&c, buf + i, 1);
  cl_send(&c, buf + 20, off - 20);
  for (int i = 0; i < 30; i++) {
    cl_resp r;
    int rc = cl_read(&c, &r);
    if (i % 3 == 0) {
      CHECK(f,
            rc == 0 && r.status == 200 &&
                !strcmp(r.body, expect(f, "vtop 0xffff800000412345 --json", NULL)),
            "%d: %s", i, r.body);
    } else if (i % 3 == 1) {
      CHECK(f, rc == 0 && r.status == 200 && has(r.body, "\"written\":4"), "%d: %s", i, r.body);
    } else {
      char want[4] = {(char)('a' + (i - 1) % 26), 'b', 'c', 'd'};
      CHECK(f, rc == 0 && r.status == 200 && r.len == 4 && !memcmp(r.body, want, 4), "%d", i);
    }
    cl_resp_free(&r);
  }
  /* A burst answered at once (no backend): a loop in the server, not a
   * recursion as deep as the burst. */
  enum { BURST = 3000 };
  char *burst = malloc(BURST * 32);
  size_t bl = 0;
  for (int i = 0; i < BURST; i++)
    bl += (size_t)snprintf(burst + bl, 32, "GET /v1/x%d HTTP/1.1\r\n\r\n", i % 10);
  CHECK(f, cl_send(&c, burst, bl) == 0);
  free(burst);
  int n404 = 0;
  for (int i = 0; i < BURST; i++) {
    cl_resp r;
    int rc = cl_read(&c, &r);
    if (rc == 0 && r.status == 404 && is_json_error(&r))
      n404++;
    else
      fail_(f, __LINE__, "burst %d: rc %d status %d %s", i, rc, r.status, r.body ? r.body : "");
    cl_resp_free(&r);
  }
  CHECK(f, n404 == BURST, "%d of %d", n404, BURST);
  /* HTTP/1.0 without keep-alive: answered, then closed. */
  cl_resp r;
  cl_sendf(&c, "GET /v1/cache HTTP/1.0\r\n\r\n");
  CHECK(f, cl_read(&c, &r) == 0 && r.status == 200 && !strcmp(r.connection, "close"));
  CHECK(f, cl_closed(&c));
  cl_resp_free(&r);
  cl_close(&c);

  /* Connection: close, pipelined behind: the second is not answered. */
  CHECK(f, cl_connect(&c, f->port) == 0);
  cl_sendf(&c, "GET /v1/cache HTTP/1.1\r\nConnection: close\r\n\r\nGET /v1/cache HTTP/1.1\r\n\r\n");
  CHECK(f, cl_read(&c, &r) == 0 && r.status == 200);
  cl_resp_free(&r);
  CHECK(f, cl_closed(&c));
  cl_close(&c);

  /* A client that half-closes after its request still gets the answer. */
  CHECK(f, cl_connect(&c, f->port) == 0);
  cl_sendf(&c, "GET /v1/vtop?va=0xffff800000001980 HTTP/1.1\r\n\r\n");
  shutdown(c.fd, SHUT_WR);
  CHECK(f, cl_read(&c, &r) == 0 && r.status == 200);
  cl_resp_free(&r);
  CHECK(f, cl_closed(&c));
  cl_close(&c);

  /* The server's own page may write (same origin), and no Host at all
   * (HTTP/1.0) is accepted. */
  CHECK(f, cl_connect(&c, f->port) == 0);
  cl_sendf(&c,
           "POST /v1/monitor HTTP/1.1\r\nHost: localhost:%d\r\nOrigin: http://localhost:%d\r\n"
           "Content-Length: 4\r\n\r\nmaps",
           f->port, f->port);
  CHECK(f, cl_read(&c, &r) == 0 && r.status == 200, "%d %s", r.status, r.body);
  cl_resp_free(&r);
  cl_close(&c);
  /* Expect: 100-continue gets its interim answer (cl_read skips it). */
  CHECK(f, cl_connect(&c, f->port) == 0);
  cl_sendf(&c, "PUT /v1/phys?pa=0x300400 HTTP/1.1\r\nExpect: 100-continue\r\n"
               "Content-Length: 2\r\n\r\n");
  char cont[64] = "";
  ssize_t got = recv(c.fd, cont, sizeof(cont) - 1, 0);
  CHECK(f, got > 0 && has(cont, "HTTP/1.1 100 Continue\r\n\r\n"), "%s", cont);
  cl_send(&c, "zz", 2);
  CHECK(f, cl_read(&c, &r) == 0 && r.status == 200, "%d %s", r.status, r.body);
  cl_resp_free(&r);
  cl_close(&c);
}

static void test_keepalive(void **state) {
  (void)state;
  run(c_keepalive, NULL, NULL);
}

/* ------------------------------------------------------------------------ */

#define NCLIENTS 64

static void c_many(fx *f) {
  static cl_conn c[NCLIENTS];
  for (int i = 0; i < NCLIENTS; i++)
    CHECK(f, cl_connect(&c[i], f->port) == 0);
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < NCLIENTS; i++)
      cl_sendf(&c[i], "GET /v1/%s HTTP/1.1\r\n\r\n",
               i % 2 ? "vtop?va=0xffff800000001980" : "pte?va=0xffff800000001980");
    for (int i = NCLIENTS - 1; i >= 0; i--) {
      cl_resp r;
      const char *want = expect(
          f, i % 2 ? "vtop 0xffff800000001980 --json" : "pte 0xffff800000001980 --json", NULL);
      CHECK(f, cl_read(&c[i], &r) == 0 && r.status == 200 && !strcmp(r.body, want), "%d: %d %s", i,
            r.status, r.body);
      cl_resp_free(&r);
    }
  }
  for (int i = 0; i < NCLIENTS; i++)
    cl_close(&c[i]);
}

static void after_many(fx *f) {
  /* The backend saw one op at a time. */
  assert_int_equal(f->bk.max_concurrent, 1);
  assert_int_equal(f->st.responses, 3 * NCLIENTS);
}

static void test_many_clients(void **state) {
  (void)state;
  run(c_many, NULL, after_many);
}

/* A client that pipelines big reads and does not read the answers: the
 * server stops taking its requests while 4 MiB wait to be written, and goes
 * on once the client reads. */
#define NBIG 24

static pthread_mutex_t held_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t held_cond = PTHREAD_COND_INITIALIZER;
static int held_seen;

/* The server's log (loop thread): the event the client waits for. */
static void held_log(void *ctx, int level, const char *msg) {
  (void)ctx;
  (void)level;
  if (!strstr(msg, "next request held"))
    return;
  pthread_mutex_lock(&held_mtx);
  held_seen++;
  pthread_cond_broadcast(&held_cond);
  pthread_mutex_unlock(&held_mtx);
}

static void c_slow_reader(fx *f) {
  cl_conn c;
  CHECK(f, cl_connect_rcvbuf(&c, f->port, 65536) == 0);
  for (int i = 0; i < NBIG; i++)
    cl_sendf(&c, "GET /v1/phys?pa=0x200000&len=0x100000 HTTP/1.1\r\n\r\n");
  /* Read nothing until the server holds the next request back (a generous
   * deadline only as a hang guard). */
  struct timespec dl;
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_sec += 60;
  pthread_mutex_lock(&held_mtx);
  while (!held_seen && pthread_cond_timedwait(&held_cond, &held_mtx, &dl) == 0) {
  }
  int seen = held_seen;
  pthread_mutex_unlock(&held_mtx);
  CHECK(f, seen, "the server never held a request back");
  char *first = NULL;
  for (int i = 0; i < NBIG; i++) {
    cl_resp r;
    CHECK(f, cl_read(&c, &r) == 0 && r.status == 200 && r.len == 0x100000, "%d: %d", i, r.status);
    if (i == 0 && r.len == 0x100000) {
      first = r.body;
      r.body = NULL;
      CHECK(f, !memcmp(first, f->ram_k, sizeof(f->ram_k)));
    } else if (first) {
      CHECK(f, r.len == 0x100000 && !memcmp(r.body, first, 0x100000), "%d", i);
    }
    cl_resp_free(&r);
  }
  free(first);
  cl_close(&c);
}

static void setup_slow_reader(fx *f) {
  held_seen = 0;
  f->cfg.log = held_log;
}

static void after_slow_reader(fx *f) {
  /* Held back once over the mark, never more than one answer above it. */
  assert_true(f->st.max_wqueue > HTTP_WRITE_HIGH);
  assert_true(f->st.max_wqueue <= HTTP_WRITE_HIGH + 0x100000 + 1024);
  assert_int_equal(f->st.responses, NBIG);
}

static void test_slow_reader(void **state) {
  (void)state;
  run(c_slow_reader, setup_slow_reader, after_slow_reader);
}

/* A small queue: requests beyond it get 503 at once, the others their answer. */
static void c_queue_full(fx *f) {
  static cl_conn c[NCLIENTS];
  for (int i = 0; i < NCLIENTS; i++) {
    CHECK(f, cl_connect(&c[i], f->port) == 0);
    cl_sendf(&c[i], "GET /v1/maps HTTP/1.1\r\n\r\n");
  }
  int ok = 0, busy = 0;
  for (int i = 0; i < NCLIENTS; i++) {
    cl_resp r;
    CHECK(f, cl_read(&c[i], &r) == 0);
    if (r.status == 200 && !strcmp(r.body, expect(f, "maps --json", NULL)))
      ok++;
    else if (r.status == 503 && is_json_error(&r) && has(r.body, "busy"))
      busy++;
    cl_resp_free(&r);
    cl_close(&c[i]);
  }
  CHECK(f, ok + busy == NCLIENTS && ok >= 1, "ok %d busy %d", ok, busy);
}

static void setup_small_queue(fx *f) {
  f->cfg.max_queue = 2;
}

static void after_queue_full(fx *f) {
  assert_int_equal(f->st.queue_full + atomic_load(&f->bk.ops), NCLIENTS);
}

static void test_queue_full(void **state) {
  (void)state;
  run(c_queue_full, setup_small_queue, after_queue_full);
}

/* Connection limit: the one over it gets 503 and is closed. */
static void c_conn_limit(fx *f) {
  cl_conn c[3];
  cl_resp r;
  for (int i = 0; i < 3; i++)
    CHECK(f, cl_connect(&c[i], f->port) == 0);
  /* The third: answered 503 without a request, then closed. */
  CHECK(f, cl_read(&c[2], &r) == 0 && r.status == 503 && is_json_error(&r));
  cl_resp_free(&r);
  CHECK(f, cl_closed(&c[2]));
  for (int i = 0; i < 2; i++) {
    cl_sendf(&c[i], "GET /v1/cache HTTP/1.1\r\n\r\n");
    CHECK(f, cl_read(&c[i], &r) == 0 && r.status == 200);
    cl_resp_free(&r);
  }
  for (int i = 0; i < 3; i++)
    cl_close(&c[i]);
}

static void setup_two_conns(fx *f) {
  f->cfg.max_conns = 2;
}

static void test_conn_limit(void **state) {
  (void)state;
  run(c_conn_limit, setup_two_conns, NULL);
}

/* ------------------------------------------------------------------------ */

static void c_target_states(fx *f) {
  cl_resp r;
  /* /v1/target before the target was ever described, with no debugger:
   * no op (it would connect the target), the fields unknown. */
  f->bk.detached = 1;
  CHECK(f, cl_get(f->port, "GET", "/v1/target", NULL, 0, &r) == 200, "%s", r.body);
  CHECK(f,
        has(r.body, "\"run_state\":\"detached\"") && has(r.body, "\"sessions\":0") &&
            has(r.body, "\"live\":false") && has(r.body, "\"arch\":null") &&
            atomic_load(&f->bk.ops) == 0,
        "%s (ops %lu)", r.body, atomic_load(&f->bk.ops));
  cl_resp_free(&r);
  f->bk.detached = 0;
  /* Stopped under a debugger: asked (one op), and remembered. */
  CHECK(f, cl_get(f->port, "GET", "/v1/target", NULL, 0, &r) == 200, "%s", r.body);
  CHECK(f,
        has(r.body, "\"run_state\":\"stopped\"") && has(r.body, "\"live\":true") &&
            has(r.body, "\"arch\":\"i386:x86-64\"") && atomic_load(&f->bk.ops) == 1,
        "%s (ops %lu)", r.body, atomic_load(&f->bk.ops));
  cl_resp_free(&r);
  /* Running, lost, detached: the description remembered, no op. */
  static const struct {
    int running, lost, detached;
    const char *state;
  } states[] = {{1, 0, 0, "\"run_state\":\"running\""},
                {0, 1, 0, "\"run_state\":\"lost\""},
                {0, 0, 1, "\"run_state\":\"detached\""}};
  for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
    f->bk.running = states[i].running;
    f->bk.lost = states[i].lost;
    f->bk.detached = states[i].detached;
    CHECK(f, cl_get(f->port, "GET", "/v1/target", NULL, 0, &r) == 200, "%s", r.body);
    CHECK(f,
          has(r.body, states[i].state) && has(r.body, "\"live\":false") &&
              has(r.body, "\"arch\":\"i386:x86-64\"") && has(r.body, "\"paging\":\"x86-64\"") &&
              atomic_load(&f->bk.ops) == 1,
          "%s (ops %lu)", r.body, atomic_load(&f->bk.ops));
    cl_resp_free(&r);
  }
  f->bk.running = f->bk.lost = f->bk.detached = 0;
  /* The knobs are read by the loop thread when an op starts; the client
   * sets them only between its own requests, when no op runs. */
  f->bk.running = 1;
  CHECK(f, cl_get(f->port, "GET", "/v1/vtop?va=0x1000", NULL, 0, &r) == 409 && is_json_error(&r),
        "%s", r.body);
  cl_resp_free(&r);
  CHECK(f, cl_get(f->port, "GET", "/v1/virt?va=0x1000&len=4", NULL, 0, &r) == 409);
  cl_resp_free(&r);
  f->bk.running = 0;
  f->bk.lost = 1;
  CHECK(f,
        cl_get(f->port, "GET", "/v1/phys?pa=0x1000&len=4", NULL, 0, &r) == 503 && is_json_error(&r),
        "%s", r.body);
  cl_resp_free(&r);
  CHECK(f, cl_get(f->port, "POST", "/v1/monitor", "maps", 4, &r) == 503);
  cl_resp_free(&r);
  f->bk.lost = 0;
  f->bk.refuse = 1;
  CHECK(f, cl_get(f->port, "GET", "/v1/maps", NULL, 0, &r) == 503 && is_json_error(&r));
  cl_resp_free(&r);
  f->bk.refuse = 0;
  CHECK(f, cl_get(f->port, "GET", "/v1/maps", NULL, 0, &r) == 200);
  cl_resp_free(&r);

  /* A client that leaves while its request is with the backend. */
  for (int i = 0; i < 20; i++) {
    cl_conn c;
    CHECK(f, cl_connect(&c, f->port) == 0);
    cl_sendf(&c, "GET /v1/maps HTTP/1.1\r\n\r\nGET /v1/maps HTTP/1.1\r\n\r\n");
    cl_close(&c);
  }
  CHECK(f, cl_get(f->port, "GET", "/v1/vtop?va=0xffff800000001980", NULL, 0, &r) == 200);
  cl_resp_free(&r);
}

static void test_target_states(void **state) {
  (void)state;
  run(c_target_states, NULL, NULL);
}

/* ------------------------------------------------------------------------ */

static void c_idle(fx *f) {
  cl_conn c;
  cl_resp r;
  /* Silent from the start: closed by the server. */
  CHECK(f, cl_connect(&c, f->port) == 0);
  CHECK(f, cl_closed(&c));
  cl_close(&c);
  /* Half a request, then nothing: closed too. */
  CHECK(f, cl_connect(&c, f->port) == 0);
  cl_sendf(&c, "GET /v1/vtop?va=0x1000 HTTP/1.1\r\nHo");
  CHECK(f, cl_closed(&c));
  cl_close(&c);
  /* Answered, then idle: closed after the answer. */
  CHECK(f, cl_connect(&c, f->port) == 0);
  cl_sendf(&c, "GET /v1/cache HTTP/1.1\r\n\r\n");
  CHECK(f, cl_read(&c, &r) == 0 && r.status == 200);
  cl_resp_free(&r);
  CHECK(f, cl_closed(&c));
  cl_close(&c);
}

static void setup_idle(fx *f) {
  f->cfg.idle_ms = 50;
}

static void test_idle(void **state) {
  (void)state;
  run(c_idle, setup_idle, NULL);
}

/* The server closed while the backend holds a request: its close completes
 * only after the backend's done, and nothing is leaked or touched late. */
static int closed_cb_ran;

static void on_server_closed(void *arg) {
  (void)arg;
  closed_cb_ran++;
}

static void release_cb(uv_timer_t *t) {
  simbk *b = t->data;
  simbk_release(b);
  uv_close((uv_handle_t *)t, NULL);
}

static void check_held(uv_idle_t *i) {
  fx *f = i->data;
  if (!f->bk.held)
    return; /* the request has not reached the backend yet */
  uv_idle_stop(i);
  uv_close((uv_handle_t *)i, NULL);
  http_server_close(f->srv, on_server_closed, NULL);
  assert_int_equal(closed_cb_ran, 0);
  static uv_timer_t rel;
  uv_timer_init(&f->loop, &rel);
  rel.data = &f->bk;
  uv_timer_start(&rel, release_cb, 0, 0);
  simbk_close(&f->bk);
}

static void test_close_inflight(void **state) {
  (void)state;
  fx *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  assert_int_equal(uv_loop_init(&f->loop), 0);
  assert_int_equal(simbk_init(&f->bk, &f->loop, 0, NULL), 0);
  f->bk.hold = 1;
  f->cfg.ops = &simbk_ops;
  f->cfg.ctx = &f->bk;
  assert_int_equal(http_server_start(&f->loop, &f->cfg, &f->srv), 0);
  cl_conn c;
  assert_int_equal(cl_connect(&c, http_server_port(f->srv)), 0);
  assert_int_equal(cl_sendf(&c, "GET /v1/maps HTTP/1.1\r\n\r\n"), 0);
  uv_idle_t idle;
  uv_idle_init(&f->loop, &idle);
  idle.data = f;
  uv_idle_start(&idle, check_held);
  closed_cb_ran = 0;
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(closed_cb_ran, 1);
  assert_int_equal(atomic_load(&f->bk.ops), 1);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  /* The client saw its connection closed without an answer. */
  assert_true(cl_closed(&c));
  cl_close(&c);
  simbk_free(&f->bk);
  free(f);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN); /* a client gone before its answer */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_documents),    cmocka_unit_test(test_bytes),
      cmocka_unit_test(test_read_only),    cmocka_unit_test(test_bad_params),
      cmocka_unit_test(test_malformed),    cmocka_unit_test(test_keepalive),
      cmocka_unit_test(test_many_clients), cmocka_unit_test(test_queue_full),
      cmocka_unit_test(test_conn_limit),   cmocka_unit_test(test_target_states),
      cmocka_unit_test(test_idle),         cmocka_unit_test(test_close_inflight),
      cmocka_unit_test(test_slow_reader),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
