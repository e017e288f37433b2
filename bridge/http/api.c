/* api.c - the /v1/ endpoints: each builds a monitor command (or raw RSP
 * requests), runs it through the backend queue, and maps the outcome to an
 * HTTP status.  The JSON documents are the service's own `--json` output,
 * passed through unchanged, so the HTTP API and `monitor ... --json` can
 * never disagree.
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_int.h"
#include "rsp.h"

#define RAW_READ_CHUNK  0x800u /* bytes per raw 'm' (the service splits further) */
#define RAW_WRITE_CHUNK 0x400u /* bytes per raw 'M' */
#define PHYS_WRITE_MAX  256u   /* bytes per `phys write` (its line stays short) */

const char *http__reason(int status) {
  switch (status) {
  case 200:
    return "OK";
  case 400:
    return "Bad Request";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 409:
    return "Conflict";
  case 413:
    return "Payload Too Large";
  case 414:
    return "URI Too Long";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  default:
    return "Unknown";
  }
}

/* ------------------------------------------------------------------------
 * Query parameters. */

static int hexval(int c) {
  return rsp_hex_digit(c);
}

/* Percent-decodes [s, s+n) into out; returns its length or -1 (bad escape,
 * too long, or a NUL byte). */
static int url_decode(const char *s, size_t n, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int ch = (unsigned char)s[i];
    if (ch == '%') {
      if (i + 2 >= n)
        return -1;
      int hi = hexval((unsigned char)s[i + 1]), lo = hexval((unsigned char)s[i + 2]);
      if (hi < 0 || lo < 0)
        return -1;
      ch = hi * 16 + lo;
      i += 2;
    } else if (ch == '+') {
      ch = ' ';
    }
    if (!ch || o + 1 >= cap)
      return -1;
    out[o++] = (char)ch;
  }
  out[o] = 0;
  return (int)o;
}

/* Iterates the query's key=value pairs: returns 1 and the raw pieces, or 0
 * at the end. */
static int next_pair(const char **p, const char *end, const char **k, size_t *kn, const char **v,
                     size_t *vn) {
  while (*p < end && **p == '&')
    (*p)++;
  if (*p >= end)
    return 0;
  const char *s = *p;
  const char *amp = memchr(s, '&', (size_t)(end - s));
  const char *e = amp ? amp : end;
  const char *eq = memchr(s, '=', (size_t)(e - s));
  *k = s;
  *kn = (size_t)((eq ? eq : e) - s);
  *v = eq ? eq + 1 : e;
  *vn = (size_t)(e - *v);
  *p = e;
  return 1;
}

/* Checks that every parameter is one of names (NULL-terminated).  Answers
 * 400 and returns -1 otherwise. */
static int params_allowed(http_req *r, const char *const *names) {
  const char *p = r->query, *end = r->query + r->query_len;
  const char *k, *v;
  size_t kn, vn;
  while (next_pair(&p, end, &k, &kn, &v, &vn)) {
    char key[32];
    int ok = 0;
    if (url_decode(k, kn, key, sizeof(key)) >= 0)
      for (const char *const *n = names; *n; n++)
        ok |= !strcmp(key, *n);
    if (!ok) {
      char cutk[40];
      snprintf(cutk, sizeof(cutk), "%.*s", (int)(kn > 32 ? 32 : kn), k);
      http__error(r, 400, "unknown parameter '%s'", cutk);
      return -1;
    }
  }
  return 0;
}

/* 1 and the decoded value, 0 when absent, -1 when undecodable. */
static int param(http_req *r, const char *name, char *out, size_t cap) {
  const char *p = r->query, *end = r->query + r->query_len;
  const char *k, *v;
  size_t kn, vn;
  while (next_pair(&p, end, &k, &kn, &v, &vn)) {
    char key[32];
    if (url_decode(k, kn, key, sizeof(key)) < 0 || strcmp(key, name))
      continue;
    return url_decode(v, vn, out, cap) < 0 ? -1 : 1;
  }
  return 0;
}

/* A hex number (optional 0x, 1 to 16 digits).  Returns 0 and *v, 1 when
 * absent and optional, or -1 after answering 400. */
