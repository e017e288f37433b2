/* fuzz_lldb.c - hostile targets behind LLDB's packets (lldb.c) and the
 * bridge's `info mem` / `info tlb` (infomem.c).  The input is one client
 * packet body (a line starting with "info " is sent as a monitor command),
 * then the target's replies (the fake target of harness.c).  After it, a
 * fixed sequence of region queries, including one after a resume.  Checks
 * that the service never crashes, never reads out of bounds and calls
 * reply() exactly once per request. */
#include <stdint.h>
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
  if (cl >= 5 && !memcmp(line, "info ", 5)) {
    int n = rsp_format_qrcmd(body, sizeof(body), line, cl);
    if (n > 0)
      fz_one(s, &f, body, (size_t)n);
  } else {
    memcpy(body, line, cl);
    fz_one(s, &f, body, cl);
  }
  fz_one(s, &f, "qMemoryRegionInfo:0", 19);
  fz_one(s, &f, "qMemoryRegionInfo:ffffffffffffffff", 34);
  fz_one(s, &f, "qHostInfo", 9);
  svc_event(s, SVC_EV_RESUME);
  fz_one(s, &f, "qMemoryRegionInfo:400000", 24);
  svc_free(s);
  return 0;
}
