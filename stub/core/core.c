/* core.c - packet dispatch of the gdbstub core.
 *
 * Framing, escapes and checksums are proto/'s job; this file decides what
 * each packet means for a target described by stub_target.  Every packet
 * handler checks the ops it needs and answers the empty reply when they
 * are absent, so what the stub accepts follows from the tables alone.
 */
#include <string.h>

#include "stub_int.h"

/* ------------------------------------------------------------------------
 * Output.
 */

static int send_raw(stub_core *c, const char *buf, size_t len) {
  int rc = c->tr->write(c->tctx, buf, len);
  if (rc < 0 && !c->ended)
    c->ended = STUB_EFATAL;
  return rc < 0 ? STUB_EFATAL : 0;
}

/* Frames body (which may be c->body) into c->tx and sends it.  The frame
 * stays in c->tx for retransmission on a '-' ("Overview": ack mode). */
static int send_packet(stub_core *c, const char *body, size_t len) {
  int n = rsp_encode(c->tx, c->txcap, body, len, 0);
  if (n < 0) /* cannot happen: the frame buffer holds 2 * P + 4 */
    return send_packet(c, "E.reply too long", 16);
  c->txlen = (size_t)n;
  return send_raw(c, c->tx, c->txlen);
}

/* The same for a body known to hold only characters that need no escape
 * (hex digits, 'x'): framed with a copy and a checksum, which is several
 * times cheaper than the general encoder on large m and g replies. */
static int send_hex_packet(stub_core *c, const char *body, size_t len) {
  static const char digits[] = "0123456789abcdef";
  uint8_t sum;
  if (len + 4 > c->txcap)
    return send_packet(c, body, len);
  c->tx[0] = '$';
  memcpy(c->tx + 1, body, len);
  sum = rsp_checksum(body, len);
  c->tx[len + 1] = '#';
  c->tx[len + 2] = digits[sum >> 4];
  c->tx[len + 3] = digits[sum & 0xf];
  c->txlen = len + 4;
  return send_raw(c, c->tx, c->txlen);
}

static int send_str(stub_core *c, const char *s) {
  return send_packet(c, s, stub__strlen(s));
}

/* The one place that formats error replies.  rc is a target op's result
 * (negative); textual says whether "E.message" is allowed for the packet
 * being answered. */
static int send_error(stub_core *c, int rc, int textual) {
  const char *msg = c->errmsg;
  c->errmsg = NULL;
  if (rc <= STUB_EFATAL && rc != STUB_EUNAVAIL) {
    c->ended = STUB_EFATAL;
    return STUB_EFATAL;
  }
  if (msg && textual) {
    int n = rsp_format_error_msg(c->body, c->pkt, msg, stub__strlen(msg));
    if (n >= 0)
      return send_packet(c, c->body, (size_t)n);
  }
  /* Zero gives "E00", the code gdbserver uses for "no details". */
  if (rc > 0 || rc < -255)
    rc = -STUB_EIO;
  {
    int n = rsp_format_error(c->body, c->pkt, (uint8_t)-rc);
    return send_packet(c, c->body, (size_t)(n < 0 ? 0 : n));
  }
}

/* An error of the stub itself (bad syntax, out of range), not of a target
 * op: both forms, the message where allowed. */
static int send_fail(stub_core *c, int code, const char *msg, int textual) {
  c->errmsg = msg;
  return send_error(c, -code, textual);
}

static int send_stop(stub_core *c, int sig) {
  rsp_tid cur = {0, c->tid};
  int n = rsp_format_stop_T(c->body, c->pkt, (uint8_t)sig, &cur, 0, NULL, 0);
  if (n < 0)
    return send_str(c, "S05");
  return send_packet(c, c->body, (size_t)n);
}

/* ------------------------------------------------------------------------
 * Small parsing helpers (bodies are not NUL-terminated).
 */

static int body_is(const char *b, size_t len, const char *s) {
  size_t n = stub__strlen(s);
  return n == len && memcmp(b, s, n) == 0;
}

static int hexval(char ch) {
  return rsp_hex_digit((unsigned char)ch);
}

/* ------------------------------------------------------------------------
 * Capabilities, derived from the ops tables.
 */

static const stub_mem_ops *mem_ops(const stub_core *c) {
  return c->phys ? c->t->phys : c->t->mem;
}

static int can_read_regs(const stub_core *c) {
  return c->t->regs && c->t->regs->read && c->t->arch->nregs > 0;
}

static int can_write_regs(const stub_core *c) {
  return c->t->regs && c->t->regs->write && c->t->arch->nregs > 0;
}

static int can_run(const stub_core *c) {
  return c->t->run && c->t->run->cont;
}

