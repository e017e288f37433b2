/* test_trust.c - the service never serves wrong data nor leaves the target
 * changed (issues 12 and 13), against the simulated QEMU (tests/sim.c):
 * the client's own physical mode, reconnects, contexts ending with their
 * client, detach, failed transactions, the monitor policy, visible bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rsp.h"
#include "fixture.h"

static int setup_nocache(void **state) {
  svc_config cfg = {.cache_bytes = 0}; /* no cache */
  return fx_setup_cfg(state, &cfg);
}

static int setup_monnone(void **state) {
  svc_config cfg = {.cache_bytes = 1u << 20, .monitor_policy = SVC_MON_NONE};
  return fx_setup_cfg(state, &cfg);
}

static void hex_of(const uint8_t *p, size_t n, char *out) {
  rsp_hex_encode(out, 2 * n + 1, p, n);
  out[2 * n] = 0;
}

/* The client's own Qqemu.PhyMemMode: reads in each mode give that mode's
 * bytes with the cache on, and the bridge's commands leave the client's
 * mode in place. */
static void test_client_mode(void **state) {
  fx *f = *state;
  char virt[0x41], phys[0x41];
  /* SIM_KVA maps PA SIM_KPA; PA SIM_KVA & 0xffffff... use a VA that is also
   * a RAM PA with other bytes: 0x400000 is the user page (-> 0x300000). */
  hex_of(f->t->ram + SIM_UPA, 0x20, virt);
  hex_of(f->t->ram + 0x400000, 0x20, phys);
  assert_string_not_equal(virt, phys);
  assert_string_equal(fx_mread(f, SIM_UVA, 0x20), virt); /* cached as virtual */
  assert_string_equal(sim_packet(f->t, f->s, "Qqemu.PhyMemMode:1"), "OK");
  assert_int_equal(f->t->phys_mode, 1);
  assert_string_equal(fx_mread(f, SIM_UVA, 0x20), phys); /* not the cached virtual bytes */
  assert_string_equal(fx_mread(f, SIM_UVA, 0x20), phys);
  /* A bridge command switches for itself and gives the client its mode back. */
  fx_has(fx_cmd(f, "vtop 0xffff800000001980", "OK"), "-> 0x201980");
  assert_int_equal(f->t->phys_mode, 1);
  fx_has(fx_cmd(f, "phys read 0x300000 0x10", "OK"), "0000000000300000");
  assert_int_equal(f->t->phys_mode, 1);
  assert_string_equal(fx_mread(f, SIM_UVA, 0x20), phys);
  /* Back to virtual: the virtual bytes again, not the physical ones. */
  assert_string_equal(sim_packet(f->t, f->s, "Qqemu.PhyMemMode:0"), "OK");
  assert_int_equal(f->t->phys_mode, 0);
  assert_string_equal(fx_mread(f, SIM_UVA, 0x20), virt);
  fx_has(fx_cmd(f, "vtop 0x400000", "OK"), "-> 0x300000");
  assert_int_equal(f->t->phys_mode, 0);
  /* The fast path follows the mode too. */
  char out[0x100];
  assert_string_equal(sim_packet(f->t, f->s, "Qqemu.PhyMemMode:1"), "OK");
  assert_string_equal(fx_mread(f, SIM_UVA, 0x20), phys);
  int n = svc_serve_cached(f->s, "m400000,20", 10, out, sizeof(out));
  assert_int_equal(n, 0x40);
  out[n] = 0;
  assert_string_equal(out, phys);
}

/* Discovery on a connection where the client chose physical mode first
 * keeps that mode. */
static void test_client_mode_before_discovery(void **state) {
  fx *f = *state;
  char phys[0x41];
  hex_of(f->t->ram + 0x400000, 0x20, phys);
  assert_string_equal(sim_packet(f->t, f->s, "Qqemu.PhyMemMode:1"), "OK");
  assert_string_equal(fx_mread(f, SIM_UVA, 0x20), phys); /* the first m runs discovery */
  assert_int_equal(f->t->phys_mode, 1);
}