static int param_num(http_req *r, const char *name, int required, uint64_t *v) {
  char buf[64];
  int rc = param(r, name, buf, sizeof(buf));
  if (rc == 0) {
    if (!required)
      return 1;
    http__error(r, 400, "missing parameter '%s' (a hex number)", name);
    return -1;
  }
  const char *s = buf;
  if (rc > 0 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
    s += 2;
  size_t n = rc > 0 ? strlen(s) : 0;
  uint64_t x = 0;
  int bad = n == 0 || n > 16;
  for (size_t i = 0; !bad && i < n; i++) {
    int d = hexval((unsigned char)s[i]);
    bad = d < 0;
    x = (x << 4) | (uint64_t)(d < 0 ? 0 : d);
  }
  if (bad) {
    http__error(r, 400, "bad parameter '%s' (a hex number such as 0xffff800000001000 expected)",
                name);
    return -1;
  }
  *v = x;
  return 0;
}

/* ------------------------------------------------------------------------
 * Reading the service's JSON documents.  They are produced by one writer
 * (svc__sb_json_str), compact, with string values escaped; these helpers
 * find a top-level "key":"value" and return the escaped value as is, which
 * is valid inside quotes again. */

static int json_str(const char *doc, size_t len, const char *key, const char **val, size_t *vlen) {
  char pat[48];
  int n = snprintf(pat, sizeof(pat), "\"%s\":\"", key);
  if (n < 0 || (size_t)n >= sizeof(pat))
    return -1;
  for (size_t i = 0; i + (size_t)n <= len; i++) {
    if (memcmp(doc + i, pat, (size_t)n))
      continue;
    size_t s = i + (size_t)n, e = s;
    while (e < len && doc[e] != '"')
      e += doc[e] == '\\' ? 2 : 1;
    if (e >= len)
      return -1;
    *val = doc + s;
    *vlen = e - s;
    return 0;
  }
  return -1;
}

static int json_hex(const char *doc, size_t len, const char *key, uint64_t *v) {
  const char *s;
  size_t n;
  if (json_str(doc, len, key, &s, &n) || n < 3 || s[0] != '0' || s[1] != 'x' || n > 18)
    return -1;
  uint64_t x = 0;
  for (size_t i = 2; i < n; i++) {
    int d = hexval((unsigned char)s[i]);
    if (d < 0)
      return -1;
    x = (x << 4) | (uint64_t)d;
  }
  *v = x;
  return 0;
}

static int has(const char *doc, size_t len, const char *needle) {
  size_t n = strlen(needle);
  for (size_t i = 0; i + n <= len; i++)
    if (!memcmp(doc + i, needle, n))
      return 1;
  return 0;
}

/* The status for a command that reported an error. */
static int status_of_failure(const char *out, size_t len) {
  if (has(out, len, "target connection failed"))
    return 503;
  if (has(out, len, "read-only"))
    return 403;
  if (has(out, len, "no process attached"))
    return 409; /* the client detached: the guest runs, nothing may stop it */
  if (has(out, len, "\"mapped\":false") || has(out, len, "not present") ||
      has(out, len, "no physical page") || has(out, len, "I/O region") ||
      has(out, len, "not canonical") || has(out, len, "non-canonical"))
    return 404;
  if (has(out, len, "target error"))
    return 502;
  return 400;
}

/* Answers a backend status other than OK/FAILED; returns 1 if it did. */
static int backend_trouble(http_req *r, int status) {
  switch (status) {
  case HTTP_BK_OK:
  case HTTP_BK_FAILED:
    return 0;
  case HTTP_BK_RUNNING:
    http__error(r, 409, "the target is running and cannot be paused for this request");
    return 1;
  case HTTP_BK_NOMEM:
    http__error(r, 500, "out of memory");
    return 1;
  default:
    http__error(r, 503, "target lost: no connection to the target");
    return 1;
  }
}

/* A failed command's output as the error body: the service's JSON document
 * when it is one, else a document around its text. */
static void failure(http_req *r, const char *out, size_t len) {
  int st = status_of_failure(out, len);
  size_t n = len;
  while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
    n--;
  if (n && out[0] == '{' && out[n - 1] == '}' && has(out, n, "\"error\":")) {
    http__respond(r, st, "application/json", out, len, NULL);
    return;
  }
  http__error(r, st, "%.*s", (int)(n > 400 ? 400 : n), out);
}

static void respond_json_sb(http_req *r, svc_sb *b) {
  if (b->oom)
    http__error(r, 500, "out of memory");
  else
    http__respond(r, 200, "application/json", b->p, b->len, NULL);
}

/* ------------------------------------------------------------------------
 * Endpoints that are one monitor command. */

/* Whether a JSON document has an "error" member at its top level: with
 * --json the service answers errors as documents and replies OK (GDB drops
 * the output of a failed qRcmd), so the reply alone does not say it. */
static int doc_is_error(const char *d, size_t len) {
  int depth = 0;
  for (size_t i = 0; i < len; i++) {
    char c = d[i];
    if (c == '{' || c == '[') {
      depth++;
    } else if (c == '}' || c == ']') {
      depth--;
    } else if (c == '"') {
      size_t start = ++i;
      while (i < len && d[i] != '"')
        i += d[i] == '\\' ? 2 : 1;
      if (depth == 1 && i - start == 5 && !memcmp(d + start, "error", 5) && i + 1 < len &&
          d[i + 1] == ':')
        return 1;
    }
  }
  return 0;
}

static void step_doc(http_req *r, int status, const char *out, size_t len) {
  if (backend_trouble(r, status))
    return;
  if (status == HTTP_BK_FAILED || doc_is_error(out, len)) {
    failure(r, out, len);
    return;
  }
  http__respond(r, 200, "application/json", out, len, NULL);
}

static void command(http_req *r, const char *line, http_step_fn step) {
  http__op(r, HTTP_OP_COMMAND, line, strlen(line), step);
}

/* " --root 0x..." when a root was given, else "". */
static int root_opt(http_req *r, char *buf, size_t cap) {
  uint64_t root;
  int rc = param_num(r, "root", 0, &root);
  buf[0] = 0;
  if (rc < 0)
    return -1;
  r->has_root = rc == 0;
  if (r->has_root) {
    r->root = root;
    snprintf(buf, cap, " --root 0x%" PRIx64, root);
  }
  return 0;
}

static void get_walk(http_req *r, const char *cmd, const char *arg) {
  static const char *const va_names[] = {"va", "root", NULL}, *const pa_names[] = {"pa", "root",
                                                                                   NULL};
  uint64_t v;
  char root[64], line[160];
  if (params_allowed(r, !strcmp(arg, "va") ? va_names : pa_names) || param_num(r, arg, 1, &v) ||
      root_opt(r, root, sizeof(root)))
    return;
  snprintf(line, sizeof(line), "%s 0x%" PRIx64 "%s --json", cmd, v, root);
  command(r, line, step_doc);
}

static void get_vtop(http_req *r) {
  get_walk(r, "vtop", "va");
}
static void get_pte(http_req *r) {
  get_walk(r, "pte", "va");
}
static void get_ptov(http_req *r) {
  get_walk(r, "ptov", "pa");
}

static void get_maps(http_req *r) {
  static const char *const names[] = {"lo", "hi", "root", NULL};
  uint64_t lo = 0, hi = 0;
  char root[64], line[160];
  int a, b;
  if (params_allowed(r, names) || (a = param_num(r, "lo", 0, &lo)) < 0 ||
      (b = param_num(r, "hi", 0, &hi)) < 0 || root_opt(r, root, sizeof(root)))
    return;
  if (a != b) {
    http__error(r, 400, "give both 'lo' and 'hi' (hi exclusive), or neither");
    return;
  }
  if (a == 0 && hi <= lo) {
    http__error(r, 400, "'hi' must be above 'lo'");
    return;
  }
  if (a == 0)
    snprintf(line, sizeof(line), "maps 0x%" PRIx64 " 0x%" PRIx64 "%s --json", lo, hi, root);
  else
    snprintf(line, sizeof(line), "maps%s --json", root);
  command(r, line, step_doc);
}

static void get_cache(http_req *r) {
  static const char *const names[] = {NULL};
  if (!params_allowed(r, names))
    command(r, "cache stats --json", step_doc);
}

/* ------------------------------------------------------------------------
 * /v1/target and /v1/regs: the paging description plus what the backend
 * knows. */

static void add_field(svc_sb *b, const char *name, const char *doc, size_t len, const char *key) {
  const char *v;
  size_t n;
  svc__sb_printf(b, ",\"%s\":", name);
  if (json_str(doc, len, key, &v, &n) == 0) {
    svc__sb_add(b, "\"", 1);
    svc__sb_add(b, v, n);
    svc__sb_add(b, "\"", 1);
  } else {
    svc__sb_puts(b, "null");
  }
}

/* The target's state from the backend (unknown without a state op). */
static http_target_state target_state(http_req *r) {
  http_target_state st = {NULL, -1, 1};
  const http_config *cfg = http__cfg(r->srv);
  if (cfg->ops->state)
    cfg->ops->state(cfg->ctx, &st);
  return st;
}

/* The members of /v1/target, without the closing brace: the state, then
 * the fields of an `arch --json` document (null when there is none). */
static void target_fields(http_req *r, svc_sb *b, const char *out, size_t len, int live) {
  http_target_state st = target_state(r);
  const http_config *cfg = http__cfg(r->srv);
  svc__sb_puts(b, "{\"run_state\":");
  if (st.run_state)
    svc__sb_json_str(b, st.run_state, strlen(st.run_state));
  else
    svc__sb_puts(b, "null");
  if (st.sessions >= 0)
    svc__sb_printf(b, ",\"sessions\":%d", st.sessions);
  else
    svc__sb_puts(b, ",\"sessions\":null");
  svc__sb_printf(b, ",\"read_only\":%s,\"live\":%s", cfg->read_only ? "true" : "false",
                 live ? "true" : "false");
  add_field(b, "arch", out, len, "target");
  add_field(b, "paging", out, len, "mode");
  add_field(b, "context", out, len, "context");
  add_field(b, "privilege", out, len, "privilege");
}

static void respond_target(http_req *r, const char *doc, size_t len, int live) {
  svc_sb b;
  svc__sb_init(&b);
  target_fields(r, &b, doc, len, live);
  svc__sb_puts(&b, "}\n");
  respond_json_sb(r, &b);
  svc__sb_free(&b);
}

/* Keeps an `arch --json` document for the answers that cannot ask. */
static void remember_arch(http_req *r, int status, const char *out, size_t len) {
  if (status == HTTP_BK_OK && len && out[0] == '{' && !doc_is_error(out, len))
    http__arch_remember(r->srv, out, len);
}

static void step_target(http_req *r, int status, const char *out, size_t len) {
  size_t n;
  const char *last;
  switch (status) {
  case HTTP_BK_OK:
    remember_arch(r, status, out, len);
    respond_target(r, out, len, 1);
    return;
  case HTTP_BK_RUNNING:
  case HTTP_BK_LOST:
    /* The state changed while the request waited: what is known. */
    last = http__arch_doc(r->srv, &n);
    respond_target(r, last, n, 0);
    return;
  default:
    if (!backend_trouble(r, status))
      failure(r, out, len);
  }
}

/* GET /v1/target has no side effect: it asks the target (`arch --json`)
 * only when it is connected, stopped and held by a debugger, so asking
 * neither connects it (QEMU would stop the guest) nor pauses it; otherwise
 * the answer carries the last description seen and "live":false. */
static void get_target(http_req *r) {
  static const char *const names[] = {NULL};
  if (params_allowed(r, names))
    return;
  http_target_state st = target_state(r);
  if (st.live) {
    command(r, "arch --json", step_target);
    return;
  }
  size_t n;
  const char *last = http__arch_doc(r->srv, &n);
  respond_target(r, last, n, 0);
}

static void step_regs_named(http_req *r, int status, const char *out, size_t len) {
  if (backend_trouble(r, status))
    return;
  while (len && (out[len - 1] == '\n' || out[len - 1] == '\r'))
    len--;
  if (status == HTTP_BK_FAILED || len < 2 || out[0] != '{' || out[len - 1] != '}') {
    http__error(r, 502, "cannot read the registers: %.*s", (int)(len > 200 ? 200 : len), out);
    return;
  }
  svc_sb b;
  svc__sb_init(&b);
  target_fields(r, &b, r->acc.p ? r->acc.p : "", r->acc.len, 1);
  svc__sb_puts(&b, ",\"regs\":");
  svc__sb_add(&b, out, len);
  svc__sb_puts(&b, "}\n");
  respond_json_sb(r, &b);
  svc__sb_free(&b);
}

static void step_regs_g(http_req *r, int status, const char *out, size_t len) {
  if (backend_trouble(r, status))
    return;
  if (len == 0 || (len == 3 && out[0] == 'E')) {
    http__error(r, 502, "the target answered '%.*s' to g", (int)len, out);
    return;
  }
  for (size_t i = 0; i < len; i++)
    if (hexval((unsigned char)out[i]) < 0 && out[i] != 'x') {
      http__error(r, 502, "the target's g reply is not hex");
      return;
    }
  /* r->acc holds the arch document of the first step. */
  svc_sb b;
  svc__sb_init(&b);
  target_fields(r, &b, r->acc.p ? r->acc.p : "", r->acc.len, 1);
  svc__sb_puts(&b, ",\"g\":");
  svc__sb_json_str(&b, out, len);
  svc__sb_puts(&b, "}\n");
  respond_json_sb(r, &b);
  svc__sb_free(&b);
}

static void step_regs_arch(http_req *r, int status, const char *out, size_t len) {
  if (backend_trouble(r, status))
    return;
  remember_arch(r, status, out, len);
  svc__sb_add(&r->acc, out, len);
  if (http__cfg(r->srv)->ops->regs)
    http__op(r, HTTP_OP_REGS, "", 0, step_regs_named);
  else
    http__op(r, HTTP_OP_REQUEST, "g", 1, step_regs_g);
}

static void get_regs(http_req *r) {
  static const char *const names[] = {NULL};
  if (!params_allowed(r, names))
    command(r, "arch --json", step_regs_arch);
}

/* ------------------------------------------------------------------------
 * POST /v1/monitor. */

static void step_monitor(http_req *r, int status, const char *out, size_t len) {
  if (backend_trouble(r, status))
    return;
  svc_sb b;
  svc__sb_init(&b);
  svc__sb_printf(&b, "{\"ok\":%s,\"output\":", status == HTTP_BK_OK ? "true" : "false");
  svc__sb_json_str(&b, out, len);
  svc__sb_puts(&b, "}\n");
  respond_json_sb(r, &b);
  svc__sb_free(&b);
}

static void post_monitor(http_req *r) {
  static const char *const names[] = {NULL};
  if (params_allowed(r, names))
    return;
  size_t n = r->body.len;
  const char *s = r->body.p ? r->body.p : "";
  while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
    n--;
  if (!n) {
    http__error(r, 400, "empty command line (POST the command as the request body)");
    return;
  }
  if (n > 1000) {
    http__error(r, 400, "command line longer than 1000 bytes");
    return;
  }
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 && s[i] != '\t') {
      http__error(r, 400, "control character in the command line");
      return;
    }
  http__op(r, HTTP_OP_COMMAND, s, n, step_monitor);
}

