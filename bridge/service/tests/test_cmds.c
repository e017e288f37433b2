/* test_cmds.c - every monitor command and its error paths, against the
 * simulated QEMU-like target (tests/sim.c). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"

static int setup_nophys(void **state) {
  svc_config cfg = {.cache_bytes = 1u << 20, .phys_backend = "none"};
  return fx_setup_cfg(state, &cfg);
}

/* Runs a command; checks the reply and that QEMU's mode is back to virtual. */
static const char *run(fx *f, const char *cmd, const char *want_reply) {
  const char *out = fx_cmd(f, cmd, want_reply);
  assert_int_equal(f->t->phys_mode, 0);
  assert_true(f->t->mode_off >= f->t->mode_on);
  return out;
}

static void test_vtop(void **state) {
  fx *f = *state;
  const char *o = run(f, "vtop 0xffff800000001980", "OK");
  fx_has(o, "0xffff800000001980 -> 0x201980");
  fx_has(o, "4K page at 0x201000 (PTE)");
  /* Each answer agrees with the simulator's own walk. */
  uint64_t vas[] = {SIM_KVA + 0x1fffff, SIM_LVA + 0x12345, SIM_UVA + 0x10, SIM_KVA};
  for (size_t i = 0; i < 4; i++) {
    uint64_t pa;
    assert_int_equal(sim_translate(f->t, SIM_ROOT, vas[i], &pa), 0);
    char cmd[64], want[96];
    snprintf(cmd, sizeof(cmd), "vtop %llx", (unsigned long long)vas[i]);
    snprintf(want, sizeof(want), "0x%llx -> 0x%llx ", (unsigned long long)vas[i],
             (unsigned long long)pa);
    fx_has(run(f, cmd, "OK"), want);
  }
  fx_has(run(f, "vtop ffff8000`00412345", "OK"), "2M page at 0x400000 (PDE)");
  o = run(f, "vtop 0x400010", "OK");
  fx_has(o, "-> 0x300010");
  fx_has(o, "user");
  /* The top-level miss names the entry, its address and value. */
  o = run(f, "vtop 0x7f0000000000", "E01");
  assert_string_equal(o, "vtop: 0x7f0000000000 not mapped: PML4E[0xfe] at 0x17f0 = 0x0 "
                         "(not present)\n");
  o = run(f, "vtop 0xffff800000200000", "E01");
  fx_has(o, "vtop: 0xffff800000200000 not mapped: PDE[0x1] at 0x");
  fx_has(o, "= 0x0 (not present)\n");
  fx_has(run(f, "vtop 0x0000800000000000", "E01"), "non-canonical");
  /* Mapped to an address with no RAM: VirtualToPhysical's error. */
  /* Mapped over an address nothing backs: a translation with a note. */
  fx_has(run(f, "vtop 0x600000", "OK"),
         "0x600000 -> 0x80000000  4K page at 0x80000000 (PTE)  -------KWEV  [valid kernel write "
         "exec]  note: nothing backs PA 0x80000000 (a hole in QEMU's memory map)\n");
  fx_has(run(f, "vtop 0x601004", "OK"), "I/O: ioapic");
  /* Another root. */
  fx_has(run(f, "vtop 0x400000 --root 0x2000", "OK"), "-> 0x310000");
  fx_has(run(f, "vtop 0x400000 --root 2000", "OK"), "-> 0x310000");
  /* Argument errors. */
  assert_string_equal(run(f, "vtop zz", "E01"), "vtop: bad VA 'zz' (hex number expected)\n");
  assert_string_equal(run(f, "vtop", "E01"), "vtop: missing VA\n");
  fx_has(run(f, "vtop 1 --frob", "E01"), "unknown option '--frob'");
  fx_has(run(f, "vtop 1 --root", "E01"), "--root needs a hex address");
}

static void test_vtop_regs(void **state) {
  fx *f = *state;
  f->t->no_regs = 1;
  fx_has(run(f, "vtop 0x400000", "E01"), "cr0/cr3/cr4 unavailable: give --root PA");
  fx_has(run(f, "vtop 0x400000 --root 0x1000", "OK"), "-> 0x300000");
  fx_has(run(f, "pte 0x400000", "E01"), "unavailable");
  f->t->no_regs = 0;
  svc_event(f->s, SVC_EV_RESUME);
  svc_event(f->s, SVC_EV_STOP);
  /* Paging off: VA is PA. */
  f->t->cr0 = 0x11;
  svc_event(f->s, SVC_EV_REG_WRITE);
  fx_has(run(f, "vtop 0x1234", "OK"), "0x1234 -> 0x1234 (paging off)");
  fx_has(run(f, "vtop 0x80000000", "OK"),
         "0x80000000 -> 0x80000000 (paging off)  note: nothing backs PA 0x80000000");
  fx_has(run(f, "maps", "E01"), "paging is off");
  /* CR3 changes between stops are seen. */
  f->t->cr0 = 0x80050033;
  f->t->cr3 = SIM_ROOT2;
  svc_event(f->s, SVC_EV_RESUME);
  fx_has(run(f, "vtop 0x400000", "OK"), "-> 0x310000");
}

