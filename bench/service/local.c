/* bench_local - `monitor phys read` of 64 MiB as a hex dump, as JSON and
 * saved in a file (--file; and a `phys search` of the same 64 MiB, whose
 * output is one line) through two bridges in the same run: one reading
 * guest RAM over RSP (QEMU's physical mode), one given --qemu-pid, whose
 * local backend reads QEMU's memory with process_vm_readv.  Two identical
 * idle QEMUs; the outputs (the files) must hash the same (exit 1 if
 * not).  Prints times and ratios; never asserts timings.
 *
 * Where the time goes: `phys search` is the read alone (its output is one
 * line); for each command, the CPU time the local bridge and this client
 * spent against the wall time tells whether the bridge (formatting,
 * framing) or the receiving client bounds it.  The client does the least
 * a client can (it hashes the hex as it comes, 8 bytes at a time); GDB
 * decodes and prints every character, far slower (bench_maps).
 *
 * Usage: bench_local --bridge PATH [--short] [--qemu BIN]
 * Exit 77 (skip) without QEMU unless RSP_NO_SKIP=1. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "benchclient.h"

static void die(const char *msg) {
  bc_die("bench_local", msg);
}

/* CPU seconds (user + system) used so far by process pid, all threads. */
static double cpu_of(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return 0;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0)
    return 0;
  buf[n] = 0;
  const char *p = strrchr(buf, ')'); /* the name may hold blanks */
  unsigned long long ut = 0, st = 0;
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
    return 0;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double cpu_self(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Runs a monitor command; returns seconds, *bytes of output text (hex
 * chars / 2) and a hash of it (of the last O packet only when last: the
 * summary of a search, after progress lines that depend on timing); dies
 * unless the final reply is OK. */
static double timed(bc_client *c, const char *cmd, int last, size_t *bytes, uint64_t *hash) {
  char q[512];
  int n = rsp_format_qrcmd(q, sizeof(q) - 1, cmd, strlen(cmd));
  if (n < 0)
    die("command too long");
  q[n] = 0;
  uint64_t h = 1469598103934665603ull;
  size_t total = 0;
  double t0 = bc_now();
  size_t len = bc_request(c, q);
  while (len > 1 && c->body[0] == 'O' && !(len == 2 && c->body[1] == 'K')) {
    if (last)
      h = 1469598103934665603ull;
    size_t i = 1; /* eight characters at a time: the client must not be the bottleneck */
    for (; i + 8 <= len; i += 8) {
      uint64_t w;
      memcpy(&w, c->body + i, 8);
      h = (h ^ w) * 1099511628211ull;
    }
    for (; i < len; i++)
      h = (h ^ (unsigned char)c->body[i]) * 1099511628211ull;
    total += (len - 1) / 2;
    len = bc_next(c);
  }
  double dt = bc_now() - t0;
  if (!(len == 2 && c->body[0] == 'O' && c->body[1] == 'K')) {
    fprintf(stderr, "bench_local: %s: final reply %.*s\n", cmd, (int)(len > 40 ? 40 : len),
            c->body);
    die("command failed");
  }
  *bytes = total;
  *hash = h;
  return dt;
}

/* FNV-1a of a file's bytes, then removes it; 0 when it cannot be read. */
static uint64_t hash_file(const char *path) {
  uint64_t h = 1469598103934665603ull;
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return 0;
  static unsigned char buf[1 << 16];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0)
    for (ssize_t i = 0; i < n; i++)
      h = (h ^ buf[i]) * 1099511628211ull;
  close(fd);
  unlink(path);
  return h;
}

static char save_dir[64];

static pid_t start_bridge(const char *bridge, int port, int qport, pid_t qemu_pid) {
  pid_t pid = fork();
  if (pid == 0) {
    char l[64], t[64], p[24];
    snprintf(l, sizeof(l), "127.0.0.1:%d", port);
    snprintf(t, sizeof(t), "tcp:127.0.0.1:%d", qport);
    snprintf(p, sizeof(p), "%d", (int)qemu_pid);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0 && !getenv("BENCH_LOCAL_LOG"))
      dup2(devnull, 2);
    if (qemu_pid)
      execl(bridge, bridge, "--listen", l, "--save-dir", save_dir, "--qemu-pid", p, t,
            (char *)NULL);
    else
      execl(bridge, bridge, "--listen", l, "--save-dir", save_dir, t, (char *)NULL);
    _exit(127);
  }
  bc_track(pid, 1);
  return pid;
}

