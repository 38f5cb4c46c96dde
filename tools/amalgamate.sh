#!/usr/bin/env bash
# Generates the two-file distribution from the real sources, for hosts that
# build with hand-written Makefiles:
#   OUTDIR/mimicmem.h        a copy of include/mimicmem.h
#   OUTDIR/mimicmem.c        mimicmem_testing.h's declarations, then every
#                            source of src/LAYERS in its order (lowest layer
#                            first), each header inlined where it is first
#                            included
#   OUTDIR/compat/memory.h   Mimic's legacy API; it includes "../mimicmem.h"
# Usage: tools/amalgamate.sh OUTDIR
#
# With --mimic, the swap-in for a host's own tracker instead: exactly two
# files that replace src/util/memory.c and src/util/memory.h in place, with
# no Makefile, script or source edit in the host:
#   OUTDIR/memory.h          mimicmem.h, then compat/memory.h (the legacy API),
#                            in one header: every file that includes
#                            "memory.h" by any relative path gets both
#   OUTDIR/memory.c          the same library as mimicmem.c; it includes
#                            "memory.h" from its own folder, so it compiles as
#                            one translation unit with no include path added
# Usage: tools/amalgamate.sh --mimic OUTDIR   (e.g. OUTDIR = mimic/src/util)
# The output is never edited by hand: change the sources and run this again.
# Feature-test macros (_GNU_SOURCE, _POSIX_C_SOURCE, ...) defined by any
# source move to the top of mimicmem.c, before the first system include; a
# local #include of anything but src/*.h, compat/*.h or mimicmem.h stops it.
# Check: cc -std=c11 -Wall -Wextra -c OUTDIR/mimicmem.c (tests/dist does).
set -euo pipefail

mimic=no
if [ "${1:-}" = "--mimic" ]; then
  mimic=yes
  shift
fi
if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 [--mimic] OUTDIR" >&2
  exit 2
fi
out=$1
root=$(cd "$(dirname "$0")/.." && pwd)

# The .c files in the order of the layer table (src/LAYERS), lowest first.
mapfile -t sources < <(awk '/^[a-z]+ +src\// { print $2 }' "$root/src/LAYERS")
[ ${#sources[@]} -gt 0 ] || { echo "$0: no sources in $root/src/LAYERS" >&2; exit 1; }
for f in "${sources[@]}"; do
  [ -f "$root/$f" ] || { echo "$0: src/LAYERS names $f, which does not exist" >&2; exit 1; }
done

feature_names='_GNU_SOURCE|_DEFAULT_SOURCE|_BSD_SOURCE|_XOPEN_SOURCE|_XOPEN_SOURCE_EXTENDED'
feature_names+='|_POSIX_C_SOURCE|_POSIX_SOURCE|_DARWIN_C_SOURCE|_FILE_OFFSET_BITS'
feature_re="^[[:space:]]*#[[:space:]]*define[[:space:]]+($feature_names)([[:space:]].*)?\$"
include_re='^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)"'

# ---- feature-test macros: one definition each, the highest value wins ----
feature_macros() {
  local f
  for f in "$root"/src/*/*.h "$root/compat/memory.h" "${sources[@]/#/$root/}"; do
    grep -hE "$feature_re" "$f" || true
  done | sed -E 's,/\*.*\*/,,; s,//.*,,' |
    awk '{ name = $2; value = $3; num = value; sub(/[uUlL]+$/, "", num)
           if (!(name in seen)) { order[++n] = name; seen[name] = 1; best[name] = value; bestnum[name] = num + 0 }
           else if (num + 0 > bestnum[name]) { best[name] = value; bestnum[name] = num + 0 } }
         END { for (i = 1; i <= n; i++) {
                 name = order[i]
                 printf "#ifndef %s\n#define %s%s\n#endif\n", name, name, best[name] == "" ? "" : " " best[name] } }'
}

# ---- the inliner ----------------------------------------------------------
declare -A inlined=()

# Writes file $1 (relative to root), replacing each local include by the
# file's text the first time and by nothing afterwards.
emit() {
  local rel=$1 dir line target
  dir=$(dirname "$rel")
  inlined[$rel]=1
  printf '/* ==== begin %s ==== */\n' "$rel"
  while IFS= read -r line || [ -n "$line" ]; do
    if [[ $line =~ $include_re ]]; then
      target=${BASH_REMATCH[1]}
      case $(basename "$target") in
        mimicmem.h | mimicmem_testing.h) continue ;; # at the top, once
      esac
      target=$(realpath -m --relative-to="$root" "$root/$dir/$target")
      case $target in
        src/*.h | compat/*.h) ;;
        *) echo "$0: $rel includes \"${BASH_REMATCH[1]}\", which is not a src/ or compat/ header" >&2
           return 1 ;;
      esac
      [ -f "$root/$target" ] || { echo "$0: $rel includes missing $target" >&2; return 1; }
      if [ "$mimic" = yes ] && [ "$target" = compat/memory.h ]; then
        continue # part of memory.h, included at the top
      fi
      if [ -z "${inlined[$target]:-}" ]; then
        emit_header "$target" || return 1
      fi
      continue
    fi
    if [[ $line =~ $feature_re ]]; then
      continue # hoisted to the top
    fi
    printf '%s\n' "$line"
  done <"$root/$rel"
  printf '/* ==== end %s ==== */\n' "$rel"
}

