/* fuzz_util.h - helpers shared by the proto fuzz targets. */
#ifndef PROTO_FUZZ_UTIL_H
#define PROTO_FUZZ_UTIL_H

#include <stdlib.h>
#include <string.h>

#define CHECK(x) \
  do {           \
    if (!(x))    \
      abort();   \
  } while (0)

/* Runs a formatter `call` (which uses the names out and cap) three times:
 * with a roomy buffer to learn the size, with an exact-size heap buffer
 * (the result, left in res/res_len; free(res) afterwards), and with one
 * byte less, which must fail with RSP_ENOBUFS without writing past it.
 * A formatter may refuse its arguments (negative rc other than NOBUFS);
 * then res is NULL and res_len is the error. */
#define FORMAT_EXACT(res, res_len, roomy, call) \
  do {                                          \
    size_t cap = (roomy);                       \
    char *out = malloc(cap);                    \
    CHECK(out);                                 \
    int n_ = (call);                            \
    free(out);                                  \
    CHECK(n_ != RSP_ENOBUFS);                   \
    if (n_ < 0) {                               \
      (res) = NULL;                             \
      (res_len) = n_;                           \
      break;                                    \
    }                                           \
    if (n_ > 0) {                               \
      cap = (size_t)n_ - 1;                     \
      out = malloc(cap ? cap : 1);              \
      CHECK(out);                               \
      CHECK((call) == RSP_ENOBUFS);             \
      free(out);                                \
    }                                           \
    cap = (size_t)n_;                           \
    out = malloc(cap ? cap : 1);                \
    CHECK(out);                                 \
    CHECK((call) == n_);                        \
    (res) = out;                                \
    (res_len) = n_;                             \
  } while (0)

/* A heap copy of exactly n bytes, so ASan catches reads past the end. */
static inline char *fuzz_dup(const uint8_t *d, size_t n) {
  char *p = malloc(n ? n : 1);
  CHECK(p);
  if (n)
    memcpy(p, d, n);
  return p;
}

#endif