/* ------------------------------------------------------------------------
 * Raw bytes: /v1/phys and /v1/virt. */

enum { EP_PHYS_READ = 1, EP_PHYS_WRITE, EP_VIRT_READ, EP_VIRT_WRITE };

static void octets(http_req *r) {
  http__respond(r, 200, "application/octet-stream", r->acc.p ? r->acc.p : "", r->acc.len, NULL);
}

static void written(http_req *r, const char *key, uint64_t at) {
  char doc[128];
  int n = snprintf(doc, sizeof(doc), "{\"%s\":\"0x%" PRIx64 "\",\"written\":%" PRIu64 "}\n", key,
                   at, r->done);
  http__respond(r, 200, "application/json", doc, (size_t)n, NULL);
}

static void next_chunk(http_req *r);

/* The `phys read --json` document: its hex data into r->acc. */
static void step_phys_data(http_req *r, int status, const char *out, size_t len) {
  if (backend_trouble(r, status))
    return;
  const char *hex;
  size_t n;
  if (status == HTTP_BK_FAILED || json_str(out, len, "data", &hex, &n) || n % 2 ||
      n / 2 > r->chunk_len) {
    failure(r, out, len);
    return;
  }
  size_t at = r->acc.len;
  svc__sb_add(&r->acc, hex, n / 2); /* room, overwritten below */
  if (r->acc.oom || rsp_hex_decode(r->acc.p + at, n / 2, hex, n) < 0) {
    http__error(r, 502, "bad data in the phys read document");
    return;
  }
  r->acc.len = at + n / 2;
  if (n / 2 < r->chunk_len) {
    failure(r, out, len);
    return;
  }
  r->done += r->chunk_len;
  next_chunk(r);
}

