/* fast.c - a client read answered on the loop thread when every byte of it
 * is in the cache.  A cache hit then costs the bridge one read and one
 * write, not two thread hand-overs.
 *
 * The caller guarantees the worker thread is idle (blocked waiting for a
 * job): the worker owns the cache, and the mutex that hands it jobs orders
 * its writes before these reads and these LRU updates before its next job.
 * Anything that needs the worker (a miss, a pending invalidation, a
 * context, an uncached range) declines with -1 and the request takes the
 * usual path, so the answer is always the one svc_handle() would give.
 */
#include <string.h>

#include "rsp.h"
#include "svc_int.h"

int svc_serve_cached(svc *s, const char *b, size_t len, char *out, size_t cap) {
  uint64_t addr, n;
  if (!len || b[0] != 'm' || rsp_parse_m(b, len, &addr, &n) < 0 || n == 0)
    return -1;
  if (n > cap / 2 || n > atomic_load(&s->client_m) || addr + n < addr)
    return -1;
  if (atomic_load(&s->ctx_on) || !atomic_load(&s->cache_on) || !s->cache.max)
    return -1;
  /* An invalidation the worker has not applied yet (resume, register
   * write, reconnect): the cached bytes may be stale. */
  if (atomic_load(&s->gen) != s->seen_gen || atomic_load(&s->conn_gen) != s->seen_conn ||
      atomic_load(&s->detach_gen) != s->seen_detach)
    return -1;
  /* The target not known to be in the client's mode (a reconnect, a failed
   * restore), or no process attached: the worker decides. */
  if (atomic_load(&s->mode_ok) != atomic_load(&s->mode_ev) || atomic_load(&s->detached))
    return -1;
  if (svc__is_uncached(s, addr, n))
    return -1;
  uint64_t as = svc__client_as(s);
  uint64_t first = addr & ~(uint64_t)(SVC_CPAGE - 1);
  uint64_t last = (addr + n - 1) & ~(uint64_t)(SVC_CPAGE - 1);
  for (uint64_t u = first;; u += SVC_CPAGE) {
    if (!svc__cache_peek(&s->cache, as, u))
      return -1;
    if (u == last)
      break;
  }
  size_t o = 0;
  for (uint64_t u = first;; u += SVC_CPAGE) {
    const uint8_t *d = svc__cache_get(&s->cache, as, u);
    uint64_t lo = u < addr ? addr : u;
    uint64_t hi = u + SVC_CPAGE - addr < n ? u + SVC_CPAGE : addr + n;
    o += (size_t)rsp_hex_encode(out + o, cap - o, d + (lo - u), (size_t)(hi - lo));
    if (u == last)
      break;
  }
  return (int)o;
}
