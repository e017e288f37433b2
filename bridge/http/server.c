/* server.c - connections, http-parser, responses and the backend queue.
 *
 * One request per connection is answered at a time: when a message is
 * complete the parser is paused, reading stops, and the bytes after the
 * message (a pipelined request) wait in conn->rest until the response is
 * queued.  So responses leave in request order and a connection never holds
 * more than one read buffer of unparsed input.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_int.h"

#define READ_BUF 65536u

struct http_conn {
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;
  http_server *srv;
  http_conn *prev, *next;
  http_parser parser;
  http_req *cur;  /* being parsed */
  http_req *busy; /* parsed, being answered */
  char *rest;     /* bytes read, not parsed yet */
  size_t rest_len;
  size_t header_bytes, nhead;
  /* The Expect header, the only one read (curl sends Expect: 100-continue
   * before a large body and waits for the interim answer). */
  /* The headers read: Expect (curl sends Expect: 100-continue before a
   * large body and waits for the interim answer), Host and Origin (the
   * guards in api.c). */
  char hname[8], hval[16];
  size_t hname_len, hval_len;
  int in_value, which, expect_continue;
  int limit_status; /* why a callback stopped the parser (414, 431, 413) */
  int reading, eof, closing, close_after_write;
  unsigned writes; /* in flight */
  size_t wbytes;   /* their bytes */
  uint64_t last;   /* uv_now() of the last bytes read or answer sent */
  /* After an error answer to bad input: the write side is shut down and
   * what the client still sends is read and dropped until it closes (or
   * the idle sweep ends it), so that closing with unread input does not
   * reset the connection before the client has read the answer. */
  int linger;
  int in_feed; /* conn_feed runs */
  size_t dropped;
  uv_shutdown_t sd;
};

struct http_server {
  uv_loop_t *loop;
  http_config cfg;
  uv_tcp_t listener;
  uv_timer_t sweep; /* closes idle connections */
  int listening, port;
  http_conn conns; /* sentinel of the list of open connections */
  http_req *qhead, *qtail;
  size_t qlen;
  http_req *inflight;
  int pumping, closing, handles;
  void (*close_cb)(void *);
  void *close_arg;
  http_stats st;
  /* The last `arch --json` document seen (GET /v1/target when the target
   * cannot be asked); arch_len 0: none yet. */
  char arch_doc[1024];
  size_t arch_len;
};

typedef struct {
  uv_write_t w;
  http_conn *conn;
  size_t len;
  char data[];
} wreq;

static void conn_close(http_conn *c);
static void conn_resume(http_conn *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);
static void conn_feed(http_conn *c, const char *data, size_t len, char *own);
static void maybe_finish_close(http_server *s);

const http_config *http__cfg(const http_server *s) {
  return &s->cfg;
}

void http__arch_remember(http_server *s, const char *doc, size_t len) {
  if (len && len < sizeof(s->arch_doc)) {
    memcpy(s->arch_doc, doc, len);
    s->arch_len = len;
  }
}

const char *http__arch_doc(const http_server *s, size_t *len) {
  *len = s->arch_len;
  return s->arch_doc;
}

static void logf_(http_server *s, int level, const char *fmt, ...) {
  if (!s->cfg.log)
    return;
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  s->cfg.log(s->cfg.ctx, level, msg);
}

/* ------------------------------------------------------------------------
 * Requests. */

static http_req *req_new(http_conn *c) {
  http_req *r = calloc(1, sizeof(*r));
  if (!r)
    return NULL;
  r->srv = c->srv;
  r->conn = c;
  svc__sb_init(&r->url);
  svc__sb_init(&r->body);
  svc__sb_init(&r->op);
  svc__sb_init(&r->acc);
  return r;
}

static void req_free(http_req *r) {
  svc__sb_free(&r->url);
  svc__sb_free(&r->body);
  svc__sb_free(&r->op);
  svc__sb_free(&r->acc);
  free(r);
}