static void step_phys_written(http_req *r, int status, const char *out, size_t len) {
  if (backend_trouble(r, status))
    return;
  if (status == HTTP_BK_FAILED) {
    failure(r, out, len);
    return;
  }
  r->done += r->chunk_len;
  next_chunk(r);
}

static void phys_chunk(http_req *r, uint64_t pa, size_t n) {
  char line[64 + 2 * PHYS_WRITE_MAX];
  r->chunk_pa = pa;
  r->chunk_len = n;
  if (r->ep == EP_PHYS_READ || r->ep == EP_VIRT_READ) {
    snprintf(line, sizeof(line), "phys read 0x%" PRIx64 " 0x%zx --json", pa, n);
    command(r, line, step_phys_data);
    return;
  }
  int k = snprintf(line, sizeof(line), "phys write 0x%" PRIx64 " ", pa);
  rsp_hex_encode(line + k, sizeof(line) - (size_t)k, r->body.p + r->done, n);
  snprintf(line + k + 2 * n, sizeof(line) - (size_t)k - 2 * n, " --json");
  command(r, line, step_phys_written);
}

/* A `vtop --root` answer: the next chunk goes to its physical page. */
static void step_virt_vtop(http_req *r, int status, const char *out, size_t len) {
  if (backend_trouble(r, status))
    return;
  uint64_t pa, psize = 0x1000;
  if (status == HTTP_BK_FAILED || json_hex(out, len, "pa", &pa)) {
    failure(r, out, len);
    return;
  }
  json_hex(out, len, "page_size", &psize);
  if (!psize || (psize & (psize - 1)))
    psize = 0x1000;
  uint64_t va = r->addr + r->done;
  uint64_t n = psize - (va & (psize - 1));
  uint64_t left = r->len - r->done;
  if (n > left)
    n = left;
  size_t cap = r->ep == EP_VIRT_WRITE ? PHYS_WRITE_MAX : 0x40000u;
  if (n > cap)
    n = cap;
  phys_chunk(r, pa, (size_t)n);
}

