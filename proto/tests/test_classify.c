/* test_classify.c - golden tables for rsp_classify_request and
 * rsp_classify_reply: every class, and the corner cases of the manual's
 * "Packets" and "Stop Reply Packets" ('O' console vs "OK", "vCont?" vs
 * "vCont;", "qC" vs "qCRC:", 'X' and 'T' as requests vs replies). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rsp.h"

#define RUN (RSP_REQF_RUNS | RSP_REQF_STOP_REPLY | RSP_REQF_RUNCTL | RSP_REQF_STOPPED)
#define RD  RSP_REQF_STOPPED
#define WR  (RSP_REQF_WRITES | RSP_REQF_STOPPED)

typedef struct {
  const char *b;
  size_t len; /* 0: strlen(b) (a body with a NUL gives its length) */
  int cls;
  unsigned fl;
} golden;

static const golden requests[] = {
    /* Resumes ("Packets"). */
    {.b = "c", .cls = RSP_REQ_RESUME, .fl = RUN},
    {.b = "c401000", .cls = RSP_REQ_RESUME, .fl = RUN},
    {.b = "C05", .cls = RSP_REQ_RESUME, .fl = RUN},
    {.b = "C05;401000", .cls = RSP_REQ_RESUME, .fl = RUN},
    {.b = "s", .cls = RSP_REQ_RESUME, .fl = RUN},
    {.b = "S0b", .cls = RSP_REQ_RESUME, .fl = RUN},
    {.b = "i", .cls = RSP_REQ_RESUME, .fl = RUN},
    {.b = "i401000,10", .cls = RSP_REQ_RESUME, .fl = RUN},
    {.b = "I", .cls = RSP_REQ_RESUME, .fl = RUN},
    {.b = "vCont;c", .cls = RSP_REQ_RESUME, .fl = RUN},
    {.b = "vCont;s:1;c", .cls = RSP_REQ_RESUME, .fl = RUN},
    {.b = "vCont;r1000,2000:p1.1", .cls = RSP_REQ_RESUME, .fl = RUN},
    {.b = "vCont;", .cls = RSP_REQ_RESUME, .fl = RUN}, /* malformed: its handler says so */
    {.b = "F-1,4", .cls = RSP_REQ_RESUME, .fl = RUN},  /* File-I/O answer from the client */
    {.b = "F5,0,C", .cls = RSP_REQ_RESUME, .fl = RUN},
    {.b = "vAttach;1a", .cls = RSP_REQ_RESUME, .fl = RSP_REQF_STOP_REPLY | RSP_REQF_RUNCTL},
    {.b = "vRun;", .cls = RSP_REQ_RESUME, .fl = RSP_REQF_STOP_REPLY | RSP_REQF_RUNCTL},
    {.b = "vRun;2f62696e;2d61", .cls = RSP_REQ_RESUME, .fl = RSP_REQF_STOP_REPLY | RSP_REQF_RUNCTL},
    /* vCont? asks; a bare vCont has no action; names end at ';'. */
    {.b = "vCont?", .cls = RSP_REQ_QUERY},
    {.b = "vCont", .cls = RSP_REQ_UNKNOWN},
    {.b = "vContinue", .cls = RSP_REQ_UNKNOWN},
    {.b = "vRunX", .cls = RSP_REQ_UNKNOWN},
    {.b = "vAttachX;1", .cls = RSP_REQ_UNKNOWN},
    {.b = "vCtrlC", .cls = RSP_REQ_INTERRUPT, .fl = RSP_REQF_RUNCTL},
    {.b = "vCtrlC;", .cls = RSP_REQ_UNKNOWN},
    {.b = "?", .cls = RSP_REQ_STOP_QUERY, .fl = RSP_REQF_STOP_REPLY},
    {.b = "??", .cls = RSP_REQ_UNKNOWN},
    {.b = "vStopped", .cls = RSP_REQ_STOP_QUERY, .fl = RSP_REQF_STOP_REPLY},
    /* Memory. */
    {.b = "m400000,4", .cls = RSP_REQ_MEM_READ, .fl = RD},
    {.b = "x400000,4", .cls = RSP_REQ_MEM_READ, .fl = RD},
    {.b = "M400000,2:abcd", .cls = RSP_REQ_MEM_WRITE, .fl = WR},
    {.b = "X400000,0:", .cls = RSP_REQ_MEM_WRITE, .fl = WR}, /* not an 'X' stop reply */
    {.b = "X09", .cls = RSP_REQ_MEM_WRITE, .fl = WR},        /* from a client, still a write */
    {.b = "X10,2:\0\x03", .len = 8, .cls = RSP_REQ_MEM_WRITE, .fl = WR},
    {.b = "vFlashErase:1000,100", .cls = RSP_REQ_MEM_WRITE, .fl = WR},
    {.b = "vFlashWrite:1000:\x01", .cls = RSP_REQ_MEM_WRITE, .fl = WR},
    {.b = "vFlashDone", .cls = RSP_REQ_MEM_WRITE, .fl = WR},
    /* Registers. */
    {.b = "g", .cls = RSP_REQ_REG_READ, .fl = RD},
    {.b = "g;thread:1;", .cls = RSP_REQ_REG_READ, .fl = RD}, /* LLDB's thread suffix */
    {.b = "p10", .cls = RSP_REQ_REG_READ, .fl = RD},
    {.b = "G00112233", .cls = RSP_REQ_REG_WRITE, .fl = WR},
    {.b = "P10=0011", .cls = RSP_REQ_REG_WRITE, .fl = WR},
    /* Breakpoints. */
    {.b = "Z0,401000,1", .cls = RSP_REQ_BREAKPOINT, .fl = WR},
    {.b = "z1,401000,1", .cls = RSP_REQ_BREAKPOINT, .fl = WR},
    {.b = "Z2,600000,8;X2,2001", .cls = RSP_REQ_BREAKPOINT, .fl = WR},
    {.b = "B401000,S", .cls = RSP_REQ_BREAKPOINT, .fl = WR},
    /* Kill, detach, restart. */
    {.b = "k", .cls = RSP_REQ_KILL, .fl = RSP_REQF_RUNCTL | RSP_REQF_NO_REPLY},
    {.b = "vKill;1", .cls = RSP_REQ_KILL, .fl = RSP_REQF_RUNCTL},
    {.b = "D", .cls = RSP_REQ_DETACH, .fl = RSP_REQF_RUNCTL},
    {.b = "D;1", .cls = RSP_REQ_DETACH, .fl = RSP_REQF_RUNCTL},
    {.b = "R00", .cls = RSP_REQ_RESTART, .fl = RSP_REQF_RUNCTL | RSP_REQF_NO_REPLY},
    {.b = "r", .cls = RSP_REQ_RESTART, .fl = RSP_REQF_RUNCTL | RSP_REQF_NO_REPLY},
    /* Threads: 'T' from a client asks whether a thread is alive. */
    {.b = "Hg1", .cls = RSP_REQ_THREAD, .fl = RSP_REQF_SETTING | RD},
    {.b = "Hc-1", .cls = RSP_REQ_THREAD, .fl = RSP_REQF_SETTING | RD},
    {.b = "T1", .cls = RSP_REQ_THREAD, .fl = RD},
    {.b = "T05thread:01;", .cls = RSP_REQ_THREAD, .fl = RD},
    /* Queries: qC is not qCRC:, which reads memory. */
    {.b = "qC", .cls = RSP_REQ_QUERY},
    {.b = "qCRC:400000,100", .cls = RSP_REQ_QUERY, .fl = RD},
    {.b = "qCRCX", .cls = RSP_REQ_QUERY},
    {.b = "qSearch:memory:400000;100;abcd", .cls = RSP_REQ_QUERY, .fl = RD},
    {.b = "qSupported:multiprocess+;xmlRegisters=i386", .cls = RSP_REQ_QUERY},
    {.b = "qXfer:features:read:target.xml:0,ffb", .cls = RSP_REQ_QUERY},
    {.b = "qqemu.PhyMemMode", .cls = RSP_REQ_QUERY},
    {.b = "qfThreadInfo", .cls = RSP_REQ_QUERY},
    {.b = "q", .cls = RSP_REQ_QUERY},
    {.b = "vMustReplyEmpty", .cls = RSP_REQ_QUERY},
    {.b = "t400000:4142,ffff", .cls = RSP_REQ_QUERY, .fl = RD},
    /* Monitor: only with its comma. */
    {.b = "qRcmd,76746f70", .cls = RSP_REQ_MONITOR},
    {.b = "qRcmd,", .cls = RSP_REQ_MONITOR},
    {.b = "qRcmd", .cls = RSP_REQ_QUERY},
    /* Settings. */
    {.b = "QStartNoAckMode", .cls = RSP_REQ_SET, .fl = RSP_REQF_SETTING},
    {.b = "Qqemu.PhyMemMode:1", .cls = RSP_REQ_SET, .fl = RSP_REQF_SETTING},
    {.b = "QNonStop:0", .cls = RSP_REQ_SET, .fl = RSP_REQF_SETTING},
    {.b = "!", .cls = RSP_REQ_SET, .fl = RSP_REQF_SETTING},
    {.b = "A4,0,2f62696e", .cls = RSP_REQ_SET, .fl = RSP_REQF_SETTING},
    {.b = "d", .cls = RSP_REQ_SET, .fl = RSP_REQF_SETTING},
    /* Host I/O. */
    {.b = "vFile:open:2f6574632f686f737473,0,0", .cls = RSP_REQ_FILE_IO},
    {.b = "vFile:pread:3,100,0", .cls = RSP_REQ_FILE_IO},
    {.b = "vFile", .cls = RSP_REQ_UNKNOWN},
    /* Reverse execution: exactly "bc" and "bs". */
    {.b = "bc", .cls = RSP_REQ_REVERSE, .fl = RUN},
    {.b = "bs", .cls = RSP_REQ_REVERSE, .fl = RUN},
    {.b = "bcc", .cls = RSP_REQ_UNKNOWN},
    {.b = "b9600", .cls = RSP_REQ_UNKNOWN},
    {.b = "b", .cls = RSP_REQ_UNKNOWN},
    /* Unknown: not in the manual, or replies only. */
    {.b = "", .cls = RSP_REQ_UNKNOWN},
    {.b = "W00", .cls = RSP_REQ_UNKNOWN},
    {.b = "OK", .cls = RSP_REQ_UNKNOWN},
    {.b = "O6869", .cls = RSP_REQ_UNKNOWN},
    {.b = "N", .cls = RSP_REQ_UNKNOWN},
    {.b = "E01", .cls = RSP_REQ_UNKNOWN},
    {.b = "jThreadsInfo", .cls = RSP_REQ_UNKNOWN},
    {.b = "vFoo", .cls = RSP_REQ_UNKNOWN},
    {.b = "\x03", .cls = RSP_REQ_UNKNOWN},
    {.b = "\0c", .len = 2, .cls = RSP_REQ_UNKNOWN},
};

