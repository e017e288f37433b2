/* test_dump.c - rspstub's dump layer on synthetic dumps.
 *
 * Each test writes a small ELF core in QEMU's layout (PT_LOAD segments by
 * physical address, a CORE/NT_PRSTATUS note and a QEMU note with
 * QEMUCPUState) holding x86-64 4-level page tables, then checks physical
 * and virtual reads, the copy-on-write overlay (the file never changes),
 * write-through, and register files.
 */
#define _DEFAULT_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <elf.h>

#include "dump.h"

#define SEG0_SIZE 0x10000u
#define SEG1_PA   0x100000u
#define SEG1_MEM  0x2000u
#define SEG1_FILE 0x1000u

typedef struct {
  char path[64];
  char regpath[64];
  dump_t d;
} fx;

static void put64(uint8_t *p, uint64_t v) {
  memcpy(p, &v, 8);
}

static size_t note(uint8_t *out, const char *name, uint32_t type, const void *desc,
                   uint32_t descsz) {
  uint32_t namesz = (uint32_t)strlen(name) + 1;
  size_t pos = 12;
  memcpy(out, &namesz, 4);
  memcpy(out + 4, &descsz, 4);
  memcpy(out + 8, &type, 4);
  memcpy(out + pos, name, namesz);
  pos += (namesz + 3u) & ~3u;
  memcpy(out + pos, desc, descsz);
  pos += (descsz + 3u) & ~3u;
  return pos;
}

/* Physical memory of segment 0: a byte pattern and page tables mapping
 * VA 0x400000 -> PA 0x8000 and VA 0x401000 -> PA 0x100000. */
static void fill_seg0(uint8_t *m) {
  size_t i;
  for (i = 0; i < SEG0_SIZE; i++)
    m[i] = (uint8_t)(i ^ (i >> 8));
  memset(m + 0x1000, 0, 0x4000);
  put64(m + 0x1000, 0x2000 | 3);         /* PML4[0] */
  put64(m + 0x2000, 0x3000 | 3);         /* PDPT[0] */
  put64(m + 0x3000 + 2 * 8, 0x4000 | 3); /* PD[2]: 0x400000 */
  put64(m + 0x4000, 0x8000 | 3);         /* PT[0] */
  put64(m + 0x4000 + 8, SEG1_PA | 3);    /* PT[1] */
}

static void write_core_machine(const char *path, int with_qemu_note, int machine);
static int two_cpus; /* write_core_machine: a second CPU with rip/pc 0x500000 */

static void write_core(const char *path, int with_qemu_note) {
  write_core_machine(path, with_qemu_note, EM_X86_64);
}

