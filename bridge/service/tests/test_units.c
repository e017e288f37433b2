/* test_units.c - the service's building blocks: numbers, tokens, the LRU
 * cache, the target-description reader and the `info mtree -f` parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "svc_int.h"

static void test_numbers(void **state) {
  (void)state;
  uint64_t v;
  assert_int_equal(svc__parse_num("0x1a3f000", &v), 0);
  assert_int_equal(v, 0x1a3f000);
  assert_int_equal(svc__parse_num("ffff8000`00001000", &v), 0);
  assert_int_equal(v, 0xffff800000001000ull);
  assert_int_equal(svc__parse_num("FFFFFFFFFFFFFFFF", &v), 0);
  assert_int_equal(v, ~0ull);
  assert_int_equal(svc__parse_num("10000000000000000", &v), -1); /* 65 bits */
  assert_int_equal(svc__parse_num("0x", &v), -1);
  assert_int_equal(svc__parse_num("12g", &v), -1);
  assert_int_equal(svc__parse_num("", &v), -1);
  assert_int_equal(svc__parse_num("`1", &v), -1);
  uint8_t b[4];
  assert_int_equal(svc__parse_bytes("deadbeef", b, 4), 4);
  assert_int_equal(b[0], 0xde);
  assert_int_equal(b[3], 0xef);
  assert_int_equal(svc__parse_bytes("deadbeef00", b, 4), -1); /* too long */
  assert_int_equal(svc__parse_bytes("abc", b, 4), -1);        /* odd digits */
  assert_int_equal(svc__parse_bytes("zz", b, 4), -1);
}

static void test_split(void **state) {
  (void)state;
  svc_args a;
  assert_int_equal(svc__split(&a, "  vtop  0x1000 --json\n", 22), 3);
  assert_string_equal(a.tok[0], "vtop");
  assert_string_equal(a.tok[2], "--json");
  char many[200];
  memset(many, 0, sizeof(many));
  for (int i = 0; i < 30; i++)
    strcat(many, "a ");
  assert_int_equal(svc__split(&a, many, strlen(many)), -2);
  char big[3000];
  memset(big, 'x', sizeof(big));
  assert_int_equal(svc__split(&a, big, sizeof(big)), -1);
}

static void test_cache_lru(void **state) {
  (void)state;
  svc_cache c;
  assert_int_equal(svc__cache_init(&c, 3 * SVC_CPAGE), 0);
  uint8_t d[SVC_CPAGE];
  for (int i = 0; i < 4; i++) {
    memset(d, i + 1, sizeof(d));
    svc__cache_put(&c, SVC_AS_PHYS, (uint64_t)i * SVC_CPAGE, d);
    if (i == 1) /* touch unit 0: unit 1 becomes the oldest */
      assert_non_null(svc__cache_get(&c, SVC_AS_PHYS, 0));
  }
  assert_int_equal(c.n, 3);
  assert_int_equal(c.evictions, 1);
  assert_null(svc__cache_get(&c, SVC_AS_PHYS, SVC_CPAGE)); /* evicted */
  const uint8_t *p = svc__cache_get(&c, SVC_AS_PHYS, 0);
  assert_non_null(p);
  assert_int_equal(p[5], 1);
  /* Same address, other address space: a different unit. */
  assert_null(svc__cache_get(&c, SVC_AS_VIRT(7), 0));
  /* Update across a unit boundary. */
  uint8_t w[4] = {9, 9, 9, 9};
  svc__cache_update(&c, SVC_AS_PHYS, 3 * SVC_CPAGE - 2, w, 4);
  p = svc__cache_get(&c, SVC_AS_PHYS, 2 * SVC_CPAGE);
  assert_int_equal(p[SVC_CPAGE - 1], 9);
  assert_int_equal(p[SVC_CPAGE - 3], 3);
  p = svc__cache_get(&c, SVC_AS_PHYS, 3 * SVC_CPAGE);
  assert_int_equal(p[0], 9);
  assert_int_equal(p[2], 4);
  /* Flush all but the written range. */
  svc__cache_flush_except(&c, SVC_AS_PHYS, 3 * SVC_CPAGE, 3 * SVC_CPAGE + 1);
  assert_int_equal(c.n, 1);
  assert_non_null(svc__cache_get(&c, SVC_AS_PHYS, 3 * SVC_CPAGE));
  svc__cache_flush(&c);
  assert_int_equal(c.n, 0);
  svc__cache_free(&c);
  /* A zero-sized cache stores nothing. */
  assert_int_equal(svc__cache_init(&c, 0), 0);
  svc__cache_put(&c, SVC_AS_PHYS, 0, d);
  assert_null(svc__cache_get(&c, SVC_AS_PHYS, 0));
  svc__cache_free(&c);
}

static const char inc_a[] = "<feature name=\"a\"><reg name=\"x0\" bitsize=\"64\"/>"
                            "<reg name=\"x1\" bitsize=\"64\"/></feature>";
static const char inc_b[] = "<feature name=\"b\"><reg name=\"SCTLR\" bitsize=\"64\" regnum=\"90\"/>"
                            "<reg name=\"TTBR0_EL1\" bitsize=\"64\"/></feature>";
static int fetched;
static int fetch(void *arg, const char *annex, char **xml, size_t *len) {
  (void)arg;
  const char *d = !strcmp(annex, "a.xml") ? inc_a : !strcmp(annex, "b.xml") ? inc_b : NULL;
  if (!strcmp(annex, "self.xml"))
    d = "<target><xi:include href=\"self.xml\"/></target>"; /* endless recursion */
  if (!d)
    return -1;
  fetched++;
  *len = strlen(d);
  *xml = malloc(*len);
  memcpy(*xml, d, *len);
  return 0;
}