static void test_pte(void **state) {
  fx *f = *state;
  const char *o = run(f, "pte 0xffff800000001980", "OK");
  fx_has(o, "VA 0xffff800000001980");
  fx_has(o, "PML4E  0x100  0x1800");
  fx_has(o, "PDPTE  0x0");
  fx_has(o, "PDE    0x0");
  fx_has(o, "PTE    0x1");
  /* The PTE row: raw value 0x8000000000201103 (P W G NX + PA) and its PFN. */
  fx_has(o, "0x8000000000201103");
  fx_has(o, "pfn 0x201");
  fx_has(o, "-> 0x201980 (4K page at 0x201000)");
  o = run(f, "pte 0xffff800000200000", "OK");
  fx_has(o, "not mapped: PDE[0x1]");
  o = run(f, "pte 0xffff800000412345", "OK");
  fx_has(o, "-> 0x412345 (2M page at 0x400000)");
  fx_has(run(f, "pte", "E01"), "pte: missing VA");
  assert_string_equal(run(f, "pte 0x800000000000", "E01"),
                      "pte: 0x800000000000: non-canonical address\n");
  /* An entry that cannot be read is not shown as data: an error names it. */
  o = run(f, "pte 0x1000 --root 0x80000000", "E01");
  assert_string_equal(
      o, "pte: 0x1000 not translated: PML4E[0x0] at 0x80000000: cannot read entry: no physical "
         "page\n");
  /* Deeper: the levels read are shown, then the error for the next one. */
  uint64_t e;
  memcpy(&e, f->t->ram + SIM_ROOT, 8);         /* PML4E[0] -> PDPT */
  memcpy(&e, f->t->ram + (e & 0xfffff000), 8); /* PDPTE[0] -> PD */
  uint64_t pde = 0x90000000ull | SIM_P | SIM_W;
  memcpy(f->t->ram + (e & 0xfffff000) + 5 * 8, &pde, 8); /* PDE[5]: a table outside RAM */
  run(f, "cache flush", "OK");
  o = run(f, "pte 0xa00000", "E01");
  fx_has(o, "PML4E  0x0");
  fx_has(o, "PDPTE  0x0");
  fx_has(o, "PDE    0x5    ");
  fx_has(o, "0x90000003");
  fx_has(o, "pte: 0xa00000 not translated: PTE[0x0] at 0x90000000: cannot read entry: no physical "
            "page\n");
  assert_null(strstr(o, "PTE    0x0"));
  fx_has(run(f, "vtop 0xa00000", "E01"), "vtop: 0xa00000 not translated: PTE[0x0] at 0x90000000");
}

static void test_maps(void **state) {
  fx *f = *state;
  const char *o = run(f, "maps", "OK");
  /* 512 4K pages coalesce into one run; then the 2M page; three user-half
   * pages (0x601000 is not PA-contiguous with 0x600000). */
  fx_has(o, "0x0000000000400000-0x0000000000401000");
  fx_has(o, "0xffff800000000000-0xffff800000200000      2M PTE      4K x512");
  fx_has(o, "0xffff800000400000-0xffff800000600000      2M PDE      2M x1");
  fx_has(o, "-> 0x200000");
  fx_has(o, "5 runs, 516 leaves");
  o = run(f, "maps 0x400000 0x401000", "OK");
  fx_has(o, "1 runs");
  o = run(f, "maps ffff800000100000 ffff800000101000", "OK");
  fx_has(o, "-> 0x300000"); /* clipped run: PA of its first byte */
  fx_has(run(f, "maps 5 4", "E01"), "empty range");
  fx_has(run(f, "maps --root 0x2000", "OK"), "1 runs");
  f->t->force_intr = 1;
  fx_has(run(f, "maps", "OK"), "(interrupted)");
  f->t->force_intr = 0;
}

/* maps --json: one object per run without what a reader derives (end is
 * va + size, the leaves size / page_size), prot for the permissions, and
 * "count" only on a run the bounds cut inside a leaf. */