static int can_step(const stub_core *c) {
  return can_run(c) && c->t->run->step;
}

static int can_phys(const stub_core *c) {
  return c->t->phys && c->t->phys->read;
}

static int port_swbp(const stub_core *c) {
  return c->t->brk && c->t->brk->sw_insert && c->t->brk->sw_remove;
}

/* The core plants breakpoints itself only for targets that can run: on a
 * dump a breakpoint could never be hit. */
static int core_swbp(const stub_core *c) {
  const stub_arch *a = c->t->arch;
  return !port_swbp(c) && can_run(c) && c->t->mem && c->t->mem->read && c->t->mem->write &&
         a->bp_insn && a->bp_len > 0 && a->bp_len <= sizeof(c->swbp[0].saved);
}

static int can_hwbp(const stub_core *c) {
  return c->t->brk && c->t->brk->hw_insert && c->t->brk->hw_remove;
}

static int thread_count(const stub_core *c) {
  int n;
  if (!c->t->threads || !c->t->threads->count || !c->t->threads->select)
    return 1;
  n = c->t->threads->count(c->t->ctx);
  return n < 1 ? 1 : n;
}

static int thread_alive(const stub_core *c, int64_t tid) {
  return tid >= 1 && tid <= thread_count(c);
}

/* ------------------------------------------------------------------------
 * Registers.
 */

static size_t reg_bytes(const stub_core *c, unsigned regno) {
  return c->t->arch->regs[regno].bitsize / 8;
}

/* Appends register regno as hex (or "xx" per byte) at out; returns the
 * characters written or a negative op result. */
static int reg_hex(stub_core *c, unsigned regno, char *out, size_t cap) {
  uint8_t val[64];
  size_t n = reg_bytes(c, regno), i;
  int rc;
  if (n > sizeof(val) || 2 * n > cap)
    return RSP_ENOBUFS;
  rc = c->t->regs->read(c->t->ctx, regno, val, n);
  if (rc == STUB_EUNAVAIL) {
    for (i = 0; i < 2 * n; i++)
      out[i] = 'x';
    return (int)(2 * n);
  }
  if (rc < 0)
    return rc;
  return rsp_hex_encode(out, cap, val, n);
}

static int handle_g(stub_core *c) {
  const stub_arch *a = c->t->arch;
  size_t len = 0;
  unsigned i;
  if (!can_read_regs(c))
    return send_str(c, "");
  for (i = 0; i < a->g_nregs && i < a->nregs; i++) {
    int n;
    /* A register that no longer fits is left out: GDB fetches the rest
     * with 'p' ("Packets": the g reply may be short). */
    if (len + 2 * reg_bytes(c, i) > c->pkt)
      break;
    n = reg_hex(c, i, c->body + len, c->pkt - len);
    if (n < 0)
      return send_error(c, n, 1);
    len += (size_t)n;
  }
  return send_hex_packet(c, c->body, len);
}

static int handle_G(stub_core *c, const char *b, size_t len) {
  const stub_arch *a = c->t->arch;
  size_t pos = 1;
  unsigned i;
  uint8_t val[64];
  if (!can_write_regs(c))
    return send_str(c, "");
  if ((len - 1) % 2 != 0)
    return send_fail(c, STUB_EINVAL, "odd number of hex digits", 1);
  for (i = 0; i < a->g_nregs && i < a->nregs && pos < len; i++) {
    size_t n = reg_bytes(c, i);
    int rc;
    if (pos + 2 * n > len || n > sizeof(val))
      break; /* a short G leaves the remaining registers alone */
    if (rsp_hex_decode(val, sizeof(val), b + pos, 2 * n) < 0)
      return send_fail(c, STUB_EINVAL, "bad hex digit", 1);
    rc = c->t->regs->write(c->t->ctx, i, val, n);
    if (rc < 0)
      return send_error(c, rc, 1);
    pos += 2 * n;
  }
  if (pos != len)
    return send_fail(c, STUB_EINVAL, "G packet ends inside a register", 1);
  return send_str(c, "OK");
}

static int handle_p(stub_core *c, const char *b, size_t len) {
  uint64_t regno;
  int n;
  if (!can_read_regs(c))
    return send_str(c, "");
  if (rsp_parse_p(b, len, &regno) < 0)
    return send_fail(c, STUB_EINVAL, "malformed p packet", 1);
  if (regno >= c->t->arch->nregs)
    return send_fail(c, STUB_EINVAL, "no such register", 1);
  n = reg_hex(c, (unsigned)regno, c->body, c->pkt);
  if (n < 0)
    return send_error(c, n, 1);
  return send_hex_packet(c, c->body, (size_t)n);
}

