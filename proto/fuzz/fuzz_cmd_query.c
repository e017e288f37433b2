/* fuzz_cmd_query.c - query commands: qSupported feature lists, qXfer
 * requests and replies, vCont action lists.
 *
 * Invariants: iterators terminate and every item they return lies inside
 * the input; whatever parses formats back (exact buffers) to the same
 * values.
 */
#include <stddef.h>
#include <stdint.h>

#include "rsp.h"
#include "fuzz_util.h"

static int inside(const char *p, size_t n, const char *b, size_t len) {
  return n == 0 || (p >= b && p + n <= b + len);
}

static void try_features(const char *b, size_t len) {
  rsp_feature_iter it;
  rsp_feature f;
  int rc;
  size_t items = 0;
  rsp_features_begin(&it, b, len);
  while ((rc = rsp_features_next(&it, &f)) != 0) {
    CHECK(++items <= len + 1);
    if (rc < 0) {
      CHECK(rc == RSP_ESYNTAX);
      continue; /* malformed items are skipped by the caller */
    }
    CHECK(rc == 1 && f.name_len > 0 && inside(f.name, f.name_len, b, len));
    CHECK(f.kind == '+' || f.kind == '-' || f.kind == '?' || f.kind == '=');
    if (f.kind == '=')
      CHECK(inside(f.value, f.value_len, b, len));
    /* Finding the first item by its own name returns a feature. */
    if (items == 1 && !memchr(f.name, 0, f.name_len)) {
      char *name = malloc(f.name_len + 1);
      CHECK(name);
      memcpy(name, f.name, f.name_len);
      name[f.name_len] = 0;
      rsp_feature g;
      CHECK(rsp_features_find(b, len, name, &g) == 1 && g.name_len == f.name_len);
      free(name);
    }
  }
}

static void try_qxfer(const char *b, size_t len) {
  rsp_qxfer x, y;
  if (rsp_parse_qxfer_read(b, len, &x) == 0) {
    CHECK(inside(x.object, x.object_len, b, len) && inside(x.annex, x.annex_len, b, len));
    CHECK(x.object_len > 0 && !memchr(x.object, ':', x.object_len));
    if (!memchr(x.object, 0, x.object_len) && !memchr(x.annex, 0, x.annex_len)) {
      char *obj = malloc(x.object_len + 1), *annex = malloc(x.annex_len + 1);
      CHECK(obj && annex);
      memcpy(obj, x.object, x.object_len);
      obj[x.object_len] = 0;
      memcpy(annex, x.annex, x.annex_len);
      annex[x.annex_len] = 0;
      char *f;
      int fl;
      FORMAT_EXACT(f, fl, len + 64,
                   rsp_format_qxfer_read(out, cap, obj, annex, x.offset, x.length));
      if (memchr(x.annex, ':', x.annex_len)) {
        CHECK(!f && fl == RSP_EINVAL); /* cannot be written unambiguously */
      } else {
        CHECK(f && rsp_parse_qxfer_read(f, (size_t)fl, &y) == 0);
        CHECK(y.object_len == x.object_len && memcmp(y.object, obj, x.object_len) == 0);
        CHECK(y.annex_len == x.annex_len && memcmp(y.annex, annex, x.annex_len) == 0);
        CHECK(y.offset == x.offset && y.length == x.length);
        free(f);
      }
      free(obj);
      free(annex);
    }
  }
  int more, more2;
  const char *d, *d2;
  size_t dl, dl2;
  if (rsp_parse_qxfer_reply(b, len, &more, &d, &dl) == 0) {
    CHECK(inside(d, dl, b, len) && dl + 1 == len);
    char *f;
    int fl;
    FORMAT_EXACT(f, fl, len + 8, rsp_format_qxfer_reply(out, cap, more, d, dl));
    CHECK(f && (size_t)fl == len && memcmp(f, b, len) == 0);
    CHECK(rsp_parse_qxfer_reply(f, (size_t)fl, &more2, &d2, &dl2) == 0 && more2 == more);
    free(f);
  }
}

static void try_vcont(const char *b, size_t len) {
  rsp_vcont_iter it;
  rsp_vcont_action a;
  int rc;
  size_t n = 0;
  if (rsp_vcont_begin(&it, b, len) != 0)
    return;
  while ((rc = rsp_vcont_next(&it, &a)) == 1) {
    CHECK(++n <= len);
    CHECK(a.action == 'c' || a.action == 'C' || a.action == 's' || a.action == 'S' ||
          a.action == 't' || a.action == 'r');
    if (a.has_tid) {
      char *f;
      int fl;
      FORMAT_EXACT(f, fl, 64, rsp_format_tid(out, cap, a.tid, a.tid.pid != 0));
      const char *p = f;
      rsp_tid t;
      CHECK(f && rsp_parse_tid(&p, f + fl, &t) == 0 && p == f + fl);
      CHECK(t.tid == a.tid.tid && (a.tid.pid == 0 || t.pid == a.tid.pid));
      free(f);
    }
  }
  CHECK(rc == 0 || rc == RSP_ESYNTAX);
  CHECK(rsp_vcont_next(&it, &a) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *b = fuzz_dup(data, size);
  try_features(b, size);
  try_qxfer(b, size);
  try_vcont(b, size);
  free(b);
  return 0;
}
