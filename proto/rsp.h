/* rsp.h - the GDB remote serial protocol wire format.
 *
 * Freestanding: no allocation, no stdio, no syscalls.  Everything works on
 * caller-supplied buffers.  References are to the GDB manual, appendix
 * "Remote Serial Protocol" (sections "Overview", "Packets", "Stop Reply
 * Packets", "General Query Packets", "Notification Packets", "Binary Data").
 *
 * Conventions: functions return int, zero or a count on success and a
 * negative rsp_err code on failure.  Output functions take an explicit
 * capacity and return RSP_ENOBUFS rather than truncate.
 */
#ifndef RSP_H
#define RSP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Errors: one X-macro list, names and descriptions from the same place.
 */
#define RSP_ERRNO_MAP(XX)                                         \
  XX(NOBUFS, 1, "output buffer too small")                        \
  XX(OVERFLOW, 2, "packet body exceeds the buffer")               \
  XX(CHECKSUM, 3, "bad packet checksum")                          \
  XX(BADHEX, 4, "invalid hex digit")                              \
  XX(BADRLE, 5, "invalid run-length encoding")                    \
  XX(BADESCAPE, 6, "escape character at the end of a packet")     \
  XX(TRUNCATED, 7, "packet interrupted by a new start character") \
  XX(SYNTAX, 8, "malformed command")                              \
  XX(RANGE, 9, "number out of range")                             \
  XX(CALLBACK, 10, "a callback stopped the parser")               \
  XX(UNSUPPORTED, 11, "not supported")                            \
  XX(INVAL, 12, "invalid argument")

enum rsp_err {
  RSP_OK = 0,
#define RSP__ERR_ENUM(name, n, desc) RSP_E##name = -(n),
  RSP_ERRNO_MAP(RSP__ERR_ENUM)
#undef RSP__ERR_ENUM
};

/* "RSP_ECHECKSUM" style name and a one-line description; never NULL. */
const char *rsp_err_name(int err);
const char *rsp_strerror(int err);

/* ------------------------------------------------------------------------
 * Push parser, in the style of http-parser.
 *
 * Bytes may be split at any boundary.  Packet bodies ($...#xx) and
 * notification bodies (%...#xx) are delivered with '}' escapes undone and
 * '*' run-length encoding expanded, into the body buffer the caller gave to
 * rsp_parser_init().  The checksum is computed over the raw bytes between
 * the start character and '#', as the manual specifies.
 *
 * Outside a packet: '+' is an ack, '-' a nak, 0x03 an interrupt; any other
 * byte is garbage and ignored.  Inside a packet, 0x03, '+', '-' and '%' are
 * ordinary body bytes ('%' must be: GDB does not escape it in binary X
 * data).  A '$' inside a packet (even in the checksum) abandons the packet
 * (on_error with RSP_ETRUNCATED) and starts a new one.  A body that would
 * exceed the buffer is reported once, when detected (on_error with
 * RSP_EOVERFLOW), and the rest of it is skipped up to its '#xx'; the parser
 * never writes past the buffer and resynchronises at the next '$' or '%'.
 *
 * Escapes and run-length encoding ("Binary Data"): '}' X yields X ^ 0x20;
 * '}' directly before '#' is RSP_EBADESCAPE.  '*' C repeats the previous
 * decoded byte C - 29 times; C must be printable (' ' to '~', i.e. 3 to 97
 * repeats, the range gdbserver emits), else RSP_EBADRLE, as is a '*' with no
 * previous byte or directly before '#'.  A repeated byte may itself have
 * been escaped.  Every packet ends in exactly one of on_packet,
 * on_notification, on_bad_checksum or on_error (errors are reported as soon
 * as they are detected, and the rest of the packet up to '#xx' is skipped).
 * The two checksum characters are always consumed; with RSP_PARSER_NOVERIFY
 * they are not compared (nor required to be hex).  Hex digits may be
 * upper or lower case.
 *
 * A notification with a bad checksum goes to on_error with RSP_ECHECKSUM,
 * not to on_bad_checksum: notifications are never acknowledged ("Notification
 * Packets"), so there is nothing to answer.
 *
 * A callback returning non-zero stops execute() right after the byte that
 * triggered it; parser->err is RSP_ECALLBACK and the return value counts
 * that byte.  Errors are not sticky: the next execute() continues.  err is
 * cleared at the start of every execute().  Callbacks may change p->flags
 * (e.g. on the reply to QStartNoAckMode; it applies from the next packet's
 * checksum on) and may call rsp_parser_reset().
 */
