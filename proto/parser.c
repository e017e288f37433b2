/* parser.c - the push parser for RSP frames (see rsp.h for the contract).
 *
 * GDB manual, "Overview": a packet is '$' body '#' two hex checksum digits,
 * the checksum being the sum of the raw body bytes modulo 256.  "Binary
 * Data": '}' escapes the next byte (which is XORed with 0x20) and '*'
 * followed by a count character repeats the previous byte (count - 29)
 * times.  "Notification Packets": '%' instead of '$'.
 */
#include "rsp.h"

#include <string.h>

enum {
  S_IDLE = 0, /* between packets */
  S_BODY,     /* inside a body */
  S_ESC,      /* after '}' */
  S_RLE,      /* after '*', waiting for the count character */
  S_CK1,      /* after '#', waiting for the first checksum digit */
  S_CK2,      /* waiting for the second checksum digit */
  S_CK2_BAD   /* the same, the first digit was not hex */
};

/* Bytes that end the fast path inside a body.  A 256-entry table lets the
 * hot loop test a byte with one load. */
static const uint8_t special[256] = {['#'] = 1, ['$'] = 1, ['}'] = 1, ['*'] = 1};

void rsp_parser_init(rsp_parser *p, char *body, size_t cap) {
  memset(p, 0, sizeof(*p));
  p->body = body;
  p->cap = cap;
}

void rsp_parser_reset(rsp_parser *p) {
  p->len = 0;
  p->state = S_IDLE;
  p->sum = 0;
  p->want = 0;
  p->notify = 0;
  p->overflow = 0;
  p->bad = 0;
}

static void start_packet(rsp_parser *p, int notify) {
  p->state = S_BODY;
  p->len = 0;
  p->sum = 0;
  p->want = 0;
  p->notify = (uint8_t)notify;
  p->overflow = 0;
  p->bad = 0;
}

/* Marks the current packet as dropped and reports why, once.  The rest of
 * the packet is then skipped up to its '#xx'.  Returns the callback's
 * verdict. */
static int drop(rsp_parser *p, const rsp_parser_settings *s, int err) {
  if (p->bad)
    return 0;
  p->bad = 1;
  p->err = err;
  if (err == RSP_EOVERFLOW)
    p->overflow = 1;
  return s->on_error ? s->on_error(p) : 0;
}

/* RSP_NO_SIMD selects the portable word loop below even where SSE2 exists,
 * so that the tests cover it. */
#if defined(__SSE2__) && !defined(RSP_NO_SIMD)
#include <emmintrin.h>
#define HAVE_SSE2       1
#define HAVE_BLOCK_COPY 1

/* The hot loop: copies the run of ordinary body bytes at d to out while
 * adding them to *sum, 16 or 32 bytes per step, and stops at the first
 * special byte.  It also stops, leaving the rest to the byte loop, when
 * fewer than 16 bytes of input or of body buffer remain, so it never reads
 * past n nor writes past room.  Returns the bytes copied. */
static size_t block_copy(const uint8_t *d, size_t n, char *out, size_t room, uint8_t *sum) {
  const __m128i hash = _mm_set1_epi8('#'), dollar = _mm_set1_epi8('$');
  const __m128i brace = _mm_set1_epi8('}'), star = _mm_set1_epi8('*');
  const __m128i zero = _mm_setzero_si128();
  __m128i acc = zero;
  size_t lim = n < room ? n : room;
  size_t i = 0;
  /* Two blocks per iteration while there is room: one test for both. */
  while (lim - i >= 32) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(d + i));
    __m128i w = _mm_loadu_si128((const __m128i *)(const void *)(d + i + 16));
    __m128i hv = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, hash), _mm_cmpeq_epi8(v, dollar)),
                              _mm_or_si128(_mm_cmpeq_epi8(v, brace), _mm_cmpeq_epi8(v, star)));
    __m128i hw = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(w, hash), _mm_cmpeq_epi8(w, dollar)),
                              _mm_or_si128(_mm_cmpeq_epi8(w, brace), _mm_cmpeq_epi8(w, star)));
    if (_mm_movemask_epi8(_mm_or_si128(hv, hw)))
      break;
    _mm_storeu_si128((__m128i *)(void *)(out + i), v);
    _mm_storeu_si128((__m128i *)(void *)(out + i + 16), w);
    /* psadbw against zero sums each 8-byte half into a 64-bit lane. */
    acc = _mm_add_epi64(acc, _mm_add_epi64(_mm_sad_epu8(v, zero), _mm_sad_epu8(w, zero)));
    i += 32;
  }
  while (lim - i >= 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(d + i));
    __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, hash), _mm_cmpeq_epi8(v, dollar)),
                               _mm_or_si128(_mm_cmpeq_epi8(v, brace), _mm_cmpeq_epi8(v, star)));
    unsigned m = (unsigned)_mm_movemask_epi8(hit);
    /* The whole block is stored even when only a prefix is body: the bytes
     * past the prefix land inside the buffer (room >= 16) beyond len, and
     * are overwritten by what follows. */
    _mm_storeu_si128((__m128i *)(void *)(out + i), v);
    if (m) {
      int k = __builtin_ctz(m);
      const __m128i idx = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
      __m128i keep = _mm_cmpgt_epi8(_mm_set1_epi8((char)k), idx);
      acc = _mm_add_epi64(acc, _mm_sad_epu8(_mm_and_si128(v, keep), zero));
      i += (size_t)k;
      break;
    }
    acc = _mm_add_epi64(acc, _mm_sad_epu8(v, zero));
    i += 16;
  }
  acc = _mm_add_epi64(acc, _mm_srli_si128(acc, 8));
  *sum = (uint8_t)(*sum + (uint8_t)_mm_cvtsi128_si32(acc));
  return i;
}
#endif

