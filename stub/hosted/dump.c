/* dump.c - memory dumps for rspstub (see dump.h). */
#define _DEFAULT_SOURCE
#include "dump.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE 4096u

static int fail(dump_t *d, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(d->err, sizeof(d->err), fmt, ap);
  va_end(ap);
  return -1;
}

/* ------------------------------------------------------------------------
 * Registers.
 */

static void reg_put(dump_t *d, int regno, uint64_t v) {
  const stub_reg *r;
  size_t i, n;
  if (regno < 0 || (unsigned)regno >= d->arch->nregs)
    return;
  r = &d->arch->regs[regno];
  n = r->bitsize / 8;
  if (r->offset + n > sizeof(d->regs))
    return;
  for (i = 0; i < n; i++)
    d->regs[r->offset + i] = (uint8_t)(i < 8 ? v >> (8 * i) : 0);
  d->avail[regno] = 1;
}

static void reg_put_name(dump_t *d, const char *name, uint64_t v) {
  reg_put(d, stub_arch_find_reg(d->arch, name), v);
}

int dump_reg_get(const dump_t *d, const char *name, uint64_t *value) {
  int regno = stub_arch_find_reg(d->arch, name);
  const stub_reg *r;
  size_t i, n;
  if (regno < 0 || !d->avail[regno])
    return -1;
  r = &d->arch->regs[regno];
  n = r->bitsize / 8;
  *value = 0;
  for (i = 0; i < n && i < 8; i++)
    *value |= (uint64_t)d->regs[r->offset + i] << (8 * i);
  return 0;
}

int dump_reg_read(dump_t *d, unsigned regno, void *buf, size_t len) {
  if (regno >= d->arch->nregs || !d->avail[regno])
    return STUB_EUNAVAIL;
  memcpy(buf, d->regs + d->arch->regs[regno].offset, len);
  return 0;
}

/* Registers live in process memory only, also with write-through: the
 * dump's notes are not rewritten. */
int dump_reg_write(dump_t *d, unsigned regno, const void *buf, size_t len) {
  if (regno >= d->arch->nregs)
    return -STUB_EINVAL;
  memcpy(d->regs + d->arch->regs[regno].offset, buf, len);
  d->avail[regno] = 1;
  return 0;
}

int dump_set_reg(dump_t *d, const char *a) {
  char name[64];
  const char *sep = a;
  size_t n;
  char *end;
  unsigned long long v;
  int regno;
  while (*sep && *sep != '=' && *sep != ' ' && *sep != '\t')
    sep++;
  n = (size_t)(sep - a);
  if (!*sep || n == 0 || n >= sizeof(name))
    return fail(d, "bad register assignment '%s' (want NAME=VALUE)", a);
  memcpy(name, a, n);
  name[n] = '\0';
  while (*sep == '=' || *sep == ' ' || *sep == '\t')
    sep++;
  errno = 0;
  v = strtoull(sep, &end, 16);
  while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')
    end++;
  if (errno || end == sep || *end)
    return fail(d, "bad value in '%s' (hex expected)", a);
  regno = stub_arch_find_reg(d->arch, name);
  if (regno < 0)
    return fail(d, "no register named '%s' in this architecture", name);
  reg_put(d, regno, (uint64_t)v);
  if (strcmp(name, "efer") == 0)
    d->efer_inferred = 0;
  if (!d->replaying) {
    char *copy;
    if (d->noverrides == sizeof(d->overrides) / sizeof(d->overrides[0]))
      return fail(d, "too many register assignments");
    copy = malloc(strlen(a) + 1);
    if (!copy)
      return fail(d, "out of memory");
    strcpy(copy, a);
    d->overrides[d->noverrides++] = copy;
  }
  return 0;
}

int dump_load_regfile(dump_t *d, const char *path) {
  FILE *f = fopen(path, "r");
  char line[256];
  int lineno = 0;
  if (!f)
    return fail(d, "%s: %s", path, strerror(errno));
  while (fgets(line, sizeof(line), f)) {
    char *p = line, *hash = strchr(line, '#');
    size_t n;
    lineno++;
    if (hash)
      *hash = '\0';
    while (*p == ' ' || *p == '\t')
      p++;
    n = strlen(p);
    while (n && (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == ' '))
      p[--n] = '\0';
    if (!*p)
      continue;
    if (dump_set_reg(d, p) < 0) {
      char why[sizeof(d->err)];
      memcpy(why, d->err, sizeof(why));
      fclose(f);
      return fail(d, "%s:%d: %s", path, lineno, why);
    }
  }
  fclose(f);
  return 0;
}

