/* test_encode.c - the encoder (escapes, run-length encoding, capacity) and
 * the hex helpers; random round trips through the parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rec.h"

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint32_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 16);
}

/* Parses one frame with an exact-size body buffer and returns the event. */
static void parse_one(const char *frame, size_t n, size_t cap, rec *r) {
  char *body = malloc(cap ? cap : 1);
  assert_non_null(body);
  rsp_parser p;
  rsp_parser_init(&p, body, cap);
  memset(r, 0, sizeof(*r));
  p.data = r;
  assert_int_equal(rsp_parser_execute(&p, &rec_settings, frame, n), n);
  free(body);
}

/* The frame's body part never holds a raw framing character, and every
 * run-length count is printable and neither '#' nor '$'. */
static void check_frame_shape(const char *f, size_t n, unsigned flags) {
  assert_true(n >= 4);
  assert_int_equal(f[0], (flags & RSP_ENC_NOTIFY) ? '%' : '$');
  assert_int_equal(f[n - 3], '#');
  for (size_t i = 1; i < n - 3; i++) {
    char c = f[i];
    assert_true(c != '$' && c != '#');
    if (c == '}') {
      assert_true(i + 1 < n - 3);
      i++;
    } else if (c == '*') {
      assert_true(flags & RSP_ENC_RLE);
      assert_true(i + 1 < n - 3);
      char k = f[++i];
      assert_true(k >= ' ' + 0 && k <= '~');
      assert_true(k != '#' && k != '$');
      /* Never a repeat of an escaped byte. */
      assert_true(i >= 3 && f[i - 3] != '}');
    }
  }
  uint8_t sum = rsp_checksum(f + 1, n - 4);
  assert_int_equal(rsp_hex_digit((uint8_t)f[n - 2]), sum >> 4);
  assert_int_equal(rsp_hex_digit((uint8_t)f[n - 1]), sum & 0xf);
}

static void round_trip(const uint8_t *body, size_t len, unsigned flags) {
  size_t cap = RSP_FRAME_MAX(len);
  char *frame = malloc(cap);
  assert_non_null(frame);
  int n = rsp_encode(frame, cap, body, len, flags);
  assert_true(n >= 4);
  assert_true((size_t)n <= cap);
  check_frame_shape(frame, (size_t)n, flags);
  /* The exact size is enough, one byte less is not. */
  char *exact = malloc((size_t)n);
  assert_non_null(exact);
  assert_int_equal(rsp_encode(exact, (size_t)n, body, len, flags), n);
  assert_memory_equal(exact, frame, (size_t)n);
  assert_int_equal(rsp_encode(exact, (size_t)n - 1, body, len, flags), RSP_ENOBUFS);
  free(exact);

  rec *r = malloc(sizeof(*r));
  assert_non_null(r);
  parse_one(frame, (size_t)n, len, r); /* the body buffer is exactly len */
  assert_int_equal(r->n, 1);
  assert_int_equal(r->ev[0].kind, (flags & RSP_ENC_NOTIFY) ? 'N' : 'P');
  assert_int_equal(r->ev[0].len, len);
  assert_memory_equal(r->ev[0].body, body, len);
  /* One byte less of body buffer is an overflow, never a silent cut. */
  if (len) {
    parse_one(frame, (size_t)n, len - 1, r);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->ev[0].kind, 'E');
    assert_int_equal(r->ev[0].err, RSP_EOVERFLOW);
  }
  free(r);
  free(frame);
}

static void all_byte_values(void **state) {
  (void)state;
  uint8_t body[256];
  for (int i = 0; i < 256; i++)
    body[i] = (uint8_t)i;
  round_trip(body, sizeof(body), 0);
  round_trip(body, sizeof(body), RSP_ENC_RLE);
  round_trip(body, sizeof(body), RSP_ENC_NOTIFY);
  /* Every byte value repeated, so runs of specials are tried too. */
  uint8_t runs[256 * 12];
  for (int i = 0; i < 256; i++)
    memset(runs + 12 * i, i, 12);
  round_trip(runs, sizeof(runs), 0);
  round_trip(runs, sizeof(runs), RSP_ENC_RLE);
}

static void random_round_trips(void **state) {
  (void)state;
  uint8_t body[4096];
  for (int iter = 0; iter < 3000; iter++) {
    size_t len = rnd() % (iter < 2000 ? 300 : sizeof(body));
    int mode = iter % 3;
    for (size_t i = 0; i < len; i++) {
      if (mode == 0)
        body[i] = (uint8_t)rnd(); /* uniform over all 256 values */
      else if (mode == 1)
        body[i] = (uint8_t) "0#$}*a"[rnd() % 6]; /* specials and runs */
      else
        body[i] = i && rnd() % 8 ? body[i - 1] : (uint8_t)rnd(); /* long runs */
    }
    round_trip(body, len, 0);
    round_trip(body, len, RSP_ENC_RLE);
    round_trip(body, len, RSP_ENC_RLE | RSP_ENC_NOTIFY);
  }
}

