/* fuzz_cmd_mem.c - memory and register commands: m, M, X, p, P, qRcmd, O.
 *
 * The input is tried as every command.  Invariants: parsers never read past
 * the body or write past the given capacity (exact heap buffers); whatever
 * parses formats back (into an exact buffer, and fails cleanly with one byte
 * less) to a body that parses to the same values.
 */
#include <stddef.h>
#include <stdint.h>

#include "rsp.h"
#include "fuzz_util.h"

static void try_m(const char *b, size_t len) {
  uint64_t a, n, a2, n2;
  if (rsp_parse_m(b, len, &a, &n) != 0)
    return;
  char *f;
  int fl;
  FORMAT_EXACT(f, fl, 64, rsp_format_m(out, cap, a, n));
  CHECK(f && rsp_parse_m(f, (size_t)fl, &a2, &n2) == 0 && a2 == a && n2 == n);
  free(f);
}

static void try_M(const char *b, size_t len, size_t bufcap) {
  uint64_t a, n, a2, n2;
  char *buf = malloc(bufcap ? bufcap : 1);
  CHECK(buf);
  if (rsp_parse_M(b, len, &a, &n, buf, bufcap) == 0) {
    CHECK(n <= bufcap);
    char *f;
    int fl;
    FORMAT_EXACT(f, fl, 2 * n + 64, rsp_format_M(out, cap, a, buf, n));
    char *buf2 = malloc(n ? n : 1);
    CHECK(f && buf2);
    CHECK(rsp_parse_M(f, (size_t)fl, &a2, &n2, buf2, n) == 0 && a2 == a && n2 == n);
    CHECK(n == 0 || memcmp(buf, buf2, n) == 0);
    free(buf2);
    free(f);
  }
  free(buf);
}

static void try_X(const char *b, size_t len) {
  uint64_t a, n, a2, n2;
  const char *d, *d2;
  if (rsp_parse_X(b, len, &a, &n, &d) != 0)
    return;
  CHECK(d >= b && d + n == b + len);
  char *f;
  int fl;
  FORMAT_EXACT(f, fl, len + 64, rsp_format_X(out, cap, a, d, n));
  CHECK(f && rsp_parse_X(f, (size_t)fl, &a2, &n2, &d2) == 0 && a2 == a && n2 == n);
  CHECK(n == 0 || memcmp(d, d2, n) == 0);
  free(f);
}

static void try_p_P(const char *b, size_t len, size_t bufcap) {
  uint64_t r, r2;
  if (rsp_parse_p(b, len, &r) == 0) {
    char *f;
    int fl;
    FORMAT_EXACT(f, fl, 32, rsp_format_p(out, cap, r));
    CHECK(f && rsp_parse_p(f, (size_t)fl, &r2) == 0 && r2 == r);
    free(f);
  }
  char *buf = malloc(bufcap ? bufcap : 1);
  CHECK(buf);
  size_t vl = 0, vl2 = 0;
  if (rsp_parse_P(b, len, &r, buf, bufcap, &vl) == 0) {
    CHECK(vl <= bufcap);
    char *f;
    int fl;
    FORMAT_EXACT(f, fl, 2 * vl + 32, rsp_format_P(out, cap, r, buf, vl));
    char *buf2 = malloc(vl ? vl : 1);
    CHECK(f && buf2);
    CHECK(rsp_parse_P(f, (size_t)fl, &r2, buf2, vl, &vl2) == 0 && r2 == r && vl2 == vl);
    CHECK(vl == 0 || memcmp(buf, buf2, vl) == 0);
    free(buf2);
    free(f);
  }
  free(buf);
}

static void try_qrcmd(const char *b, size_t len, size_t bufcap) {
  char *buf = malloc(bufcap ? bufcap : 1);
  CHECK(buf);
  int n = rsp_parse_qrcmd(b, len, buf, bufcap);
  if (n >= 0) {
    CHECK((size_t)n <= bufcap);
    char *f;
    int fl;
    FORMAT_EXACT(f, fl, 2 * (size_t)n + 16, rsp_format_qrcmd(out, cap, buf, (size_t)n));
    char *buf2 = malloc(n ? (size_t)n : 1);
    CHECK(f && buf2);
    CHECK(rsp_parse_qrcmd(f, (size_t)fl, buf2, (size_t)n) == n);
    CHECK(n == 0 || memcmp(buf, buf2, (size_t)n) == 0);
    free(buf2);
    free(f);
    /* The same text as console output is a valid O stop reply. */
    FORMAT_EXACT(f, fl, 2 * (size_t)n + 16, rsp_format_O(out, cap, buf, (size_t)n));
    rsp_stop s;
    CHECK(f && rsp_parse_stop(f, (size_t)fl, &s) == 0 && s.kind == 'O');
    CHECK(s.text_len == 2 * (size_t)n);
    free(f);
  }
  free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  size_t bufcap = data[0]; /* capacity of decode buffers */
  char *b = fuzz_dup(data + 1, size - 1);
  size_t len = size - 1;
  try_m(b, len);
  try_M(b, len, bufcap);
  try_X(b, len);
  try_p_P(b, len, bufcap);
  try_qrcmd(b, len, bufcap);
  free(b);
  return 0;
}