typedef struct rsp_parser rsp_parser;
typedef int (*rsp_cb)(rsp_parser *p);
/* The body belongs to the parser; it is valid only during the callback. */
typedef int (*rsp_data_cb)(rsp_parser *p, const char *at, size_t len);

typedef struct {
  rsp_data_cb on_packet;       /* $body#xx with a good (or unverified) checksum */
  rsp_data_cb on_notification; /* %body#xx */
  rsp_cb on_ack;               /* '+' */
  rsp_cb on_nak;               /* '-' */
  rsp_cb on_interrupt;         /* 0x03 outside a packet */
  rsp_cb on_bad_checksum;      /* complete $ packet, checksum mismatch: answer '-' */
  rsp_cb on_error;             /* packet dropped; reason in p->err */
} rsp_parser_settings;

enum { RSP_PARSER_NOVERIFY = 1 }; /* skip checksum verification (no-ack mode) */

struct rsp_parser {
  /* Public. */
  void *data;     /* for the user */
  int err;        /* reason of the last on_error, or RSP_ECALLBACK */
  unsigned flags; /* RSP_PARSER_* */
  /* Private. */
  char *body;
  size_t cap;
  size_t len;
  unsigned state;
  uint8_t sum;
  uint8_t want;
  uint8_t notify;
  uint8_t overflow;
  uint8_t bad;
};

void rsp_parser_init(rsp_parser *p, char *body, size_t cap);
/* Forget any partial packet (e.g. after a reconnect). Keeps flags/data. */
void rsp_parser_reset(rsp_parser *p);
size_t rsp_parser_execute(rsp_parser *p, const rsp_parser_settings *s, const char *data,
                          size_t len);

/* ------------------------------------------------------------------------
 * Encoder.
 *
 * Builds a complete frame "$body#xx" (or "%body#xx") into out.  Bytes
 * '$', '#', '}' and '*' are escaped ('}' then byte ^ 0x20), so any binary
 * body is safe.  With RSP_ENC_RLE, runs are compressed with '*' and a count
 * character (count + 29), never producing '#' or '$' as the count.
 * Returns the frame length, or RSP_ENOBUFS (out is then unspecified).
 */
enum { RSP_ENC_RLE = 1, RSP_ENC_NOTIFY = 2 };

int rsp_encode(char *out, size_t cap, const void *body, size_t len, unsigned flags);
/* The worst-case frame size for a body of len bytes: 2 * len + 4. */
#define RSP_FRAME_MAX(len) (2 * (size_t)(len) + 4)
uint8_t rsp_checksum(const void *raw, size_t len);

/* ------------------------------------------------------------------------
 * Hex and numbers.
 */
/* Writes 2 * len lowercase hex digits (no terminator); returns 2 * len. */
int rsp_hex_encode(char *out, size_t cap, const void *in, size_t len);
/* Decodes len hex digits (len must be even) into len / 2 bytes. */
int rsp_hex_decode(void *out, size_t cap, const char *in, size_t len);
int rsp_hex_digit(int c); /* 0..15, or -1 */
/* Parses one or more hex digits at *p (not past end) into *v and advances
 * *p.  RSP_ESYNTAX if there is no digit, RSP_ERANGE past 64 bits. */
int rsp_parse_hex(const char **p, const char *end, uint64_t *v);
/* Writes v in minimal lowercase hex (no "0x"); returns the digit count. */
int rsp_format_hex(char *out, size_t cap, uint64_t v);

/* ------------------------------------------------------------------------
 * Commands (bodies as delivered by the parser, not NUL-terminated).
 * Every parse_* checks the full body and never reads past len.
 * Every format_* writes a body (not a frame) and returns its length.
 */

