/* main.c - the rspbridge command line. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include "bridge.h"
#ifdef RSP_HAVE_HTTP
#include "http_session.h"
#endif

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#ifndef RSPBRIDGE_VERSION
#error "RSPBRIDGE_VERSION comes from CMake's project() version"
#endif

/* Exit codes, stated in --help. */
enum {
  EXIT_OK = 0,      /* ended by a signal, or the --stdio client went away */
  EXIT_RUNTIME = 1, /* the target is gone and the reconnect policy says stop */
  EXIT_USAGE = 2,   /* bad command line */
  EXIT_SETUP = 3,   /* cannot listen, resolve, open or start QEMU */
  EXIT_QEMU = 4     /* --exec: QEMU exited */
};

/* The signals that end the bridge (and QEMU with it). */
static const int end_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define N_END_SIGNALS (sizeof(end_signals) / sizeof(end_signals[0]))

/* The longest Unix socket path. */
#define SOCK_PATH_MAX sizeof(((br_addr *)0)->path)

typedef struct {
  uv_loop_t *loop;
  br_t *br;
  uv_signal_t sig[N_END_SIGNALS];
  /* --exec: QEMU, a child of ours, reaped on SIGCHLD. */
  uv_signal_t sigchld;
  pid_t pid;
  int proc_alive;
  int wstatus; /* waitpid() status once it is reaped */
  uv_timer_t kill_timer;
  char sock_dir[SOCK_PATH_MAX]; /* private directory of QEMU's gdb socket, "" if none */
  char sock_path[SOCK_PATH_MAX + 16];
  int exit_code;
  int closing;
  void *http; /* br_http, --http */
} app_t;

static void usage(FILE *f) {
  fprintf(f,
          "usage: rspbridge [OPTIONS] TARGET\n"
          "       rspbridge [OPTIONS] --exec -- qemu-system-ARCH [QEMU ARGS]\n"
          "\n"
          "A GDB remote serial protocol bridge: GDB (or any RSP client) connects to\n"
          "rspbridge, rspbridge connects to the target's gdbstub.\n"
          "\n"
          "TARGET:\n"
          "  tcp:HOST:PORT | HOST:PORT   a TCP gdbstub (QEMU -gdb tcp::PORT)\n"
          "  unix:PATH                   a gdbstub on a Unix socket\n"
          "  serial:/dev/ttyX[,BAUD]     a stub on a serial line (raw mode)\n"
          "  --exec -- qemu-system-...   start QEMU with -gdb on a Unix socket in a\n"
          "                              private directory (nothing connects to it\n"
          "                              before the first client: a running guest\n"
          "                              keeps running); QEMU's output passes through,\n"
          "                              QEMU ends with the bridge, the bridge ends\n"
          "                              when QEMU dies\n"
          "\n"
          "Options:\n"
          "  --listen ADDR      where GDB connects: HOST:PORT, :PORT or unix:PATH\n"
          "                     (default 127.0.0.1:%d; another interface only if named)\n"
          "  --stdio            talk to the client on stdin/stdout, for\n"
          "                     (gdb) target remote | rspbridge --stdio TARGET\n"
          "  -v, -vv            more log lines on stderr\n"
          "  --trace FILE       write every packet with a timestamp and direction\n"
          "  --read-only        refuse M, X, P, G, physical writes, k and vKill (an\n"
          "                     error reply; the session goes on); implies\n"
          "                     --monitor read-only\n"
          "  --monitor POLICY   commands for the target's own monitor (QEMU's HMP):\n"
          "                     all (default) forwards every one; read-only only\n"
          "                     info ..., gva2gpa, x, xp, help, ?; none refuses\n"
          "                     them all (the bridge's own commands still work)\n"
          "  --on-kill POLICY   what k / vKill do: forward (default: the bridge stays\n"
          "                     transparent, QEMU exits as with a direct connection)\n"
          "                     or detach (QEMU gets D and keeps the VM running; the\n"
          "                     client is answered as if the process exited: W00 for\n"
          "                     k, OK for vKill)\n"
          "  --reconnect POLICY when the target goes away: always (default, retry\n"
          "                     every --retry-ms), never (exit 1, or 3 if the\n"
          "                     first connection fails), or N attempts\n"
          "  --retry-ms MS      delay between connection attempts (default 1000)\n"
          "  --timeout MS       a request unanswered this long fails (default 5000);\n"
          "                     console output from the target extends it, up to\n"
          "                     10 times in all\n"
          "  --sessions N       RSP clients at once (default 8; 1: a second is\n"
          "                     refused); the first controls run state, the others\n"
          "                     observe:\n"
          "                     they read memory and registers and run monitor\n"
          "                     queries (`monitor session` lists them)\n"
          "  --busy-poll US     after traffic, poll this long instead of sleeping:\n"
          "                     lower latency for a CPU core while GDB is busy\n"
          "                     (default %d, 0 disables)\n"
          "  --cache-size BYTES memory cache size (K/M/G suffix; default 4M, 0 disables)\n"
          "  --phys BACKEND     physical access: auto, qemu, offset:OFF, none\n"
          "  --root PA          page-table root to use instead of the CPU's\n"
          "  --qemu-pid PID     read guest RAM from QEMU's process (as with --exec)\n"
          "  --save-dir DIR     where `monitor phys read PA LEN --file NAME` saves raw\n"
          "                     bytes (new files only; without it --file is refused)\n"
          "  --http ADDR        serve the HTTP/JSON API and the page at GET / on\n"
          "                     HOST:PORT, :PORT or PORT (127.0.0.1 unless a host is\n"
          "                     named; port 0 picks one); --read-only applies\n"
          "  -h, --help         this text\n"
          "  -V, --version      the version\n"
          "\n"
          "Exit codes: 0 ended by a signal or the --stdio client left; 1 target lost\n"
          "and the reconnect policy says stop; 2 usage error; 3 cannot listen, connect,\n"
          "open or start QEMU; 4 QEMU started with --exec exited.\n",
          BR_DEFAULT_PORT, BR_DEFAULT_SPIN_US);
}