/* ------------------------------------------------------------------------
 * Opening.
 */

/* The dump is read with pread(), never through a mapping: a file that
 * shrinks while it is served (QEMU's dump-guest-memory run again to the
 * same path truncates it first) makes a mapping raise SIGBUS at the first
 * touch beyond the new end, and no check beforehand closes that window.
 * A short pread() is an error like any other; catching SIGBUS instead
 * would take over a process-wide signal in library code.  The kernel's
 * page cache keeps repeated reads cheap. */

static const char *file_kind(mode_t m) {
  if (S_ISFIFO(m))
    return "a FIFO";
  if (S_ISCHR(m))
    return "a character device";
  if (S_ISBLK(m))
    return "a block device";
  if (S_ISDIR(m))
    return "a directory";
  if (S_ISSOCK(m))
    return "a socket";
  return "not a regular file";
}

static int not_regular(dump_t *d, const char *path, mode_t m) {
  return fail(d,
              "%s: %s; the dump must be a regular file (it is read at any offset, more than once)",
              path, file_kind(m));
}

static int open_file(dump_t *d, const char *path, int write_through) {
  struct stat st;
  int flags;
  /* Refuse a FIFO or a device before opening it: open() of a FIFO blocks
   * until a writer comes, and opening a device can have effects.  The
   * fstat() after the open closes the race with a rename. */
  if (stat(path, &st) < 0)
    return fail(d, "%s: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode))
    return not_regular(d, path, st.st_mode);
  flags = (write_through ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NONBLOCK;
  d->fd = open(path, flags);
  if (d->fd < 0)
    return fail(d, "%s: %s", path, strerror(errno));
  if (fstat(d->fd, &st) < 0)
    return fail(d, "%s: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode))
    return not_regular(d, path, st.st_mode);
  if (st.st_size <= 0)
    return fail(d, "%s: empty file", path);
  d->size = (uint64_t)st.st_size;
  d->mtime = st.st_mtim;
  d->path = path;
  d->write_through = write_through;
  return 0;
}

/* Says why the file no longer holds what was opened; -1. */
static int file_changed(dump_t *d, const struct stat *st) {
  return fail(d,
              "%s changed while served (%llu bytes when opened, %llu now): 'monitor reopen' "
              "or a restart serves the new dump",
              d->path, (unsigned long long)d->size, (unsigned long long)st->st_size);
}

/* 0 while the file has the size and modification time it was opened
 * with, -1 with d->err set once it was truncated or rewritten: the
 * segments and registers came from the old header and notes, and must
 * not be mixed with new memory. */
static int file_check(dump_t *d) {
  struct stat st;
  if (fstat(d->fd, &st) < 0)
    return fail(d, "%s: %s", d->path, strerror(errno));
  if ((uint64_t)st.st_size != d->size || st.st_mtim.tv_sec != d->mtime.tv_sec ||
      st.st_mtim.tv_nsec != d->mtime.tv_nsec)
    return file_changed(d, &st);
  return 0;
}

/* Exactly len bytes at off, or -1 with d->err set. */
static int file_read(dump_t *d, uint64_t off, void *buf, size_t len) {
  uint8_t *p = buf;
  while (len > 0) {
    ssize_t n = pread(d->fd, p, len, (off_t)off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return fail(d, "%s: read at 0x%llx: %s", d->path, (unsigned long long)off, strerror(errno));
    if (n == 0) {
      struct stat st;
      if (fstat(d->fd, &st) == 0 && (uint64_t)st.st_size < d->size)
        return file_changed(d, &st);
      return fail(d, "%s: ends before 0x%llx", d->path, (unsigned long long)off);
    }
    p += n;
    off += (uint64_t)n;
    len -= (size_t)n;
  }
  return 0;
}

static void dump_zero(dump_t *d) {
  memset(d, 0, sizeof(*d));
  d->fd = -1;
}

int dump_open_raw(dump_t *d, const char *path, uint64_t base, const stub_arch *arch,
                  int write_through) {
  dump_zero(d);
  d->arch = arch;
  d->format = "raw";
  if (open_file(d, path, write_through) < 0)
    return -1;
  d->segs = calloc(1, sizeof(*d->segs));
  if (!d->segs)
    return fail(d, "out of memory");
  d->segs[0].pa = base;
  d->segs[0].size = d->segs[0].filesz = d->size;
  d->segs[0].offset = 0;
  d->nsegs = 1;
  d->ncpus = 0;
  return 0;
}

static uint64_t rd64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

static uint32_t rd32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* QEMU's "QEMU" note (QEMUCPUState, dump/dump.c and target/i386/arch_dump.c):
 * version, size, 18 general registers, 10 segments of 24 bytes, cr[5],
 * then optional kernel_gs_base. */
static void x86_from_qemu_note(dump_t *d, const uint8_t *p, size_t n) {
  static const char *gpr[] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8",
                              "r9",  "r10", "r11", "r12", "r13", "r14", "r15", "rip"};
  static const char *gpr32[] = {"eax", "ebx", "ecx", "edx", "esi", "edi", "esp", "ebp"};
  static const char *seg[] = {"cs", "ds", "es", "fs", "gs", "ss"};
  int is32 = d->arch == &stub_arch_i386;
  size_t i;
  if (n < 432)
    return;
  for (i = 0; i < 17; i++) {
    const char *name = gpr[i];
    if (is32)
      name = i < 8 ? gpr32[i] : i == 16 ? "eip" : NULL; /* reg_put truncates */
    if (name)
      reg_put_name(d, name, rd64(p + 8 + 8 * i));
  }
  reg_put_name(d, "eflags", rd64(p + 8 + 8 * 17));
  for (i = 0; i < 6; i++)
    reg_put_name(d, seg[i], rd32(p + 152 + 24 * i));
  reg_put_name(d, "fs_base", rd64(p + 152 + 24 * 3 + 16));
  reg_put_name(d, "gs_base", rd64(p + 152 + 24 * 4 + 16));
  reg_put_name(d, "cr0", rd64(p + 392));
  reg_put_name(d, "cr2", rd64(p + 392 + 16));
  reg_put_name(d, "cr3", rd64(p + 392 + 24));
  reg_put_name(d, "cr4", rd64(p + 392 + 32));
  if (n >= 440 && rd32(p + 4) >= 440)
    reg_put_name(d, "k_gs_base", rd64(p + 432));
}

/* NT_PRSTATUS of x86-64 (struct elf_prstatus): pr_reg at 112. */
static void x86_from_prstatus(dump_t *d, const uint8_t *p, size_t n) {
  static const char *order[] = {"r15",     "r14",     "r13", "r12", "rbp",    "rbx", "r11",
                                "r10",     "r9",      "r8",  "rax", "rcx",    "rdx", "rsi",
                                "rdi",     NULL,      "rip", "cs",  "eflags", "rsp", "ss",
                                "fs_base", "gs_base", "ds",  "es",  "fs",     "gs"};
  size_t i;
  if (n < 112 + 27 * 8)
    return;
  for (i = 0; i < 27; i++)
    if (order[i])
      reg_put_name(d, order[i], rd64(p + 112 + 8 * i));
}

/* NT_PRSTATUS of AArch64: pr_reg = x0..x30, sp, pc, pstate at 112. */
static void a64_from_prstatus(dump_t *d, const uint8_t *p, size_t n) {
  char name[8];
  int i;
  if (n < 112 + 34 * 8)
    return;
  for (i = 0; i < 31; i++) {
    snprintf(name, sizeof(name), "x%d", i);
    reg_put_name(d, name, rd64(p + 112 + 8 * i));
  }
  reg_put_name(d, "sp", rd64(p + 112 + 8 * 31));
  reg_put_name(d, "pc", rd64(p + 112 + 8 * 32));
  reg_put_name(d, "cpsr", rd64(p + 112 + 8 * 33) & 0xffffffffu);
}

/* NT_PRSTATUS of RISC-V 64 (Linux's user_regs_struct): pc, then x1..x31,
 * at 112. */
static void rv_from_prstatus(dump_t *d, const uint8_t *p, size_t n) {
  int i;
  if (n < 112 + 32 * 8)
    return;
  reg_put_name(d, "pc", rd64(p + 112));
  for (i = 1; i < 32; i++) /* the table's registers 1..31 are x1..x31 */
    reg_put(d, i, rd64(p + 112 + 8 * i));
}

static void phdr(int is64, const uint8_t *ph, uint32_t *type, uint64_t *off, uint64_t *paddr,
                 uint64_t *filesz, uint64_t *memsz) {
  if (is64) {
    Elf64_Phdr h;
    memcpy(&h, ph, sizeof(h));
    *type = h.p_type, *off = h.p_offset, *paddr = h.p_paddr, *filesz = h.p_filesz;
    *memsz = h.p_memsz;
  } else {
    Elf32_Phdr h;
    memcpy(&h, ph, sizeof(h));
    *type = h.p_type, *off = h.p_offset, *paddr = h.p_paddr, *filesz = h.p_filesz;
    *memsz = h.p_memsz;
  }
}

/* The notes are copied into memory once, so that loading another CPU's
 * registers never depends on the file still being there.  Real dumps
 * have a few KiB per CPU; the cap keeps a crafted header from asking for
 * gigabytes. */
#define NOTES_MAX (64u << 20)

static int read_notes(dump_t *d, const uint64_t *off, const uint64_t *len, size_t n) {
  uint64_t total = 0;
  size_t i;
  for (i = 0; i < n; i++)
    total += len[i]; /* each is at most the file's size: no overflow */
  if (total > NOTES_MAX)
    return fail(d, "%s: %llu bytes of notes (more than %u MiB)", d->path, (unsigned long long)total,
                NOTES_MAX >> 20);
  d->notes = malloc(total ? (size_t)total : 1);
  if (!d->notes)
    return fail(d, "out of memory");
  total = 0;
  for (i = 0; i < n; i++) {
    if (file_read(d, off[i], d->notes + total, (size_t)len[i]) < 0)
      return -1;
    d->notes_off[i] = total;
    d->notes_len[i] = len[i];
    total += len[i];
  }
  d->nnotes = n;
  return 0;
}

static void parse_notes(dump_t *d, const uint8_t *p, size_t len, int machine, int *nprstatus,
                        int *nqemu, int *got_qemu) {
  size_t pos = 0;
  while (pos + 12 <= len) {
    uint32_t namesz = rd32(p + pos), descsz = rd32(p + pos + 4), type = rd32(p + pos + 8);
    size_t name_at = pos + 12, desc_at, next;
    if (namesz > len || descsz > len)
      return;
    desc_at = name_at + ((namesz + 3u) & ~3u);
    next = desc_at + ((descsz + 3u) & ~3u);
    if (desc_at > len || desc_at + descsz > len)
      return;
    if (namesz >= 4 && memcmp(p + name_at, "CORE", 4) == 0 && type == NT_PRSTATUS) {
      if (*nprstatus == d->cpu) {
        if (machine == EM_X86_64 && !*got_qemu)
          x86_from_prstatus(d, p + desc_at, descsz);
        else if (machine == EM_AARCH64)
          a64_from_prstatus(d, p + desc_at, descsz);
        else if (machine == EM_RISCV && d->arch == &stub_arch_riscv64)
          rv_from_prstatus(d, p + desc_at, descsz);
      }
      (*nprstatus)++;
    } else if (namesz >= 4 && memcmp(p + name_at, "QEMU", 4) == 0 &&
               (machine == EM_X86_64 || machine == EM_386)) {
      /* QEMU's own CPU state has everything prstatus has, plus the
       * control registers: it wins. */
      if (*nqemu == d->cpu) {
        x86_from_qemu_note(d, p + desc_at, descsz);
        *got_qemu = 1;
      }
      (*nqemu)++;
    }
    if (next <= pos)
      return;
    pos = next;
  }
}

/* Registers of CPU d->cpu from the notes; d->ncpus from their count. */
static void load_cpu(dump_t *d) {
  int nprstatus = 0, nqemu = 0, got_qemu = 0;
  size_t i;
  memset(d->regs, 0, sizeof(d->regs));
  memset(d->avail, 0, sizeof(d->avail));
  for (i = 0; i < d->nnotes; i++)
    parse_notes(d, d->notes + d->notes_off[i], (size_t)d->notes_len[i], d->machine, &nprstatus,
                &nqemu, &got_qemu);
  d->ncpus = nprstatus > nqemu ? nprstatus : nqemu;
  d->efer_inferred = 0;
  if (d->arch == &stub_arch_x86_64 || d->arch == &stub_arch_i386) {
    uint64_t cr4 = 0;
    /* QEMU's CPU state has no EFER.  QEMU writes EM_X86_64 exactly when
     * long mode is active (LMA), and nearly every PAE/long-mode OS sets
     * NXE, so that is the inferred value; --reg efer=... overrides it. */
    dump_reg_get(d, "cr4", &cr4);
    reg_put_name(d, "efer", (d->machine == EM_X86_64 ? 0x500u : 0u) | ((cr4 & 0x20) ? 0x800u : 0u));
    d->efer_inferred = 1;
  }
}

int dump_select_cpu(dump_t *d, int cpu) {
  size_t i;
  if (cpu < 0 || cpu >= (d->ncpus > 0 ? d->ncpus : 1))
    return fail(d, "no CPU %d (the dump has %d)", cpu, d->ncpus);
  if (cpu == d->cpu)
    return 0;
  d->cpu = cpu;
  load_cpu(d);
  d->replaying = 1;
  for (i = 0; i < d->noverrides; i++)
    dump_set_reg(d, d->overrides[i]);
  d->replaying = 0;
  return 0;
}

int dump_open_elf(dump_t *d, const char *path, int write_through, int cpu, const stub_arch *want) {
  uint8_t eh[sizeof(Elf64_Ehdr)], ph[sizeof(Elf64_Phdr)];
  uint64_t phoff, note_off[sizeof(d->notes_off) / sizeof(d->notes_off[0])];
  uint64_t note_len[sizeof(note_off) / sizeof(note_off[0])];
  size_t nnotes = 0, phsize;
  unsigned phnum, phentsize, i;
  int machine, is64;
  dump_zero(d);
  d->cpu = cpu;
  if (open_file(d, path, write_through) < 0)
    return -1;
  if (d->size < sizeof(Elf32_Ehdr))
    return fail(d, "%s: not an ELF file (use --raw for a raw image)", path);
  if (file_read(d, 0, eh, d->size < sizeof(eh) ? (size_t)d->size : sizeof(eh)) < 0)
    return -1;
  if (memcmp(eh, ELFMAG, SELFMAG) != 0)
    return fail(d, "%s: not an ELF file (use --raw for a raw image)", path);
  if (eh[EI_DATA] != ELFDATA2LSB)
    return fail(d, "%s: only little-endian dumps are supported", path);
  is64 = eh[EI_CLASS] == ELFCLASS64;
  if (is64) {
    Elf64_Ehdr h;
    if (d->size < sizeof(h))
      return fail(d, "%s: truncated ELF header", path);
    memcpy(&h, eh, sizeof(h));
    if (h.e_type != ET_CORE)
      return fail(d, "%s: not an ELF core file", path);
    machine = h.e_machine, phoff = h.e_phoff, phnum = h.e_phnum, phentsize = h.e_phentsize;
  } else {
    Elf32_Ehdr h;
    memcpy(&h, eh, sizeof(h));
    if (h.e_type != ET_CORE)
      return fail(d, "%s: not an ELF core file", path);
    machine = h.e_machine, phoff = h.e_phoff, phnum = h.e_phnum, phentsize = h.e_phentsize;
  }
  d->format = is64 ? "qemu-elf64" : "qemu-elf32";
  if (machine == EM_X86_64 || machine == EM_386) {
    /* EM_386 is what qemu-system-x86_64 writes outside long mode too, and
     * its gdbstub always speaks x86-64: 32-bit registers only on request
     * (dumps of qemu-system-i386). */
    d->arch = want == &stub_arch_i386 && machine == EM_386 ? &stub_arch_i386 : &stub_arch_x86_64;
  } else if (machine == EM_AARCH64) {
    d->arch = &stub_arch_aarch64;
  } else if (machine == EM_RISCV && is64) {
    d->arch = &stub_arch_riscv64;
  } else {
    return fail(d, "%s: unsupported machine %d (x86, AArch64 and RV64 dumps are)", path, machine);
  }
  phsize = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
  if (phentsize < phsize || phoff > d->size || (uint64_t)phnum * phentsize > d->size - phoff)
    return fail(d, "%s: program headers out of the file", path);
  d->segs = calloc(phnum ? phnum : 1, sizeof(*d->segs));
  if (!d->segs)
    return fail(d, "out of memory");
  for (i = 0; i < phnum; i++) {
    uint32_t type;
    uint64_t off, paddr, filesz, memsz;
    if (file_read(d, phoff + (uint64_t)i * phentsize, ph, phsize) < 0)
      return -1;
    phdr(is64, ph, &type, &off, &paddr, &filesz, &memsz);
    if (off > d->size || filesz > d->size - off)
      return fail(d, "%s: segment %u lies outside the file", path, i);
    if (type == PT_LOAD && memsz > 0) {
      dump_seg *s = &d->segs[d->nsegs++];
      s->pa = paddr;
      s->size = memsz;
      s->filesz = filesz < memsz ? filesz : memsz;
      s->offset = off;
    } else if (type == PT_NOTE && nnotes < sizeof(note_off) / sizeof(note_off[0])) {
      note_off[nnotes] = off;
      note_len[nnotes++] = filesz;
    }
  }
  if (read_notes(d, note_off, note_len, nnotes) < 0)
    return -1;
  d->machine = machine;
  load_cpu(d);
  if (cpu < 0 || (d->ncpus > 0 && cpu >= d->ncpus))
    return fail(d, "%s: no CPU %d (the dump has %d)", path, cpu, d->ncpus);
  if (d->nsegs == 0)
    return fail(d, "%s: no PT_LOAD segments (was the dump made with -p or -z?)", path);
  if (want && want != d->arch)
    return fail(d, "%s: the dump's machine (%d) does not match the requested architecture", path,
                machine);
  return 0;
}

void dump_close(dump_t *d) {
  size_t i;
  for (i = 0; i < d->noverrides; i++)
    free(d->overrides[i]);
  for (i = 0; i < d->npages; i++)
    free(d->pages[i].data);
  free(d->pages);
  free(d->segs);
  free(d->notes);
  if (d->fd >= 0)
    close(d->fd);
  dump_zero(d);
}

/* ------------------------------------------------------------------------
 * Physical memory.
 */

static const dump_seg *find_seg(const dump_t *d, uint64_t pa) {
  size_t i;
  for (i = 0; i < d->nsegs; i++)
    if (pa >= d->segs[i].pa && pa - d->segs[i].pa < d->segs[i].size)
      return &d->segs[i];
  return NULL;
}

static dump_page *find_page(const dump_t *d, uint64_t pfn, size_t *at) {
  size_t lo = 0, hi = d->npages;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (d->pages[mid].pfn < pfn)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (at)
    *at = lo;
  return lo < d->npages && d->pages[lo].pfn == pfn ? &d->pages[lo] : NULL;
}

/* Reads from the file image only (no overlay); returns bytes read (short
 * at a hole), or -1 with d->err set when the file cannot give them. */
static int image_read(dump_t *d, uint64_t pa, uint8_t *buf, size_t len) {
  size_t done = 0;
  while (done < len) {
    const dump_seg *s = find_seg(d, pa + done);
    uint64_t off, n;
    if (!s)
      break;
    off = pa + done - s->pa;
    n = s->size - off;
    if (n > len - done)
      n = len - done;
    if (off >= s->filesz) {
      memset(buf + done, 0, n);
    } else {
      uint64_t inf = s->filesz - off < n ? s->filesz - off : n;
      if (file_read(d, s->offset + off, buf + done, (size_t)inf) < 0)
        return -1;
      memset(buf + done + inf, 0, n - inf);
    }
    done += n;
  }
  return (int)done; /* len is at most INT32_MAX */
}

/* dump_phys_read() without the check that the file is unchanged, for the
 * walker's many small reads within one request. */
static int phys_read(dump_t *d, uint64_t pa, void *buf, size_t len) {
  uint8_t *out = buf;
  size_t done = 0;
  if (len > INT32_MAX)
    len = INT32_MAX;
  while (done < len) {
    uint64_t a = pa + done;
    size_t in_page = PAGE - (size_t)(a % PAGE), n = len - done < in_page ? len - done : in_page;
    dump_page *pg = d->npages ? find_page(d, a / PAGE, NULL) : NULL;
    if (pg) {
      memcpy(out + done, pg->data + a % PAGE, n);
      done += n;
      continue;
    }
    {
      int got = image_read(d, a, out + done, n);
      if (got < 0)
        return done ? (int)done : -STUB_EIO;
      done += (size_t)got;
      if ((size_t)got < n)
        break;
    }
  }
  if (done == 0) {
    snprintf(d->err, sizeof(d->err), "no physical memory at 0x%llx in the dump",
             (unsigned long long)pa);
    return -STUB_EFAULT;
  }
  return (int)done;
}

int dump_phys_read(dump_t *d, uint64_t pa, void *buf, size_t len) {
  if (file_check(d) < 0)
    return -STUB_EIO;
  return phys_read(d, pa, buf, len);
}

static int overlay_write(dump_t *d, uint64_t a, const uint8_t *src, size_t n) {
  size_t at;
  dump_page *pg = find_page(d, a / PAGE, &at);
  if (!pg) {
    uint8_t *data = malloc(PAGE);
    if (!data)
      return -STUB_ENOSPC;
    memset(data, 0, PAGE);
    if (image_read(d, a - a % PAGE, data, PAGE) < 0) { /* holes inside the page stay zero */
      free(data);
      return -STUB_EIO;
    }
    if (d->npages == d->pages_cap) {
      size_t cap = d->pages_cap ? 2 * d->pages_cap : 16;
      dump_page *np = realloc(d->pages, cap * sizeof(*np));
      if (!np) {
        free(data);
        return -STUB_ENOSPC;
      }
      d->pages = np;
      d->pages_cap = cap;
    }
    memmove(d->pages + at + 1, d->pages + at, (d->npages - at) * sizeof(*d->pages));
    d->pages[at].pfn = a / PAGE;
    d->pages[at].data = data;
    d->npages++;
    pg = &d->pages[at];
  }
  memcpy(pg->data + a % PAGE, src, n);
  return 0;
}

/* Writes n bytes at off into the file, which must still be as opened:
 * pwrite() beyond its end would grow it.  A truncation between the
 * check and the write can still leave a hole-filled tail; only a user who
 * asked for --write-through and rewrites the dump at the same time
 * meets that. */
static int file_write(dump_t *d, uint64_t off, const uint8_t *p, size_t n) {
  struct stat st;
  if (file_check(d) < 0)
    return -STUB_EIO;
  while (n > 0) {
    ssize_t w = pwrite(d->fd, p, n, (off_t)off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      fail(d, "%s: write at 0x%llx: %s", d->path, (unsigned long long)off,
           w < 0 ? strerror(errno) : "nothing written");
      return -STUB_EIO;
    }
    p += w;
    off += (uint64_t)w;
    n -= (size_t)w;
  }
  /* Our own write moved the modification time: it is not a change. */
  if (fstat(d->fd, &st) == 0 && (uint64_t)st.st_size == d->size)
    d->mtime = st.st_mtim;
  return 0;
}

static int phys_write(dump_t *d, uint64_t pa, const void *buf, size_t len) {
  const uint8_t *in = buf;
  size_t done = 0;
  /* Check the whole range first so that a failing write changes nothing. */
  for (done = 0; done < len;) {
    const dump_seg *s = find_seg(d, pa + done);
    uint64_t off, limit;
    if (!s) {
      snprintf(d->err, sizeof(d->err), "no physical memory at 0x%llx in the dump",
               (unsigned long long)(pa + done));
      return -STUB_EFAULT;
    }
    off = pa + done - s->pa;
    limit = d->write_through ? s->filesz : s->size;
    if (off >= limit) {
      snprintf(d->err, sizeof(d->err), "0x%llx is not stored in the file (write-through)",
               (unsigned long long)(pa + done));
      return -STUB_EFAULT;
    }
    done += (size_t)(limit - off < len - done ? limit - off : len - done);
  }
  for (done = 0; done < len;) {
    uint64_t a = pa + done;
    size_t in_page = PAGE - (size_t)(a % PAGE), n = len - done < in_page ? len - done : in_page;
    if (d->write_through) {
      const dump_seg *s = find_seg(d, a);
      uint64_t off = a - s->pa;
      int rc;
      if (off + n > s->filesz)
        n = (size_t)(s->filesz - off);
      rc = file_write(d, s->offset + off, in + done, n);
      if (rc < 0)
        return rc;
    } else {
      int rc = overlay_write(d, a, in + done, n);
      if (rc < 0)
        return rc;
    }
    done += n;
  }
  return 0;
}

int dump_phys_write(dump_t *d, uint64_t pa, const void *buf, size_t len) {
  if (file_check(d) < 0)
    return -STUB_EIO;
  return phys_write(d, pa, buf, len);
}

/* ------------------------------------------------------------------------
 * Virtual memory.
 */

static int walker_read(void *cb_ctx, uint64_t pa, void *buf, size_t len) {
  int rc = phys_read(cb_ctx, pa, buf, len);
  return rc < 0 ? 0 : rc;
}

int dump_xlate_ctx(dump_t *d, arch_ctx *ctx) {
  int rc;
  if (d->arch == &stub_arch_x86_64 || d->arch == &stub_arch_i386) {
    uint64_t cr0, cr3, cr4, efer;
    if (dump_reg_get(d, "cr0", &cr0) || dump_reg_get(d, "cr3", &cr3) ||
        dump_reg_get(d, "cr4", &cr4) || dump_reg_get(d, "efer", &efer))
      return fail(d, "the dump has no control registers (give --reg cr0=... cr3= cr4= efer=)");
    rc = arch_detect_x86(cr0, cr4, efer, cr3, ctx);
  } else if (d->arch == &stub_arch_riscv64) {
    uint64_t satp;
    /* QEMU's RISC-V dumps carry no CSRs either. */
    if (dump_reg_get(d, "satp", &satp))
      return fail(d, "no satp (give --reg satp=...)");
    rc = arch_detect_riscv(satp, 64, ctx);
  } else {
    uint64_t sctlr = 1, tcr, ttbr0, ttbr1;
    /* QEMU's AArch64 dumps carry no system registers: they must come
     * from --reg or --regs.  Without SCTLR the MMU is taken as on. */
    dump_reg_get(d, "SCTLR", &sctlr);
    if (dump_reg_get(d, "TCR_EL1", &tcr) || dump_reg_get(d, "TTBR0_EL1", &ttbr0) ||
        dump_reg_get(d, "TTBR1_EL1", &ttbr1))
      return fail(d, "no translation registers (give --reg TCR_EL1=... TTBR0_EL1= TTBR1_EL1=)");
    rc = arch_detect_aarch64(sctlr, tcr, ttbr0, ttbr1, ctx);
  }
  if (rc == ARCH_ENOPAGING)
    return DUMP_NOPAGING;
  if (rc < 0)
    return fail(d, "paging mode: %s", arch_strerror(rc));
  return 0;
}

/* Translates va; on success *pa and the bytes left in its page. */
static int xlate(dump_t *d, const arch_ctx *ctx, int paging, uint64_t va, uint64_t *pa,
                 uint64_t *left) {
  arch_mem mem = {walker_read, NULL, d, 0};
  arch_xlate x;
  if (!paging) {
    *pa = va;
    *left = PAGE - va % PAGE;
    return 0;
  }
  if (arch_translate(ctx, &mem, va, &x) != 0) {
    if (x.nlevels > 0) {
      const arch_level *l = &x.lv[x.nlevels - 1];
      snprintf(d->err, sizeof(d->err), "0x%llx not mapped: %s[0x%x] at 0x%llx = 0x%llx (%s)",
               (unsigned long long)va, l->name, l->index, (unsigned long long)l->entry_pa,
               (unsigned long long)l->raw, arch_stop_str(x.stop));
    } else {
      snprintf(d->err, sizeof(d->err), "0x%llx not mapped (%s)", (unsigned long long)va,
               arch_stop_str(x.stop));
    }
    return -STUB_EFAULT;
  }
  *pa = x.pa;
  *left = x.page_size - (x.pa - x.page_pa);
  return 0;
}

static int virt_begin(dump_t *d, arch_ctx *ctx, int *paging) {
  int rc;
  if (file_check(d) < 0)
    return -STUB_EIO;
  rc = dump_xlate_ctx(d, ctx);
  if (rc == DUMP_NOPAGING) {
    *paging = 0;
    return 0;
  }
  if (rc < 0)
    return -STUB_EIO;
  *paging = 1;
  return 0;
}

int dump_virt_read(dump_t *d, uint64_t va, void *buf, size_t len) {
  arch_ctx ctx;
  int paging, rc = virt_begin(d, &ctx, &paging);
  size_t done = 0;
  if (rc < 0)
    return rc;
  if (len > INT32_MAX)
    len = INT32_MAX;
  while (done < len) {
    uint64_t pa, left;
    size_t n;
    rc = xlate(d, &ctx, paging, va + done, &pa, &left);
    if (rc < 0)
      break;
    n = len - done < left ? len - done : (size_t)left;
    rc = phys_read(d, pa, (uint8_t *)buf + done, n);
    if (rc < 0)
      break;
    done += (size_t)rc;
    if ((size_t)rc < n)
      break;
  }
  return done ? (int)done : rc;
}

int dump_virt_write(dump_t *d, uint64_t va, const void *buf, size_t len) {
  arch_ctx ctx;
  int paging, rc = virt_begin(d, &ctx, &paging);
  size_t done = 0;
  if (rc < 0)
    return rc;
  /* Translate the whole range before writing any of it. */
  while (done < len) {
    uint64_t pa, left;
    rc = xlate(d, &ctx, paging, va + done, &pa, &left);
    if (rc < 0)
      return rc;
    done += len - done < left ? len - done : (size_t)left;
  }
  for (done = 0; done < len;) {
    uint64_t pa = 0, left = 0;
    size_t n;
    rc = xlate(d, &ctx, paging, va + done, &pa, &left);
    if (rc < 0 || left == 0)
      return rc < 0 ? rc : -1;
    n = len - done < left ? len - done : (size_t)left;
    rc = phys_write(d, pa, (const uint8_t *)buf + done, n);
    if (rc < 0)
      return rc;
    done += n;
  }
  return 0;
}