static void queue_remove(http_server *s, http_req *r) {
  http_req *prev = NULL;
  for (http_req *q = s->qhead; q; prev = q, q = q->qnext) {
    if (q != r)
      continue;
    if (prev)
      prev->qnext = q->qnext;
    else
      s->qhead = q->qnext;
    if (s->qtail == q)
      s->qtail = prev;
    s->qlen--;
    r->queued = 0;
    r->qnext = NULL;
    return;
  }
}

/* A request whose connection went away: freed now, or by its op's done
 * callback when the backend holds it. */
static void req_orphan(http_req *r) {
  r->conn = NULL;
  if (r->queued)
    queue_remove(r->srv, r);
  if (r->srv->inflight != r)
    req_free(r);
}

/* ------------------------------------------------------------------------
 * The backend queue. */

static void op_done(void *arg, int status, const char *out, size_t len);

static void pump(http_server *s) {
  if (s->pumping)
    return;
  s->pumping = 1;
  while (!s->inflight && s->qhead) {
    http_req *r = s->qhead;
    s->qhead = r->qnext;
    if (!s->qhead)
      s->qtail = NULL;
    s->qlen--;
    r->queued = 0;
    r->qnext = NULL;
    s->inflight = r;
    s->st.backend_ops++;
    const http_backend_ops *ops = s->cfg.ops;
    int rc;
    if (r->op_kind == HTTP_OP_COMMAND)
      rc = ops->command ? ops->command(s->cfg.ctx, r->op.p, r->op.len, op_done, r) : -1;
    else if (r->op_kind == HTTP_OP_REQUEST)
      rc = ops->request ? ops->request(s->cfg.ctx, r->op.p, r->op.len, op_done, r) : -1;
    else
      rc = ops->regs ? ops->regs(s->cfg.ctx, op_done, r) : -1;
    if (rc < 0) {
      s->inflight = NULL;
      r->step(r, HTTP_BK_LOST, "", 0);
    }
  }
  s->pumping = 0;
}

static void op_done(void *arg, int status, const char *out, size_t len) {
  http_req *r = arg;
  http_server *s = r->srv;
  s->inflight = NULL;
  if (!r->conn)
    req_free(r);
  else
    r->step(r, status, out ? out : "", out ? len : 0);
  if (s->closing)
    maybe_finish_close(s);
  else
    pump(s);
}

int http__op(http_req *r, int kind, const char *line, size_t len, http_step_fn step) {
  http_server *s = r->srv;
  if (!r->counted) {
    if (s->qlen >= s->cfg.max_queue) {
      s->st.queue_full++;
      http__error(r, 503, "busy: %zu requests are waiting for the target", s->qlen);
      return -1;
    }
    r->counted = 1;
  }
  r->op_kind = kind;
  r->op.len = 0;
  svc__sb_add(&r->op, line, len);
  if (r->op.oom) {
    http__error(r, 500, "out of memory");
    return -1;
  }
  r->step = step;
  r->qnext = NULL;
  r->queued = 1;
  if (s->qtail)
    s->qtail->qnext = r;
  else
    s->qhead = r;
  s->qtail = r;
  s->qlen++;
  pump(s);
  return 0;
}

/* ------------------------------------------------------------------------
 * Responses. */

static void on_shutdown(uv_shutdown_t *sd, int status) {
  http_conn *c = sd->data;
  if (status < 0)
    conn_close(c);
}

static void on_write(uv_write_t *w, int status) {
  wreq *wr = (wreq *)w;
  http_conn *c = wr->conn;
  int was_full = c->wbytes > HTTP_WRITE_HIGH;
  c->wbytes -= wr->len;
  free(wr);
  c->writes--;
  if (status < 0 || c->closing) {
    conn_close(c);
  } else if (c->close_after_write && !c->writes) {
    c->sd.data = c;
    if (!c->linger || uv_shutdown(&c->sd, &c->h.stream, on_shutdown) < 0)
      conn_close(c);
    else if (!c->reading && uv_read_start(&c->h.stream, on_alloc, on_read) == 0)
      c->reading = 1;
  } else if (was_full && c->wbytes <= HTTP_WRITE_HIGH) {
    conn_resume(c); /* the client reads again: take its next request */
  }
}