static void write_core_machine(const char *path, int with_qemu_note, int machine) {
  uint8_t notes[2048], prs[112 + 34 * 8 + 16], qs[440];
  uint8_t *seg0 = malloc(SEG0_SIZE), seg1[SEG1_FILE];
  size_t nlen = 0;
  Elf64_Ehdr eh;
  Elf64_Phdr ph[3];
  FILE *f;
  uint32_t v;
  assert_non_null(seg0);
  fill_seg0(seg0);
  memset(seg1, 0x5a, sizeof(seg1));

  memset(prs, 0, sizeof(prs));
  put64(prs + 112 + 16 * 8, 0x1111); /* rip */
  put64(prs + 112 + 10 * 8, 0xaaaa); /* rax */
  nlen += note(notes + nlen, "CORE", NT_PRSTATUS, prs, sizeof(prs));
  if (with_qemu_note) {
    memset(qs, 0, sizeof(qs));
    v = 1;
    memcpy(qs, &v, 4);
    v = sizeof(qs);
    memcpy(qs + 4, &v, 4);
    put64(qs + 8, 0xa0a0);            /* rax */
    put64(qs + 8 + 8 * 6, 0x7ff0);    /* rsp */
    put64(qs + 8 + 8 * 16, 0x400123); /* rip */
    put64(qs + 8 + 8 * 17, 0x246);    /* rflags */
    v = 0x10;
    memcpy(qs + 152, &v, 4);             /* cs selector */
    put64(qs + 152 + 24 * 3 + 16, 0xf5); /* fs base */
    put64(qs + 392, 0x80000011);         /* cr0: PG ET PE */
    put64(qs + 392 + 24, 0x1000);        /* cr3 */
    put64(qs + 392 + 32, 0x20);          /* cr4: PAE */
    put64(qs + 432, 0x6b6b);             /* kernel_gs_base */
    nlen += note(notes + nlen, "QEMU", 0, qs, sizeof(qs));
  }
  if (two_cpus) {
    put64(prs + 112 + 16 * 8, 0x500000);
    nlen += note(notes + nlen, "CORE", NT_PRSTATUS, prs, sizeof(prs));
    if (with_qemu_note) {
      put64(qs + 8 + 8 * 16, 0x500000);
      put64(qs + 392 + 24, 0x2000); /* another cr3 */
      nlen += note(notes + nlen, "QEMU", 0, qs, sizeof(qs));
    }
  }

  memset(&eh, 0, sizeof(eh));
  memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_CORE;
  eh.e_machine = (Elf64_Half)machine;
  eh.e_version = EV_CURRENT;
  eh.e_phoff = sizeof(eh);
  eh.e_ehsize = sizeof(eh);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = 3;
  memset(ph, 0, sizeof(ph));
  ph[0].p_type = PT_NOTE;
  ph[0].p_offset = sizeof(eh) + sizeof(ph);
  ph[0].p_filesz = nlen;
  ph[1].p_type = PT_LOAD;
  ph[1].p_offset = 0x1000;
  ph[1].p_paddr = 0;
  ph[1].p_filesz = ph[1].p_memsz = SEG0_SIZE;
  ph[2].p_type = PT_LOAD;
  ph[2].p_offset = 0x1000 + SEG0_SIZE;
  ph[2].p_paddr = SEG1_PA;
  ph[2].p_filesz = SEG1_FILE;
  ph[2].p_memsz = SEG1_MEM;

  f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(&eh, sizeof(eh), 1, f), 1);
  assert_int_equal(fwrite(ph, sizeof(ph), 1, f), 1);
  assert_int_equal(fwrite(notes, nlen, 1, f), 1);
  assert_int_equal(fseek(f, 0x1000, SEEK_SET), 0);
  assert_int_equal(fwrite(seg0, SEG0_SIZE, 1, f), 1);
  assert_int_equal(fwrite(seg1, sizeof(seg1), 1, f), 1);
  fclose(f);
  free(seg0);
}

static int file_byte(const char *path, long off) {
  FILE *f = fopen(path, "rb");
  int c;
  assert_non_null(f);
  assert_int_equal(fseek(f, off, SEEK_SET), 0);
  c = fgetc(f);
  fclose(f);
  return c;
}

static int setup(void **state) {
  fx *f = calloc(1, sizeof(*f));
  int fd;
  assert_non_null(f);
  strcpy(f->path, "/tmp/stub_dump_XXXXXX");
  fd = mkstemp(f->path);
  assert_true(fd >= 0);
  close(fd);
  strcpy(f->regpath, "/tmp/stub_regs_XXXXXX");
  fd = mkstemp(f->regpath);
  assert_true(fd >= 0);
  close(fd);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  dump_close(&f->d);
  unlink(f->path);
  unlink(f->regpath);
  free(f);
  return 0;
}

static uint64_t reg(dump_t *d, const char *name) {
  uint64_t v = 0;
  assert_int_equal(dump_reg_get(d, name, &v), 0);
  return v;
}