/* Runs of every length from 1 to 300: counts 6 and 7 would be '#' and '$'
 * and must be avoided; the result must still decode to the run. */
static void rle_run_lengths(void **state) {
  (void)state;
  uint8_t body[301];
  for (size_t run = 1; run <= 300; run++) {
    memset(body, '0', run);
    round_trip(body, run, RSP_ENC_RLE);
    body[run] = 'x';
    round_trip(body, run + 1, RSP_ENC_RLE);
  }
}

static void rle_avoids_hash_and_dollar(void **state) {
  (void)state;
  char out[32];
  /* 1 + 6 repeats: count 6 would be '#', so 5 repeats ('"') plus one 0. */
  int n = rsp_encode(out, sizeof(out), "0000000", 7, RSP_ENC_RLE);
  assert_int_equal(n, 4 + 4);
  assert_memory_equal(out, "$0*\"0#", 6);
  /* 1 + 7 repeats: count 7 would be '$', 6 '#', so 5 and then "00". */
  n = rsp_encode(out, sizeof(out), "00000000", 8, RSP_ENC_RLE);
  assert_memory_equal(out, "$0*\"00#", 7);
  /* 1 + 8 repeats: count 8 is '%', allowed. */
  n = rsp_encode(out, sizeof(out), "000000000", 9, RSP_ENC_RLE);
  assert_memory_equal(out, "$0*%#", 5);
  /* Short runs are not compressed. */
  n = rsp_encode(out, sizeof(out), "000", 3, RSP_ENC_RLE);
  assert_memory_equal(out, "$000#", 5);
  n = rsp_encode(out, sizeof(out), "0000", 4, RSP_ENC_RLE);
  assert_memory_equal(out, "$0* #", 5);
  assert_int_equal(n, 7);
}

static void rle_never_across_escapes(void **state) {
  (void)state;
  char out[64];
  int n = rsp_encode(out, sizeof(out), "########", 8, RSP_ENC_RLE);
  assert_int_equal(n, 1 + 16 + 3);
  for (int i = 0; i < 8; i++)
    assert_memory_equal(out + 1 + 2 * i, "}\x03", 2);
}

static void escapes(void **state) {
  (void)state;
  char out[64];
  int n = rsp_encode(out, sizeof(out), "a$b#c}d*e%", 10, 0);
  /* '%' needs no escape (it only starts a notification between packets). */
  const char want[] = "$a}\x04"
                      "b}\x03"
                      "c}]d}\x0a"
                      "e%#";
  assert_int_equal(n, sizeof(want) - 1 + 2);
  assert_memory_equal(out, want, sizeof(want) - 1);
  /* An escape as the last body byte. */
  n = rsp_encode(out, sizeof(out), "ab}", 3, 0);
  assert_int_equal(n, 8);
  assert_memory_equal(out, "$ab}]#", 6);
  /* Empty body. */
  n = rsp_encode(out, sizeof(out), NULL, 0, 0);
  assert_int_equal(n, 4);
  assert_memory_equal(out, "$#00", 4);
  assert_int_equal(rsp_encode(out, 3, NULL, 0, 0), RSP_ENOBUFS);
}

static void checksum(void **state) {
  (void)state;
  assert_int_equal(rsp_checksum("", 0), 0);
  assert_int_equal(rsp_checksum("OK", 2), 0x9a);
  uint8_t ff[300];
  memset(ff, 0xff, sizeof(ff));
  assert_int_equal(rsp_checksum(ff, sizeof(ff)), (300 * 255) % 256);
}

/* Every length around the 16-byte blocks, every byte value, every
 * invalid character at every position: the block loop (SSE2) and the
 * byte loop must agree with the definition. */
static void hex_blocks(void **state) {
  (void)state;
  static const char dig[] = "0123456789abcdef";
  uint8_t in[80] = {0}, back[80];
  char out[160], want[160];
  uint32_t x = 12345;
  for (size_t len = 0; len <= sizeof(in); len++) {
    for (size_t i = 0; i < len; i++) {
      x = x * 1103515245u + 12345u;
      in[i] = (uint8_t)(len == 64 ? i * 4 + 3 : x >> 16);
    }
    for (size_t i = 0; i < len; i++) {
      want[2 * i] = dig[in[i] >> 4];
      want[2 * i + 1] = dig[in[i] & 15];
    }
    assert_int_equal(rsp_hex_encode(out, sizeof(out), in, len), (int)(2 * len));
    assert_memory_equal(out, want, 2 * len);
    for (size_t i = 0; i < 2 * len; i += 3)
      if (out[i] >= 'a')
        out[i] = (char)(out[i] - 32); /* upper case decodes too */
    assert_int_equal(rsp_hex_decode(back, sizeof(back), out, 2 * len), (int)len);
    assert_memory_equal(back, in, len);
  }
  static const char bad[] = {'g', 'G', '/', ':', '@', '`', ' ', 0, (char)0xb1, (char)0xe1};
  for (size_t pos = 0; pos < 40; pos++)
    for (size_t k = 0; k < sizeof(bad); k++) {
      memset(out, 'a', 40);
      out[pos] = bad[k];
      assert_int_equal(rsp_hex_decode(back, sizeof(back), out, 40), RSP_EBADHEX);
    }
}

