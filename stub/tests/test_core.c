/* test_core.c - the stub core over an in-memory transport.
 *
 * A mock target (memory, physical memory, a flat register file, counters
 * for run control) is served by the core; the test frames requests with
 * proto/'s encoder, feeds them, and parses what the core wrote back with
 * proto/'s parser.  Every fixture is built from ops tables with different
 * members set, so the derived replies can be compared.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stub.h"

#define MEMSZ   4096
#define PKT     1024
#define OUTSZ   (1 << 16)
#define MAXPKTS 64

typedef struct {
  uint8_t mem[MEMSZ];
  uint8_t phys[MEMSZ];
  uint8_t regs[1024];
  int unavail_reg;
  int fail_reg_fatal;
  int cont_calls, step_calls, interrupt_calls, kill_calls, detach_calls;
  int last_resume_sig;
  int sw_insert_calls, sw_remove_calls;
  uint64_t sw_addr;
  int hw_calls;
  int monitor_fail;
  stub_core *core;
  int stop_in_cont;
  int selected;
} mock;

typedef struct {
  stub_core core;
  stub_target target;
  mock m;
  char mem[STUB_MEM_SIZE(PKT)];
  char out[OUTSZ];
  size_t outlen;
  size_t parsed; /* bytes of out already examined */
  /* Parsed output since the last collect(). */
  char pkts[MAXPKTS][2 * PKT];
  size_t pkt_len[MAXPKTS];
  int npkts, acks, naks;
  int transport_fail;
} fixture;

/* ------------------------------------------------------------------------
 * Mock target.
 */

static int m_read(void *ctx, uint64_t addr, void *buf, size_t len) {
  mock *m = ctx;
  if (addr >= MEMSZ)
    return -STUB_EFAULT;
  if (len > MEMSZ - addr)
    len = (size_t)(MEMSZ - addr);
  memcpy(buf, m->mem + addr, len);
  return (int)len;
}

static int m_write(void *ctx, uint64_t addr, const void *buf, size_t len) {
  mock *m = ctx;
  if (addr >= MEMSZ || len > MEMSZ - addr)
    return -STUB_EFAULT;
  memcpy(m->mem + addr, buf, len);
  return 0;
}

static int m_read_fatal(void *ctx, uint64_t addr, void *buf, size_t len) {
  (void)ctx, (void)addr, (void)buf, (void)len;
  return STUB_EFATAL;
}

static int ph_read(void *ctx, uint64_t addr, void *buf, size_t len) {
  mock *m = ctx;
  if (addr >= MEMSZ)
    return -STUB_EFAULT;
  if (len > MEMSZ - addr)
    len = (size_t)(MEMSZ - addr);
  memcpy(buf, m->phys + addr, len);
  return (int)len;
}

static int ph_write(void *ctx, uint64_t addr, const void *buf, size_t len) {
  mock *m = ctx;
  if (addr >= MEMSZ || len > MEMSZ - addr)
    return -STUB_EFAULT;
  memcpy(m->phys + addr, buf, len);
  return 0;
}

static int r_read(void *ctx, unsigned regno, void *buf, size_t len) {
  mock *m = ctx;
  if ((int)regno == m->unavail_reg)
    return STUB_EUNAVAIL;
  if (m->fail_reg_fatal)
    return STUB_EFATAL;
  memcpy(buf, m->regs + stub_arch_x86_64.regs[regno].offset, len);
  return 0;
}

static int r_write(void *ctx, unsigned regno, const void *buf, size_t len) {
  mock *m = ctx;
  if (regno == 17) /* eflags is read-only in this mock */
    return -STUB_EPERM;
  memcpy(m->regs + stub_arch_x86_64.regs[regno].offset, buf, len);
  return 0;
}

static int run_cont(void *ctx, int sig) {
  mock *m = ctx;
  m->cont_calls++;
  m->last_resume_sig = sig;
  if (m->stop_in_cont)
    stub_report_stop(m->core, 5);
  return 0;
}

static int run_step(void *ctx, int sig) {
  mock *m = ctx;
  m->step_calls++;
  m->last_resume_sig = sig;
  return 0;
}

static int run_interrupt(void *ctx) {
  ((mock *)ctx)->interrupt_calls++;
  return 0;
}

static int run_kill(void *ctx) {
  ((mock *)ctx)->kill_calls++;
  return 0;
}

static int run_detach(void *ctx) {
  ((mock *)ctx)->detach_calls++;
  return 0;
}

static int bp_sw_insert(void *ctx, uint64_t addr, unsigned kind) {
  mock *m = ctx;
  (void)kind;
  m->sw_insert_calls++;
  m->sw_addr = addr;
  return 0;
}

static int bp_sw_remove(void *ctx, uint64_t addr, unsigned kind) {
  mock *m = ctx;
  (void)kind;
  m->sw_remove_calls++;
  m->sw_addr = addr;
  return 0;
}

static int bp_hw(void *ctx, uint64_t addr, unsigned kind) {
  (void)addr, (void)kind;
  ((mock *)ctx)->hw_calls++;
  return 0;
}

static int th_count(void *ctx) {
  (void)ctx;
  return 3;
}

static int th_select(void *ctx, int tid) {
  mock *m = ctx;
  if (tid == 3)
    return -STUB_EIO; /* a thread whose state cannot be loaded */
  m->selected = tid;
  return 0;
}