/* m ADDR,LEN */
int rsp_parse_m(const char *b, size_t len, uint64_t *addr, uint64_t *n);
int rsp_format_m(char *out, size_t cap, uint64_t addr, uint64_t n);
/* M ADDR,LEN:HEX -- data decoded into buf (capacity bufcap); *n is LEN. */
int rsp_parse_M(const char *b, size_t len, uint64_t *addr, uint64_t *n, void *buf, size_t bufcap);
int rsp_format_M(char *out, size_t cap, uint64_t addr, const void *data, size_t n);
/* X ADDR,LEN:BINARY -- *data points into b (escapes already undone). */
int rsp_parse_X(const char *b, size_t len, uint64_t *addr, uint64_t *n, const char **data);
int rsp_format_X(char *out, size_t cap, uint64_t addr, const void *data, size_t n);
/* p N */
int rsp_parse_p(const char *b, size_t len, uint64_t *regno);
int rsp_format_p(char *out, size_t cap, uint64_t regno);
/* P N=HEX -- value bytes decoded into buf; returns 0, *vlen set. */
int rsp_parse_P(const char *b, size_t len, uint64_t *regno, void *buf, size_t bufcap, size_t *vlen);
int rsp_format_P(char *out, size_t cap, uint64_t regno, const void *val, size_t vlen);

/* qRcmd,HEX -- the command text decoded into buf; returns its length. */
int rsp_parse_qrcmd(const char *b, size_t len, char *buf, size_t bufcap);
int rsp_format_qrcmd(char *out, size_t cap, const char *cmd, size_t cmdlen);
/* O HEX console output packet (stop-reply style). */
int rsp_format_O(char *out, size_t cap, const char *text, size_t textlen);

/* qSupported feature lists: "name+", "name-", "name?", "name=value",
 * separated by ';'.  Works on the part after "qSupported:" or on a reply. */
typedef struct {
  const char *name;
  size_t name_len;
  const char *value; /* for '=' */
  size_t value_len;
  char kind; /* '+', '-', '?' or '=' */
} rsp_feature;
typedef struct {
  const char *p, *end;
} rsp_feature_iter;
void rsp_features_begin(rsp_feature_iter *it, const char *list, size_t len);
/* 1 and *f filled, 0 at the end, RSP_ESYNTAX on a malformed item. */
int rsp_features_next(rsp_feature_iter *it, rsp_feature *f);
/* Finds a feature by name in a list; 1 found, 0 not, <0 malformed. */
int rsp_features_find(const char *list, size_t len, const char *name, rsp_feature *f);

/* qXfer:OBJECT:read:ANNEX:OFFSET,LENGTH */
typedef struct {
  const char *object;
  size_t object_len;
  const char *annex;
  size_t annex_len;
  uint64_t offset;
  uint64_t length;
} rsp_qxfer;
int rsp_parse_qxfer_read(const char *b, size_t len, rsp_qxfer *x);
int rsp_format_qxfer_read(char *out, size_t cap, const char *object, const char *annex,
                          uint64_t offset, uint64_t length);
/* Reply: 'm' or 'l' then binary data.  *more = 1 for 'm'. */
int rsp_parse_qxfer_reply(const char *b, size_t len, int *more, const char **data,
                          size_t *data_len);
int rsp_format_qxfer_reply(char *out, size_t cap, int more, const void *data, size_t n);

/* Thread ids: "TID", "pPID.TID", "pPID", with -1 meaning all and 0 any.
 * pid is 0 when the single-process form is used. */
typedef struct {
  int64_t pid;
  int64_t tid;
} rsp_tid;
/* Parses at *p, advancing it. */
int rsp_parse_tid(const char **p, const char *end, rsp_tid *t);
/* multiprocess != 0 selects the pPID.TID form. */
int rsp_format_tid(char *out, size_t cap, rsp_tid t, int multiprocess);

/* vCont;ACTION[:TID];... -- iterates the actions.  "vCont?" is not a
 * vCont action list; check for it before. */
typedef struct {
  char action; /* 'c', 'C', 's', 'S', 't', 'r' */
  uint8_t sig; /* C, S */
  uint64_t lo; /* r start */
  uint64_t hi; /* r end */
  int has_tid;
  rsp_tid tid;
} rsp_vcont_action;
typedef struct {
  const char *p, *end;
} rsp_vcont_iter;
/* RSP_ESYNTAX unless b starts with "vCont;". */
int rsp_vcont_begin(rsp_vcont_iter *it, const char *b, size_t len);
int rsp_vcont_next(rsp_vcont_iter *it, rsp_vcont_action *a);

