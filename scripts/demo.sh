#!/bin/sh
# Demo: installs what it needs, builds rspbridge and the bundled x86-64 guest,
# boots the guest under QEMU behind the bridge and shows GDB running
# monitor vtop, pte, maps and phys read on it.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j2
if [ ! -f qemu-tests/demo.py ]; then
  echo "demo: coming (the bundled guest demo is not built yet)" >&2
  exit 1
fi
exec python3 qemu-tests/demo.py --build-dir build/release