static int mon_command(void *ctx, stub_core *core, const char *cmd, size_t len) {
  mock *m = ctx;
  if (m->monitor_fail) {
    stub_set_error(core, "monitor says no");
    return -STUB_EINVAL;
  }
  stub_monitor_output(core, "echo:", 5);
  stub_monitor_output(core, cmd, len);
  return 0;
}

static const stub_mem_ops mem_rw = {m_read, m_write};
static const stub_mem_ops mem_ro = {m_read, NULL};
static const stub_mem_ops mem_fatal = {m_read_fatal, NULL};
static const stub_mem_ops phys_rw = {ph_read, ph_write};
static const stub_reg_ops regs_rw = {r_read, r_write};
static const stub_reg_ops regs_ro = {r_read, NULL};
static const stub_run_ops run_full = {run_cont, run_step, run_interrupt, run_kill, run_detach};
static const stub_run_ops run_nostep = {run_cont, NULL, run_interrupt, run_kill, run_detach};
static const stub_break_ops brk_port = {bp_sw_insert, bp_sw_remove, bp_hw, bp_hw};
static const stub_monitor_ops mon = {mon_command};
static const stub_thread_ops threads3 = {th_count, th_select};

/* ------------------------------------------------------------------------
 * Transport and helpers.
 */

static int t_write(void *ctx, const void *buf, size_t len) {
  fixture *f = ctx;
  if (f->transport_fail)
    return -1;
  assert_true(f->outlen + len <= OUTSZ);
  memcpy(f->out + f->outlen, buf, len);
  f->outlen += len;
  return 0;
}

static const stub_transport_ops transport = {t_write};

static int on_out_packet(rsp_parser *p, const char *at, size_t len) {
  fixture *f = p->data;
  assert_true(f->npkts < MAXPKTS);
  assert_true(len < sizeof(f->pkts[0]));
  memcpy(f->pkts[f->npkts], at, len);
  f->pkts[f->npkts][len] = '\0';
  f->pkt_len[f->npkts] = len;
  f->npkts++;
  return 0;
}

static int on_out_ack(rsp_parser *p) {
  ((fixture *)p->data)->acks++;
  return 0;
}

static int on_out_nak(rsp_parser *p) {
  ((fixture *)p->data)->naks++;
  return 0;
}

static int on_out_bad(rsp_parser *p) {
  (void)p;
  fail_msg("the core sent a frame with a bad checksum");
  return 0;
}

static int on_out_error(rsp_parser *p) {
  fail_msg("the core sent a malformed frame: %s", rsp_err_name(p->err));
  return 0;
}

static const rsp_parser_settings out_settings = {
    .on_packet = on_out_packet,
    .on_ack = on_out_ack,
    .on_nak = on_out_nak,
    .on_bad_checksum = on_out_bad,
    .on_error = on_out_error,
};

/* Parses everything the core wrote since the last call. */
static void collect(fixture *f) {
  static char body[2 * PKT];
  rsp_parser p;
  rsp_parser_init(&p, body, sizeof(body));
  p.data = f;
  f->npkts = f->acks = f->naks = 0;
  rsp_parser_execute(&p, &out_settings, f->out + f->parsed, f->outlen - f->parsed);
  f->parsed = f->outlen;
}

static int feed_raw(fixture *f, const char *raw, size_t len) {
  return stub_feed(&f->core, raw, len);
}

/* Frames body, feeds it, and returns the feed() result. */
static int send_body(fixture *f, const char *body, size_t len) {
  char frame[RSP_FRAME_MAX(2 * PKT)];
  int n = rsp_encode(frame, sizeof(frame), body, len, 0);
  assert_true(n > 0);
  return feed_raw(f, frame, (size_t)n);
}

/* Sends a command and returns the single reply body. */
static const char *req(fixture *f, const char *body) {
  int rc = send_body(f, body, strlen(body));
  assert_true(rc > 0);
  collect(f);
  assert_int_equal(f->acks, f->core.no_ack ? 0 : 1);
  assert_int_equal(f->npkts, 1);
  return f->pkts[0];
}

static void setup_target(fixture *f, const stub_mem_ops *mem, const stub_reg_ops *regs,
                         const stub_run_ops *run, const stub_break_ops *brk,
                         const stub_mem_ops *phys, const stub_monitor_ops *monitor) {
  int i;
  memset(f, 0, sizeof(*f));
  for (i = 0; i < MEMSZ; i++) {
    f->m.mem[i] = (uint8_t)(i * 7 + 1);
    f->m.phys[i] = (uint8_t)(0xff - i);
  }
  for (i = 0; i < (int)sizeof(f->m.regs); i++)
    f->m.regs[i] = (uint8_t)(i + 0x10);
  f->m.unavail_reg = -1;
  f->m.core = &f->core;
  f->target.arch = &stub_arch_x86_64;
  f->target.mem = mem;
  f->target.regs = regs;
  f->target.run = run;
  f->target.brk = brk;
  f->target.phys = phys;
  f->target.monitor = monitor;
  f->target.ctx = &f->m;
  assert_int_equal(stub_init(&f->core, &f->target, &transport, f, f->mem, sizeof(f->mem)), 0);
}

static int setup_full(void **state) {
  fixture *f = malloc(sizeof(*f));
  assert_non_null(f);
  setup_target(f, &mem_rw, &regs_rw, &run_full, NULL, &phys_rw, &mon);
  *state = f;
  return 0;
}

static int setup_dump(void **state) {
  fixture *f = malloc(sizeof(*f));
  assert_non_null(f);
  setup_target(f, &mem_ro, &regs_ro, NULL, NULL, NULL, NULL);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  free(*state);
  return 0;
}

