/* fuzz_parser.c - the push parser on arbitrary input.
 *
 * Input: byte 0 picks the body capacity (0..255) and the NOVERIFY flag,
 * bytes 1-2 a split point; the rest is the wire stream.  Invariants:
 * - no read or write outside the exact-size heap body buffer (ASan);
 * - every delivered body fits the capacity and lies in the buffer;
 * - the event sequence is the same whether the stream is fed whole, split
 *   in two at any point, or one byte at a time;
 * - every delivered body re-encodes (with and without RLE) to a frame that
 *   parses back to the same body.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rsp.h"

#define CHECK(x) \
  do {           \
    if (!(x))    \
      abort();   \
  } while (0)

typedef struct {
  uint64_t hash; /* of the event sequence */
  size_t events;
  const char *buf;
  size_t cap;
  int reencode;
  int stop; /* every callback asks execute() to stop */
} trace;

static void mix(trace *t, uint64_t v) {
  t->hash = (t->hash ^ v) * 0x100000001b3u;
  t->events++;
}

typedef struct {
  size_t got;
  int packets;
} kept;

static int keep(rsp_parser *p, const char *at, size_t len) {
  kept *k = p->data;
  (void)at;
  k->got = len;
  k->packets++;
  return 0;
}

static int keep_fail(rsp_parser *p) {
  (void)p;
  abort();
}

static const rsp_parser_settings keep_settings = {
    .on_packet = keep,
    .on_notification = keep,
    .on_ack = keep_fail,
    .on_nak = keep_fail,
    .on_interrupt = keep_fail,
    .on_bad_checksum = keep_fail,
    .on_error = keep_fail,
};

/* A delivered body must survive encode and parse unchanged. */
static void reencode(const char *body, size_t len, int notify) {
  for (unsigned flags = 0; flags <= RSP_ENC_RLE; flags++) {
    size_t cap = RSP_FRAME_MAX(len);
    char *frame = malloc(cap);
    char *back = malloc(len ? len : 1);
    CHECK(frame && back);
    unsigned f = flags | (notify ? RSP_ENC_NOTIFY : 0);
    int n = rsp_encode(frame, cap, body, len, f);
    CHECK(n >= 4 && (size_t)n <= cap);
    rsp_parser p;
    rsp_parser_init(&p, back, len);
    kept r = {0, 0};
    p.data = &r;
    CHECK(rsp_parser_execute(&p, &keep_settings, frame, (size_t)n) == (size_t)n);
    CHECK(r.packets == 1 && r.got == len);
    CHECK(len == 0 || memcmp(back, body, len) == 0);
    free(back);
    free(frame);
  }
}

static int on_data(rsp_parser *p, const char *at, size_t len, int kind) {
  trace *t = p->data;
  CHECK(len <= t->cap);
  CHECK(len == 0 || (at >= t->buf && at + len <= t->buf + t->cap));
  mix(t, (uint64_t)kind << 32 | len);
  for (size_t i = 0; i < len; i++)
    mix(t, (uint8_t)at[i]);
  if (t->reencode)
    reencode(at, len, kind == 'N');
  return t->stop;
}
static int on_packet(rsp_parser *p, const char *at, size_t len) {
  return on_data(p, at, len, 'P');
}
static int on_notification(rsp_parser *p, const char *at, size_t len) {
  return on_data(p, at, len, 'N');
}
/* p->err is meaningful only in on_error and on_bad_checksum. */
static int on_simple(rsp_parser *p, int kind) {
  trace *t = p->data;
  int err = (kind == 'E' || kind == 'C') ? p->err : 0;
  mix(t, (uint64_t)kind << 32 | (uint32_t)-err);
  return t->stop;
}
static int on_ack(rsp_parser *p) {
  return on_simple(p, '+');
}
static int on_nak(rsp_parser *p) {
  return on_simple(p, '-');
}
static int on_interrupt(rsp_parser *p) {
  return on_simple(p, 'I');
}
static int on_bad(rsp_parser *p) {
  CHECK(p->err == RSP_ECHECKSUM);
  return on_simple(p, 'C');
}
static int on_error(rsp_parser *p) {
  CHECK(p->err < 0 && p->err != RSP_ECALLBACK);
  return on_simple(p, 'E');
}

static const rsp_parser_settings settings = {
    .on_packet = on_packet,
    .on_notification = on_notification,
    .on_ack = on_ack,
    .on_nak = on_nak,
    .on_interrupt = on_interrupt,
    .on_bad_checksum = on_bad,
    .on_error = on_error,
};

/* mode 0: whole; 1: split at cut; 2: byte by byte; 3: whole, but every
 * callback stops execute() and the caller resumes where it stopped. */
static trace run(const uint8_t *d, size_t n, size_t cap, unsigned flags, size_t cut, int mode) {
  trace t = {0xcbf29ce484222325u, 0, NULL, cap, mode == 0, mode == 3};
  char *buf = malloc(cap ? cap : 1);
  CHECK(buf);
  t.buf = buf;
  rsp_parser p;
  rsp_parser_init(&p, buf, cap);
  p.flags = flags;
  p.data = &t;
  const char *s = (const char *)d;
  if (mode == 0) {
    CHECK(rsp_parser_execute(&p, &settings, s, n) == n);
  } else if (mode == 1) {
    CHECK(rsp_parser_execute(&p, &settings, s, cut) == cut);
    CHECK(rsp_parser_execute(&p, &settings, s + cut, n - cut) == n - cut);
  } else if (mode == 2) {
    for (size_t i = 0; i < n; i++)
      CHECK(rsp_parser_execute(&p, &settings, s + i, 1) == 1);
  } else {
    size_t off = 0;
    while (off < n) {
      size_t before = t.events;
      size_t got = rsp_parser_execute(&p, &settings, s + off, n - off);
      CHECK(got >= 1 && got <= n - off); /* progress, no overrun */
      if (got < n - off)
        CHECK(p.err == RSP_ECALLBACK && t.events > before);
      off += got;
    }
  }
  free(buf);
  return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3)
    return 0;
  size_t cap = data[0] & 0x7f;
  if (data[0] & 0x80)
    cap = 4096 + cap; /* large enough for most bodies */
  unsigned flags = (data[1] & 1) ? RSP_PARSER_NOVERIFY : 0;
  const uint8_t *d = data + 3;
  size_t n = size - 3;
  size_t cut = n ? ((size_t)data[1] << 8 | data[2]) % (n + 1) : 0;
  trace whole = run(d, n, cap, flags, 0, 0);
  trace split = run(d, n, cap, flags, cut, 1);
  CHECK(whole.hash == split.hash && whole.events == split.events);
  if (n < 4096) {
    trace bytes = run(d, n, cap, flags, 0, 2);
    CHECK(whole.hash == bytes.hash && whole.events == bytes.events);
  }
  trace stops = run(d, n, cap, flags, 0, 3);
  CHECK(whole.hash == stops.hash && whole.events == stops.events);
  return 0;
}
