/* fuzz_bridge.c - the whole bridge under a hostile client and a hostile
 * target.  Each input builds a fresh bridge (br_t with the real service) in
 * its own uv loop, with a fake client and a fake target on unix sockets,
 * and plays a script read from the input: packets, raw bytes, acks, NAKs
 * and ^C from the client; replies (plausible, wrong, corrupt, oversized,
 * O packets, stop replies, notifications) and raw bytes from the target;
 * disconnects of either side; the target's listener going away; expired
 * timers.  After every step the loop runs until it is quiescent (no bytes
 * move, the worker thread is idle or waiting for the target).  Timers are
 * virtual: the configured ones are a minute long and a script step makes
 * the pending one expire at once, so a run is fast and repeatable.
 *
 * Checked, beyond ASan/UBSan:
 * - everything the bridge writes to either side is well framed ($body#xx
 *   with a correct checksum, '%' notifications to the client only, nothing
 *   but '+', '-' (and ^C upstream) between frames) and parses;
 * - no reply reaches the client twice: every reply the fake target sends
 *   carries a unique tag "@NNNNNN", and a tag seen twice by the client is a
 *   failure unless the client sent a NAK that asked for a retransmission;
 * - the target never gets bc/bs (QEMU aborts) nor, in read-only mode, a
 *   memory or register write;
 * - the bridge's buffers stay bounded;
 * - with --sessions (a configuration bit), an observer's packets and
 *   leaving mix with the controller's: the same checks hold for both;
 * - the loop always becomes quiescent (no livelock, no worker hang), and
 *   br_close() leaves no live handle: uv_loop_close() succeeds.
 *
 * The script: byte 0 is the configuration, then ops (see run()). */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "br_int.h" /* the harness looks inside struct br */
#include "bridge.h"

#define FZ_BODY      (2 * BR_FRAME_MAX)
#define FZ_NREQ      256
#define FZ_REQLEN    160
#define FZ_TAGS      (1u << 16)
#define FZ_BUF_BOUND (8u << 20)

static void die(const char *what) {
  fprintf(stderr, "fuzz_bridge: %s\n", what);
  abort();
}

#define CHECK(c, what) \
  do {                 \
    if (!(c))          \
      die(what);       \
  } while (0)

/* ------------------------------------------------------------------------
 * The input.
 */

typedef struct {
  const uint8_t *p, *end;
} rd;

static unsigned u8(rd *r) {
  return r->p < r->end ? *r->p++ : 0;
}

/* Up to n bytes of input, with '@' (the tag marker) made harmless. */
static size_t take(rd *r, char *out, size_t n) {
  size_t avail = (size_t)(r->end - r->p);
  if (n > avail)
    n = avail;
  for (size_t i = 0; i < n; i++)
    out[i] = r->p[i] == '@' ? '!' : (char)r->p[i];
  r->p += n;
  return n;
}

/* ------------------------------------------------------------------------
 * One connection the bridge writes to, as the fake peer sees it.
 */

typedef struct fz fz;

typedef struct {
  fz *f;
  int is_client;
  int fd;
  int frame; /* 0 between frames, 1 body, 2 and 3 checksum */
  rsp_parser p;
  char body[FZ_BODY];
  /* Target: requests received and not answered yet (truncated copies). */
  char req[FZ_NREQ][FZ_REQLEN];
  size_t reqlen[FZ_NREQ];
  unsigned rh, rn;
} conn;

struct fz {
  uv_loop_t loop;
  br_t *br;
  int closed;
  int stopped;
  int read_only;
  int on_kill;
  int lfd; /* the target's listener, -1 while down */
  conn c, t;
  conn o;               /* an observer (--sessions) */
  int sessions;         /* more than one client allowed */
  int stall_c, stall_t; /* that peer does not read: back-pressure */
  int floods;           /* expensive: one big flood per input */
  rsp_parser cout;      /* what the client sends, to count its NAKs */
  char cout_body[256];
  unsigned naks; /* retransmissions the client asked for */
  unsigned seq;
  uint8_t seen[FZ_TAGS / 8];
  uint8_t seen_o[FZ_TAGS / 8]; /* the observer's: each session gets each reply once */
  char tpath[108], bpath[108];
};

static char g_dir[64];
static FILE *g_null;
static int g_debug; /* FUZZ_BRIDGE_DEBUG=1: show the traffic and the log */

static void show(const char *dir, const char *b, size_t len) {
  if (!g_debug)
    return;
  fprintf(stderr, "%s ", dir);
  for (size_t i = 0; i < len && i < 200; i++) {
    unsigned char c = (unsigned char)b[i];
    if (c >= 0x20 && c < 0x7f)
      fputc(c, stderr);
    else
      fprintf(stderr, "\\x%02x", c);
  }
  fprintf(stderr, "%s\n", len > 200 ? "..." : "");
}
static fz g_fz;
static br_t g_br;
static char g_tmp[4 * BR_BODY_MAX]; /* bodies being built or decoded */
static char g_rbuf[65536];          /* bytes read from the bridge */
static char g_flood[0x4000];
static char g_frame[RSP_FRAME_MAX(4 * BR_BODY_MAX)];

