#!/usr/bin/env bash
# The Mimic swap, performed on a host-shaped fixture of our own
# (tests/dist/host/): copies it to a temporary folder, builds it with its own
# tracker (the "before"), replaces src/util/memory.c and src/util/memory.h
# with `tools/amalgamate.sh --mimic`, checks that nothing else changed, then
# builds it with plain make, unchanged, once plain and once with
# -DMM_WITH_SITES in CFLAGS, and checks the program, its unit test (which
# includes "../../src/util/memory.h") and, with sites, that the exit report
# itself names the fixture's allocation sites by file:line (the library runs
# addr2line at report time), text and JSON, and that
# MIMICMEM_SITE_RESOLVE=off keeps the recorded thing+0xOFFSET names.
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
# legacy functions, the exit report names each site by file and line.
make -s -C "$work/host" clean
make -s -C "$work/host" CC="$CC" CFLAGS="$flags -DMM_WITH_SITES" >/dev/null ||
  fail "make with -DMM_WITH_SITES in CFLAGS fails"
env -u MIMICMEM_SITES -u MIMICMEM_SITE_RESOLVE MIMICMEM_REPORT=exit ./thing >sites.txt 2>sites.err ||
  fail "the program built with sites fails"
grep -qxF "$expected" sites.txt || fail "the checksum with sites differs: $(cat sites.txt)"
./tests/unit/test_thing >unit.txt || fail "the unit test built with sites fails: $(cat unit.txt)"
sed -n '/^=== Top Allocation Sites/,/^===/p' sites.err >top.txt # the exit report goes to stderr
env -u MIMICMEM_SITES MIMICMEM_REPORT=exit MIMICMEM_REPORT_FORMAT=json ./thing >/dev/null 2>sites.json ||
  fail "the program built with sites fails with a JSON exit report"
env -u MIMICMEM_SITES MIMICMEM_REPORT=exit MIMICMEM_SITE_RESOLVE=off ./thing >/dev/null 2>raw.err ||
  fail "the program built with sites fails with MIMICMEM_SITE_RESOLVE=off"
sed -n '/^=== Top Allocation Sites/,/^===/p' raw.err >raw.txt
have_addr2line=yes
command -v addr2line >/dev/null || have_addr2line=
for want in "halos:forest.c:Halos" "ages:tables.c:Utility"; do
  tag=${want%%:*} rest=${want#*:}
  file=${rest%%:*} cat=${rest#*:}
  line=$(grep -n "SITE:$tag" "src/$file" | cut -d: -f1)
  # MIMICMEM_SITE_RESOLVE=off: the name as recorded, module+0xOFFSET
  raw=$(awk -v c="$cat" '$1 ~ /^thing\+0x[0-9a-f]+$/ && $2 == c { print $1; exit }' raw.txt)
  [ -n "$raw" ] || fail "with MIMICMEM_SITE_RESOLVE=off the report names no thing+0x... site in $cat: $(cat raw.txt)"
  if [ -z "$have_addr2line" ]; then
    say "-DMM_WITH_SITES: the report names $raw ($cat); addr2line missing, file:line not checked"
    continue
  fi
  # the report itself: "src/forest.c:12 (function) Halos ..."
  site=$(awk -v c="$cat" -v w="src/$file:$line" '$1 == w && $NF != "" { for (i = 2; i <= NF; i++) if ($i == c) { print $1 " " $2; exit } }' top.txt)
  [ -n "$site" ] || fail "the exit report does not name src/$file:$line in $cat: $(cat top.txt)"
  grep -q "thing+0x" top.txt && fail "the exit report still shows a raw thing+0x... name: $(cat top.txt)"
  # JSON: file and line, with the recorded name kept in "address"
  grep -q "\"file\":\"src/$file\",\"line\":$line,\"function\":\"[a-z_]*\",\"address\":\"$raw\"" sites.json ||
    fail "the JSON exit report does not give src/$file:$line with \"address\":\"$raw\": $(cat sites.json)"
  say "-DMM_WITH_SITES: the exit report names $site in $cat (text and JSON); $raw with MIMICMEM_SITE_RESOLVE=off"
done
