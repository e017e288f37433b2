/* util.c - text buffers, command-line tokens, numbers, the page cache. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc_int.h"

void svc__sb_init(svc_sb *b) {
  memset(b, 0, sizeof(*b));
}

void svc__sb_free(svc_sb *b) {
  free(b->p);
  memset(b, 0, sizeof(*b));
}

char *svc__sb_room(svc_sb *b, size_t n) {
  if (b->oom)
    return NULL;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return NULL;
    }
    b->p = p;
    b->cap = cap;
  }
  return b->p + b->len;
}

void svc__sb_add(svc_sb *b, const char *s, size_t n) {
  if (!svc__sb_room(b, n))
    return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

void svc__sb_puts(svc_sb *b, const char *s) {
  svc__sb_add(b, s, strlen(s));
}

void svc__sb_vprintf(svc_sb *b, const char *fmt, va_list ap) {
  /* Formatted once into the room there is; a second time only when it
   * did not fit. */
  va_list ap2;
  va_copy(ap2, ap);
  size_t room = b->cap > b->len ? b->cap - b->len : 0;
  int n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap2);
  va_end(ap2);
  if (n < 0 || b->oom) {
    if (room)
      b->p[b->len] = 0;
    return;
  }
  if ((size_t)n >= room) {
    if (!svc__sb_room(b, (size_t)n))
      return;
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  }
  b->len += (size_t)n;
}

void svc__sb_printf(svc_sb *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  svc__sb_vprintf(b, fmt, ap);
  va_end(ap);
}

void svc__sb_json_str(svc_sb *b, const char *s, size_t n) {
  /* Runs of characters that need no escape are copied whole. */
  static const char hexd[] = "0123456789abcdef";
  svc__sb_add(b, "\"", 1);
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && (unsigned char)s[j] >= 0x20 && (unsigned char)s[j] < 0x7f && s[j] != '"' &&
           s[j] != '\\')
      j++;
    if (j > i)
      svc__sb_add(b, s + i, j - i);
    if (j == n)
      break;
    unsigned char c = (unsigned char)s[j];
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      svc__sb_add(b, e, 2);
    } else {
      char e[6] = {'\\', 'u', '0', '0', hexd[c >> 4], hexd[c & 15]};
      svc__sb_add(b, e, 6);
    }
    i = j + 1;
  }
  svc__sb_add(b, "\"", 1);
}

/* ------------------------------------------------------------------------ */