static int hexval(int c) {
  return rsp_hex_digit(c);
}

/* Tags "@NNNNNN" in a body the client (or the observer, obs) got. */
static void scan_tags(fz *f, const char *b, size_t len, int obs) {
  uint8_t *seen = obs ? f->seen_o : f->seen;
  unsigned dups = 0;
  for (size_t i = 0; i + 7 <= len; i++) {
    if (b[i] != '@')
      continue;
    unsigned v = 0;
    size_t k;
    for (k = 1; k < 7 && hexval((unsigned char)b[i + k]) >= 0; k++)
      v = v * 16 + (unsigned)hexval((unsigned char)b[i + k]);
    if (k < 7 || v >= FZ_TAGS)
      continue;
    CHECK(v < f->seq, "the client got a tag the target never sent");
    if (seen[v / 8] & (1u << (v % 8)))
      dups++;
    seen[v / 8] |= (uint8_t)(1u << (v % 8));
  }
  if (dups && obs)
    die("a reply reached the observer twice");
  if (dups) {
    CHECK(f->naks > 0, "a reply reached the client twice");
    f->naks--;
  }
}

static int k_packet(rsp_parser *p, const char *b, size_t len) {
  conn *k = p->data;
  fz *f = k->f;
  show(k->is_client ? "b>c" : "b>t", b, len);
  if (k->is_client) {
    int obs = k == &f->o;
    /* An observer's qSupported gets the last reply the target gave, kept;
     * either connection may be the observer (the first one up controls).
     * The merged qSupported reply ends so. */
    if (len >= 16 && !memcmp(b + len - 16, "QStartNoAckMode+", 16))
      return 0;
    scan_tags(f, b, len, obs);
    if (len >= 3 && b[0] == 'O' && len % 2 == 1) {
      /* Console output: the text is hex. */
      size_t n = (len - 1) / 2;
      if (rsp_hex_decode(g_tmp, sizeof(g_tmp), b + 1, len - 1) == (int)n)
        scan_tags(f, g_tmp, n, obs);
    }
    return 0;
  }
  CHECK(!(len == 2 && b[0] == 'b' && (b[1] == 'c' || b[1] == 's')),
        "bc/bs reached the target (QEMU 7.2 aborts)");
  if (f->read_only && len)
    CHECK(!(b[0] == 'M' || b[0] == 'X' || b[0] == 'P' || b[0] == 'G' ||
            rsp_has_prefix(b, len, "vFlashWrite") || rsp_has_prefix(b, len, "vFlashErase")),
          "a write reached the target in read-only mode");
  if (f->read_only || f->on_kill)
    CHECK(!(len == 1 && b[0] == 'k') && !rsp_has_prefix(b, len, "vKill"),
          "a kill reached the target in read-only mode or with --on-kill detach");
  if (k->rn == FZ_NREQ) { /* forget the oldest */
    k->rh = (k->rh + 1) % FZ_NREQ;
    k->rn--;
  }
  unsigned i = (k->rh + k->rn++) % FZ_NREQ;
  size_t n = len < FZ_REQLEN ? len : FZ_REQLEN;
  memcpy(k->req[i], b, n);
  k->reqlen[i] = n;
  return 0;
}

static int k_notify(rsp_parser *p, const char *b, size_t len) {
  conn *k = p->data;
  /* To the controller only, but either connection may be it (take). */
  CHECK(k->is_client, "the bridge sent the target a notification");
  scan_tags(k->f, b, len, k == &k->f->o);
  return 0;
}

static int k_nothing(rsp_parser *p) {
  (void)p;
  return 0;
}

static int k_bad(rsp_parser *p) {
  (void)p;
  die("the bridge sent a frame with a bad checksum");
  return 0;
}

static int k_error(rsp_parser *p) {
  static char msg[128];
  snprintf(msg, sizeof(msg), "the bridge sent a malformed frame: %s", rsp_err_name(p->err));
  die(msg);
  return 0;
}

static const rsp_parser_settings k_settings = {
    .on_packet = k_packet,
    .on_notification = k_notify,
    .on_ack = k_nothing,
    .on_nak = k_nothing,
    .on_interrupt = k_nothing,
    .on_bad_checksum = k_bad,
    .on_error = k_error,
};

/* The framing, byte by byte, stricter than the parser (which skips
 * garbage). */