static void hex_of(char *out, const void *data, size_t n) {
  const uint8_t *d = data;
  size_t i;
  for (i = 0; i < n; i++)
    sprintf(out + 2 * i, "%02x", d[i]);
  out[2 * n] = '\0';
}

/* ------------------------------------------------------------------------
 * Tests.
 */

static void test_init_rejects_small_memory(void **state) {
  fixture *f = *state;
  assert_int_equal(stub_init(&f->core, &f->target, &transport, f, f->mem, 100), RSP_EINVAL);
  assert_int_equal(stub_init(&f->core, &f->target, &transport, f, f->mem, sizeof(f->mem)), 0);
  assert_int_equal(stub_packet_size(&f->core), PKT);
}

static void test_qsupported_full(void **state) {
  fixture *f = *state;
  const char *r = req(f, "qSupported:multiprocess+;swbreak+");
  assert_non_null(strstr(r, "PacketSize=400"));
  assert_non_null(strstr(r, "QStartNoAckMode+"));
  assert_non_null(strstr(r, "qXfer:features:read+"));
  assert_non_null(strstr(r, "vContSupported+"));
  assert_null(strstr(r, "multiprocess"));
  assert_null(strstr(r, "error-message"));
  assert_string_equal(req(f, "qqemu.Supported"), "PhyMemMode");
}

static void test_qsupported_dump(void **state) {
  fixture *f = *state;
  const char *r = req(f, "qSupported");
  assert_non_null(strstr(r, "PacketSize=400"));
  assert_non_null(strstr(r, "qXfer:features:read+"));
  assert_null(strstr(r, "vContSupported"));
  /* No physical ops: QEMU's extension is not there either. */
  assert_string_equal(req(f, "qqemu.Supported"), "");
  assert_string_equal(req(f, "Qqemu.PhyMemMode:1"), "");
  /* Derived packet set: no writes, no run control, no breakpoints. */
  assert_string_equal(req(f, "M10,1:aa"), "");
  assert_string_equal(req(f, "X10,0:"), "");
  assert_string_equal(req(f, "P0=0000000000000000"), "");
  assert_string_equal(req(f, "vCont?"), "");
  assert_string_equal(req(f, "Z0,100,1"), "");
  assert_string_equal(req(f, "qRcmd,6869"), "");
  assert_int_equal(req(f, "c")[0], 'E');
}

static void test_qsupported_nostep(void **state) {
  fixture *f = *state;
  f->target.run = &run_nostep;
  assert_string_equal(req(f, "vCont?"), "vCont;c;C;t");
  f->target.run = &run_full;
  assert_string_equal(req(f, "vCont?"), "vCont;c;C;s;S;t");
  f->target.run = &run_nostep;
  assert_int_equal(req(f, "s")[0], 'E');
  assert_int_equal(f->m.step_calls, 0);
}

static void test_query_misc(void **state) {
  fixture *f = *state;
  assert_string_equal(req(f, "qAttached"), "1");
  assert_string_equal(req(f, "qfThreadInfo"), "m1");
  assert_string_equal(req(f, "qsThreadInfo"), "l");
  assert_string_equal(req(f, "qC"), "QC1");
  assert_string_equal(req(f, "Hg0"), "OK");
  assert_string_equal(req(f, "Hc-1"), "OK");
  assert_string_equal(req(f, "T1"), "OK");
  assert_int_equal(req(f, "T2")[0], 'E');
  assert_int_equal(req(f, "Hgzz")[0], 'E');
  assert_string_equal(req(f, "qTStatus"), "");
  assert_string_equal(req(f, "vMustReplyEmpty"), "");
  assert_string_equal(req(f, "!"), "");
  assert_string_equal(req(f, "?"), "T05thread:1;");
}

static void test_threads(void **state) {
  fixture *f = *state;
  f->target.threads = &threads3;
  assert_string_equal(req(f, "qfThreadInfo"), "m1,2,3");
  assert_string_equal(req(f, "qsThreadInfo"), "l");
  assert_string_equal(req(f, "qC"), "QC1");
  assert_string_equal(req(f, "Hg2"), "OK");
  assert_int_equal(f->m.selected, 2);
  assert_string_equal(req(f, "qC"), "QC2");
  assert_string_equal(req(f, "?"), "T05thread:2;");
  /* "any" and "all" keep the current thread; Hc selects nothing. */
  assert_string_equal(req(f, "Hg0"), "OK");
  assert_string_equal(req(f, "Hc-1"), "OK");
  assert_string_equal(req(f, "Hc1"), "OK");
  assert_string_equal(req(f, "qC"), "QC2");
  assert_string_equal(req(f, "T3"), "OK");
  assert_int_equal(req(f, "T4")[0], 'E');
  assert_int_equal(req(f, "Hg4")[0], 'E');
  /* A failing select keeps the old thread. */
  assert_string_equal(req(f, "Hg3"), "E05");
  assert_string_equal(req(f, "qC"), "QC2");
  /* vCont for the current thread applies. */
  f->m.stop_in_cont = 1;
  assert_string_equal(req(f, "vCont;c:2"), "T05thread:2;");
  /* A new session starts on the initial thread again. */
  stub_reset(&f->core);
  assert_int_equal(f->m.selected, 1);
  assert_string_equal(req(f, "qC"), "QC1");
  stub_set_thread(&f->core, 2);
  assert_string_equal(req(f, "qC"), "QC2");
  stub_reset(&f->core);
  assert_string_equal(req(f, "qC"), "QC2");
  stub_set_thread(&f->core, 1);
  assert_string_equal(req(f, "qC"), "QC1");
  stub_set_thread(&f->core, 9); /* no such thread: ignored */
  assert_string_equal(req(f, "qC"), "QC1");
}

