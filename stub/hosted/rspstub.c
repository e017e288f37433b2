/* rspstub - serves a memory dump over the GDB remote serial protocol.
 *
 *   rspstub [options] DUMP
 *
 * DUMP is a QEMU dump-guest-memory ELF core (x86 or AArch64), or with --raw
 * a raw physical memory image.  The stub core (stub.h) answers the
 * protocol; this file only glues a dump (dump.h) to its ops tables and to
 * a socket or stdin/stdout.  The target cannot run: c/s/vCont answer an
 * error, and the session stays on the dump's state.
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dump.h"

#ifndef RSPSTUB_VERSION
#error "RSPSTUB_VERSION comes from CMake's project() version"
#endif

/* How the dump was opened, to open it again (monitor reopen). */
typedef struct {
  const char *path, *regfile;
  const char **regs;
  int nregs, raw, cpu, write_through;
  unsigned long long base;
  const stub_arch *want;
} open_args;

typedef struct {
  dump_t dump;
  open_args how;
  stub_core core;
  int out_fd;
  int out_err;
  int verbose;
  /* Output collected during one stub_feed() and written at once, so that
   * an ack and its reply leave in one segment. */
  char out[1 << 16];
  size_t out_len;
} server;

/* ------------------------------------------------------------------------
 * Target ops: each forwards to the dump and hands its message to the core.
 */

static int with_msg(server *s, int rc) {
  if (rc < 0 && rc > STUB_EFATAL)
    stub_set_error(&s->core, s->dump.err);
  return rc;
}

static int t_mem_read(void *ctx, uint64_t addr, void *buf, size_t len) {
  server *s = ctx;
  return with_msg(s, dump_virt_read(&s->dump, addr, buf, len));
}

static int t_mem_write(void *ctx, uint64_t addr, const void *buf, size_t len) {
  server *s = ctx;
  return with_msg(s, dump_virt_write(&s->dump, addr, buf, len));
}

static int t_phys_read(void *ctx, uint64_t addr, void *buf, size_t len) {
  server *s = ctx;
  return with_msg(s, dump_phys_read(&s->dump, addr, buf, len));
}

static int t_phys_write(void *ctx, uint64_t addr, const void *buf, size_t len) {
  server *s = ctx;
  return with_msg(s, dump_phys_write(&s->dump, addr, buf, len));
}

static int t_reg_read(void *ctx, unsigned regno, void *buf, size_t len) {
  server *s = ctx;
  return dump_reg_read(&s->dump, regno, buf, len);
}

static int t_reg_write(void *ctx, unsigned regno, const void *buf, size_t len) {
  server *s = ctx;
  return dump_reg_write(&s->dump, regno, buf, len);
}

/* Threads are the dump's CPUs, like QEMU's gdbstub shows vCPUs. */
static int t_thread_count(void *ctx) {
  server *s = ctx;
  return s->dump.ncpus > 0 ? s->dump.ncpus : 1;
}

static int t_thread_select(void *ctx, int tid) {
  server *s = ctx;
  if (dump_select_cpu(&s->dump, tid - 1) < 0) {
    stub_set_error(&s->core, s->dump.err);
    return -STUB_EINVAL;
  }
  return 0;
}

static void mon_printf(server *s, const char *fmt, ...) {
  char line[512];
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n >= sizeof(line))
    n = sizeof(line) - 1;
  stub_monitor_output(&s->core, line, (size_t)n);
}

static int cmd_is(const char *cmd, size_t len, const char *word) {
  size_t n = strlen(word);
  return len == n && memcmp(cmd, word, n) == 0;
}

