/* test_cmd.c - command helpers: m, M, X, p, P, qRcmd, O, qSupported, qXfer,
 * thread ids, vCont, stop replies and error replies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rsp.h"

#define S(lit) lit, (sizeof(lit) - 1)

/* Every formatter must fail cleanly with every capacity below the size it
 * needs, and write nothing past cap (checked with an exact heap buffer). */
#define CHECK_CAPACITY(want, call_with_out_cap) \
  do {                                          \
    size_t need_ = strlen(want);                \
    for (size_t cap = 0; cap <= need_; cap++) { \
      char *out = malloc(cap ? cap : 1);        \
      assert_non_null(out);                     \
      int rc_ = (call_with_out_cap);            \
      if (cap < need_) {                        \
        assert_int_equal(rc_, RSP_ENOBUFS);     \
      } else {                                  \
        assert_int_equal(rc_, (int)need_);      \
        assert_memory_equal(out, want, need_);  \
      }                                         \
      free(out);                                \
    }                                           \
  } while (0)

static void cmd_m(void **state) {
  (void)state;
  uint64_t a, n;
  assert_int_equal(rsp_parse_m(S("m1000,4"), &a, &n), 0);
  assert_true(a == 0x1000 && n == 4);
  assert_int_equal(rsp_parse_m(S("mffffffffffffffff,FFFF"), &a, &n), 0);
  assert_true(a == UINT64_MAX && n == 0xffff);
  assert_int_equal(rsp_parse_m(S("m1000"), &a, &n), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_m(S("m1000,"), &a, &n), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_m(S("m,4"), &a, &n), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_m(S("m1000,4x"), &a, &n), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_m(S("M1000,4"), &a, &n), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_m(S("m10000000000000000,4"), &a, &n), RSP_ERANGE);
  /* Stops at len: "m1000," has no length. */
  assert_int_equal(rsp_parse_m("m1000,4", 6, &a, &n), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_m("", 0, &a, &n), RSP_ESYNTAX);
  CHECK_CAPACITY("mffff800000001000,800", rsp_format_m(out, cap, 0xffff800000001000u, 0x800));
}

static void cmd_M(void **state) {
  (void)state;
  uint64_t a, n;
  uint8_t buf[4];
  assert_int_equal(rsp_parse_M(S("M10,4:deadBEEF"), &a, &n, buf, sizeof(buf)), 0);
  assert_true(a == 0x10 && n == 4);
  assert_memory_equal(buf, "\xde\xad\xbe\xef", 4);
  assert_int_equal(rsp_parse_M(S("M10,0:"), &a, &n, buf, 0), 0);
  assert_true(n == 0);
  assert_int_equal(rsp_parse_M(S("M10,4:deadbeef"), &a, &n, buf, 3), RSP_ENOBUFS);
  assert_int_equal(rsp_parse_M(S("M10,4:deadbe"), &a, &n, buf, 4), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_M(S("M10,4:deadbeef00"), &a, &n, buf, 4), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_M(S("M10,4:deadbeeg"), &a, &n, buf, 4), RSP_EBADHEX);
  assert_int_equal(rsp_parse_M(S("M10,4deadbeef"), &a, &n, buf, 4), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_M(S("M10,3:deadbee"), &a, &n, buf, 4), RSP_ESYNTAX);
  CHECK_CAPACITY("M1000,3:00ff7f", rsp_format_M(out, cap, 0x1000, "\x00\xff\x7f", 3));
}

static char got[64];
static size_t got_len;
static int keep(rsp_parser *p, const char *at, size_t len) {
  (void)p;
  assert_true(len <= sizeof(got));
  memcpy(got, at, len);
  got_len = len;
  return 0;
}
static const rsp_parser_settings keep_settings = {.on_packet = keep};