static int handle_P(stub_core *c, const char *b, size_t len) {
  uint64_t regno;
  uint8_t val[64];
  size_t vlen;
  int rc;
  if (!can_write_regs(c))
    return send_str(c, "");
  if (rsp_parse_P(b, len, &regno, val, sizeof(val), &vlen) < 0)
    return send_fail(c, STUB_EINVAL, "malformed P packet", 1);
  if (regno >= c->t->arch->nregs)
    return send_fail(c, STUB_EINVAL, "no such register", 1);
  if (vlen != reg_bytes(c, (unsigned)regno))
    return send_fail(c, STUB_EINVAL, "wrong register size", 1);
  rc = c->t->regs->write(c->t->ctx, (unsigned)regno, val, vlen);
  if (rc < 0)
    return send_error(c, rc, 1);
  return send_str(c, "OK");
}

/* ------------------------------------------------------------------------
 * Memory.
 */

static int handle_m(stub_core *c, const char *b, size_t len) {
  const stub_mem_ops *ops = mem_ops(c);
  uint64_t addr, n;
  size_t got = 0;
  int rc;
  if (!ops || !ops->read)
    return send_str(c, "");
  if (rsp_parse_m(b, len, &addr, &n) < 0)
    return send_fail(c, STUB_EINVAL, "malformed m packet", c->client_errmsg);
  /* The reply may hold fewer bytes than asked ("Packets", m). */
  if (n > c->pkt / 2)
    n = c->pkt / 2;
  /* The request has been parsed, so the receive body is free to hold the
   * raw bytes. */
  while (got < n) {
    rc = ops->read(c->t->ctx, addr + got, c->rx + got, (size_t)n - got);
    if (rc <= 0) {
      if (got > 0 && rc > STUB_EFATAL)
        break; /* a partial read is a valid reply */
      if (rc == 0)
        rc = -STUB_EIO;
      return send_error(c, rc, c->client_errmsg);
    }
    got += (size_t)rc;
  }
  rc = rsp_hex_encode(c->body, c->pkt, c->rx, got);
  return send_hex_packet(c, c->body, rc < 0 ? 0 : (size_t)rc);
}

static int mem_write(stub_core *c, const stub_mem_ops *ops, uint64_t addr, const void *data,
                     size_t n) {
  int rc = n ? ops->write(c->t->ctx, addr, data, n) : 0;
  if (rc < 0)
    return send_error(c, rc, 1);
  return send_str(c, "OK");
}

static int handle_M(stub_core *c, const char *b, size_t len) {
  const stub_mem_ops *ops = mem_ops(c);
  uint64_t addr, n;
  if (!ops || !ops->write)
    return send_str(c, "");
  if (rsp_parse_M(b, len, &addr, &n, c->body, c->pkt) < 0)
    return send_fail(c, STUB_EINVAL, "malformed M packet", 1);
  return mem_write(c, ops, addr, c->body, (size_t)n);
}

static int handle_X(stub_core *c, const char *b, size_t len) {
  const stub_mem_ops *ops = mem_ops(c);
  uint64_t addr, n;
  const char *data;
  if (!ops || !ops->write)
    return send_str(c, "");
  if (rsp_parse_X(b, len, &addr, &n, &data) < 0)
    return send_fail(c, STUB_EINVAL, "malformed X packet", 1);
  return mem_write(c, ops, addr, data, (size_t)n);
}

/* ------------------------------------------------------------------------
 * Run control.
 */

static int resume(stub_core *c, int step, int sig) {
  int rc;
  if (step && !can_step(c))
    return send_fail(c, STUB_EINVAL, "target cannot single-step", 1);
  c->running = 1;
  rc = step ? c->t->run->step(c->t->ctx, sig) : c->t->run->cont(c->t->ctx, sig);
  if (rc < 0) {
    c->running = 0;
    return send_error(c, rc, 1);
  }
  /* No reply now: the stop reply comes from stub_report_stop(). */
  return 0;
}