#define STOP RSP_REPLY_STOP
static const golden replies[] = {
    {.b = "", .cls = RSP_REPLY_EMPTY},
    {.b = "OK", .cls = RSP_REPLY_OK},
    /* Console output: 'O' and hex pairs, never "OK". */
    {.b = "O6869", .cls = RSP_REPLY_CONSOLE},
    {.b = "O0a", .cls = RSP_REPLY_CONSOLE},
    {.b = "OKOK", .cls = RSP_REPLY_OTHER},
    {.b = "OK0", .cls = RSP_REPLY_OTHER},
    {.b = "O", .cls = RSP_REPLY_OTHER},
    {.b = "O686", .cls = RSP_REPLY_OTHER},
    {.b = "O68x9", .cls = RSP_REPLY_OTHER},
    /* Errors. */
    {.b = "E01", .cls = RSP_REPLY_ERROR},
    {.b = "E.no such page", .cls = RSP_REPLY_ERROR},
    {.b = "E.", .cls = RSP_REPLY_ERROR},
    {.b = "E1", .cls = RSP_REPLY_OTHER},
    {.b = "E123", .cls = RSP_REPLY_OTHER},
    /* Stop replies. */
    {.b = "S05", .cls = STOP},
    {.b = "T05", .cls = STOP},
    {.b = "T05thread:p1.1;06:0000000000000000;", .cls = STOP},
    {.b = "T05swbreak:;", .cls = STOP},
    {.b = "W00", .cls = STOP, .fl = RSP_REPF_EXITED},
    {.b = "W01;process:1a", .cls = STOP, .fl = RSP_REPF_EXITED},
    {.b = "X09", .cls = STOP, .fl = RSP_REPF_EXITED},
    {.b = "X0f;process:2", .cls = STOP, .fl = RSP_REPF_EXITED},
    {.b = "w00;p1.2", .cls = STOP, .fl = RSP_REPF_THREAD_EXIT},
    {.b = "w01;2", .cls = STOP, .fl = RSP_REPF_THREAD_EXIT},
    {.b = "N", .cls = STOP, .fl = RSP_REPF_NO_RESUMED},
    /* Not stop replies: the signal is two hex digits. */
    {.b = "T0;tnotrun:0", .cls = RSP_REPLY_OTHER}, /* qTStatus */
    {.b = "T1", .cls = RSP_REPLY_OTHER},           /* a request, not a reply */
    {.b = "S5", .cls = RSP_REPLY_OTHER},
    {.b = "S05;", .cls = RSP_REPLY_OTHER},
    {.b = "W", .cls = RSP_REPLY_OTHER},
    {.b = "X400000,0:", .cls = RSP_REPLY_OTHER}, /* a request */
    {.b = "w00", .cls = RSP_REPLY_OTHER},
    {.b = "w00;", .cls = RSP_REPLY_OTHER},
    {.b = "w00;1x", .cls = RSP_REPLY_OTHER},
    {.b = "NO", .cls = RSP_REPLY_OTHER},
    /* File-I/O requests from the target. */
    {.b = "Fwrite,1,7ffe1000,c", .cls = RSP_REPLY_FILE_IO},
    {.b = "Fgettimeofday,7ffe2000,0", .cls = RSP_REPLY_FILE_IO},
    {.b = "Fsystem", .cls = RSP_REPLY_FILE_IO},
    {.b = "F", .cls = RSP_REPLY_OTHER},
    {.b = "F-1,4", .cls = RSP_REPLY_OTHER}, /* the client's answer */
    {.b = "F0A", .cls = RSP_REPLY_OTHER},
    /* Data. */
    {.b = "00ff1234", .cls = RSP_REPLY_OTHER},
    {.b = "QC1", .cls = RSP_REPLY_OTHER},
    {.b = "l<target/>", .cls = RSP_REPLY_OTHER},
    {.b = "PacketSize=1000;qXfer:features:read+", .cls = RSP_REPLY_OTHER},
};