static void cmd_X(void **state) {
  (void)state;
  uint64_t a, n;
  const char *d;
  assert_int_equal(rsp_parse_X(S("X20,3:#$\x00"), &a, &n, &d), 0);
  assert_true(a == 0x20 && n == 3);
  assert_memory_equal(d, "#$\x00", 3);
  assert_int_equal(rsp_parse_X(S("X20,0:"), &a, &n, &d), 0); /* GDB's probe */
  assert_true(n == 0);
  assert_int_equal(rsp_parse_X(S("X20,3:ab"), &a, &n, &d), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_X(S("X20,3:abcd"), &a, &n, &d), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_X(S("X20,3"), &a, &n, &d), RSP_ESYNTAX);
  CHECK_CAPACITY("X20,3:}#\x01", rsp_format_X(out, cap, 0x20, "}#\x01", 3));
  /* Formatted then framed then parsed then decoded: the binary survives. */
  char body[32], frame[80];
  int bl = rsp_format_X(body, sizeof(body), 0x20, "}#$*\x00\x03", 6);
  assert_true(bl > 0);
  int fl = rsp_encode(frame, sizeof(frame), body, (size_t)bl, RSP_ENC_RLE);
  assert_true(fl > 0);
  assert_null(memchr(frame + 1, '#', (size_t)fl - 4));
  char pbody[32];
  rsp_parser p;
  rsp_parser_init(&p, pbody, sizeof(pbody));
  got_len = 0;
  assert_int_equal(rsp_parser_execute(&p, &keep_settings, frame, (size_t)fl), (size_t)fl);
  assert_int_equal(got_len, bl);
  assert_int_equal(rsp_parse_X(got, got_len, &a, &n, &d), 0);
  assert_true(a == 0x20 && n == 6);
  assert_memory_equal(d, "}#$*\x00\x03", 6);
}

static void cmd_p_P(void **state) {
  (void)state;
  uint64_t r;
  uint8_t buf[8];
  size_t vl;
  assert_int_equal(rsp_parse_p(S("p1a"), &r), 0);
  assert_true(r == 0x1a);
  assert_int_equal(rsp_parse_p(S("p"), &r), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_p(S("p1a;"), &r), RSP_ESYNTAX);
  CHECK_CAPACITY("p10", rsp_format_p(out, cap, 16));
  assert_int_equal(rsp_parse_P(S("P10=0123456789abcdef"), &r, buf, 8, &vl), 0);
  assert_true(r == 0x10 && vl == 8);
  assert_memory_equal(buf, "\x01\x23\x45\x67\x89\xab\xcd\xef", 8);
  assert_int_equal(rsp_parse_P(S("P10=0123456789abcdef"), &r, buf, 7, &vl), RSP_ENOBUFS);
  assert_int_equal(rsp_parse_P(S("P10=012"), &r, buf, 8, &vl), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_P(S("P10=xx"), &r, buf, 8, &vl), RSP_EBADHEX);
  assert_int_equal(rsp_parse_P(S("P10"), &r, buf, 8, &vl), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_P(S("P=00"), &r, buf, 8, &vl), RSP_ESYNTAX);
  CHECK_CAPACITY("P8=efbeadde", rsp_format_P(out, cap, 8, "\xef\xbe\xad\xde", 4));
}

static void cmd_qrcmd_and_O(void **state) {
  (void)state;
  char buf[16];
  assert_int_equal(rsp_parse_qrcmd(S("qRcmd,76746f70"), buf, sizeof(buf)), 4);
  assert_memory_equal(buf, "vtop", 4);
  assert_int_equal(rsp_parse_qrcmd(S("qRcmd,"), buf, sizeof(buf)), 0);
  assert_int_equal(rsp_parse_qrcmd(S("qRcmd,76746f70"), buf, 3), RSP_ENOBUFS);
  assert_int_equal(rsp_parse_qrcmd(S("qRcmd,7674z"), buf, sizeof(buf)), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_qrcmd(S("qRcmd,767z"), buf, sizeof(buf)), RSP_EBADHEX);
  assert_int_equal(rsp_parse_qrcmd(S("qRcmd"), buf, sizeof(buf)), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_qrcmd(S("qRcmX,00"), buf, sizeof(buf)), RSP_ESYNTAX);
  CHECK_CAPACITY("qRcmd,68656c70", rsp_format_qrcmd(out, cap, "help", 4));
  CHECK_CAPACITY("O6f6b0a", rsp_format_O(out, cap, "ok\n", 3));
  rsp_stop s;
  assert_int_equal(rsp_parse_stop(S("O6f6b0a"), &s), 0);
  assert_int_equal(s.kind, 'O');
  assert_int_equal(s.text_len, 6);
  assert_memory_equal(s.text, "6f6b0a", 6);
  assert_int_equal(rsp_parse_stop(S("O6f6"), &s), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_stop(S("O6x"), &s), RSP_EBADHEX);
}