/* Continues with the next pipelined request, or reads again.  Inside
 * conn_feed (a request answered at once, from its dispatch) it does
 * nothing: conn_feed's own loop goes on, so a burst of pipelined requests
 * is a loop, not a recursion as deep as the burst. */
/* Whether the client's unread answers hold its next request back. */
static int write_full(http_conn *c) {
  if (c->wbytes <= HTTP_WRITE_HIGH)
    return 0;
  logf_(c->srv, 1, "http: %zu answer bytes wait to be written: next request held", c->wbytes);
  return 1;
}

static void conn_resume(http_conn *c) {
  if (c->in_feed || c->closing || c->close_after_write || write_full(c))
    return;
  char *data = c->rest;
  size_t n = c->rest_len;
  c->rest = NULL;
  c->rest_len = 0;
  conn_feed(c, data, n, data);
}

static void send_response(http_conn *c, int status, const char *ctype, const char *body, size_t len,
                          const char *extra, int keep_alive) {
  char head[512];
  int n = snprintf(head, sizeof(head),
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                   "Cache-Control: no-store\r\nConnection: %s\r\n%s\r\n",
                   status, http__reason(status), ctype, len, keep_alive ? "keep-alive" : "close",
                   extra ? extra : "");
  if (n < 0 || (size_t)n >= sizeof(head)) {
    conn_close(c);
    return;
  }
  wreq *wr = malloc(sizeof(*wr) + (size_t)n + len);
  if (!wr) {
    conn_close(c);
    return;
  }
  memcpy(wr->data, head, (size_t)n);
  if (len)
    memcpy(wr->data + n, body, len);
  wr->conn = c;
  wr->len = (size_t)n + len;
  uv_buf_t b = uv_buf_init(wr->data, (unsigned)((size_t)n + len));
  if (!keep_alive)
    c->close_after_write = 1;
  if (uv_write(&wr->w, &c->h.stream, &b, 1, on_write) < 0) {
    free(wr);
    conn_close(c);
    return;
  }
  c->writes++;
  c->wbytes += wr->len;
  if (c->wbytes > c->srv->st.max_wqueue)
    c->srv->st.max_wqueue = c->wbytes;
  c->srv->st.responses++;
  c->last = uv_now(c->srv->loop);
}

static void send_raw(http_conn *c, const char *text) {
  size_t n = strlen(text);
  wreq *wr = malloc(sizeof(*wr) + n);
  if (!wr)
    return;
  memcpy(wr->data, text, n);
  wr->conn = c;
  wr->len = n;
  uv_buf_t b = uv_buf_init(wr->data, (unsigned)n);
  if (uv_write(&wr->w, &c->h.stream, &b, 1, on_write) < 0) {
    free(wr);
    return;
  }
  c->writes++;
  c->wbytes += n;
}

void http__respond(http_req *r, int status, const char *ctype, const char *body, size_t len,
                   const char *extra) {
  http_conn *c = r->conn;
  if (!c) {
    /* Only reachable from a step of an orphaned request. */
    if (r->srv->inflight != r)
      req_free(r);
    return;
  }
  int keep = r->keep_alive && !c->srv->closing;
  if (c->busy == r)
    c->busy = NULL;
  r->conn = NULL;
  send_response(c, status, ctype, body, len, extra, keep); /* body may be r's */
  req_free(r);
  conn_resume(c);
}

void http__error(http_req *r, int status, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  svc_sb b;
  svc__sb_init(&b);
  svc__sb_puts(&b, "{\"error\":");
  svc__sb_json_str(&b, msg, strlen(msg));
  svc__sb_printf(&b, ",\"status\":%d}\n", status);
  const char *extra = status == 405 ? "Allow: GET, PUT, POST\r\n" : NULL;
  http__respond(r, status, "application/json", b.oom ? "" : b.p, b.oom ? 0 : b.len, extra);
  svc__sb_free(&b);
}

