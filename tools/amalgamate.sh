#!/usr/bin/env bash
# Generates the two-file distribution from the real sources, for hosts that
# build with hand-written Makefiles:
#   OUTDIR/mimicmem.h        a copy of include/mimicmem.h
#   OUTDIR/mimicmem.c        src/header.h, src/internal.h and compat/memory.h
#                            inlined once at the top, then every src/*.c in a
#                            fixed order without its local #include lines
#   OUTDIR/compat/memory.h   Mimic's legacy API; it includes "../mimicmem.h"
# Usage: tools/amalgamate.sh OUTDIR
# The output is never edited by hand: change the sources and run this again.
# Feature-test macros (_GNU_SOURCE, _POSIX_C_SOURCE, ...) defined by any
# source move to the top of mimicmem.c, before the first system include; a
# local #include of anything but src/*.h, compat/*.h or mimicmem.h stops it.
# Check: cc -std=c11 -Wall -Wextra -c OUTDIR/mimicmem.c (tests/dist does).
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
out=$1
root=$(cd "$(dirname "$0")/.." && pwd)

# The .c files in a fixed order; any other src/*.c follows in name order, so
# a new source is never left out. mpi.c is the opt-in MPI part (it needs
# <mpi.h>), never in the two-file build.
order=(platform error category stats cache alloc context epoch report legacy)
excluded=(mpi)

sources=()
for name in "${order[@]}"; do
  [ -f "$root/src/$name.c" ] && sources+=("src/$name.c")
done
while IFS= read -r f; do
  name=$(basename "$f" .c)
  skip=0
  for known in "${order[@]}" "${excluded[@]}"; do
    [ "$name" = "$known" ] && skip=1
  done
  [ $skip -eq 0 ] && sources+=("src/$name.c")
done < <(cd "$root" && LC_ALL=C ls src/*.c)
[ ${#sources[@]} -gt 0 ] || { echo "$0: no sources in $root/src" >&2; exit 1; }

feature_names='_GNU_SOURCE|_DEFAULT_SOURCE|_BSD_SOURCE|_XOPEN_SOURCE|_XOPEN_SOURCE_EXTENDED'
feature_names+='|_POSIX_C_SOURCE|_POSIX_SOURCE|_DARWIN_C_SOURCE|_FILE_OFFSET_BITS'
feature_re="^[[:space:]]*#[[:space:]]*define[[:space:]]+($feature_names)([[:space:]].*)?\$"
include_re='^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)"'

# ---- feature-test macros: one definition each, the highest value wins ----
feature_macros() {
  local f
  for f in "$root"/src/*.h "$root/compat/memory.h" "${sources[@]/#/$root/}"; do
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
      if [ "$(basename "$target")" = "mimicmem.h" ]; then
        continue # included once, at the top
      fi
      target=$(realpath -m --relative-to="$root" "$root/$dir/$target")
      case $target in
        src/*.h | compat/*.h) ;;
        *) echo "$0: $rel includes \"${BASH_REMATCH[1]}\", which is not a src/ or compat/ header" >&2
           return 1 ;;
      esac
      [ -f "$root/$target" ] || { echo "$0: $rel includes missing $target" >&2; return 1; }
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

mkdir -p "$out/compat"
tmp_c=$(mktemp "$out/.mimicmem.c.XXXXXX")
tmp_m=$(mktemp "$out/compat/.memory.h.XXXXXX")
trap 'rm -f "$tmp_c" "$tmp_m"' EXIT

{
  cat <<EOF
/* mimicmem $version: the two-file distribution (mimicmem.c + mimicmem.h, and
 * compat/memory.h for Mimic's legacy API).
 *
 * GENERATED by tools/amalgamate.sh from include/, src/ and compat/ (source
 * revision: $revision). Do not edit: change the sources and run the script.
 * Contents, in order: the feature-test macros the sources need, mimicmem.h,
 * src/header.h, src/internal.h and compat/memory.h, then the sources
$(printf '%s\n' "${sources[*]}" | fold -s -w 70 | sed 's/^/ *   /')
 * (any other src/ header is inlined where it is first included).
 *
 * Build: cc -std=c11 -O2 -c mimicmem.c (with mimicmem.h beside it); link
 * with -pthread where the C library needs it. Mimic's legacy API: see
 * docs/migrating-from-util-memory.md in the mimicmem sources. */
EOF
  feature_macros
  printf '\n#include "mimicmem.h"\n\n'
  for f in src/header.h src/internal.h compat/memory.h; do
    emit_header "$f"
    printf '\n'
  done
  for f in "${sources[@]}"; do
    emit "$f"
    printf '\n'
  done
} >"$tmp_c"

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