static void cmd_features(void **state) {
  (void)state;
  const char list[] = "PacketSize=1000;qXfer:features:read+;multiprocess-;swbreak?;"
                      "xmlRegisters=i386,arm;vContSupported+";
  rsp_feature_iter it;
  rsp_feature f;
  rsp_features_begin(&it, list, sizeof(list) - 1);
  static const struct {
    const char *name, *value;
    char kind;
  } want[] = {
      {"PacketSize", "1000", '='},       {"qXfer:features:read", NULL, '+'},
      {"multiprocess", NULL, '-'},       {"swbreak", NULL, '?'},
      {"xmlRegisters", "i386,arm", '='}, {"vContSupported", NULL, '+'},
  };
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
    assert_int_equal(rsp_features_next(&it, &f), 1);
    assert_int_equal(f.kind, want[i].kind);
    assert_int_equal(f.name_len, strlen(want[i].name));
    assert_memory_equal(f.name, want[i].name, f.name_len);
    if (want[i].value) {
      assert_int_equal(f.value_len, strlen(want[i].value));
      assert_memory_equal(f.value, want[i].value, f.value_len);
    }
  }
  assert_int_equal(rsp_features_next(&it, &f), 0);
  assert_int_equal(rsp_features_next(&it, &f), 0);

  assert_int_equal(rsp_features_find(list, sizeof(list) - 1, "swbreak", &f), 1);
  assert_int_equal(f.kind, '?');
  assert_int_equal(rsp_features_find(list, sizeof(list) - 1, "swbrea", &f), 0);
  assert_int_equal(rsp_features_find(list, sizeof(list) - 1, "PacketSize", NULL), 1);
  assert_int_equal(rsp_features_find("", 0, "x", &f), 0);

  /* Malformed items: no marker, empty item, empty name. */
  const char *bad[] = {"abc", "a+;;b+", "=1", "+", "a+;b"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int rc;
    rsp_features_begin(&it, bad[i], strlen(bad[i]));
    while ((rc = rsp_features_next(&it, &f)) == 1)
      ;
    assert_int_equal(rc, RSP_ESYNTAX);
  }
  assert_int_equal(rsp_features_find(S("a+;;b+"), "b", &f), RSP_ESYNTAX);
  /* A trailing ';' ends the list without an empty item. */
  rsp_features_begin(&it, S("a+;"));
  assert_int_equal(rsp_features_next(&it, &f), 1);
  assert_int_equal(rsp_features_next(&it, &f), 0);
}