/* A response outside any request: malformed or oversized input.  The
 * connection closes after it. */
static void conn_fail(http_conn *c, int status, const char *msg) {
  svc_sb b;
  svc__sb_init(&b);
  svc__sb_puts(&b, "{\"error\":");
  svc__sb_json_str(&b, msg, strlen(msg));
  svc__sb_printf(&b, ",\"status\":%d}\n", status);
  c->srv->st.bad_requests++;
  if (c->cur) {
    req_free(c->cur);
    c->cur = NULL;
  }
  free(c->rest);
  c->rest = NULL;
  c->rest_len = 0;
  if (c->reading) {
    uv_read_stop(&c->h.stream);
    c->reading = 0;
  }
  c->linger = 1;
  send_response(c, status, "application/json", b.oom ? "" : b.p, b.oom ? 0 : b.len, NULL, 0);
  svc__sb_free(&b);
}

/* ------------------------------------------------------------------------
 * Parsing. */

static http_conn *conn_of(http_parser *p) {
  return p->data;
}

static int on_message_begin(http_parser *p) {
  http_conn *c = conn_of(p);
  c->header_bytes = 0;
  c->nhead = 0;
  c->in_value = 0;
  c->hname_len = 0;
  c->which = 0;
  c->expect_continue = 0;
  c->cur = req_new(c);
  return c->cur ? 0 : -1;
}

static int on_url(http_parser *p, const char *at, size_t len) {
  http_conn *c = conn_of(p);
  if (c->cur->url.len + len > HTTP_MAX_URL) {
    c->limit_status = 414;
    return -1;
  }
  svc__sb_add(&c->cur->url, at, len);
  return c->cur->url.oom ? -1 : 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len) {
  http_conn *c = conn_of(p);
  c->header_bytes += len;
  if (c->in_value) {
    c->in_value = 0;
    c->hname_len = 0;
  }
  if (c->hname_len + len <= sizeof(c->hname)) {
    memcpy(c->hname + c->hname_len, at, len);
    c->hname_len += len;
  } else {
    c->hname_len = sizeof(c->hname); /* too long to be one we read */
  }
  /* A field arrives in pieces; count fields by the value callback instead. */
  if (c->header_bytes > HTTP_MAX_HEADERS) {
    c->limit_status = 431;
    return -1;
  }
  return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len) {
  http_conn *c = conn_of(p);
  c->header_bytes += len;
  http_req *r = c->cur;
  if (!c->in_value) {
    c->in_value = 1;
    c->which = c->hname_len == 6 && !strncasecmp(c->hname, "expect", 6)   ? 1
               : c->hname_len == 4 && !strncasecmp(c->hname, "host", 4)   ? 2
               : c->hname_len == 6 && !strncasecmp(c->hname, "origin", 6) ? 3
                                                                          : 0;
    c->hval_len = 0;
    if (c->which == 2) {
      r->host_len = 0;
      r->has_host++;
    } else if (c->which == 3) {
      r->origin_len = 0;
      r->has_origin++;
    }
  }
  if (c->which == 1) {
    if (c->hval_len + len <= sizeof(c->hval)) {
      memcpy(c->hval + c->hval_len, at, len);
      c->hval_len += len;
    } else {
      c->which = 0;
    }
    c->expect_continue =
        c->which == 1 && c->hval_len == 12 && !strncasecmp(c->hval, "100-continue", 12);
  } else if (c->which == 2 || c->which == 3) {
    char *dst = c->which == 2 ? r->host : r->origin;
    size_t *n = c->which == 2 ? &r->host_len : &r->origin_len;
    if (*n + len < sizeof(r->host)) {
      memcpy(dst + *n, at, len);
      *n += len;
      dst[*n] = 0;
    } else {
      *n = sizeof(r->host); /* too long: refused by the guards */
    }
  }
  c->nhead++; /* upper bound: a value may also arrive in pieces */
  if (c->header_bytes > HTTP_MAX_HEADERS || c->nhead > 4 * HTTP_MAX_NHEAD) {
    c->limit_status = 431;
    return -1;
  }
  return 0;
}