static void log_err(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "rspbridge: ");
  fprintf(stderr, fmt, a, b);
  fputc('\n', stderr);
}

static int parse_size(const char *s, size_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 0);
  if (errno || end == s)
    return -1;
  if (*end == 'k' || *end == 'K')
    v <<= 10, end++;
  else if (*end == 'm' || *end == 'M')
    v <<= 20, end++;
  else if (*end == 'g' || *end == 'G')
    v <<= 30, end++;
  if (*end)
    return -1;
  *out = (size_t)v;
  return 0;
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 0);
  if (errno || end == s || *end || v > max)
    return -1;
  *out = v;
  return 0;
}

/* --phys: auto, qemu, none, offset:OFF or offset=OFF with OFF hex (0x
 * optional, '`' and '_' separators as the monitor commands take them). */
static int phys_arg_ok(const char *s) {
  if (!strcmp(s, "auto") || !strcmp(s, "qemu") || !strcmp(s, "none"))
    return 1;
  if (strncmp(s, "offset:", 7) && strncmp(s, "offset=", 7))
    return 0;
  s += 7;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
    s += 2;
  int digits = 0;
  for (; *s; s++) {
    if (isxdigit((unsigned char)*s))
      digits++;
    else if (*s != '`' && *s != '_')
      return 0;
  }
  return digits > 0 && digits <= 16;
}

/* ------------------------------------------------------------------------
 * Shutdown.
 */

static void on_handle_closed(uv_handle_t *h) {
  (void)h;
}

static void on_bridge_closed(br_t *br) {
  (void)br;
}

static void kill_timer_cb(uv_timer_t *t) {
  app_t *app = t->data;
  if (app->proc_alive) {
    fprintf(stderr, "rspbridge: QEMU (pid %d) ignores SIGTERM, sending SIGKILL\n", (int)app->pid);
    kill(app->pid, SIGKILL);
  }
}

static void app_shutdown(app_t *app, int code) {
  if (app->closing)
    return;
  app->closing = 1;
  app->exit_code = code;
#ifdef RSP_HAVE_HTTP
  if (app->http)
    br_http_close(app->http, NULL, NULL);
  app->http = NULL;
#endif
  br_close(app->br, on_bridge_closed);
  for (size_t i = 0; i < N_END_SIGNALS; i++)
    uv_close((uv_handle_t *)&app->sig[i], on_handle_closed);
  if (app->proc_alive) {
    /* End QEMU by its PID; on_sigchld() closes the rest once it is reaped. */
    kill(app->pid, SIGTERM);
    uv_timer_start(&app->kill_timer, kill_timer_cb, 3000, 0);
  } else {
    uv_close((uv_handle_t *)&app->kill_timer, on_handle_closed);
    uv_close((uv_handle_t *)&app->sigchld, on_handle_closed);
  }
}

