/* harness.h - the fake target shared by the service fuzz targets.  The
 * input is a first line (the client's packet or command), then the
 * target's replies separated by '\n': each request the service sends
 * consumes one line, and a line "!" makes the transaction fail as if the
 * target went away.  The harness checks that every request body and every
 * reply is readable and that reply() is called exactly once per request. */
#ifndef RSP_SVC_FUZZ_HARNESS_H
#define RSP_SVC_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "service.h"

typedef struct {
  const uint8_t *p, *end; /* the target's replies still to give */
  int replies;
  unsigned long requests;
} fz;

/* Splits the input: *line / *line_len get the first line (cut at
 * `max_line` bytes), f the rest.  Returns a new service over the fake
 * target, or NULL. */
svc *fz_start(fz *f, const uint8_t *data, size_t size, size_t max_line, const char **line,
              size_t *line_len);

/* Sends one client packet; aborts unless a handled packet got exactly one
 * reply. */
void fz_one(svc *s, fz *f, const char *body, size_t len);

#endif