static void test_elf_registers(void **state) {
  fx *f = *state;
  uint8_t buf[16];
  write_core(f->path, 1);
  assert_int_equal(dump_open_elf(&f->d, f->path, 0, 0, NULL), 0);
  assert_ptr_equal(f->d.arch, &stub_arch_x86_64);
  assert_int_equal(f->d.nsegs, 2);
  assert_int_equal(f->d.ncpus, 1);
  /* The QEMU note wins over prstatus. */
  assert_int_equal(reg(&f->d, "rax"), 0xa0a0);
  assert_int_equal(reg(&f->d, "rip"), 0x400123);
  assert_int_equal(reg(&f->d, "rsp"), 0x7ff0);
  assert_int_equal(reg(&f->d, "eflags"), 0x246);
  assert_int_equal(reg(&f->d, "cs"), 0x10);
  assert_int_equal(reg(&f->d, "fs_base"), 0xf5);
  assert_int_equal(reg(&f->d, "cr3"), 0x1000);
  assert_int_equal(reg(&f->d, "k_gs_base"), 0x6b6b);
  /* EFER inferred: EM_X86_64 means long mode, PAE means NXE. */
  assert_int_equal(reg(&f->d, "efer"), 0xd00);
  assert_true(f->d.efer_inferred);
  /* x87 state is not in the dump: unavailable, not zero. */
  assert_int_equal(dump_reg_read(&f->d, (unsigned)stub_arch_find_reg(f->d.arch, "st0"), buf, 10),
                   STUB_EUNAVAIL);
  assert_int_equal(dump_set_reg(&f->d, "efer=d01"), 0);
  assert_false(f->d.efer_inferred);
  assert_int_equal(dump_set_reg(&f->d, "nosuch=1"), -1);
  assert_non_null(strstr(f->d.err, "nosuch"));
  assert_int_equal(dump_set_reg(&f->d, "rax=zz"), -1);
  dump_close(&f->d);
  assert_int_equal(dump_open_elf(&f->d, f->path, 0, 3, NULL), -1);
  assert_non_null(strstr(f->d.err, "no CPU 3"));
}

static void test_elf_prstatus_only(void **state) {
  fx *f = *state;
  uint8_t buf[4];
  write_core(f->path, 0);
  assert_int_equal(dump_open_elf(&f->d, f->path, 0, 0, NULL), 0);
  assert_int_equal(reg(&f->d, "rip"), 0x1111);
  assert_int_equal(reg(&f->d, "rax"), 0xaaaa);
  assert_int_equal(dump_reg_get(&f->d, "cr3", &(uint64_t){0}), -1);
  /* Without control registers a virtual read fails: it must not pass
   * for physical. */
  assert_int_equal(dump_virt_read(&f->d, 0x9000, buf, 4), -STUB_EIO);
  assert_non_null(strstr(f->d.err, "control registers"));
}

/* CPUs of an SMP dump: each has its own registers; --reg assignments
 * apply to every CPU, register writes only to the current one. */
static void test_select_cpu(void **state) {
  fx *f = *state;
  two_cpus = 1;
  write_core(f->path, 1);
  two_cpus = 0;
  assert_int_equal(dump_open_elf(&f->d, f->path, 0, 0, NULL), 0);
  assert_int_equal(f->d.ncpus, 2);
  assert_int_equal(dump_set_reg(&f->d, "r15=77"), 0);
  assert_int_equal(reg(&f->d, "rip"), 0x400123);
  assert_int_equal(dump_select_cpu(&f->d, 1), 0);
  assert_int_equal(reg(&f->d, "rip"), 0x500000);
  assert_int_equal(reg(&f->d, "cr3"), 0x2000);
  assert_int_equal(reg(&f->d, "r15"), 0x77);
  assert_int_equal(reg(&f->d, "efer"), 0xd00);
  assert_int_equal(dump_select_cpu(&f->d, 2), -1);
  assert_non_null(strstr(f->d.err, "no CPU 2"));
  assert_int_equal(dump_select_cpu(&f->d, 0), 0);
  assert_int_equal(reg(&f->d, "rip"), 0x400123);
  assert_int_equal(reg(&f->d, "cr3"), 0x1000);
  assert_int_equal(reg(&f->d, "r15"), 0x77);
  dump_close(&f->d);
  assert_int_equal(dump_open_elf(&f->d, f->path, 0, 1, NULL), 0);
  assert_int_equal(reg(&f->d, "rip"), 0x500000);
}

