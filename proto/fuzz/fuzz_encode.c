/* fuzz_encode.c - the encoder and hex helpers on arbitrary bodies.
 *
 * Input: byte 0 holds the encoder flags and a capacity shrink; the rest is
 * the body.  Invariants: encode then parse gives the body back; the frame
 * fits RSP_FRAME_MAX; the exact frame size is enough and any smaller
 * capacity fails with RSP_ENOBUFS without writing past it (exact heap
 * buffers, ASan); hex encode then decode is the identity.
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

static const char *want_body;
static size_t want_len;
static int packets;

static int on_body(rsp_parser *p, const char *at, size_t len) {
  (void)p;
  CHECK(len == want_len);
  CHECK(len == 0 || memcmp(at, want_body, len) == 0);
  packets++;
  return 0;
}
static int on_fail(rsp_parser *p) {
  (void)p;
  abort();
}

static const rsp_parser_settings settings = {
    .on_packet = on_body,
    .on_notification = on_body,
    .on_ack = on_fail,
    .on_nak = on_fail,
    .on_interrupt = on_fail,
    .on_bad_checksum = on_fail,
    .on_error = on_fail,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  unsigned flags = data[0] & (RSP_ENC_RLE | RSP_ENC_NOTIFY);
  size_t shrink = data[0] >> 2;
  const uint8_t *body = data + 1;
  size_t len = size - 1;

  size_t cap = RSP_FRAME_MAX(len);
  char *frame = malloc(cap);
  CHECK(frame);
  int n = rsp_encode(frame, cap, body, len, flags);
  CHECK(n >= 4 && (size_t)n <= cap);

  /* Exact size works, smaller fails, and nothing is written past cap. */
  char *exact = malloc((size_t)n);
  CHECK(exact);
  CHECK(rsp_encode(exact, (size_t)n, body, len, flags) == n);
  CHECK(memcmp(exact, frame, (size_t)n) == 0);
  free(exact);
  size_t small = shrink % (size_t)n;
  char *tight = malloc(small ? small : 1);
  CHECK(tight);
  CHECK(rsp_encode(tight, small, body, len, flags) == RSP_ENOBUFS);
  free(tight);

  char *back = malloc(len ? len : 1);
  CHECK(back);
  rsp_parser p;
  rsp_parser_init(&p, back, len);
  want_body = (const char *)body;
  want_len = len;
  packets = 0;
  CHECK(rsp_parser_execute(&p, &settings, frame, (size_t)n) == (size_t)n);
  CHECK(packets == 1);
  free(back);
  free(frame);

  /* Hex round trip with exact buffers. */
  char *hex = malloc(2 * len + 1);
  uint8_t *bin = malloc(len + 1);
  CHECK(hex && bin);
  CHECK(rsp_hex_encode(hex, 2 * len, body, len) == (int)(2 * len));
  CHECK(rsp_hex_decode(bin, len, hex, 2 * len) == (int)len);
  CHECK(len == 0 || memcmp(bin, body, len) == 0);
  if (len)
    CHECK(rsp_hex_encode(hex, 2 * len - 1, body, len) == RSP_ENOBUFS);
  /* Decoding arbitrary text: only digits decode, never past cap. */
  int rc = rsp_hex_decode(bin, len / 2, (const char *)body, len & ~(size_t)1);
  CHECK(rc == RSP_EBADHEX || rc == (int)(len / 2));
  free(hex);
  free(bin);
  return 0;
}