/* A raw m or M reply. */
static void step_raw(http_req *r, int status, const char *out, size_t len) {
  if (backend_trouble(r, status))
    return;
  uint64_t va = r->addr + r->done;
  int err = len == 0 || (out[0] == 'E' && len == 3);
  if (r->ep == EP_VIRT_WRITE) {
    if (len != 2 || memcmp(out, "OK", 2)) {
      http__error(r, 404, "cannot write at 0x%" PRIx64 ": target answered '%.*s'", va,
                  (int)(len > 16 ? 16 : len), out);
      return;
    }
    r->done += r->chunk_len;
    next_chunk(r);
    return;
  }
  size_t got = len / 2;
  if (err || len % 2 || got > r->chunk_len) {
    http__error(r, 404,
                "cannot read at 0x%" PRIx64
                " (not mapped?): target answered '%.*s' after 0x%" PRIx64 " bytes",
                va, (int)(len > 16 ? 16 : len), out, r->done);
    return;
  }
  size_t at = r->acc.len;
  svc__sb_add(&r->acc, out, got);
  if (r->acc.oom || rsp_hex_decode(r->acc.p + at, got, out, len) < 0) {
    http__error(r, 502, "bad hex in the target's m reply");
    return;
  }
  r->acc.len = at + got;
  r->done += got;
  next_chunk(r);
}