static void test_maps_json(void **state) {
  fx *f = *state;
  /* Before any command reads the tables: a user read-only NX page, a
   * kernel read-only executable one, and one page aliased 10 times
   * (folded). */
  sim_map(f->t, SIM_ROOT, 0x700000, 0x500000, 0x1000, SIM_P | SIM_U | SIM_NX);
  sim_map(f->t, SIM_ROOT, 0xffff800000a00000ull, 0x501000, 0x1000, SIM_P);
  for (uint64_t i = 0; i < 10; i++)
    sim_map(f->t, SIM_ROOT, 0xffff800000800000ull + i * 0x2000, 0x502000, 0x1000,
            SIM_P | SIM_G | SIM_NX);
  const char *o = run(f, "maps --json", "OK");
  /* prot: user/kernel, writable/read-only, executable/NX. */
  fx_has(o, "{\"va\":\"0x400000\",\"size\":\"0x1000\",\"pa\":\"0x300000\",\"page_size\":"
            "\"0x1000\",\"level\":\"PTE\",\"flags\":\"-------UWEV\",\"prot\":\"rwxu\"}");
  fx_has(o, "{\"va\":\"0x700000\",\"size\":\"0x1000\",\"pa\":\"0x500000\",\"page_size\":"
            "\"0x1000\",\"level\":\"PTE\",\"flags\":\"-------UR-V\",\"prot\":\"r--u\"}");
  fx_has(o, "{\"va\":\"0xffff800000000000\",\"size\":\"0x200000\",\"pa\":\"0x200000\","
            "\"page_size\":\"0x1000\",\"level\":\"PTE\",\"flags\":\"-G-----KW-V\","
            "\"prot\":\"rw-k\"}");
  fx_has(o, "{\"va\":\"0xffff800000a00000\",\"size\":\"0x1000\",\"pa\":\"0x501000\","
            "\"page_size\":\"0x1000\",\"level\":\"PTE\",\"flags\":\"-------KREV\","
            "\"prot\":\"r-xk\"}");
  /* A fold: no end either, its run shifted by va only. */
  fx_has(o, "{\"va\":\"0xffff800000800000\",\"size\":\"0x13000\",\"leaves\":10,\"fold\":{"
            "\"count\":10,\"period\":1,\"stride\":\"0x2000\"},\"runs\":[{\"va\":"
            "\"0xffff800000800000\",\"size\":\"0x1000\",\"pa\":\"0x502000\",\"page_size\":"
            "\"0x1000\",\"level\":\"PTE\",\"flags\":\"-G-----KR-V\",\"prot\":\"r--k\"}]}");
  fx_has(o, "with va increased by (i / fold.period) * fold.stride\"");
  /* Nothing derivable is left, and no run of the whole space is cut. */
  static const char *const gone[] = {"\"end\"", "\"write\"", "\"user\"", "\"exec\"", "\"half\""};
  for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
    if (strstr(o, gone[i]))
      fail_msg("maps --json has %s:\n%s", gone[i], o);
  int counts = 0;
  for (const char *p = o; (p = strstr(p, "\"count\"")) != NULL; p++)
    counts++;
  assert_int_equal(counts, 1); /* the fold's */
  /* Bounds inside the first and the last leaf: 0x2000 bytes over 3 leaves. */
  o = run(f, "maps 0xffff800000000800 0xffff800000002800 --json", "OK");
  fx_has(o, "{\"va\":\"0xffff800000000800\",\"size\":\"0x2000\",\"pa\":\"0x200800\","
            "\"page_size\":\"0x1000\",\"count\":3,\"level\":\"PTE\",");
  /* A 2M page cut to 0x800 bytes: one leaf, said so. */
  o = run(f, "maps 0xffff800000400800 0xffff800000401000 --json", "OK");
  fx_has(o, "{\"va\":\"0xffff800000400800\",\"size\":\"0x800\",\"pa\":\"0x400800\","
            "\"page_size\":\"0x200000\",\"count\":1,\"level\":\"PDE\",");
  /* Bounds on leaf edges cut nothing: no count. */
  o = run(f, "maps 0xffff800000001000 0xffff800000003000 --json", "OK");
  fx_has(o, "{\"va\":\"0xffff800000001000\",\"size\":\"0x2000\",\"pa\":\"0x201000\","
            "\"page_size\":\"0x1000\",\"level\":\"PTE\",");
  assert_null(strstr(o, "\"count\""));
}

static void test_ptov(void **state) {
  fx *f = *state;
  fx_has(run(f, "ptov 0x201980", "OK"), "0xffff800000001980  (PTE, 4K page)");
  fx_has(run(f, "ptov 0x300004", "OK"), "0x400004");
  fx_has(run(f, "ptov 0x412345", "OK"), "0xffff800000412345");
  fx_has(run(f, "ptov 0xf00000", "OK"), "0 virtual addresses map 0xf00000");
  fx_has(run(f, "ptov", "E01"), "missing PA");
}

static void test_phys_read(void **state) {
  fx *f = *state;
  const char *o = run(f, "phys read 0x201980 0x20", "OK");
  fx_has(o, "0000000000201980  49 6e 20 6d 65 6d 6f 72  79 2e 2e 2e 2e 2e 2e 2e  In memory.......");
  o = run(f, "phys read 201980 10 --width 4", "OK");
  fx_has(o, "0000000000201980  6d206e49 726f6d65 2e2e2e79 2e2e2e2e  In memory.......");
  o = run(f, "phys read 201980 8 --width 8", "OK");
  fx_has(o, "726f6d656d206e49");
  fx_has(run(f, "phys read 201980 8 --width 3", "E01"), "bad --width 3");
  assert_string_equal(run(f, "phys read 0x80000000 0x10", "E01"),
                      "phys: read stopped at 0x80000000: no physical page\n");
  /* A read running off the end of RAM shows what exists, then says why. */
  o = run(f, "phys read 0xffffe0 0x40", "E01");
  fx_has(o, "0000000000fffff0");
  fx_has(o, "phys: read stopped at 0x1000000: no physical page");
  fx_has(run(f, "phys read 0xfec00000 4", "E01"), "I/O region, not read");
  fx_has(run(f, "phys read 0 0", "E01"), "out of range");
  fx_has(run(f, "phys read 0", "E01"), "missing LEN");
  fx_has(run(f, "phys", "E01"), "missing subcommand");
  fx_has(run(f, "phys frob", "E01"), "unknown subcommand 'frob'");
  /* The physical mode is restored even when a read fails midway. */
  f->t->fail_phys_read_at = f->t->phys_reads_seen + 2;
  svc_event(f->s, SVC_EV_RESUME);
  fx_has(run(f, "phys read 0x100000 0x2000", "E01"), "target error");
  assert_int_equal(f->t->phys_mode, 0);
}

