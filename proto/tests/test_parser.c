/* test_parser.c - the push parser against golden tables, fed whole, split
 * at every byte, one byte at a time, and concatenated three at a time and
 * split at every pair of points (the http-parser test pattern). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rec.h"

typedef struct {
  char kind;
  int err;
  const char *body;
  size_t len;
} golden_ev;

typedef struct {
  const char *name;
  const char *raw;
  size_t raw_len;
  size_t cap;    /* body buffer capacity when fixed_cap */
  int fixed_cap; /* else DEFAULT_CAP */
  unsigned flags;
  int complete; /* the stream ends between packets */
  size_t nev;
  golden_ev ev[6];
} golden;

#include "golden.h"

enum { DEFAULT_CAP = 256 };
#define NGOLDEN (sizeof(goldens) / sizeof(goldens[0]))

typedef struct {
  rsp_parser p;
  rec r;
  char *body; /* exactly cap bytes on the heap, so ASan sees overruns */
} harness;

static harness *harness_new(size_t cap, unsigned flags) {
  harness *h = calloc(1, sizeof(*h));
  assert_non_null(h);
  h->body = malloc(cap ? cap : 1);
  assert_non_null(h->body);
  rsp_parser_init(&h->p, h->body, cap);
  h->p.flags = flags;
  h->p.data = &h->r;
  return h;
}

static void harness_free(harness *h) {
  free(h->body);
  free(h);
}

static void feed(harness *h, const char *d, size_t n) {
  size_t got = rsp_parser_execute(&h->p, &rec_settings, d, n);
  assert_int_equal(got, n);
}

/* Compares the recorded events, starting at *pos, with one entry's. */
static void expect_events(const harness *h, size_t *pos, const golden *g) {
  for (size_t k = 0; k < g->nev; k++) {
    const golden_ev *want = &g->ev[k];
    if (*pos >= h->r.n)
      fail_msg("%s: missing event %zu ('%c')", g->name, k, want->kind);
    const rec_event *got = &h->r.ev[(*pos)++];
    if (got->kind != want->kind)
      fail_msg("%s: event %zu is '%c', want '%c'", g->name, k, got->kind, want->kind);
    if (want->err && got->err != want->err)
      fail_msg("%s: event %zu err %s, want %s", g->name, k, rsp_err_name(got->err),
               rsp_err_name(want->err));
    if (want->body) {
      if (got->len != want->len)
        fail_msg("%s: event %zu length %zu, want %zu", g->name, k, got->len, want->len);
      assert_memory_equal(got->body, want->body, want->len);
    }
  }
}

static void expect_only(const harness *h, const golden *g) {
  size_t pos = 0;
  expect_events(h, &pos, g);
  if (pos != h->r.n)
    fail_msg("%s: %zu unexpected extra events (first '%c')", g->name, h->r.n - pos,
             h->r.ev[pos].kind);
  assert_int_equal(h->r.dropped, 0);
}

/* After a complete stream the parser must be between packets: a '+' is an
 * ack, not body data. */
static void expect_idle(harness *h, const golden *g) {
  size_t before = h->r.n;
  feed(h, "+", 1);
  if (h->r.n != before + 1 || h->r.ev[before].kind != '+')
    fail_msg("%s: parser not idle after the stream", g->name);
}

static size_t cap_of(const golden *g) {
  return g->fixed_cap ? g->cap : DEFAULT_CAP;
}

static void golden_whole(void **state) {
  (void)state;
  for (size_t i = 0; i < NGOLDEN; i++) {
    const golden *g = &goldens[i];
    harness *h = harness_new(cap_of(g), g->flags);
    feed(h, g->raw, g->raw_len);
    expect_only(h, g);
    if (g->complete)
      expect_idle(h, g);
    harness_free(h);
  }
}

static void golden_split_everywhere(void **state) {
  (void)state;
  for (size_t i = 0; i < NGOLDEN; i++) {
    const golden *g = &goldens[i];
    for (size_t cut = 0; cut <= g->raw_len; cut++) {
      harness *h = harness_new(cap_of(g), g->flags);
      feed(h, g->raw, cut);
      feed(h, g->raw + cut, g->raw_len - cut);
      expect_only(h, g);
      if (g->complete)
        expect_idle(h, g);
      harness_free(h);
    }
  }
}

static void golden_byte_by_byte(void **state) {
  (void)state;
  for (size_t i = 0; i < NGOLDEN; i++) {
    const golden *g = &goldens[i];
    harness *h = harness_new(cap_of(g), g->flags);
    for (size_t k = 0; k < g->raw_len; k++)
      feed(h, g->raw + k, 1);
    expect_only(h, g);
    harness_free(h);
  }
}