int svc__split(svc_args *a, const char *line, size_t len) {
  a->n = 0;
  if (len >= sizeof(a->buf))
    return -1;
  memcpy(a->buf, line, len);
  a->buf[len] = 0;
  char *p = a->buf;
  for (;;) {
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
      *p++ = 0;
    if (!*p)
      break;
    if (a->n == SVC_MAX_TOK)
      return -2;
    a->tok[a->n++] = p;
    while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
      p++;
  }
  return a->n;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int svc__parse_num(const char *s, uint64_t *v) {
  if (!s)
    return -1;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
    s += 2;
  uint64_t x = 0;
  int digits = 0;
  for (; *s; s++) {
    if ((*s == '`' || *s == '_') && digits)
      continue;
    int d = hexval((unsigned char)*s);
    if (d < 0)
      return -1;
    if (x >> 60)
      return -1;
    x = (x << 4) | (uint64_t)d;
    digits++;
  }
  if (!digits)
    return -1;
  *v = x;
  return 0;
}

int svc__parse_bytes(const char *s, uint8_t *buf, size_t cap) {
  size_t n = 0;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
    s += 2;
  size_t digits = 0;
  for (const char *q = s; *q; q++) {
    if (hexval((unsigned char)*q) >= 0)
      digits++;
    else if (*q != ' ' && *q != '`' && *q != '_' && *q != ':')
      return -1;
  }
  if (!digits || digits % 2)
    return -1;
  int hi = -1;
  for (; *s; s++) {
    int d = hexval((unsigned char)*s);
    if (d < 0)
      continue;
    if (hi < 0) {
      hi = d;
      continue;
    }
    if (n == cap)
      return -1;
    buf[n++] = (uint8_t)(hi << 4 | d);
    hi = -1;
  }
  return (int)n;
}

/* ------------------------------------------------------------------------
 * The cache: a chained hash table plus an LRU list through the same nodes. */

static size_t hash(uint64_t as, uint64_t addr, size_t nb) {
  uint64_t h = (addr / SVC_CPAGE) * 0x9e3779b97f4a7c15ull ^ as * 0xc2b2ae3d27d4eb4full;
  h ^= h >> 29;
  return (size_t)(h % nb);
}

int svc__cache_init(svc_cache *c, size_t bytes) {
  memset(c, 0, sizeof(*c));
  c->lru.next = c->lru.prev = &c->lru;
  c->max = bytes / SVC_CPAGE;
  c->nbucket = c->max < 64 ? 64 : c->max;
  c->bucket = calloc(c->nbucket, sizeof(*c->bucket));
  return c->bucket ? 0 : -1;
}

static void unlink_lru(svc_cpage *p) {
  p->prev->next = p->next;
  p->next->prev = p->prev;
}

static void push_front(svc_cache *c, svc_cpage *p) {
  p->next = c->lru.next;
  p->prev = &c->lru;
  c->lru.next->prev = p;
  c->lru.next = p;
}

static void remove_node(svc_cache *c, svc_cpage *p) {
  svc_cpage **pp = &c->bucket[hash(p->as, p->addr, c->nbucket)];
  while (*pp && *pp != p)
    pp = &(*pp)->hnext;
  if (*pp)
    *pp = p->hnext;
  unlink_lru(p);
  c->n--;
}

void svc__cache_flush_except(svc_cache *c, uint64_t as, uint64_t lo, uint64_t hi) {
  svc_cpage *p = c->lru.next;
  while (p != &c->lru) {
    svc_cpage *next = p->next;
    if (!(p->as == as && p->addr + SVC_CPAGE > lo && p->addr < hi)) {
      remove_node(c, p);
      free(p);
    }
    p = next;
  }
}

void svc__cache_flush(svc_cache *c) {
  if (c->n)
    c->flushes++;
  svc__cache_flush_except(c, ~0ull, 0, 0);
}

void svc__cache_free(svc_cache *c) {
  if (c->bucket)
    svc__cache_flush(c);
  free(c->bucket);
  c->bucket = NULL;
}

static svc_cpage *find(svc_cache *c, uint64_t as, uint64_t addr) {
  if (!c->bucket)
    return NULL;
  for (svc_cpage *p = c->bucket[hash(as, addr, c->nbucket)]; p; p = p->hnext)
    if (p->as == as && p->addr == addr)
      return p;
  return NULL;
}

int svc__cache_peek(const svc_cache *c, uint64_t as, uint64_t addr) {
  return find((svc_cache *)c, as, addr) != NULL;
}

const uint8_t *svc__cache_get(svc_cache *c, uint64_t as, uint64_t addr) {
  svc_cpage *p = find(c, as, addr);
  if (!p) {
    c->misses++;
    return NULL;
  }
  c->hits++;
  unlink_lru(p);
  push_front(c, p);
  return p->data;
}

void svc__cache_put(svc_cache *c, uint64_t as, uint64_t addr, const uint8_t *data) {
  if (!c->max || !c->bucket)
    return;
  svc_cpage *p = find(c, as, addr);
  if (p) {
    memcpy(p->data, data, SVC_CPAGE);
    unlink_lru(p);
    push_front(c, p);
    return;
  }
  if (c->n >= c->max) {
    p = c->lru.prev;
    remove_node(c, p);
    c->evictions++;
  } else {
    p = malloc(sizeof(*p));
    if (!p)
      return;
  }
  p->as = as;
  p->addr = addr;
  memcpy(p->data, data, SVC_CPAGE);
  size_t h = hash(as, addr, c->nbucket);
  p->hnext = c->bucket[h];
  c->bucket[h] = p;
  push_front(c, p);
  c->n++;
  c->inserts++;
}

void svc__cache_update(svc_cache *c, uint64_t as, uint64_t addr, const uint8_t *data, size_t len) {
  while (len) {
    uint64_t unit = addr & ~(uint64_t)(SVC_CPAGE - 1);
    size_t off = (size_t)(addr - unit);
    size_t n = SVC_CPAGE - off;
    if (n > len)
      n = len;
    svc_cpage *p = find(c, as, unit);
    if (p)
      memcpy(p->data + off, data, n);
    addr += n;
    data += n;
    len -= n;
  }
}