static void on_stop(br_t *br, int status, const char *why) {
  app_t *app = br_data(br);
  (void)why;
  if (status && !br_ever_connected(br)) {
    /* Never reached the target: "cannot connect" (exit 3), not "lost". */
    char t[160];
    br_addr_format(&br_get_config(br)->target, t, sizeof(t));
    fprintf(stderr, "rspbridge: cannot connect to target %s; exiting\n", t);
    app_shutdown(app, EXIT_SETUP);
    return;
  }
  app_shutdown(app, status ? EXIT_RUNTIME : EXIT_OK);
}

static const char *signal_name(int signum) {
  switch (signum) {
  case SIGINT:
    return "SIGINT";
  case SIGTERM:
    return "SIGTERM";
  case SIGHUP:
    return "SIGHUP";
  case SIGQUIT:
    return "SIGQUIT";
  default:
    return "signal";
  }
}

static void on_signal(uv_signal_t *s, int signum) {
  app_t *app = s->data;
  fprintf(stderr, "rspbridge: %s, exiting\n", signal_name(signum));
  app_shutdown(app, EXIT_OK);
}

/* Reaps QEMU if it has exited; 1 if it has (now or before). */
static int qemu_reaped(app_t *app) {
  if (!app->proc_alive)
    return 1;
  if (waitpid(app->pid, &app->wstatus, WNOHANG) != app->pid)
    return 0;
  app->proc_alive = 0;
  return 1;
}

static void on_qemu_exit(app_t *app) {
  int st = app->wstatus;
  if (!app->closing) {
    if (WIFSIGNALED(st))
      fprintf(stderr, "rspbridge: QEMU (pid %d) was killed by signal %d; exiting\n", (int)app->pid,
              WTERMSIG(st));
    else
      fprintf(stderr, "rspbridge: QEMU (pid %d) exited with status %d; exiting\n", (int)app->pid,
              WEXITSTATUS(st));
    app_shutdown(app, EXIT_QEMU); /* closes the timer and sigchld */
  } else {
    uv_timer_stop(&app->kill_timer);
    uv_close((uv_handle_t *)&app->kill_timer, on_handle_closed);
    uv_close((uv_handle_t *)&app->sigchld, on_handle_closed);
  }
}

static void on_sigchld(uv_signal_t *s, int signum) {
  app_t *app = s->data;
  (void)signum;
  if (app->proc_alive && qemu_reaped(app))
    on_qemu_exit(app);
}

/* ------------------------------------------------------------------------
 * --exec.
 */

/* In the child: becomes QEMU, which dies with the bridge however the
 * bridge ends (PR_SET_PDEATHSIG, Linux). */
static void exec_child(char **argv, int stdio_client, pid_t parent) {
#ifdef __linux__
  prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
  if (getppid() != parent)
    _exit(127); /* the bridge died before prctl() */
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL);
  if (stdio_client) {
    /* stdin/stdout carry the protocol: QEMU must not touch them, its
     * output goes to stderr. */
    int fd = open("/dev/null", O_RDONLY);
    if (fd < 0 || dup2(fd, 0) < 0 || dup2(2, 1) < 0)
      _exit(127);
    if (fd > 2)
      close(fd);
  }
  execvp(argv[0], argv);
  char msg[PATH_MAX + 128];
  int n = snprintf(msg, sizeof(msg), "rspbridge: %s: %s\n", argv[0], strerror(errno));
  if (n > 0 && write(2, msg, (size_t)n) < 0)
    _exit(127);
  _exit(127); /* the parent says "cannot start" */
}

static void remove_sock_dir(app_t *app) {
  if (!app->sock_dir[0])
    return;
  unlink(app->sock_path);
  rmdir(app->sock_dir);
  app->sock_dir[0] = 0;
}