static size_t body_len(const golden *g) {
  return g->len ? g->len : strlen(g->b);
}

/* An exact-size heap copy: a read past len is an ASan error. */
static char *dup_exact(const golden *g) {
  size_t n = body_len(g);
  char *p = malloc(n ? n : 1);
  assert_non_null(p);
  memcpy(p, g->b, n);
  return p;
}

static void check_table(const golden *t, size_t n, int (*fn)(const char *, size_t, unsigned *),
                        const char *(*name)(int), int count) {
  int seen[32] = {0};
  assert_true(count <= 32);
  for (size_t i = 0; i < n; i++) {
    size_t len = body_len(&t[i]);
    char *b = dup_exact(&t[i]);
    unsigned fl = 0xdead;
    int cls = fn(b, len, &fl);
    if (cls != t[i].cls || fl != t[i].fl)
      fail_msg("\"%.*s\": %s flags %#x, want %s flags %#x", (int)len, t[i].b, name(cls), fl,
               name(t[i].cls), t[i].fl);
    assert_int_equal(fn(b, len, NULL), cls); /* flags are optional */
    assert_true(cls >= 0 && cls < count);
    seen[cls] = 1;
    free(b);
  }
  /* Every class is in the table. */
  for (int c = 0; c < count; c++)
    if (!seen[c])
      fail_msg("no golden entry for class %s", name(c));
}