static void test_tdesc(void **state) {
  (void)state;
  svc_tdesc t;
  memset(&t, 0, sizeof(t));
  const char *x = "<?xml version=\"1.0\"?><!DOCTYPE target SYSTEM \"gdb-target.dtd\">"
                  "<target><architecture> aarch64 </architecture>"
                  "<xi:include href=\"a.xml\"/><xi:include href=\"b.xml\"/>"
                  "<feature name=\"c\"><reg name=\"cpsr\" bitsize=\"32\"/></feature></target>";
  fetched = 0;
  assert_int_equal(svc__tdesc_parse(&t, x, strlen(x), fetch, NULL), 0);
  assert_int_equal(fetched, 2);
  assert_int_equal(t.arch, SVC_ARCH_AARCH64);
  assert_string_equal(t.arch_name, "aarch64");
  assert_int_equal(svc__tdesc_find(&t, "x1")->num, 1);
  assert_int_equal(svc__tdesc_find(&t, "SCTLR")->num, 90);
  assert_int_equal(svc__tdesc_find(&t, "TTBR0_EL1")->num, 91);
  assert_int_equal(svc__tdesc_find(&t, "cpsr")->num, 92);
  assert_int_equal(svc__tdesc_find(&t, "cpsr")->bits, 32);
  assert_null(svc__tdesc_find(&t, "cr3"));
  svc__tdesc_free(&t);
  /* A missing include, endless recursion, broken XML, a reg without size. */
  const char *bad[] = {"<target><xi:include href=\"nope.xml\"/></target>",
                       "<target><xi:include href=\"self.xml\"/></target>", "<target><reg",
                       "<target><feature><reg name=\"a\"/></feature></target>",
                       ("<target><feature><reg name=\"a\" bitsize=\"8\" regnum=\"-3\"/>"
                        "</feature></target>")};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    memset(&t, 0, sizeof(t));
    assert_int_not_equal(svc__tdesc_parse(&t, bad[i], strlen(bad[i]), fetch, NULL), 0);
    svc__tdesc_free(&t);
  }
}

static void test_mtree(void **state) {
  (void)state;
  const char *m = "FlatView #0\n AS \"cpu-smm-0\", root: memory\n Root memory region: memory\n"
                  "  0000000000000000-00000000ffffffff (prio 0, ram): smram\n\n"
                  "FlatView #1\n AS \"memory\", root: system\n AS \"cpu-memory-0\", root: system\n"
                  " Root memory region: system\n"
                  "  0000000000000000-000000000009ffff (prio 0, ram): pc.ram\n"
                  "  00000000000c0000-00000000000dffff (prio 1, rom): pc.rom\n"
                  "  0000000000000000-0000000003ffffff (prio 0, romd): flash\n"
                  "  00000000fec00000-00000000fec00fff (prio 0, i/o): ioapic\n"
                  "\nFlatView #2\n AS \"I/O\", root: io\n"
                  "  0000000000000000-0000000000000007 (prio 0, i/o): dma-chan\n";
  svc_region *r = NULL;
  int n = 0;
  assert_int_equal(svc__ram_parse(m, strlen(m), &r, &n), 0);
  assert_int_equal(n, 4);
  assert_int_equal(r[0].hi, 0x9ffff);
  assert_int_equal(r[0].kind, 'r');
  assert_string_equal(r[0].name, "pc.ram");
  assert_int_equal(r[1].kind, 'r');
  assert_int_equal(r[2].kind, 'r');
  assert_int_equal(r[3].kind, 'i');
  assert_int_equal(r[3].lo, 0xfec00000);
  free(r);
  const char *none = "FlatView #0\n AS \"I/O\", root: io\n  0-7 (prio 0, i/o): x\n";
  r = NULL;
  assert_int_equal(svc__ram_parse(none, strlen(none), &r, &n), -1);
  assert_int_equal(svc__ram_parse("", 0, &r, &n), -1);
}

/* The text buffer: printf past the room there is, escapes in JSON strings. */
static void test_sb(void **state) {
  (void)state;
  svc_sb b;
  svc__sb_init(&b);
  svc__sb_printf(&b, "%s", "");
  assert_int_equal(b.len, 0);
  for (int i = 0; i < 100; i++) /* grows across many sizes */
    svc__sb_printf(&b, "%d:%s,", i, i % 7 ? "x" : "a longer piece of text");
  assert_int_equal(b.len, strlen(b.p));
  assert_memory_equal(b.p, "0:a longer piece of text,1:x,", 29);
  assert_non_null(strstr(b.p, ",99:x,"));
  b.len = 0;
  static const char in[] = "plain \"q\" back\\slash \x01\x1f\x7f\xff end";
  svc__sb_json_str(&b, in, sizeof(in) - 1);
  assert_string_equal(b.p, "\"plain \\\"q\\\" back\\\\slash \\u0001\\u001f\\u007f\\u00ff end\"");
  b.len = 0;
  svc__sb_json_str(&b, "", 0);
  svc__sb_json_str(&b, "\"", 1);
  assert_string_equal(b.p, "\"\"\"\\\"\"");
  svc__sb_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_numbers),   cmocka_unit_test(test_split),
      cmocka_unit_test(test_cache_lru), cmocka_unit_test(test_tdesc),
      cmocka_unit_test(test_mtree),     cmocka_unit_test(test_sb),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
