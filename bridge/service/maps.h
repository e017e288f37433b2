/* maps.h - what `monitor maps` prints, one run or one fold at a time
 * (maps.c): lines formatted once, straight into the output buffer. */
#ifndef SVC_MAPS_H
#define SVC_MAPS_H

#include "arch.h"
#include "fold.h"
#include "svc_int.h"

/* How a JSON fold entry expands (stated in every maps --json document). */
#define SVC_MAPS_FOLD_RULE                                                                 \
  "an entry with fold stands for fold.count runs: run i is runs[i % fold.period] with va " \
  "increased by (i / fold.period) * fold.stride"

/* Runs repeated fewer times than this are listed one by one. */
#define SVC_MAPS_FOLD_MIN 8u

typedef struct {
  svc *s;
  arch_mode mode;
  int json, all;
  uint64_t runs, entries, folds;
  arch_folder *folder; /* NULL with --all */
  /* The last flags and their compact string. */
  uint32_t fl_key;
  int fl_valid;
  char fl[64];
  size_t fl_len;
} svc_maps;

/* all: every run on its own line (no folding).  Returns 0 or SVC_ENOMEM. */
int svc__maps_init(svc_maps *m, svc *s, arch_mode mode, int json, int all);
/* The arch_run_cb of arch_enumerate (arg: the svc_maps).  Non-zero when
 * the client asked to stop or went away. */
int svc__maps_run(void *arg, const arch_run *run);
/* Prints what the folder still holds; non-zero as svc__maps_run. */
int svc__maps_finish(svc_maps *m);
void svc__maps_free(svc_maps *m);
/* The four characters of a leaf's "prot" ("rw-k": r, w, x as in
 * /proc/PID/maps, then u or k; x at the page's own privilege) at p;
 * returns p + 4. */
char *svc__prot(arch_mode mode, uint32_t flags, char *p);

#endif