/* Stop replies: S AA, T AA n1:r1;n2:r2;..., W AA[;process:PID],
 * X AA[;process:PID], O HEX. */
typedef struct {
  char kind;      /* 'S', 'T', 'W', 'X', 'O' */
  uint8_t sig;    /* S, T: signal; W: exit status; X: signal */
  int has_thread; /* T with a "thread:" pair */
  rsp_tid thread;
  int has_pid; /* W, X with ";process:PID" */
  int64_t pid;
  const char *pairs; /* T: the raw "n:r;..." text, for rsp_stop_next_pair */
  size_t pairs_len;
  const char *text; /* O: the hex text */
  size_t text_len;
} rsp_stop;
int rsp_parse_stop(const char *b, size_t len, rsp_stop *s);
typedef struct {
  const char *key;
  size_t key_len;
  const char *value;
  size_t value_len;
} rsp_pair;
/* Iterates T pairs: *pos starts at 0. 1 and *kv filled, 0 at end. */
int rsp_stop_next_pair(const rsp_stop *s, size_t *pos, rsp_pair *kv);
int rsp_format_stop_S(char *out, size_t cap, uint8_t sig);
/* T AA thread:TID; then the given pairs text verbatim (may be NULL). */
int rsp_format_stop_T(char *out, size_t cap, uint8_t sig, const rsp_tid *thread, int multiprocess,
                      const char *pairs, size_t pairs_len);
int rsp_format_stop_W(char *out, size_t cap, uint8_t status);
int rsp_format_stop_X(char *out, size_t cap, uint8_t sig);

/* Error replies: "Exx" (exactly two hex digits) and "E.message".
 * rsp_parse_error returns 1 if b is an error reply (fills *code, or
 * msg and msg_len for the E. form with *code = -1), 0 if it is not. */
int rsp_format_error(char *out, size_t cap, uint8_t code);
int rsp_format_error_msg(char *out, size_t cap, const char *msg, size_t msg_len);
int rsp_parse_error(const char *b, size_t len, int *code, const char **msg, size_t *msg_len);

/* Does body b start with the NUL-terminated prefix? */
int rsp_has_prefix(const char *b, size_t len, const char *prefix);

/* ------------------------------------------------------------------------
 * Packet classification (proto/classify.c): what a request or a reply is,
 * decided in one place for the bridge, its service and the stub.
 *
 * A request is classified by its name as the manual lists it ("Packets",
 * "General Query Packets", "Host I/O Packets"), not by full syntax: "c"
 * followed by garbage is still a resume, and the handler that parses it
 * refuses it.  Names of 'v' and 'q' packets end at ';', ':', ',' or the end
 * of the body, so "vRunX" is not vRun and "qC" is not "qCRC:".  Corner
 * cases: "vCont?" is a query, "vCont;..." a resume and a bare "vCont" (no
 * action) unknown; 'X' from a client is a memory write and 'T' a thread
 * alive check, never stop replies; 'W' and 'O' are replies only.
 */
#define RSP_REQ_MAP(XX)                                                             \
  XX(UNKNOWN, "unknown")          /* not a packet of the manual: answer "" */       \
  XX(RESUME, "resume")            /* c C s S i I vCont;... vRun vAttach, F reply */ \
  XX(INTERRUPT, "interrupt")      /* vCtrlC (0x03 is a byte, not a packet) */       \
  XX(STOP_QUERY, "stop query")    /* ? vStopped */                                  \
  XX(MEM_READ, "memory read")     /* m x */                                         \
  XX(MEM_WRITE, "memory write")   /* M X vFlashErase vFlashWrite vFlashDone */      \
  XX(REG_READ, "register read")   /* g p */                                         \
  XX(REG_WRITE, "register write") /* G P */                                         \
  XX(BREAKPOINT, "breakpoint")    /* Z z, and B (deprecated) */                     \
  XX(KILL, "kill")                /* k vKill */                                     \
  XX(DETACH, "detach")            /* D */                                           \
  XX(THREAD, "thread")            /* H (select) T (alive) */                        \
  XX(QUERY, "query")              /* q... vCont? vMustReplyEmpty */                 \
  XX(SET, "set")                  /* Q... ! A */                                    \
  XX(MONITOR, "monitor")          /* qRcmd,HEX */                                   \
  XX(FILE_IO, "file I/O")         /* vFile:... (Host I/O) */                        \
  XX(REVERSE, "reverse")          /* bc bs */                                       \
  XX(RESTART, "restart")          /* R (extended mode) r (deprecated reset) */

