/* cmd.c - parse and format the command bodies the bridge and stub use.
 *
 * GDB manual, "Packets", "Stop Reply Packets", "General Query Packets".
 * Parsers check the whole body and never read past len; formatters write a
 * body (the encoder adds framing and escapes) and never past cap.
 */
#include "rsp.h"

#include <string.h>

/* ------------------------------------------------------------------------
 * A bounded writer: appends until the first failure, then stays failed.
 */
typedef struct {
  char *out;
  size_t cap;
  size_t len;
  int err;
} wr;

static void wr_init(wr *w, char *out, size_t cap) {
  w->out = out;
  w->cap = cap;
  w->len = 0;
  w->err = 0;
}

static void wr_mem(wr *w, const void *d, size_t n) {
  if (w->err)
    return;
  if (n > w->cap - w->len) {
    w->err = RSP_ENOBUFS;
    return;
  }
  if (n)
    memcpy(w->out + w->len, d, n);
  w->len += n;
}

static void wr_str(wr *w, const char *s) {
  wr_mem(w, s, strlen(s));
}

static void wr_ch(wr *w, char c) {
  wr_mem(w, &c, 1);
}

static void wr_hexnum(wr *w, uint64_t v) {
  char tmp[16];
  int n = rsp_format_hex(tmp, sizeof(tmp), v);
  wr_mem(w, tmp, (size_t)n);
}

static void wr_byte(wr *w, uint8_t v) {
  static const char hexdig[] = "0123456789abcdef";
  char tmp[2] = {hexdig[v >> 4], hexdig[v & 0xf]};
  wr_mem(w, tmp, 2);
}

static void wr_hexdata(wr *w, const void *d, size_t n) {
  if (w->err)
    return;
  if (n > (w->cap - w->len) / 2) {
    w->err = RSP_ENOBUFS;
    return;
  }
  rsp_hex_encode(w->out + w->len, w->cap - w->len, d, n);
  w->len += 2 * n;
}

static int wr_done(const wr *w) {
  if (w->err)
    return w->err;
  if (w->len > 0x7fffffff)
    return RSP_ENOBUFS;
  return (int)w->len;
}

/* ------------------------------------------------------------------------
 * Small parsing helpers over [p, end).
 */
static int eat(const char **p, const char *end, char c) {
  if (*p < end && **p == c) {
    (*p)++;
    return 1;
  }
  return 0;
}

static int eat_str(const char **p, const char *end, const char *s) {
  size_t n = strlen(s);
  if ((size_t)(end - *p) < n || memcmp(*p, s, n) != 0)
    return 0;
  *p += n;
  return 1;
}

/* Exactly two hex digits. */
static int parse_byte(const char **p, const char *end, uint8_t *v) {
  if (end - *p < 2)
    return RSP_ESYNTAX;
  int hi = rsp_hex_digit((uint8_t)(*p)[0]);
  int lo = rsp_hex_digit((uint8_t)(*p)[1]);
  if (hi < 0 || lo < 0)
    return RSP_ESYNTAX;
  *v = (uint8_t)(hi << 4 | lo);
  *p += 2;
  return 0;
}

int rsp_has_prefix(const char *b, size_t len, const char *prefix) {
  size_t n = strlen(prefix);
  return len >= n && memcmp(b, prefix, n) == 0;
}

/* "ADDR,LEN" */
static int parse_addr_len(const char **p, const char *end, uint64_t *addr, uint64_t *n) {
  int rc = rsp_parse_hex(p, end, addr);
  if (rc)
    return rc;
  if (!eat(p, end, ','))
    return RSP_ESYNTAX;
  return rsp_parse_hex(p, end, n);
}

/* ------------------------------------------------------------------------
 * m, M, X
 */
int rsp_parse_m(const char *b, size_t len, uint64_t *addr, uint64_t *n) {
  const char *p = b, *end = b + len;
  if (!eat(&p, end, 'm'))
    return RSP_ESYNTAX;
  int rc = parse_addr_len(&p, end, addr, n);
  if (rc)
    return rc;
  return p == end ? 0 : RSP_ESYNTAX;
}

int rsp_format_m(char *out, size_t cap, uint64_t addr, uint64_t n) {
  wr w;
  wr_init(&w, out, cap);
  wr_ch(&w, 'm');
  wr_hexnum(&w, addr);
  wr_ch(&w, ',');
  wr_hexnum(&w, n);
  return wr_done(&w);
}