/* c [ADDR], s [ADDR], C SIG[;ADDR], S SIG[;ADDR] */
static int handle_resume(stub_core *c, const char *b, size_t len) {
  const char *p = b + 1, *end = b + len;
  int step = b[0] == 's' || b[0] == 'S';
  uint64_t sig = 0, addr;
  if (!can_run(c))
    return send_fail(c, STUB_EPERM, "target cannot run (a memory dump?)", 1);
  if (b[0] == 'C' || b[0] == 'S') {
    if (rsp_parse_hex(&p, end, &sig) < 0 || sig > 255)
      return send_fail(c, STUB_EINVAL, "malformed resume packet", 1);
    if (p < end && *p++ != ';')
      return send_fail(c, STUB_EINVAL, "malformed resume packet", 1);
  }
  if (p < end) {
    uint8_t val[16];
    const stub_arch *a = c->t->arch;
    size_t n, i;
    int rc;
    if (rsp_parse_hex(&p, end, &addr) < 0 || p != end)
      return send_fail(c, STUB_EINVAL, "malformed resume address", 1);
    if (!can_write_regs(c) || a->pc_regno < 0 || (unsigned)a->pc_regno >= a->nregs)
      return send_fail(c, STUB_EINVAL, "cannot set the pc", 1);
    n = reg_bytes(c, (unsigned)a->pc_regno);
    if (n > sizeof(val))
      return send_fail(c, STUB_EINVAL, "cannot set the pc", 1);
    for (i = 0; i < n; i++) /* the address is a number; registers are little endian */
      val[i] = (uint8_t)(i < 8 ? addr >> (8 * i) : 0);
    rc = c->t->regs->write(c->t->ctx, (unsigned)a->pc_regno, val, n);
    if (rc < 0)
      return send_error(c, rc, 1);
  }
  return resume(c, step, (int)sig);
}

static int handle_vcont(stub_core *c, const char *b, size_t len) {
  rsp_vcont_iter it;
  rsp_vcont_action act;
  int rc;
  if (!can_run(c))
    return send_str(c, "");
  if (body_is(b, len, "vCont?")) {
    /* "Packets", vCont?: the actions the stub supports. */
    const char *r = can_step(c) ? "vCont;c;C;s;S;t" : "vCont;c;C;t";
    return send_str(c, r);
  }
  if (rsp_vcont_begin(&it, b, len) < 0)
    return send_fail(c, STUB_EINVAL, "malformed vCont", 1);
  /* The first action that applies to our single thread wins, as the
   * manual specifies ("Packets", vCont). */
  while ((rc = rsp_vcont_next(&it, &act)) == 1) {
    if (act.has_tid && act.tid.tid != -1 && act.tid.tid != c->tid && act.tid.tid != 0)
      continue;
    switch (act.action) {
    case 'c':
    case 'C':
      return resume(c, 0, act.action == 'C' ? act.sig : 0);
    case 's':
    case 'S':
      return resume(c, 1, act.action == 'S' ? act.sig : 0);
    case 't':
      if (c->running && c->t->run->interrupt) {
        rc = c->t->run->interrupt(c->t->ctx);
        if (rc < 0)
          return send_error(c, rc, 1);
      }
      return send_str(c, "OK");
    default:
      return send_fail(c, STUB_EINVAL, "vCont action not supported", 1);
    }
  }
  if (rc < 0)
    return send_fail(c, STUB_EINVAL, "malformed vCont", 1);
  return send_fail(c, STUB_EINVAL, "vCont names no thread of this target", 1);
}

/* ------------------------------------------------------------------------
 * Breakpoints.
 */

static int swbp_insert(stub_core *c, uint64_t addr) {
  const stub_arch *a = c->t->arch;
  int i, free_slot = -1, rc;
  for (i = 0; i < STUB_MAX_SWBP; i++) {
    if (c->swbp[i].used && c->swbp[i].addr == addr)
      return 0; /* inserting twice is not an error ("Packets", Z0) */
    if (!c->swbp[i].used && free_slot < 0)
      free_slot = i;
  }
  if (free_slot < 0) {
    c->errmsg = "too many breakpoints";
    return -STUB_ENOSPC;
  }
  rc = c->t->mem->read(c->t->ctx, addr, c->swbp[free_slot].saved, a->bp_len);
  if (rc >= 0 && (unsigned)rc != a->bp_len)
    rc = -STUB_EFAULT;
  if (rc < 0)
    return rc;
  rc = c->t->mem->write(c->t->ctx, addr, a->bp_insn, a->bp_len);
  if (rc < 0)
    return rc;
  c->swbp[free_slot].addr = addr;
  c->swbp[free_slot].used = 1;
  return 0;
}

static int swbp_remove(stub_core *c, uint64_t addr) {
  int i, rc;
  for (i = 0; i < STUB_MAX_SWBP; i++) {
    if (!c->swbp[i].used || c->swbp[i].addr != addr)
      continue;
    rc = c->t->mem->write(c->t->ctx, addr, c->swbp[i].saved, c->t->arch->bp_len);
    if (rc < 0)
      return rc;
    c->swbp[i].used = 0;
    return 0;
  }
  c->errmsg = "no breakpoint at this address";
  return -STUB_EINVAL;
}

/* Z TYPE,ADDR,KIND and z TYPE,ADDR,KIND; conditions (";X...") are not
 * supported and not advertised. */