static void classify_requests(void **state) {
  (void)state;
  check_table(requests, sizeof(requests) / sizeof(requests[0]), rsp_classify_request,
              rsp_req_class_name, RSP_REQ_COUNT);
}

static void classify_replies(void **state) {
  (void)state;
  check_table(replies, sizeof(replies) / sizeof(replies[0]), rsp_classify_reply,
              rsp_reply_class_name, RSP_REPLY_COUNT);
}

/* A body is classified by its own bytes: the same name cut short is
 * not the longer packet ("vCont" from "vCont;c", "qRcmd" from "qRcmd,"). */
static void classify_stops_at_len(void **state) {
  (void)state;
  assert_int_equal(rsp_classify_request("vCont;c", 5, NULL), RSP_REQ_UNKNOWN);
  assert_int_equal(rsp_classify_request("vCont;c", 6, NULL), RSP_REQ_RESUME);
  assert_int_equal(rsp_classify_request("qRcmd,", 5, NULL), RSP_REQ_QUERY);
  assert_int_equal(rsp_classify_request("bcx", 2, NULL), RSP_REQ_REVERSE);
  assert_int_equal(rsp_classify_request("vCtrlC;", 6, NULL), RSP_REQ_INTERRUPT);
  assert_int_equal(rsp_classify_request("c", 0, NULL), RSP_REQ_UNKNOWN);
  assert_int_equal(rsp_classify_reply("OKx", 2, NULL), RSP_REPLY_OK);
  assert_int_equal(rsp_classify_reply("O6869", 3, NULL), RSP_REPLY_CONSOLE);
  assert_int_equal(rsp_classify_reply("O6869", 4, NULL), RSP_REPLY_OTHER);
  assert_int_equal(rsp_classify_reply("T05x", 3, NULL), RSP_REPLY_STOP);
  assert_int_equal(rsp_classify_reply("NO", 1, NULL), RSP_REPLY_STOP);
}