static void frame_check(conn *k, const char *d, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int c = (unsigned char)d[i];
    switch (k->frame) {
    case 0:
      if (c == '$' || (c == '%' && k->is_client))
        k->frame = 1;
      else
        CHECK(c == '+' || c == '-' || (c == 3 && !k->is_client),
              k->is_client ? "garbage between frames to the client"
                           : "garbage between frames to the target");
      break;
    case 1:
      CHECK(c != '$', "an unescaped '$' in a frame body");
      if (c == '#')
        k->frame = 2;
      break;
    default:
      CHECK(hexval(c) >= 0, "a checksum that is not hex");
      k->frame = k->frame == 2 ? 3 : 0;
      break;
    }
  }
}

static void conn_open(fz *f, conn *k, int fd, int is_client) {
  k->f = f;
  k->is_client = is_client;
  k->fd = fd;
  k->frame = 0;
  k->rh = k->rn = 0;
  rsp_parser_init(&k->p, k->body, sizeof(k->body));
  k->p.data = k;
}

static void conn_close(conn *k) {
  if (k->fd >= 0)
    close(k->fd);
  k->fd = -1;
  k->rh = k->rn = 0;
}

/* Reads what the bridge wrote; 1 if anything happened. */
static int drain(conn *k) {
  int any = 0;
  while (k->fd >= 0) {
    ssize_t n = read(k->fd, g_rbuf, sizeof(g_rbuf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      break;
    any = 1;
    if (n <= 0) {
      conn_close(k); /* the bridge closed it (or reset it) */
      break;
    }
    frame_check(k, g_rbuf, (size_t)n);
    rsp_parser_execute(&k->p, &k_settings, g_rbuf, (size_t)n);
  }
  return any;
}

static int set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
}

static int accept_target(fz *f) {
  if (f->lfd < 0)
    return 0;
  int fd = accept(f->lfd, NULL, NULL);
  if (fd < 0)
    return 0;
  set_nonblock(fd);
  if (f->t.fd >= 0) {
    drain(&f->t);
    conn_close(&f->t);
  }
  conn_open(f, &f->t, fd, 0);
  return 1;
}

/* ------------------------------------------------------------------------
 * Running the loop.
 */

static void check_bounds(fz *f) {
  br_t *br = f->br;
  for (br__sess *o = br->sessions; o; o = o->next)
    CHECK(o->s.acc.cap <= FZ_BUF_BOUND && o->s.fly.cap <= FZ_BUF_BOUND && o->q.cap <= FZ_BUF_BOUND,
          "a client's buffer grew");
  CHECK(br->t.acc.cap <= FZ_BUF_BOUND && br->t.fly.cap <= FZ_BUF_BOUND, "target buffer grew");
  CHECK(br->pend.cap <= FZ_BUF_BOUND, "pending requests grew");
  uv_mutex_lock(&br->mtx);
  int ok = br->wout.cap <= FZ_BUF_BOUND && br->rx.cap <= FZ_BUF_BOUND &&
           br->wreply.cap <= FZ_BUF_BOUND && br->rxe_cap <= 65536;
  uv_mutex_unlock(&br->mtx);
  CHECK(ok, "worker buffers grew");
}

/* The worker is idle, or waits for the target inside a transaction the
 * loop accepted. */
static int worker_settled(fz *f) {
  br_t *br = f->br;
  if (!br->wk_busy)
    return 1;
  uv_mutex_lock(&br->mtx);
  int s = br->wtx != NULL && br->ltx == br->wtx && !br->wk_reply_ready && br->wout.len == 0;
  /* Output for a client that does not read waits, legitimately. */
  s |= f->stall_c && br->wout.len > 0;
  uv_mutex_unlock(&br->mtx);
  return s;
}

static void fire(uv_timer_t *t) {
  if (uv_is_active((uv_handle_t *)t))
    uv_timer_start(t, t->timer_cb, 0, 0);
}

static void pump(fz *f) {
  int idle = 0;
  unsigned busy = 0;
  uint64_t t0 = uv_hrtime();
  for (;;) {
    uv_run(&f->loop, UV_RUN_NOWAIT);
    if (f->closed)
      return;
    int prog = f->stall_c ? 0 : drain(&f->c);
    prog |= drain(&f->o);
    prog |= f->stall_t ? 0 : drain(&f->t);
    prog |= accept_target(f);
    check_bounds(f);
    if (prog) {
      idle = 0;
      CHECK(++busy < 100000, "the bridge never goes quiet");
      continue;
    }
    if (!worker_settled(f)) {
      CHECK(uv_hrtime() - t0 < 5000000000u, "the worker never settles");
      sched_yield();
      continue;
    }
    if (uv_is_active((uv_handle_t *)&f->br->ack_timer)) {
      fire(&f->br->ack_timer); /* 1 ms in real time */
      idle = 0;
      continue;
    }
    if (++idle >= 3)
      return;
  }
}

/* Writes everything, letting the bridge read; gives up when the bridge
 * stops reading (back-pressure is not a bug). */
static void put(fz *f, conn *k, const void *d, size_t n) {
  const char *p = d;
  int stuck = 0;
  while (n && k->fd >= 0) {
    ssize_t w = write(k->fd, p, n);
    if (w > 0) {
      p += w;
      n -= (size_t)w;
      stuck = 0;
      continue;
    }
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (++stuck > 50)
        return;
      pump(f);
      continue;
    }
    conn_close(k); /* EPIPE, ECONNRESET: the bridge let go */
    return;
  }
}

