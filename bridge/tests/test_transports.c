/* test_transports.c - the other ends: Unix sockets on both sides, a
 * serial line (a pseudo-terminal) to the target, and --trace. */
#define _XOPEN_SOURCE 700
#include "fixture.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>

static int unix_listen(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
  unlink(path);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  assert_int_equal(listen(fd, 4), 0);
  return fd;
}

static int unix_connect(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void round_trip(peer *c, peer *t) {
  pass_pkt(c, t, "qSupported:multiprocess+");
  peer_send(t, QEMU_FEATURES);
  expect_prefix(c, "qXfer:features:read+");
  pass_pkt(c, t, "m1000,4");
  pass_pkt(t, c, "0badf00d");
}

static void t_unix_both_sides(void **state) {
  (void)state;
  char lpath[64], tpath[64];
  snprintf(lpath, sizeof(lpath), "/tmp/rspbr-l-%d.sock", (int)getpid());
  snprintf(tpath, sizeof(tpath), "/tmp/rspbr-t-%d.sock", (int)getpid());
  int lfd = unix_listen(tpath);
  br_config cfg;
  harness_config(&cfg, 1);
  char a[80];
  snprintf(a, sizeof(a), "unix:%s", lpath);
  unlink(lpath);
  assert_int_equal(br_addr_parse(&cfg.listen, a, 0, NULL), 0);
  snprintf(a, sizeof(a), "unix:%s", tpath);
  assert_int_equal(br_addr_parse(&cfg.target, a, 1, NULL), 0);
  harness h;
  harness_start(&h, &cfg);
  peer *c = peer_new(unix_connect(lpath));
  peer *t = peer_new(tcp_accept_timeout(lfd, WAIT));
  round_trip(c, t);
  peer_free(c);
  peer_free(t);
  harness_stop(&h);
  harness_free(&h);
  close(lfd);
  unlink(lpath);
  unlink(tpath);
}

static void t_serial_target(void **state) {
  (void)state;
  int m = posix_openpt(O_RDWR | O_NOCTTY);
  assert_true(m >= 0);
  assert_int_equal(grantpt(m), 0);
  assert_int_equal(unlockpt(m), 0);
  char a[128];
  snprintf(a, sizeof(a), "serial:%s,115200", ptsname(m));
  int lfd, port;
  lfd = tcp_listen_any(&port);
  close(lfd);
  br_config cfg;
  harness_config(&cfg, port);
  assert_int_equal(br_addr_parse(&cfg.target, a, 1, NULL), 0);
  assert_int_equal(cfg.target.baud, 115200);
  harness h;
  harness_start(&h, &cfg);
  peer *c = peer_new(tcp_connect_port(h.port));
  peer *t = peer_new(m);
  round_trip(c, t);
  peer_free(c);
  peer_free(t);
  harness_stop(&h);
  harness_free(&h);
}

static char *trace_buf;
static size_t trace_len;

static void with_trace(br_config *c) {
  c->trace = open_memstream(&trace_buf, &trace_len);
}

static void t_trace_file(void **state) {
  (void)state;
  fx f;
  fx_up(&f, with_trace);
  FILE *tr = br_get_config(f.h.br)->trace;
  round_trip(f.c, f.t);
  peer_raw(f.c, "\003", 1);
  assert_int_equal(peer_next_noack(f.t, WAIT, NULL, NULL), EV_INTR);
  fx_down(&f);
  fclose(tr);
  /* Every packet, with a timestamp and its direction. */
  const char *want[] = {" c>b $qSupported:multiprocess+\n",
                        " b>t $qSupported:multiprocess+\n",
                        " t>b $PacketSize=1000;",
                        " b>c $qXfer:features:read+;",
                        " c>b $m1000,4\n",
                        " t>b $0badf00d\n",
                        " b>c $0badf00d\n",
                        " c>b ^C\n",
                        " b>t ^C\n"};
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
    if (!strstr(trace_buf, want[i]))
      fail_msg("trace lacks '%s':\n%s", want[i], trace_buf);
  long long sec;
  long usec;
  char dir[8];
  assert_int_equal(sscanf(trace_buf, "%lld.%ld %7s", &sec, &usec, dir), 3);
  assert_true(sec > 1600000000);
  free(trace_buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(t_unix_both_sides),
      cmocka_unit_test(t_serial_target),
      cmocka_unit_test(t_trace_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