#ifndef HAVE_BLOCK_COPY
#define HAVE_BLOCK_COPY 1

/* Portable version of the hot loop for targets without SSE2: the same
 * contract, eight bytes at a time in a 64-bit word.  A word holds a special
 * byte if one of its bytes equals '#', '$', '}' or '*' (the classic
 * "has zero byte" test on the word XORed with each character); the checksum
 * adds the bytes in four 16-bit lanes, emptied every 64 words before they
 * can overflow. */
static uint64_t has_byte(uint64_t x, uint8_t c) {
  const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
  uint64_t t = x ^ (ones * c);
  return (t - ones) & ~t & highs;
}

static unsigned lane_sum(uint64_t acc) {
  return (unsigned)((acc & 0xffff) + ((acc >> 16) & 0xffff) + ((acc >> 32) & 0xffff) + (acc >> 48));
}

static size_t block_copy(const uint8_t *d, size_t n, char *out, size_t room, uint8_t *sum) {
  const uint64_t lanes = 0x00ff00ff00ff00ffu;
  uint64_t acc = 0; /* four 16-bit lanes, each below 64 * 510 */
  unsigned total = *sum, words = 0;
  size_t lim = n < room ? n : room;
  size_t i = 0;
  for (; lim - i >= 8; i += 8) {
    uint64_t x;
    memcpy(&x, d + i, 8);
    if (has_byte(x, '#') | has_byte(x, '$') | has_byte(x, '}') | has_byte(x, '*')) {
      /* Finish the ordinary prefix of this word byte by byte. */
      for (; !special[d[i]]; i++) {
        out[i] = (char)d[i];
        total += d[i];
      }
      break;
    }
    memcpy(out + i, &x, 8);
    acc += (x & lanes) + ((x >> 8) & lanes);
    if (++words == 64) {
      total += lane_sum(acc);
      acc = 0;
      words = 0;
    }
  }
  *sum = (uint8_t)(total + lane_sum(acc));
  return i;
}
#endif

/* Writes n copies of c at out (n <= room).  Runs are at most 97 bytes, too
 * short for "rep stos" to pay off: with SSE2, whole 16-byte stores while
 * the buffer has room for them (bytes past n are scratch beyond len). */
static void fill(char *out, uint8_t c, size_t n, size_t room) {
#ifdef HAVE_SSE2
  if (room >= ((n + 15) & ~(size_t)15)) {
    const __m128i v = _mm_set1_epi8((char)c);
    for (size_t i = 0; i < n; i += 16)
      _mm_storeu_si128((__m128i *)(void *)(out + i), v);
    return;
  }
#else
  (void)room;
#endif
  memset(out, c, n);
}

static int noverify(const rsp_parser *p) {
  return (p->flags & RSP_PARSER_NOVERIFY) != 0;
}

/* The packet ended with its second checksum digit: deliver it. */
static int finish(rsp_parser *p, const rsp_parser_settings *s, int good) {
  p->state = S_IDLE;
  if (p->bad)
    return 0; /* already reported */
  if (!good && !noverify(p)) {
    p->err = RSP_ECHECKSUM;
    if (p->notify) /* never acknowledged, so not a nak either */
      return s->on_error ? s->on_error(p) : 0;
    return s->on_bad_checksum ? s->on_bad_checksum(p) : 0;
  }
  if (p->notify)
    return s->on_notification ? s->on_notification(p, p->body, p->len) : 0;
  return s->on_packet ? s->on_packet(p, p->body, p->len) : 0;
}