static int cout_nak(rsp_parser *p) {
  fz *f = p->data;
  f->naks++;
  return 0;
}

static int cout_any(rsp_parser *p, const char *b, size_t len) {
  (void)p;
  (void)b;
  (void)len;
  return 0;
}

static const rsp_parser_settings cout_settings = {
    .on_packet = cout_any,
    .on_notification = cout_any,
    .on_ack = k_nothing,
    .on_nak = cout_nak,
    .on_interrupt = k_nothing,
    .on_bad_checksum = k_nothing,
    .on_error = k_nothing,
};

static void client_put(fz *f, const void *d, size_t n) {
  rsp_parser_execute(&f->cout, &cout_settings, d, n);
  put(f, &f->c, d, n);
}

static int unix_socket(void) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  CHECK(fd >= 0, "socket");
  return fd;
}

static void sun_of(struct sockaddr_un *sa, const char *path) {
  memset(sa, 0, sizeof(*sa));
  sa->sun_family = AF_UNIX;
  snprintf(sa->sun_path, sizeof(sa->sun_path), "%s", path);
}

static int connect_bridge(fz *f) {
  int fd = unix_socket();
  struct sockaddr_un sa;
  sun_of(&sa, f->bpath);
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    close(fd);
    return -1;
  }
  return set_nonblock(fd);
}

/* A client op on a closed client connects a new one first. */
static void ensure_client(fz *f) {
  if (f->c.fd >= 0 || f->stopped)
    return;
  int fd = connect_bridge(f);
  if (fd < 0)
    return;
  conn_open(f, &f->c, fd, 1);
  rsp_parser_reset(&f->cout);
  pump(f);
}

static void listen_target(fz *f) {
  unlink(f->tpath);
  int fd = unix_socket();
  struct sockaddr_un sa;
  sun_of(&sa, f->tpath);
  CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind");
  CHECK(listen(fd, 16) == 0, "listen");
  f->lfd = set_nonblock(fd);
}

static void unlisten_target(fz *f) {
  if (f->lfd < 0)
    return;
  close(f->lfd);
  f->lfd = -1;
  unlink(f->tpath);
}

/* ------------------------------------------------------------------------
 * What the fake peers send.
 */

enum {
  ENC_RLE = 1,    /* run-length encoded */
  ENC_BADSUM = 2, /* wrong checksum */
  ENC_NOTIFY = 4, /* '%' instead of '$' */
  ENC_SPLIT = 8,  /* written in two halves, the loop runs in between */
  ENC_NOSUM = 16, /* cut before the checksum */
};

static void send_frame(fz *f, conn *k, const char *body, size_t len, unsigned enc) {
  if (k->fd < 0)
    return;
  show(k == &f->c ? "c>b" : "t>b", body, len);
  int n =
      rsp_encode(g_frame, sizeof(g_frame), body, len,
                 ((enc & ENC_RLE) ? RSP_ENC_RLE : 0) | ((enc & ENC_NOTIFY) ? RSP_ENC_NOTIFY : 0));
  if (n < 4)
    return;
  if (enc & ENC_BADSUM)
    g_frame[n - 1] = g_frame[n - 1] == '0' ? '1' : '0';
  if (enc & ENC_NOSUM)
    n -= 3;
  size_t half = (enc & ENC_SPLIT) ? (size_t)n / 2 : (size_t)n;
  if (k == &f->c)
    client_put(f, g_frame, half);
  else
    put(f, k, g_frame, half);
  if (half < (size_t)n) {
    pump(f);
    if (k == &f->c)
      client_put(f, g_frame + half, (size_t)n - half);
    else
      put(f, k, g_frame + half, (size_t)n - half);
  }
}

static const char *const client_templates[] = {
    "?",
    "g",
    "G0011",
    "p10",
    "P10=0011223344556677",
    "m1000,",
    "m",
    "M1000,4:",
    "X1000,4:",
    "c",
    "s",
    "C05",
    "vCont;c",
    "vCont;s:1",
    "vCont?",
    "D",
    "D;1",
    "k",
    "bc",
    "bs",
    "qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386",
    "qXfer:features:read:target.xml:0,ffb",
    "QStartNoAckMode",
    "Hg1",
    "Z0,1000,1",
    "z0,1000,1",
    "qC",
    "qAttached",
    "vFlashWrite:",
    "i",
    "vRun;",
    "qRcmd,",
    "",
    "F",
    "vKill;1",
};
#define N_CLIENT_TEMPLATES (sizeof(client_templates) / sizeof(client_templates[0]))

