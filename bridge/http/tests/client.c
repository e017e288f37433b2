/* client.c - see client.h. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "client.h"

int cl_connect(cl_conn *c, int port) {
  return cl_connect_rcvbuf(c, port, 0);
}

int cl_connect_rcvbuf(cl_conn *c, int port, int rcvbuf) {
  memset(c, 0, sizeof(*c));
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  if (c->fd < 0)
    return -1;
  if (rcvbuf)
    setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  /* A hang guard only: a test that waits this long has failed anyway. */
  struct timeval tv = {30, 0};
  setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
    close(c->fd);
    c->fd = -1;
    return -1;
  }
  return 0;
}

int cl_send(cl_conn *c, const char *data, size_t len) {
  while (len) {
    ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
    if (n <= 0)
      return -1;
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

int cl_sendf(cl_conn *c, const char *fmt, ...) {
  char buf[16384];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof(buf))
    return -1;
  return cl_send(c, buf, (size_t)n);
}

static cl_conn *of(http_parser *p) {
  return p->data;
}

static int on_status(http_parser *p, const char *at, size_t len) {
  (void)at;
  (void)len;
  of(p)->cur->status = p->status_code;
  return 0;
}

/* Header names and values may arrive in pieces (split reads). */
static int on_field(http_parser *p, const char *at, size_t len) {
  cl_conn *c = of(p);
  if (c->in_value) {
    c->in_value = 0;
    c->fname_len = 0;
  }
  if (c->fname_len + len < sizeof(c->fname)) {
    memcpy(c->fname + c->fname_len, at, len);
    c->fname_len += len;
  } else {
    c->fname_len = sizeof(c->fname); /* too long to be one we keep */
  }
  return 0;
}

static int on_value(http_parser *p, const char *at, size_t len) {
  cl_conn *c = of(p);
  if (!c->in_value) {
    c->in_value = 1;
    c->hdr = c->fname_len == 12 && !strncasecmp(c->fname, "content-type", 12) ? 1
             : c->fname_len == 10 && !strncasecmp(c->fname, "connection", 10) ? 2
                                                                              : 0;
    if (c->hdr == 1)
      c->cur->ctype[0] = 0;
    if (c->hdr == 2)
      c->cur->connection[0] = 0;
  }
  char *dst = c->hdr == 1 ? c->cur->ctype : c->hdr == 2 ? c->cur->connection : NULL;
  if (dst) {
    size_t have = strlen(dst);
    snprintf(dst + have, 32 - have, "%.*s", (int)len, at);
  }
  return 0;
}

static int on_body(http_parser *p, const char *at, size_t len) {
  cl_resp *r = of(p)->cur;
  char *b = realloc(r->body, r->len + len + 1);
  if (!b)
    return -1;
  memcpy(b + r->len, at, len);
  r->body = b;
  r->len += len;
  b[r->len] = 0;
  return 0;
}

static int on_done(http_parser *p) {
  of(p)->done = 1;
  http_parser_pause(p, 1);
  return 0;
}

static const http_parser_settings settings = {
    .on_status = on_status,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_body = on_body,
    .on_message_complete = on_done,
};

int cl_read(cl_conn *c, cl_resp *r) {
  memset(r, 0, sizeof(*r));
  r->body = calloc(1, 1);
  http_parser_init(&c->p, HTTP_RESPONSE);
  c->p.data = c;
  c->cur = r;
  c->done = 0;
  c->in_value = 0;
  c->fname_len = 0;
  for (;;) {
    if (c->off < c->have) {
      size_t n = http_parser_execute(&c->p, &settings, c->buf + c->off, c->have - c->off);
      enum http_errno e = HTTP_PARSER_ERRNO(&c->p);
      if (e == HPE_PAUSED) {
        http_parser_pause(&c->p, 0);
      } else if (e != HPE_OK) {
        r->status = 0;
        return -1;
      }
      c->off += n;
      if (c->done) {
        /* An interim 100 Continue is not the answer. */
        if (r->status == 100) {
          free(r->body);
          return cl_read(c, r);
        }
        return 0;
      }
      if (c->off < c->have)
        continue;
    }
    c->off = c->have = 0;
    ssize_t n = recv(c->fd, c->buf, sizeof(c->buf), 0);
    if (n <= 0) {
      r->status = 0;
      return -1;
    }
    c->have = (size_t)n;
  }
}

int cl_closed(cl_conn *c) {
  if (c->off < c->have)
    return 0;
  char b;
  ssize_t n = recv(c->fd, &b, 1, 0);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

void cl_close(cl_conn *c) {
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
}

void cl_resp_free(cl_resp *r) {
  free(r->body);
  r->body = NULL;
}

int cl_get(int port, const char *method, const char *path, const char *body, size_t blen,
           cl_resp *r) {
  cl_conn *c = malloc(sizeof(*c));
  memset(r, 0, sizeof(*r));
  if (!c || cl_connect(c, port)) {
    free(c);
    return 0;
  }
  int rc = cl_sendf(c, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %zu\r\n\r\n", method,
                    path, blen);
  if (!rc && blen)
    rc = cl_send(c, body, blen);
  if (!rc)
    rc = cl_read(c, r);
  cl_close(c);
  free(c);
  return rc ? 0 : r->status;
}