int rsp_parse_M(const char *b, size_t len, uint64_t *addr, uint64_t *n, void *buf, size_t bufcap) {
  const char *p = b, *end = b + len;
  if (!eat(&p, end, 'M'))
    return RSP_ESYNTAX;
  int rc = parse_addr_len(&p, end, addr, n);
  if (rc)
    return rc;
  if (!eat(&p, end, ':'))
    return RSP_ESYNTAX;
  size_t hexlen = (size_t)(end - p);
  if (hexlen % 2 || hexlen / 2 != *n)
    return RSP_ESYNTAX;
  if (bufcap < hexlen / 2)
    return RSP_ENOBUFS;
  rc = rsp_hex_decode(buf, bufcap, p, hexlen);
  return rc < 0 ? rc : 0;
}

int rsp_format_M(char *out, size_t cap, uint64_t addr, const void *data, size_t n) {
  wr w;
  wr_init(&w, out, cap);
  wr_ch(&w, 'M');
  wr_hexnum(&w, addr);
  wr_ch(&w, ',');
  wr_hexnum(&w, n);
  wr_ch(&w, ':');
  wr_hexdata(&w, data, n);
  return wr_done(&w);
}

int rsp_parse_X(const char *b, size_t len, uint64_t *addr, uint64_t *n, const char **data) {
  const char *p = b, *end = b + len;
  if (!eat(&p, end, 'X'))
    return RSP_ESYNTAX;
  int rc = parse_addr_len(&p, end, addr, n);
  if (rc)
    return rc;
  if (!eat(&p, end, ':'))
    return RSP_ESYNTAX;
  /* The parser already undid escapes, so the data is exactly LEN bytes. */
  if ((uint64_t)(end - p) != *n)
    return RSP_ESYNTAX;
  *data = p;
  return 0;
}

int rsp_format_X(char *out, size_t cap, uint64_t addr, const void *data, size_t n) {
  wr w;
  wr_init(&w, out, cap);
  wr_ch(&w, 'X');
  wr_hexnum(&w, addr);
  wr_ch(&w, ',');
  wr_hexnum(&w, n);
  wr_ch(&w, ':');
  wr_mem(&w, data, n);
  return wr_done(&w);
}

/* ------------------------------------------------------------------------
 * p, P
 */
int rsp_parse_p(const char *b, size_t len, uint64_t *regno) {
  const char *p = b, *end = b + len;
  if (!eat(&p, end, 'p'))
    return RSP_ESYNTAX;
  int rc = rsp_parse_hex(&p, end, regno);
  if (rc)
    return rc;
  return p == end ? 0 : RSP_ESYNTAX;
}

int rsp_format_p(char *out, size_t cap, uint64_t regno) {
  wr w;
  wr_init(&w, out, cap);
  wr_ch(&w, 'p');
  wr_hexnum(&w, regno);
  return wr_done(&w);
}

int rsp_parse_P(const char *b, size_t len, uint64_t *regno, void *buf, size_t bufcap,
                size_t *vlen) {
  const char *p = b, *end = b + len;
  if (!eat(&p, end, 'P'))
    return RSP_ESYNTAX;
  int rc = rsp_parse_hex(&p, end, regno);
  if (rc)
    return rc;
  if (!eat(&p, end, '='))
    return RSP_ESYNTAX;
  rc = rsp_hex_decode(buf, bufcap, p, (size_t)(end - p));
  if (rc < 0)
    return rc;
  *vlen = (size_t)rc;
  return 0;
}

int rsp_format_P(char *out, size_t cap, uint64_t regno, const void *val, size_t vlen) {
  wr w;
  wr_init(&w, out, cap);
  wr_ch(&w, 'P');
  wr_hexnum(&w, regno);
  wr_ch(&w, '=');
  wr_hexdata(&w, val, vlen);
  return wr_done(&w);
}

/* ------------------------------------------------------------------------
 * qRcmd, O
 */
int rsp_parse_qrcmd(const char *b, size_t len, char *buf, size_t bufcap) {
  if (!rsp_has_prefix(b, len, "qRcmd,"))
    return RSP_ESYNTAX;
  return rsp_hex_decode(buf, bufcap, b + 6, len - 6);
}

int rsp_format_qrcmd(char *out, size_t cap, const char *cmd, size_t cmdlen) {
  wr w;
  wr_init(&w, out, cap);
  wr_str(&w, "qRcmd,");
  wr_hexdata(&w, cmd, cmdlen);
  return wr_done(&w);
}