static int handle_Z(stub_core *c, const char *b, size_t len) {
  const char *p = b + 1, *end = b + len;
  uint64_t type, addr, kind;
  int insert = b[0] == 'Z', rc;
  if (rsp_parse_hex(&p, end, &type) < 0 || p >= end || *p++ != ',' ||
      rsp_parse_hex(&p, end, &addr) < 0 || p >= end || *p++ != ',' ||
      rsp_parse_hex(&p, end, &kind) < 0 || p != end) {
    /* An unknown type with odd syntax is still "not supported". */
    if (len >= 2 && b[1] != '0' && b[1] != '1')
      return send_str(c, "");
    return send_fail(c, STUB_EINVAL, "malformed breakpoint packet", 1);
  }
  if (type == 0 && port_swbp(c)) {
    rc = insert ? c->t->brk->sw_insert(c->t->ctx, addr, (unsigned)kind)
                : c->t->brk->sw_remove(c->t->ctx, addr, (unsigned)kind);
  } else if (type == 0 && core_swbp(c)) {
    rc = insert ? swbp_insert(c, addr) : swbp_remove(c, addr);
  } else if (type == 1 && can_hwbp(c)) {
    rc = insert ? c->t->brk->hw_insert(c->t->ctx, addr, (unsigned)kind)
                : c->t->brk->hw_remove(c->t->ctx, addr, (unsigned)kind);
  } else {
    return send_str(c, "");
  }
  if (rc < 0)
    return send_error(c, rc, 1);
  return send_str(c, "OK");
}

/* ------------------------------------------------------------------------
 * Queries.
 */

static int handle_qsupported(stub_core *c, const char *b, size_t len) {
  char *o = c->body;
  size_t n = 0, cap = c->pkt;
  int k;
  c->client_errmsg = 0;
  if (len > 11 && b[10] == ':') {
    rsp_feature f;
    if (rsp_features_find(b + 11, len - 11, "error-message", &f) == 1 && f.kind == '+')
      c->client_errmsg = 1;
  }
#define APPEND(s)                                                       \
  do {                                                                  \
    size_t l_ = stub__strlen(s);                                        \
    if (n + l_ > cap)                                                   \
      return send_fail(c, STUB_ENOSPC, "qSupported reply too long", 1); \
    memcpy(o + n, s, l_);                                               \
    n += l_;                                                            \
  } while (0)
  APPEND("PacketSize=");
  k = rsp_format_hex(o + n, cap - n, c->pkt);
  if (k < 0)
    return send_fail(c, STUB_ENOSPC, "qSupported reply too long", 1);
  n += (size_t)k;
  APPEND(";QStartNoAckMode+");
  if (c->t->arch->nregs > 0 || c->t->arch->xml)
    APPEND(";qXfer:features:read+");
  if (can_run(c))
    APPEND(";vContSupported+");
  if (c->client_errmsg)
    APPEND(";error-message+");
#undef APPEND
  return send_packet(c, o, n);
}

static int handle_qxfer(stub_core *c, const char *b, size_t len) {
  rsp_qxfer x;
  size_t total, want, got;
  if (rsp_parse_qxfer_read(b, len, &x) < 0)
    return send_fail(c, STUB_EINVAL, "malformed qXfer", 1);
  if (!(x.object_len == 8 && memcmp(x.object, "features", 8) == 0))
    return send_str(c, "");
  if (!(x.annex_len == 10 && memcmp(x.annex, "target.xml", 10) == 0))
    return send_error(c, 0, 0); /* "E00", as gdbserver answers */
  total = stub_arch_xml_size(c->t->arch);
  want = x.length < c->pkt - 1 ? (size_t)x.length : c->pkt - 1;
  c->body[0] = 'l';
  got = 0;
  if (x.offset < total)
    got = stub_arch_xml_read(c->t->arch, x.offset, c->body + 1, want);
  if (x.offset + got < total)
    c->body[0] = 'm';
  return send_packet(c, c->body, got + 1);
}

/* qRcmd,HEX: the hex text is decoded in place, in the receive body (the
 * write index stays behind the read index). */
static int handle_qrcmd(stub_core *c, const char *b, size_t len) {
  char *cmd = c->rx;
  size_t i, n;
  int rc;
  if (!c->t->monitor || !c->t->monitor->command)
    return send_str(c, "");
  if ((len - 6) % 2 != 0)
    return send_fail(c, STUB_EINVAL, "malformed qRcmd", c->client_errmsg);
  n = (len - 6) / 2;
  for (i = 0; i < n; i++) {
    int hi = hexval(b[6 + 2 * i]), lo = hexval(b[7 + 2 * i]);
    if (hi < 0 || lo < 0)
      return send_fail(c, STUB_EINVAL, "malformed qRcmd", c->client_errmsg);
    cmd[i] = (char)(hi << 4 | lo);
  }
  rc = c->t->monitor->command(c->t->ctx, c, cmd, n);
  if (c->ended)
    return STUB_EFATAL;
  if (rc < 0)
    return send_error(c, rc, c->client_errmsg);
  return send_str(c, "OK");
}

