#!/usr/bin/env bash
# Installs what mimicmem needs on Debian/Ubuntu. Usage: tools/setup.sh [demo|test]
#   demo   what the main job (tools/demo.sh) needs: a C compiler, CMake, and
#          Python 3 with matplotlib for the demo's plots (optional: when it
#          cannot be installed the demo runs and skips its plots)
#   test   (default) everything tools/test.sh and the benchmarks use: the
#          demo's packages, Criterion, clang, binutils (addr2line), Valgrind,
#          the analysers, pytest...
# Idempotent: does nothing when every package is already there. Needs root
# (or sudo) only when something is missing.
set -euo pipefail
what=${1:-test}
demo_pkgs=(build-essential cmake)
demo_optional=(python3 python3-matplotlib)
# binutils: addr2line, which the reports run to show the legacy calls' sites
# as file:line (a compiler usually brings it; the site tests need it)
test_pkgs=(pkg-config binutils clang libclang-rt-14-dev libcriterion-dev valgrind
      zlib1g-dev libmimalloc-dev libtalloc-dev gcovr cppcheck clang-tidy locales
      python3-matplotlib python3-pytest libopenmpi-dev openmpi-bin)
case $what in
  demo) pkgs=("${demo_pkgs[@]}") optional=("${demo_optional[@]}") ;;
  test) pkgs=("${demo_pkgs[@]}" "${demo_optional[@]}" "${test_pkgs[@]}") optional=() ;;
  *) echo "usage: tools/setup.sh [demo|test]" >&2; exit 2 ;;
esac

missing_of() { # package... -> the ones not installed, one a line
  local p
  for p in "$@"; do
    # the whole answer first (a grep -q that leaves early could end dpkg-query
    # with SIGPIPE, which pipefail counts as a failure)
    local status
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || echo "$p"
  done
}
have_tools() { # the demo's needs, however they came (a cluster's modules, say)
  command -v cc >/dev/null && command -v make >/dev/null && command -v cmake >/dev/null
}
have_matplotlib() {
  local py
  for py in /usr/bin/python3 python3; do
    "$py" -c 'import matplotlib' >/dev/null 2>&1 && return 0
  done
  return 1
}

missing=()
missing_optional=()
if [ "$what" = demo ]; then
  # Tools found on PATH count, whoever installed them: on a login node with
  # `module load gcc cmake` the demo installs nothing.
  have_tools || mapfile -t missing < <(missing_of "${pkgs[@]}")
  have_matplotlib || mapfile -t missing_optional < <(missing_of "${optional[@]}")
else
  mapfile -t missing < <(missing_of "${pkgs[@]}")
fi
[ ${#missing[@]} -eq 0 ] && [ ${#missing_optional[@]} -eq 0 ] && exit 0
all=(${missing[@]+"${missing[@]}"} ${missing_optional[@]+"${missing_optional[@]}"})

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
  if [ ${#missing[@]} -eq 0 ]; then   # only the plots' Python is missing
    echo "setup: no python3 with matplotlib: the demo will skip its plots" >&2
    exit 0
  fi
  echo "setup: not a Debian/Ubuntu system; install the equivalents of: ${all[*]}" \
       "with your package manager" >&2
  exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
  if ! command -v sudo >/dev/null; then
    sudo=""
  elif [ ${#missing[@]} -eq 0 ]; then
    sudo="sudo -n"   # only optional packages: never stop at a password prompt for them
  fi
  if [ -z "$sudo" ] || { [ "$sudo" = "sudo -n" ] && ! sudo -n true 2>/dev/null; }; then
    echo "setup: missing ${all[*]}: install them as root" \
         "(apt-get install ...), or see docs/quickstart-cluster.md to build without root" >&2
    [ ${#missing[@]} -eq 0 ] && exit 0   # only optional ones: go on without them
    exit 1
  fi
fi
apt_install() { # package...
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
echo "setup ($what): installing ${all[*]}"
$sudo apt-get update -qq
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
if [ ${#missing_optional[@]} -gt 0 ] && ! apt_install "${missing_optional[@]}"; then
  echo "setup: could not install ${missing_optional[*]}; the demo runs without its plots" >&2
fi