static void test_phys_write(void **state) {
  fx *f = *state;
  fx_has(run(f, "phys write 0x300000 aabbccdd", "OK"), "wrote 4 bytes at 0x300000");
  assert_int_equal(f->t->ram[0x300000], 0xaa);
  assert_int_equal(f->t->ram[0x300003], 0xdd);
  fx_has(run(f, "phys write 0x300004 --u32 0x11223344", "OK"), "wrote 4 bytes");
  assert_int_equal(f->t->ram[0x300004], 0x44);
  assert_int_equal(f->t->ram[0x300007], 0x11);
  fx_has(run(f, "phys write 0x300008 --u16 0x10000", "E01"), "does not fit");
  fx_has(run(f, "phys write 0x300008 xyz", "E01"), "bad byte pattern");
  fx_has(run(f, "phys write 0x80000000 00", "E01"), "no physical page");
  /* The read shows the written bytes (served from the updated cache). */
  fx_has(run(f, "phys read 0x300000 8", "OK"), "aa bb cc dd 44 33 22 11");
  fx_has(run(f, "phys fill 0x300100 0x21 abcd", "OK"), "filled 0x21 bytes at 0x300100");
  assert_int_equal(f->t->ram[0x300100], 0xab);
  assert_int_equal(f->t->ram[0x300101], 0xcd);
  assert_int_equal(f->t->ram[0x300120], 0xab);
  assert_int_equal(f->t->ram[0x300121], (uint8_t)(0x121 * 7 + 1));
  fx_has(run(f, "phys fill 0x300100 0 ab", "E01"), "out of range");
  fx_has(run(f, "phys fill 0xfffff0 0x20 ab", "E01"), "no physical page");
}

static void test_readonly(void **state) {
  fx *f = *state;
  fx_has(run(f, "phys write 0x300000 aa", "E01"), "read-only");
  assert_int_equal(f->t->ram[0x300000], 1);
}

static void test_phys_search(void **state) {
  fx *f = *state;
  const char *o = run(f, "phys search 0x200000 0x200000 496e206d656d", "OK");
  fx_has(o, "0x201980\n1 match\n");
  /* Matches across the unit boundary and in a range with holes. */
  memcpy(f->t->ram + 0x2007fe, "\x12\x34\x56\x78", 4);
  svc_event(f->s, SVC_EV_RESUME);
  fx_has(run(f, "phys search 0x200000 0x1000 12345678", "OK"), "0x2007fe\n");
  memcpy(f->t->ram + 0xfffff0, "\x9a\xbc", 2);
  svc_event(f->s, SVC_EV_RESUME);
  o = run(f, "phys search 0xffff00 0x2000 9abc", "OK");
  fx_has(o, "0xfffff0\n1 match (0x1f00 bytes without physical pages skipped)");
  fx_has(run(f, "phys search 0 0x10", "E01"), "missing PATTERN");
}

/* A search over unassigned physical memory crosses each hole of the RAM map
 * at once, whatever LEN, and a stop request ends it. */
static void test_phys_search_bounds(void **state) {
  fx *f = *state;
  memcpy(f->t->ram + 0xfff000, "\xab\xcd", 2);
  svc_event(f->s, SVC_EV_RESUME);
  run(f, "phys map", "OK"); /* the target learned first */
  unsigned long r0 = f->t->requests;
  fx_has(run(f, "phys search 0x100000000 0x7fffffffffffffff abcd", "OK"),
         "0 matches (0x7fffffffffffffff bytes without physical pages skipped)\n");
  fx_has(run(f, "phys search 0x100000000 0x1000000000 ab", "OK"), "0 matches");
  assert_true(f->t->requests - r0 < 4);
  const char *o = run(f, "phys search 0xff0000 0x7fffffffffffffff abcd", "OK");
  fx_has(o, "0xfff000\n1 match (");
  o = run(f, "phys search 0xff0000 0x7fffffffffffffff abcd --json", "OK");
  fx_has(o, "\"matches\":[\"0xfff000\"],\"count\":1,");
  /* Up to the last byte of the address space; one past it wraps. */
  fx_has(run(f, "phys search 0xffffffffffff0000 0x10000 ab", "OK"), "0 matches (0x10000 bytes");
  fx_has(run(f, "phys search 0xffffffffffff0000 0x10001 ab", "E01"), "bad range");
  /* A stop request is honoured in RAM and in a hole of the map. */
  f->t->force_intr = 1;
  fx_has(run(f, "phys search 0 0x1000000 abcd", "E01"), "interrupted");
  fx_has(run(f, "phys search 0x80000000 0x7fffffffffffffff abcd", "E01"), "interrupted");
  f->t->force_intr = 0;
  /* No RAM map (offset backend): every unit of a hole is asked for, so LEN
   * is capped, and a stop request ends the skipping of unread units. */
  fx_has(run(f, "phys backend offset ffff7fffffe00000", "OK"), "offset");
  fx_has(run(f, "phys search 0 0x40000001 ab", "E01"),
         "too large without a RAM map (max 0x40000000");
  f->t->force_intr = 1;
  r0 = f->t->requests;
  fx_has(run(f, "phys search 0x1000000 0x40000000 ab", "E01"), "interrupted");
  assert_true(f->t->requests - r0 < 300);
  f->t->force_intr = 0;
  fx_has(run(f, "phys search 0x200000 0x200000 496e206d656d", "OK"), "0x201980\n1 match");
}

