/* fixture.h - the cmocka fixture shared by the service tests: a simulated
 * target (sim.h) and a service over it, and the helpers every test file
 * wants (client reads, monitor commands, expected bytes). */
#ifndef SVC_FIXTURE_H
#define SVC_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "sim.h"

typedef struct {
  sim *t;
  svc *s;
  svc_config cfg; /* the service keeps a pointer to it */
} fx;

/* A fresh simulator and service with cfg, stored in *state; `connect`
 * sends SVC_EV_CONNECT as the bridge does when a client comes. */
fx *fx_open(void **state, const svc_config *cfg, int connect);
/* cmocka setups of a connected service: with cfg; with a 1 MiB cache;
 * the same read-only. */
int fx_setup_cfg(void **state, const svc_config *cfg);
int fx_setup(void **state);
int fx_setup_ro(void **state);
/* The cmocka teardown of every fixture made by fx_open. */
int fx_teardown(void **state);

/* Fails unless needle is in out. */
void fx_has(const char *out, const char *needle);
/* "mADDR,LEN" through the service as the core would route it. */
const char *fx_mread(fx *f, uint64_t a, uint64_t n);
/* Asserts that a client read of n bytes at va gives the RAM at pa. */
void fx_expect_bytes(fx *f, uint64_t va, uint64_t pa, size_t n);
/* Runs a monitor command; fails unless the reply is want; returns the
 * output text. */
const char *fx_cmd(fx *f, const char *line, const char *want);

#endif