int rsp_format_O(char *out, size_t cap, const char *text, size_t textlen) {
  wr w;
  wr_init(&w, out, cap);
  wr_ch(&w, 'O');
  wr_hexdata(&w, text, textlen);
  return wr_done(&w);
}

/* ------------------------------------------------------------------------
 * qSupported feature lists ("General Query Packets", qSupported).
 */
void rsp_features_begin(rsp_feature_iter *it, const char *list, size_t len) {
  it->p = list;
  it->end = list + len;
}

int rsp_features_next(rsp_feature_iter *it, rsp_feature *f) {
  if (it->p >= it->end)
    return 0;
  const char *s = it->p;
  const char *e = memchr(s, ';', (size_t)(it->end - s));
  if (!e)
    e = it->end;
  /* Consume the item even if it is malformed, so iteration terminates. */
  it->p = e < it->end ? e + 1 : e;
  if (e == s)
    return RSP_ESYNTAX;
  const char *eq = memchr(s, '=', (size_t)(e - s));
  memset(f, 0, sizeof(*f));
  if (eq) {
    if (eq == s)
      return RSP_ESYNTAX;
    f->name = s;
    f->name_len = (size_t)(eq - s);
    f->value = eq + 1;
    f->value_len = (size_t)(e - eq - 1);
    f->kind = '=';
    return 1;
  }
  char k = e[-1];
  if ((k != '+' && k != '-' && k != '?') || e - s < 2)
    return RSP_ESYNTAX;
  f->name = s;
  f->name_len = (size_t)(e - s - 1);
  f->kind = k;
  return 1;
}

int rsp_features_find(const char *list, size_t len, const char *name, rsp_feature *f) {
  rsp_feature_iter it;
  rsp_feature tmp;
  size_t n = strlen(name);
  int rc;
  rsp_features_begin(&it, list, len);
  while ((rc = rsp_features_next(&it, &tmp)) == 1) {
    if (tmp.name_len == n && memcmp(tmp.name, name, n) == 0) {
      if (f)
        *f = tmp;
      return 1;
    }
  }
  return rc;
}

/* ------------------------------------------------------------------------
 * qXfer ("General Query Packets", qXfer:object:read:annex:offset,length).
 */
int rsp_parse_qxfer_read(const char *b, size_t len, rsp_qxfer *x) {
  const char *p = b, *end = b + len;
  if (!eat_str(&p, end, "qXfer:"))
    return RSP_ESYNTAX;
  const char *obj = p;
  const char *colon = memchr(p, ':', (size_t)(end - p));
  if (!colon || colon == obj)
    return RSP_ESYNTAX;
  p = colon + 1;
  if (!eat_str(&p, end, "read:"))
    return RSP_ESYNTAX;
  /* The annex runs to the last ':' (it may itself be empty). */
  const char *last = NULL;
  for (const char *q = p; q < end; q++)
    if (*q == ':')
      last = q;
  if (!last)
    return RSP_ESYNTAX;
  x->object = obj;
  x->object_len = (size_t)(colon - obj);
  x->annex = p;
  x->annex_len = (size_t)(last - p);
  p = last + 1;
  int rc = parse_addr_len(&p, end, &x->offset, &x->length);
  if (rc)
    return rc;
  return p == end ? 0 : RSP_ESYNTAX;
}

int rsp_format_qxfer_read(char *out, size_t cap, const char *object, const char *annex,
                          uint64_t offset, uint64_t length) {
  wr w;
  if (!object || !*object || strchr(object, ':') || (annex && strchr(annex, ':')))
    return RSP_EINVAL;
  wr_init(&w, out, cap);
  wr_str(&w, "qXfer:");
  wr_str(&w, object);
  wr_str(&w, ":read:");
  if (annex)
    wr_str(&w, annex);
  wr_ch(&w, ':');
  wr_hexnum(&w, offset);
  wr_ch(&w, ',');
  wr_hexnum(&w, length);
  return wr_done(&w);
}

int rsp_parse_qxfer_reply(const char *b, size_t len, int *more, const char **data,
                          size_t *data_len) {
  if (len < 1 || (b[0] != 'm' && b[0] != 'l'))
    return RSP_ESYNTAX;
  *more = b[0] == 'm';
  *data = b + 1;
  *data_len = len - 1;
  return 0;
}

int rsp_format_qxfer_reply(char *out, size_t cap, int more, const void *data, size_t n) {
  wr w;
  wr_init(&w, out, cap);
  wr_ch(&w, more ? 'm' : 'l');
  wr_mem(&w, data, n);
  return wr_done(&w);
}