static const char *const monitor_commands[] = {
    "help",
    "vtop ",
    "pte ",
    "phys read ",
    "phys write ",
    "phys fill ",
    "phys search ",
    "maps",
    "ptov ",
    "context ",
    "context default",
    "cache ",
    "cache stats --json",
    "uncached add ",
    "uncached list",
    "arch ",
    "info registers",
    "",
    "session",
    "session take",
};
#define N_MONITOR (sizeof(monitor_commands) / sizeof(monitor_commands[0]))

/* A second client, an observer while the first controls run state. */
static void ensure_observer(fz *f) {
  if (f->o.fd >= 0 || f->stopped)
    return;
  int fd = connect_bridge(f);
  if (fd >= 0)
    conn_open(f, &f->o, fd, 1);
}

static void op_client_packet(fz *f, rd *r, int observer) {
  unsigned tpl = u8(r), enc = u8(r), alen = u8(r) % 48;
  char body[600], arg[48];
  const char *t = client_templates[tpl % N_CLIENT_TEMPLATES];
  size_t an = take(r, arg, alen);
  size_t n = strlen(t);
  memcpy(body, t, n);
  if (!strcmp(t, "qRcmd,")) {
    /* A monitor command, hex-encoded as GDB does. */
    char cmd[128];
    const char *m = monitor_commands[u8(r) % N_MONITOR];
    size_t cn = strlen(m);
    memcpy(cmd, m, cn);
    memcpy(cmd + cn, arg, an);
    n += (size_t)rsp_hex_encode(body + n, sizeof(body) - n, cmd, cn + an);
  } else {
    memcpy(body + n, arg, an);
    n += an;
  }
  if (observer) {
    ensure_observer(f);
    send_frame(f, &f->o, body, n, enc & (ENC_RLE | ENC_SPLIT));
    return;
  }
  ensure_client(f);
  send_frame(f, &f->c, body, n, enc);
}

static void op_client_big(fz *f, rd *r) {
  unsigned k = u8(r), enc = u8(r);
  /* 1 to 256 steps of BR_BODY_MAX / 128: around the target's PacketSize
   * (which the service splits) and up to twice BR_BODY_MAX. */
  size_t n = (size_t)(k + 1) * (BR_BODY_MAX / 128);
  g_tmp[0] = "mMXq"[k & 3];
  memset(g_tmp + 1, '0' + (k % 10), n - 1);
  ensure_client(f);
  send_frame(f, &f->c, g_tmp, n, enc & (ENC_RLE | ENC_BADSUM | ENC_SPLIT));
}

static void op_raw(fz *f, rd *r, conn *k) {
  char d[256];
  size_t n = take(r, d, u8(r));
  if (k == &f->c) {
    ensure_client(f);
    client_put(f, d, n);
  } else {
    put(f, k, d, n);
  }
}

static void op_client_ctrl(fz *f, rd *r) {
  static const char ctl[] = {'+', '-', 3, '-', 3};
  unsigned v = u8(r);
  ensure_client(f);
  char c = ctl[v % sizeof(ctl)];
  for (unsigned i = 0; i <= v / 64; i++)
    client_put(f, &c, 1);
}

static const char xml[] =
    "l<?xml version=\"1.0\"?><target><architecture>i386:x86-64</architecture>"
    "<feature name=\"org.gnu.gdb.i386.core\"><reg name=\"rip\" bitsize=\"64\" "
    "regnum=\"0\"/><reg name=\"cr0\" bitsize=\"64\"/><reg name=\"cr3\" "
    "bitsize=\"64\"/><reg name=\"cr4\" bitsize=\"64\"/><reg name=\"efer\" "
    "bitsize=\"64\"/></feature></target>";

static int next_tag(fz *f, char *out) {
  if (f->seq >= FZ_TAGS)
    return 0;
  return snprintf(out, 8, "@%06x", f->seq++);
}

static int is_resume_req(const char *q, size_t n) {
  return rsp_classify_request(q, n, NULL) == RSP_REQ_RESUME;
}

