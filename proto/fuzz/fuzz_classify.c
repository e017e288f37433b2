/* fuzz_classify.c - request and reply classification on arbitrary bodies.
 *
 * Invariants: no read past the body (exact heap copy, ASan); the class is
 * in range, with flags only from the documented set, and the same with
 * and without the flags pointer; the classes agree with the parsers: an m,
 * M, X or vCont; body they accept is a memory read, a memory write or a
 * resume, and a reply is a stop reply, an error or console output exactly
 * when rsp_parse_stop or rsp_parse_error says so.
 */
#include <stddef.h>
#include <stdint.h>

#include "rsp.h"
#include "fuzz_util.h"

#define REQF_ALL                                                                                \
  (RSP_REQF_RUNS | RSP_REQF_STOP_REPLY | RSP_REQF_WRITES | RSP_REQF_RUNCTL | RSP_REQF_STOPPED | \
   RSP_REQF_SETTING | RSP_REQF_NO_REPLY)
#define REPF_ALL (RSP_REPF_EXITED | RSP_REPF_THREAD_EXIT | RSP_REPF_NO_RESUMED)

static void try_request(const char *b, size_t len) {
  unsigned fl;
  int cls = rsp_classify_request(b, len, &fl);
  CHECK(cls >= 0 && cls < RSP_REQ_COUNT);
  CHECK((fl & ~(unsigned)REQF_ALL) == 0);
  CHECK(rsp_classify_request(b, len, NULL) == cls);
  CHECK(rsp_req_class_name(cls)[0] != '?');
  /* Runs imply a stop reply; writes and run control need a class that
   * has them. */
  if (fl & RSP_REQF_RUNS)
    CHECK((fl & RSP_REQF_STOP_REPLY) && (cls == RSP_REQ_RESUME || cls == RSP_REQ_REVERSE));
  if (cls == RSP_REQ_UNKNOWN)
    CHECK(fl == 0);
  uint64_t a, n;
  if (rsp_parse_m(b, len, &a, &n) == 0)
    CHECK(cls == RSP_REQ_MEM_READ);
  const char *d;
  if (rsp_parse_X(b, len, &a, &n, &d) == 0)
    CHECK(cls == RSP_REQ_MEM_WRITE && (fl & RSP_REQF_WRITES));
  rsp_vcont_iter it;
  if (rsp_vcont_begin(&it, b, len) == 0)
    CHECK(cls == RSP_REQ_RESUME && (fl & RSP_REQF_RUNS));
  if (rsp_has_prefix(b, len, "qRcmd,"))
    CHECK(cls == RSP_REQ_MONITOR);
}

static void try_reply(const char *b, size_t len) {
  unsigned fl;
  int cls = rsp_classify_reply(b, len, &fl);
  CHECK(cls >= 0 && cls < RSP_REPLY_COUNT);
  CHECK((fl & ~(unsigned)REPF_ALL) == 0);
  CHECK(rsp_classify_reply(b, len, NULL) == cls);
  CHECK(rsp_reply_class_name(cls)[0] != '?');
  CHECK((cls == RSP_REPLY_EMPTY) == (len == 0));
  if (fl)
    CHECK(cls == RSP_REPLY_STOP);
  rsp_stop st;
  int stop_ok = rsp_parse_stop(b, len, &st) == 0;
  if (len && (b[0] == 'S' || b[0] == 'T' || b[0] == 'W' || b[0] == 'X'))
    CHECK((cls == RSP_REPLY_STOP) == stop_ok);
  if (cls == RSP_REPLY_CONSOLE)
    CHECK(stop_ok && st.kind == 'O' && st.text_len > 0);
  int code;
  const char *msg;
  size_t ml;
  CHECK((cls == RSP_REPLY_ERROR) == (rsp_parse_error(b, len, &code, &msg, &ml) == 1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *b = fuzz_dup(data, size);
  try_request(b, size);
  try_reply(b, size);
  free(b);
  return 0;
}
