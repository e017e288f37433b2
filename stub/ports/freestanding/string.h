/* string.h - the declarations the freestanding libraries (proto/, arch/,
 * the stub core) need, for bare-metal builds that have no libc headers.
 * Put this directory on the include path only for such builds; the
 * definitions are in port_libc.c. */
#ifndef STUB_FREESTANDING_STRING_H
#define STUB_FREESTANDING_STRING_H

#include <stddef.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void *memchr(const void *s, int c, size_t n);
size_t strlen(const char *s);
char *strchr(const char *s, int c);

#endif
