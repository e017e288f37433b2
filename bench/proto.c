/* proto.c - benchmark of the proto/ push parser against memcpy.
 *
 * Builds a realistic stream of what a debugger session moves in bulk:
 * 2 KiB memory reads ('m' replies, 4096 hex digits, sent plainly as QEMU
 * does), x86-64 'g' replies compressed with run-length encoding (as
 * gdbserver does; registers are mostly zero), and the acks in between.
 * Parses it repeatedly and reports MB/s, the ratio to a plain memcpy of the
 * same bytes measured in the same run (best of several interleaved rounds,
 * so both see the same machine load), and heap allocations per packet,
 * counted by wrapping malloc/calloc/realloc at link time
 * (-Wl,--wrap=...): every call from the parser or this program goes
 * through the counters.
 *
 * Usage: bench_proto [--short]   (--short: a quick run for CTest)
 * Exit status is non-zero only if the parse result is wrong or the parser
 * allocated; timings are reported, never asserted.
 */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rsp.h"

/* Allocation counters (see the link options in bench/CMakeLists.txt). */
static size_t n_alloc;
void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t a, size_t b);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n) {
  n_alloc++;
  return __real_malloc(n);
}
void *__wrap_calloc(size_t a, size_t b) {
  n_alloc++;
  return __real_calloc(a, b);
}
void *__wrap_realloc(void *p, size_t n) {
  n_alloc++;
  return __real_realloc(p, n);
}

static uint64_t rng = 0x2545f4914f6cdd1du;
static uint32_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 16);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct {
  size_t packets;
  size_t body_bytes;
  size_t acks;
  size_t errors;
} counts;

static int on_packet(rsp_parser *p, const char *at, size_t len) {
  counts *c = p->data;
  (void)at;
  c->packets++;
  c->body_bytes += len;
  return 0;
}
static int on_ack(rsp_parser *p) {
  counts *c = p->data;
  c->acks++;
  return 0;
}
static int on_error(rsp_parser *p) {
  counts *c = p->data;
  c->errors++;
  return 0;
}
static const rsp_parser_settings settings = {
    .on_packet = on_packet,
    .on_ack = on_ack,
    .on_bad_checksum = on_error,
    .on_error = on_error,
};

/* The x86-64 'g' reply: 16 GPRs, rip, eflags, segment registers, the x87
 * and SSE state -- 560 bytes, mostly zero with a few live values. */
static size_t make_g(uint8_t *regs) {
  size_t n = 560;
  memset(regs, 0, n);
  for (int i = 0; i < 18; i++) /* a few live GPRs, rip and eflags */
    if (rnd() % 3 == 0)
      for (int k = 0; k < 8; k++)
        regs[8 * i + k] = (uint8_t)(k < 3 ? rnd() : 0);
  regs[8 * 17] = 0x46; /* eflags */
  regs[8 * 17 + 1] = 0x02;
  regs[160] = 0x7f; /* fctrl */
  regs[161] = 0x03;
  return n;
}

/* Memory that looks like code and data: mostly random, some zero runs. */
static void make_mem(uint8_t *mem, size_t n) {
  for (size_t i = 0; i < n; i++)
    mem[i] = (uint8_t)rnd();
  for (int z = 0; z < 4; z++) {
    size_t at = rnd() % n, len = rnd() % 64;
    if (at + len > n)
      len = n - at;
    memset(mem + at, 0, len);
  }
}

