/* svc_regs.c - the registers of the target as one JSON object, for a
 * backend's regs op (http.h).  Worker thread: it talks to the target
 * through the service (svc__regs_get: p packets named by the target
 * description), exactly as the service's own commands read registers. */
#define _POSIX_C_SOURCE 200809L
#include <string.h>

#include "http_svc.h"
#include "svc_int.h"

int http_svc_regs_json(svc *s, svc_sb *o) {
  if (svc__discover(s) || !s->td.loaded) {
    svc__sb_puts(o, "no target description: the registers are not named");
    return -1;
  }
  svc__sb_puts(o, "{");
  int first = 1;
  for (int i = 0; i < s->td.nregs; i++) {
    const char *name = s->td.regs[i].name;
    uint64_t v;
    int have = 0;
    /* Vector registers (wider than 64 bits) are left out. */
    if (s->td.regs[i].bits > 64 || svc__regs_get(s, &name, 1, &v, &have) || !have)
      continue;
    svc__sb_puts(o, first ? "" : ",");
    svc__sb_json_str(o, name, strlen(name));
    svc__sb_printf(o, ":\"0x%llx\"", (unsigned long long)v);
    first = 0;
  }
  svc__sb_puts(o, "}");
  return o->oom ? -1 : 0;
}
