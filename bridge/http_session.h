/* http_session.h - the HTTP/JSON endpoint (bridge/http/) served by a
 * bridge: its backend ops run as the bridge's jobs (br_job_submit). */
#ifndef BR_HTTP_SESSION_H
#define BR_HTTP_SESSION_H

#include "bridge.h"

typedef struct br_http br_http;

/* Listens on addr:port (addr NULL: 127.0.0.1; port 0: ephemeral) on the
 * bridge's loop, after br_start().  Returns 0 and *out, or a negative
 * libuv error. */
int br_http_start(br_t *br, const char *addr, int port, int read_only, br_http **out);
int br_http_port(const br_http *h);
/* Closes the endpoint; cb(arg) once it is gone.  Call it with br_close():
 * the operation in flight ends when the bridge cancels it. */
void br_http_close(br_http *h, void (*cb)(void *arg), void *arg);

#endif
