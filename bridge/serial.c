/* serial.c - a target on a serial line: the device opened raw, at the
 * baud rate asked for (serial:DEV[,BAUD]). */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include "br_int.h"

static speed_t baud_const(int b) {
  switch (b) {
  case 9600:
    return B9600;
  case 19200:
    return B19200;
  case 38400:
    return B38400;
  case 57600:
    return B57600;
  case 115200:
    return B115200;
  case 230400:
    return B230400;
  case 460800:
    return B460800;
  case 921600:
    return B921600;
  default:
    return 0;
  }
}

int br__open_serial(br_t *br) {
  const br_addr *a = &br->cfg.target;
  int fd = open(a->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  struct termios tio;
  if (tcgetattr(fd, &tio) == 0) {
    cfmakeraw(&tio);
    tio.c_cflag |= CLOCAL | CREAD;
    tio.c_cc[VMIN] = 1;
    tio.c_cc[VTIME] = 0;
    if (a->baud) {
      speed_t sp = baud_const(a->baud);
      if (!sp) {
        close(fd);
        br__log(br, 0, "serial: unsupported baud rate %d", a->baud);
        return UV_EINVAL;
      }
      cfsetispeed(&tio, sp);
      cfsetospeed(&tio, sp);
    }
    tcsetattr(fd, TCSANOW, &tio);
  }
  return fd;
}
