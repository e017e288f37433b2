/* sim.c - the simulated QEMU-like target (see sim.h). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rsp.h"
#include "sim.h"

static const char xml_target[] =
    "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
    "<target><architecture>i386:x86-64</architecture>\n"
    "<xi:include href=\"core.xml\"/>\n<xi:include href=\"sys.xml\"/>\n</target>\n";
static const char xml_core[] =
    "<?xml version=\"1.0\"?>\n<!DOCTYPE feature SYSTEM \"gdb-target.dtd\">\n"
    "<feature name=\"org.gnu.gdb.i386.core\">\n"
    "<reg name=\"rax\" bitsize=\"64\"/><reg name=\"rbx\" bitsize=\"64\"/>"
    "<reg name=\"rcx\" bitsize=\"64\"/><reg name=\"rdx\" bitsize=\"64\"/>"
    "<reg name=\"rsi\" bitsize=\"64\"/><reg name=\"rdi\" bitsize=\"64\"/>"
    "<reg name=\"rbp\" bitsize=\"64\"/><reg name=\"rsp\" bitsize=\"64\"/>"
    "<reg name=\"r8\" bitsize=\"64\"/><reg name=\"r9\" bitsize=\"64\"/>"
    "<reg name=\"r10\" bitsize=\"64\"/><reg name=\"r11\" bitsize=\"64\"/>"
    "<reg name=\"r12\" bitsize=\"64\"/><reg name=\"r13\" bitsize=\"64\"/>"
    "<reg name=\"r14\" bitsize=\"64\"/><reg name=\"r15\" bitsize=\"64\"/>"
    "<reg name=\"rip\" bitsize=\"64\"/><reg name=\"eflags\" bitsize=\"32\"/>"
    "<reg name=\"cs\" bitsize=\"32\"/><reg name=\"ss\" bitsize=\"32\"/>"
    "<reg name=\"ds\" bitsize=\"32\"/><reg name=\"es\" bitsize=\"32\"/>"
    "<reg name=\"fs\" bitsize=\"32\"/><reg name=\"gs\" bitsize=\"32\"/>\n"
    "</feature>\n";
/* regnum jumps to 40: cr0 = 43, cr3 = 45, cr4 = 46, efer = 48. */
static const char xml_sys[] =
    "<?xml version=\"1.0\"?>\n<!DOCTYPE feature SYSTEM \"gdb-target.dtd\">\n"
    "<feature name=\"org.qemu.gdb.i386.sys\">\n"
    "<reg name=\"fs_base\" bitsize=\"64\" regnum=\"40\"/><reg name=\"gs_base\" bitsize=\"64\"/>"
    "<reg name=\"k_gs_base\" bitsize=\"64\"/><reg name=\"cr0\" bitsize=\"64\"/>"
    "<reg name=\"cr2\" bitsize=\"64\"/><reg name=\"cr3\" bitsize=\"64\"/>"
    "<reg name=\"cr4\" bitsize=\"64\"/><reg name=\"cr8\" bitsize=\"64\"/>"
    "<reg name=\"efer\" bitsize=\"64\"/>\n</feature>\n";

static const char mtree[] =
    "FlatView #0\r\n"
    " AS \"cpu-smm-0\", root: memory\r\n"
    " Root memory region: memory\r\n"
    "  0000000000000000-00000000ffffffff (prio 0, ram): smram-everything\r\n"
    "\r\n"
    "FlatView #1\r\n"
    " AS \"memory\", root: system\r\n"
    " AS \"cpu-memory-0\", root: system\r\n"
    " Root memory region: system\r\n"
    "  0000000000000000-00000000000bffff (prio 0, ram): pc.ram\r\n"
    "  00000000000c0000-00000000000dffff (prio 1, rom): pc.rom\r\n"
    "  00000000000e0000-0000000000ffffff (prio 0, ram): pc.ram @00000000000e0000\r\n"
    "  00000000fec00000-00000000fec00fff (prio 0, i/o): ioapic\r\n"
    "\r\n"
    "FlatView #2\r\n"
    " AS \"I/O\", root: io\r\n"
    " Root memory region: io\r\n"
    "  0000000000000000-0000000000000007 (prio 0, i/o): dma-chan\r\n";

