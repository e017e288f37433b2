/* http_int.h - internals of the HTTP endpoint (server.c, api.c).
 * Everything here belongs to the loop thread. */
#ifndef HTTP_INT_H
#define HTTP_INT_H

#include <http_parser.h>
#include <stdint.h>

#include "http.h"
#include "svc_int.h" /* svc_sb and svc__sb_json_str: the service's JSON writer */

typedef struct http_conn http_conn;
typedef struct http_req http_req;

/* Continuation of a request after a backend op. */
typedef void (*http_step_fn)(http_req *r, int status, const char *out, size_t len);

enum http_op_kind { HTTP_OP_COMMAND = 1, HTTP_OP_REQUEST = 2, HTTP_OP_REGS = 3 };

/* One HTTP request, from its first byte until its response is queued for
 * writing (or its connection is gone and its backend op returned). */
struct http_req {
  http_server *srv;
  http_conn *conn; /* NULL once the connection is gone */
  int method;      /* enum http_method */
  int keep_alive;
  svc_sb url;
  svc_sb body;
  /* The Host and Origin headers (has_*: how many times each came; a value
   * too long has *_len == sizeof the buffer). */
  char host[256], origin[256];
  size_t host_len, origin_len;
  int has_host, has_origin;
  /* The decoded path and the raw query string (parts of url). */
  char path[128];
  const char *query;
  size_t query_len;

  /* The backend op waiting in the queue or in flight. */
  int op_kind;
  svc_sb op;
  http_step_fn step;
  http_req *qnext;
  int queued, counted;

  /* Endpoint state across steps (api.c). */
  int ep;
  uint64_t addr, len, done, root;
  int has_root;
  uint64_t chunk_pa;
  size_t chunk_len;
  svc_sb acc;
};

/* Sends the response and finishes the request (the request is freed).
 * extra: more header lines, each ending in \r\n, or NULL. */
void http__respond(http_req *r, int status, const char *ctype, const char *body, size_t len,
                   const char *extra);
/* A JSON error document {"error":MSG,"status":N} with that status. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void http__error(http_req *r, int status, const char *fmt, ...);
/* Queues one backend op; step runs with its outcome.  Returns 0, or -1 after
 * answering the request 503 (queue full: only for a request's first op). */
int http__op(http_req *r, int kind, const char *line, size_t len, http_step_fn step);
const http_config *http__cfg(const http_server *s);
/* The last `arch --json` document (GET /v1/target answers with it when
 * the target cannot be asked without a side effect); len 0: none. */
void http__arch_remember(http_server *s, const char *doc, size_t len);
const char *http__arch_doc(const http_server *s, size_t *len);

/* api.c: route a complete request. */
void http__dispatch(http_req *r);
const char *http__reason(int status);

/* The page served at / (generated from www/index.html at configure time). */
extern const unsigned char http__page[];
extern const unsigned long http__page_len;

#endif