enum rsp_req_class {
#define RSP__REQ_ENUM(name, desc) RSP_REQ_##name,
  RSP_REQ_MAP(RSP__REQ_ENUM)
#undef RSP__REQ_ENUM
      RSP_REQ_COUNT
};

/* Flags, where the class alone does not say it. */
enum {
  /* The target runs before the reply, which comes when it stops: a stop
   * reply, a File-I/O request or console output first ("Stop Reply
   * Packets").  Resumes other than vAttach and vRun (whose stop reply
   * comes at once), and reverse steps. */
  RSP_REQF_RUNS = 1 << 0,
  /* The reply is a stop reply: resumes, reverse steps, ? and vStopped. */
  RSP_REQF_STOP_REPLY = 1 << 1,
  /* Writes target memory, registers or breakpoints. */
  RSP_REQF_WRITES = 1 << 2,
  /* Changes run state or attachment: resume, interrupt, kill, detach,
   * restart, reverse execution. */
  RSP_REQF_RUNCTL = 1 << 3,
  /* In all-stop mode, valid only while the CPU is stopped: it reads or
   * writes memory or registers, plants breakpoints, resumes or selects a
   * thread (also qCRC: and qSearch:memory:, which read memory). */
  RSP_REQF_STOPPED = 1 << 4,
  /* Changes a setting of the stub for the connection (Q..., !, A, H). */
  RSP_REQF_SETTING = 1 << 5,
  /* May get no reply at all (k; R and r never get one). */
  RSP_REQF_NO_REPLY = 1 << 6,
};
/* "Changes target state": what an observer may not send. */
#define RSP_REQF_CHANGES (RSP_REQF_WRITES | RSP_REQF_RUNCTL)

/* Classifies a client request body; *flags (if not NULL) gets RSP_REQF_*.
 * Returns an rsp_req_class; never reads past len. */
int rsp_classify_request(const char *b, size_t len, unsigned *flags);
/* "resume" style name of a class; "?" for a value out of range. */
const char *rsp_req_class_name(int cls);

/* Replies from the target.  Classified by their syntax alone: call it on
 * the reply to a request whose answer may be a stop reply or an OK/error;
 * the data answering m, g or qXfer is RSP_REPLY_OTHER (lowercase hex never
 * starts with a stop letter).  "OK" is not console output: that needs 'O'
 * and at least one pair of hex digits.  "T0;tnotrun:0" (a qTStatus answer)
 * is not a stop reply: the signal is exactly two hex digits. */
#define RSP_REPLY_MAP(XX)                                                      \
  XX(OTHER, "other")              /* data, or a malformed reply */             \
  XX(EMPTY, "empty")              /* "": not supported */                      \
  XX(OK, "OK")                    /* "OK" */                                   \
  XX(ERROR, "error")              /* "Exx" or "E.message" */                   \
  XX(CONSOLE, "console")          /* O HEX: output; the final reply follows */ \
  XX(STOP, "stop")                /* S T W X w N */                            \
  XX(FILE_IO, "file I/O request") /* F call-id[,parameter...] */

enum rsp_reply_class {
#define RSP__REPLY_ENUM(name, desc) RSP_REPLY_##name,
  RSP_REPLY_MAP(RSP__REPLY_ENUM)
#undef RSP__REPLY_ENUM
      RSP_REPLY_COUNT
};

enum {
  RSP_REPF_EXITED = 1 << 0,      /* W, X: the process is gone */
  RSP_REPF_THREAD_EXIT = 1 << 1, /* w AA;TID: one thread exited */
  RSP_REPF_NO_RESUMED = 1 << 2,  /* N: no thread left to resume */
};

/* Classifies a target reply body; *flags (if not NULL) gets RSP_REPF_*.
 * S, T, W and X are stop replies exactly when rsp_parse_stop accepts
 * them. */
int rsp_classify_reply(const char *b, size_t len, unsigned *flags);
const char *rsp_reply_class_name(int cls);

#ifdef __cplusplus
}
#endif
#endif /* RSP_H */