/* ------------------------------------------------------------------------ */

uint64_t sim_alloc_table(sim *t) {
  uint64_t pa = t->next_table;
  t->next_table += 0x1000;
  memset(t->ram + pa, 0, 0x1000);
  return pa;
}

static uint64_t rd64(const sim *t, uint64_t pa) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v |= (uint64_t)t->ram[pa + (uint64_t)i] << (8 * i);
  return v;
}

static void wr64(sim *t, uint64_t pa, uint64_t v) {
  for (int i = 0; i < 8; i++)
    t->ram[pa + (uint64_t)i] = (uint8_t)(v >> (8 * i));
}

#define ADDR_MASK 0x000ffffffffff000ull

void sim_map(sim *t, uint64_t root, uint64_t va, uint64_t pa, uint64_t size, uint64_t flags) {
  int leaf_level = size == 0x40000000 ? 2 : size == 0x200000 ? 1 : 0;
  uint64_t table = root;
  for (int lvl = 3; lvl > leaf_level; lvl--) {
    uint64_t e = table + ((va >> (12 + 9 * lvl)) & 511) * 8;
    uint64_t v = rd64(t, e);
    if (!(v & SIM_P)) {
      v = sim_alloc_table(t) | SIM_P | SIM_W | SIM_U | SIM_A;
      wr64(t, e, v);
    }
    table = v & ADDR_MASK;
  }
  uint64_t e = table + ((va >> (12 + 9 * leaf_level)) & 511) * 8;
  wr64(t, e, pa | flags | (leaf_level ? SIM_PS : 0));
}

int sim_translate(const sim *t, uint64_t root, uint64_t va, uint64_t *pa) {
  uint64_t top = va >> 47;
  if (top != 0 && top != 0x1ffff)
    return -1;
  uint64_t table = root & ADDR_MASK;
  for (int lvl = 3; lvl >= 0; lvl--) {
    uint64_t e = table + ((va >> (12 + 9 * lvl)) & 511) * 8;
    if (e + 8 > SIM_RAM)
      return -1;
    uint64_t v = rd64(t, e);
    if (!(v & SIM_P))
      return -1;
    if (lvl > 0 && lvl < 3 && (v & SIM_PS)) {
      uint64_t size = 1ull << (12 + 9 * lvl);
      *pa = (v & ADDR_MASK & ~(size - 1)) | (va & (size - 1));
      return 0;
    }
    table = v & ADDR_MASK;
  }
  *pa = table | (va & 0xfff);
  return 0;
}

sim *sim_new(void) {
  sim *t = calloc(1, sizeof(*t));
  t->ram = calloc(1, SIM_RAM);
  t->next_table = 0x10000;
  t->cr0 = 0x80050033; /* PG PE WP */
  t->cr4 = 0x6a0;      /* PAE PGE ... */
  t->efer = 0xd01;     /* LME LMA NXE SCE */
  t->rip = 0xffffffff81000000ull;
  t->cr3 = SIM_ROOT;
  /* Kernel: 2 MiB of 4K pages, a 2M page; user page; odd targets. */
  for (uint64_t off = 0; off < 0x200000; off += 0x1000)
    sim_map(t, SIM_ROOT, SIM_KVA + off, SIM_KPA + off, 0x1000, SIM_P | SIM_W | SIM_G | SIM_NX);
  sim_map(t, SIM_ROOT, SIM_LVA, SIM_LPA, 0x200000, SIM_P | SIM_W | SIM_G | SIM_A | SIM_D);
  sim_map(t, SIM_ROOT, SIM_UVA, SIM_UPA, 0x1000, SIM_P | SIM_W | SIM_U | SIM_A);
  sim_map(t, SIM_ROOT, SIM_NOPAGE_VA, 0x80000000ull, 0x1000, SIM_P | SIM_W);
  sim_map(t, SIM_ROOT, SIM_MMIO_VA, SIM_MMIO_LO, 0x1000, SIM_P | SIM_W);
  sim_map(t, SIM_ROOT2, SIM_UVA, SIM_UPA2, 0x1000, SIM_P | SIM_U);
  /* Recognisable contents. */
  for (uint64_t i = 0; i < 0x1000; i++) {
    t->ram[SIM_UPA + i] = (uint8_t)(i * 7 + 1);
    t->ram[SIM_UPA2 + i] = (uint8_t)(i * 3 + 5);
  }
  memcpy(t->ram + SIM_KPA + 0x1980, "In memory.......", 16);
  return t;
}

