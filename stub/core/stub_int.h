/* stub_int.h - helpers shared by the core's files (not public). */
#ifndef STUB_INT_H
#define STUB_INT_H

#include "stub.h"

/* The core carries its own string helpers so that bare-metal ports need no
 * libc beyond memcpy/memset. */
static inline int stub__streq(const char *a, const char *b) {
  while (*a && *a == *b)
    a++, b++;
  return *a == *b;
}

static inline size_t stub__strlen(const char *s) {
  size_t n = 0;
  while (s[n])
    n++;
  return n;
}

#endif /* STUB_INT_H */