static int handle_q(stub_core *c, const char *b, size_t len) {
  if (rsp_has_prefix(b, len, "qSupported") && (len == 10 || b[10] == ':'))
    return handle_qsupported(c, b, len);
  if (rsp_has_prefix(b, len, "qXfer:"))
    return handle_qxfer(c, b, len);
  if (rsp_has_prefix(b, len, "qRcmd,"))
    return handle_qrcmd(c, b, len);
  /* One process with one thread, id 1: the minimum "General Query
   * Packets" lets GDB work with. */
  if (body_is(b, len, "qAttached") || rsp_has_prefix(b, len, "qAttached:"))
    return send_str(c, "1");
  if (body_is(b, len, "qfThreadInfo")) {
    int i, n = thread_count(c), k;
    size_t o = 0;
    c->body[o++] = 'm';
    for (i = 1; i <= n; i++) {
      if (i > 1)
        c->body[o++] = ',';
      k = rsp_format_hex(c->body + o, c->pkt - o - 1, (uint64_t)i);
      if (k < 0 || o + (size_t)k + 1 >= c->pkt)
        return send_fail(c, STUB_ENOSPC, "too many threads for PacketSize", 1);
      o += (size_t)k;
    }
    return send_packet(c, c->body, o);
  }
  if (body_is(b, len, "qsThreadInfo"))
    return send_str(c, "l");
  if (body_is(b, len, "qC")) {
    int k;
    c->body[0] = 'Q';
    c->body[1] = 'C';
    k = rsp_format_hex(c->body + 2, c->pkt - 2, (uint64_t)c->tid);
    return send_packet(c, c->body, (size_t)(k < 0 ? 0 : k) + 2);
  }
  if (can_phys(c)) {
    /* QEMU's extension ("qqemu.Supported" in QEMU's gdbstub). */
    if (body_is(b, len, "qqemu.Supported"))
      return send_str(c, "PhyMemMode");
    if (body_is(b, len, "qqemu.PhyMemMode"))
      return send_str(c, c->phys ? "1" : "0");
  }
  return send_str(c, "");
}

static int handle_Q(stub_core *c, const char *b, size_t len) {
  if (body_is(b, len, "QStartNoAckMode")) {
    /* The OK still travels in ack mode; GDB acks it and both sides stop
     * ("Packet Acknowledgment"). */
    int rc = send_str(c, "OK");
    c->no_ack = 1;
    c->parser.flags |= RSP_PARSER_NOVERIFY;
    return rc;
  }
  if (can_phys(c) && rsp_has_prefix(b, len, "Qqemu.PhyMemMode:")) {
    if (len == 18 && (b[17] == '0' || b[17] == '1')) {
      c->phys = b[17] == '1';
      return send_str(c, "OK");
    }
    return send_fail(c, STUB_EINVAL, "PhyMemMode takes 0 or 1", 1);
  }
  return send_str(c, "");
}

/* H OP TID and T TID.  Hg selects the thread of register and memory ops;
 * 0 ("any") and -1 ("all") keep the current one.  Hc is accepted: in
 * all-stop mode every thread resumes together. */
static int handle_thread(stub_core *c, const char *b, size_t len) {
  const char *p = b + (b[0] == 'H' ? 2 : 1), *end = b + len;
  rsp_tid t;
  if ((b[0] == 'H' && len < 2) || rsp_parse_tid(&p, end, &t) < 0 || p != end)
    return send_fail(c, STUB_EINVAL, "malformed thread id", 1);
  if (b[0] == 'H' && (t.tid == 0 || t.tid == -1))
    return send_str(c, "OK");
  if (!thread_alive(c, t.tid))
    return send_fail(c, STUB_EINVAL, "no such thread", 1);
  if (b[0] == 'H' && b[1] == 'g' && t.tid != c->tid) {
    if (c->t->threads && c->t->threads->select) {
      int rc = c->t->threads->select(c->t->ctx, (int)t.tid);
      if (rc < 0)
        return send_error(c, rc, 1);
    }
    c->tid = (int)t.tid;
  }
  return send_str(c, "OK");
}

static int handle_kill(stub_core *c) {
  int rc = 0;
  if (c->t->run && c->t->run->kill)
    rc = c->t->run->kill(c->t->ctx);
  /* "Packets", k: no reply; the session ends either way. */
  c->running = 0;
  if (!c->ended)
    c->ended = rc <= STUB_EFATAL ? STUB_EFATAL : STUB_ECLOSED;
  return c->ended;
}

