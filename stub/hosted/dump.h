/* dump.h - a memory dump as a debug target: physical memory from a QEMU
 * dump-guest-memory ELF core or a raw image, CPU state from the core's
 * notes or a register file, virtual addresses through arch/.
 *
 * The dump file is read with pread(), not mapped, so that a file
 * truncated or rewritten while served (dump-guest-memory run again to the
 * same path) makes reads fail with a message instead of killing the
 * process with SIGBUS; once its size or modification time differ from
 * what was opened, every memory access answers an error.  Only regular
 * files are accepted (a FIFO or a device is refused when opening).
 * Writes go to a copy-on-write overlay of 4 KiB pages in process memory;
 * only with write-through are they written into the file, and never
 * outside its file-backed bytes.
 */
#ifndef STUB_DUMP_H
#define STUB_DUMP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "arch.h"
#include "stub.h"

typedef struct {
  uint64_t pa;     /* first physical address */
  uint64_t size;   /* bytes of physical address space (p_memsz) */
  uint64_t filesz; /* bytes present in the file; the rest reads as zero */
  uint64_t offset; /* file offset of the first byte */
} dump_seg;

typedef struct {
  uint64_t pfn;
  uint8_t *data;
} dump_page;

typedef struct {
  /* The file. */
  int fd;
  uint64_t size;         /* bytes when opened */
  struct timespec mtime; /* modification time when opened (or last written) */
  int write_through;
  const char *path;
  const char *format; /* "qemu-elf64", "qemu-elf32", "raw" */
  /* Physical memory. */
  dump_seg *segs;
  size_t nsegs;
  /* Copy-on-write overlay, sorted by pfn. */
  dump_page *pages;
  size_t npages, pages_cap;
  /* CPU state, laid out by the architecture's register table. */
  const stub_arch *arch;
  uint8_t regs[1024];
  uint8_t avail[128]; /* one flag per register */
  int cpu;            /* which CPU of the dump (0-based) */
  int ncpus;
  int efer_inferred;
  /* Where the CPU states are, to load another CPU's (dump_select_cpu). */
  int machine;
  uint8_t *notes;                      /* the PT_NOTE segments, copied when opening */
  uint64_t notes_off[8], notes_len[8]; /* in notes */
  size_t nnotes;
  /* --reg / --regs assignments, applied again to every CPU loaded. */
  char *overrides[64];
  size_t noverrides;
  int replaying;
  /* The message of the last failure, for stub_set_error() and the CLI. */
  char err[256];
} dump_t;

/* All return 0 or -1 with d->err set. */
/* want: NULL for the dump's own architecture, or one to insist on
 * (&stub_arch_i386 for a dump of qemu-system-i386). */
int dump_open_elf(dump_t *d, const char *path, int write_through, int cpu, const stub_arch *want);
int dump_open_raw(dump_t *d, const char *path, uint64_t base, const stub_arch *arch,
                  int write_through);
/* Loads the registers of CPU cpu (0-based) of an ELF dump, then the
 * --reg/--regs assignments again.  Register writes made through the stub
 * are per CPU and dropped by a switch.  0, or -1 with d->err set. */
int dump_select_cpu(dump_t *d, int cpu);
/* "name=value" or "name value" (hex, "0x" optional). */
int dump_set_reg(dump_t *d, const char *assignment);
/* A text file of such lines; '#' starts a comment. */
int dump_load_regfile(dump_t *d, const char *path);
void dump_close(dump_t *d);

/* Register access by number, as the stub's ops want it. */
int dump_reg_read(dump_t *d, unsigned regno, void *buf, size_t len);
int dump_reg_write(dump_t *d, unsigned regno, const void *buf, size_t len);
/* A register by name as a number; 0 if available. */
int dump_reg_get(const dump_t *d, const char *name, uint64_t *value);

/* Physical memory: bytes read (short at a hole) or -STUB_EFAULT. */
int dump_phys_read(dump_t *d, uint64_t pa, void *buf, size_t len);
int dump_phys_write(dump_t *d, uint64_t pa, const void *buf, size_t len);

/* The translation context from the current registers: 0, DUMP_NOPAGING
 * (translation is off: virtual = physical) or -1 with d->err set (the
 * registers needed are missing or describe an unsupported mode). */
enum { DUMP_NOPAGING = 1 };
int dump_xlate_ctx(dump_t *d, arch_ctx *ctx);
/* Virtual memory through the page tables. */
int dump_virt_read(dump_t *d, uint64_t va, void *buf, size_t len);
int dump_virt_write(dump_t *d, uint64_t va, const void *buf, size_t len);

#endif /* STUB_DUMP_H */