/* Three complete entries back to back, split at every pair of points. */
static void golden_concat_split3(void **state) {
  (void)state;
  const golden *pick[NGOLDEN];
  size_t n = 0;
  for (size_t i = 0; i < NGOLDEN; i++)
    if (goldens[i].complete && !goldens[i].fixed_cap && !goldens[i].flags)
      pick[n++] = &goldens[i];
  assert_true(n >= 3);
  char buf[1024];
  size_t triples = 0;
  for (size_t a = 0; a < n; a++) {
    const golden *t[3] = {pick[a], pick[(a + 1) % n], pick[(a + 7) % n]};
    size_t len = 0;
    for (int k = 0; k < 3; k++) {
      assert_true(len + t[k]->raw_len <= sizeof(buf));
      memcpy(buf + len, t[k]->raw, t[k]->raw_len);
      len += t[k]->raw_len;
    }
    for (size_t i = 0; i <= len; i++) {
      for (size_t j = i; j <= len; j++) {
        harness *h = harness_new(DEFAULT_CAP, 0);
        feed(h, buf, i);
        feed(h, buf + i, j - i);
        feed(h, buf + j, len - j);
        size_t pos = 0;
        for (int k = 0; k < 3; k++)
          expect_events(h, &pos, t[k]);
        assert_int_equal(pos, h->r.n);
        harness_free(h);
      }
    }
    triples++;
  }
  assert_int_equal(triples, n);
}

/* A callback returning non-zero stops execute() right after its byte. */
static void callback_stops_parser(void **state) {
  (void)state;
  const char in[] = "+$OK#9a-$a#61";
  const size_t stop_at[] = {1, 7, 8, 13}; /* bytes consumed up to each event */
  for (int ev = 1; ev <= 4; ev++) {
    harness *h = harness_new(DEFAULT_CAP, 0);
    h->r.stop_after = ev;
    size_t got = rsp_parser_execute(&h->p, &rec_settings, in, sizeof(in) - 1);
    assert_int_equal(got, stop_at[ev - 1]);
    assert_int_equal(h->p.err, RSP_ECALLBACK);
    assert_int_equal(h->r.n, (size_t)ev);
    /* Not sticky: the rest of the input parses normally. */
    h->r.stop_after = 0;
    feed(h, in + got, sizeof(in) - 1 - got);
    assert_int_equal(h->p.err, 0);
    assert_int_equal(h->r.n, 4);
    assert_int_equal(h->r.ev[3].kind, 'P');
    assert_memory_equal(h->r.ev[3].body, "a", 1);
    harness_free(h);
  }
}

static void callback_stops_on_error(void **state) {
  (void)state;
  harness *h = harness_new(4, 0);
  h->r.stop_after = 1;
  const char in[] = "$abcdefgh#00+";
  size_t got = rsp_parser_execute(&h->p, &rec_settings, in, sizeof(in) - 1);
  assert_int_equal(h->p.err, RSP_ECALLBACK);
  assert_int_equal(h->r.n, 1);
  assert_int_equal(h->r.ev[0].err, RSP_EOVERFLOW);
  assert_true(got < sizeof(in) - 1);
  h->r.stop_after = 0;
  feed(h, in + got, sizeof(in) - 1 - got);
  assert_int_equal(h->r.n, 2);
  assert_int_equal(h->r.ev[1].kind, '+');
  harness_free(h);
}

static void null_callbacks_are_fine(void **state) {
  (void)state;
  static const rsp_parser_settings none = {0};
  char body[4];
  rsp_parser p;
  rsp_parser_init(&p, body, sizeof(body));
  const char in[] = "+-\x03$OK#9a$OK#00%a#61$abcdefg#00$a}#00$$";
  assert_int_equal(rsp_parser_execute(&p, &none, in, sizeof(in) - 1), sizeof(in) - 1);
}

static void reset_forgets_partial_packet(void **state) {
  (void)state;
  harness *h = harness_new(DEFAULT_CAP, 0);
  feed(h, "$abc", 4);
  rsp_parser_reset(&h->p);
  feed(h, "+$OK#9a", 7);
  assert_int_equal(h->r.n, 2);
  assert_int_equal(h->r.ev[0].kind, '+');
  assert_int_equal(h->r.ev[1].kind, 'P');
  assert_int_equal(h->r.ev[1].len, 2);
  harness_free(h);
}

/* Long bodies exercise the block scan: a special byte at every offset of a
 * 64-byte body must still be seen. */