static int handle_detach(stub_core *c) {
  int rc = 0, i;
  /* Breakpoints the core planted must not outlive the session. */
  for (i = 0; i < STUB_MAX_SWBP; i++)
    if (c->swbp[i].used)
      swbp_remove(c, c->swbp[i].addr);
  c->errmsg = NULL;
  if (c->t->run && c->t->run->detach)
    rc = c->t->run->detach(c->t->ctx);
  if (rc < 0)
    return send_error(c, rc, 1);
  rc = send_str(c, "OK");
  if (!c->ended)
    c->ended = STUB_ECLOSED;
  return rc;
}

/* What a packet is comes from proto/ (rsp_classify_request); within a class
 * the core implements some packets and answers "" to the others
 * ("Packets": an empty reply means not supported). */
static void dispatch(stub_core *c, const char *b, size_t len) {
  c->errmsg = NULL;
  switch (rsp_classify_request(b, len, NULL)) {
  case RSP_REQ_STOP_QUERY:
    if (b[0] == '?') { /* not vStopped: no non-stop mode */
      send_stop(c, c->last_sig);
      return;
    }
    break;
  case RSP_REQ_REG_READ:
    if (b[0] == 'p') {
      handle_p(c, b, len);
      return;
    }
    if (len == 1) {
      handle_g(c);
      return;
    }
    break;
  case RSP_REQ_REG_WRITE:
    if (b[0] == 'G')
      handle_G(c, b, len);
    else
      handle_P(c, b, len);
    return;
  case RSP_REQ_MEM_READ:
    if (b[0] == 'm') {
      handle_m(c, b, len);
      return;
    }
    break;
  case RSP_REQ_MEM_WRITE:
    if (b[0] == 'M') {
      handle_M(c, b, len);
      return;
    }
    if (b[0] == 'X') {
      handle_X(c, b, len);
      return;
    }
    break;
  case RSP_REQ_RESUME:
    if (b[0] == 'c' || b[0] == 's' || b[0] == 'C' || b[0] == 'S') {
      handle_resume(c, b, len);
      return;
    }
    if (b[0] == 'v' && rsp_has_prefix(b, len, "vCont;")) {
      handle_vcont(c, b, len);
      return;
    }
    break;
  case RSP_REQ_QUERY:
    if (b[0] == 'q') {
      handle_q(c, b, len);
      return;
    }
    if (rsp_has_prefix(b, len, "vCont?")) {
      handle_vcont(c, b, len);
      return;
    }
    break;
  case RSP_REQ_MONITOR:
    handle_qrcmd(c, b, len);
    return;
  case RSP_REQ_BREAKPOINT:
    if (b[0] == 'Z' || b[0] == 'z') {
      handle_Z(c, b, len);
      return;
    }
    break;
  case RSP_REQ_KILL:
    if (b[0] == 'k') {
      handle_kill(c);
      return;
    }
    break;
  case RSP_REQ_DETACH:
    handle_detach(c);
    return;
  case RSP_REQ_THREAD:
    handle_thread(c, b, len);
    return;
  case RSP_REQ_SET:
    if (b[0] == 'Q') {
      handle_Q(c, b, len);
      return;
    }
    break;
  case RSP_REQ_UNKNOWN:
    if (body_is(b, len, "vCont")) {
      handle_vcont(c, b, len); /* no action: refused as malformed */
      return;
    }
    break;
  default:
    break;
  }
  send_str(c, "");
}

/* ------------------------------------------------------------------------
 * Parser callbacks.
 */

static int on_packet(rsp_parser *p, const char *at, size_t len) {
  stub_core *c = p->data;
  if (!c->no_ack && send_raw(c, "+", 1) < 0)
    return 1;
  if (c->running) {
    /* All-stop mode: while the target runs only 0x03 is meaningful
     * ("Overview"); anything else is answered with an error so that a
     * confused client does not wait forever. */
    send_fail(c, STUB_EPERM, "target is running", 1);
  } else {
    dispatch(c, at, len);
  }
  return c->ended ? 1 : 0;
}

static int on_nak(rsp_parser *p) {
  stub_core *c = p->data;
  if (!c->no_ack && c->txlen)
    send_raw(c, c->tx, c->txlen);
  return c->ended ? 1 : 0;
}

static int on_interrupt(rsp_parser *p) {
  stub_core *c = p->data;
  if (c->running) {
    if (c->t->run && c->t->run->interrupt) {
      int rc = c->t->run->interrupt(c->t->ctx);
      if (rc <= STUB_EFATAL)
        c->ended = STUB_EFATAL;
    }
  }
  /* Stopped already: ignored, as gdbserver does.  The client sends 0x03
   * only while it waits for a stop reply, so the target stopped just
   * before and that reply is on its way; a second one would be taken as
   * the answer to the client's next request. */
  return c->ended ? 1 : 0;
}

