/* addr.c - listen and target addresses from the command line. */
#define _POSIX_C_SOURCE 200809L
#include "bridge.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

static int has_prefix(const char *s, const char *p) {
  return strncmp(s, p, strlen(p)) == 0;
}

static int set_path(br_addr *a, const char *path, br_addr_kind kind, const char **why) {
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof(a->path)) {
    *why = n ? "path too long" : "empty path";
    return UV_EINVAL;
  }
  memcpy(a->path, path, n + 1);
  a->kind = kind;
  return 0;
}

/* HOST:PORT, :PORT or [V6]:PORT; an empty host is 127.0.0.1 (the bridge
 * listens on another interface only when the user names it). */
static int parse_hostport(br_addr *a, const char *s, const char **why) {
  char host[256];
  const char *colon;
  const char *hs = s;
  size_t hl;
  if (s[0] == '[') {
    const char *rb = strchr(s, ']');
    if (!rb || rb[1] != ':') {
      *why = "expected [ADDRESS]:PORT";
      return UV_EINVAL;
    }
    hs = s + 1;
    hl = (size_t)(rb - hs);
    colon = rb + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon) {
      *why = "expected HOST:PORT";
      return UV_EINVAL;
    }
    hl = (size_t)(colon - s);
  }
  if (hl >= sizeof(host)) {
    *why = "host name too long";
    return UV_EINVAL;
  }
  memcpy(host, hs, hl);
  host[hl] = 0;
  if (!hl)
    strcpy(host, "127.0.0.1");
  const char *port = colon + 1;
  char *end;
  long pn = strtol(port, &end, 10);
  if (!*port || *end || pn < 0 || pn > 65535) {
    *why = "bad port number";
    return UV_EINVAL;
  }
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int rc = getaddrinfo(host, port, &hints, &res);
  if (rc || !res) {
    *why = rc ? gai_strerror(rc) : "no address";
    return UV_EAI_NONAME;
  }
  memcpy(&a->sa, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  a->kind = BR_ADDR_TCP;
  return 0;
}

int br_addr_parse(br_addr *a, const char *s, int is_target, const char **why) {
  static const char *dummy;
  if (!why)
    why = &dummy;
  *why = NULL;
  memset(a, 0, sizeof(*a));
  if (has_prefix(s, "unix:"))
    return set_path(a, s + 5, BR_ADDR_UNIX, why);
  if (is_target && has_prefix(s, "serial:")) {
    char dev[sizeof(a->path)];
    const char *comma = strchr(s + 7, ',');
    size_t n = comma ? (size_t)(comma - (s + 7)) : strlen(s + 7);
    if (n == 0 || n >= sizeof(dev)) {
      *why = "bad serial device";
      return UV_EINVAL;
    }
    memcpy(dev, s + 7, n);
    dev[n] = 0;
    if (comma) {
      char *end;
      long b = strtol(comma + 1, &end, 10);
      if (!comma[1] || *end || b <= 0 || b > 4000000) {
        *why = "bad baud rate";
        return UV_EINVAL;
      }
      a->baud = (int)b;
    }
    return set_path(a, dev, BR_ADDR_SERIAL, why);
  }
  if (is_target && has_prefix(s, "tcp:"))
    s += 4;
  return parse_hostport(a, s, why);
}

void br_addr_format(const br_addr *a, char *out, size_t cap) {
  char host[INET6_ADDRSTRLEN] = "?";
  switch (a->kind) {
  case BR_ADDR_TCP:
    if (a->sa.ss_family == AF_INET6) {
      const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->sa;
      inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
      snprintf(out, cap, "[%s]:%u", host, ntohs(s6->sin6_port));
    } else {
      const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->sa;
      inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
      snprintf(out, cap, "%s:%u", host, ntohs(s4->sin_port));
    }
    break;
  case BR_ADDR_UNIX:
    snprintf(out, cap, "unix:%s", a->path);
    break;
  case BR_ADDR_SERIAL:
    if (a->baud)
      snprintf(out, cap, "serial:%s,%d", a->path, a->baud);
    else
      snprintf(out, cap, "serial:%s", a->path);
    break;
  case BR_ADDR_STDIO:
    snprintf(out, cap, "stdio");
    break;
  default:
    snprintf(out, cap, "none");
    break;
  }
}