static void special_at_every_offset(void **state) {
  (void)state;
  const char specials[] = {'}', '*', '#'};
  for (size_t s = 0; s < sizeof(specials); s++) {
    for (size_t at = 1; at < 64; at++) {
      char raw[80], want[128];
      size_t n = 0, wn = 0;
      raw[n++] = '$';
      for (size_t k = 0; k < 64; k++) {
        if (k == at && specials[s] == '}') {
          raw[n++] = '}';
          raw[n++] = ']';
          want[wn++] = '}';
        } else if (k == at && specials[s] == '*') {
          raw[n++] = '*';
          raw[n++] = ' ';
          memset(want + wn, want[wn - 1], 3);
          wn += 3;
        } else if (k == at) {
          break; /* '#' ends the body early */
        } else {
          raw[n++] = (char)('A' + k % 26);
          want[wn++] = (char)('A' + k % 26);
        }
      }
      uint8_t sum = rsp_checksum(raw + 1, n - 1);
      n += (size_t)snprintf(raw + n, sizeof(raw) - n, "#%02x", sum);
      harness *h = harness_new(DEFAULT_CAP, 0);
      feed(h, raw, n);
      assert_int_equal(h->r.n, 1);
      assert_int_equal(h->r.ev[0].kind, 'P');
      assert_int_equal(h->r.ev[0].len, wn);
      assert_memory_equal(h->r.ev[0].body, want, wn);
      harness_free(h);
    }
  }
}

/* The checksum is over the raw bytes, escapes and counts included: the
 * same body sent escaped or RLE-compressed has different checksums. */
static void checksum_over_raw_bytes(void **state) {
  (void)state;
  harness *h = harness_new(DEFAULT_CAP, 0);
  /* "}]" is '}' ; sum('}' + ']') = 0x7d + 0x5d = 0xda.  Checking against
   * the checksum of the decoded byte (0x7d) must fail. */
  feed(h, "$}]#da$}]#7d", 12);
  assert_int_equal(h->r.n, 2);
  assert_int_equal(h->r.ev[0].kind, 'P');
  assert_int_equal(h->r.ev[1].kind, 'C');
  /* "0* ": 0x30 + 0x2a + 0x20 = 0x7a, not the sum of "0000" (0xc0). */
  feed(h, "$0* #7a$0* #c0", 14);
  assert_int_equal(h->r.n, 4);
  assert_int_equal(h->r.ev[2].kind, 'P');
  assert_int_equal(h->r.ev[2].len, 4);
  assert_int_equal(h->r.ev[3].kind, 'C');
  harness_free(h);
}

/* Callbacks may switch checksum verification off (QStartNoAckMode) and may
 * reset the parser; both take effect inside the same execute(). */
static int noack_on_ok(rsp_parser *p, const char *at, size_t len) {
  if (len == 2 && memcmp(at, "OK", 2) == 0)
    p->flags |= RSP_PARSER_NOVERIFY;
  return rec_on_packet(p, at, len);
}
static int reset_on_error(rsp_parser *p) {
  rsp_parser_reset(p);
  return rec_on_error(p);
}

static void callbacks_change_the_parser(void **state) {
  (void)state;
  rsp_parser_settings s = rec_settings;
  s.on_packet = noack_on_ok;
  s.on_error = reset_on_error;
  harness *h = harness_new(4, 0);
  const char in[] = "$a#00$OK#9a$b#00$abcdefgh#00+";
  assert_int_equal(rsp_parser_execute(&h->p, &s, in, sizeof(in) - 1), sizeof(in) - 1);
  assert_int_equal(h->r.n, 5);
  assert_int_equal(h->r.ev[0].kind, 'C'); /* still verifying */
  assert_int_equal(h->r.ev[1].kind, 'P');
  assert_int_equal(h->r.ev[2].kind, 'P'); /* "b" with a wrong checksum */
  assert_memory_equal(h->r.ev[2].body, "b", 1);
  assert_int_equal(h->r.ev[3].kind, 'E');
  assert_int_equal(h->r.ev[3].err, RSP_EOVERFLOW);
  /* After the reset "#00" is line noise and '+' an ack. */
  assert_int_equal(h->r.ev[4].kind, '+');
  harness_free(h);
}

static void error_names(void **state) {
  (void)state;
  assert_string_equal(rsp_err_name(0), "RSP_OK");
#define XX(name, n, desc)                                        \
  assert_string_equal(rsp_err_name(RSP_E##name), "RSP_E" #name); \
  assert_string_equal(rsp_strerror(RSP_E##name), desc);
  RSP_ERRNO_MAP(XX)
#undef XX
  assert_non_null(rsp_err_name(-1000));
  assert_non_null(rsp_strerror(12345));
  assert_string_not_equal(rsp_err_name(-1000), "RSP_OK");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(golden_whole),
      cmocka_unit_test(golden_split_everywhere),
      cmocka_unit_test(golden_byte_by_byte),
      cmocka_unit_test(golden_concat_split3),
      cmocka_unit_test(callback_stops_parser),
      cmocka_unit_test(callback_stops_on_error),
      cmocka_unit_test(null_callbacks_are_fine),
      cmocka_unit_test(reset_forgets_partial_packet),
      cmocka_unit_test(special_at_every_offset),
      cmocka_unit_test(checksum_over_raw_bytes),
      cmocka_unit_test(callbacks_change_the_parser),
      cmocka_unit_test(error_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