int main(int argc, char **argv) {
  const char *bridge, *qemu;
  int rounds = bc_options(argc, argv, "bench_local", &bridge, &qemu) ? 1 : 3;
  bc_init();
  snprintf(save_dir, sizeof(save_dir), "%s", "/tmp/bench_local.XXXXXX");
  if (!mkdtemp(save_dir))
    die("cannot create a directory in /tmp");
  int qp[2] = {bc_free_port(), bc_free_port()};
  pid_t q[2] = {bc_start_qemu(qemu, qp[0]), bc_start_qemu(qemu, qp[1])};
  bc_client c[2];
  pid_t bpid[2];
  for (int k = 0; k < 2; k++) {
    int bp = bc_free_port();
    pid_t b = bpid[k] = start_bridge(bridge, bp, qp[k], k ? q[k] : 0);
    int fd = bc_dial_wait(bp, b);
    if (fd < 0)
      die("the bridge did not start");
    bc_client_init(&c[k], fd);
    bc_handshake(&c[k]);
  }
  static const char *const cmds[] = {"phys read 0x100000 0x4000000",
                                     "phys read 0x100000 0x4000000 --json",
                                     "phys read 0x100000 0x4000000 --file bench.bin",
                                     "phys search 0x100000 0x4000000 0123456789abcdef"};
  static const char *const names[] = {"phys read 64 MiB", "phys read 64 MiB --json",
                                      "phys read 64 MiB --file (raw bytes)",
                                      "phys search 64 MiB (the read alone)"};
  enum { N_CMDS = sizeof(cmds) / sizeof(cmds[0]), K_FILE = 2, K_SEARCH = 3 };
  char file[96];
  snprintf(file, sizeof(file), "%s/bench.bin", save_dir);
  printf("bench_local (%s -m 128 idle, two bridges: RSP (QEMU's physical mode) and "
         "--qemu-pid (local backend); medians of %d)\n",
         qemu, rounds);
  int differ = 0; /* the two backends must agree: a failure, unlike a time */
  for (int k = 0; k < N_CMDS; k++) {
    double t[2][16], wall = 0, bcpu = 0, ccpu = 0;
    size_t bytes[2] = {0, 0};
    uint64_t hash[2] = {0, 0};
    for (int r = 0; r < rounds; r++)
      for (int side = 0; side < 2; side++) {
        double b0 = cpu_of(bpid[side]), c0 = cpu_self();
        t[side][r] = timed(&c[side], cmds[k], k == K_SEARCH, &bytes[side], &hash[side]);
        if (side == 1) { /* totals over the rounds: the bridge's CPU is in clock ticks */
          wall += t[side][r];
          bcpu += cpu_of(bpid[side]) - b0;
          ccpu += cpu_self() - c0;
        }
        if (k == K_FILE) /* the file's bytes, not the line naming it */
          hash[side] = hash_file(file);
      }
    double m[2];
    for (int side = 0; side < 2; side++) {
      for (int i = 0; i < rounds; i++) /* insertion sort: a handful */
        for (int j = i; j > 0 && t[side][j] < t[side][j - 1]; j--) {
          double x = t[side][j];
          t[side][j] = t[side][j - 1];
          t[side][j - 1] = x;
        }
      m[side] = t[side][rounds / 2];
    }
    int same = hash[0] == hash[1] && hash[0] && (k >= K_FILE || bytes[0] == bytes[1]);
    differ += !same;
    printf("  %s: RSP %.0f ms, local %.0f ms, ratio %.1fx (goal >= 10x); output %zu / %zu "
           "bytes, %s\n",
           names[k], m[0] * 1e3, m[1] * 1e3, m[0] / m[1], bytes[0], bytes[1],
           same ? "the same" : "DIFFERENT");
    printf("    local: CPU of the bridge %.0f%% of the wall time, of this client %.0f%%; "
           "%.0f MB/s of text\n",
           100 * bcpu / wall, 100 * ccpu / wall, (double)bytes[1] / m[1] / 1e6);
  }
  close(c[0].fd);
  close(c[1].fd);
  bc_cleanup();
  rmdir(save_dir);
  if (differ)
    fprintf(stderr, "bench_local: the backends' outputs differ for %d command(s)\n", differ);
  return differ ? 1 : 0;
}