/* A new client starts in virtual mode; the context of the last one ended. */
static void test_client_gone(void **state) {
  fx *f = *state;
  char virt[0x41];
  hex_of(f->t->ram + SIM_UPA, 0x20, virt);
  assert_string_equal(sim_packet(f->t, f->s, "Qqemu.PhyMemMode:1"), "OK");
  fx_has(fx_cmd(f, "context 0x2000", "OK"), "root 0x2000");
  svc_event(f->s, SVC_EV_DETACH); /* the client disconnected */
  /* Before the worker ran: the loop thread sends reads to the worker. */
  assert_int_equal(svc_classify(f->s, "m400000,20", 10), SVC_HANDLE);
  char out[0x100];
  assert_int_equal(svc_serve_cached(f->s, "m400000,20", 10, out, sizeof(out)), -1);
  assert_string_equal(fx_mread(f, SIM_UVA, 0x20), virt); /* root 1, virtual mode */
  assert_int_equal(f->t->phys_mode, 0);
  fx_has(fx_cmd(f, "context", "OK"), "context: default");
}

/* Nothing cached from the old target is served after a reconnect, a loss,
 * or a failed transaction. */
static void test_reconnect(void **state) {
  fx *f = *state;
  char out[0x100], old[0x41];
  hex_of(f->t->ram + SIM_UPA, 0x20, old);
  assert_string_equal(fx_mread(f, SIM_UVA, 0x20), old);
  assert_int_equal(svc_serve_cached(f->s, "m400000,20", 10, out, sizeof(out)), 0x40);
  static const enum svc_event evs[] = {SVC_EV_CONNECT, SVC_EV_LOST};
  for (int i = 0; i < 2; i++) {
    f->t->ram[SIM_UPA] ^= 0xff; /* the new target's memory differs */
    svc_event(f->s, evs[i]);
    assert_int_equal(svc_serve_cached(f->s, "m400000,20", 10, out, sizeof(out)), -1);
    char now[0x41];
    hex_of(f->t->ram + SIM_UPA, 0x20, now);
    assert_string_equal(fx_mread(f, SIM_UVA, 0x20), now);
  }
  /* A transaction failing (target gone) flushes what the worker cached. */
  fx_has(fx_cmd(f, "phys read 0x300000 0x10", "OK"), "0000000000300000");
  f->t->drop_after = (long)f->t->requests + 1;
  fx_cmd(f, "phys read 0x310000 0x1000", "E01");
  f->t->drop_after = 0;
  assert_int_equal(svc_serve_cached(f->s, "m400000,20", 10, out, sizeof(out)), -1);
}

/* A transaction that fails in the middle of a physical command: the mode
 * is unknown, every memory request goes to the worker, and the client's
 * mode is sent before the first one is served. */
static void test_failure_mode_unknown(void **state) {
  fx *f = *state;
  char virt[0x41];
  hex_of(f->t->ram + SIM_UPA, 0x20, virt);
  assert_string_equal(fx_mread(f, SIM_UVA, 0x20), virt);
  assert_int_equal(svc_classify(f->s, "m400000,20", 10), SVC_FORWARD);
  /* The stall: replies stop after the switch to physical mode went in. */
  f->t->drop_after = (long)f->t->requests + 2;
  fx_cmd(f, "phys read 0x300000 0x4000", "E01");
  assert_int_equal(f->t->phys_mode, 1); /* the restore never arrived */
  f->t->drop_after = 0;
  assert_int_equal(svc_classify(f->s, "m400000,20", 10), SVC_HANDLE);
  assert_int_equal(svc_classify(f->s, "qqemu.PhyMemMode", 16), SVC_HANDLE);
  unsigned long off = f->t->mode_off;
  assert_string_equal(fx_mread(f, SIM_UVA, 0x20), virt); /* cache off: forwarded after the mode */
  assert_int_equal(f->t->mode_off, off + 1);
  assert_int_equal(f->t->phys_mode, 0);
  assert_int_equal(svc_classify(f->s, "m400000,20", 10), SVC_FORWARD);
  /* Every way out of a command leaves the mode as it was: error, ^C. */
  fx_cmd(f, "phys read 0xfffff0 0x100", "E01");
  assert_int_equal(f->t->phys_mode, 0);
  f->t->force_intr = 1;
  fx_cmd(f, "phys read 0x0 0x100000", "E01");
  f->t->force_intr = 0;
  assert_int_equal(f->t->phys_mode, 0);
  /* The client gone (output fails): the mode too. */
  f->t->drop_after = 0;
  assert_int_equal(svc_finish(f->s), 0);
  assert_int_equal(f->t->phys_mode, 0);
}

/* svc_finish puts QEMU in virtual mode even when the client chose
 * physical, and after a failed restore. */
