/* encode.c - frame encoder, checksums, hex helpers and error names. */
#include "rsp.h"

#include <string.h>

const char *rsp_err_name(int err) {
  switch (err) {
  case 0:
    return "RSP_OK";
#define XX(name, n, desc) \
  case -(n):              \
    return "RSP_E" #name;
    RSP_ERRNO_MAP(XX)
#undef XX
  default:
    return "RSP_EUNKNOWN";
  }
}

const char *rsp_strerror(int err) {
  switch (err) {
  case 0:
    return "success";
#define XX(name, n, desc) \
  case -(n):              \
    return desc;
    RSP_ERRNO_MAP(XX)
#undef XX
  default:
    return "unknown error";
  }
}

uint8_t rsp_checksum(const void *raw, size_t len) {
  const uint8_t *d = raw;
  unsigned acc = 0;
  for (size_t i = 0; i < len; i++)
    acc += d[i];
  return (uint8_t)acc;
}

static const char hexdig[] = "0123456789abcdef";

static int needs_escape(uint8_t c) {
  return c == '$' || c == '#' || c == '}' || c == '*';
}

/* The count character for n extra repeats, after the gdbserver rule
 * (remote-utils.c, try_rle): counts are printable, at most 97 repeats, and
 * a count that would be '#' or '$' (6 or 7 repeats) is lowered, because
 * those characters frame packets.  Returns the repeats actually encoded,
 * 0 if the run is too short to be worth it (fewer than 3). */
static size_t rle_count(size_t n) {
  if (n > 97)
    n = 97;
  while (n + 29 == '#' || n + 29 == '$')
    n--;
  return n >= 3 ? n : 0;
}

int rsp_encode(char *out, size_t cap, const void *body, size_t len, unsigned flags) {
  const uint8_t *b = body;
  size_t o = 0;
  unsigned sum = 0;

  if (cap < 4 || (!out && cap) || (!body && len))
    return RSP_ENOBUFS;
  out[o++] = (flags & RSP_ENC_NOTIFY) ? '%' : '$';
  for (size_t i = 0; i < len;) {
    uint8_t c = b[i++];
    if (needs_escape(c)) {
      if (cap - o < 2 + 3)
        return RSP_ENOBUFS;
      out[o++] = '}';
      out[o++] = (char)(c ^ 0x20);
      sum += '}' + (c ^ 0x20);
      continue;
    }
    if (cap - o < 1 + 3)
      return RSP_ENOBUFS;
    out[o++] = (char)c;
    sum += c;
    if (flags & RSP_ENC_RLE) {
      size_t run = 0;
      while (i + run < len && b[i + run] == c && run < 97)
        run++;
      size_t n = rle_count(run);
      if (n) {
        if (cap - o < 2 + 3)
          return RSP_ENOBUFS;
        out[o++] = '*';
        out[o++] = (char)(n + 29);
        sum += '*' + (unsigned)(n + 29);
        i += n;
      }
    }
  }
  if (cap - o < 3 || o + 3 > (size_t)0x7fffffff)
    return RSP_ENOBUFS;
  out[o++] = '#';
  out[o++] = hexdig[(sum >> 4) & 0xf];
  out[o++] = hexdig[sum & 0xf];
  return (int)o;
}

int rsp_hex_digit(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int rsp_hex_encode(char *out, size_t cap, const void *in, size_t len) {
  const uint8_t *d = in;
  if (len > 0x3fffffff || cap < 2 * len)
    return RSP_ENOBUFS;
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = hexdig[d[i] >> 4];
    out[2 * i + 1] = hexdig[d[i] & 0xf];
  }
  return (int)(2 * len);
}

int rsp_hex_decode(void *out, size_t cap, const char *in, size_t len) {
  uint8_t *o = out;
  if (len % 2)
    return RSP_ESYNTAX;
  if (len > 0x7ffffffe || cap < len / 2)
    return RSP_ENOBUFS;
  for (size_t i = 0; i < len / 2; i++) {
    int hi = rsp_hex_digit((uint8_t)in[2 * i]);
    int lo = rsp_hex_digit((uint8_t)in[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return RSP_EBADHEX;
    o[i] = (uint8_t)(hi << 4 | lo);
  }
  return (int)(len / 2);
}

int rsp_parse_hex(const char **p, const char *end, uint64_t *v) {
  const char *s = *p;
  uint64_t x = 0;
  if (s >= end || rsp_hex_digit((uint8_t)*s) < 0)
    return RSP_ESYNTAX;
  for (; s < end; s++) {
    int d = rsp_hex_digit((uint8_t)*s);
    if (d < 0)
      break;
    if (x >> 60)
      return RSP_ERANGE;
    x = x << 4 | (uint64_t)d;
  }
  *v = x;
  *p = s;
  return 0;
}

int rsp_format_hex(char *out, size_t cap, uint64_t v) {
  int n = 1;
  for (uint64_t t = v >> 4; t; t >>= 4)
    n++;
  if (cap < (size_t)n)
    return RSP_ENOBUFS;
  for (int i = n - 1; i >= 0; i--, v >>= 4)
    out[i] = hexdig[v & 0xf];
  return n;
}