static void mon_info(server *s) {
  dump_t *d = &s->dump;
  arch_ctx ctx;
  char desc[160];
  size_t i;
  int rc;
  mon_printf(s, "dump: %s (%s), %s\n", d->path, d->format,
             d->write_through ? "writes go to the file (write-through)"
                              : "read-only, writes kept in a copy-on-write overlay");
  mon_printf(s, "arch: %s, cpu %d of %d\n", d->arch->xml_arch, d->cpu, d->ncpus);
  for (i = 0; i < d->nsegs; i++)
    mon_printf(s, "ram: 0x%016llx-0x%016llx (%llu KiB in the file)\n",
               (unsigned long long)d->segs[i].pa,
               (unsigned long long)(d->segs[i].pa + d->segs[i].size - 1),
               (unsigned long long)(d->segs[i].filesz / 1024));
  mon_printf(s, "overlay: %zu page(s) written\n", d->npages);
  rc = dump_xlate_ctx(d, &ctx);
  if (rc == DUMP_NOPAGING)
    mon_printf(s, "paging: off (virtual = physical)\n");
  else if (rc < 0)
    mon_printf(s, "paging: unknown: %s\n", d->err);
  else if (arch_ctx_str(&ctx, desc, sizeof(desc)) >= 0)
    mon_printf(s, "paging: %s\n", desc);
  if (d->efer_inferred)
    mon_printf(s, "note: efer is inferred (QEMU dumps do not record it)\n");
}

/* The flat memory view in the shape of QEMU's "info mtree -f", so that a
 * client that learns RAM ranges from QEMU learns them from a dump too. */
static void mon_mtree(server *s) {
  dump_t *d = &s->dump;
  size_t i;
  mon_printf(s, "FlatView #0\n AS \"memory\", root: system\n Root memory region: system\n");
  for (i = 0; i < d->nsegs; i++)
    mon_printf(s, "  %016llx-%016llx (prio 0, ram): dump.ram%zu\n",
               (unsigned long long)d->segs[i].pa,
               (unsigned long long)(d->segs[i].pa + d->segs[i].size - 1), i);
  mon_printf(s, "\n");
}

/* Opens the dump as the command line says: 0, or -1 with d->err set. */
static int open_dump(dump_t *d, const open_args *a) {
  int i;
  if (a->raw ? dump_open_raw(d, a->path, a->base, a->want, a->write_through) < 0
             : dump_open_elf(d, a->path, a->write_through, a->cpu, a->want) < 0)
    return -1;
  if (a->regfile && dump_load_regfile(d, a->regfile) < 0)
    return -1;
  for (i = 0; i < a->nregs; i++)
    if (dump_set_reg(d, a->regs[i]) < 0)
      return -1;
  return 0;
}

/* The file was written again (dump-guest-memory to the same path): serve
 * the new dump in place of the old one, which stays if the new one cannot
 * be opened or is of another architecture (the core's register table). */
static int mon_reopen(server *s) {
  dump_t nd;
  int cpu = s->dump.cpu;
  if (open_dump(&nd, &s->how) < 0) {
    snprintf(s->dump.err, sizeof(s->dump.err), "reopen: %.200s (still serving the old dump)",
             nd.err);
    dump_close(&nd);
    return -STUB_EIO;
  }
  if (nd.arch != s->dump.arch) {
    snprintf(s->dump.err, sizeof(s->dump.err),
             "reopen: the new dump is %s, not %s (restart rspstub)", nd.arch->xml_arch,
             s->dump.arch->xml_arch);
    dump_close(&nd);
    return -STUB_EINVAL;
  }
  if (cpu != nd.cpu && cpu < nd.ncpus)
    dump_select_cpu(&nd, cpu);
  dump_close(&s->dump);
  s->dump = nd;
  stub_set_thread(&s->core, s->dump.cpu + 1);
  mon_printf(s,
             "reopened %s: %d CPU(s), %zu RAM range(s), overlay dropped; in GDB: "
             "maintenance flush register-cache\n",
             s->dump.path, s->dump.ncpus, s->dump.nsegs);
  return 0;
}

