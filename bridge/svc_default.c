/* svc_default.c - the service used when bridge/service/ is not built:
 * everything is forwarded, resumes are marked so the core drops what it
 * knows about the stopped target.  svc_handle() is never called. */
#include <stdlib.h>

#include "rsp.h"
#include "service.h"

struct svc {
  const svc_io *io;
  void *ctx;
};

svc *svc_new(const svc_io *io, void *ctx, const svc_config *cfg) {
  (void)cfg;
  svc *s = calloc(1, sizeof(*s));
  if (s) {
    s->io = io;
    s->ctx = ctx;
  }
  return s;
}

void svc_free(svc *s) {
  free(s);
}

enum svc_action svc_classify(svc *s, const char *b, size_t len) {
  (void)s;
  /* Every resume, the client's File-I/O answer (F) included: the target
   * runs on and what the core knows of it is stale. */
  if (rsp_classify_request(b, len, NULL) == RSP_REQ_RESUME)
    return SVC_FORWARD_RESUME;
  return SVC_FORWARD;
}

void svc_event(svc *s, enum svc_event ev) {
  (void)s;
  (void)ev;
}

void svc_interrupt(svc *s) {
  (void)s;
}

unsigned svc_set_packet_size(svc *s, unsigned target, unsigned ours) {
  (void)s;
  return target && target < ours ? target : ours; /* nothing is split */
}

int svc_serve_cached(svc *s, const char *body, size_t len, char *out, size_t cap) {
  (void)s;
  (void)body;
  (void)len;
  (void)out;
  (void)cap;
  return -1;
}

void svc_handle(svc *s, const char *body, size_t len) {
  (void)body;
  (void)len;
  static const char e[] = "E.no service";
  s->io->reply(s->ctx, e, sizeof(e) - 1);
}

int svc_finish(svc *s) {
  (void)s;
  return 0; /* this service never changes the target */
}