/* A write or fill that runs past the end of RAM writes what is RAM and names
 * the first address that is not. */
static void test_phys_write_end(void **state) {
  fx *f = *state;
  assert_string_equal(
      run(f, "phys fill 0xff0000 0x20000 ab", "E01"),
      "phys: wrote 0x10000 of 0x20000 bytes at 0xff0000; stopped at 0x1000000: no physical page\n");
  assert_int_equal(f->t->ram[0xff0000], 0xab);
  assert_int_equal(f->t->ram[0xffffff], 0xab);
  assert_string_equal(
      run(f, "phys write 0xffffff 1122", "E01"),
      "phys: wrote 0x1 of 0x2 bytes at 0xffffff; stopped at 0x1000000: no physical page\n");
  assert_int_equal(f->t->ram[0xffffff], 0x11);
  fx_has(run(f, "phys write 0xffffff 3344 --json", "OK"),
         "{\"pa\":\"0xffffff\",\"written\":\"0x1\",\"error\":\"wrote 0x1 of 0x2 bytes");
  assert_int_equal(f->t->ram[0xffffff], 0x33);
  fx_has(run(f, "phys fill 0xfff000 0x2000 cd --json", "OK"),
         "{\"pa\":\"0xfff000\",\"filled\":\"0x1000\",\"error\":");
  /* Nothing written: the address itself is named. */
  assert_string_equal(run(f, "phys write 0x80000000 00", "E01"),
                      "phys: 0x80000000: no physical page\n");
  assert_string_equal(run(f, "phys fill 0x1000000 0x10 00", "E01"),
                      "phys: 0x1000000: no physical page\n");
  /* RAM then ROM then RAM (adjacent regions) is one span. */
  fx_has(run(f, "phys fill 0xbfff0 0x20020 5a", "OK"), "filled 0x20020 bytes at 0xbfff0");
  assert_int_equal(f->t->ram[0xe0000], 0x5a);
}

/* A write of up to 512 bytes (what fits on a monitor line); patterns past
 * their limit and bad arguments are named without echoing them whole. */
static void test_phys_long_bytes(void **state) {
  fx *f = *state;
  char line[1000];
  int k = snprintf(line, sizeof(line), "phys write 0x300000 ");
  for (int i = 0; i < 300; i++)
    k += snprintf(line + k, sizeof(line) - (size_t)k, "%02x", i & 0xff);
  fx_has(run(f, line, "OK"), "wrote 300 bytes at 0x300000");
  for (int i = 0; i < 300; i++)
    assert_int_equal(f->t->ram[0x300000 + i], i & 0xff);
  k = snprintf(line, sizeof(line), "phys fill 0x300000 0x10 ");
  for (int i = 0; i < 300; i++)
    k += snprintf(line + k, sizeof(line) - (size_t)k, "ab");
  assert_string_equal(run(f, line, "E01"), "phys: byte pattern too long: 300 bytes (max 256)\n");
  k = snprintf(line, sizeof(line), "phys write 0x300000 ");
  for (int i = 0; i < 600; i++)
    line[k++] = 'z';
  line[k] = 0;
  const char *o = run(f, line, "E01");
  fx_has(o, "bad byte pattern 'zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz...'");
  assert_true(strlen(o) < 150);
}

/* The last word of a dump shorter than --width shows its missing bytes as ??. */
static void test_phys_read_partial(void **state) {
  fx *f = *state;
  run(f, "phys write 0x400000 414243", "OK");
  assert_string_equal(run(f, "phys read 0x400000 3 --width 4", "OK"),
                      "0000000000400000  ??434241                             ABC\n");
  fx_has(run(f, "phys read 0x400000 3 --width 2", "OK"), "0000000000400000  4241 ??43 ");
  fx_has(run(f, "phys read 0x400000 3 --width 8", "OK"), "  ??????????434241  ");
  fx_has(run(f, "phys read 0x400000 3 --width 0", "E01"), "bad --width 0 (1, 2, 4 or 8)");
  fx_has(run(f, "phys read 0x400000 3 --width 10", "E01"), "bad --width 10 (1, 2, 4 or 8)");
  fx_has(run(f, "phys read 0x400000 3 --width", "E01"), "--width needs 1, 2, 4 or 8");
}