static int t_monitor(void *ctx, stub_core *core, const char *cmd, size_t len) {
  server *s = ctx;
  while (len && (cmd[len - 1] == ' ' || cmd[len - 1] == '\n'))
    len--;
  if (cmd_is(cmd, len, "help") || len == 0) {
    mon_printf(s, "rspstub monitor commands:\n"
                  "  info            the dump, its RAM ranges and paging mode\n"
                  "  info mtree -f   RAM ranges in QEMU's format\n"
                  "  overlay drop    forget every write kept in the overlay\n"
                  "  reopen          serve the dump file again after it was rewritten\n");
    return 0;
  }
  if (cmd_is(cmd, len, "info")) {
    mon_info(s);
    return 0;
  }
  if (cmd_is(cmd, len, "info mtree -f") || cmd_is(cmd, len, "info mtree")) {
    mon_mtree(s);
    return 0;
  }
  if (cmd_is(cmd, len, "reopen")) {
    int rc = mon_reopen(s);
    if (rc < 0)
      stub_set_error(core, s->dump.err);
    return rc;
  }
  if (cmd_is(cmd, len, "overlay drop")) {
    size_t i;
    for (i = 0; i < s->dump.npages; i++)
      free(s->dump.pages[i].data);
    mon_printf(s, "dropped %zu page(s)\n", s->dump.npages);
    s->dump.npages = 0;
    return 0;
  }
  snprintf(s->dump.err, sizeof(s->dump.err), "unknown command '%.*s' (try 'help')",
           (int)(len > 100 ? 100 : len), cmd);
  stub_set_error(core, s->dump.err);
  return -STUB_EINVAL;
}

static const stub_mem_ops mem_ops = {t_mem_read, t_mem_write};
static const stub_mem_ops phys_ops = {t_phys_read, t_phys_write};
static const stub_reg_ops reg_ops = {t_reg_read, t_reg_write};
static const stub_monitor_ops monitor_ops = {t_monitor};
static const stub_thread_ops thread_ops = {t_thread_count, t_thread_select};

/* ------------------------------------------------------------------------
 * Transport.
 */

