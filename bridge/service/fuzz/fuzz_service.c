/* fuzz_service.c - hostile targets and hostile commands.  The input is a
 * command line, then the target's replies separated by '\n' (a line "!"
 * makes the transaction fail as if the target went away).  Checks that
 * the service never crashes, never reads out of bounds and calls reply()
 * exactly once per request. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rsp.h"
#include "service.h"

typedef struct {
  const uint8_t *p, *end;
  int replies;
  unsigned long requests;
} fz;

static int fz_transact(void *ctx, const svc_req *reqs, size_t n, svc_reply_cb cb, void *arg) {
  fz *f = ctx;
  for (size_t i = 0; i < n; i++) {
    if (++f->requests > 4096)
      return -1; /* bounded work per input */
    volatile char sink = 0;
    for (size_t k = 0; k < reqs[i].len; k++) /* every request body is readable */
      sink ^= reqs[i].body[k];
    (void)sink;
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
  volatile char sink = 0;
  for (size_t i = 0; i < len; i++)
    sink ^= text[i];
  (void)sink;
  return 0;
}

static int fz_interrupted(void *ctx) {
  (void)ctx;
  return 0;
}

static void fz_reply(void *ctx, const char *body, size_t len) {
  fz *f = ctx;
  (void)body;
  (void)len;
  f->replies++;
}

static const svc_io io = {fz_transact, fz_output, fz_interrupted, fz_reply, NULL};

static void one(svc *s, fz *f, const char *body, size_t len) {
  int before = f->replies;
  if (svc_classify(s, body, len) == SVC_HANDLE) {
    svc_handle(s, body, len);
    if (f->replies != before + 1)
      abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nl = memchr(data, '\n', size);
  size_t cl = nl ? (size_t)(nl - data) : size;
  if (cl > 600)
    cl = 600;
  fz f = {nl ? nl + 1 : data + size, data + size, 0, 0};
  svc_config cfg = {.cache_bytes = 64 * 0x800};
  svc *s = svc_new(&io, &f, &cfg);
  if (!s)
    return 0;
  char body[1300];
  int n = rsp_format_qrcmd(body, sizeof(body), (const char *)data, cl);
  if (n > 0)
    one(s, &f, body, (size_t)n);
  one(s, &f, "m400000,20", 10);
  one(s, &f, "M400000,2:abcd", 14);
  svc_event(s, SVC_EV_RESUME);
  one(s, &f, "m400ff0,40", 10);
  /* The client's own mode, detach and attach, client and target gone. */
  one(s, &f, "Qqemu.PhyMemMode:1", 18);
  one(s, &f, "m400000,20", 10);
  one(s, &f, "D;1", 3);
  if (n > 0)
    one(s, &f, body, (size_t)n);
  one(s, &f, "?", 1);
  one(s, &f, "vAttach;1", 9);
  svc_event(s, SVC_EV_DETACH);
  one(s, &f, "qqemu.PhyMemMode", 16);
  svc_event(s, SVC_EV_LOST);
  one(s, &f, "m400000,20", 10);
  int before = f.replies;
  svc_finish(s);
  if (f.replies != before) /* never replies */
    abort();
  svc_free(s);
  return 0;
}