static void test_finish(void **state) {
  fx *f = *state;
  fx_has(fx_cmd(f, "vtop 0x400000", "OK"), "-> 0x300000"); /* discovery done */
  assert_string_equal(sim_packet(f->t, f->s, "Qqemu.PhyMemMode:1"), "OK");
  assert_int_equal(svc_finish(f->s), 0);
  assert_int_equal(f->t->phys_mode, 0);
  f->t->drop_after = (long)f->t->requests + 2;
  fx_cmd(f, "phys read 0x300000 0x4000", "E01");
  f->t->drop_after = 0;
  assert_int_equal(f->t->phys_mode, 1);
  assert_int_equal(svc_finish(f->s), 0);
  assert_int_equal(f->t->phys_mode, 0);
  /* Nothing to put back: nothing sent. */
  unsigned long req = f->t->requests;
  assert_int_equal(svc_finish(f->s), 0);
  assert_int_equal(f->t->requests, req);
}

/* extended-remote detach: every bridge command answers an error and sends
 * nothing that needs a CPU; an attach brings them back. */
static void test_detach(void **state) {
  fx *f = *state;
  fx_has(fx_cmd(f, "context 0x2000", "OK"), "root 0x2000");
  assert_int_equal(svc_classify(f->s, "D;1", 3), SVC_HANDLE);
  assert_string_equal(sim_packet(f->t, f->s, "D;1"), "OK");
  assert_int_equal(f->t->detached, 1);
  static const char *const cmds[] = {
      "vtop 0x400000", "pte 0x400000", "maps", "ptov 0x300000",  "phys read 0x1000 10",
      "phys map",      "phys backend", "arch", "context 0x2000", "vtop 1 --json"};
  for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
    int json = strstr(cmds[i], "--json") != NULL;
    fx_has(fx_cmd(f, cmds[i], json ? "OK" : "E01"), "no process attached");
  }
  fx_has(fx_cmd(f, "context", "OK"), "context: default"); /* ended with the detach */
  fx_has(fx_cmd(f, "cache stats", "OK"), "cache on");
  fx_has(fx_cmd(f, "help", "OK"), "vtop VA");
  assert_string_equal(fx_mread(f, SIM_UVA, 0x10),
                      "E.rspbridge: no process attached (after detach): "
                      "attach first");
  assert_int_equal(f->t->cpu_while_detached, 0);
  /* `?` answers W00 (no process; QEMU would never answer): still detached. */
  assert_int_equal(svc_classify(f->s, "?", 1), SVC_HANDLE);
  unsigned long req = f->t->requests;
  assert_string_equal(sim_packet(f->t, f->s, "?"), "W00");
  assert_int_equal(f->t->requests, req);
  fx_has(fx_cmd(f, "vtop 0x400000", "E01"), "no process attached");
  assert_int_equal(svc_classify(f->s, "vAttach;1", 9), SVC_HANDLE);
  assert_string_equal(sim_packet(f->t, f->s, "vAttach;1"), "T05thread:01;");
  fx_has(fx_cmd(f, "vtop 0x400000", "OK"), "-> 0x300000");
  assert_int_equal(f->t->cpu_while_detached, 0);
  assert_int_equal(svc_classify(f->s, "?", 1), SVC_FORWARD);
}

/* --read-only: only the allow-list reaches the target's monitor. */
static void test_monitor_read_only(void **state) {
  fx *f = *state;
  static const char *const refused[] = {"migrate exec:touch /tmp/x",
                                        "pmemsave 0 0x1000 /tmp/x",
                                        "memsave 0 0x1000 /tmp/x",
                                        "dump-guest-memory /tmp/x",
                                        "chardev-add socket,id=x",
                                        "o 0x80 1",
                                        "system_reset",
                                        "quit",
                                        "stop",
                                        "cont",
                                        "gdbserver tcp::1234",
                                        "  quit",
                                        "xx",
                                        "info2",
                                        "c"};
  for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
    f->t->last_rcmd[0] = 0;
    const char *o = fx_cmd(f, refused[i], "E01");
    fx_has(o, "refused: --read-only lets only these commands through to the target's monitor: "
              "info ..., gva2gpa, x, xp, help, ?");
    assert_string_equal(f->t->last_rcmd, "");
  }
  fx_has(fx_cmd(f, "quit --json", "OK"), "{\"error\":\"`quit` refused");
  static const char *const allowed[] = {"info status", "gva2gpa 0x400000", "x/4g 0x400000",
                                        "xp 0x1000", "?"};
  for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
    f->t->last_rcmd[0] = 0;
    fx_cmd(f, allowed[i], "OK");
    assert_string_equal(f->t->last_rcmd, allowed[i]);
  }
  fx_has(fx_cmd(f, "help", "OK"), "gva2gpa");
}

