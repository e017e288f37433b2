/* cmd.h - what the monitor command files share: commands.c parses a
 * command line into a cmd, checks its options and dispatches; the `phys`
 * commands are in phys_cmds.c.  Worker thread. */
#ifndef SVC_CMD_H
#define SVC_CMD_H

#include "svc_int.h"

/* One monitor command being run. */
typedef struct {
  svc *s;
  const char *name; /* command name for messages */
  int json;
  int has_root;
  uint64_t root;
  int width;
  int all; /* maps --all */
  int uw;  /* --u8/16/32/64: bytes */
  const char *uval;
  uint64_t max; /* --max */
  int has_max;
  const char *file; /* phys read --file NAME */
  const char *pos[SVC_MAX_TOK];
  int npos;
  int failed;
} cmd;

/* The command's error: text "NAME: message", or with --json the document
 * {"error":...}; marks it failed. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void svc__fail(cmd *c, const char *fmt, ...);
/* tok as a hex number into *v; 0, or -1 after an error naming what. */
int svc__num(cmd *c, const char *tok, const char *what, uint64_t *v);
/* 0, or -1 after an error naming the first positional argument past max. */
int svc__extra(cmd *c, int max);
void svc__out_json_str(svc *s, const char *str);
/* tok, or its first 40 characters and "..." in buf, for a message. */
const char *svc__cut(const char *tok, char *buf, size_t cap);

void svc__cmd_phys(cmd *c); /* phys_cmds.c */

#endif