static void cmd_qxfer(void **state) {
  (void)state;
  rsp_qxfer x;
  assert_int_equal(rsp_parse_qxfer_read(S("qXfer:features:read:target.xml:0,ffb"), &x), 0);
  assert_int_equal(x.object_len, 8);
  assert_memory_equal(x.object, "features", 8);
  assert_int_equal(x.annex_len, 10);
  assert_memory_equal(x.annex, "target.xml", 10);
  assert_true(x.offset == 0 && x.length == 0xffb);
  assert_int_equal(rsp_parse_qxfer_read(S("qXfer:auxv:read::10,20"), &x), 0);
  assert_int_equal(x.annex_len, 0);
  assert_true(x.offset == 0x10 && x.length == 0x20);
  assert_int_equal(rsp_parse_qxfer_read(S("qXfer:features:write:a:0,1"), &x), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_qxfer_read(S("qXfer::read:a:0,1"), &x), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_qxfer_read(S("qXfer:features:read:a"), &x), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_qxfer_read(S("qXfer:features:read:a:0"), &x), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_qxfer_read(S("qXfer:features:read:a:0,1;"), &x), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_qxfer_read(S("qXfer:features"), &x), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_qxfer_read(S("qXfe"), &x), RSP_ESYNTAX);
  CHECK_CAPACITY("qXfer:features:read:target.xml:7ff,800",
                 rsp_format_qxfer_read(out, cap, "features", "target.xml", 0x7ff, 0x800));
  CHECK_CAPACITY("qXfer:auxv:read::0,100", rsp_format_qxfer_read(out, cap, "auxv", NULL, 0, 0x100));
  char o[64];
  assert_int_equal(rsp_format_qxfer_read(o, sizeof(o), "a:b", "x", 0, 1), RSP_EINVAL);
  assert_int_equal(rsp_format_qxfer_read(o, sizeof(o), "a", "x:y", 0, 1), RSP_EINVAL);
  assert_int_equal(rsp_format_qxfer_read(o, sizeof(o), "", "x", 0, 1), RSP_EINVAL);

  int more;
  const char *d;
  size_t dl;
  assert_int_equal(rsp_parse_qxfer_reply(S("m<?xml"), &more, &d, &dl), 0);
  assert_true(more == 1 && dl == 5 && memcmp(d, "<?xml", 5) == 0);
  assert_int_equal(rsp_parse_qxfer_reply(S("l"), &more, &d, &dl), 0);
  assert_true(more == 0 && dl == 0);
  assert_int_equal(rsp_parse_qxfer_reply(S("E01"), &more, &d, &dl), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_qxfer_reply("", 0, &more, &d, &dl), RSP_ESYNTAX);
  CHECK_CAPACITY("l</t>", rsp_format_qxfer_reply(out, cap, 0, "</t>", 4));
  CHECK_CAPACITY("m#$", rsp_format_qxfer_reply(out, cap, 1, "#$", 2));
}

static void cmd_tid(void **state) {
  (void)state;
  static const struct {
    const char *in;
    int rc;
    int64_t pid, tid;
    size_t used;
  } t[] = {
      {"1", 0, 0, 1, 1},
      {"-1", 0, 0, -1, 2},
      {"0", 0, 0, 0, 1},
      {"p1.2", 0, 1, 2, 4},
      {"p1f.-1", 0, 0x1f, -1, 6},
      {"p-1.-1", 0, -1, -1, 6},
      {"p10", 0, 0x10, -1, 3},
      {"p1.", RSP_ESYNTAX, 0, 0, 0},
      {"p", RSP_ESYNTAX, 0, 0, 0},
      {"", RSP_ESYNTAX, 0, 0, 0},
      {"x", RSP_ESYNTAX, 0, 0, 0},
      {"8000000000000000", RSP_ERANGE, 0, 0, 0},
      {"7fffffffffffffff;", 0, 0, INT64_MAX, 16},
  };
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    const char *p = t[i].in, *end = p + strlen(p);
    rsp_tid id = {42, 42};
    int rc = rsp_parse_tid(&p, end, &id);
    if (rc != t[i].rc)
      fail_msg("tid \"%s\": rc %d, want %d", t[i].in, rc, t[i].rc);
    if (rc == 0) {
      assert_true(id.pid == t[i].pid);
      assert_true(id.tid == t[i].tid);
      assert_int_equal((size_t)(p - t[i].in), t[i].used);
    } else {
      assert_ptr_equal(p, t[i].in);
    }
  }
  rsp_tid a = {0x1f, 0x2a}, all = {-1, -1};
  CHECK_CAPACITY("p1f.2a", rsp_format_tid(out, cap, a, 1));
  CHECK_CAPACITY("2a", rsp_format_tid(out, cap, a, 0));
  CHECK_CAPACITY("p-1.-1", rsp_format_tid(out, cap, all, 1));
}