/* Returns the stream length and the expected counts. */
static size_t make_stream(char *s, size_t cap, counts *want) {
  uint8_t mem[2048], regs[560];
  char hex[2 * sizeof(mem)];
  size_t len = 0;
  memset(want, 0, sizeof(*want));
  for (int i = 0;; i++) {
    char frame[RSP_FRAME_MAX(sizeof(hex))];
    int n;
    size_t body;
    if (i % 4 == 3) {
      /* A register read: 'g' reply with RLE, as gdbserver sends it. */
      size_t rl = make_g(regs);
      rsp_hex_encode(hex, sizeof(hex), regs, rl);
      body = 2 * rl;
      n = rsp_encode(frame, sizeof(frame), hex, body, RSP_ENC_RLE);
    } else {
      make_mem(mem, sizeof(mem));
      rsp_hex_encode(hex, sizeof(hex), mem, sizeof(mem));
      body = sizeof(hex);
      n = rsp_encode(frame, sizeof(frame), hex, body, 0);
    }
    if (n < 0 || len + (size_t)n + 2 > cap)
      break;
    s[len++] = '+'; /* the ack of the request */
    memcpy(s + len, frame, (size_t)n);
    len += (size_t)n;
    s[len++] = '+'; /* a stray ack, as after a retransmission */
    want->packets++;
    want->body_bytes += body;
    want->acks += 2;
  }
  return len;
}

int main(int argc, char **argv) {
  int quick = argc > 1 && strcmp(argv[1], "--short") == 0;
  size_t stream_cap = 1 << 20; /* 1 MiB: fits in L2 with its copy */
  int rounds = quick ? 3 : 15;
  int reps = quick ? 4 : 40; /* passes over the stream per timed sample */

  char *stream = malloc(stream_cap);
  char *copy = malloc(stream_cap);
  char *body = malloc(8192);
  if (!stream || !copy || !body)
    return 2;
  /* The three allocations above went through the wrappers: the counter
   * is live, so a zero below means the parser really did not allocate. */
  if (n_alloc < 3) {
    fprintf(stderr, "bench_proto: allocation counter not active\n");
    return 1;
  }
  counts want;
  size_t len = make_stream(stream, stream_cap, &want);

  rsp_parser p;
  double best_parse = 1e9, best_copy = 1e9;
  size_t allocs = 0, packets = 0;
  volatile char sink = 0;
  for (int r = 0; r < rounds; r++) {
    double t0 = now();
    for (int k = 0; k < reps; k++) {
      memcpy(copy, stream, len);
      sink = (char)(sink + copy[k % len]);
    }
    double t1 = now();
    if (t1 - t0 < best_copy)
      best_copy = t1 - t0;

    counts got;
    memset(&got, 0, sizeof(got));
    size_t before = n_alloc;
    t0 = now();
    for (int k = 0; k < reps; k++) {
      rsp_parser_init(&p, body, 8192);
      p.data = &got;
      if (rsp_parser_execute(&p, &settings, stream, len) != len)
        return 1;
    }
    t1 = now();
    allocs += n_alloc - before;
    packets += got.packets;
    if (t1 - t0 < best_parse)
      best_parse = t1 - t0;
    if (got.packets != want.packets * (size_t)reps ||
        got.body_bytes != want.body_bytes * (size_t)reps || got.acks != want.acks * (size_t)reps ||
        got.errors) {
      fprintf(stderr, "bench_proto: wrong parse: %zu packets %zu bytes %zu acks %zu errors\n",
              got.packets, got.body_bytes, got.acks, got.errors);
      return 1;
    }
  }
  double mb = (double)len * reps / 1e6;
  double parse_mbs = mb / best_parse, copy_mbs = mb / best_copy;
  printf("stream: %zu bytes, %zu packets (2 KiB m replies, RLE g replies), %zu acks\n", len,
         want.packets, want.acks);
  printf("parse:  %.0f MB/s\n", parse_mbs);
  printf("memcpy: %.0f MB/s\n", copy_mbs);
  printf("ratio:  %.3f (target >= 0.25)\n", parse_mbs / copy_mbs);
  printf("allocations per packet: %.3f (%zu in %zu packets; target 0)\n",
         packets ? (double)allocs / (double)packets : 0.0, allocs, packets);
  free(stream);
  free(copy);
  free(body);
  return allocs ? 1 : 0;
}
