#!/bin/sh
# Builds the Debian packages from a built tree (CPack), installs them on this
# machine with apt-get (root or sudo needed), and runs the installed programs:
# --version, a program built against the installed stub core with pkg-config,
# and the demo through /usr/bin/rspbridge.  Run by scripts/test.sh.
#   scripts/test-package.sh [BUILD_DIR]      (default build/release)
# Without root or sudo it says so and stops: with RSP_NO_SKIP=1 (CI) that is
# a failure (exit 1), else a skip (exit 0, stated on stderr).
set -eu
cd "$(dirname "$0")/.."
build=${1:-build/release}

SUDO=
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "test-package: installing a .deb needs root or passwordless sudo" >&2
    if [ "${RSP_NO_SKIP:-}" = 1 ]; then
      echo "test-package: FAILED (RSP_NO_SKIP=1)" >&2
      exit 1
    fi
    echo "test-package: SKIPPED" >&2
    exit 0
  fi
fi

version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
arch=$(dpkg --print-architecture)
(cd "$build" && cpack -G DEB >cpack.log) || { cat "$build/cpack.log" >&2; exit 1; }
tools=$build/rspbridge_${version}_${arch}.deb
dev=$build/librspstub-core-dev_${version}_${arch}.deb

fail() {
  echo "test-package: $*" >&2
  exit 1
}
depends=$(dpkg-deb -f "$tools" Depends)
for lib in libuv1 libexpat1 libc6; do
  echo "$depends" | grep -q "\\b$lib\\b" || fail "$tools: Depends '$depends' lacks $lib"
done
echo "test-package: $(basename "$tools"): Depends: $depends"

export DEBIAN_FRONTEND=noninteractive
# --reinstall: a package of the same version from an earlier run is replaced
# by this build.  The lock timeout waits for another apt-get instead of failing.
$SUDO apt-get install -y -q --reinstall -o DPkg::Lock::Timeout=300 "./$tools" "./$dev"
for f in /usr/bin/rspbridge /usr/bin/rspstub /usr/share/man/man1/rspbridge.1.gz \
  /usr/share/man/man1/rspstub.1.gz /usr/include/rspstub/stub.h; do
  dpkg -S "$f" >/dev/null 2>&1 || fail "$f does not belong to an installed package"
done
for prog in rspbridge rspstub; do
  got=$("/usr/bin/$prog" --version)
  [ "$got" = "$prog $version" ] || fail "/usr/bin/$prog --version printed '$got', not '$prog $version'"
  echo "test-package: /usr/bin/$prog --version: $got"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rsp-package.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -o "$tmp/hello_stub" packaging/hello_stub.c \
  $(pkg-config --cflags --libs rspstub-core)
"$tmp/hello_stub"

# The demo, its transcript checked, through the installed bridge.
RSPBRIDGE=/usr/bin/rspbridge sh scripts/demo.sh --check >"$tmp/demo.log" 2>&1 ||
  { cat "$tmp/demo.log" >&2; fail "the demo through /usr/bin/rspbridge failed"; }
grep "demo: using" "$tmp/demo.log"
echo "test-package: OK"