/* A dump of qemu-system-i386 (EM_386) served with 32-bit registers. */
static void test_i386_registers(void **state) {
  fx *f = *state;
  write_core_machine(f->path, 1, EM_386);
  assert_int_equal(dump_open_elf(&f->d, f->path, 0, 0, NULL), 0);
  assert_ptr_equal(f->d.arch, &stub_arch_x86_64); /* the default: QEMU's x86-64 view */
  dump_close(&f->d);
  assert_int_equal(dump_open_elf(&f->d, f->path, 0, 0, &stub_arch_i386), 0);
  assert_ptr_equal(f->d.arch, &stub_arch_i386);
  assert_int_equal(reg(&f->d, "eip"), 0x400123);
  assert_int_equal(reg(&f->d, "eax"), 0xa0a0);
  assert_int_equal(reg(&f->d, "esp"), 0x7ff0);
  assert_int_equal(reg(&f->d, "cr3"), 0x1000);
  assert_int_equal(reg(&f->d, "efer"), 0x800); /* no long mode; NXE with PAE */
  assert_int_equal(stub_arch_find_reg(&stub_arch_i386, "eip"), stub_arch_i386.pc_regno);
  dump_close(&f->d);
  assert_int_equal(dump_open_elf(&f->d, f->path, 0, 0, &stub_arch_aarch64), -1);
  assert_non_null(strstr(f->d.err, "does not match"));
}

/* RISC-V: prstatus is pc then x1..x31; the walk needs satp from --reg. */
static void test_riscv_prstatus(void **state) {
  fx *f = *state;
  uint8_t buf[4];
  write_core_machine(f->path, 0, EM_RISCV);
  assert_int_equal(dump_open_elf(&f->d, f->path, 0, 0, NULL), 0);
  assert_ptr_equal(f->d.arch, &stub_arch_riscv64);
  /* The x86 prstatus the fixture writes puts 0x1111 in word 16 and 0xaaaa
   * in word 10: for RISC-V those are pc + x16 (a6) and x10 (a0). */
  assert_int_equal(reg(&f->d, "a6"), 0x1111);
  assert_int_equal(reg(&f->d, "a0"), 0xaaaa);
  assert_int_equal(reg(&f->d, "pc"), 0);
  assert_int_equal(dump_virt_read(&f->d, 0x9000, buf, 4), -STUB_EIO);
  assert_non_null(strstr(f->d.err, "satp"));
  /* satp.MODE = Bare: virtual is physical. */
  assert_int_equal(dump_set_reg(&f->d, "satp=0"), 0);
  assert_int_equal(dump_virt_read(&f->d, 0x9000, buf, 4), 4);
}

static void test_phys(void **state) {
  fx *f = *state;
  uint8_t buf[0x40], want[0x40];
  size_t i;
  write_core(f->path, 1);
  assert_int_equal(dump_open_elf(&f->d, f->path, 0, 0, NULL), 0);
  assert_int_equal(dump_phys_read(&f->d, 0x9000, buf, 0x20), 0x20);
  for (i = 0; i < 0x20; i++)
    want[i] = (uint8_t)((0x9000 + i) ^ ((0x9000 + i) >> 8));
  assert_memory_equal(buf, want, 0x20);
  /* p_memsz beyond p_filesz reads as zeros. */
  assert_int_equal(dump_phys_read(&f->d, SEG1_PA + SEG1_FILE - 0x10, buf, 0x20), 0x20);
  for (i = 0; i < 0x10; i++)
    assert_int_equal(buf[i], 0x5a);
  for (i = 0x10; i < 0x20; i++)
    assert_int_equal(buf[i], 0);
  /* A hole: short read at its edge, an error inside it. */
  assert_int_equal(dump_phys_read(&f->d, SEG0_SIZE - 0x10, buf, 0x40), 0x10);
  assert_int_equal(dump_phys_read(&f->d, 0x20000, buf, 4), -STUB_EFAULT);
  assert_non_null(strstr(f->d.err, "0x20000"));
}