static void test_g(void **state) {
  fixture *f = *state;
  const stub_arch *a = &stub_arch_x86_64;
  size_t total = 0;
  unsigned i;
  char want[2048];
  for (i = 0; i < a->nregs; i++)
    total += a->regs[i].bitsize / 8;
  hex_of(want, f->m.regs, total);
  assert_string_equal(req(f, "g"), want);

  /* An unavailable register travels as "xx" per byte. */
  f->m.unavail_reg = 1; /* rbx, bytes 8..15 */
  memset(want + 16, 'x', 16);
  assert_string_equal(req(f, "g"), want);
}

static void test_G(void **state) {
  fixture *f = *state;
  char body[2048] = "G";
  uint8_t regs[16];
  unsigned i;
  for (i = 0; i < sizeof(regs); i++)
    regs[i] = (uint8_t)(0xa0 + i);
  hex_of(body + 1, regs, sizeof(regs)); /* rax and rbx only: a short G */
  assert_string_equal(req(f, body), "OK");
  assert_memory_equal(f->m.regs, regs, sizeof(regs));
  assert_int_equal(f->m.regs[16], 16 + 0x10); /* rcx untouched */
  assert_int_equal(req(f, "G0")[0], 'E');
  assert_int_equal(req(f, "Gzz")[0], 'E');
}

static void test_p_P(void **state) {
  fixture *f = *state;
  char want[64];
  int cr3 = stub_arch_find_reg(&stub_arch_x86_64, "cr3");
  char body[64];
  assert_true(cr3 > 0);
  hex_of(want, f->m.regs + 128, 8); /* rip */
  assert_string_equal(req(f, "p10"), want);
  snprintf(body, sizeof(body), "p%x", cr3);
  hex_of(want, f->m.regs + stub_arch_x86_64.regs[cr3].offset, 8);
  assert_string_equal(req(f, body), want);

  assert_string_equal(req(f, "P10=efbeadde00000000"), "OK");
  assert_string_equal(req(f, "p10"), "efbeadde00000000");
  assert_int_equal(f->m.regs[128], 0xef);
  /* Wrong size, no such register, read-only register (errno from the op). */
  assert_string_equal(req(f, "P10=efbe"), "E.wrong register size");
  assert_string_equal(req(f, "p999"), "E.no such register");
  assert_string_equal(req(f, "P11=00000000"), "E01");
  assert_int_equal(req(f, "pxyz")[0], 'E');
  f->m.unavail_reg = 0x10;
  assert_string_equal(req(f, "p10"), "xxxxxxxxxxxxxxxx");
}

static void test_m(void **state) {
  fixture *f = *state;
  char want[2 * PKT + 1];
  hex_of(want, f->m.mem + 0x100, 16);
  assert_string_equal(req(f, "m100,10"), want);
  /* Unmapped: an errno, never data. */
  assert_string_equal(req(f, "m100000,4"), "E0e");
  /* Partial read at the end of memory. */
  hex_of(want, f->m.mem + MEMSZ - 2, 2);
  assert_string_equal(req(f, "mffe,10"), want);
  /* Larger than a reply can hold: cut to PacketSize / 2 bytes. */
  assert_int_equal(strlen(req(f, "m0,800")), PKT);
  hex_of(want, f->m.mem, PKT / 2);
  assert_string_equal(f->pkts[0], want);
  assert_int_equal(req(f, "m10")[0], 'E');
  assert_int_equal(req(f, "m,")[0], 'E');
  assert_int_equal(req(f, "mzz,1")[0], 'E');
}

static void test_M_X(void **state) {
  fixture *f = *state;
  static const uint8_t bin[] = {'$', '#', '}', '*', 0, 3, 0xff};
  char body[64];
  int n;
  assert_string_equal(req(f, "M200,3:aabbcc"), "OK");
  assert_int_equal(f->m.mem[0x200], 0xaa);
  assert_int_equal(f->m.mem[0x202], 0xcc);
  assert_int_equal(f->m.mem[0x203], (uint8_t)(0x203 * 7 + 1));
  assert_string_equal(req(f, "M100000,1:00"), "E0e");
  assert_int_equal(req(f, "M200,2:aa")[0], 'E');
  /* X carries binary; the escapes are the encoder's and parser's job. */
  n = snprintf(body, sizeof(body), "X300,%zx:", sizeof(bin));
  memcpy(body + n, bin, sizeof(bin));
  assert_true(send_body(f, body, (size_t)n + sizeof(bin)) > 0);
  collect(f);
  assert_int_equal(f->npkts, 1);
  assert_string_equal(f->pkts[0], "OK");
  assert_memory_equal(f->m.mem + 0x300, bin, sizeof(bin));
  /* The zero-length X probe GDB sends first. */
  assert_string_equal(req(f, "X0,0:"), "OK");
  assert_string_equal(req(f, "X100000,1:a"), "E0e");
  assert_int_equal(req(f, "X300,5:ab")[0], 'E');
}