static void cmd_vcont(void **state) {
  (void)state;
  rsp_vcont_iter it;
  rsp_vcont_action a;
  const char b[] = "vCont;s:p1.2;C0b:3;r1000,2000:p1.-1;S05;t;c";
  assert_int_equal(rsp_vcont_begin(&it, b, sizeof(b) - 1), 0);
  assert_int_equal(rsp_vcont_next(&it, &a), 1);
  assert_int_equal(a.action, 's');
  assert_true(a.has_tid && a.tid.pid == 1 && a.tid.tid == 2);
  assert_int_equal(rsp_vcont_next(&it, &a), 1);
  assert_int_equal(a.action, 'C');
  assert_int_equal(a.sig, 0x0b);
  assert_true(a.has_tid && a.tid.pid == 0 && a.tid.tid == 3);
  assert_int_equal(rsp_vcont_next(&it, &a), 1);
  assert_int_equal(a.action, 'r');
  assert_true(a.lo == 0x1000 && a.hi == 0x2000);
  assert_true(a.has_tid && a.tid.pid == 1 && a.tid.tid == -1);
  assert_int_equal(rsp_vcont_next(&it, &a), 1);
  assert_int_equal(a.action, 'S');
  assert_int_equal(a.sig, 5);
  assert_false(a.has_tid);
  assert_int_equal(rsp_vcont_next(&it, &a), 1);
  assert_int_equal(a.action, 't');
  assert_int_equal(rsp_vcont_next(&it, &a), 1);
  assert_int_equal(a.action, 'c');
  assert_false(a.has_tid);
  assert_int_equal(rsp_vcont_next(&it, &a), 0);

  assert_int_equal(rsp_vcont_begin(&it, S("vCont?")), RSP_ESYNTAX);
  assert_int_equal(rsp_vcont_begin(&it, S("vCont")), RSP_ESYNTAX);
  const char *bad[] = {"vCont;",   "vCont;x",     "vCont;C5", "vCont;Cxx",     "vCont;c:",
                       "vCont;cc", "vCont;r1000", "vCont;c;", "vCont;s:p1.2x", "vCont;c;;s"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int rc;
    assert_int_equal(rsp_vcont_begin(&it, bad[i], strlen(bad[i])), 0);
    while ((rc = rsp_vcont_next(&it, &a)) == 1)
      ;
    if (rc != RSP_ESYNTAX)
      fail_msg("\"%s\" accepted", bad[i]);
    assert_int_equal(rsp_vcont_next(&it, &a), 0); /* stays stopped */
  }
}

static void cmd_stop(void **state) {
  (void)state;
  rsp_stop s;
  assert_int_equal(rsp_parse_stop(S("S05"), &s), 0);
  assert_true(s.kind == 'S' && s.sig == 5);
  assert_int_equal(rsp_parse_stop(S("S5"), &s), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_stop(S("S055"), &s), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_stop(S("W00"), &s), 0);
  assert_true(s.kind == 'W' && s.sig == 0 && !s.has_pid);
  assert_int_equal(rsp_parse_stop(S("W01;process:1a"), &s), 0);
  assert_true(s.kind == 'W' && s.sig == 1 && s.has_pid && s.pid == 0x1a);
  assert_int_equal(rsp_parse_stop(S("X09;process:2"), &s), 0);
  assert_true(s.kind == 'X' && s.sig == 9 && s.has_pid && s.pid == 2);
  assert_int_equal(rsp_parse_stop(S("X09;proc:2"), &s), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_stop(S("X09;process:"), &s), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_stop(S("Q05"), &s), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_stop("", 0, &s), RSP_ESYNTAX);

  const char t[] = "T05thread:p1.2;06:0010000000000000;swbreak:;core:0;";
  assert_int_equal(rsp_parse_stop(t, sizeof(t) - 1, &s), 0);
  assert_true(s.kind == 'T' && s.sig == 5);
  assert_true(s.has_thread && s.thread.pid == 1 && s.thread.tid == 2);
  static const char *keys[] = {"thread", "06", "swbreak", "core"};
  static const char *vals[] = {"p1.2", "0010000000000000", "", "0"};
  size_t pos = 0;
  rsp_pair kv;
  for (int i = 0; i < 4; i++) {
    assert_int_equal(rsp_stop_next_pair(&s, &pos, &kv), 1);
    assert_int_equal(kv.key_len, strlen(keys[i]));
    assert_memory_equal(kv.key, keys[i], kv.key_len);
    assert_int_equal(kv.value_len, strlen(vals[i]));
    assert_memory_equal(kv.value, vals[i], kv.value_len);
  }
  assert_int_equal(rsp_stop_next_pair(&s, &pos, &kv), 0);
  assert_int_equal(rsp_parse_stop(S("T05thread:1"), &s), 0); /* no final ';' */
  assert_true(s.has_thread && s.thread.pid == 0 && s.thread.tid == 1);
  assert_int_equal(rsp_parse_stop(S("T05"), &s), 0);
  assert_false(s.has_thread);
  assert_int_equal(rsp_parse_stop(S("T05thread:xx;"), &s), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_stop(S("T05thread:1x;"), &s), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_stop(S("T05abc;"), &s), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_stop(S("T05:1;"), &s), RSP_ESYNTAX);
  assert_int_equal(rsp_parse_stop(S("T5"), &s), RSP_ESYNTAX);

  CHECK_CAPACITY("S0b", rsp_format_stop_S(out, cap, 11));
  CHECK_CAPACITY("W00", rsp_format_stop_W(out, cap, 0));
  CHECK_CAPACITY("X09", rsp_format_stop_X(out, cap, 9));
  rsp_tid th = {3, 0x1c};
  CHECK_CAPACITY("T05thread:p3.1c;06:00;", rsp_format_stop_T(out, cap, 5, &th, 1, "06:00;", 6));
  CHECK_CAPACITY("T02thread:1c;", rsp_format_stop_T(out, cap, 2, &th, 0, NULL, 0));
  CHECK_CAPACITY("T02", rsp_format_stop_T(out, cap, 2, NULL, 0, NULL, 0));
  /* Formatted T replies parse back. */
  char o[64];
  int n = rsp_format_stop_T(o, sizeof(o), 0x13, &th, 1, "swbreak:;", 9);
  assert_int_equal(rsp_parse_stop(o, (size_t)n, &s), 0);
  assert_true(s.sig == 0x13 && s.has_thread && s.thread.pid == 3 && s.thread.tid == 0x1c);
}