void sim_free(sim *t) {
  if (!t)
    return;
  free(t->ram);
  free(t->out);
  free(t);
}

/* ------------------------------------------------------------------------
 * The target's answers. */

typedef struct {
  char *p;
  size_t len;
} rbuf;

static void set(rbuf *r, const char *s, size_t n) {
  r->p = realloc(r->p, n + 1);
  memcpy(r->p, s, n);
  r->p[n] = 0;
  r->len = n;
}

static void sets(rbuf *r, const char *s) {
  set(r, s, strlen(s));
}

/* Physical byte as QEMU's physical mode shows it: RAM, MMIO (0xff), or 0
 * for unassigned addresses (no error: that is the point of the RAM map). */
static uint8_t phys_byte(const sim *t, uint64_t pa) {
  if (pa < SIM_RAM)
    return t->ram[pa];
  if (pa >= SIM_MMIO_LO && pa <= SIM_MMIO_HI)
    return 0xff;
  return 0;
}

static int mem_access(sim *t, uint64_t addr, uint64_t len, uint8_t *buf, const uint8_t *wdata) {
  /* Translate page by page first: an unmapped byte fails the whole request
   * (E14, no partial data), like QEMU. */
  for (uint64_t i = 0; i < len;) {
    uint64_t pa, room = 0x1000 - ((addr + i) & 0xfff);
    if (!t->phys_mode && sim_translate(t, t->cr3, addr + i, &pa))
      return -1;
    i += room;
  }
  for (uint64_t i = 0; i < len;) {
    uint64_t pa = addr + i, room = 0x1000 - ((addr + i) & 0xfff);
    if (!t->phys_mode)
      sim_translate(t, t->cr3, addr + i, &pa);
    for (uint64_t k = 0; k < room && i + k < len; k++) {
      if (wdata) {
        if (pa + k < SIM_RAM)
          t->ram[pa + k] = wdata[i + k];
      } else {
        buf[i + k] = phys_byte(t, pa + k);
      }
    }
    i += room;
  }
  return 0;
}

static void hex_text(rbuf *r, const char *text) {
  size_t n = strlen(text);
  char *b = malloc(2 * n + 2);
  b[0] = 'O';
  rsp_hex_encode(b + 1, 2 * n + 1, text, n);
  set(r, b, 2 * n + 1);
  free(b);
}

typedef struct {
  svc_reply_cb cb;
  void *arg;
  size_t i;
  int failed;
  double in_cb; /* CPU seconds inside the service's callback */
} deliver;

