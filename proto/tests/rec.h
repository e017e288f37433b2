/* rec.h - records parser events for the proto tests. */
#ifndef PROTO_TESTS_REC_H
#define PROTO_TESTS_REC_H

#include "rsp.h"

#include <stddef.h>
#include <string.h>

/* Event kinds: 'P' packet, 'N' notification, '+' ack, '-' nak, 'I' interrupt,
 * 'C' bad checksum, 'E' error (err set). */
typedef struct {
  char kind;
  int err;
  size_t len;
  char body[8192];
} rec_event;

typedef struct {
  rec_event ev[32];
  size_t n;
  size_t dropped; /* events beyond the array */
  int stop_after; /* if > 0, the callback for event number stop_after returns 1 */
} rec;

static inline rec_event *rec_add(rsp_parser *p, char kind) {
  rec *r = p->data;
  size_t idx = r->n + r->dropped;
  (void)idx;
  if (r->n >= sizeof(r->ev) / sizeof(r->ev[0])) {
    r->dropped++;
    return NULL;
  }
  rec_event *e = &r->ev[r->n++];
  memset(e, 0, offsetof(rec_event, body));
  e->kind = kind;
  return e;
}

static inline int rec_verdict(rsp_parser *p) {
  rec *r = p->data;
  return r->stop_after > 0 && (size_t)r->stop_after == r->n + r->dropped;
}

static inline int rec_data(rsp_parser *p, char kind, const char *at, size_t len) {
  rec_event *e = rec_add(p, kind);
  if (e) {
    e->len = len;
    if (len > sizeof(e->body))
      len = sizeof(e->body);
    memcpy(e->body, at, len);
  }
  return rec_verdict(p);
}

static inline int rec_on_packet(rsp_parser *p, const char *at, size_t len) {
  return rec_data(p, 'P', at, len);
}
static inline int rec_on_notification(rsp_parser *p, const char *at, size_t len) {
  return rec_data(p, 'N', at, len);
}
static inline int rec_simple(rsp_parser *p, char kind) {
  rec_event *e = rec_add(p, kind);
  if (e)
    e->err = p->err;
  return rec_verdict(p);
}
static inline int rec_on_ack(rsp_parser *p) {
  return rec_simple(p, '+');
}
static inline int rec_on_nak(rsp_parser *p) {
  return rec_simple(p, '-');
}
static inline int rec_on_interrupt(rsp_parser *p) {
  return rec_simple(p, 'I');
}
static inline int rec_on_bad_checksum(rsp_parser *p) {
  return rec_simple(p, 'C');
}
static inline int rec_on_error(rsp_parser *p) {
  return rec_simple(p, 'E');
}

static const rsp_parser_settings rec_settings = {
    .on_packet = rec_on_packet,
    .on_notification = rec_on_notification,
    .on_ack = rec_on_ack,
    .on_nak = rec_on_nak,
    .on_interrupt = rec_on_interrupt,
    .on_bad_checksum = rec_on_bad_checksum,
    .on_error = rec_on_error,
};

#endif
