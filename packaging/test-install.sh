#!/bin/sh
# CTest install_tree (label install): installs the build tree with
# cmake --install into a temporary prefix, checks the files a user expects,
# builds packaging/hello_stub.c against the installed stub core with
# pkg-config and runs it, and runs the installed programs' --version.
#   test-install.sh BUILD_DIR CC VERSION
set -eu
build=$1 cc=$2 version=$3
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rsp-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log"
# libdir and mandir as GNUInstallDirs chose them for this tree
pc=$(find "$prefix" -name rspstub-core.pc)
for f in bin/rspbridge bin/rspstub share/man/man1/rspbridge.1.gz share/man/man1/rspstub.1.gz \
  share/doc/rspbridge/copyright share/doc/rspbridge/changelog.gz \
  include/rspstub/stub.h include/rspstub/rsp.h; do
  if [ ! -f "$prefix/$f" ]; then
    echo "test-install: $f was not installed" >&2
    cat "$tmp/install.log" >&2
    exit 1
  fi
done
if [ -f "$here/../gdb/rspbridge.py" ] && [ ! -f "$prefix/share/rspbridge/rspbridge.py" ]; then
  echo "test-install: gdb/rspbridge.py exists but was not installed (reconfigure?)" >&2
  exit 1
fi
if [ -z "$pc" ]; then
  echo "test-install: rspstub-core.pc was not installed" >&2
  exit 1
fi
if ! grep -qx "prefix=$prefix" "$pc"; then
  echo "test-install: $pc does not name the install prefix $prefix:" >&2
  cat "$pc" >&2
  exit 1
fi
for prog in rspbridge rspstub; do
  got=$("$prefix/bin/$prog" --version)
  if [ "$got" != "$prog $version" ]; then
    echo "test-install: $prog --version printed '$got', expected '$prog $version'" >&2
    exit 1
  fi
done

# Only the installed copy is visible: no source tree include paths.
export PKG_CONFIG_PATH="$(dirname "$pc")"
flags=$(pkg-config --cflags --libs rspstub-core)
echo "pkg-config --cflags --libs rspstub-core: $flags"
# shellcheck disable=SC2086
"$cc" -std=c11 -Wall -Wextra -Werror -o "$tmp/hello_stub" "$here/hello_stub.c" $flags
"$tmp/hello_stub"
echo "test-install: OK ($prefix)"
