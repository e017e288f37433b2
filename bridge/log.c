/* log.c - the bridge's log lines (cfg.log, stderr by default), the
 * summaries of repeated ones, and the --trace packet log. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "br_int.h"

void br__log(br_t *br, int level, const char *fmt, ...) {
  if (level > br->cfg.verbose)
    return;
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  /* One fprintf per line: stdio locks the stream, so lines from the loop
   * and the worker do not interleave. */
  fprintf(br->cfg.log ? br->cfg.log : stderr, "rspbridge: %s\n", line);
}

/* Repeated events a peer can cause at will (NAK storms, '$' floods, bad
 * checksums, refused clients): the first line of each kind is printed, the
 * next ones within a second are only counted, and the count is printed
 * with the next line of that kind after the second (or at close).  Loop
 * thread only; the clock is the loop's (or cfg.clock_ms). */
static uint64_t now_ms(br_t *br) {
  return br->cfg.clock_ms ? br->cfg.clock_ms() : uv_now(br->loop);
}

static void logrl_flush(br_t *br, br__logrl *l) {
  if (l->key && l->n)
    br__log(br, l->level, "(%u more in %llu ms like: %s)", l->n,
            (unsigned long long)(now_ms(br) - l->since), l->text);
  l->n = 0;
}

void br__log_rl(br_t *br, int level, const char *fmt, ...) {
  if (level > br->cfg.verbose)
    return;
  uint64_t now = now_ms(br);
  br__logrl *l = NULL, *old = &br->logrl[0];
  for (int i = 0; i < BR_LOG_SLOTS && !l; i++) {
    if (br->logrl[i].key == fmt)
      l = &br->logrl[i];
    else if (br->logrl[i].since < old->since || !br->logrl[i].key)
      old = &br->logrl[i];
  }
  if (l && now - l->since < 1000) {
    l->n++;
    return;
  }
  if (!l) {
    logrl_flush(br, old);
    l = old;
    l->key = fmt;
  }
  logrl_flush(br, l);
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  br__log(br, level, "%s", line);
  size_t tl = strlen(line);
  if (tl >= sizeof(l->text))
    tl = sizeof(l->text) - 1;
  memcpy(l->text, line, tl);
  l->text[tl] = 0;
  l->level = level;
  l->since = now;
}

void br__trace(br_t *br, const char *dir, const char *what, const char *body, size_t len) {
  FILE *f = br->cfg.trace;
  if (!f)
    return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  fprintf(f, "%lld.%06ld %s %s", (long long)ts.tv_sec, ts.tv_nsec / 1000, dir, what);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)body[i];
    if (c >= 0x20 && c < 0x7f && c != '\\')
      fputc(c, f);
    else
      fprintf(f, "\\x%02x", c);
  }
  fputc('\n', f);
}

void br__log_rl_flush(br_t *br) {
  for (int i = 0; i < BR_LOG_SLOTS; i++)
    logrl_flush(br, &br->logrl[i]);
}
