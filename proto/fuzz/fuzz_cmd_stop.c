/* fuzz_cmd_stop.c - stop replies (S, T, W, X, O), thread ids and error
 * replies.
 *
 * Invariants: parsers stay inside the input; T pairs iterate to the end;
 * formatted replies (exact buffers) parse back to the same values.
 */
#include <stddef.h>
#include <stdint.h>

#include "rsp.h"
#include "fuzz_util.h"

static void try_stop(const char *b, size_t len) {
  rsp_stop s, s2;
  if (rsp_parse_stop(b, len, &s) != 0)
    return;
  char *f = NULL;
  int fl = 0;
  switch (s.kind) {
  case 'S':
    FORMAT_EXACT(f, fl, 8, rsp_format_stop_S(out, cap, s.sig));
    break;
  case 'W':
    FORMAT_EXACT(f, fl, 8, rsp_format_stop_W(out, cap, s.sig));
    break;
  case 'X':
    FORMAT_EXACT(f, fl, 8, rsp_format_stop_X(out, cap, s.sig));
    break;
  case 'T': {
    size_t pos = 0, n = 0;
    rsp_pair kv;
    int rc;
    while ((rc = rsp_stop_next_pair(&s, &pos, &kv)) == 1) {
      CHECK(++n <= len && pos <= s.pairs_len && kv.key_len > 0);
      CHECK(kv.key >= s.pairs && kv.value + kv.value_len <= s.pairs + s.pairs_len);
    }
    CHECK(rc == 0);
    FORMAT_EXACT(f, fl, len + 64,
                 rsp_format_stop_T(out, cap, s.sig, s.has_thread ? &s.thread : NULL,
                                   s.thread.pid != 0, NULL, 0));
    break;
  }
  case 'O':
    CHECK(s.text >= b && s.text + s.text_len == b + len);
    return;
  default:
    abort();
  }
  CHECK(f && rsp_parse_stop(f, (size_t)fl, &s2) == 0);
  CHECK(s2.kind == s.kind && s2.sig == s.sig && s2.has_thread == s.has_thread);
  if (s.has_thread)
    CHECK(s2.thread.tid == s.thread.tid && s2.thread.pid == s.thread.pid);
  free(f);
}

static void try_tid(const char *b, size_t len) {
  const char *p = b;
  rsp_tid t, t2;
  if (rsp_parse_tid(&p, b + len, &t) != 0) {
    CHECK(p == b);
    return;
  }
  CHECK(p > b && p <= b + len);
  CHECK(t.tid >= -1 && t.pid >= -1);
  char *f;
  int fl;
  FORMAT_EXACT(f, fl, 64, rsp_format_tid(out, cap, t, 1));
  const char *q = f;
  CHECK(f && rsp_parse_tid(&q, f + fl, &t2) == 0 && q == f + fl);
  CHECK(t2.pid == t.pid && t2.tid == t.tid);
  free(f);
}

static void try_error(const char *b, size_t len) {
  int code, code2;
  const char *msg, *msg2;
  size_t ml, ml2;
  if (rsp_parse_error(b, len, &code, &msg, &ml) != 1)
    return;
  char *f;
  int fl;
  if (code >= 0) {
    CHECK(code <= 255 && len == 3);
    FORMAT_EXACT(f, fl, 8, rsp_format_error(out, cap, (uint8_t)code));
  } else {
    CHECK(msg == b + 2 && ml == len - 2);
    FORMAT_EXACT(f, fl, len + 8, rsp_format_error_msg(out, cap, msg, ml));
  }
  CHECK(f && rsp_parse_error(f, (size_t)fl, &code2, &msg2, &ml2) == 1 && code2 == code);
  if (code < 0)
    CHECK(ml2 == ml && memcmp(msg2, msg, ml) == 0);
  free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *b = fuzz_dup(data, size);
  try_stop(b, size);
  try_tid(b, size);
  try_error(b, size);
  free(b);
  return 0;
}