/* Starts QEMU with its gdbstub on a Unix socket in a private directory and
 * waits until the socket exists.  Nothing connects to it before the first
 * client does: QEMU stops the guest on any gdb connection, and a guest
 * started without -S must keep running.  0, or the exit code. */
static int start_qemu(app_t *app, char **args, int nargs, int stdio_client, br_addr *target) {
  const char *tmp = getenv("TMPDIR");
  if (!tmp || !*tmp)
    tmp = "/tmp";
  if (strlen(tmp) + sizeof("/rspbridge.XXXXXX/gdb.sock") > SOCK_PATH_MAX) {
    fprintf(stderr, "rspbridge: TMPDIR %s is too long for a Unix socket path\n", tmp);
    return EXIT_SETUP;
  }
  snprintf(app->sock_dir, sizeof(app->sock_dir), "%s/rspbridge.XXXXXX", tmp);
  if (!mkdtemp(app->sock_dir)) {
    fprintf(stderr, "rspbridge: cannot create a directory %s: %s\n", app->sock_dir,
            strerror(errno));
    app->sock_dir[0] = 0;
    return EXIT_SETUP;
  }
  snprintf(app->sock_path, sizeof(app->sock_path), "%s/gdb.sock", app->sock_dir);
  char unix_addr[sizeof(app->sock_path) + 8], gdbarg[sizeof(unix_addr) + 32];
  snprintf(unix_addr, sizeof(unix_addr), "unix:%s", app->sock_path);
  snprintf(gdbarg, sizeof(gdbarg), "%s,server=on,wait=off", unix_addr);
  const char *why = NULL;
  if (br_addr_parse(target, unix_addr, 1, &why) < 0) {
    fprintf(stderr, "rspbridge: QEMU's gdb socket %s: %s\n", app->sock_path, why ? why : "invalid");
    return EXIT_SETUP;
  }
  char **argv = calloc((size_t)nargs + 3, sizeof(char *));
  if (!argv)
    return EXIT_SETUP;
  for (int i = 0; i < nargs; i++)
    argv[i] = args[i];
  argv[nargs] = "-gdb";
  argv[nargs + 1] = gdbarg;
  argv[nargs + 2] = NULL;

  fflush(NULL);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0)
    exec_child(argv, stdio_client, parent);
  free(argv);
  if (pid < 0) {
    fprintf(stderr, "rspbridge: cannot start %s: %s\n", args[0], strerror(errno));
    return EXIT_SETUP;
  }
  app->pid = pid;
  app->proc_alive = 1;
  fprintf(stderr, "rspbridge: started %s (pid %d) with -gdb %s\n", args[0], (int)pid, gdbarg);
  for (int i = 0; i < 1000; i++) {
    struct stat st;
    if (stat(app->sock_path, &st) == 0 && S_ISSOCK(st.st_mode))
      return 0;
    if (qemu_reaped(app)) {
      if (WIFEXITED(app->wstatus) && WEXITSTATUS(app->wstatus) == 127) {
        fprintf(stderr, "rspbridge: cannot start %s\n", args[0]);
        return EXIT_SETUP;
      }
      on_qemu_exit(app);
      return EXIT_QEMU;
    }
    usleep(10000);
  }
  fprintf(stderr, "rspbridge: QEMU (pid %d) did not create its gdb socket %s in 10 s\n", (int)pid,
          app->sock_path);
  return EXIT_SETUP;
}

