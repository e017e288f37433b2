/* hello_stub.c - built against an installed rspstub-core by
 * packaging/test-install.sh (cc hello_stub.c $(pkg-config --cflags --libs
 * rspstub-core)): a target with 16 bytes of memory at 0x1000, one "m"
 * request framed with rsp_encode(), and the reply checked. */
#include <stdio.h>
#include <string.h>

#include <stub.h>

static const uint8_t ram[16] = {0xde, 0xad, 0xbe, 0xef};
static char out[256];
static size_t out_len;

static int mem_read(void *ctx, uint64_t addr, void *buf, size_t len) {
  (void)ctx;
  if (addr < 0x1000 || addr - 0x1000 + len > sizeof(ram))
    return -STUB_EFAULT;
  memcpy(buf, ram + (addr - 0x1000), len);
  return (int)len;
}

static int tr_write(void *ctx, const void *buf, size_t len) {
  (void)ctx;
  if (out_len + len > sizeof(out))
    return STUB_EFATAL;
  memcpy(out + out_len, buf, len);
  out_len += len;
  return 0;
}

int main(void) {
  static const stub_mem_ops mem = {mem_read, NULL};
  static const stub_transport_ops tr = {tr_write};
  static char area[STUB_MEM_SIZE(STUB_MIN_PACKET)];
  stub_target t;
  stub_core core;
  char frame[64], want[64];
  memset(&t, 0, sizeof(t));
  t.arch = &stub_arch_x86_64;
  t.mem = &mem;
  if (stub_init(&core, &t, &tr, NULL, area, sizeof(area)) != 0) {
    fprintf(stderr, "hello_stub: stub_init failed\n");
    return 1;
  }
  int n = rsp_encode(frame, sizeof(frame), "m1000,4", 7, 0);
  int w = rsp_encode(want + 1, sizeof(want) - 1, "deadbeef", 8, 0);
  if (n < 0 || w < 0 || stub_feed(&core, frame, (size_t)n) != n) {
    fprintf(stderr, "hello_stub: encode or feed failed\n");
    return 1;
  }
  want[0] = '+'; /* the ack, then the reply */
  if (out_len != (size_t)w + 1 || memcmp(out, want, out_len) != 0) {
    fprintf(stderr, "hello_stub: unexpected reply '%.*s'\n", (int)out_len, out);
    return 1;
  }
  printf("hello_stub: %.*s\n", (int)out_len, out);
  return 0;
}