static void test_virt(void **state) {
  fx *f = *state;
  uint8_t buf[0x20], ph[0x20];
  arch_ctx ctx;
  write_core(f->path, 1);
  assert_int_equal(dump_open_elf(&f->d, f->path, 0, 0, NULL), 0);
  assert_int_equal(dump_xlate_ctx(&f->d, &ctx), 0);
  assert_int_equal(ctx.mode, ARCH_X86_64_4L);
  assert_int_equal(dump_virt_read(&f->d, 0x400010, buf, 0x10), 0x10);
  assert_int_equal(dump_phys_read(&f->d, 0x8010, ph, 0x10), 0x10);
  assert_memory_equal(buf, ph, 0x10);
  /* Across a page boundary into the second segment. */
  assert_int_equal(dump_virt_read(&f->d, 0x400ff8, buf, 0x10), 0x10);
  assert_int_equal(dump_phys_read(&f->d, 0x8ff8, ph, 8), 8);
  assert_memory_equal(buf, ph, 8);
  assert_int_equal(buf[8], 0x5a);
  /* Unmapped: the walk says where it stopped. */
  assert_int_equal(dump_virt_read(&f->d, 0x402000, buf, 4), -STUB_EFAULT);
  assert_non_null(strstr(f->d.err, "not mapped"));
  assert_non_null(strstr(f->d.err, "PTE"));
  /* A short read stops at the unmapped page. */
  assert_int_equal(dump_virt_read(&f->d, 0x401ff0, buf, 0x20), 0x10);
  /* Paging off: virtual is physical. */
  assert_int_equal(dump_set_reg(&f->d, "cr0=11"), 0);
  assert_int_equal(dump_xlate_ctx(&f->d, &ctx), DUMP_NOPAGING);
  assert_int_equal(dump_virt_read(&f->d, 0x9000, buf, 4), 4);
  assert_int_equal(dump_phys_read(&f->d, 0x9000, ph, 4), 4);
  assert_memory_equal(buf, ph, 4);
}

static void test_overlay_never_touches_file(void **state) {
  fx *f = *state;
  uint8_t buf[8];
  int before;
  write_core(f->path, 1);
  before = file_byte(f->path, 0x1000 + 0x8000);
  assert_int_equal(dump_open_elf(&f->d, f->path, 0, 0, NULL), 0);
  assert_int_equal(dump_virt_write(&f->d, 0x400000, "hello", 5), 0);
  assert_int_equal(dump_phys_read(&f->d, 0x8000, buf, 5), 5);
  assert_memory_equal(buf, "hello", 5);
  assert_int_equal(dump_virt_read(&f->d, 0x400000, buf, 5), 5);
  assert_memory_equal(buf, "hello", 5);
  assert_int_equal(file_byte(f->path, 0x1000 + 0x8000), before);
  assert_int_equal(f->d.npages, 1);
  /* The rest of the overlay page still holds the dump's bytes. */
  assert_int_equal(dump_phys_read(&f->d, 0x8005, buf, 1), 1);
  assert_int_equal(buf[0], (uint8_t)(0x8005 ^ 0x80));
  /* The zero tail of a segment can be written in the overlay... */
  assert_int_equal(dump_phys_write(&f->d, SEG1_PA + SEG1_FILE + 4, "z", 1), 0);
  /* ...but nothing outside the dump's RAM. */
  assert_int_equal(dump_phys_write(&f->d, 0x30000, "z", 1), -STUB_EFAULT);
  /* Unmapped virtual writes change nothing, even partly. */
  assert_int_equal(dump_virt_write(&f->d, 0x401ffe, "abcd", 4), -STUB_EFAULT);
  assert_int_equal(dump_phys_read(&f->d, SEG1_PA + 0xffe, buf, 2), 2);
  assert_int_equal(buf[0], 0x5a);
  assert_int_equal(buf[1], 0x5a);
}