static int on_bad_checksum(rsp_parser *p) {
  stub_core *c = p->data;
  if (!c->no_ack)
    send_raw(c, "-", 1);
  return c->ended ? 1 : 0;
}

/* A dropped packet.  A truncated one (a new '$' started) needs nothing; an
 * oversize or malformed one is acknowledged and answered with an error,
 * since asking for a retransmission would only bring the same bytes
 * back. */
static int on_error(rsp_parser *p) {
  stub_core *c = p->data;
  if (p->err == RSP_ETRUNCATED)
    return 0;
  if (!c->no_ack)
    send_raw(c, "+", 1);
  if (!c->ended) {
    if (p->err == RSP_EOVERFLOW)
      send_fail(c, STUB_ENOSPC, "packet longer than PacketSize", 1);
    else
      send_fail(c, STUB_EINVAL, "malformed packet", 1);
  }
  return c->ended ? 1 : 0;
}

static const rsp_parser_settings settings = {
    .on_packet = on_packet,
    .on_notification = NULL,
    .on_ack = NULL,
    .on_nak = on_nak,
    .on_interrupt = on_interrupt,
    .on_bad_checksum = on_bad_checksum,
    .on_error = on_error,
};

/* ------------------------------------------------------------------------
 * Public API.
 */

int stub_init(stub_core *c, const stub_target *t, const stub_transport_ops *tr, void *tctx,
              void *mem, size_t memsize) {
  size_t pkt;
  if (!c || !t || !t->arch || !tr || !tr->write || !mem || memsize < STUB_MEM_SIZE(STUB_MIN_PACKET))
    return RSP_EINVAL;
  if (t->arch->nregs > 0 && t->arch->g_nregs > t->arch->nregs)
    return RSP_EINVAL;
  pkt = (memsize - 4) / 4;
  memset(c, 0, sizeof(*c));
  c->t = t;
  c->tr = tr;
  c->tctx = tctx;
  c->pkt = pkt;
  c->rx = mem;
  c->body = c->rx + pkt;
  c->tx = c->body + pkt;
  c->txcap = 2 * pkt + 4;
  c->last_sig = 5;
  c->tid = c->tid0 = 1;
  rsp_parser_init(&c->parser, c->rx, pkt);
  c->parser.data = c;
  return 0;
}

void stub_reset(stub_core *c) {
  rsp_parser_reset(&c->parser);
  c->parser.flags &= ~(unsigned)RSP_PARSER_NOVERIFY;
  c->no_ack = 0;
  c->phys = 0;
  c->client_errmsg = 0;
  c->ended = 0;
  c->txlen = 0;
  c->errmsg = NULL;
  if (c->tid != c->tid0 && c->t->threads && c->t->threads->select &&
      c->t->threads->select(c->t->ctx, c->tid0) >= 0)
    c->tid = c->tid0;
}

void stub_rearm(stub_core *c) {
  if (c->ended == STUB_ECLOSED)
    c->ended = 0;
  c->errmsg = NULL;
}

int stub_feed(stub_core *c, const void *buf, size_t len) {
  const char *d = buf;
  size_t done = 0;
  c->fed = 0;
  if (c->ended)
    return c->ended;
  while (done < len) {
    done += rsp_parser_execute(&c->parser, &settings, d + done, len - done);
    c->fed = done;
    if (c->ended)
      return c->ended;
  }
  return (int)len;
}

int stub_report_stop(stub_core *c, int sig) {
  c->last_sig = sig;
  if (!c->running || c->ended)
    return 0;
  c->running = 0;
  return send_stop(c, sig);
}

int stub_monitor_output(stub_core *c, const char *text, size_t len) {
  size_t chunk = (c->pkt - 1) / 2;
  while (len > 0 && !c->ended) {
    size_t n = len < chunk ? len : chunk;
    int k = rsp_format_O(c->body, c->pkt, text, n);
    if (k < 0)
      return k;
    if (send_packet(c, c->body, (size_t)k) < 0)
      return STUB_EFATAL;
    text += n;
    len -= n;
  }
  return c->ended ? STUB_EFATAL : 0;
}

void stub_set_error(stub_core *c, const char *msg) {
  c->errmsg = msg;
}

void stub_set_thread(stub_core *c, int tid) {
  if (thread_alive(c, tid))
    c->tid = c->tid0 = tid;
}

size_t stub_packet_size(const stub_core *c) {
  return c->pkt;
}