static void next_chunk(http_req *r) {
  if (r->done >= r->len) {
    if (r->ep == EP_PHYS_READ || r->ep == EP_VIRT_READ)
      octets(r);
    else
      written(r, r->ep == EP_PHYS_WRITE ? "pa" : "va", r->addr);
    return;
  }
  uint64_t left = r->len - r->done;
  uint64_t at = r->addr + r->done;
  if (r->ep == EP_PHYS_READ || r->ep == EP_PHYS_WRITE) {
    size_t cap = r->ep == EP_PHYS_WRITE ? PHYS_WRITE_MAX : 0x40000u;
    phys_chunk(r, at, left > cap ? cap : (size_t)left);
    return;
  }
  char line[96 + 2 * RAW_WRITE_CHUNK];
  if (r->has_root) {
    snprintf(line, sizeof(line), "vtop 0x%" PRIx64 " --root 0x%" PRIx64 " --json", at, r->root);
    command(r, line, step_virt_vtop);
    return;
  }
  if (r->ep == EP_VIRT_READ) {
    r->chunk_len = left > RAW_READ_CHUNK ? RAW_READ_CHUNK : (size_t)left;
    int n = snprintf(line, sizeof(line), "m%" PRIx64 ",%zx", at, r->chunk_len);
    http__op(r, HTTP_OP_REQUEST, line, (size_t)n, step_raw);
    return;
  }
  r->chunk_len = left > RAW_WRITE_CHUNK ? RAW_WRITE_CHUNK : (size_t)left;
  int n = snprintf(line, sizeof(line), "M%" PRIx64 ",%zx:", at, r->chunk_len);
  rsp_hex_encode(line + n, sizeof(line) - (size_t)n, r->body.p + r->done, r->chunk_len);
  http__op(r, HTTP_OP_REQUEST, line, (size_t)n + 2 * r->chunk_len, step_raw);
}