int main(int argc, char **argv) {
  enum {
    O_LISTEN = 256,
    O_STDIO,
    O_EXEC,
    O_TRACE,
    O_READONLY,
    O_RECONNECT,
    O_RETRY,
    O_TIMEOUT,
    O_CACHE,
    O_PHYS,
    O_ROOT,
    O_SPIN,
    O_MONITOR,
    O_ONKILL,
    O_QEMU_PID,
    O_HTTP,
    O_SESSIONS,
    O_SAVE_DIR
  };
  static const struct option opts[] = {
      {"listen", required_argument, NULL, O_LISTEN},
      {"stdio", no_argument, NULL, O_STDIO},
      {"exec", no_argument, NULL, O_EXEC},
      {"trace", required_argument, NULL, O_TRACE},
      {"read-only", no_argument, NULL, O_READONLY},
      {"reconnect", required_argument, NULL, O_RECONNECT},
      {"retry-ms", required_argument, NULL, O_RETRY},
      {"timeout", required_argument, NULL, O_TIMEOUT},
      {"busy-poll", required_argument, NULL, O_SPIN},
      {"cache-size", required_argument, NULL, O_CACHE},
      {"phys", required_argument, NULL, O_PHYS},
      {"root", required_argument, NULL, O_ROOT},
      {"monitor", required_argument, NULL, O_MONITOR},
      {"on-kill", required_argument, NULL, O_ONKILL},
      {"qemu-pid", required_argument, NULL, O_QEMU_PID},
      {"http", required_argument, NULL, O_HTTP},
      {"sessions", required_argument, NULL, O_SESSIONS},
      {"save-dir", required_argument, NULL, O_SAVE_DIR},
      {"verbose", no_argument, NULL, 'v'},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0},
  };
  br_config cfg;
  br_config_default(&cfg);
  cfg.service = &svc_walker_ops; /* bridge/service/ */
  cfg.svc.cache_bytes = 4u << 20;
  const char *listen_arg = NULL, *trace_arg = NULL, *why = NULL;
  int stdio_client = 0, exec_qemu = 0, qemu_pid = 0;
  char http_host[64] = "";
  int http_port = -1;
  unsigned long long u;
  int c;

  opterr = 0; /* our own messages, all starting with "rspbridge: " */
  opterr = 0; /* our messages, below */
  while ((c = getopt_long(argc, argv, "+:hVv", opts, NULL)) != -1) {
    switch (c) {
    case O_LISTEN:
      listen_arg = optarg;
      break;
    case O_STDIO:
      stdio_client = 1;
      break;
    case O_EXEC:
      exec_qemu = 1;
      break;
    case O_TRACE:
      trace_arg = optarg;
      break;
    case O_READONLY:
      cfg.read_only = 1;
      cfg.svc.read_only = 1;
      break;
    case O_RECONNECT:
      if (strcmp(optarg, "always") == 0)
        cfg.reconnect = -1;
      else if (strcmp(optarg, "never") == 0)
        cfg.reconnect = 0;
      else if (parse_uint(optarg, 1000000, &u) == 0 && u > 0)
        cfg.reconnect = (int)u;
      else {
        log_err("--reconnect: expected always, never or a number, not '%s'%s", optarg, "");
        return EXIT_USAGE;
      }
      break;
    case O_RETRY:
    case O_TIMEOUT:
      if (parse_uint(optarg, 3600000, &u) || u == 0) {
        log_err("%s: expected milliseconds, not '%s'", c == O_RETRY ? "--retry-ms" : "--timeout",
                optarg);
        return EXIT_USAGE;
      }
      if (c == O_RETRY)
        cfg.retry_ms = (unsigned)u;
      else
        cfg.timeout_ms = (unsigned)u;
      break;
    case O_SESSIONS:
      if (parse_uint(optarg, 64, &u) || u == 0) {
        log_err("--sessions: expected a number of clients (1 to 64), not '%s'%s", optarg, "");
        return EXIT_USAGE;
      }
      cfg.max_sessions = (unsigned)u;
      break;
    case O_SPIN:
      if (parse_uint(optarg, 1000000, &u)) {
        log_err("--busy-poll: expected microseconds (0 to 1000000), not '%s'%s", optarg, "");
        return EXIT_USAGE;
      }
      cfg.busy_poll_us = (unsigned)u;
      break;
    case O_CACHE:
      if (parse_size(optarg, &cfg.svc.cache_bytes)) {
        log_err("--cache-size: expected a size, not '%s'%s", optarg, "");
        return EXIT_USAGE;
      }
      break;
    case O_PHYS:
      if (!phys_arg_ok(optarg)) {
        log_err("--phys: expected auto, qemu, offset:OFF (OFF a hex number) or none, not "
                "'%.64s'%s",
                optarg, strlen(optarg) > 64 ? "..." : "");
        return EXIT_USAGE;
      }
      cfg.svc.phys_backend = strcmp(optarg, "auto") == 0 ? NULL : optarg;
      break;
    case O_ROOT:
      if (parse_uint(optarg, ~0ull, &u)) {
        log_err("--root: expected a physical address, not '%s'%s", optarg, "");
        return EXIT_USAGE;
      }
      cfg.svc.root_override = u;
      cfg.svc.has_root_override = 1;
      break;
    case O_MONITOR:
      if (!strcmp(optarg, "all") || !strcmp(optarg, "read-only") || !strcmp(optarg, "none")) {
        cfg.svc.monitor_policy = optarg[0] == 'a'   ? SVC_MON_ALL
                                 : optarg[0] == 'r' ? SVC_MON_READ_ONLY
                                                    : SVC_MON_NONE;
        break;
      }
      log_err("--monitor: expected all, read-only or none, not '%.64s'%s", optarg, "");
      return EXIT_USAGE;
    case O_ONKILL:
      if (strcmp(optarg, "forward") == 0)
        cfg.on_kill = BR_KILL_FORWARD;
      else if (strcmp(optarg, "detach") == 0)
        cfg.on_kill = BR_KILL_DETACH;
      else {
        log_err("--on-kill: expected forward or detach, not '%.64s'%s", optarg, "");
        return EXIT_USAGE;
      }
      break;
    case O_QEMU_PID: /* the local backend (service/local.c) reads its guest RAM */
      if (parse_uint(optarg, 0x7fffffff, &u) || !u) {
        log_err("--qemu-pid: expected a process id, not '%s'%s", optarg, "");
        return EXIT_USAGE;
      }
      qemu_pid = (int)u;
      break;
    case O_HTTP: { /* HOST:PORT, :PORT or PORT; [V6]:PORT */
      const char *colon = strrchr(optarg, ':');
      const char *port = colon ? colon + 1 : optarg;
      size_t hl = colon ? (size_t)(colon - optarg) : 0;
      const char *host = optarg;
      if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']')
        host++, hl -= 2;
      if (parse_uint(port, 65535, &u) || hl >= sizeof(http_host)) {
        log_err("--http: expected HOST:PORT, :PORT or PORT, not '%.64s'%s", optarg, "");
        return EXIT_USAGE;
      }
      memcpy(http_host, host, hl);
      http_host[hl] = 0;
      http_port = (int)u;
      break;
    }
    case O_SAVE_DIR: { /* absolute: a later chdir cannot move it */
      static char dir[PATH_MAX];
      struct stat st;
      const char *bad = !realpath(optarg, dir) || stat(dir, &st) ? strerror(errno)
                        : !S_ISDIR(st.st_mode)                   ? "not a directory"
                                                                 : NULL;
      if (bad) {
        log_err("--save-dir %s: %s", optarg, bad);
        return EXIT_USAGE;
      }
      cfg.svc.save_dir = dir;
      break;
    }
    case 'v':
      cfg.verbose++;
      break;
    case 'h':
      usage(stdout);
      return EXIT_OK;
    case 'V':
      printf("rspbridge %s\n", RSPBRIDGE_VERSION);
      return EXIT_OK;
    case ':':
      fprintf(stderr, "rspbridge: option %s needs an argument\n", argv[optind - 1]);
      fprintf(stderr, "rspbridge: see rspbridge --help\n");
      return EXIT_USAGE;
    default:
      fprintf(stderr, "rspbridge: unknown option: %s\n", argv[optind - 1]);
      fprintf(stderr, "rspbridge: see rspbridge --help\n");
      return EXIT_USAGE;
    }
  }
  int rest = argc - optind;
  if (exec_qemu ? rest < 1 : rest != 1) {
    fprintf(stderr, exec_qemu ? "rspbridge: --exec needs a QEMU command after --\n"
                              : "rspbridge: expected one TARGET\n");
    usage(stderr);
    return EXIT_USAGE;
  }
  if (stdio_client && listen_arg) {
    fprintf(stderr, "rspbridge: --stdio and --listen exclude each other\n");
    return EXIT_USAGE;
  }
  if (stdio_client) {
    cfg.listen.kind = BR_ADDR_STDIO;
  } else if (listen_arg && br_addr_parse(&cfg.listen, listen_arg, 0, &why) < 0) {
    log_err("--listen %s: %s", listen_arg, why ? why : "invalid");
    return EXIT_USAGE;
  }
  if (!exec_qemu && br_addr_parse(&cfg.target, argv[optind], 1, &why) < 0) {
    log_err("target %s: %s", argv[optind], why ? why : "invalid");
    return EXIT_USAGE;
  }
  if (trace_arg) {
    cfg.trace = fopen(trace_arg, "we"); /* not inherited by QEMU */
    if (!cfg.trace) {
      log_err("--trace %s: %s", trace_arg, strerror(errno));
      return EXIT_SETUP;
    }
  }
  signal(SIGPIPE, SIG_IGN);

  static app_t app;
  br_t *br = calloc(1, br_size());
  if (!br) {
    log_err("%s%s", "out of memory", "");
    return EXIT_SETUP;
  }
  app.loop = uv_default_loop();
  app.br = br;
  cfg.on_stop = on_stop;
  uv_timer_init(app.loop, &app.kill_timer);
  app.kill_timer.data = &app;
  for (size_t i = 0; i < N_END_SIGNALS; i++) {
    uv_signal_init(app.loop, &app.sig[i]);
    app.sig[i].data = &app;
    uv_signal_start(&app.sig[i], on_signal, end_signals[i]);
  }
  /* Before QEMU starts, so that no exit goes unseen. */
  uv_signal_init(app.loop, &app.sigchld);
  app.sigchld.data = &app;
  uv_signal_start(&app.sigchld, on_sigchld, SIGCHLD);

  int code = EXIT_OK;
  if (exec_qemu && (code = start_qemu(&app, argv + optind, rest, stdio_client, &cfg.target)))
    goto fail;
  br_init(app.loop, br, &cfg);
  br_set_data(br, &app);
  int rc = br_start(br);
  if (rc < 0) {
    char a[160];
    br_addr_format(&cfg.listen, a, sizeof(a));
    fprintf(stderr, "rspbridge: cannot listen on %s: %s\n", a, uv_strerror(rc));
    code = EXIT_SETUP;
    goto fail;
  }
  if (!stdio_client) {
    char a[160], t[160];
    br_addr l = cfg.listen;
    if (l.kind == BR_ADDR_TCP) {
      if (l.sa.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&l.sa)->sin6_port = htons((uint16_t)br_listen_port(br));
      else
        ((struct sockaddr_in *)&l.sa)->sin_port = htons((uint16_t)br_listen_port(br));
    }
    br_addr_format(&l, a, sizeof(a));
    br_addr_format(&cfg.target, t, sizeof(t));
    fprintf(stderr, "rspbridge: listening on %s, target %s\n", a, t);
    fflush(stderr);
  }
  if (http_port >= 0) {
#ifdef RSP_HAVE_HTTP
    br_http *h = NULL;
    rc = br_http_start(br, http_host[0] ? http_host : NULL, http_port, cfg.read_only, &h);
    if (rc < 0) {
      fprintf(stderr, "rspbridge: --http: cannot listen on %s:%d: %s\n",
              http_host[0] ? http_host : "127.0.0.1", http_port, uv_strerror(rc));
      code = EXIT_SETUP;
      goto fail;
    }
    app.http = h;
    fprintf(stderr, "rspbridge: HTTP on http://%s%s%s:%d/\n", strchr(http_host, ':') ? "[" : "",
            http_host[0] ? http_host : "127.0.0.1", strchr(http_host, ':') ? "]" : "",
            br_http_port(h));
    fflush(stderr);
#else
    fprintf(stderr, "rspbridge: --http: this build has no HTTP endpoint (needs http-parser)\n");
    code = EXIT_SETUP;
    goto fail;
#endif
  }
  if (br_service(br) && (qemu_pid || exec_qemu)) /* a walker svc: cfg.service */
    svc_set_qemu_pid(br_service(br), qemu_pid ? qemu_pid : (int)app.pid);
  uv_run(app.loop, UV_RUN_DEFAULT);
  code = app.exit_code;
  goto done;

fail:
  app_shutdown(&app, code);
  uv_run(app.loop, UV_RUN_DEFAULT);
  code = app.exit_code;
done:
  remove_sock_dir(&app);
  if (uv_loop_close(app.loop) != 0)
    fprintf(stderr, "rspbridge: warning: handles left open at exit\n");
  if (cfg.trace)
    fclose(cfg.trace);
  return code;
}
