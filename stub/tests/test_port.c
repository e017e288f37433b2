/* test_port.c - the bare-metal port loop over a fake UART on the host.
 *
 * The "RAM" is a host buffer whose address range is given to the port, so
 * the port's direct memory access works unchanged; the UART is a queue of
 * input bytes and a log of output bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "port.h"

typedef struct {
  char in[4096];
  size_t in_len, in_pos;
  char out[16384];
  size_t out_len;
  int idle; /* getc calls with nothing to read */
} fake_uart;

static fake_uart uart;
static uint8_t ram[4096];
static stub_port port;
static int step_state = -1;

static int fake_getc(void *ctx) {
  (void)ctx;
  if (uart.in_pos < uart.in_len)
    return (unsigned char)uart.in[uart.in_pos++];
  if (++uart.idle > 1000)
    fail_msg("the port waits for input the test did not queue");
  return -1;
}

static void fake_putc(void *ctx, int c) {
  (void)ctx;
  assert_true(uart.out_len < sizeof(uart.out));
  uart.out[uart.out_len++] = (char)c;
}

static const stub_uart_ops fake_ops = {fake_getc, fake_putc};

static int hw_calls;

static int hw_break(void *ctx, uint64_t addr, int insert) {
  (void)ctx;
  if (addr == 0xdead)
    return -STUB_ENOSPC;
  hw_calls += insert ? 1 : 100;
  return 0;
}

static void set_step(void *ctx, int on) {
  (void)ctx;
  step_state = on;
}

static void queue(const char *body) {
  unsigned sum = 0;
  size_t i, n = strlen(body);
  for (i = 0; i < n; i++)
    sum += (unsigned char)body[i];
  uart.in_len += (size_t)snprintf(uart.in + uart.in_len, sizeof(uart.in) - uart.in_len, "$%s#%02x",
                                  body, sum & 0xff);
}

static void queue_raw(const char *raw) {
  size_t n = strlen(raw);
  memcpy(uart.in + uart.in_len, raw, n);
  uart.in_len += n;
}

/* The output so far as text (acks and frames), then cleared. */
static const char *output(void) {
  static char copy[sizeof(uart.out) + 1];
  memcpy(copy, uart.out, uart.out_len);
  copy[uart.out_len] = '\0';
  uart.out_len = 0;
  return copy;
}

/* "+$body#xx" for each body, then "+": what the port answers in ack mode to
 * requests ending with a c or s. */
static const char *expect(int n, ...) {
  static char out[1024];
  size_t len = 0;
  va_list ap;
  va_start(ap, n);
  while (n--) {
    const char *b = va_arg(ap, const char *);
    unsigned sum = 0;
    size_t i;
    for (i = 0; b[i]; i++)
      sum += (unsigned char)b[i];
    len += (size_t)snprintf(out + len, sizeof(out) - len, "+$%s#%02x", b, sum & 0xff);
  }
  va_end(ap);
  /* The ack of the final c or s, which has no reply. */
  snprintf(out + len, sizeof(out) - len, "+");
  return out;
}

static int setup(void **state) {
  stub_port_range r = {(uint64_t)(uintptr_t)ram, (uint64_t)(uintptr_t)ram + sizeof(ram) - 1};
  stub_port_hooks hooks = {NULL, set_step, NULL, NULL};
  (void)state;
  memset(&uart, 0, sizeof(uart));
  for (size_t i = 0; i < sizeof(ram); i++)
    ram[i] = (uint8_t)i;
  step_state = -1;
  assert_int_equal(stub_port_init(&port, &stub_arch_x86_64, &fake_ops, NULL, &r, 1, &hooks), 0);
  return 0;
}

static void test_enter_serves_until_continue(void **state) {
  char body[64];
  (void)state;
  queue("?");
  snprintf(body, sizeof(body), "m%llx,4", (unsigned long long)(uintptr_t)(ram + 0x10));
  queue(body);
  queue("c");
  assert_int_equal(stub_port_enter(&port, 5), 0);
  assert_string_equal(output(), expect(2, "T05thread:1;", "10111213"));
  assert_true(port.core.running);
  assert_int_equal(step_state, 0);

  /* The next stop is reported at once, because the debugger waits. */
  queue("s");
  assert_int_equal(stub_port_enter(&port, 5), 0);
  assert_string_equal(output(), expect(1, "T05thread:1;") + 1);
  assert_int_equal(step_state, 1);
}

