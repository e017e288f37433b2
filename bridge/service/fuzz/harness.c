/* harness.c - the fake target shared by the service fuzz targets (see
 * harness.h). */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

static void consume(const char *p, size_t len) {
  volatile char sink = 0;
  for (size_t i = 0; i < len; i++)
    sink ^= p[i];
  (void)sink;
}

static int fz_transact(void *ctx, const svc_req *reqs, size_t n, svc_reply_cb cb, void *arg) {
  fz *f = ctx;
  for (size_t i = 0; i < n; i++) {
    if (++f->requests > 4096)
      return -1;                        /* bounded work per input */
    consume(reqs[i].body, reqs[i].len); /* every request body is readable */
    const uint8_t *nl = f->p < f->end ? memchr(f->p, '\n', (size_t)(f->end - f->p)) : NULL;
    const uint8_t *e = nl ? nl : f->end;
    size_t len = (size_t)(e - f->p);
    if (len == 1 && f->p[0] == '!')
      return -1;
    cb(arg, i, (const char *)f->p, len);
    f->p = nl ? nl + 1 : f->end;
  }
  return 0;
}

static int fz_output(void *ctx, const char *text, size_t len) {
  (void)ctx;
  consume(text, len);
  return 0;
}

static int fz_interrupted(void *ctx) {
  (void)ctx;
  return 0;
}

static void fz_reply(void *ctx, const char *body, size_t len) {
  fz *f = ctx;
  consume(body, len); /* the reply is readable */
  f->replies++;
}

static const svc_io io = {fz_transact, fz_output, fz_interrupted, fz_reply, NULL};

svc *fz_start(fz *f, const uint8_t *data, size_t size, size_t max_line, const char **line,
              size_t *line_len) {
  const uint8_t *nl = memchr(data, '\n', size);
  size_t cl = nl ? (size_t)(nl - data) : size;
  if (cl > max_line)
    cl = max_line;
  *line = (const char *)data;
  *line_len = cl;
  *f = (fz){nl ? nl + 1 : data + size, data + size, 0, 0};
  svc_config cfg = {.cache_bytes = 64 * 0x800};
  return svc_new(&io, f, &cfg);
}

void fz_one(svc *s, fz *f, const char *body, size_t len) {
  int before = f->replies;
  if (svc_classify(s, body, len) == SVC_HANDLE) {
    svc_handle(s, body, len);
    if (f->replies != before + 1)
      abort();
  }
}
