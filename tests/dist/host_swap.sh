#!/usr/bin/env bash
# The Mimic swap, performed on a host-shaped fixture of our own
# (tests/dist/host/): copies it to a temporary folder, builds it with its own
# tracker (the "before"), replaces src/util/memory.c and src/util/memory.h
# with `tools/amalgamate.sh --mimic`, checks that nothing else changed, then
# builds it with plain make, unchanged, once plain and once with
# -DMM_WITH_SITES in CFLAGS, and checks the program, its unit test (which
# includes "../../src/util/memory.h") and, with sites, that the exit report
# names the fixture's allocation sites, resolved to file:line by addr2line.
#   tests/dist/host_swap.sh            # CC=clang picks the compiler
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
CC=${CC:-cc}
flags="-g -O1 -Wall -Wextra -Wpedantic -Werror"
work=$(mktemp -d "${TMPDIR:-/tmp}/mimicmem-host.XXXXXX")
trap 'rm -rf "$work"' EXIT

fail() {
  echo "host swap ($CC): $*" >&2
  exit 1
}
say() { echo "host swap ($CC): $*"; }

# The fixture's files but the two the swap replaces, with their checksums.
others() { (cd "$1" && find . -type f ! -path ./src/util/memory.c ! -path ./src/util/memory.h \
  ! -name '*.o' ! -name thing ! -name test_thing | LC_ALL=C sort | xargs sha256sum); }

cp -R "$root/tests/dist/host" "$work/before"
cp -R "$root/tests/dist/host" "$work/host"
make -s -C "$work/before" CC="$CC" CFLAGS="$flags" >/dev/null
(cd "$work/before" && ./thing >out.txt 2>err.txt) || fail "the fixture's own build fails to run"
expected=$(grep '^checksum ' "$work/before/out.txt") || fail "the fixture printed no checksum"

# The swap: exactly two files written, nothing else touched.
listing_before=$(others "$work/host")
bash "$root/tools/amalgamate.sh" --mimic "$work/host/src/util" >/dev/null
[ "$(others "$work/host")" = "$listing_before" ] || fail "the swap changed a file besides memory.c/memory.h"
[ "$(ls -A "$work/host/src/util")" = "$(ls -A "$work/before/src/util" | grep -v '\.o$')" ] ||
  fail "the swap added or removed a file in src/util: $(ls -A "$work/host/src/util")"
grep -q '^#include "memory.h"$' "$work/host/src/util/memory.c" || fail "memory.c does not include \"memory.h\""
say "the swap wrote src/util/memory.c and src/util/memory.h and nothing else"

# Plain build: same output as the fixture's own tracker, unit test passes.
make -s -C "$work/host" CC="$CC" CFLAGS="$flags" >/dev/null || fail "plain make fails after the swap"
cd "$work/host"
./thing >out.txt 2>err.txt || fail "the program fails after the swap"
grep -qxF "$expected" out.txt || fail "the checksum differs from the fixture's own build: $(cat out.txt)"
grep -q "Memory leak detected" err.txt || fail "check_memory_leaks did not report the live table on stderr"
grep -q "No memory leaks detected" out.txt || fail "the last check_memory_leaks did not say 'No memory leaks detected'"
./tests/unit/test_thing >unit.txt || fail "the unit test fails: $(cat unit.txt)"
grep -qx "full API: ok" unit.txt || fail "the unit test did not reach the mimicmem API through memory.h"
say "plain make: program output as before, unit test (\"../../src/util/memory.h\") passes, full API reached"

# With -DMM_WITH_SITES: the same Makefile, the host's proto.h redeclares the
# legacy functions, the exit report names each site; addr2line maps it back.
make -s -C "$work/host" clean
make -s -C "$work/host" CC="$CC" CFLAGS="$flags -DMM_WITH_SITES" >/dev/null ||
  fail "make with -DMM_WITH_SITES in CFLAGS fails"
env -u MIMICMEM_SITES MIMICMEM_REPORT=exit ./thing >sites.txt 2>sites.err || fail "the program built with sites fails"
grep -qxF "$expected" sites.txt || fail "the checksum with sites differs: $(cat sites.txt)"
./tests/unit/test_thing >unit.txt || fail "the unit test built with sites fails: $(cat unit.txt)"
sed -n '/^=== Top Allocation Sites/,/^===/p' sites.err >top.txt # the exit report goes to stderr
for want in "halos:forest.c:Halos" "ages:tables.c:Utility"; do
  tag=${want%%:*} rest=${want#*:}
  file=${rest%%:*} cat=${rest#*:}
  line=$(grep -n "SITE:$tag" "src/$file" | cut -d: -f1)
  site=$(awk -v c="$cat" '$1 ~ /^thing\+0x/ && $2 == c { print $1; exit }' top.txt)
  [ -n "$site" ] || fail "the exit report names no thing+0x... site in $cat: $(cat top.txt)"
  if command -v addr2line >/dev/null; then
    where=$(addr2line -e thing "${site#thing+}")
    case $where in
      */src/$file:$line | src/$file:$line) ;;
      *) fail "site $site ($cat) resolves to $where, not src/$file:$line" ;;
    esac
    say "-DMM_WITH_SITES: the report's $site ($cat) is src/$file:$line"
  else
    say "-DMM_WITH_SITES: the report names $site ($cat); addr2line missing, file:line not checked"
  fi
done
