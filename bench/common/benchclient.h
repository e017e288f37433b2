/* benchclient.h - what the QEMU benchmarks share: a GDB-like RSP client on
 * a blocking socket, the processes they start (killed by PID and reaped on
 * every exit path), and the loopback round-trip floor of this machine. */
#ifndef BENCH_CLIENT_H
#define BENCH_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rsp.h"

double bc_now(void);
/* Prints "NAME: msg" to stderr and exits 1 (atexit reaps the children). */
void bc_die(const char *name, const char *msg);

/* Process bookkeeping.  bc_init() installs the exit and signal handlers;
 * bc_track() records a child; bc_cleanup() ends them, newest first: SIGTERM
 * with a grace period for those marked gentle (the bridge), SIGKILL for the
 * rest. */
void bc_init(void);
void bc_track(pid_t pid, int gentle);
void bc_cleanup(void);

/* A program found in PATH (or a path that is executable). */
int bc_have(const char *prog);
/* Exit code for a missing prerequisite: 77 (skip), or 1 with RSP_NO_SKIP=1. */
int bc_skip_code(void);
/* The QEMU benchmarks' options: --bridge PATH (required), --qemu BIN
 * (default qemu-system-x86_64), --short.  Exits 2 with a usage line on
 * anything else, and with bc_skip_code() when QEMU is not there.  Returns
 * 1 for --short. */
int bc_options(int argc, char **argv, const char *name, const char **bridge, const char **qemu);
/* qsort comparison of doubles, ascending. */
int bc_cmp_double(const void *a, const void *b);
/* The median of v[0..n) (sorts v in place). */
double bc_median(double *v, int n);

int bc_free_port(void);
/* Connects to 127.0.0.1:port (TCP_NODELAY); retries for up to 10 s while
 * pid lives.  Returns the fd or -1. */
int bc_dial_wait(int port, pid_t pid);
/* An idle QEMU (-S, no devices) with its gdbstub on 127.0.0.1:port. */
pid_t bc_start_qemu(const char *qemu, int port);

/* `bridge --listen 127.0.0.1:0 --cache-size 0 [extra...] tcp:127.0.0.1:target_port`,
 * tracked: its pid; *port is the port it says it listens on (read from its
 * stderr, a pipe kept open until exit).  extra: NULL-terminated, or NULL. */
pid_t bc_start_bridge(const char *bridge, int target_port, const char *const *extra, int *port);

/* A byte-copying relay (no parsing; it polls without sleeping for 200 us
 * after traffic, like the bridge's default --busy-poll) between
 * one client and 127.0.0.1:target_port, in a child process: the least any
 * process in the middle costs.  Returns the port it listens on. */
int bc_start_relay(int target_port);

/* The loopback round trip of this machine right now: the median of n
 * one-byte ping-pongs between two processes over TCP, in microseconds. */
double bc_loopback_rtt_us(int n);

typedef struct {
  int fd;
  int noack;      /* no-ack mode negotiated */
  unsigned psize; /* the stub's PacketSize, 0 if it gave none */
  rsp_parser p;
  char body[0x21000];
  size_t got_len;
  int got;
  char rbuf[65536];
  size_t rlen, rpos;
} bc_client;

void bc_client_init(bc_client *c, int fd);
/* Sends body, returns the length of the reply (in c->body), acking it in
 * ack mode; console output ('O' packets) is a reply like any other. */
size_t bc_request(bc_client *c, const char *body);
/* The next packet from the stub (after console output). */
size_t bc_next(bc_client *c);
/* Like GDB: qSupported, PacketSize noted, no-ack mode when offered, '?'. */
void bc_handshake(bc_client *c);
/* The largest m GDB sends this stub: half its PacketSize (GDB 13 has no
 * cap of its own; older GDBs capped it at 16384), or 0x800 when it
 * gave none. */
size_t bc_max_read(const bc_client *c);
/* Reads len bytes at addr in m packets of at most chunk bytes, one at a
 * time like GDB; dies on an error or a short reply. */
void bc_read(bc_client *c, uint64_t addr, size_t len, size_t chunk);
/* The text a monitor command printed (qRcmd), NUL-terminated in out. */
void bc_monitor(bc_client *c, const char *cmd, char *out, size_t cap);

#endif