static void bytes_endpoint(http_req *r, int ep) {
  static const char *const phys_names[] = {"pa", "len", NULL};
  static const char *const virt_names[] = {"va", "len", "root", NULL};
  const http_config *cfg = http__cfg(r->srv);
  int phys = ep == EP_PHYS_READ || ep == EP_PHYS_WRITE;
  int write = ep == EP_PHYS_WRITE || ep == EP_VIRT_WRITE;
  char root[64];
  uint64_t len = 0;
  int has_len;
  r->ep = ep;
  if (write && cfg->read_only) {
    http__error(r, 403, "the bridge is read-only: writes are refused");
    return;
  }
  if (params_allowed(r, phys ? phys_names : virt_names) ||
      param_num(r, phys ? "pa" : "va", 1, &r->addr) < 0 ||
      (has_len = param_num(r, "len", !write, &len)) < 0 ||
      (!phys && root_opt(r, root, sizeof(root))))
    return;
  if (write) {
    if (has_len == 0 && len != r->body.len) {
      http__error(r, 400, "'len' is 0x%" PRIx64 " but the body has 0x%zx bytes", len, r->body.len);
      return;
    }
    len = r->body.len;
  }
  if (len == 0 || len > cfg->max_io) {
    http__error(r, 400, "length 0x%" PRIx64 " out of range (1..0x%zx)", len, cfg->max_io);
    return;
  }
  if (r->addr + len - 1 < r->addr) {
    http__error(r, 400, "range wraps around");
    return;
  }
  r->len = len;
  r->done = 0;
  next_chunk(r);
}

static void get_phys(http_req *r) {
  bytes_endpoint(r, EP_PHYS_READ);
}
static void put_phys(http_req *r) {
  bytes_endpoint(r, EP_PHYS_WRITE);
}
static void get_virt(http_req *r) {
  bytes_endpoint(r, EP_VIRT_READ);
}
static void put_virt(http_req *r) {
  bytes_endpoint(r, EP_VIRT_WRITE);
}

/* ------------------------------------------------------------------------
 * Routing. */

static void get_page(http_req *r) {
  http__respond(r, 200, "text/html; charset=utf-8", (const char *)http__page, http__page_len, NULL);
}

typedef struct {
  const char *path;
  void (*get)(http_req *r);
  void (*put)(http_req *r);
  void (*post)(http_req *r);
} route;

static const route routes[] = {
    {"/", get_page, NULL, NULL},
    {"/index.html", get_page, NULL, NULL},
    {"/v1/vtop", get_vtop, NULL, NULL},
    {"/v1/pte", get_pte, NULL, NULL},
    {"/v1/ptov", get_ptov, NULL, NULL},
    {"/v1/maps", get_maps, NULL, NULL},
    {"/v1/regs", get_regs, NULL, NULL},
    {"/v1/target", get_target, NULL, NULL},
    {"/v1/cache", get_cache, NULL, NULL},
    {"/v1/phys", get_phys, put_phys, NULL},
    {"/v1/virt", get_virt, put_virt, NULL},
    {"/v1/monitor", NULL, NULL, post_monitor},
};

