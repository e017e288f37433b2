/* classify.c - what a request or a reply is, in one place.
 *
 * Requests follow the GDB manual's "Packets", "General Query Packets" and
 * "Host I/O Packets"; replies its "Standard Replies" and "Stop Reply
 * Packets".  Freestanding: no libc beyond what proto/ already uses.
 */
#include <stddef.h>
#include <stdint.h>

#include "rsp.h"

/* b starts with the packet name and the name ends there: at the end of the
 * body or at one of the separators in seps ("" for an exact match). */
static int name_is(const char *b, size_t len, const char *name, const char *seps) {
  size_t i;
  for (i = 0; name[i]; i++)
    if (i >= len || b[i] != name[i])
      return 0;
  if (i == len)
    return 1;
  for (; *seps; seps++)
    if (b[i] == *seps)
      return 1;
  return 0;
}

static int prefix_is(const char *b, size_t len, const char *prefix) {
  size_t i;
  for (i = 0; prefix[i]; i++)
    if (i >= len || b[i] != prefix[i])
      return 0;
  return 1;
}

/* What every resume shares: the target runs and the answer is the stop
 * reply that comes when it halts. */
#define RUN_FLAGS (RSP_REQF_RUNS | RSP_REQF_STOP_REPLY | RSP_REQF_RUNCTL | RSP_REQF_STOPPED)

/* 'v' packets: named in full, the name ending at ';' or ':'. */
static int classify_v(const char *b, size_t len, unsigned *fl) {
  if (prefix_is(b, len, "vCont;")) {
    *fl = RUN_FLAGS;
    return RSP_REQ_RESUME;
  }
  if (prefix_is(b, len, "vCont?"))
    return RSP_REQ_QUERY; /* the actions supported: asks, resumes nothing */
  if (name_is(b, len, "vAttach", ";") || name_is(b, len, "vRun", ";")) {
    /* Answered by a stop reply at once: the process is stopped. */
    *fl = RSP_REQF_STOP_REPLY | RSP_REQF_RUNCTL;
    return RSP_REQ_RESUME;
  }
  if (name_is(b, len, "vKill", ";")) {
    *fl = RSP_REQF_RUNCTL;
    return RSP_REQ_KILL;
  }
  if (name_is(b, len, "vCtrlC", "")) {
    *fl = RSP_REQF_RUNCTL;
    return RSP_REQ_INTERRUPT;
  }
  if (name_is(b, len, "vStopped", "")) {
    *fl = RSP_REQF_STOP_REPLY;
    return RSP_REQ_STOP_QUERY;
  }
  if (prefix_is(b, len, "vFile:"))
    return RSP_REQ_FILE_IO;
  if (name_is(b, len, "vFlashErase", ":") || name_is(b, len, "vFlashWrite", ":") ||
      name_is(b, len, "vFlashDone", "")) {
    *fl = RSP_REQF_WRITES | RSP_REQF_STOPPED;
    return RSP_REQ_MEM_WRITE;
  }
  if (name_is(b, len, "vMustReplyEmpty", ""))
    return RSP_REQ_QUERY; /* a probe: the answer must be "" */
  return RSP_REQ_UNKNOWN;
}

static int classify_q(const char *b, size_t len, unsigned *fl) {
  if (prefix_is(b, len, "qRcmd,"))
    return RSP_REQ_MONITOR;
  /* "qC" is the current thread; "qCRC:" reads memory, as does
   * "qSearch:memory:". */
  if (name_is(b, len, "qCRC", ":") || prefix_is(b, len, "qSearch:memory:"))
    *fl = RSP_REQF_STOPPED;
  return RSP_REQ_QUERY;
}

