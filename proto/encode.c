/* encode.c - frame encoder, checksums, hex helpers and error names. */
#include "rsp.h"

#include <string.h>

/* RSP_NO_SIMD builds the portable loops only (see parser.c). */
#if defined(__SSE2__) && !defined(RSP_NO_SIMD)
#include <emmintrin.h>
#define HAVE_SSE2 1
#endif

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
  size_t i = 0;
#ifdef HAVE_SSE2
  /* 16 bytes at a time: split into nibbles, interleave high and low, and
   * turn 0..15 into '0'..'9' 'a'..'f' (+'0', +39 more above 9). */
  const __m128i mask = _mm_set1_epi8(0x0f), nine = _mm_set1_epi8(9), zero = _mm_set1_epi8('0'),
                gap = _mm_set1_epi8('a' - '0' - 10);
  for (; len - i >= 16; i += 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(d + i));
    __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), mask);
    __m128i lo = _mm_and_si128(v, mask);
    __m128i a = _mm_unpacklo_epi8(hi, lo), b = _mm_unpackhi_epi8(hi, lo);
    a = _mm_add_epi8(_mm_add_epi8(a, zero), _mm_and_si128(_mm_cmpgt_epi8(a, nine), gap));
    b = _mm_add_epi8(_mm_add_epi8(b, zero), _mm_and_si128(_mm_cmpgt_epi8(b, nine), gap));
    _mm_storeu_si128((__m128i *)(out + 2 * i), a);
    _mm_storeu_si128((__m128i *)(out + 2 * i + 16), b);
  }
#endif
  for (; i < len; i++) {
    out[2 * i] = hexdig[d[i] >> 4];
    out[2 * i + 1] = hexdig[d[i] & 0xf];
  }
  return (int)(2 * len);
}

#ifdef HAVE_SSE2
/* 16 hex digits into 8 bytes; 0 if one of them is not a hex digit. */
static int hex16(uint8_t *o, const char *in) {
  __m128i v = _mm_loadu_si128((const __m128i *)in);
  /* Digits: v - '0' in 0..9.  Letters: (v | 0x20) - 'a' in 0..5, worth 10
   * more.  Bytes compare signed, so wrapped values fall out below 0. */
  __m128i d = _mm_sub_epi8(v, _mm_set1_epi8('0'));
  __m128i l = _mm_sub_epi8(_mm_or_si128(v, _mm_set1_epi8(0x20)), _mm_set1_epi8('a'));
  __m128i neg = _mm_set1_epi8(-1);
  __m128i isd = _mm_and_si128(_mm_cmpgt_epi8(d, neg), _mm_cmplt_epi8(d, _mm_set1_epi8(10)));
  __m128i isl = _mm_and_si128(_mm_cmpgt_epi8(l, neg), _mm_cmplt_epi8(l, _mm_set1_epi8(6)));
  if (_mm_movemask_epi8(_mm_or_si128(isd, isl)) != 0xffff)
    return 0;
  __m128i val =
      _mm_or_si128(_mm_and_si128(isd, d), _mm_and_si128(isl, _mm_add_epi8(l, _mm_set1_epi8(10))));
  /* Each 16-bit lane holds (high digit, low digit): make it one byte. */
  __m128i w = _mm_or_si128(_mm_slli_epi16(_mm_and_si128(val, _mm_set1_epi16(0x00ff)), 4),
                           _mm_srli_epi16(val, 8));
  _mm_storel_epi64((__m128i *)o, _mm_packus_epi16(w, w));
  return 1;
}
#endif

int rsp_hex_decode(void *out, size_t cap, const char *in, size_t len) {
  uint8_t *o = out;
  if (len % 2)
    return RSP_ESYNTAX;
  if (len > 0x7ffffffe || cap < len / 2)
    return RSP_ENOBUFS;
  size_t i = 0;
#ifdef HAVE_SSE2
  for (; len / 2 - i >= 8 && hex16(o + i, in + 2 * i); i += 8) {
  }
#endif
  for (; i < len / 2; i++) {
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