static void test_write_through(void **state) {
  fx *f = *state;
  uint8_t buf[2];
  write_core(f->path, 1);
  assert_int_equal(dump_open_elf(&f->d, f->path, 1, 0, NULL), 0);
  assert_int_equal(dump_phys_write(&f->d, 0x8000, "W", 1), 0);
  assert_int_equal(f->d.npages, 0);
  dump_close(&f->d);
  assert_int_equal(file_byte(f->path, 0x1000 + 0x8000), 'W');
  assert_int_equal(dump_open_elf(&f->d, f->path, 1, 0, NULL), 0);
  /* Its own writes are not taken for the file changing under it. */
  assert_int_equal(dump_phys_write(&f->d, 0x8001, "X", 1), 0);
  assert_int_equal(dump_phys_read(&f->d, 0x8000, buf, 2), 2);
  assert_memory_equal(buf, "WX", 2);
  /* Bytes the file does not store cannot be written through. */
  assert_int_equal(dump_phys_write(&f->d, SEG1_PA + SEG1_FILE + 4, "z", 1), -STUB_EFAULT);
  assert_non_null(strstr(f->d.err, "write-through"));
}

static void test_raw_and_regfile(void **state) {
  fx *f = *state;
  uint8_t *img = malloc(SEG0_SIZE), buf[4];
  FILE *r;
  arch_ctx ctx;
  assert_non_null(img);
  fill_seg0(img);
  r = fopen(f->path, "wb");
  assert_non_null(r);
  assert_int_equal(fwrite(img, SEG0_SIZE, 1, r), 1);
  fclose(r);
  r = fopen(f->regpath, "w");
  assert_non_null(r);
  fputs("# registers of the test image\ncr0 80000011\ncr3=0x1000\n  cr4 20 # PAE\n"
        "efer d00\nrip 400000\n\n",
        r);
  fclose(r);
  assert_int_equal(dump_open_raw(&f->d, f->path, 0, &stub_arch_x86_64, 0), 0);
  assert_int_equal(dump_load_regfile(&f->d, f->regpath), 0);
  assert_int_equal(reg(&f->d, "cr3"), 0x1000);
  assert_int_equal(reg(&f->d, "rip"), 0x400000);
  assert_int_equal(dump_xlate_ctx(&f->d, &ctx), 0);
  assert_int_equal(dump_virt_read(&f->d, 0x400004, buf, 4), 4);
  assert_memory_equal(buf, img + 0x8004, 4);
  r = fopen(f->regpath, "w");
  assert_non_null(r);
  fputs("cr3 1000\nbogus line here\n", r);
  fclose(r);
  assert_int_equal(dump_load_regfile(&f->d, f->regpath), -1);
  assert_non_null(strstr(f->d.err, ":2:"));
  free(img);
}

/* The dump shrinks while served, as when QEMU's dump-guest-memory is run
 * again to the same path (it truncates first): reads answer an error that
 * says so, where a mapping of the file raised SIGBUS and killed rspstub. */
static void test_file_shrinks(void **state) {
  fx *f = *state;
  uint8_t buf[16];
  uint64_t v;
  write_core(f->path, 1);
  assert_int_equal(dump_open_elf(&f->d, f->path, 0, 0, NULL), 0);
  assert_int_equal(dump_phys_read(&f->d, 0xf000, buf, 16), 16);
  assert_int_equal(dump_virt_write(&f->d, 0x400000, "ov", 2), 0); /* one overlay page */
  assert_int_equal(truncate(f->path, 0x1000 + 0x4000), 0);
  /* Beyond the new end, within it, virtually, and into the overlay page:
   * every memory access is refused, none mixes old and new. */
  assert_int_equal(dump_phys_read(&f->d, 0xf000, buf, 16), -STUB_EIO);
  assert_non_null(strstr(f->d.err, "changed while served"));
  assert_non_null(strstr(f->d.err, ", 20480 now")); /* 0x5000 bytes */
  assert_int_equal(dump_phys_read(&f->d, 0x100, buf, 16), -STUB_EIO);
  assert_int_equal(dump_virt_read(&f->d, 0x400010, buf, 16), -STUB_EIO);
  assert_int_equal(dump_virt_read(&f->d, 0x400000, buf, 2), -STUB_EIO);
  assert_int_equal(dump_phys_write(&f->d, 0x9000, "x", 1), -STUB_EIO);
  assert_int_equal(dump_virt_write(&f->d, 0x400000, "x", 1), -STUB_EIO);
  /* The registers were read when opening and stay. */
  assert_int_equal(dump_reg_get(&f->d, "rip", &v), 0);
  assert_int_equal(v, 0x400123);
  assert_int_equal(dump_select_cpu(&f->d, 0), 0);
  assert_int_equal(truncate(f->path, 0), 0);
  assert_int_equal(dump_phys_read(&f->d, 0x100, buf, 16), -STUB_EIO);
  assert_non_null(strstr(f->d.err, ", 0 now"));
}