static void test_continue_and_stop(void **state) {
  fixture *f = *state;
  assert_true(send_body(f, "c", 1) > 0);
  collect(f);
  /* An ack and no reply until the target stops. */
  assert_int_equal(f->acks, 1);
  assert_int_equal(f->npkts, 0);
  assert_int_equal(f->m.cont_calls, 1);
  assert_true(f->core.running);
  /* While running, a packet other than 0x03 gets an error. */
  assert_int_equal(req(f, "g")[0], 'E');
  /* 0x03 goes to the interrupt op; the port then reports the stop. */
  assert_int_equal(feed_raw(f, "\x03", 1), 1);
  assert_int_equal(f->m.interrupt_calls, 1);
  assert_int_equal(stub_report_stop(&f->core, 2), 0);
  collect(f);
  assert_int_equal(f->npkts, 1);
  assert_string_equal(f->pkts[0], "T02thread:1;");
  assert_false(f->core.running);
  assert_string_equal(req(f, "?"), "T02thread:1;");
  /* A stop nobody waits for is not sent. */
  assert_int_equal(stub_report_stop(&f->core, 5), 0);
  collect(f);
  assert_int_equal(f->npkts, 0);

  /* Step, with a signal; a stop reported from inside the op. */
  f->m.stop_in_cont = 1;
  assert_string_equal(req(f, "C0b"), "T05thread:1;");
  assert_int_equal(f->m.last_resume_sig, 0xb);
  assert_true(send_body(f, "S09", 3) > 0);
  assert_int_equal(f->m.step_calls, 1);
  assert_int_equal(f->m.last_resume_sig, 9);
  stub_report_stop(&f->core, 5);
  collect(f);
  assert_string_equal(f->pkts[0], "T05thread:1;");
  /* c ADDR sets the pc first. */
  assert_string_equal(req(f, "c1234"), "T05thread:1;");
  assert_int_equal(f->m.regs[128], 0x34);
  assert_int_equal(f->m.regs[129], 0x12);
  assert_int_equal(f->m.regs[130], 0);
  assert_int_equal(req(f, "Cxx")[0], 'E');
  assert_int_equal(req(f, "c12;")[0], 'E');
}

/* 0x03 while stopped races with a stop reply already sent: ignored, so
 * that no second stop reply is taken as the answer to the next request. */
static void test_interrupt_when_stopped(void **state) {
  fixture *f = *state;
  assert_int_equal(feed_raw(f, "\x03", 1), 1);
  collect(f);
  assert_int_equal(f->npkts, 0);
  assert_int_equal(f->m.interrupt_calls, 0);
  assert_string_equal(req(f, "qC"), "QC1");
}

static void test_vcont(void **state) {
  fixture *f = *state;
  f->m.stop_in_cont = 1;
  assert_string_equal(req(f, "vCont;c"), "T05thread:1;");
  assert_int_equal(f->m.cont_calls, 1);
  assert_string_equal(req(f, "vCont;C0f:1"), "T05thread:1;");
  assert_int_equal(f->m.last_resume_sig, 0xf);
  /* The first action that applies to thread 1 wins. */
  assert_true(send_body(f, "vCont;s:2;s:1;c", 15) > 0);
  collect(f);
  assert_int_equal(f->npkts, 0);
  assert_int_equal(f->m.step_calls, 1);
  stub_report_stop(&f->core, 5);
  collect(f);
  assert_int_equal(req(f, "vCont;c:2")[0], 'E');
  assert_int_equal(req(f, "vCont;q")[0], 'E');
  assert_int_equal(req(f, "vCont")[0], 'E');
  assert_string_equal(req(f, "vCont;t"), "OK");
  assert_int_equal(f->m.cont_calls, 2);
}

static void test_core_breakpoints(void **state) {
  fixture *f = *state;
  uint8_t before = f->m.mem[0x400];
  char body[32];
  int i;
  assert_string_equal(req(f, "Z0,400,1"), "OK");
  assert_int_equal(f->m.mem[0x400], 0xcc);
  assert_string_equal(req(f, "Z0,400,1"), "OK"); /* twice is fine */
  assert_string_equal(req(f, "z0,400,1"), "OK");
  assert_int_equal(f->m.mem[0x400], before);
  assert_int_equal(req(f, "z0,400,1")[0], 'E');
  assert_string_equal(req(f, "Z0,100000,1"), "E0e");
  /* No hardware breakpoint ops: Z1 and watchpoints are not supported. */
  assert_string_equal(req(f, "Z1,400,1"), "");
  assert_string_equal(req(f, "Z2,400,4"), "");
  assert_int_equal(req(f, "Z0,400")[0], 'E');
  /* The table is bounded. */
  for (i = 0; i < STUB_MAX_SWBP; i++) {
    snprintf(body, sizeof(body), "Z0,%x,1", 0x500 + i);
    assert_string_equal(req(f, body), "OK");
  }
  assert_string_equal(req(f, "Z0,600,1"), "E.too many breakpoints");
  /* Detach removes them all. */
  assert_int_equal(send_body(f, "D", 1), STUB_ECLOSED);
  for (i = 0; i < STUB_MAX_SWBP; i++)
    assert_int_equal(f->m.mem[0x500 + i], (uint8_t)((0x500 + i) * 7 + 1));
}

static void test_port_breakpoints(void **state) {
  fixture *f = *state;
  uint8_t before = f->m.mem[0x400];
  f->target.brk = &brk_port;
  assert_string_equal(req(f, "Z0,400,1"), "OK");
  assert_int_equal(f->m.sw_insert_calls, 1);
  assert_int_equal(f->m.sw_addr, 0x400);
  assert_int_equal(f->m.mem[0x400], before); /* the port did it, not the core */
  assert_string_equal(req(f, "z0,400,1"), "OK");
  assert_int_equal(f->m.sw_remove_calls, 1);
  assert_string_equal(req(f, "Z1,800,1"), "OK");
  assert_string_equal(req(f, "z1,800,1"), "OK");
  assert_int_equal(f->m.hw_calls, 2);
}

