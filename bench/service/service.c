/* bench_service - the service against the simulated target with an
 * artificial round-trip latency:
 *   - upstream requests and round trips per cold and warm vtop;
 *   - maps of a synthetic 4-level address space: time against
 *     (table pages x one round trip), the cost without pipelining;
 *   - re-reading a 64 KiB region through the cache vs uncached.
 * Usage: bench_service [--short] [--latency-us N]
 * Prints figures; never asserts timings. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rsp.h"
#include "sim.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void reset(sim *t) {
  t->transacts = t->requests = t->reads_m = t->reads_p = t->mode_on = t->mode_off = 0;
  t->target_cpu_s = 0;
}

static void stop_cycle(svc *s) {
  svc_event(s, SVC_EV_RESUME);
  svc_event(s, SVC_EV_STOP);
}

static void must(const char *r, const char *what) {
  if (strcmp(r, "OK")) {
    fprintf(stderr, "bench_service: %s failed (%s)\n", what, r);
    exit(1);
  }
}

int main(int argc, char **argv) {
  int shortrun = 0;
  long lat = 50;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--short"))
      shortrun = 1;
    else if (!strcmp(argv[i], "--latency-us") && i + 1 < argc)
      lat = atol(argv[++i]);
  }
  sim *t = sim_new();
  /* A synthetic address space: R regions of 2 MiB of 4K pages, spread over
   * PML4 slots and 1 GiB slots so that each needs its own PT and PD. */
  int regions = shortrun ? 48 : 160;
  uint64_t root = sim_alloc_table(t);
  for (int r = 0; r < regions; r++) {
    uint64_t va = ((uint64_t)(r % 8) << 39) | ((uint64_t)(r / 8) << 30);
    for (uint64_t off = 0; off < 0x200000; off += 0x1000)
      sim_map(t, root, va + off, 0x800000 + ((off + (uint64_t)r * 0x3000) & 0x7ff000), 0x1000,
              SIM_P | SIM_W | (r & 1 ? SIM_U : 0));
  }
  uint64_t tables = (t->next_table - 0x10000) / 0x1000; /* includes the standard layout */
  t->cr3 = root;
  svc_config cfg = {.cache_bytes = 64u << 20};
  svc *s = svc_new(&sim_io, t, &cfg);
  if (!s)
    return 1;
  svc_event(s, SVC_EV_CONNECT);
  t->latency_us = lat;
  t->per_request_ns = 1000;
  printf("bench_service: simulated round trip %ld us + 1 us per request\n", lat);

  /* vtop: cold after a stop, then warm. */
  must(sim_cmd(t, s, "arch"), "arch");
  stop_cycle(s);
  reset(t);
  double t0 = now();
  must(sim_cmd(t, s, "vtop 0x8040001000"), "vtop");
  double cold = now() - t0;
  printf("cold vtop: %lu upstream requests (%lu p, %lu m, %lu+%lu mode switches) in %lu round "
         "trips, %.0f us\n",
         t->requests, t->reads_p, t->reads_m, t->mode_on, t->mode_off, t->transacts, cold * 1e6);
  reset(t);
  t0 = now();
  must(sim_cmd(t, s, "vtop 0x8040002000"), "vtop");
  printf("warm vtop: %lu upstream requests, %.0f us\n", t->requests, (now() - t0) * 1e6);

  /* maps of the whole space, cold. */
  stop_cycle(s);
  must(sim_cmd(t, s, "arch"), "arch");
  reset(t);
  t0 = now();
  double c0 = cpu();
  must(sim_cmd(t, s, "maps"), "maps");
  double m = now() - t0, mc = cpu() - c0;
  const char *sum = strrchr(t->out, '\n');
  while (sum && sum > t->out && sum[-1] != '\n')
    sum--;
  double bound = (double)tables * (double)lat / 1e6;
  /* The simulated target answers in this thread: its own CPU (building the
   * replies QEMU would build within its round trip) is not the bridge's. */
  double tgt = t->target_cpu_s;
  printf("maps: %llu table pages; %.1f ms (%.1f ms CPU, of which the simulated target %.1f ms); "
         "bound (tables x one round trip) %.1f ms; ratio %.2f, %.2f without the simulated "
         "target's CPU; %lu requests in %lu round trips; %s",
         (unsigned long long)tables, m * 1e3, mc * 1e3, tgt * 1e3, bound * 1e3, m / bound,
         (m - tgt) / bound, t->requests, t->transacts, sum ? sum : "\n");

  /* The same again, warm: the bridge's own CPU for walking and printing. */
  reset(t);
  t0 = now();
  must(sim_cmd(t, s, "maps"), "maps");
  printf("warm maps: %.1f ms, %lu upstream requests\n", (now() - t0) * 1e3, t->requests);

  /* Re-reading 64 KiB through the cache vs uncached. */
  char req[64];
  int rounds = shortrun ? 3 : 20;
  must(sim_cmd(t, s, "cache off"), "cache off");
  t0 = now();
  for (int r = 0; r < rounds; r++)
    for (uint64_t off = 0; off < 0x10000; off += 0x800) {
      snprintf(req, sizeof(req), "m%llx,800", (unsigned long long)(0x8040000000ull + off));
      sim_packet(t, s, req);
    }
  double unc = (now() - t0) / rounds;
  must(sim_cmd(t, s, "cache on"), "cache on");
  for (uint64_t off = 0; off < 0x10000; off += 0x800) { /* warm it */
    snprintf(req, sizeof(req), "m%llx,800", (unsigned long long)(0x8040000000ull + off));
    sim_packet(t, s, req);
  }
  reset(t);
  t0 = now();
  for (int r = 0; r < rounds; r++)
    for (uint64_t off = 0; off < 0x10000; off += 0x800) {
      snprintf(req, sizeof(req), "m%llx,800", (unsigned long long)(0x8040000000ull + off));
      sim_packet(t, s, req);
    }
  double cached = (now() - t0) / rounds;
  printf("64 KiB re-read: uncached %.0f us, cached %.0f us (%.0fx), %lu upstream requests "
         "while cached\n",
         unc * 1e6, cached * 1e6, unc / cached, t->requests);
  svc_free(s);
  sim_free(t);
  return 0;
}
