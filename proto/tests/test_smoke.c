/* test_smoke.c - a first end-to-end check of parser and encoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rec.h"

static void parse_simple_packet(void **state) {
  (void)state;
  char body[64];
  rsp_parser p;
  rec r = {0};
  rsp_parser_init(&p, body, sizeof(body));
  p.data = &r;
  const char in[] = "+$OK#9a-\x03";
  size_t n = rsp_parser_execute(&p, &rec_settings, in, sizeof(in) - 1);
  assert_int_equal(n, sizeof(in) - 1);
  assert_int_equal(r.n, 4);
  assert_int_equal(r.ev[0].kind, '+');
  assert_int_equal(r.ev[1].kind, 'P');
  assert_int_equal(r.ev[1].len, 2);
  assert_memory_equal(r.ev[1].body, "OK", 2);
  assert_int_equal(r.ev[2].kind, '-');
  assert_int_equal(r.ev[3].kind, 'I');
}

static void encode_then_parse(void **state) {
  (void)state;
  char frame[64], body[64];
  const char msg[] = "a}b#c$d*eeeeeeeee";
  int n = rsp_encode(frame, sizeof(frame), msg, sizeof(msg) - 1, RSP_ENC_RLE);
  assert_true(n > 0);
  rsp_parser p;
  rec r = {0};
  rsp_parser_init(&p, body, sizeof(body));
  p.data = &r;
  assert_int_equal(rsp_parser_execute(&p, &rec_settings, frame, (size_t)n), (size_t)n);
  assert_int_equal(r.n, 1);
  assert_int_equal(r.ev[0].kind, 'P');
  assert_int_equal(r.ev[0].len, sizeof(msg) - 1);
  assert_memory_equal(r.ev[0].body, msg, sizeof(msg) - 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(parse_simple_packet),
      cmocka_unit_test(encode_then_parse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