static void test_memory_outside_ram_fails(void **state) {
  (void)state;
  queue("m0,4");
  queue("M0,1:00");
  queue("c");
  assert_int_equal(stub_port_enter(&port, 5), 0);
  assert_string_equal(output(), expect(2, "E0e", "E0e"));
}

static void test_breakpoint_planted_in_ram(void **state) {
  char body[64];
  uint64_t a = (uint64_t)(uintptr_t)(ram + 0x100);
  (void)state;
  snprintf(body, sizeof(body), "Z0,%llx,1", (unsigned long long)a);
  queue(body);
  queue("c");
  assert_int_equal(stub_port_enter(&port, 5), 0);
  assert_int_equal(ram[0x100], 0xcc);
  snprintf(body, sizeof(body), "z0,%llx,1", (unsigned long long)a);
  queue(body);
  queue("D");
  assert_int_equal(stub_port_enter(&port, 5), STUB_ECLOSED);
  assert_int_equal(ram[0x100], 0x00);
  assert_false(port.core.running);
}

static void test_poll(void **state) {
  (void)state;
  /* Nothing to read. */
  uart.idle = -100000;
  assert_int_equal(stub_port_poll(&port), 0);
  /* Ctrl-C. */
  queue_raw("\x03");
  assert_int_equal(stub_port_poll(&port), 1);
  /* A debugger starting a packet at a target the core thinks is stopped
   * (nobody resumed it through the stub): stop it and read the rest in
   * enter(). */
  queue("?");
  assert_int_equal(stub_port_poll(&port), 1);
  queue("c");
  assert_int_equal(stub_port_enter(&port, 2), 0);
  assert_string_equal(output(), expect(1, "T02thread:1;"));
  /* While resumed, a late ack is only consumed. */
  queue_raw("+");
  assert_int_equal(stub_port_poll(&port), 0);
}

static void test_hw_breakpoints(void **state) {
  stub_port_range r = {(uint64_t)(uintptr_t)ram, (uint64_t)(uintptr_t)ram + sizeof(ram) - 1};
  stub_port_hooks hooks = {NULL, NULL, hw_break, NULL};
  (void)state;
  hw_calls = 0;
  assert_int_equal(stub_port_init(&port, &stub_arch_x86_64, &fake_ops, NULL, &r, 1, &hooks), 0);
  queue("Z1,1000,1");
  queue("z1,1000,1");
  queue("Z1,dead,1");
  queue("c");
  assert_int_equal(stub_port_enter(&port, 5), 0);
  assert_string_equal(output(), expect(3, "OK", "OK", "E1c"));
  assert_int_equal(hw_calls, 101);
}

static void test_init_checks(void **state) {
  stub_port_range r[STUB_PORT_MAX_RANGES + 1];
  (void)state;
  memset(r, 0, sizeof(r));
  assert_int_equal(
      stub_port_init(&port, &stub_arch_x86_64, &fake_ops, NULL, r, STUB_PORT_MAX_RANGES + 1, NULL),
      RSP_EINVAL);
  assert_int_equal(stub_port_init(&port, NULL, &fake_ops, NULL, r, 1, NULL), RSP_EINVAL);
  /* Without a step hook there is no 's'. */
  assert_int_equal(stub_port_init(&port, &stub_arch_riscv64, &fake_ops, NULL, r, 1, NULL), 0);
  queue("vCont?");
  queue("c");
  assert_int_equal(stub_port_enter(&port, 5), 0);
  assert_non_null(strstr(output(), "$vCont;c;C;t#"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_enter_serves_until_continue, setup),
      cmocka_unit_test_setup(test_memory_outside_ram_fails, setup),
      cmocka_unit_test_setup(test_breakpoint_planted_in_ram, setup),
      cmocka_unit_test_setup(test_poll, setup),
      cmocka_unit_test_setup(test_hw_breakpoints, setup),
      cmocka_unit_test_setup(test_init_checks, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