# A header, inlined: compilers do not flag an unused static inline function
# of a header, but clang flags one in the main file, which the amalgamation
# is. The pragma keeps the header's rule for the header's text only.
emit_header() {
  printf '#if defined(__clang__)\n#pragma clang diagnostic push\n'
  printf '#pragma clang diagnostic ignored "-Wunused-function"\n#endif\n'
  emit "$1" || return 1
  printf '#if defined(__clang__)\n#pragma clang diagnostic pop\n#endif\n'
}

version=$(sed -n 's/^#define MM_VERSION_STRING "\(.*\)"$/\1/p' "$root/include/mimicmem.h")
revision=$(git -C "$root" describe --always --dirty 2>/dev/null || echo "no git revision")

# The library: the banner (its first line is $1, its build line $2), the
# feature-test macros, MM_BUILDING_LIBRARY (the library's own definitions
# never see the MM_WITH_SITES macros, even when the host's CFLAGS define it),
# the header $3, the fault-injection declarations, then the sources.
library_c() {
  cat <<EOF
/* $1
 *
 * GENERATED by tools/amalgamate.sh from include/, src/ and compat/ (source
 * revision: $revision). Do not edit: change the sources and run the script.
 * Contents, in order: the feature-test macros the sources need, $3,
 * the fault-injection declarations of mimicmem_testing.h, then the sources
 * in the order of their layers (src/LAYERS, lowest first):
$(printf '%s\n' "${sources[*]}" | fold -s -w 70 | sed 's/^/ *   /')
 * each src/ and compat/ header inlined where it is first included.
 *
 * $2 Mimic's legacy API: see
 * docs/migrating-from-util-memory.md in the mimicmem sources. */
EOF
  feature_macros
  printf '#ifndef MM_BUILDING_LIBRARY\n#define MM_BUILDING_LIBRARY 1\n#endif\n'
  printf '\n#include "%s"\n\n' "$3"
  awk '/^#include "mimicmem.h"/ { next } { print }' "$root/include/mimicmem_testing.h"
  printf '\n'
  for f in "${sources[@]}"; do
    emit "$f"
    printf '\n'
  done
}

if [ "$(grep -c '^#include "mimicmem.h"$' "$root/compat/memory.h")" -ne 1 ]; then
  echo "$0: compat/memory.h must include \"mimicmem.h\" on a line of its own, once" >&2
  exit 1
fi

if [ "$mimic" = yes ]; then
  mkdir -p "$out"
  tmp_c=$(mktemp "$out/.memory.c.XXXXXX")
  tmp_h=$(mktemp "$out/.memory.h.XXXXXX")
  trap 'rm -f "$tmp_c" "$tmp_h"' EXIT
  library_c "mimicmem $version as Mimic's src/util/memory.c: the whole library." \
    "Build: as the file it replaces (cc -std=c11 -c memory.c, memory.h beside it);
 * link with -pthread where the C library needs it." "memory.h" >"$tmp_c"
  {
    cat <<EOF
/* mimicmem $version as Mimic's src/util/memory.h: the public header
 * (include/mimicmem.h), then Mimic's legacy API (compat/memory.h), so every
 * file that includes this "memory.h", by any relative path, gets the whole
 * mimicmem API and the legacy one. Its partner is memory.c in this folder.
 *
 * GENERATED by tools/amalgamate.sh --mimic (source revision: $revision).
 * Do not edit: change the sources and run the script. */
EOF
    cat "$root/include/mimicmem.h"
    printf '\n'
    grep -v '^#include "mimicmem.h"$' "$root/compat/memory.h"
  } >"$tmp_h"
  chmod 644 "$tmp_c" "$tmp_h"
  mv "$tmp_c" "$out/memory.c"
  mv "$tmp_h" "$out/memory.h"
  trap - EXIT
  echo "amalgamate.sh: wrote $out/memory.c ($(wc -l <"$out/memory.c") lines from ${#sources[@]} sources) and $out/memory.h"
  exit 0
fi

mkdir -p "$out/compat"
tmp_c=$(mktemp "$out/.mimicmem.c.XXXXXX")
tmp_m=$(mktemp "$out/compat/.memory.h.XXXXXX")
trap 'rm -f "$tmp_c" "$tmp_m"' EXIT

library_c "mimicmem $version: the two-file distribution (mimicmem.c + mimicmem.h, and
 * compat/memory.h for Mimic's legacy API)." \
  "Build: cc -std=c11 -O2 -c mimicmem.c (with mimicmem.h beside it); link
 * with -pthread where the C library needs it." "mimicmem.h" >"$tmp_c"

{
  cat <<'EOF'
/* GENERATED by tools/amalgamate.sh from compat/memory.h; do not edit. The only
 * change: mimicmem.h is included from the folder above ("../mimicmem.h"). */
EOF
  sed 's,^#include "mimicmem.h"$,#include "../mimicmem.h",' "$root/compat/memory.h"
} >"$tmp_m"
if [ "$(grep -c '^#include "../mimicmem.h"$' "$tmp_m")" -ne 1 ]; then
  echo "$0: compat/memory.h must include \"mimicmem.h\" on a line of its own, once" >&2
  exit 1
fi

cp "$root/include/mimicmem.h" "$out/mimicmem.h"
chmod 644 "$tmp_c" "$tmp_m"
mv "$tmp_c" "$out/mimicmem.c"
mv "$tmp_m" "$out/compat/memory.h"
trap - EXIT
echo "amalgamate.sh: wrote $out/mimicmem.c ($(wc -l <"$out/mimicmem.c") lines from ${#sources[@]} sources), $out/mimicmem.h, $out/compat/memory.h"
