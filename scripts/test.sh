#!/bin/sh
# The project's test command: installs its dependencies, checks formatting,
# builds the optimised and the ASan+UBSan(+libFuzzer) trees and runs every
# CTest test in both (benchmarks only in the optimised tree, fuzz targets only
# in the sanitizer tree), then installs the Debian packages built from the
# optimised tree and runs the programs and the demo through them, and runs
# README.md's commands as written.  Usage: scripts/test.sh
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export RSP_DEPS_INSTALLED=1 # scripts/demo.sh need not run apt-get again

echo "== clang-format check"
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find proto arch stub bridge bench qemu-tests -name '*.[ch]')
# shellcheck disable=SC2086
clang-format --dry-run -Werror $files

JOBS=${JOBS:-2}
echo "== optimised build"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release
cmake --build build/release -j"$JOBS"
ctest --test-dir build/release -j"$JOBS" --output-on-failure --no-tests=error -LE fuzz

echo "== ASan+UBSan build with fuzz targets"
CC=clang cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DRSP_SANITIZE=ON -DRSP_FUZZ=ON
cmake --build build/asan -j"$JOBS"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/asan -j"$JOBS" --output-on-failure --no-tests=error -LE bench

echo "== ThreadSanitizer build: the bridge and service unit tests"
CC=clang cmake -S . -B build/tsan -DCMAKE_BUILD_TYPE=Debug -DRSP_TSAN=ON -DRSP_QEMU_TESTS=OFF
cmake --build build/tsan -j"$JOBS"
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --test-dir build/tsan -j"$JOBS" --output-on-failure --no-tests=error -L unit -R 'bridge|service|http'

echo "== Debian packages: build, install, run the installed programs"
scripts/test-package.sh build/release

echo "== README.md: every sh block, as written"
python3 scripts/check-readme.py README.md