static void test_monitor_none(void **state) {
  fx *f = *state;
  f->t->last_rcmd[0] = 0;
  fx_has(fx_cmd(f, "info status", "E01"), "--monitor none");
  assert_string_equal(f->t->last_rcmd, "");
  fx_has(fx_cmd(f, "vtop 0x400000", "OK"), "-> 0x300000"); /* the bridge's own commands work */
}

/* Bounds a user sees: the line limit named, phys write takes the 512 bytes
 * its help promises, search stops at --max. */
static void test_bounds(void **state) {
  fx *f = *state;
  static char line[4200];
  snprintf(line, sizeof(line), "phys write 0x300000 ");
  size_t k = strlen(line);
  for (int i = 0; i < 512; i++)
    k += (size_t)snprintf(line + k, sizeof(line) - k, "%02x", (i * 7) & 0xff);
  fx_has(fx_cmd(f, line, "OK"), "wrote 512 bytes at 0x300000");
  for (int i = 0; i < 512; i++)
    assert_int_equal(f->t->ram[0x300000 + i], (i * 7) & 0xff);
  snprintf(line + k, sizeof(line) - k, "00");
  fx_has(fx_cmd(f, line, "E01"), "byte pattern too long: 513 bytes (max 512)");
  fx_has(fx_cmd(f, "help phys", "OK"), "BYTES: at most 512");
  memset(line, 'a', 3000);
  line[3000] = 0;
  fx_has(fx_cmd(f, line, "E01"), "command line too long: 3000 characters (the limit is 2047)");
  fx_has(fx_cmd(f, "vtop 1 2 3 4 5 6 7 8 9 a b c d e f 10 11 12 13 14 15 16 17 18 19", "E01"),
         "too many arguments (at most 24 words)");
  fx_has(fx_cmd(f, "phys search 0x200000 0x1000 00 --max 2", "OK"),
         "2 matches; stopped at the limit of 0x2 matches (--max N), the next is at 0x");
  fx_has(fx_cmd(f, "phys search 0x200000 0x1000 00 --max 0", "E01"), "--max needs a hex count");
}

/* Numbers are hex; a word that is not one, or one too many, is named. */
static void test_numbers(void **state) {
  fx *f = *state;
  fx_has(fx_cmd(f, "vtop 400000", "OK"), "0x400000 -> 0x300000");
  fx_has(fx_cmd(f, "vtop 1g", "E01"), "bad VA '1g' (hex number expected)");
  fx_has(fx_cmd(f, "vtop 0x400000 0x1000", "E01"), "unexpected argument '0x1000'");
  fx_has(fx_cmd(f, "pte 0x400000 x", "E01"), "unexpected argument 'x'");
  fx_has(fx_cmd(f, "maps 0 1000 2000", "E01"), "unexpected argument '2000'");
  fx_has(fx_cmd(f, "phys read 0x1000 0x10 0x20", "E01"), "unexpected argument '0x20'");
  fx_has(fx_cmd(f, "phys write 0x1000 --u8 1 2", "E01"), "unexpected argument '2'");
  fx_has(fx_cmd(f, "phys read 0x1000 0x10 --max 2", "E01"), "--max does not apply to `phys read`");
  fx_has(fx_cmd(f, "phys map x", "E01"), "unexpected argument 'x'");
  fx_has(fx_cmd(f, "cache stats now", "E01"), "unexpected argument 'now'");
  fx_has(fx_cmd(f, "uncached list x", "E01"), "unexpected argument 'x'");
  fx_has(fx_cmd(f, "context default x", "E01"), "unexpected argument 'x'");
  fx_has(fx_cmd(f, "vtop 0x400000 --width 2", "E01"), "unknown option '--width'");
  fx_has(fx_cmd(f, "help", "OK"), "Numbers are hex, 0x optional");
  fx_has(fx_cmd(f, "help", "OK"), "share/rspbridge/rspbridge.py");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_client_mode, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_client_mode_before_discovery, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_client_gone, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_reconnect, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_failure_mode_unknown, setup_nocache, fx_teardown),
      cmocka_unit_test_setup_teardown(test_finish, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_detach, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_monitor_read_only, fx_setup_ro, fx_teardown),
      cmocka_unit_test_setup_teardown(test_monitor_none, setup_monnone, fx_teardown),
      cmocka_unit_test_setup_teardown(test_bounds, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_numbers, fx_setup, fx_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
