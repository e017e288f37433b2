/* simbk.h - the HTTP backend ops table over the service simulator: the real
 * service (svc_handle) answering from a simulated x86-64 target with page
 * tables (bridge/service/tests/sim.h), so HTTP answers can be compared with
 * the service's own monitor output.  Not canned: every answer is computed. */
#ifndef HTTP_SIMBK_H
#define HTTP_SIMBK_H

#include <stdatomic.h>
#include <uv.h>

#include "http.h"
#include "service.h"
#include "sim.h"

typedef struct simbk {
  uv_loop_t *loop;
  sim *t;
  svc *s;
  /* 1: the service runs on libuv's thread pool (as on the bridge's worker);
   * 0: on the loop, one loop iteration later (deterministic, for fuzzing). */
  int threaded;
  /* Fault knobs: every op answers HTTP_BK_RUNNING / HTTP_BK_LOST.  Atomic:
   * a test's client thread sets them between its requests. */
  atomic_int running, lost;
  /* The state op says "detached" (no debugger, no connection): not live. */
  atomic_int detached;
  /* Refuse ops with -1 (the backend could not start them). */
  atomic_int refuse;
  /* Hold each op (held = 1) until simbk_release(). */
  int hold, held;
  /* Observations. */
  atomic_ulong ops; /* read by a test's client thread between its requests */
  unsigned long max_concurrent;
  int active;
  /* Private. */
  uv_work_t work;
  uv_timer_t timer;
  int kind;
  char *line;
  size_t len;
  http_done_cb done;
  void *arg;
  int status;
  char *out;
  size_t out_len;
} simbk;

extern const http_backend_ops simbk_ops;

int simbk_init(simbk *b, uv_loop_t *loop, int threaded, const svc_config *cfg);
/* Closes the timer; the loop must run once more to finish. */
void simbk_close(simbk *b);
/* Runs the held op now (inline mode). */
void simbk_release(simbk *b);
/* Frees the simulator and the service (after the loop has finished). */
void simbk_free(simbk *b);

/* The same command run straight through the service, for comparison:
 * returns a malloc'd copy of its output and *ok (reply OK). */
char *simbk_direct(simbk *b, const char *line, int *ok);

#endif