/* context ROOT: the top-level table must be readable RAM. */
static void test_context_root(void **state) {
  fx *f = *state;
  fx_has(run(f, "context 0x8000000", "E01"),
         "context: ROOT 0x8000000: the top-level table cannot be read: no physical page");
  fx_has(run(f, "context 0xfffffffffffff000", "E01"),
         "ROOT 0xfffffffffffff000: the top-level table at 0xffffffffff000 (x86-64) cannot be read: "
         "no physical page");
  fx_has(run(f, "context 0xfec00000", "E01"), "I/O region");
  fx_has(run(f, "context", "OK"), "context: default");
  fx_has(run(f, "context 0x2000", "OK"), "through root 0x2000");
  fx_has(run(f, "context 0x80000000", "E01"), "no physical page");
  fx_has(run(f, "context", "OK"), "through root 0x2000"); /* the old one stays */
}

static void test_backends(void **state) {
  fx *f = *state;
  fx_has(run(f, "phys backend", "OK"), "physical backend: qemu (PhyMemMode), RAM map");
  fx_has(run(f, "phys map", "OK"), "0x00000000fec00000-0x00000000fec00fff i/o  ioapic");
  fx_has(run(f, "phys backend none", "OK"), "physical backend: none");
  fx_has(run(f, "phys read 0 4", "E01"), "phys backend qemu");
  fx_has(run(f, "context 0x2000", "E01"), "context: no physical-memory backend");
  fx_has(run(f, "vtop 0x400000", "E01"), "no physical-memory backend");
  /* offset: the kernel's linear map is at SIM_KVA - SIM_KPA. */
  fx_has(run(f, "phys backend offset ffff7fffffe00000", "OK"), "offset 0xffff7fffffe00000");
  fx_has(run(f, "phys read 0x201980 0x10", "OK"), "In memory.......");
  fx_has(run(f, "phys read 0x100000 0x10", "E01"), "target error"); /* E14 upstream */
  fx_has(run(f, "phys backend bogus", "E01"), "unknown backend 'bogus'");
  fx_has(run(f, "phys backend auto", "OK"), "qemu");
  f->t->no_qemu = 1;
  svc_event(f->s, SVC_EV_CONNECT); /* a different target: learned again */
  fx_has(run(f, "phys backend", "OK"), "physical backend: none");
  fx_has(run(f, "phys backend qemu", "E01"), "does not list PhyMemMode");
}

static void test_config_backend(void **state) {
  (void)state;
  sim *t = sim_new();
  svc_config cfg = {.cache_bytes = 1u << 20, .phys_backend = "offset:ffff7fffffe00000"};
  svc *s = svc_new(&sim_io, t, &cfg);
  assert_non_null(s);
  assert_string_equal(sim_cmd(t, s, "phys read 0x201980 0x10"), "OK");
  assert_non_null(strstr(t->out, "In memory......."));
  assert_int_equal(t->mode_on, 0); /* never QEMU's physical mode */
  svc_free(s);
  cfg.phys_backend = "none";
  s = svc_new(&sim_io, t, &cfg);
  assert_string_equal(sim_cmd(t, s, "phys read 0x201980 0x10"), "E01");
  svc_free(s);
  cfg.phys_backend = "bogus"; /* detected instead */
  s = svc_new(&sim_io, t, &cfg);
  assert_non_null(s);
  assert_string_equal(sim_cmd(t, s, "phys backend"), "OK");
  assert_non_null(strstr(t->out, "qemu"));
  svc_free(s);
  /* --root from the command line replaces the CPU's root. */
  svc_config rc = {.cache_bytes = 1u << 20, .root_override = SIM_ROOT2, .has_root_override = 1};
  s = svc_new(&sim_io, t, &rc);
  assert_string_equal(sim_cmd(t, s, "vtop 0x400000"), "OK");
  assert_non_null(strstr(t->out, "-> 0x310000"));
  svc_free(s);
  sim_free(t);
}

static void test_bare_stub(void **state) {
  fx *f = *state;
  /* No target description, no QEMU extensions: registers unknown. */
  f->t->no_xml = 1;
  f->t->no_qemu = 1;
  fx_has(run(f, "vtop 0x400000", "E01"), "unavailable: give --root PA (and `arch MODE`)");
  fx_has(run(f, "vtop 0x400000 --root 0x1000", "E01"), "unavailable");
  fx_has(run(f, "arch", "OK"), "target unknown; paging unknown");
  fx_has(run(f, "arch x86-64", "OK"), "(forced)");
  fx_has(run(f, "vtop 0x400000 --root 0x1000", "E01"), "no physical-memory backend");
  /* Physical memory visible through a kernel linear map: PA + OFF. */
  fx_has(run(f, "phys backend offset ffff880000000000", "OK"), "offset");
  fx_has(run(f, "vtop 0x400000 --root 0x1000", "E01"),
         "PML4E[0x0] at 0x1000: cannot read entry: target error");
  for (uint64_t pa = 0; pa < 0x100000; pa += 0x1000)
    sim_map(f->t, SIM_ROOT, 0xffff880000000000ull + pa, pa, 0x1000, SIM_P | SIM_W);
  /* The stub reads virtual memory with the CPU's own tables (CR3 = root). */
  fx_has(run(f, "vtop 0x400000 --root 0x1000", "OK"), "-> 0x300000");
  fx_has(run(f, "pte ffff800000001980 --root 1000", "OK"), "pfn 0x201");
  fx_has(run(f, "maps --root 0x1000", "OK"), "0xffff800000000000-0xffff800000200000");
  assert_int_equal(f->t->reads_p, 0);
}

