#!/usr/bin/env bash
# Installs what mimicmem's build, tests and benchmarks need on Debian/Ubuntu.
# Idempotent: does nothing when every package is already there. Needs root
# (or sudo) only when something is missing.
set -euo pipefail
pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev libcriterion-dev valgrind
      zlib1g-dev libmimalloc-dev libtalloc-dev gcovr cppcheck clang-tidy locales
      python3-matplotlib python3-pytest)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "setup: missing ${missing[*]}; install them with your package manager" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