/* ------------------------------------------------------------------------
 * Thread ids ("Packets", thread-id syntax).
 */
static int parse_id(const char **p, const char *end, int64_t *v) {
  if (eat_str(p, end, "-1")) {
    *v = -1;
    return 0;
  }
  uint64_t u;
  int rc = rsp_parse_hex(p, end, &u);
  if (rc)
    return rc;
  if (u > (uint64_t)INT64_MAX)
    return RSP_ERANGE;
  *v = (int64_t)u;
  return 0;
}

int rsp_parse_tid(const char **p, const char *end, rsp_tid *t) {
  const char *s = *p;
  rsp_tid r = {0, 0};
  int rc;
  if (eat(&s, end, 'p')) {
    rc = parse_id(&s, end, &r.pid);
    if (rc)
      return rc;
    if (eat(&s, end, '.')) {
      rc = parse_id(&s, end, &r.tid);
      if (rc)
        return rc;
    } else {
      /* "pPID" alone means every thread of the process. */
      r.tid = -1;
    }
  } else {
    rc = parse_id(&s, end, &r.tid);
    if (rc)
      return rc;
  }
  *t = r;
  *p = s;
  return 0;
}

static void wr_id(wr *w, int64_t v) {
  if (v < 0)
    wr_str(w, "-1");
  else
    wr_hexnum(w, (uint64_t)v);
}

int rsp_format_tid(char *out, size_t cap, rsp_tid t, int multiprocess) {
  wr w;
  wr_init(&w, out, cap);
  if (multiprocess) {
    wr_ch(&w, 'p');
    wr_id(&w, t.pid);
    wr_ch(&w, '.');
  }
  wr_id(&w, t.tid);
  return wr_done(&w);
}

/* ------------------------------------------------------------------------
 * vCont ("Packets", vCont[;action[:thread-id]]...).
 */
int rsp_vcont_begin(rsp_vcont_iter *it, const char *b, size_t len) {
  if (!rsp_has_prefix(b, len, "vCont;"))
    return RSP_ESYNTAX;
  it->p = b + 5; /* at the ';' before the first action */
  it->end = b + len;
  return 0;
}

int rsp_vcont_next(rsp_vcont_iter *it, rsp_vcont_action *a) {
  const char *p = it->p, *end = it->end;
  int rc;
  if (p >= end)
    return 0;
  if (!eat(&p, end, ';') || p >= end)
    goto bad;
  memset(a, 0, sizeof(*a));
  a->action = *p++;
  switch (a->action) {
  case 'c':
  case 's':
  case 't':
    break;
  case 'C':
  case 'S':
    if (parse_byte(&p, end, &a->sig))
      goto bad;
    break;
  case 'r':
    if (parse_addr_len(&p, end, &a->lo, &a->hi))
      goto bad;
    break;
  default:
    goto bad;
  }
  if (eat(&p, end, ':')) {
    rc = rsp_parse_tid(&p, end, &a->tid);
    if (rc)
      goto bad;
    a->has_tid = 1;
  }
  if (p < end && *p != ';')
    goto bad;
  it->p = p;
  return 1;
bad:
  it->p = end; /* stop iterating after an error */
  return RSP_ESYNTAX;
}

/* ------------------------------------------------------------------------
 * Stop replies ("Stop Reply Packets").
 */
int rsp_stop_next_pair(const rsp_stop *s, size_t *pos, rsp_pair *kv) {
  if (!s->pairs || *pos >= s->pairs_len)
    return 0;
  const char *p = s->pairs + *pos, *end = s->pairs + s->pairs_len;
  const char *semi = memchr(p, ';', (size_t)(end - p));
  const char *e = semi ? semi : end;
  const char *colon = memchr(p, ':', (size_t)(e - p));
  if (!colon || colon == p)
    return RSP_ESYNTAX;
  kv->key = p;
  kv->key_len = (size_t)(colon - p);
  kv->value = colon + 1;
  kv->value_len = (size_t)(e - colon - 1);
  *pos = (size_t)((semi ? semi + 1 : end) - s->pairs);
  return 1;
}

/* ";process:PID" after W or X. */
static int parse_process(const char **p, const char *end, rsp_stop *s) {
  if (*p == end)
    return 0;
  if (!eat_str(p, end, ";process:"))
    return RSP_ESYNTAX;
  uint64_t pid;
  int rc = rsp_parse_hex(p, end, &pid);
  if (rc)
    return rc;
  if (pid > (uint64_t)INT64_MAX)
    return RSP_ERANGE;
  s->has_pid = 1;
  s->pid = (int64_t)pid;
  return *p == end ? 0 : RSP_ESYNTAX;
}

