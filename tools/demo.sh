#!/usr/bin/env bash
# The main job: set up, build (optimised) and run the forest demo.
# Extra arguments go to the demo (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DMM_BUILD_TESTS=OFF >/dev/null
cmake --build build/release -j"$(nproc)" --target mimicmem-forest-demo >/dev/null
exec ./build/release/examples/mimicmem-forest-demo "$@"
