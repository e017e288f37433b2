#!/bin/sh
# Installs everything the build, the tests and the demo need on Debian 12.
# Idempotent: apt-get install of installed packages changes nothing.
set -eu
# file: CPack's DEB generator runs it to find the binaries for dpkg-shlibdeps.
PKGS="build-essential cmake pkg-config git python3 clang lld libclang-rt-14-dev clang-format
      libuv1-dev libexpat1-dev libcmocka-dev
      qemu-system-x86 qemu-system-arm qemu-system-misc gdb gdb-multiarch lldb
      libhttp-parser-dev chromium chromium-driver python3-selenium
      python3-pip
      file"
SUDO=
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $PKGS