static void test_kill(void **state) {
  fixture *f = *state;
  assert_int_equal(send_body(f, "k", 1), STUB_ECLOSED);
  assert_int_equal(f->m.kill_calls, 1);
  collect(f);
  assert_int_equal(f->npkts, 0);
  /* The session is over until reset. */
  assert_int_equal(send_body(f, "g", 1), STUB_ECLOSED);
  stub_reset(&f->core);
  assert_string_equal(req(f, "qC"), "QC1");
}

static void test_rearm_after_detach(void **state) {
  fixture *f = *state;
  char frames[64];
  int n = rsp_encode(frames, sizeof(frames), "D", 1, 0);
  int m = rsp_encode(frames + n, sizeof(frames) - (size_t)n, "qC", 2, 0);
  /* D and the next packet in one read: the core stops after D and says
   * how much it consumed; after stub_rearm() the rest is served in the
   * same ack mode. */
  assert_true(n > 0 && m > 0);
  assert_int_equal(feed_raw(f, frames, (size_t)(n + m)), STUB_ECLOSED);
  assert_int_equal(f->core.fed, (size_t)n);
  stub_rearm(&f->core);
  assert_int_equal(feed_raw(f, frames + n, (size_t)m), m);
  collect(f);
  assert_int_equal(f->npkts, 2);
  assert_string_equal(f->pkts[0], "OK");
  assert_string_equal(f->pkts[1], "QC1");
  /* rearm does not revive a fatal session. */
  f->transport_fail = 1;
  assert_int_equal(send_body(f, "qC", 2), STUB_EFATAL);
  stub_rearm(&f->core);
  assert_int_equal(send_body(f, "qC", 2), STUB_EFATAL);
}

static void test_detach(void **state) {
  fixture *f = *state;
  assert_int_equal(send_body(f, "D", 1), STUB_ECLOSED);
  collect(f);
  assert_int_equal(f->npkts, 1);
  assert_string_equal(f->pkts[0], "OK");
  assert_int_equal(f->m.detach_calls, 1);
}

static void test_qrcmd(void **state) {
  fixture *f = *state;
  char body[64] = "qRcmd,";
  int n = rsp_format_qrcmd(body, sizeof(body), "hi there", 8);
  assert_true(n > 0);
  body[n] = '\0';
  assert_true(send_body(f, body, (size_t)n) > 0);
  collect(f);
  assert_int_equal(f->npkts, 3);
  assert_string_equal(f->pkts[0], "O6563686f3a"); /* "echo:" */
  assert_string_equal(f->pkts[1], "O6869207468657265");
  assert_string_equal(f->pkts[2], "OK");
  assert_int_equal(req(f, "qRcmd,6")[0], 'E');
  assert_int_equal(req(f, "qRcmd,zz")[0], 'E');

  /* A failing command: "E.msg" only for a client that said
   * error-message+ (qRcmd is one of the packets GDB checks it for). */
  f->m.monitor_fail = 1;
  assert_string_equal(req(f, "qRcmd,6869"), "E16");
  assert_non_null(strstr(req(f, "qSupported:error-message+"), "error-message+"));
  assert_string_equal(req(f, "qRcmd,6869"), "E.monitor says no");
  assert_string_equal(req(f, "m100000,1"), "E0e");
}

static void test_qxfer(void **state) {
  fixture *f = *state;
  const stub_arch *a = &stub_arch_x86_64;
  size_t total = stub_arch_xml_size(a), got = 0;
  char *xml = malloc(total + 1), *whole = malloc(total + 1);
  char body[80];
  assert_non_null(xml);
  assert_non_null(whole);
  assert_int_equal(stub_arch_xml_read(a, 0, whole, total), total);
  whole[total] = '\0';
  assert_non_null(strstr(whole, "<architecture>i386:x86-64</architecture>"));
  assert_non_null(strstr(whole, "<feature name=\"org.gnu.gdb.i386.core\">"));
  assert_non_null(strstr(whole, "<reg name=\"cr3\" bitsize=\"64\""));
  assert_non_null(strstr(whole, "<reg name=\"st7\" bitsize=\"80\" regnum=\"31\""));
  /* Types come inside the first feature, before the registers using them. */
  assert_true(strstr(whole, "<flags id=\"i386_eflags\"") > strstr(whole, "i386.core"));
  assert_true(strstr(whole, "<flags id=\"i386_eflags\"") < strstr(whole, "type=\"i386_eflags\""));
  /* Read in chunks that are not a multiple of anything. */
  for (;;) {
    snprintf(body, sizeof(body), "qXfer:features:read:target.xml:%zx,%x", got, 333);
    req(f, body);
    assert_true(f->pkts[0][0] == 'm' || f->pkts[0][0] == 'l');
    assert_true(got + f->pkt_len[0] - 1 <= total);
    memcpy(xml + got, f->pkts[0] + 1, f->pkt_len[0] - 1);
    got += f->pkt_len[0] - 1;
    if (f->pkts[0][0] == 'l')
      break;
    assert_int_equal(f->pkt_len[0] - 1, 333);
  }
  assert_int_equal(got, total);
  assert_memory_equal(xml, whole, total);
  snprintf(body, sizeof(body), "qXfer:features:read:target.xml:%zx,10", total + 5);
  assert_string_equal(req(f, body), "l");
  assert_string_equal(req(f, "qXfer:features:read:other.xml:0,10"), "E00");
  assert_string_equal(req(f, "qXfer:memory-map:read::0,10"), "");
  assert_int_equal(req(f, "qXfer:features:read:target.xml:zz")[0], 'E');
  free(xml);
  free(whole);
}