size_t rsp_parser_execute(rsp_parser *p, const rsp_parser_settings *s, const char *data,
                          size_t len) {
  const uint8_t *d = (const uint8_t *)data;
  size_t i = 0;
  int rc = 0;
  /* The hot state lives in locals so the byte loop does not store it to
   * memory on every byte; it is written back before every callback (which
   * may inspect or reset the parser) and read again after it. */
  unsigned state = p->state;
  unsigned sum = p->sum;
  size_t blen = p->len;
#define SYNC() (p->state = state, p->sum = (uint8_t)sum, p->len = blen)
#define LOAD() (state = p->state, sum = p->sum, blen = p->len)

  p->err = 0;
  while (i < len) {
    uint8_t c = d[i];

    /* '$' restarts framing in every state (GDB manual, "Overview": the
     * receiver resynchronises on the next start character).  Inside a
     * packet '%' is data: GDB does not escape it in binary X packets. */
    if (c == '$' && state != S_IDLE) {
      i++;
      SYNC();
      rc = drop(p, s, RSP_ETRUNCATED); /* silent if already reported */
      start_packet(p, 0);
      LOAD();
      if (rc)
        break;
      continue;
    }

    switch (state) {
    case S_IDLE:
      i++;
      if (c == '$' || c == '%') {
        start_packet(p, c == '%');
        LOAD();
        break;
      }
      /* Anything but these three between packets is line noise. */
      if (c != '+' && c != '-' && c != 0x03)
        break;
      SYNC();
      if (c == '+')
        rc = s->on_ack ? s->on_ack(p) : 0;
      else if (c == '-')
        rc = s->on_nak ? s->on_nak(p) : 0;
      else
        rc = s->on_interrupt ? s->on_interrupt(p) : 0;
      LOAD();
      break;

    case S_BODY:
      if (!special[c]) {
        /* Two ordinary bytes in a row suggest a long run (hex data): take
         * the block path.  Short runs between RLE markers stay scalar. */
        if (!p->bad && len - i > 1 && !special[d[i + 1]]) {
          uint8_t s8 = (uint8_t)sum;
          size_t n = block_copy(d + i, len - i, p->body + blen, p->cap - blen, &s8);
          sum = s8;
          if (n) {
            blen += n;
            i += n;
            break; /* the next byte is looked at from the top */
          }
        }
        /* The byte loop: copy and sum up to the next special byte,
         * counting past the buffer's end only to detect an overflow. */
        size_t room = p->bad ? 0 : p->cap - blen;
        char *out = p->body + blen;
        size_t w = 0;
        for (; i < len && !special[d[i]]; i++, w++) {
          sum += d[i];
          if (w < room)
            out[w] = (char)d[i];
        }
        if (!p->bad) {
          if (w <= room) {
            blen += w;
          } else {
            blen += room;
            SYNC();
            rc = drop(p, s, RSP_EOVERFLOW);
            LOAD();
          }
        }
        break;
      }
      /* c is '#', '}' or '*' ('$' was handled above). */
      i++;
      if (c == '#') {
        state = S_CK1;
        break;
      }
      sum += c;
      if (c == '}') {
        state = S_ESC;
        break;
      }
      state = S_RLE;
      if (blen == 0) {
        /* '*' with no previous byte to repeat. */
        SYNC();
        rc = drop(p, s, RSP_EBADRLE);
        LOAD();
      }
      break;

    case S_ESC:
      i++;
      if (c == '#') {
        /* "}#": the escape has no byte to apply to. */
        state = S_CK1;
        SYNC();
        rc = drop(p, s, RSP_EBADESCAPE);
        LOAD();
        break;
      }
      sum += c;
      state = S_BODY;
      if (p->bad)
        break;
      if (blen < p->cap) {
        p->body[blen++] = (char)(c ^ 0x20);
      } else {
        SYNC();
        rc = drop(p, s, RSP_EOVERFLOW);
        LOAD();
      }
      break;

    case S_RLE:
      i++;
      if (c == '#') {
        state = S_CK1;
        SYNC();
        rc = drop(p, s, RSP_EBADRLE);
        LOAD();
        break;
      }
      sum += c;
      state = S_BODY;
      /* Count characters are printable: ' ' (3 repeats) to '~' (97).  The
       * manual's encoders never send fewer than 3 repeats. */
      if (c < ' ' || c > '~') {
        SYNC();
        rc = drop(p, s, RSP_EBADRLE);
        LOAD();
        break;
      }
      if (p->bad)
        break;
      {
        size_t n = (size_t)c - 29;
        uint8_t prev = (uint8_t)p->body[blen - 1];
        size_t room = p->cap - blen;
        if (n <= room) {
          fill(p->body + blen, prev, n, room);
          blen += n;
        } else {
          memset(p->body + blen, prev, room);
          blen += room;
          SYNC();
          rc = drop(p, s, RSP_EOVERFLOW);
          LOAD();
        }
      }
      break;

    case S_CK1: {
      /* Upper and lower case digits are both accepted.  A non-hex digit
       * can never match, but the second character is still consumed so
       * that the frame ends where the sender thinks. */
      int hi = rsp_hex_digit(c);
      i++;
      p->want = (uint8_t)(hi < 0 ? 0 : hi << 4);
      state = hi < 0 ? S_CK2_BAD : S_CK2;
      break;
    }

    default: { /* S_CK2, S_CK2_BAD */
      int lo = rsp_hex_digit(c);
      int good = state == S_CK2 && lo >= 0 && (uint8_t)(p->want | lo) == (uint8_t)sum;
      i++;
      state = S_IDLE;
      SYNC();
      rc = finish(p, s, good);
      LOAD();
      break;
    }
    }
    if (rc)
      break;
  }
  SYNC();
#undef SYNC
#undef LOAD
  if (rc)
    p->err = RSP_ECALLBACK;
  return i;
}