static size_t max_body(const http_server *s) {
  return s->cfg.max_io + 4096;
}

static int on_headers_complete(http_parser *p) {
  http_conn *c = conn_of(p);
  c->cur->method = p->method;
  c->cur->keep_alive = http_should_keep_alive(p);
  if ((p->flags & F_CONTENTLENGTH) && p->content_length > max_body(c->srv)) {
    c->limit_status = 413;
    return -1;
  }
  if (c->expect_continue && (p->flags & F_CONTENTLENGTH) && p->content_length > 0)
    send_raw(c, "HTTP/1.1 100 Continue\r\n\r\n");
  return 0;
}

static int on_body(http_parser *p, const char *at, size_t len) {
  http_conn *c = conn_of(p);
  if (c->cur->body.len + len > max_body(c->srv)) {
    c->limit_status = 413;
    return -1;
  }
  svc__sb_add(&c->cur->body, at, len);
  return c->cur->body.oom ? -1 : 0;
}

static int on_message_complete(http_parser *p) {
  http_conn *c = conn_of(p);
  c->busy = c->cur;
  c->cur = NULL;
  http_parser_pause(p, 1);
  return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* Parses data; own, if not NULL, is a malloc'd buffer holding it, freed
 * here.  Ends reading again when every request is answered. */
static void conn_feed(http_conn *c, const char *data, size_t len, char *own) {
  c->in_feed = 1;
  while (len && !c->closing && !c->close_after_write) {
    size_t n = http_parser_execute(&c->parser, &settings, data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (e == HPE_PAUSED) {
      http_parser_pause(&c->parser, 0);
      if (n > len)
        n = len;
      data += n;
      len -= n;
      if (len) {
        c->rest = malloc(len);
        if (!c->rest) {
          conn_close(c);
          break;
        }
        memcpy(c->rest, data, len);
        c->rest_len = len;
      }
      if (c->reading) {
        uv_read_stop(&c->h.stream);
        c->reading = 0;
      }
      c->srv->st.requests++;
      http__dispatch(c->busy);
      if (c->busy || c->closing || c->close_after_write)
        break; /* answered later: http__respond resumes */
      if (write_full(c))
        break; /* the client does not read: on_write resumes */
      /* Answered at once: on with the rest. */
      free(own);
      own = c->rest;
      data = own;
      len = c->rest_len;
      c->rest = NULL;
      c->rest_len = 0;
      continue;
    }
    if (e != HPE_OK) {
      char msg[160];
      int st = c->limit_status ? c->limit_status : 400;
      if (st == 414)
        snprintf(msg, sizeof(msg), "request URL longer than %u bytes", HTTP_MAX_URL);
      else if (st == 431)
        snprintf(msg, sizeof(msg), "request headers larger than %u bytes", HTTP_MAX_HEADERS);
      else if (st == 413)
        snprintf(msg, sizeof(msg), "request body larger than %zu bytes", max_body(c->srv));
      else
        snprintf(msg, sizeof(msg), "bad HTTP request: %s (%s)", http_errno_description(e),
                 http_errno_name(e));
      conn_fail(c, st, msg);
      break;
    }
    data += n;
    len -= n;
    if (n == 0)
      break;
  }
  free(own);
  c->in_feed = 0;
  if (c->busy || c->closing || c->close_after_write || c->wbytes > HTTP_WRITE_HIGH)
    return; /* (write_full logged it in the loop) */
  if (c->eof) {
    /* The client half-closed: close once the responses are out. */
    if (c->writes)
      c->close_after_write = 1;
    else
      conn_close(c);
  } else if (!c->reading && uv_read_start(&c->h.stream, on_alloc, on_read) == 0) {
    c->reading = 1;
  }
}

/* ------------------------------------------------------------------------
 * Connections. */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  char *p = malloc(READ_BUF);
  *buf = uv_buf_init(p, p ? READ_BUF : 0);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  http_conn *c = st->data;
  if (n > 0)
    c->last = uv_now(c->srv->loop);
  if (c->linger) {
    c->dropped += n > 0 ? (size_t)n : 0;
    if (n < 0 || c->dropped > READ_BUF * 16)
      conn_close(c);
  } else if (n > 0 && (c->busy || c->rest_len)) {
    /* Reading stops while a request is answered; bytes that still come
     * wait behind the ones already held (bounded: reading is stopped). */
    char *p = realloc(c->rest, c->rest_len + (size_t)n);
    if (!p) {
      conn_close(c);
    } else {
      memcpy(p + c->rest_len, buf->base, (size_t)n);
      c->rest = p;
      c->rest_len += (size_t)n;
    }
  } else if (n > 0) {
    conn_feed(c, buf->base, (size_t)n, NULL);
  } else if (n < 0) {
    if (c->reading) {
      uv_read_stop(st);
      c->reading = 0;
    }
    if (n == UV_EOF && (c->busy || c->writes)) {
      c->eof = 1; /* answer what was asked, then close */
    } else if (n == UV_EOF && c->cur && c->parser.state) {
      conn_close(c); /* a request cut short */
    } else {
      conn_close(c);
    }
  }
  free(buf->base);
}

static void on_conn_closed(uv_handle_t *h) {
  http_conn *c = h->data;
  http_server *s = c->srv;
  free(c->rest);
  free(c);
  s->handles--;
  if (s->closing)
    maybe_finish_close(s);
}

static void conn_close(http_conn *c) {
  if (c->closing)
    return;
  c->closing = 1;
  http_server *s = c->srv;
  if (c->cur) {
    req_free(c->cur);
    c->cur = NULL;
  }
  if (c->busy) {
    req_orphan(c->busy);
    c->busy = NULL;
  }
  c->prev->next = c->next;
  c->next->prev = c->prev;
  s->st.open_conns--;
  uv_close(&c->h.handle, on_conn_closed);
}

static http_conn *conn_new(http_server *s) {
  http_conn *c = calloc(1, sizeof(*c));
  if (!c)
    return NULL;
  c->srv = s;
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  c->h.handle.data = c;
  return c;
}

static int conn_start(http_server *s, http_conn *c) {
  c->next = s->conns.next;
  c->prev = &s->conns;
  s->conns.next->prev = c;
  s->conns.next = c;
  s->handles++;
  s->st.conns++;
  s->st.open_conns++;
  c->last = uv_now(s->loop);
  int rc = uv_read_start(&c->h.stream, on_alloc, on_read);
  if (rc < 0) {
    conn_close(c);
    return rc;
  }
  c->reading = 1;
  if (s->st.open_conns > s->cfg.max_conns)
    conn_fail(c, 503, "too many connections");
  return 0;
}

static void on_connection(uv_stream_t *l, int status) {
  http_server *s = l->data;
  if (status < 0 || s->closing)
    return;
  http_conn *c = conn_new(s);
  if (!c) {
    /* Left in the backlog: libuv stops polling the listener until an
     * accept, so this does not spin. */
    logf_(s, 0, "http: out of memory, connection left pending");
    return;
  }
  if (uv_tcp_init(s->loop, &c->h.tcp) < 0) {
    free(c);
    return;
  }
  c->h.handle.data = c;
  if (uv_accept(l, &c->h.stream) < 0) {
    s->handles++;
    uv_close(&c->h.handle, on_conn_closed);
    return;
  }
  uv_tcp_nodelay(&c->h.tcp, 1);
  conn_start(s, c);
}

int http_server_adopt_fd(http_server *s, int fd) {
  http_conn *c = conn_new(s);
  if (!c)
    return UV_ENOMEM;
  int rc = uv_pipe_init(s->loop, &c->h.pipe, 0);
  if (rc < 0) {
    free(c);
    return rc;
  }
  c->h.handle.data = c;
  rc = uv_pipe_open(&c->h.pipe, fd);
  if (rc < 0) {
    /* The handle is initialised: close it, but fd stays the caller's. */
    s->handles++;
    uv_close(&c->h.handle, on_conn_closed);
    return rc;
  }
  return conn_start(s, c);
}

/* ------------------------------------------------------------------------
 * The server. */

static void on_sweep(uv_timer_t *t) {
  http_server *s = t->data;
  uint64_t now = uv_now(s->loop);
  http_conn *c = s->conns.next;
  while (c != &s->conns) {
    http_conn *next = c->next;
    if (!c->busy && !c->writes && now - c->last >= s->cfg.idle_ms) {
      logf_(s, 1, "http: closing a connection idle for %u ms", s->cfg.idle_ms);
      conn_close(c);
    }
    c = next;
  }
}

static void on_listener_closed(uv_handle_t *h) {
  http_server *s = h->data;
  s->handles--;
  maybe_finish_close(s);
}

int http_server_start(uv_loop_t *loop, const http_config *cfg, http_server **out) {
  if (!cfg->ops)
    return UV_EINVAL;
  http_server *s = calloc(1, sizeof(*s));
  if (!s)
    return UV_ENOMEM;
  s->loop = loop;
  s->cfg = *cfg;
  if (!s->cfg.max_conns)
    s->cfg.max_conns = 256;
  if (!s->cfg.max_queue)
    s->cfg.max_queue = 64;
  if (!s->cfg.max_io)
    s->cfg.max_io = 1u << 20;
  if (!s->cfg.idle_ms)
    s->cfg.idle_ms = 60000;
  s->conns.next = s->conns.prev = &s->conns;
  const char *addr = cfg->addr ? cfg->addr : "127.0.0.1";
  struct sockaddr_storage sa;
  int rc;
  if (strchr(addr, ':'))
    rc = uv_ip6_addr(addr, cfg->port, (struct sockaddr_in6 *)&sa);
  else
    rc = uv_ip4_addr(addr, cfg->port, (struct sockaddr_in *)&sa);
  if (rc < 0) {
    free(s);
    return rc;
  }
  rc = uv_tcp_init(loop, &s->listener);
  if (rc < 0) {
    free(s);
    return rc;
  }
  s->listener.data = s;
  s->handles = 1;
  rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&sa, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&s->listener, 128, on_connection);
  if (rc < 0) {
    /* Freed by the close callback; the caller sees only the error. */
    s->closing = 1;
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
    return rc;
  }
  s->listening = 1;
  uint64_t every = s->cfg.idle_ms / 4 ? s->cfg.idle_ms / 4 : 1;
  uv_timer_init(loop, &s->sweep);
  s->sweep.data = s;
  s->handles++;
  uv_timer_start(&s->sweep, on_sweep, every, every);
  struct sockaddr_storage got;
  int len = sizeof(got);
  if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&got, &len) == 0)
    s->port = got.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&got)->sin6_port)
                                        : ntohs(((struct sockaddr_in *)&got)->sin_port);
  logf_(s, 0, "http: listening on %s:%d", addr, s->port);
  *out = s;
  return 0;
}

int http_server_port(const http_server *s) {
  return s->port;
}

void http_server_stats(const http_server *s, http_stats *st) {
  *st = s->st;
}

static void maybe_finish_close(http_server *s) {
  if (s->handles || s->inflight)
    return;
  void (*cb)(void *) = s->close_cb;
  void *arg = s->close_arg;
  free(s);
  if (cb)
    cb(arg);
}

void http_server_close(http_server *s, void (*cb)(void *arg), void *arg) {
  s->closing = 1;
  s->close_cb = cb;
  s->close_arg = arg;
  while (s->conns.next != &s->conns)
    conn_close(s->conns.next);
  /* Orphaned requests were removed from the queue by conn_close. */
  if (s->listening) {
    s->listening = 0;
    uv_close((uv_handle_t *)&s->sweep, on_listener_closed);
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
  } else {
    maybe_finish_close(s);
  }
}
