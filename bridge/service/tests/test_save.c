/* test_save.c - `phys read PA LEN --file NAME`: the raw bytes into a new
 * file in --save-dir, against the simulated target (tests/sim.c).  A file
 * that exists holds all LEN bytes; nothing outside the directory, nothing
 * overwritten, no file left by a read that stopped. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"

static char dir[64];

static int setup_save(void **state) {
  snprintf(dir, sizeof(dir), "%s", "/tmp/test_save.XXXXXX");
  if (!mkdtemp(dir))
    return -1;
  svc_config cfg = {.cache_bytes = 1u << 20, .save_dir = dir};
  return fx_setup_cfg(state, &cfg);
}

static int teardown_save(void **state) {
  static const char *const names[] = {"a.bin", "big.bin", "j.bin", "cut.bin", "link", "w.bin"};
  char p[128];
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
    unlink(p);
  }
  rmdir(dir);
  return fx_teardown(state);
}

/* Runs a command; checks the reply and that QEMU's mode is back to virtual. */
static const char *run(fx *f, const char *cmd, const char *want_reply) {
  const char *out = fx_cmd(f, cmd, want_reply);
  assert_int_equal(f->t->phys_mode, 0);
  return out;
}

/* The file's bytes, or NULL when it does not exist; *n its size. */
static uint8_t *slurp(const char *name, size_t *n) {
  char p[128];
  snprintf(p, sizeof(p), "%s/%s", dir, name);
  FILE *fp = fopen(p, "rb");
  if (!fp)
    return NULL;
  uint8_t *buf = malloc(4u << 20);
  assert_non_null(buf);
  *n = fread(buf, 1, 4u << 20, fp);
  fclose(fp);
  return buf;
}

static void test_save(void **state) {
  fx *f = *state;
  char want[160];
  snprintf(want, sizeof(want), "0x20 bytes of PA 0x201980 saved in %s/a.bin", dir);
  fx_has(run(f, "phys read 0x201980 0x20 --file a.bin", "OK"), want);
  size_t n;
  uint8_t *b = slurp("a.bin", &n);
  assert_non_null(b);
  assert_int_equal(n, 0x20);
  assert_memory_equal(b, f->t->ram + 0x201980, 0x20);
  free(b);
  struct stat st;
  snprintf(want, sizeof(want), "%s/a.bin", dir);
  assert_int_equal(stat(want, &st), 0);
  assert_int_equal(st.st_mode & 077, 0); /* guest memory: the owner's only */

  /* Many chunks: the bytes in order, none twice. */
  fx_has(run(f, "phys read 0x100000 0x280010 --file big.bin", "OK"), "0x280010 bytes");
  b = slurp("big.bin", &n);
  assert_non_null(b);
  assert_int_equal(n, 0x280010);
  assert_memory_equal(b, f->t->ram + 0x100000, 0x280010);
  free(b);

  const char *o = run(f, "phys read 0x201980 0x20 --file j.bin --json", "OK");
  snprintf(want, sizeof(want), "{\"pa\":\"0x201980\",\"len\":\"0x20\",\"file\":\"%s/j.bin\"}", dir);
  fx_has(o, want);
}

static void test_save_refused(void **state) {
  fx *f = *state;
  /* An existing file is never overwritten, whatever it is. */
  run(f, "phys read 0x201980 0x10 --file a.bin", "OK");
  fx_has(run(f, "phys read 0x300000 0x10 --file a.bin", "E01"), "(files are never overwritten)");
  size_t n;
  uint8_t *b = slurp("a.bin", &n);
  assert_non_null(b);
  assert_memory_equal(b, f->t->ram + 0x201980, 0x10);
  free(b);
  char p[128];
  snprintf(p, sizeof(p), "%s/link", dir);
  assert_int_equal(symlink("/tmp/test_save_escape", p), 0);
  fx_has(run(f, "phys read 0x201980 0x10 --file link", "E01"), "never overwritten");
  assert_int_not_equal(access("/tmp/test_save_escape", F_OK), 0);
  /* Only plain names in the directory. */
  fx_has(run(f, "phys read 0x201980 0x10 --file ../x.bin", "E01"), "(no '/')");
  fx_has(run(f, "phys read 0x201980 0x10 --file /tmp/x.bin", "E01"), "(no '/')");
  fx_has(run(f, "phys read 0x201980 0x10 --file ..", "E01"), "a file name in");
  fx_has(run(f, "phys read 0x201980 0x10 --file", "E01"), "--file needs a file name");
  /* Options that make no sense with it, and --file elsewhere. */
  fx_has(run(f, "phys read 0x201980 0x10 --file w.bin --width 4", "E01"),
         "--width does not apply with --file");
  fx_has(run(f, "phys search 0x201980 0x10 41 --file w.bin", "E01"),
         "--file does not apply to `phys search`");
  fx_has(run(f, "phys read 0 0 --file w.bin", "E01"), "out of range");
  fx_has(run(f, "phys read 0xffffffffffffff00 0x200 --file w.bin", "E01"), "out of range");
  fx_has(run(f, "vtop 0x1000 --file w.bin", "E01"), "unknown option '--file'");
  assert_null(slurp("w.bin", &n));
}

/* A read that stops (the end of RAM, a target error) leaves no file. */
static void test_save_stopped(void **state) {
  fx *f = *state;
  const char *o = run(f, "phys read 0xff0000 0x20000 --file cut.bin", "E01");
  fx_has(o, "cut.bin not saved (removed): no physical page at 0x1000000");
  size_t n;
  assert_null(slurp("cut.bin", &n));
  f->t->fail_phys_read_at = f->t->phys_reads_seen + 2;
  svc_event(f->s, SVC_EV_RESUME);
  fx_has(run(f, "phys read 0x100000 0x100000 --file cut.bin", "E01"), "not saved (removed)");
  assert_null(slurp("cut.bin", &n));
  /* And the name is free again. */
  run(f, "phys read 0x100000 0x10 --file cut.bin", "OK");
}

/* Without --save-dir the bridge writes no file, and says how to allow it. */
static void test_save_off(void **state) {
  fx *f = *state;
  fx_has(run(f, "phys read 0x201980 0x10 --file a.bin", "E01"),
         "the bridge saves files only in the directory given with --save-dir DIR");
  fx_has(run(f, "help phys", "OK"), "--file NAME");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_save, setup_save, teardown_save),
      cmocka_unit_test_setup_teardown(test_save_refused, setup_save, teardown_save),
      cmocka_unit_test_setup_teardown(test_save_stopped, setup_save, teardown_save),
      cmocka_unit_test_setup_teardown(test_save_off, fx_setup, fx_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