/* A reply QEMU could give to request q; -1 for none ("k"). */
static int plausible(fz *f, const char *q, size_t qn, unsigned arg, char *out, size_t cap) {
  char tag[8] = "";
  next_tag(f, tag);
  if (qn == 1 && q[0] == 'k')
    return -1;
  if (rsp_has_prefix(q, qn, "qSupported")) {
    unsigned ps = (arg & 1) ? 0x1000 : 0x40 + (arg & 0xf0) * 4;
    return snprintf(
        out, cap, "PacketSize=%x;qXfer:features:read+;vContSupported+;multiprocess+;%s+", ps, tag);
  }
  if (rsp_has_prefix(q, qn, "qXfer:features:read:"))
    return snprintf(out, cap, "%s", xml);
  if (rsp_has_prefix(q, qn, "qqemu.Supported"))
    return snprintf(out, cap, "sstepbits;sstep;PhyMemMode");
  if (qn && q[0] == 'm') {
    uint64_t a, len;
    if (rsp_parse_m(q, qn, &a, &len) < 0)
      return snprintf(out, cap, "E01");
    if (len > 0x800)
      len = 0x800;
    if (arg & 2)
      len /= 2;
    int o = 0;
    for (uint64_t i = 0; i < len && (size_t)o + 2 < cap; i++)
      o += snprintf(out + o, cap - (size_t)o, "%02x", (unsigned)((a + i + arg) & 0xff));
    return o;
  }
  if (qn && q[0] == 'p')
    return snprintf(out, cap, "00%02x000000000000", arg & 0xff);
  if (qn && q[0] == 'g')
    return snprintf(out, cap, "%064x", arg);
  if (is_resume_req(q, qn) && (arg & 8))
    return snprintf(out, cap, "Fwrite,1,%x,%x", 0x1000 + (arg & 0xf0),
                    4 + (arg & 3)); /* File-I/O */
  if (is_resume_req(q, qn) || (qn == 1 && q[0] == '?')) {
    if (arg & 4)
      return snprintf(out, cap, "S05");
    return snprintf(out, cap, "T05thread:01;tg:%s;", tag);
  }
  if (rsp_has_prefix(q, qn, "vCont?"))
    return snprintf(out, cap, "vCont;c;C;s;S");
  if (rsp_has_prefix(q, qn, "qC"))
    return snprintf(out, cap, "QC1");
  if (qn && strchr("MXPGZzHDQ", q[0]))
    return snprintf(out, cap, "OK");
  if (rsp_has_prefix(q, qn, "qRcmd,"))
    return snprintf(out, cap, "OK");
  return snprintf(out, cap, "%s", tag); /* unknown: an empty-ish reply */
}

/* Console output for the client ("O" + hex), with a tag in its text. */
static size_t console(fz *f, char *out, size_t cap) {
  char text[32] = "out";
  int n = 3 + next_tag(f, text + 3);
  text[n++] = '\r';
  text[n++] = '\n';
  int o = rsp_format_O(out, cap, text, (size_t)n);
  return o > 0 ? (size_t)o : 0;
}

/* The target answers its oldest request, in one of many ways. */
static void op_target_reply(fz *f, rd *r) {
  unsigned kind = u8(r), arg = u8(r), enc = u8(r);
  conn *t = &f->t;
  if (t->fd < 0)
    return;
  const char *q = "";
  size_t qn = 0;
  int pop = 1;
  if (t->rn) {
    q = t->req[t->rh];
    qn = t->reqlen[t->rh];
  }
  char body[0x1200];
  int n;
  switch (kind % 14) {
  default: /* 0..4: the expected reply */
    n = plausible(f, q, qn, arg, body, sizeof(body));
    if (n >= 0 && kind % 14 == 0)
      put(f, t, "+", 1);
    if (n >= 0 && (kind % 14 == 1 || kind % 14 == 2) && rsp_has_prefix(q, qn, "qRcmd,")) {
      /* HMP output: O packets first. */
      for (unsigned i = 0; i <= (arg & 3); i++) {
        size_t o = console(f, g_tmp, sizeof(g_tmp));
        send_frame(f, t, g_tmp, o, enc & ENC_RLE);
      }
    }
    break;
  case 5:
    n = snprintf(body, sizeof(body), "E%02x", arg);
    break;
  case 6:
    n = 0;
    break;
  case 7: /* console output, not a reply */
    n = (int)console(f, body, sizeof(body));
    pop = 0;
    break;
  case 8: { /* a stop reply, solicited or not */
    char tag[8] = "";
    next_tag(f, tag);
    n = snprintf(body, sizeof(body), "T%02xthread:p01.01;tg:%s;", arg & 0x1f, tag);
    pop = is_resume_req(q, qn) || (qn == 1 && q[0] == '?');
    break;
  }
  case 9: { /* a notification */
    char tag[8] = "";
    next_tag(f, tag);
    n = snprintf(body, sizeof(body), "Stop:T05thread:01;tg:%s;", tag);
    enc |= ENC_NOTIFY;
    pop = 0;
    break;
  }
  case 10: /* oversized */
    n = (int)(BR_BODY_MAX + 16 + arg * 64u);
    memset(g_tmp, '0' + (arg & 7), (size_t)n);
    send_frame(f, t, g_tmp, (size_t)n, enc & (ENC_RLE | ENC_SPLIT | ENC_BADSUM));
    n = -1;
    break;
  case 11: { /* whatever the input says */
    n = (int)take(r, body, arg);
    break;
  }
  case 12: /* W/X: the process is gone */
    n = snprintf(body, sizeof(body), "%c%02x", (arg & 1) ? 'W' : 'X', arg >> 1);
    break;
  case 13: /* the expected reply, twice (a confused stub) */
    n = plausible(f, q, qn, arg, body, sizeof(body));
    if (n >= 0)
      send_frame(f, t, body, (size_t)n, enc & ~(unsigned)ENC_NOTIFY);
    n = plausible(f, q, qn, arg, body, sizeof(body));
    break;
  }
  if (n >= 0)
    send_frame(f, t, body, (size_t)n, (kind % 14 == 9) ? enc : (enc & ~(unsigned)ENC_NOTIFY));
  if (pop && t->rn) {
    t->rh = (t->rh + 1) % FZ_NREQ;
    t->rn--;
  }
}