int rsp_parse_stop(const char *b, size_t len, rsp_stop *s) {
  const char *p = b, *end = b + len;
  int rc;
  memset(s, 0, sizeof(*s));
  if (len < 1)
    return RSP_ESYNTAX;
  s->kind = *p++;
  switch (s->kind) {
  case 'S':
    if (parse_byte(&p, end, &s->sig))
      return RSP_ESYNTAX;
    return p == end ? 0 : RSP_ESYNTAX;
  case 'W':
  case 'X':
    if (parse_byte(&p, end, &s->sig))
      return RSP_ESYNTAX;
    return parse_process(&p, end, s);
  case 'O':
    if ((end - p) % 2)
      return RSP_ESYNTAX;
    for (const char *q = p; q < end; q++)
      if (rsp_hex_digit((uint8_t)*q) < 0)
        return RSP_EBADHEX;
    s->text = p;
    s->text_len = (size_t)(end - p);
    return 0;
  case 'T': {
    if (parse_byte(&p, end, &s->sig))
      return RSP_ESYNTAX;
    s->pairs = p;
    s->pairs_len = (size_t)(end - p);
    size_t pos = 0;
    rsp_pair kv;
    while ((rc = rsp_stop_next_pair(s, &pos, &kv)) == 1) {
      if (kv.key_len == 6 && memcmp(kv.key, "thread", 6) == 0) {
        const char *q = kv.value, *qe = kv.value + kv.value_len;
        rc = rsp_parse_tid(&q, qe, &s->thread);
        if (rc)
          return rc;
        if (q != qe)
          return RSP_ESYNTAX;
        s->has_thread = 1;
      }
    }
    return rc;
  }
  default:
    return RSP_ESYNTAX;
  }
}

int rsp_format_stop_S(char *out, size_t cap, uint8_t sig) {
  wr w;
  wr_init(&w, out, cap);
  wr_ch(&w, 'S');
  wr_byte(&w, sig);
  return wr_done(&w);
}

int rsp_format_stop_T(char *out, size_t cap, uint8_t sig, const rsp_tid *thread, int multiprocess,
                      const char *pairs, size_t pairs_len) {
  wr w;
  wr_init(&w, out, cap);
  wr_ch(&w, 'T');
  wr_byte(&w, sig);
  if (thread) {
    char tmp[40];
    int n = rsp_format_tid(tmp, sizeof(tmp), *thread, multiprocess);
    wr_str(&w, "thread:");
    wr_mem(&w, tmp, (size_t)n);
    wr_ch(&w, ';');
  }
  if (pairs)
    wr_mem(&w, pairs, pairs_len);
  return wr_done(&w);
}

int rsp_format_stop_W(char *out, size_t cap, uint8_t status) {
  wr w;
  wr_init(&w, out, cap);
  wr_ch(&w, 'W');
  wr_byte(&w, status);
  return wr_done(&w);
}

int rsp_format_stop_X(char *out, size_t cap, uint8_t sig) {
  wr w;
  wr_init(&w, out, cap);
  wr_ch(&w, 'X');
  wr_byte(&w, sig);
  return wr_done(&w);
}

/* ------------------------------------------------------------------------
 * Error replies ("Standard Replies": "E NN" and "E.errtext").
 */
int rsp_format_error(char *out, size_t cap, uint8_t code) {
  wr w;
  wr_init(&w, out, cap);
  wr_ch(&w, 'E');
  wr_byte(&w, code);
  return wr_done(&w);
}

int rsp_format_error_msg(char *out, size_t cap, const char *msg, size_t msg_len) {
  wr w;
  wr_init(&w, out, cap);
  wr_str(&w, "E.");
  wr_mem(&w, msg, msg_len);
  return wr_done(&w);
}

int rsp_parse_error(const char *b, size_t len, int *code, const char **msg, size_t *msg_len) {
  if (len >= 2 && b[0] == 'E' && b[1] == '.') {
    *code = -1;
    *msg = b + 2;
    *msg_len = len - 2;
    return 1;
  }
  if (len == 3 && b[0] == 'E') {
    int hi = rsp_hex_digit((uint8_t)b[1]);
    int lo = rsp_hex_digit((uint8_t)b[2]);
    if (hi < 0 || lo < 0)
      return 0;
    *code = hi << 4 | lo;
    *msg = NULL;
    *msg_len = 0;
    return 1;
  }
  return 0;
}