static void test_no_qemu(void **state) {
  fx *f = *state;
  f->t->no_qemu = 1;
  fx_has(run(f, "phys read 0 4", "E01"), "no physical-memory backend");
  fx_has(run(f, "phys map", "E01"), "memory map unknown");
}

static void test_state_cmds(void **state) {
  fx *f = *state;
  fx_has(run(f, "context", "OK"), "context: default");
  fx_has(run(f, "context 0x2000", "OK"), "through root 0x2000");
  fx_has(run(f, "context zz", "E01"), "bad ROOT");
  fx_has(run(f, "context default", "OK"), "context: default");
  fx_has(run(f, "cache", "OK"), "cache on:");
  fx_has(run(f, "cache off", "OK"), "cache off:");
  fx_has(run(f, "cache on", "OK"), "cache on: 0 of 512 units");
  fx_has(run(f, "cache flush", "OK"), "cache on");
  fx_has(run(f, "cache frob", "E01"), "unknown subcommand 'frob'");
  fx_has(run(f, "uncached", "OK"), "no uncached ranges");
  fx_has(run(f, "uncached add fec00000 fec01000", "OK"), "0xfec00000-0xfec01000");
  fx_has(run(f, "uncached add 5 5", "E01"), "empty range");
  fx_has(run(f, "uncached del 1 2", "E01"), "no range 0x1-0x2");
  fx_has(run(f, "uncached del fec00000 fec01000", "OK"), "no uncached ranges");
  fx_has(run(f, "uncached frob", "E01"), "unknown subcommand");
  fx_has(run(f, "arch", "OK"), "target i386:x86-64; paging x86-64: x86-64");
  fx_has(run(f, "arch x86-pae", "OK"), "x86-pae (forced)");
  fx_has(run(f, "arch frob", "E01"), "unknown mode 'frob'");
  fx_has(run(f, "arch auto", "OK"), "paging x86-64:");
  fx_has(run(f, "help", "OK"), "vtop VA [--root PA] [--json]");
  fx_has(run(f, "help pte", "OK"), "usage: pte VA");
  fx_has(run(f, "help frob", "E01"), "no command 'frob'");
}

static void test_passthrough(void **state) {
  fx *f = *state;
  const char *o = run(f, "info status", "OK");
  assert_string_equal(o, "VM status: paused\r\n");
  fx_has(run(f, "gva2gpa 0x400000", "OK"), "gpa: 0x300000");
  fx_has(run(f, "frobnicate", "OK"), "unknown command: 'frobnicate'");
  char big[1400];
  memset(big, 'a', sizeof(big) - 1);
  big[sizeof(big) - 1] = 0;
  const char *r = sim_cmd(f->t, f->s, big);
  assert_string_equal(r, "E01");
  /* Reverse execution packets are never forwarded (QEMU aborts). */
  unsigned long before = f->t->requests;
  assert_string_equal(sim_packet(f->t, f->s, "bc"), "");
  assert_int_equal(f->t->requests, before);
}

static void test_target_gone(void **state) {
  fx *f = *state;
  run(f, "arch", "OK");
  svc_event(f->s, SVC_EV_RESUME);
  f->t->drop_after = (long)f->t->requests + 2;
  const char *r = sim_cmd(f->t, f->s, "vtop 0xffff800000001000");
  assert_string_equal(r, "E01");
  f->t->drop_after = 0;
  f->t->phys_mode = 0;
  svc_event(f->s, SVC_EV_CONNECT);
  fx_has(run(f, "vtop 0xffff800000001000", "OK"), "-> 0x201000");
}

static void new_stop(fx *f) {
  svc_event(f->s, SVC_EV_RESUME);
  svc_event(f->s, SVC_EV_STOP);
}

/* x86-64 running 32-bit code: QEMU's gdbstub cuts cr3 to 32 bits; the
 * whole value comes from QEMU's monitor, once per stop, and only when the
 * cut is possible. */
