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

/* Appends one decoded byte, or drops the packet if the buffer is full. */
static int put(rsp_parser *p, const rsp_parser_settings *s, uint8_t c) {
  if (p->bad)
    return 0;
  if (p->len >= p->cap)
    return drop(p, s, RSP_EOVERFLOW);
  p->body[p->len++] = (char)c;
  return 0;
}

/* Sum of n bytes modulo 256.  Written as a plain reduction so the compiler
 * can vectorise it. */
static uint8_t sum_bytes(const uint8_t *d, size_t n) {
  unsigned acc = 0;
  for (size_t i = 0; i < n; i++)
    acc += d[i];
  return (uint8_t)acc;
}

/* Length of the run of ordinary body bytes at d (none of "#$}*").  Blocks
 * of 16 bytes are tested with a branch-free OR so the loop vectorises; the
 * block holding the special byte is finished byte by byte. */
static size_t ordinary_run(const uint8_t *d, size_t n) {
  size_t i = 0;
  while (n - i >= 16) {
    unsigned hit = 0;
    for (size_t j = 0; j < 16; j++) {
      uint8_t c = d[i + j];
      hit |=
          (unsigned)(c == '#') | (unsigned)(c == '$') | (unsigned)(c == '}') | (unsigned)(c == '*');
    }
    if (hit)
      break;
    i += 16;
  }
  while (i < n && !special[d[i]])
    i++;
  return i;
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

  p->err = 0;
  while (i < len) {
    uint8_t c = d[i];

    /* '$' restarts framing in every state (GDB manual, "Overview": the
     * receiver resynchronises on the next start character).  Inside a
     * packet '%' is data: GDB does not escape it in binary X packets. */
    if (c == '$' && p->state != S_IDLE) {
      rc = p->bad ? 0 : (p->err = RSP_ETRUNCATED, s->on_error ? s->on_error(p) : 0);
      start_packet(p, 0);
      i++;
      if (rc)
        break;
      continue;
    }

    switch (p->state) {
    case S_IDLE:
      i++;
      if (c == '$' || c == '%') {
        start_packet(p, c == '%');
      } else if (c == '+') {
        rc = s->on_ack ? s->on_ack(p) : 0;
      } else if (c == '-') {
        rc = s->on_nak ? s->on_nak(p) : 0;
      } else if (c == 0x03) {
        rc = s->on_interrupt ? s->on_interrupt(p) : 0;
      }
      /* Anything else between packets is line noise and ignored. */
      break;

    case S_BODY: {
      size_t n = ordinary_run(d + i, len - i);
      if (n) {
        p->sum = (uint8_t)(p->sum + sum_bytes(d + i, n));
        if (!p->bad) {
          size_t room = p->cap - p->len;
          if (n <= room) {
            memcpy(p->body + p->len, d + i, n);
            p->len += n;
          } else {
            memcpy(p->body + p->len, d + i, room);
            p->len += room;
            rc = drop(p, s, RSP_EOVERFLOW);
          }
        }
        i += n;
        break;
      }
      /* c is '#', '}' or '*' ('$' was handled above). */
      i++;
      if (c == '#') {
        p->state = S_CK1;
      } else {
        p->sum = (uint8_t)(p->sum + c);
        if (c == '}') {
          p->state = S_ESC;
        } else {
          /* '*' with no previous byte to repeat is an error. */
          if (p->len == 0)
            rc = drop(p, s, RSP_EBADRLE);
          p->state = S_RLE;
        }
      }
      break;
    }

    case S_ESC:
      i++;
      if (c == '#') {
        /* "}#": the escape has no byte to apply to. */
        rc = drop(p, s, RSP_EBADESCAPE);
        p->state = S_CK1;
        break;
      }
      p->sum = (uint8_t)(p->sum + c);
      rc = put(p, s, c ^ 0x20);
      p->state = S_BODY;
      break;

    case S_RLE:
      i++;
      if (c == '#') {
        rc = drop(p, s, RSP_EBADRLE);
        p->state = S_CK1;
        break;
      }
      p->sum = (uint8_t)(p->sum + c);
      p->state = S_BODY;
      /* Count characters are printable: ' ' (3 repeats) to '~' (97).  The
       * manual's encoders never send fewer than 3 repeats. */
      if (c < ' ' || c > '~') {
        rc = drop(p, s, RSP_EBADRLE);
        break;
      }
      if (p->bad)
        break;
      {
        size_t n = (size_t)c - 29;
        uint8_t prev = (uint8_t)p->body[p->len - 1];
        size_t room = p->cap - p->len;
        if (n > room) {
          memset(p->body + p->len, prev, room);
          p->len += room;
          rc = drop(p, s, RSP_EOVERFLOW);
        } else {
          memset(p->body + p->len, prev, n);
          p->len += n;
        }
      }
      break;

    case S_CK1:
      i++;
      {
        /* Upper and lower case digits are both accepted.  A non-hex
         * digit can never match, but the second character is still
         * consumed so that the frame ends where the sender thinks. */
        int hi = rsp_hex_digit(c);
        p->want = (uint8_t)(hi < 0 ? 0 : hi << 4);
        p->state = hi < 0 ? S_CK2_BAD : S_CK2;
      }
      break;

    default: { /* S_CK2, S_CK2_BAD */
      int lo = rsp_hex_digit(c);
      int good = p->state == S_CK2 && lo >= 0 && (uint8_t)(p->want | lo) == p->sum;
      i++;
      rc = finish(p, s, good);
      break;
    }
    }
    if (rc)
      break;
  }
  if (rc)
    p->err = RSP_ECALLBACK;
  return i;
}