/* Rewritten to the same size (a new dump of the same VM): refused too,
 * since the registers and segments came from the old one.  The kernel
 * stamps a write with a coarse clock, so the test moves the modification
 * time itself, as the seconds a real dump takes would. */
static void test_file_rewritten(void **state) {
  fx *f = *state;
  uint8_t buf[16];
  struct timespec later[2] = {{0, UTIME_OMIT}, {0, 0}};
  struct stat st;
  write_core(f->path, 1);
  assert_int_equal(dump_open_elf(&f->d, f->path, 0, 0, NULL), 0);
  assert_int_equal(dump_phys_read(&f->d, 0x100, buf, 16), 16);
  write_core(f->path, 0);
  assert_int_equal(stat(f->path, &st), 0);
  later[1].tv_sec = st.st_mtim.tv_sec + 5;
  assert_int_equal(utimensat(AT_FDCWD, f->path, later, 0), 0);
  assert_int_equal(dump_phys_read(&f->d, 0x100, buf, 16), -STUB_EIO);
  assert_non_null(strstr(f->d.err, "changed while served"));
  assert_non_null(strstr(f->d.err, "monitor reopen"));
}

/* A FIFO or a device is refused at once (open() of a FIFO would block
 * until a writer came), with a message naming what it is. */
static void test_rejects_special_files(void **state) {
  fx *f = *state;
  unlink(f->path);
  assert_int_equal(mkfifo(f->path, 0600), 0);
  assert_int_equal(dump_open_elf(&f->d, f->path, 0, 0, NULL), -1);
  assert_non_null(strstr(f->d.err, "a FIFO"));
  assert_non_null(strstr(f->d.err, "regular file"));
  dump_close(&f->d);
  assert_int_equal(dump_open_raw(&f->d, f->path, 0, &stub_arch_x86_64, 1), -1);
  assert_non_null(strstr(f->d.err, "a FIFO"));
  dump_close(&f->d);
  assert_int_equal(dump_open_raw(&f->d, "/dev/zero", 0, &stub_arch_x86_64, 0), -1);
  assert_non_null(strstr(f->d.err, "a character device"));
  dump_close(&f->d);
  assert_int_equal(dump_open_elf(&f->d, "/tmp", 0, 0, NULL), -1);
  assert_non_null(strstr(f->d.err, "a directory"));
}

static void test_rejects_non_elf(void **state) {
  fx *f = *state;
  FILE *r = fopen(f->path, "wb");
  assert_non_null(r);
  fputs("this is not an ELF file at all, just text", r);
  fclose(r);
  assert_int_equal(dump_open_elf(&f->d, f->path, 0, 0, NULL), -1);
  assert_non_null(strstr(f->d.err, "not an ELF"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_elf_registers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_elf_prstatus_only, setup, teardown),
      cmocka_unit_test_setup_teardown(test_riscv_prstatus, setup, teardown),
      cmocka_unit_test_setup_teardown(test_i386_registers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_select_cpu, setup, teardown),
      cmocka_unit_test_setup_teardown(test_phys, setup, teardown),
      cmocka_unit_test_setup_teardown(test_virt, setup, teardown),
      cmocka_unit_test_setup_teardown(test_overlay_never_touches_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_through, setup, teardown),
      cmocka_unit_test_setup_teardown(test_raw_and_regfile, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rejects_non_elf, setup, teardown),
      cmocka_unit_test_setup_teardown(test_file_shrinks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_file_rewritten, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rejects_special_files, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
