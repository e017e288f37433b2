/* client.h - a blocking HTTP/1.1 test client on 127.0.0.1; responses are
 * parsed by http-parser too (HTTP_RESPONSE), pipelined ones in order. */
#ifndef HTTP_TEST_CLIENT_H
#define HTTP_TEST_CLIENT_H

#include <http_parser.h>
#include <stddef.h>

typedef struct {
  int status;
  char ctype[64];
  char connection[32];
  char *body; /* NUL-terminated copy */
  size_t len;
} cl_resp;

typedef struct {
  int fd;
  http_parser p;
  char buf[65536];
  size_t have, off;
  cl_resp *cur;
  int done, hdr; /* hdr: 1 content-type, 2 connection */
  char fname[32];
  size_t fname_len;
  int in_value;
} cl_conn;

int cl_connect(cl_conn *c, int port); /* 0 or -1 */
/* The same with a small receive buffer (set before connecting). */
int cl_connect_rcvbuf(cl_conn *c, int port, int rcvbuf);
int cl_send(cl_conn *c, const char *data, size_t len);
int cl_sendf(cl_conn *c, const char *fmt, ...);
/* Reads one response; 0, or -1 on EOF/error/parse error (r->status 0). */
int cl_read(cl_conn *c, cl_resp *r);
/* 1 when the server closed the connection (reads EOF, nothing pending). */
int cl_closed(cl_conn *c);
void cl_close(cl_conn *c);
void cl_resp_free(cl_resp *r);
/* One request on a fresh connection; returns the status (0 on error). */
int cl_get(int port, const char *method, const char *path, const char *body, size_t blen,
           cl_resp *r);

#endif