static void cmd_errors(void **state) {
  (void)state;
  int code;
  const char *msg;
  size_t ml;
  CHECK_CAPACITY("E0e", rsp_format_error(out, cap, 14));
  CHECK_CAPACITY("Eff", rsp_format_error(out, cap, 255));
  CHECK_CAPACITY("E.not mapped", rsp_format_error_msg(out, cap, "not mapped", 10));
  assert_int_equal(rsp_parse_error(S("E0e"), &code, &msg, &ml), 1);
  assert_int_equal(code, 14);
  assert_int_equal(rsp_parse_error(S("EFF"), &code, &msg, &ml), 1);
  assert_int_equal(code, 255);
  assert_int_equal(rsp_parse_error(S("E.no such page"), &code, &msg, &ml), 1);
  assert_int_equal(code, -1);
  assert_int_equal(ml, 12);
  assert_memory_equal(msg, "no such page", 12);
  assert_int_equal(rsp_parse_error(S("E."), &code, &msg, &ml), 1);
  assert_int_equal(ml, 0);
  assert_int_equal(rsp_parse_error(S("E1"), &code, &msg, &ml), 0);
  assert_int_equal(rsp_parse_error(S("E123"), &code, &msg, &ml), 0);
  assert_int_equal(rsp_parse_error(S("Exx"), &code, &msg, &ml), 0);
  assert_int_equal(rsp_parse_error(S("OK"), &code, &msg, &ml), 0);
  assert_int_equal(rsp_parse_error("", 0, &code, &msg, &ml), 0);
}

static void cmd_prefix(void **state) {
  (void)state;
  assert_true(rsp_has_prefix(S("qSupported:xml"), "qSupported"));
  assert_true(rsp_has_prefix(S("q"), ""));
  assert_false(rsp_has_prefix(S("qSup"), "qSupported"));
  assert_false(rsp_has_prefix("qSupported", 4, "qSupported"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(cmd_m),           cmocka_unit_test(cmd_M),
      cmocka_unit_test(cmd_X),           cmocka_unit_test(cmd_p_P),
      cmocka_unit_test(cmd_qrcmd_and_O), cmocka_unit_test(cmd_features),
      cmocka_unit_test(cmd_qxfer),       cmocka_unit_test(cmd_tid),
      cmocka_unit_test(cmd_vcont),       cmocka_unit_test(cmd_stop),
      cmocka_unit_test(cmd_errors),      cmocka_unit_test(cmd_prefix),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