static void test_xml_other_arches(void **state) {
  char buf[8192];
  size_t n;
  (void)state;
  n = stub_arch_xml_read(&stub_arch_aarch64, 0, buf, sizeof(buf) - 1);
  assert_int_equal(n, stub_arch_xml_size(&stub_arch_aarch64));
  buf[n] = '\0';
  assert_non_null(strstr(buf, "<reg name=\"TTBR1_EL1\""));
  assert_non_null(strstr(buf, "<reg name=\"cpsr\" bitsize=\"32\" regnum=\"33\""));
  n = stub_arch_xml_read(&stub_arch_riscv64, 0, buf, sizeof(buf) - 1);
  buf[n] = '\0';
  assert_non_null(strstr(buf, "<reg name=\"satp\""));
  assert_non_null(strstr(buf, "<architecture>riscv:rv64</architecture>"));
  n = stub_arch_xml_read(&stub_arch_i386, 0, buf, sizeof(buf) - 1);
  buf[n] = '\0';
  assert_non_null(strstr(buf, "<architecture>i386</architecture>"));
  assert_non_null(strstr(buf, "<reg name=\"eip\" bitsize=\"32\" regnum=\"8\""));
  /* Not in org.gnu.gdb.i386.segments: GDB 13 asserts on it without AVX-512. */
  assert_null(strstr(buf, "i386.segments"));
  assert_int_equal(stub_arch_find_reg(&stub_arch_aarch64, "pc"), 32);
  assert_int_equal(stub_arch_find_reg(&stub_arch_riscv64, "nope"), -1);
}

static void test_phys_mode(void **state) {
  fixture *f = *state;
  char want[64];
  assert_string_equal(req(f, "qqemu.PhyMemMode"), "0");
  assert_string_equal(req(f, "Qqemu.PhyMemMode:1"), "OK");
  assert_string_equal(req(f, "qqemu.PhyMemMode"), "1");
  hex_of(want, f->m.phys + 0x10, 8);
  assert_string_equal(req(f, "m10,8"), want);
  assert_string_equal(req(f, "M10,1:42"), "OK");
  assert_int_equal(f->m.phys[0x10], 0x42);
  assert_int_equal(f->m.mem[0x10], (uint8_t)(0x10 * 7 + 1));
  assert_string_equal(req(f, "Qqemu.PhyMemMode:0"), "OK");
  hex_of(want, f->m.mem + 0x10, 8);
  assert_string_equal(req(f, "m10,8"), want);
  assert_int_equal(req(f, "Qqemu.PhyMemMode:2")[0], 'E');
  /* A new session starts in virtual mode. */
  assert_string_equal(req(f, "Qqemu.PhyMemMode:1"), "OK");
  stub_reset(&f->core);
  assert_string_equal(req(f, "qqemu.PhyMemMode"), "0");
}

static void test_bad_checksum_and_nak(void **state) {
  fixture *f = *state;
  assert_int_equal(feed_raw(f, "$g#00", 5), 5);
  collect(f);
  assert_int_equal(f->naks, 1);
  assert_int_equal(f->npkts, 0);
  /* '-' makes the core send its last frame again. */
  assert_string_equal(req(f, "qC"), "QC1");
  assert_int_equal(feed_raw(f, "-", 1), 1);
  collect(f);
  assert_int_equal(f->npkts, 1);
  assert_string_equal(f->pkts[0], "QC1");
  /* Garbage and acks between packets are ignored. */
  assert_int_equal(feed_raw(f, "xyz++\r\n", 7), 7);
  collect(f);
  assert_int_equal(f->npkts, 0);
  assert_int_equal(f->naks, 0);
}

static void test_no_ack_mode(void **state) {
  fixture *f = *state;
  assert_true(send_body(f, "QStartNoAckMode", 15) > 0);
  collect(f);
  assert_int_equal(f->acks, 1); /* the request itself was still acked */
  assert_int_equal(f->npkts, 1);
  assert_string_equal(f->pkts[0], "OK");
  assert_true(f->core.no_ack);
  /* From now on: no acks, and checksums are not verified. */
  assert_string_equal(req(f, "qC"), "QC1");
  assert_int_equal(feed_raw(f, "$qC#00", 6), 6);
  collect(f);
  assert_int_equal(f->acks, 0);
  assert_int_equal(f->naks, 0);
  assert_int_equal(f->npkts, 1);
  assert_string_equal(f->pkts[0], "QC1");
  /* A nak does not trigger a retransmission any more. */
  assert_int_equal(feed_raw(f, "-", 1), 1);
  collect(f);
  assert_int_equal(f->npkts, 0);
  stub_reset(&f->core);
  assert_false(f->core.no_ack);
  assert_string_equal(req(f, "qC"), "QC1");
}