static int write_all(int fd, const char *p, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static int flush_out(server *s) {
  int rc = 0;
  if (s->out_len && !s->out_err)
    rc = write_all(s->out_fd, s->out, s->out_len);
  s->out_len = 0;
  if (rc < 0)
    s->out_err = 1;
  return s->out_err ? -1 : 0;
}

static int fd_write(void *ctx, const void *buf, size_t len) {
  server *s = ctx;
  if (s->verbose)
    fprintf(stderr, "rspstub: -> %.*s\n", (int)(len > 200 ? 200 : len), (const char *)buf);
  if (s->out_err)
    return -1;
  if (s->out_len + len > sizeof(s->out) && flush_out(s) < 0)
    return -1;
  if (len > sizeof(s->out)) {
    if (write_all(s->out_fd, buf, len) < 0)
      s->out_err = 1;
    return s->out_err ? -1 : 0;
  }
  memcpy(s->out + s->out_len, buf, len);
  s->out_len += len;
  return 0;
}

static const stub_transport_ops transport = {fd_write};

/* One session; returns when the client leaves or ends it. */
static void serve(server *s, int in_fd, int out_fd) {
  char buf[8192];
  s->out_fd = out_fd;
  s->out_len = 0;
  s->out_err = 0;
  stub_reset(&s->core);
  for (;;) {
    ssize_t n = read(in_fd, buf, sizeof(buf));
    size_t off;
    int rc;
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    if (s->verbose)
      fprintf(stderr, "rspstub: <- %.*s\n", (int)(n > 200 ? 200 : n), buf);
    /* D or k: a dump neither runs nor dies, so the connection stays for
     * whoever speaks next (a bridge keeps it across its clients).  The
     * core stops right after that packet; the rest of the read is fed
     * again. */
    for (off = 0;;) {
      rc = stub_feed(&s->core, buf + off, (size_t)n - off);
      if (rc != STUB_ECLOSED)
        break;
      off += s->core.fed;
      stub_rearm(&s->core);
      if (off >= (size_t)n)
        break;
    }
    if (flush_out(s) < 0)
      break;
    if (rc == STUB_EFATAL) {
      fprintf(stderr, "rspstub: session ended on a fatal error\n");
      break;
    }
  }
}

/* ------------------------------------------------------------------------
 * Command line.
 */

static void usage(FILE *f) {
  fprintf(f, "usage: rspstub [options] DUMP\n"
             "Serves DUMP (a QEMU dump-guest-memory ELF core of x86, AArch64 or RV64, or a\n"
             "raw image with --raw)\n"
             "over the GDB remote serial protocol.\n\n"
             "  --listen [127.0.0.1:]PORT  TCP port on the loopback (0 = any free port;\n"
             "                             default 1234); the port is printed on stderr\n"
             "  --stdio                    talk on stdin/stdout instead\n"
             "  --once                     exit after the first session\n"
             "  --raw                      DUMP is raw physical memory (needs --arch)\n"
             "  --base PA                  physical address of a raw image (hex, default 0)\n"
             "  --arch ARCH                x86_64, i386, aarch64 or riscv64: of a raw image, or\n"
             "                             i386 for an ELF dump of qemu-system-i386\n"
             "  --regs FILE                registers, one 'name value' (hex) per line\n"
             "  --reg NAME=VALUE           set one register (hex), e.g. --reg cr3=1000\n"
             "  --cpu N                    which CPU of the dump (default 0)\n"
             "  --write-through            write memory changes into DUMP itself\n"
             "                             (default: a copy-on-write overlay in memory)\n"
             "  --packet-size N            PacketSize offered to clients (default 4096)\n"
             "  --verbose                  log packets on stderr\n"
             "  --version                  print the version\n");
}

static int parse_port(const char *arg, int *port) {
  const char *p = arg;
  char *end;
  long v;
  if (strncmp(p, "127.0.0.1:", 10) == 0)
    p += 10;
  else if (strncmp(p, "localhost:", 10) == 0)
    p += 10;
  else if (strchr(p, ':'))
    return -1; /* only the loopback is served: a dump may hold secrets */
  v = strtol(p, &end, 10);
  if (*p == '\0' || *end || v < 0 || v > 65535)
    return -1;
  *port = (int)v;
  return 0;
}

int main(int argc, char **argv) {
  static server s;
  static const struct option opts[] = {{"listen", required_argument, NULL, 'l'},
                                       {"stdio", no_argument, NULL, 'S'},
                                       {"once", no_argument, NULL, '1'},
                                       {"raw", no_argument, NULL, 'r'},
                                       {"base", required_argument, NULL, 'b'},
                                       {"arch", required_argument, NULL, 'a'},
                                       {"regs", required_argument, NULL, 'R'},
                                       {"reg", required_argument, NULL, 'g'},
                                       {"cpu", required_argument, NULL, 'c'},
                                       {"write-through", no_argument, NULL, 'w'},
                                       {"packet-size", required_argument, NULL, 'P'},
                                       {"verbose", no_argument, NULL, 'v'},
                                       {"help", no_argument, NULL, 'h'},
                                       {"version", no_argument, NULL, 'V'},
                                       {NULL, 0, NULL, 0}};
  const char *regfile = NULL, *arch_name = NULL;
  const stub_arch *want = NULL;
  const char *regs[64];
  int nregs = 0, port = 1234, use_stdio = 0, once = 0, raw = 0, cpu = 0, write_through = 0;
  unsigned long long base = 0;
  unsigned long packet = 4096;
  stub_target target;
  void *area;
  int opt, lfd;
  struct sockaddr_in sa;
  socklen_t salen = sizeof(sa);

  while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (opt) {
    case 'l':
      if (parse_port(optarg, &port) < 0) {
        fprintf(stderr, "rspstub: --listen takes [127.0.0.1:]PORT (loopback only)\n");
        return 2;
      }
      break;
    case 'S':
      use_stdio = 1;
      break;
    case '1':
      once = 1;
      break;
    case 'r':
      raw = 1;
      break;
    case 'b':
      base = strtoull(optarg, NULL, 16);
      break;
    case 'a':
      arch_name = optarg;
      break;
    case 'R':
      regfile = optarg;
      break;
    case 'g':
      if (nregs == (int)(sizeof(regs) / sizeof(regs[0]))) {
        fprintf(stderr, "rspstub: too many --reg\n");
        return 2;
      }
      regs[nregs++] = optarg;
      break;
    case 'c':
      cpu = atoi(optarg);
      break;
    case 'w':
      write_through = 1;
      break;
    case 'P':
      packet = strtoul(optarg, NULL, 0);
      break;
    case 'v':
      s.verbose = 1;
      break;
    case 'h':
      usage(stdout);
      return 0;
    case 'V':
      printf("rspstub %s\n", RSPSTUB_VERSION);
      return 0;
    default:
      usage(stderr);
      return 2;
    }
  }
  if (optind != argc - 1) {
    usage(stderr);
    return 2;
  }
  if (packet < STUB_MIN_PACKET || packet > (1u << 20)) {
    fprintf(stderr, "rspstub: --packet-size must be between %d and 1048576\n", STUB_MIN_PACKET);
    return 2;
  }

  if (arch_name) {
    if (!strcmp(arch_name, "x86_64") || !strcmp(arch_name, "x86-64"))
      want = &stub_arch_x86_64;
    else if (!strcmp(arch_name, "i386"))
      want = &stub_arch_i386;
    else if (!strcmp(arch_name, "aarch64") || !strcmp(arch_name, "arm64"))
      want = &stub_arch_aarch64;
    else if (!strcmp(arch_name, "riscv64") || !strcmp(arch_name, "rv64"))
      want = &stub_arch_riscv64;
    if (!want) {
      fprintf(stderr, "rspstub: --arch takes x86_64, i386, aarch64 or riscv64\n");
      return 2;
    }
  }
  if (raw && !want) {
    fprintf(stderr, "rspstub: --raw needs --arch\n");
    return 2;
  }
  s.how.path = argv[optind];
  s.how.regfile = regfile;
  s.how.regs = regs;
  s.how.nregs = nregs;
  s.how.raw = raw;
  s.how.cpu = cpu;
  s.how.write_through = write_through;
  s.how.base = base;
  s.how.want = want;
  if (open_dump(&s.dump, &s.how) < 0) {
    fprintf(stderr, "rspstub: %s\n", s.dump.err);
    return 1;
  }

  memset(&target, 0, sizeof(target));
  target.arch = s.dump.arch;
  target.mem = &mem_ops;
  target.regs = &reg_ops;
  target.phys = &phys_ops;
  target.monitor = &monitor_ops;
  target.threads = &thread_ops;
  target.ctx = &s;
  area = malloc(STUB_MEM_SIZE(packet));
  if (!area || stub_init(&s.core, &target, &transport, &s, area, STUB_MEM_SIZE(packet)) != 0) {
    fprintf(stderr, "rspstub: cannot set up the stub core\n");
    return 1;
  }
  stub_set_thread(&s.core, s.dump.cpu + 1);
  signal(SIGPIPE, SIG_IGN);

  if (use_stdio) {
    serve(&s, 0, 1);
    dump_close(&s.dump);
    free(area);
    return 0;
  }

  lfd = socket(AF_INET, SOCK_STREAM, 0);
  if (lfd < 0) {
    perror("rspstub: socket");
    return 1;
  }
  opt = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &opt, sizeof(opt));
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0 ||
      getsockname(lfd, (struct sockaddr *)&sa, &salen) < 0) {
    fprintf(stderr, "rspstub: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
    return 1;
  }
  fprintf(stderr, "rspstub: serving %s on 127.0.0.1:%d\n", argv[optind], ntohs(sa.sin_port));
  fflush(stderr);

  for (;;) {
    int cfd = accept(lfd, NULL, NULL);
    if (cfd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      perror("rspstub: accept");
      break;
    }
    opt = 1;
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &opt, sizeof(opt));
    serve(&s, cfd, cfd);
    close(cfd);
    if (once)
      break;
  }
  close(lfd);
  dump_close(&s.dump);
  free(area);
  return 0;
}