/* The target answers everything it was asked, plausibly. */
static void op_target_all(fz *f, rd *r) {
  unsigned arg = u8(r);
  conn *t = &f->t;
  char body[0x1200];
  for (int i = 0; i < 64 && t->rn && t->fd >= 0; i++) {
    const char *q = t->req[t->rh];
    size_t qn = t->reqlen[t->rh];
    int n = plausible(f, q, qn, arg, body, sizeof(body));
    t->rh = (t->rh + 1) % FZ_NREQ;
    t->rn--;
    put(f, t, "+", 1);
    if (n >= 0)
      send_frame(f, t, body, (size_t)n, 0);
    pump(f);
  }
}

static void op_target_ctrl(fz *f, rd *r) {
  static const char ctl[] = {'+', '-', 3};
  unsigned v = u8(r);
  char c = ctl[v % sizeof(ctl)];
  for (unsigned i = 0; i <= v / 64; i++)
    put(f, &f->t, &c, 1);
}

static void op_timer(fz *f, rd *r) {
  unsigned v = u8(r);
  br_t *br = f->br;
  if (v & 1)
    fire(&br->retry_timer);
  else
    fire(&br->req_timer);
}

/* The target floods the client with console output (forwarded as it
 * comes), to fill the socket and the bridge's buffers. */
static void op_flood(fz *f, rd *r) {
  /* Up to BR_HIGH_WATER in one go, which only matters (back-pressure)
   * when the client does not read. */
  unsigned k = u8(r) % 72;
  size_t size = 0x3f00;
  if (!f->stall_c || f->floods++) {
    k %= 4;
    size = 100;
  }
  static const char text[] = "flood\n";
  size_t n = 0;
  g_flood[n++] = 'O';
  while (n + 2 * sizeof(text) < size)
    n += (size_t)rsp_hex_encode(g_flood + n, sizeof(g_flood) - n, text, sizeof(text) - 1);
  static char frame[RSP_FRAME_MAX(sizeof(g_flood))];
  int m = rsp_encode(frame, sizeof(frame), g_flood, n, 0);
  for (unsigned i = 0; i <= k && f->t.fd >= 0; i++)
    put(f, &f->t, frame, (size_t)m);
}

static void op_second_client(fz *f) {
  int fd = connect_bridge(f);
  if (fd < 0)
    return;
  pump(f);
  close(fd);
}

/* ------------------------------------------------------------------------
 * One input.
 */

static void on_stop(br_t *br, int status, const char *why) {
  fz *f = br->data;
  (void)status;
  (void)why;
  f->stopped = 1;
}

static void on_closed(br_t *br) {
  fz *f = br->data;
  f->closed = 1;
}

static void setup(fz *f, unsigned cfgb) {
  memset(f, 0, sizeof(*f));
  f->lfd = f->c.fd = f->t.fd = f->o.fd = -1;
  snprintf(f->tpath, sizeof(f->tpath), "%s/t", g_dir);
  snprintf(f->bpath, sizeof(f->bpath), "%s/b", g_dir);
  rsp_parser_init(&f->cout, f->cout_body, sizeof(f->cout_body));
  f->cout.data = f;
  listen_target(f);
  unlink(f->bpath);

  br_config cfg;
  br_config_default(&cfg);
  cfg.listen.kind = BR_ADDR_UNIX;
  snprintf(cfg.listen.path, sizeof(cfg.listen.path), "%s", f->bpath);
  cfg.target.kind = BR_ADDR_UNIX;
  snprintf(cfg.target.path, sizeof(cfg.target.path), "%s", f->tpath);
  cfg.log = g_debug ? stderr : g_null;
  cfg.verbose = g_debug ? 2 : (cfgb >> 6) & 1;
  cfg.max_sessions = f->sessions = (cfgb & 0x40) ? 3 : 1; /* observers */
  cfg.on_kill = f->on_kill = (cfgb >> 7) & 1;             /* BR_KILL_DETACH */
  cfg.trace = (cfgb & 0x20) ? g_null : NULL;
  cfg.read_only = f->read_only = cfgb & 1;
  static const int policies[] = {-1, 0, 1, 3};
  cfg.reconnect = policies[(cfgb >> 1) & 3];
  /* Virtual time: nothing expires unless the script says so. */
  cfg.timeout_ms = 60000;
  cfg.retry_ms = 60000;
  cfg.service = &svc_walker_ops;
  cfg.svc.cache_bytes = (cfgb & 8) ? 0 : 16 * 4096;
  cfg.svc.read_only = cfg.read_only;
  cfg.svc.phys_backend = (cfgb & 0x10) ? "none" : NULL;
  cfg.data = f;
  cfg.on_stop = on_stop;

  CHECK(uv_loop_init(&f->loop) == 0, "uv_loop_init");
  f->br = &g_br;
  CHECK(br_init(&f->loop, f->br, &cfg) == 0, "br_init");
  f->br->data = f;
  CHECK(br_start(f->br) == 0, "br_start");
}