/* ------------------------------------------------------------------------
 * Guards against the browser: a page from anywhere may send requests to
 * 127.0.0.1 (a form POST needs no CORS preflight) or reach it by a DNS name
 * rebound to 127.0.0.1.  So, on a loopback listener, the Host must name the
 * loopback, and a write or monitor command from a page (an Origin header)
 * must come from this server's own page. */

static int loopback_name(const char *h, size_t n) {
  static const char *const names[] = {"127.0.0.1", "localhost", "[::1]", "::1"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (n == strlen(names[i]) && !strncasecmp(h, names[i], n))
      return 1;
  return 0;
}

/* The host part of a Host value ("127.0.0.1:8080", "[::1]:80"). */
static size_t host_part(const char *h, size_t n) {
  if (n && h[0] == '[') {
    const char *e = memchr(h, ']', n);
    return e ? (size_t)(e - h) + 1 : n;
  }
  const char *colon = memchr(h, ':', n);
  return colon ? (size_t)(colon - h) : n;
}

static int guards(http_req *r) {
  const http_config *cfg = http__cfg(r->srv);
  const char *addr = cfg->addr ? cfg->addr : "127.0.0.1";
  int loopback = !strncmp(addr, "127.", 4) || !strcmp(addr, "::1") || !strcmp(addr, "localhost");
  if (r->has_host > 1 || r->has_origin > 1) {
    http__error(r, 400, "more than one Host or Origin header");
    return -1;
  }
  if (r->host_len >= sizeof(r->host) || r->origin_len >= sizeof(r->origin)) {
    http__error(r, 400, "Host or Origin header too long");
    return -1;
  }
  if (loopback && r->has_host) {
    size_t n = host_part(r->host, r->host_len);
    if (!loopback_name(r->host, n) && !(n == strlen(addr) && !strncmp(r->host, addr, n))) {
      http__error(r, 403, "Host '%.*s' refused: this endpoint answers only to 127.0.0.1",
                  (int)(n > 64 ? 64 : n), r->host);
      return -1;
    }
  }
  if (r->method != HTTP_GET && r->has_origin) {
    int same = r->has_host && r->origin_len == 7 + r->host_len &&
               !strncmp(r->origin, "http://", 7) && !strcmp(r->origin + 7, r->host);
    if (!same) {
      http__error(r, 403, "cross-origin %s refused (Origin %.64s)", http_method_str(r->method),
                  r->origin);
      return -1;
    }
  }
  return 0;
}

void http__dispatch(http_req *r) {
  if (guards(r))
    return;
  struct http_parser_url u;
  http_parser_url_init(&u);
  const char *url = r->url.p ? r->url.p : "";
  if (http_parser_parse_url(url, r->url.len, 0, &u) || !(u.field_set & (1 << UF_PATH))) {
    http__error(r, 400, "bad request URL");
    return;
  }
  size_t plen = u.field_data[UF_PATH].len;
  if (plen >= sizeof(r->path)) {
    http__error(r, 404, "no such resource");
    return;
  }
  memcpy(r->path, url + u.field_data[UF_PATH].off, plen);
  r->path[plen] = 0;
  if (u.field_set & (1 << UF_QUERY)) {
    r->query = url + u.field_data[UF_QUERY].off;
    r->query_len = u.field_data[UF_QUERY].len;
  } else {
    r->query = url;
    r->query_len = 0;
  }
  for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
    const route *rt = &routes[i];
    if (strcmp(rt->path, r->path))
      continue;
    void (*fn)(http_req *) = r->method == HTTP_GET    ? rt->get
                             : r->method == HTTP_PUT  ? rt->put
                             : r->method == HTTP_POST ? rt->post
                                                      : NULL;
    if (!fn) {
      http__error(r, 405, "%s is not allowed on %s", http_method_str(r->method), rt->path);
      return;
    }
    fn(r);
    return;
  }
  http__error(r, 404, "no such resource: %s", r->path);
}
