/* fuzz_service.c - hostile targets and hostile commands.  The input is a
 * command line, then the target's replies (the fake target of harness.c).
 * Checks that the service never crashes, never reads out of bounds and
 * calls reply() exactly once per request. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rsp.h"
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz f;
  const char *line;
  size_t cl;
  svc *s = fz_start(&f, data, size, 600, &line, &cl);
  if (!s)
    return 0;
  char body[1300];
  int n = rsp_format_qrcmd(body, sizeof(body), line, cl);
  if (n > 0)
    fz_one(s, &f, body, (size_t)n);
  fz_one(s, &f, "m400000,20", 10);
  fz_one(s, &f, "M400000,2:abcd", 14);
  svc_event(s, SVC_EV_RESUME);
  fz_one(s, &f, "m400ff0,40", 10);
  /* The client's own mode, detach and attach, client and target gone. */
  fz_one(s, &f, "Qqemu.PhyMemMode:1", 18);
  fz_one(s, &f, "m400000,20", 10);
  fz_one(s, &f, "D;1", 3);
  if (n > 0)
    fz_one(s, &f, body, (size_t)n);
  fz_one(s, &f, "?", 1);
  fz_one(s, &f, "vAttach;1", 9);
  svc_event(s, SVC_EV_DETACH);
  fz_one(s, &f, "qqemu.PhyMemMode", 16);
  svc_event(s, SVC_EV_LOST);
  fz_one(s, &f, "m400000,20", 10);
  int before = f.replies;
  svc_finish(s);
  if (f.replies != before) /* never replies */
    abort();
  svc_free(s);
  return 0;
}