int rsp_classify_request(const char *b, size_t len, unsigned *flags) {
  unsigned fl = 0;
  int cls = RSP_REQ_UNKNOWN;
  if (len) {
    switch (b[0]) {
    case 'c': /* c [ADDR] */
    case 'C': /* C SIG[;ADDR] */
    case 's':
    case 'S':
    case 'i': /* cycle steps */
    case 'I':
    case 'F': /* F RC,EE,CF;XX: the client's answer to a File-I/O request;
               * the target carries on ("File-I/O Remote Protocol Extension") */
      cls = RSP_REQ_RESUME;
      fl = RUN_FLAGS;
      break;
    case 'v':
      cls = classify_v(b, len, &fl);
      break;
    case '?':
      if (len == 1) {
        cls = RSP_REQ_STOP_QUERY;
        fl = RSP_REQF_STOP_REPLY;
      }
      break;
    case 'm':
    case 'x': /* binary read (GDB 16, LLDB) */
      cls = RSP_REQ_MEM_READ;
      fl = RSP_REQF_STOPPED;
      break;
    case 'M':
    case 'X': /* from a client a binary write; 'X AA' is a reply only */
      cls = RSP_REQ_MEM_WRITE;
      fl = RSP_REQF_WRITES | RSP_REQF_STOPPED;
      break;
    case 'g':
    case 'p':
      cls = RSP_REQ_REG_READ;
      fl = RSP_REQF_STOPPED;
      break;
    case 'G':
    case 'P':
      cls = RSP_REQ_REG_WRITE;
      fl = RSP_REQF_WRITES | RSP_REQF_STOPPED;
      break;
    case 'Z':
    case 'z':
    case 'B': /* deprecated "B ADDR,MODE" */
      cls = RSP_REQ_BREAKPOINT;
      fl = RSP_REQF_WRITES | RSP_REQF_STOPPED;
      break;
    case 'k':
      /* "the exact effect is not specified": a stub may close at once. */
      cls = RSP_REQ_KILL;
      fl = RSP_REQF_RUNCTL | RSP_REQF_NO_REPLY;
      break;
    case 'D': /* D, D;PID */
      cls = RSP_REQ_DETACH;
      fl = RSP_REQF_RUNCTL;
      break;
    case 'H': /* H OP TID selects a thread for later operations */
      cls = RSP_REQ_THREAD;
      fl = RSP_REQF_SETTING | RSP_REQF_STOPPED;
      break;
    case 'T': /* T TID: is the thread alive (a request, not a stop reply) */
      cls = RSP_REQ_THREAD;
      fl = RSP_REQF_STOPPED;
      break;
    case 'q':
      cls = classify_q(b, len, &fl);
      break;
    case 't': /* t ADDR:PP,MM searches memory backwards */
      cls = RSP_REQ_QUERY;
      fl = RSP_REQF_STOPPED;
      break;
    case 'Q':
    case '!': /* extended mode */
    case 'A': /* argv of the next run */
    case 'd': /* deprecated debug toggle */
      cls = RSP_REQ_SET;
      fl = RSP_REQF_SETTING;
      break;
    case 'b':
      /* "bc", "bs"; "b BAUD" is deprecated and not classified. */
      if (len == 2 && (b[1] == 'c' || b[1] == 's')) {
        cls = RSP_REQ_REVERSE;
        fl = RUN_FLAGS;
      }
      break;
    case 'R': /* R XX restarts (extended mode); r resets: no reply */
    case 'r':
      cls = RSP_REQ_RESTART;
      fl = RSP_REQF_RUNCTL | RSP_REQF_NO_REPLY;
      break;
    default:
      break;
    }
  }
  if (flags)
    *flags = fl;
  return cls;
}

const char *rsp_req_class_name(int cls) {
  switch (cls) {
#define RSP__REQ_NAME(name, desc) \
  case RSP_REQ_##name:            \
    return desc;
    RSP_REQ_MAP(RSP__REQ_NAME)
#undef RSP__REQ_NAME
  default:
    return "?";
  }
}

/* "w AA;TID" ("Stop Reply Packets"). */
static int is_thread_exit(const char *b, size_t len) {
  const char *p, *end = b + len;
  rsp_tid t;
  if (len < 5 || rsp_hex_digit((uint8_t)b[1]) < 0 || rsp_hex_digit((uint8_t)b[2]) < 0 ||
      b[3] != ';')
    return 0;
  p = b + 4;
  return rsp_parse_tid(&p, end, &t) == 0 && p == end;
}

/* "F CALL-ID[,PARAMETER...]": call ids are lowercase names (open, write,
 * gettimeofday, ...), which no hex data reply starts with after 'F'. */
static int is_fileio_request(const char *b, size_t len) {
  size_t i = 1;
  while (i < len && b[i] >= 'a' && b[i] <= 'z')
    i++;
  return i > 1 && (i == len || b[i] == ',');
}

int rsp_classify_reply(const char *b, size_t len, unsigned *flags) {
  unsigned fl = 0;
  int cls = RSP_REPLY_OTHER;
  int code;
  const char *msg;
  size_t msg_len;
  rsp_stop st;
  if (len == 0) {
    cls = RSP_REPLY_EMPTY;
  } else {
    switch (b[0]) {
    case 'O':
      if (len == 2 && b[1] == 'K') {
        cls = RSP_REPLY_OK;
      } else if (len >= 3 && len % 2 == 1) {
        /* At least one byte of text: a bare "O" is nothing. */
        size_t i;
        for (i = 1; i < len && rsp_hex_digit((uint8_t)b[i]) >= 0; i++)
          ;
        if (i == len)
          cls = RSP_REPLY_CONSOLE;
      }
      break;
    case 'E':
      if (rsp_parse_error(b, len, &code, &msg, &msg_len) == 1)
        cls = RSP_REPLY_ERROR;
      break;
    case 'S':
    case 'T':
    case 'W':
    case 'X':
      if (rsp_parse_stop(b, len, &st) == 0) {
        cls = RSP_REPLY_STOP;
        if (b[0] == 'W' || b[0] == 'X')
          fl = RSP_REPF_EXITED;
      }
      break;
    case 'w':
      if (is_thread_exit(b, len)) {
        cls = RSP_REPLY_STOP;
        fl = RSP_REPF_THREAD_EXIT;
      }
      break;
    case 'N':
      if (len == 1) {
        cls = RSP_REPLY_STOP;
        fl = RSP_REPF_NO_RESUMED;
      }
      break;
    case 'F':
      if (is_fileio_request(b, len))
        cls = RSP_REPLY_FILE_IO;
      break;
    default:
      break;
    }
  }
  if (flags)
    *flags = fl;
  return cls;
}

const char *rsp_reply_class_name(int cls) {
  switch (cls) {
#define RSP__REPLY_NAME(name, desc) \
  case RSP_REPLY_##name:            \
    return desc;
    RSP_REPLY_MAP(RSP__REPLY_NAME)
#undef RSP__REPLY_NAME
  default:
    return "?";
  }
}
