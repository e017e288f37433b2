/* svc_default.c - br_forward_ops, the service of a bridge configured
 * with none (br_config.service NULL): everything is forwarded, resumes are
 * marked so the core drops what it knows about the stopped target.  No
 * request is classified SVC_HANDLE; what still reaches handle (a job,
 * br_job_submit) gets an error. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include "bridge.h"
#include "rsp.h"

struct svc {
  const svc_io *io;
  void *ctx;
};

static svc *fwd_new(const svc_io *io, void *ctx, const svc_config *cfg) {
  (void)cfg;
  svc *s = calloc(1, sizeof(*s));
  if (s) {
    s->io = io;
    s->ctx = ctx;
  }
  return s;
}

static void fwd_free(svc *s) {
  free(s);
}

static enum svc_action fwd_classify(svc *s, const char *b, size_t len) {
  (void)s;
  /* Every resume, the client's File-I/O answer (F) included: the target
   * runs on and what the core knows of it is stale. */
  if (rsp_classify_request(b, len, NULL) == RSP_REQ_RESUME)
    return SVC_FORWARD_RESUME;
  return SVC_FORWARD;
}

static void fwd_event(svc *s, enum svc_event ev) {
  (void)s;
  (void)ev;
}

static void fwd_interrupt(svc *s) {
  (void)s;
}

static unsigned fwd_set_packet_size(svc *s, unsigned target, unsigned ours) {
  (void)s;
  return target && target < ours ? target : ours; /* nothing is split */
}

static int fwd_serve_cached(svc *s, const char *body, size_t len, char *out, size_t cap) {
  (void)s;
  (void)body;
  (void)len;
  (void)out;
  (void)cap;
  return -1;
}

static void fwd_handle(svc *s, const char *body, size_t len) {
  (void)body;
  (void)len;
  static const char e[] = "E.no service";
  s->io->reply(s->ctx, e, sizeof(e) - 1);
}

static int fwd_finish(svc *s) {
  (void)s;
  return 0; /* this service never changes the target */
}

const svc_ops br_forward_ops = {
    .create = fwd_new,
    .free = fwd_free,
    .set_packet_size = fwd_set_packet_size,
    .classify = fwd_classify,
    .event = fwd_event,
    .interrupt = fwd_interrupt,
    .serve_cached = fwd_serve_cached,
    .handle = fwd_handle,
    .session = NULL, /* one session state: it has none */
    .finish = fwd_finish,
};