static void teardown(fz *f) {
  f->stall_c = f->stall_t = 0;
  pump(f);
  drain(&f->c);
  drain(&f->t);
  drain(&f->o);
  /* br_close() first lets a running command end and svc_finish() run,
   * which may wait for the target: the peers keep reading, and when they
   * do not answer the finishing deadline passes (virtual time). */
  br_close(f->br, on_closed);
  uint64_t t0 = uv_hrtime();
  while (!f->closed && uv_hrtime() - t0 < 10000000000u) {
    uv_run(&f->loop, UV_RUN_NOWAIT);
    if (f->closed)
      break;
    int prog = drain(&f->c);
    prog |= drain(&f->t);
    prog |= drain(&f->o);
    if (!prog && worker_settled(f)) {
      fire(&f->br->fin_timer);
      fire(&f->br->req_timer);
    }
    sched_yield();
  }
  CHECK(f->closed, "br_close never called back");
  /* The bridge's handles are all closed: nothing is left to run. */
  CHECK(uv_loop_close(&f->loop) == 0, "a handle outlived br_close");
  conn_close(&f->c);
  conn_close(&f->t);
  conn_close(&f->o);
  unlisten_target(f);
  unlink(f->bpath);
}

static void run(fz *f, rd *r) {
  for (int steps = 0; r->p < r->end && steps < 400 && !f->stopped; steps++) {
    unsigned op = u8(r);
    if (g_debug)
      fprintf(stderr, "-- op %u\n", op % 16);
    switch (op % 16) {
    case 0:
    case 1:
    case 2:
      /* With --sessions, one packet in four is the observer's. */
      op_client_packet(f, r, f->sessions > 1 && (op & 0x30) == 0x30);
      break;
    case 3:
      op_raw(f, r, &f->c);
      break;
    case 4:
      op_client_ctrl(f, r);
      break;
    case 5:
    case 6:
    case 7:
      op_target_reply(f, r);
      break;
    case 8:
      op_target_all(f, r);
      break;
    case 9:
      op_raw(f, r, &f->t);
      break;
    case 10:
      op_target_ctrl(f, r);
      break;
    case 11:
      op_timer(f, r);
      break;
    case 12: /* the client (or the observer) goes away */
      if (f->sessions > 1 && (op & 0x10)) {
        drain(&f->o);
        conn_close(&f->o);
        break;
      }
      drain(&f->c);
      conn_close(&f->c);
      break;
    case 13: /* the target goes away */
      drain(&f->t);
      conn_close(&f->t);
      break;
    case 14: /* the target's listener goes away or comes back */
      if (f->lfd >= 0)
        unlisten_target(f);
      else
        listen_target(f);
      break;
    case 15:
      switch ((op >> 4) & 3) {
      case 0:
        op_second_client(f);
        break;
      case 1:
        op_client_big(f, r);
        break;
      case 2:
        if (u8(r) & 1)
          f->stall_t = !f->stall_t;
        else
          f->stall_c = !f->stall_c;
        break;
      case 3:
        op_flood(f, r);
        break;
      }
      break;
    }
    if (!(op & 0x80))
      pump(f);
  }
  pump(f);
}

static void cleanup(void) {
  char p[128];
  snprintf(p, sizeof(p), "%s/t", g_dir);
  unlink(p);
  snprintf(p, sizeof(p), "%s/b", g_dir);
  unlink(p);
  rmdir(g_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  signal(SIGPIPE, SIG_IGN); /* see bridge.h */
  snprintf(g_dir, sizeof(g_dir), "/tmp/fuzz_bridge.XXXXXX");
  CHECK(mkdtemp(g_dir) != NULL, "mkdtemp");
  atexit(cleanup);
  g_debug = getenv("FUZZ_BRIDGE_DEBUG") != NULL;
  g_null = fopen("/dev/null", "w");
  CHECK(g_null != NULL, "/dev/null");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  rd r = {data + 1, data + size};
  fz *f = &g_fz;
  setup(f, data[0]);
  run(f, &r);
  teardown(f);
  return 0;
}