static void test_oversize_packet(void **state) {
  fixture *f = *state;
  static char body[3 * PKT];
  size_t n = sizeof(body) - 1;
  memset(body, '0', n);
  memcpy(body, "M0,800:", 7);
  body[n] = '\0';
  assert_true(send_body(f, body, n) > 0);
  collect(f);
  assert_int_equal(f->npkts, 1);
  assert_int_equal(f->acks, 1);
  assert_string_equal(f->pkts[0], "E.packet longer than PacketSize");
  assert_int_equal(f->m.mem[0], 1); /* nothing written */
  /* The stream is in sync again. */
  assert_string_equal(req(f, "qC"), "QC1");
  /* A packet of exactly PacketSize is accepted. */
  memset(body, '0', PKT);
  memcpy(body, "M0,1fc:", 7);
  body[PKT] = '\0';
  assert_string_equal(req(f, body + 0), "E.malformed M packet");
  memcpy(body, "M0,1fb:", 7);
  body[7 + 2 * 0x1fb] = '\0';
  assert_string_equal(req(f, body), "OK");
  assert_int_equal(f->m.mem[0], 0);
}

static void test_split_every_byte(void **state) {
  fixture *f = *state;
  char frame[256], all[1024];
  size_t alln = 0, i;
  const char *cmds[] = {"qC", "m100,4", "p10", "qAttached"};
  for (i = 0; i < 4; i++) {
    int n = rsp_encode(frame, sizeof(frame), cmds[i], strlen(cmds[i]), 0);
    assert_true(n > 0);
    memcpy(all + alln, frame, (size_t)n);
    alln += (size_t)n;
  }
  for (i = 0; i < alln; i++)
    assert_int_equal(feed_raw(f, all + i, 1), 1);
  collect(f);
  assert_int_equal(f->npkts, 4);
  assert_int_equal(f->acks, 4);
  assert_string_equal(f->pkts[0], "QC1");
  assert_string_equal(f->pkts[3], "1");
  /* A packet cut short by a new '$' is dropped without a reply. */
  assert_int_equal(feed_raw(f, "$m1", 3), 3);
  assert_int_equal(feed_raw(f, "$qC#b4", 6), 6);
  collect(f);
  assert_int_equal(f->npkts, 1);
  assert_string_equal(f->pkts[0], "QC1");
}

static void test_fatal(void **state) {
  fixture *f = *state;
  f->target.mem = &mem_fatal;
  assert_int_equal(send_body(f, "m0,4", 4), STUB_EFATAL);
  collect(f);
  assert_int_equal(f->npkts, 0);
  assert_int_equal(send_body(f, "qC", 2), STUB_EFATAL);
  stub_reset(&f->core);
  f->m.fail_reg_fatal = 1;
  assert_int_equal(send_body(f, "g", 1), STUB_EFATAL);
  stub_reset(&f->core);
  f->m.fail_reg_fatal = 0;
  /* A transport that fails ends the session too. */
  f->transport_fail = 1;
  assert_int_equal(send_body(f, "qC", 2), STUB_EFATAL);
}

static void test_empty_packet(void **state) {
  fixture *f = *state;
  assert_string_equal(req(f, ""), "");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_init_rejects_small_memory, setup_full, teardown),
      cmocka_unit_test_setup_teardown(test_qsupported_full, setup_full, teardown),
      cmocka_unit_test_setup_teardown(test_qsupported_dump, setup_dump, teardown),
      cmocka_unit_test_setup_teardown(test_qsupported_nostep, setup_full, teardown),
      cmocka_unit_test_setup_teardown(test_query_misc, setup_full, teardown),
      cmocka_unit_test_setup_teardown(test_threads, setup_full, teardown),
      cmocka_unit_test_setup_teardown(test_g, setup_full, teardown),
      cmocka_unit_test_setup_teardown(test_G, setup_full, teardown),
      cmocka_unit_test_setup_teardown(test_p_P, setup_full, teardown),
      cmocka_unit_test_setup_teardown(test_m, setup_full, teardown),
      cmocka_unit_test_setup_teardown(test_M_X, setup_full, teardown),
      cmocka_unit_test_setup_teardown(test_continue_and_stop, setup_full, teardown),
      cmocka_unit_test_setup_teardown(test_interrupt_when_stopped, setup_full, teardown),
      cmocka_unit_test_setup_teardown(test_vcont, setup_full, teardown),
      cmocka_unit_test_setup_teardown(test_core_breakpoints, setup_full, teardown),
      cmocka_unit_test_setup_teardown(test_port_breakpoints, setup_full, teardown),
      cmocka_unit_test_setup_teardown(test_kill, setup_full, teardown),
      cmocka_unit_test_setup_teardown(test_detach, setup_full, teardown),
      cmocka_unit_test_setup_teardown(test_rearm_after_detach, setup_full, teardown),
      cmocka_unit_test_setup_teardown(test_qrcmd, setup_full, teardown),
      cmocka_unit_test_setup_teardown(test_qxfer, setup_full, teardown),
      cmocka_unit_test(test_xml_other_arches),
      cmocka_unit_test_setup_teardown(test_phys_mode, setup_full, teardown),
      cmocka_unit_test_setup_teardown(test_bad_checksum_and_nak, setup_full, teardown),
      cmocka_unit_test_setup_teardown(test_no_ack_mode, setup_full, teardown),
      cmocka_unit_test_setup_teardown(test_oversize_packet, setup_full, teardown),
      cmocka_unit_test_setup_teardown(test_split_every_byte, setup_full, teardown),
      cmocka_unit_test_setup_teardown(test_fatal, setup_full, teardown),
      cmocka_unit_test_setup_teardown(test_empty_packet, setup_full, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