/* Stop replies agree with rsp_parse_stop, console with its 'O' form. */
static void classify_agrees_with_parse_stop(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
    const char *b = replies[i].b;
    size_t len = body_len(&replies[i]);
    rsp_stop st;
    int cls = rsp_classify_reply(b, len, NULL);
    if (len && strchr("STWX", b[0]))
      assert_int_equal(cls == RSP_REPLY_STOP, rsp_parse_stop(b, len, &st) == 0);
    if (cls == RSP_REPLY_CONSOLE)
      assert_true(rsp_parse_stop(b, len, &st) == 0 && st.kind == 'O' && st.text_len > 0);
  }
}

static void class_names(void **state) {
  (void)state;
  for (int c = 0; c < RSP_REQ_COUNT; c++) {
    assert_string_not_equal(rsp_req_class_name(c), "?");
    for (int d = 0; d < c; d++)
      assert_string_not_equal(rsp_req_class_name(c), rsp_req_class_name(d));
  }
  for (int c = 0; c < RSP_REPLY_COUNT; c++) {
    assert_string_not_equal(rsp_reply_class_name(c), "?");
    for (int d = 0; d < c; d++)
      assert_string_not_equal(rsp_reply_class_name(c), rsp_reply_class_name(d));
  }
  assert_string_equal(rsp_req_class_name(RSP_REQ_RESUME), "resume");
  assert_string_equal(rsp_req_class_name(RSP_REQ_COUNT), "?");
  assert_string_equal(rsp_req_class_name(-1), "?");
  assert_string_equal(rsp_reply_class_name(RSP_REPLY_STOP), "stop");
  assert_string_equal(rsp_reply_class_name(RSP_REPLY_COUNT), "?");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(classify_requests),     cmocka_unit_test(classify_replies),
      cmocka_unit_test(classify_stops_at_len), cmocka_unit_test(classify_agrees_with_parse_stop),
      cmocka_unit_test(class_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