static double thread_cpu(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void emit(deliver *d, const char *b, size_t n) {
  double t0 = thread_cpu();
  if (d->cb(d->arg, d->i, b, n))
    d->failed = 1;
  d->in_cb += thread_cpu() - t0; /* the service's time, not the target's */
}

static void answer(sim *t, const char *body, size_t len, deliver *d) {
  rbuf r = {0};
  uint64_t a, n;
  char tmp[128];
  if (t->detached && len &&
      (strchr("pPgGmMX", body[0]) || rsp_has_prefix(body, len, "qXfer:features:read:"))) {
    t->cpu_while_detached++; /* QEMU would crash here */
    emit(d, "E01", 3);
    return;
  }
  if (len && body[0] == 'D') {
    t->detached = 1;
    emit(d, "OK", 2);
    return;
  }
  if (rsp_has_prefix(body, len, "vAttach;") || (len == 1 && body[0] == '?')) {
    if (body[0] == 'v')
      t->detached = 0;
    emit(d, t->detached ? "W00" : "T05thread:01;", t->detached ? 3 : 13);
    return;
  }
  if (rsp_has_prefix(body, len, "qqemu.PhyMemMode")) {
    emit(d, t->phys_mode ? "1" : "0", 1);
    return;
  }
  if (rsp_has_prefix(body, len, "qXfer:features:read:")) {
    rsp_qxfer x;
    if (t->no_xml) {
      emit(d, "", 0);
      return;
    }
    if (rsp_parse_qxfer_read(body, len, &x) < 0) {
      emit(d, "E00", 3);
      return;
    }
    const char *doc = NULL;
    if (x.annex_len == 10 && !memcmp(x.annex, "target.xml", 10)) {
      doc = xml_target;
      t->xml_read = 1;
    } else if (x.annex_len == 8 && !memcmp(x.annex, "core.xml", 8)) {
      doc = xml_core;
    } else if (x.annex_len == 7 && !memcmp(x.annex, "sys.xml", 7)) {
      doc = xml_sys;
    }
    if (!doc) {
      emit(d, "E00", 3);
      return;
    }
    size_t dl = strlen(doc);
    size_t off = x.offset < dl ? (size_t)x.offset : dl;
    size_t take = dl - off < x.length ? dl - off : (size_t)x.length;
    char *b = malloc(take + 2);
    b[0] = off + take < dl ? 'm' : 'l';
    memcpy(b + 1, doc + off, take);
    emit(d, b, take + 1);
    free(b);
    return;
  }
  if (rsp_has_prefix(body, len, "qqemu.Supported")) {
    emit(d, t->no_qemu ? "" : "sstepbits;sstep;PhyMemMode", t->no_qemu ? 0 : 26);
    return;
  }
  if (rsp_has_prefix(body, len, "Qqemu.PhyMemMode:")) {
    if (t->no_qemu) {
      emit(d, "", 0);
      return;
    }
    int m = body[len - 1] == '1';
    if (m)
      t->mode_on++;
    else
      t->mode_off++;
    t->phys_mode = m;
    emit(d, "OK", 2);
    return;
  }
  if (body[0] == 'p') {
    uint64_t rn;
    t->reads_p++;
    if (rsp_parse_p(body, len, &rn) < 0) {
      emit(d, "E00", 3);
      return;
    }
    if (!t->xml_read) {
      emit(d, "", 0); /* QEMU: nothing before target.xml was read */
      return;
    }
    uint64_t v;
    switch (rn) {
    case 43:
      v = t->cr0;
      break;
    case 16:
      v = t->compat ? t->rip & 0xffffffffu : t->rip;
      break;
    case 45:
      v = t->compat ? t->cr3 & 0xffffffffu : t->cr3;
      break;
    case 46:
      v = t->cr4;
      break;
    case 48:
      v = t->efer;
      break;
    default:
      v = rn * 0x1111;
    }
    if (t->no_regs) {
      emit(d, "xxxxxxxxxxxxxxxx", 16);
      return;
    }
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
      b[i] = (uint8_t)(v >> (8 * i));
    rsp_hex_encode(tmp, sizeof(tmp), b, 8);
    emit(d, tmp, 16);
    return;
  }
  if (body[0] == 'm') {
    t->reads_m++;
    if (rsp_parse_m(body, len, &a, &n) < 0 || n > (t->psize ? t->psize : 0x1000) / 2 || n > 0x800) {
      emit(d, "E22", 3);
      return;
    }
    if (t->short_m && n > t->short_m)
      n = t->short_m; /* fewer bytes than asked */
    if (t->phys_mode) {
      t->phys_reads_seen++;
      if (t->fail_phys_read_at && (t->phys_reads_seen == t->fail_phys_read_at ||
                                   (t->fail_sticky && t->phys_reads_seen > t->fail_phys_read_at))) {
        emit(d, "E03", 3);
        return;
      }
    }
    uint8_t buf[0x800];
    if (mem_access(t, a, n, buf, NULL)) {
      emit(d, "E14", 3);
      return;
    }
    char hex[0x1001];
    rsp_hex_encode(hex, sizeof(hex), buf, (size_t)n);
    emit(d, hex, 2 * (size_t)n);
    return;
  }
  if (body[0] == 'M') {
    uint8_t buf[0x800];
    t->writes++;
    if (len >= (t->psize ? t->psize : 4096) ||
        rsp_parse_M(body, len, &a, &n, buf, sizeof(buf)) < 0) {
      emit(d, "E22", 3);
      return;
    }
    int bad = mem_access(t, a, n, NULL, buf);
    emit(d, bad ? "E14" : "OK", bad ? 3 : 2);
    return;
  }
  if (body[0] == 'X' && t->x_ok) {
    const char *xd;
    t->writes++;
    if (rsp_parse_X(body, len, &a, &n, &xd) < 0 || n > 0x800) {
      emit(d, "E22", 3);
      return;
    }
    int bad = mem_access(t, a, n, NULL, (const uint8_t *)xd);
    emit(d, bad ? "E14" : "OK", bad ? 3 : 2);
    return;
  }
  if (rsp_has_prefix(body, len, "qRcmd,")) {
    char cmd[512];
    t->rcmds++;
    int cl = rsp_parse_qrcmd(body, len, cmd, sizeof(cmd) - 1);
    if (cl < 0) {
      emit(d, "E01", 3);
      return;
    }
    cmd[cl] = 0;
    snprintf(t->last_rcmd, sizeof(t->last_rcmd), "%.120s", cmd);
    if (!strcmp(cmd, "info mtree -f")) {
      const char *p = mtree;
      while (*p) {
        const char *e = strstr(p, "\r\n");
        size_t ll = e ? (size_t)(e - p) + 2 : strlen(p);
        char line[256];
        memcpy(line, p, ll);
        line[ll] = 0;
        hex_text(&r, line);
        emit(d, r.p, r.len);
        p += ll;
      }
    } else if (!strncmp(cmd, "gva2gpa ", 8)) {
      uint64_t va = strtoull(cmd + 8, NULL, 0), pa;
      if (sim_translate(t, t->cr3, va, &pa))
        snprintf(tmp, sizeof(tmp), "Unmapped\r\n");
      else
        snprintf(tmp, sizeof(tmp), "gpa: 0x%llx\r\n", (unsigned long long)pa);
      hex_text(&r, tmp);
      emit(d, r.p, r.len);
    } else if (!strcmp(cmd, "info registers")) {
      static const char *const lines[] = {
          "CPU#0\r\n", "RAX=0000000000000000 RBX=0000000000000000\r\n",
          "RIP=%016llx RFL=00000002\r\n", "CS =%s 0000000000000000 ffffffff %s DPL=0 %s [-R-]\r\n",
          "CR0=80050033 CR2=0000000000000000 CR3=%016llx CR4=000006a0\r\n"};
      for (int i = 0; i < 5; i++) {
        uint64_t rv = t->hmp_rip ? t->hmp_rip : t->rip;
        uint64_t c3 = t->hmp_cr3 ? t->hmp_cr3 : t->cr3;
        if (i == 2 && t->compat) /* 32-bit code: QEMU prints EIP */
          snprintf(tmp, sizeof(tmp), "EIP=%08llx EFL=00000002\r\n", (unsigned long long)rv);
        else if (i == 2)
          snprintf(tmp, sizeof(tmp), lines[i], (unsigned long long)rv);
        else if (i == 3)
          snprintf(tmp, sizeof(tmp), lines[i], t->compat ? "0023" : "0008",
                   t->compat ? "00cffb00" : "00af9a00", t->compat ? "CS32" : "CS64");
        else if (i == 4)
          snprintf(tmp, sizeof(tmp), lines[i], (unsigned long long)c3);
        else
          snprintf(tmp, sizeof(tmp), "%s", lines[i]);
        hex_text(&r, tmp);
        emit(d, r.p, r.len);
      }
    } else if (!strcmp(cmd, "info status")) {
      hex_text(&r, "VM status: paused\r\n");
      emit(d, r.p, r.len);
    } else {
      snprintf(tmp, sizeof(tmp), "unknown command: '%.60s'\r\n", cmd);
      hex_text(&r, tmp);
      emit(d, r.p, r.len);
    }
    free(r.p);
    emit(d, "OK", 2);
    return;
  }
  if (body[0] == 'H' || body[0] == 'P' || body[0] == 'G' || body[0] == 'Z' || body[0] == 'z') {
    emit(d, "OK", 2);
    return;
  }
  if (body[0] == 'c' || body[0] == 's') {
    emit(d, "T05thread:01;", 13);
    return;
  }
  (void)sets;
  emit(d, "", 0);
}

static int sim_transact(void *ctx, const svc_req *reqs, size_t n, svc_reply_cb cb, void *arg) {
  sim *t = ctx;
  t->transacts++;
  if (t->latency_us || t->per_request_ns) {
    long long ns = (long long)t->latency_us * 1000 + (long long)t->per_request_ns * (long long)n;
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    nanosleep(&ts, NULL);
  }
  deliver d = {cb, arg, 0, 0, 0};
  double t0 = thread_cpu();
  for (size_t i = 0; i < n; i++) {
    t->requests++;
    if (t->drop_after && (long)t->requests > t->drop_after) {
      t->target_cpu_s += thread_cpu() - t0 - d.in_cb;
      return -1; /* the target went away */
    }
    d.i = i;
    answer(t, reqs[i].body, reqs[i].len, &d);
  }
  t->target_cpu_s += thread_cpu() - t0 - d.in_cb;
  return d.failed ? -5 : 0;
}

static int sim_output(void *ctx, const char *text, size_t len) {
  sim *t = ctx;
  if (t->out_len + len + 1 > t->out_cap) {
    t->out_cap = (t->out_len + len + 1) * 2;
    t->out = realloc(t->out, t->out_cap);
  }
  memcpy(t->out + t->out_len, text, len);
  t->out_len += len;
  t->out[t->out_len] = 0;
  t->outputs++;
  if (t->intr_svc)
    svc_interrupt(t->intr_svc);
  return 0;
}

static int sim_interrupted(void *ctx) {
  sim *t = ctx;
  return t->force_intr || (t->interrupt_after_outputs && t->outputs >= t->interrupt_after_outputs);
}

static void sim_reply(void *ctx, const char *body, size_t len) {
  sim *t = ctx;
  if (len >= sizeof(t->reply))
    len = sizeof(t->reply) - 1;
  memcpy(t->reply, body, len);
  t->reply[len] = 0;
  t->reply_len = len;
  t->replies++;
}

const svc_io sim_io = {sim_transact, sim_output, sim_interrupted, sim_reply, NULL};

const char *sim_cmd(sim *t, svc *s, const char *cmdline) {
  char body[8192];
  int n = rsp_format_qrcmd(body, sizeof(body) - 1, cmdline, strlen(cmdline));
  body[n < 0 ? 0 : n] = 0;
  t->out_len = 0;
  if (t->out)
    t->out[0] = 0;
  return sim_packet(t, s, n < 0 ? "" : body);
}

static int on_fwd(void *arg, size_t i, const char *body, size_t len) {
  sim *t = arg;
  (void)i;
  if (len > 1 && body[0] == 'O' && len % 2)
    return 0;
  sim_reply(t, body, len);
  return 0;
}

const char *sim_packet(sim *t, svc *s, const char *body) {
  size_t len = strlen(body);
  int before = t->replies;
  enum svc_action a = svc_classify(s, body, len);
  if (a == SVC_HANDLE) {
    svc_handle(s, body, len);
    if (t->replies != before + 1) {
      snprintf(t->reply, sizeof(t->reply), "<%d replies>", t->replies - before);
    }
  } else {
    if (a == SVC_FORWARD_RESUME)
      svc_event(s, SVC_EV_RESUME);
    svc_req r = {body, len};
    sim_transact(t, &r, 1, on_fwd, t);
    if (a == SVC_FORWARD_RESUME)
      svc_event(s, SVC_EV_STOP);
    if (len && (body[0] == 'P' || body[0] == 'G'))
      svc_event(s, SVC_EV_REG_WRITE);
  }
  return t->reply;
}