static void test_compat_cr3(void **state) {
  fx *f = *state;
  /* A kernel stop (rip above 4 GiB): the monitor is never asked. */
  fx_has(run(f, "vtop 0x400000", "OK"), "-> 0x300000");
  unsigned long r0 = f->t->rcmds;
  fx_has(run(f, "vtop 0x400000", "OK"), "-> 0x300000");
  assert_int_equal(f->t->rcmds, r0);
  /* 64-bit user code below 4 GiB: asked, CS64, the gdbstub's value stands. */
  f->t->rip = 0x401000;
  f->t->hmp_cr3 = SIM_ROOT2; /* would be wrong if it were used */
  new_stop(f);
  fx_has(run(f, "vtop 0x400000", "OK"), "-> 0x300000");
  assert_int_equal(f->t->rcmds, r0 + 1);
  /* 32-bit code: the monitor's CR3 (here another root, as if bits 63:32
   * had been cut) is the one walked, asked once for the whole stop. */
  f->t->compat = 1;
  f->t->rip = 0x8048000;
  new_stop(f);
  fx_has(run(f, "vtop 0x400000", "OK"), "-> 0x310000");
  fx_has(run(f, "pte 0x400000", "OK"), "root=0x2000");
  assert_int_equal(f->t->rcmds, r0 + 2);
  /* The monitor shows another CPU: no guess, a clear error. */
  f->t->hmp_rip = 0x8049000;
  new_stop(f);
  fx_has(run(f, "vtop 0x400000", "E01"), "cr3 may be cut to 32 bits");
  /* An explicit root needs no register at all. */
  r0 = f->t->rcmds;
  fx_has(run(f, "vtop 0x400000 --root 0x1000", "OK"), "-> 0x300000");
  assert_int_equal(f->t->rcmds, r0);
}

/* --phys none: every command that needs physical memory fails with one
 * whole line naming the options (nothing cut short, nothing shown as data
 * that was never read, an error reply). */
static void test_no_backend(void **state) {
  fx *f = *state;
  static const char *const cmds[] = {"vtop 0x400000",
                                     "pte 0x400000",
                                     "maps",
                                     "ptov 0x300000",
                                     "phys read 0x1000 0x10",
                                     "phys write 0x1000 00",
                                     "phys fill 0x1000 8 00",
                                     "phys search 0x1000 0x100 00",
                                     "context 0x2000",
                                     "vtop 0x400000 --json",
                                     "pte 0x400000 --json",
                                     "maps --json",
                                     "ptov 0x300000 --json"};
  for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
    int json = strstr(cmds[i], "--json") != NULL;
    const char *o = run(f, cmds[i], json ? "OK" : "E01"); /* --json: errors are documents */
    const char *end = json ? "when physical memory is mapped at PA+OFF)\"}\n"
                           : "when physical memory is mapped at PA+OFF)\n";
    size_t ol = strlen(o), el = strlen(end);
    if (ol < el || strcmp(o + ol - el, end))
      fail_msg("`%s` does not end with the whole message:\n%s", cmds[i], o);
    if (strstr(o, "contains") || strstr(o, "0 virtual addresses") || strstr(o, "0 runs"))
      fail_msg("`%s` shows data it never read:\n%s", cmds[i], o);
    if (json && (o[0] != '{' || strstr(o, "}\n{") || strstr(o, "]}\n")))
      fail_msg("`%s` is not one JSON document:\n%s", cmds[i], o);
  }
}

/* A bare "--" is an unknown option like any other, for every command
 * (found by fuzz_service: `pte 1000 --` spun forever looking the empty
 * option name up).  The alarm is only a hang guard. */
static void hang_guard(int sig) {
  (void)sig;
  static const char m[] = "test_dashes: a command did not finish within 60 s (hang)\n";
  if (write(2, m, sizeof(m) - 1) < 0)
    _exit(2);
  _exit(1);
}

static void test_dashes(void **state) {
  fx *f = *state;
  signal(SIGALRM, hang_guard);
  alarm(60);
  assert_string_equal(run(f, "pte 1000 --", "E01"),
                      "pte: unknown option '--' (see `monitor help pte`)\n");
  static const char *const cmds[] = {"vtop 1 --",   "maps --",    "ptov 0 --", "phys read 0 10 --",
                                     "context --",  "cache --",   "arch --",   "help --",
                                     "uncached --", "phys -- 0 1"};
  for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
    fx_has(run(f, cmds[i], "E01"), "unknown option '--'");
  fx_has(run(f, "pte 1000 -- --json", "OK"), "{\"error\":\"unknown option '--'");
  alarm(0);
  signal(SIGALRM, SIG_DFL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_vtop, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_vtop_regs, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_pte, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_maps, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_maps_json, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_ptov, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_phys_read, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_phys_write, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_readonly, fx_setup_ro, fx_teardown),
      cmocka_unit_test_setup_teardown(test_phys_search, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_phys_search_bounds, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_phys_write_end, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_phys_long_bytes, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_phys_read_partial, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_context_root, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_backends, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_no_qemu, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_bare_stub, fx_setup, fx_teardown),
      cmocka_unit_test(test_config_backend),
      cmocka_unit_test_setup_teardown(test_state_cmds, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_passthrough, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_target_gone, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_no_backend, setup_nophys, fx_teardown),
      cmocka_unit_test_setup_teardown(test_compat_cr3, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_dashes, fx_setup, fx_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
