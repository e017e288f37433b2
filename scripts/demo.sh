#!/bin/sh
# Demo: installs what it needs, builds rspbridge and the bundled x86-64 guest,
# boots the guest under QEMU behind the bridge and shows GDB running
# monitor vtop, pte, maps and phys read on it.
#   RSPBRIDGE=/usr/bin/rspbridge sh scripts/demo.sh   runs an installed bridge
#                                                     (the guest still comes
#                                                     from build/release)
# Extra arguments go to qemu-tests/demo.py (--interactive, --check).
set -eu
cd "$(dirname "$0")/.."
[ "${RSP_DEPS_INSTALLED:-}" = 1 ] || scripts/install-deps.sh  # set by scripts/test.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j2
if [ -n "${RSPBRIDGE:-}" ]; then
  # a bare name is looked up on PATH, like the shell would
  bridge=$(command -v "$RSPBRIDGE") || {
    echo "demo: RSPBRIDGE=$RSPBRIDGE: no such program" >&2
    exit 1
  }
  echo "demo: using $bridge ($("$bridge" --version))"
  exec python3 qemu-tests/demo.py --build-dir build/release --bridge "$bridge" "$@"
fi
exec python3 qemu-tests/demo.py --build-dir build/release "$@"
