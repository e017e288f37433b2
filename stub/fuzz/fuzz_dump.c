/* fuzz_dump.c - libFuzzer target for rspstub's dump parser.
 *
 * The input is a dump file: it is written to a private file, opened as a
 * QEMU ELF core, and every segment's edges and the code at the pc are
 * read, physically and virtually (through the page tables the input
 * holds), then written through the overlay, and read again after the
 * file was truncated.  A crafted dump must not crash the server. */
#define _DEFAULT_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dump.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char path[64];
  dump_t d;
  uint8_t buf[96];
  uint64_t pc;
  size_t i;
  int fd;
  if (!path[0])
    snprintf(path, sizeof(path), "/tmp/stub_fuzz_dump.%d", (int)getpid());
  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
    abort();
  close(fd);
  if (dump_open_elf(&d, path, 0, 0, NULL) == 0) {
    for (i = 0; i < d.nsegs && i < 8; i++) {
      dump_phys_read(&d, d.segs[i].pa, buf, sizeof(buf));
      dump_phys_read(&d, d.segs[i].pa + d.segs[i].size - 8, buf, sizeof(buf));
    }
    if (dump_reg_get(&d, d.arch == &stub_arch_x86_64 ? "rip" : "pc", &pc) == 0) {
      dump_virt_read(&d, pc, buf, sizeof(buf));
      dump_virt_write(&d, pc, "\xcc", 1);
      dump_virt_read(&d, pc, buf, 1);
    }
    /* The file shrinks while served (dump-guest-memory run again to the
     * same path): every read must fail cleanly. */
    if (size > 0 && truncate(path, (off_t)(size * data[size - 1] / 256)) == 0)
      for (i = 0; i < d.nsegs && i < 8; i++)
        dump_phys_read(&d, d.segs[i].pa, buf, sizeof(buf));
  }
  dump_close(&d);
  unlink(path);
  return 0;
}
