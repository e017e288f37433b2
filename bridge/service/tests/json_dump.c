/* json_dump.c - runs the --json form of every query against the simulated
 * target and prints "### COMMAND", the output, and "### reply R", for
 * check_json.py to parse and check. */
#include <stdio.h>
#include <string.h>

#include "sim.h"

static const char *const cmds[] = {
    "vtop 0xffff800000001980 --json",
    "vtop 0xffff800000412345 --json",
    "vtop 0x7f0000000000 --json",
    "vtop 0x600000 --json",
    "pte 0xffff800000001980 --json",
    "pte 0xffff800000200000 --json",
    "pte 0x1000 --root 0x80000000 --json",
    "maps --json",
    "maps 0xffff800000000800 0xffff800000002800 --json",
    "maps 0xffff800000000000 0xffff800000002000 --json",
    "maps 0xffff800000400800 0xffff800000401000 --json",
    "maps --root 0x2000 --json",
    "ptov 0x300004 --json",
    "phys read 0x201980 0x10 --json",
    "phys read 0xfffff8 0x10 --json",
    "phys write 0x300000 --u16 0xbeef --json",
    "phys fill 0x300100 0x10 abcd --json",
    "phys search 0x200000 0x4000 496e206d --json",
    "phys backend --json",
    "phys map --json",
    "context 0x2000 --json",
    "context default --json",
    "cache stats --json",
    "uncached add fec00000 fec01000 --json",
    "arch --json",
    "vtop zz --json",
    "vtop 1 2 --json",
    "vtop 1 --width 2 --json",
    "phys search 0x200000 0x4000 00 --max 3 --json",
    "maps 0x1000 --root zz --json",
    "nosuch-ours --json x",
    "phys read 0x1000 --json 0x10 0x20",
    "help --json",
    "help vtop --json",
    "help nosuch --json",
};

int main(void) {
  sim *t = sim_new();
  svc_config cfg = {.cache_bytes = 1u << 20};
  svc *s = svc_new(&sim_io, t, &cfg);
  if (!s)
    return 1;
  for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
    const char *r = sim_cmd(t, s, cmds[i]);
    printf("### %s\n%s### reply %s\n", cmds[i], t->out ? t->out : "", r);
  }
  svc_free(s);
  sim_free(t);
  return 0;
}
