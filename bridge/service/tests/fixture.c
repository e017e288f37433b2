/* fixture.c - the cmocka fixture shared by the service tests (see
 * fixture.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "rsp.h"

fx *fx_open(void **state, const svc_config *cfg, int connect) {
  fx *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  f->t = sim_new();
  f->cfg = *cfg;
  f->s = svc_new(&sim_io, f->t, &f->cfg);
  assert_non_null(f->s);
  if (connect)
    svc_event(f->s, SVC_EV_CONNECT);
  *state = f;
  return f;
}

int fx_setup_cfg(void **state, const svc_config *cfg) {
  fx_open(state, cfg, 1);
  return 0;
}

int fx_setup(void **state) {
  svc_config cfg = {.cache_bytes = 1u << 20};
  return fx_setup_cfg(state, &cfg);
}

int fx_setup_ro(void **state) {
  svc_config cfg = {.cache_bytes = 1u << 20, .read_only = 1};
  return fx_setup_cfg(state, &cfg);
}

int fx_teardown(void **state) {
  fx *f = *state;
  svc_free(f->s);
  sim_free(f->t);
  free(f);
  return 0;
}

void fx_has(const char *out, const char *needle) {
  if (!strstr(out, needle))
    fail_msg("expected '%s' in:\n%s", needle, out);
}

const char *fx_mread(fx *f, uint64_t a, uint64_t n) {
  char b[64];
  snprintf(b, sizeof(b), "m%llx,%llx", (unsigned long long)a, (unsigned long long)n);
  return sim_packet(f->t, f->s, b);
}

void fx_expect_bytes(fx *f, uint64_t va, uint64_t pa, size_t n) {
  static char want[0x4001];
  assert_true(n <= 0x2000);
  const char *r = fx_mread(f, va, n);
  rsp_hex_encode(want, sizeof(want), f->t->ram + pa, n);
  want[2 * n] = 0;
  assert_string_equal(r, want);
}

const char *fx_cmd(fx *f, const char *line, const char *want) {
  const char *r = sim_cmd(f->t, f->s, line);
  if (strcmp(r, want))
    fail_msg("`%s`: reply '%s', expected '%s'; output:\n%s", line, r, want,
             f->t->out ? f->t->out : "");
  return f->t->out ? f->t->out : "";
}