static void hex_helpers(void **state) {
  (void)state;
  char out[16];
  uint8_t bin[8];
  assert_int_equal(rsp_hex_encode(out, 8, "\x00\x7f\xab\xff", 4), 8);
  assert_memory_equal(out, "007fabff", 8);
  assert_int_equal(rsp_hex_encode(out, 7, "\x00\x7f\xab\xff", 4), RSP_ENOBUFS);
  assert_int_equal(rsp_hex_decode(bin, 4, "007FabfF", 8), 4);
  assert_memory_equal(bin, "\x00\x7f\xab\xff", 4);
  assert_int_equal(rsp_hex_decode(bin, 3, "007fabff", 8), RSP_ENOBUFS);
  assert_int_equal(rsp_hex_decode(bin, 4, "007fabf", 7), RSP_ESYNTAX);
  assert_int_equal(rsp_hex_decode(bin, 4, "00g0", 4), RSP_EBADHEX);
  assert_int_equal(rsp_hex_decode(bin, 0, "", 0), 0);
  for (int c = 0; c < 256; c++) {
    int want = c >= '0' && c <= '9'   ? c - '0'
               : c >= 'a' && c <= 'f' ? c - 'a' + 10
               : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                      : -1;
    assert_int_equal(rsp_hex_digit(c), want);
  }
}

static void parse_and_format_numbers(void **state) {
  (void)state;
  const char *s = "ffffffffffffffff,";
  const char *p = s;
  uint64_t v;
  assert_int_equal(rsp_parse_hex(&p, s + strlen(s), &v), 0);
  assert_true(v == UINT64_MAX);
  assert_ptr_equal(p, s + 16);
  s = "10000000000000000";
  p = s;
  assert_int_equal(rsp_parse_hex(&p, s + strlen(s), &v), RSP_ERANGE);
  assert_ptr_equal(p, s); /* not advanced on error */
  s = "000000000000000000001A";
  p = s;
  assert_int_equal(rsp_parse_hex(&p, s + strlen(s), &v), 0);
  assert_true(v == 0x1a);
  s = ",1";
  p = s;
  assert_int_equal(rsp_parse_hex(&p, s + 2, &v), RSP_ESYNTAX);
  p = s + 1;
  assert_int_equal(rsp_parse_hex(&p, s + 1, &v), RSP_ESYNTAX); /* empty */
  /* Never reads past end: "12" with end after the '1'. */
  s = "12";
  p = s;
  assert_int_equal(rsp_parse_hex(&p, s + 1, &v), 0);
  assert_true(v == 1);

  char out[16];
  assert_int_equal(rsp_format_hex(out, sizeof(out), 0), 1);
  assert_memory_equal(out, "0", 1);
  assert_int_equal(rsp_format_hex(out, sizeof(out), 0x1000), 4);
  assert_memory_equal(out, "1000", 4);
  assert_int_equal(rsp_format_hex(out, 16, UINT64_MAX), 16);
  assert_memory_equal(out, "ffffffffffffffff", 16);
  assert_int_equal(rsp_format_hex(out, 15, UINT64_MAX), RSP_ENOBUFS);
  for (int i = 0; i < 2000; i++) {
    uint64_t x = ((uint64_t)rnd() << 32 | rnd()) >> (rnd() % 64);
    int n = rsp_format_hex(out, sizeof(out), x);
    assert_true(n > 0);
    p = out;
    assert_int_equal(rsp_parse_hex(&p, out + n, &v), 0);
    assert_true(v == x);
    assert_ptr_equal(p, out + n);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(all_byte_values),
      cmocka_unit_test(random_round_trips),
      cmocka_unit_test(rle_run_lengths),
      cmocka_unit_test(rle_avoids_hash_and_dollar),
      cmocka_unit_test(rle_never_across_escapes),
      cmocka_unit_test(escapes),
      cmocka_unit_test(checksum),
      cmocka_unit_test(hex_helpers),
      cmocka_unit_test(hex_blocks),
      cmocka_unit_test(parse_and_format_numbers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
