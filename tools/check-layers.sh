#!/usr/bin/env bash
# Fails when a file of src/ calls into a file listed after it in src/LAYERS
# (a higher layer, or later in its own layer): calls go one way only. The
# one allowed reference up is the hook table, mmi_hooks (src/hooks.c). Reads
# the symbols of the compiled objects with nm, so it sees what the compiler
# kept, inline functions aside (they live in the layer's own header).
# Usage: tools/check-layers.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: tools/check-layers.sh BUILD_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
objdir="$build/CMakeFiles/mimicmem_objects.dir"
[ -d "$objdir" ] || { echo "check-layers: no objects in $objdir (build first)"; exit 2; }

mapfile -t files < <(awk '/^[a-z]+ +src\// { print $2 }' "$root/src/LAYERS")
declare -A rank=() layer=() owner=()
i=0
while read -r name file _; do
  rank[$file]=$i
  layer[$file]=$name
  i=$((i + 1))
done < <(awk '/^[a-z]+ +src\// { print $1, $2 }' "$root/src/LAYERS")

obj_of() { echo "$objdir/$1.o"; }
for f in "${files[@]}"; do
  o=$(obj_of "$f")
  [ -f "$o" ] || { echo "check-layers: $o missing (is $f built?)"; exit 2; }
  while read -r sym; do owner[$sym]=$f; done < <(nm --defined-only -g "$o" | awk 'NF == 3 { print $3 }')
done

bad=0
calls=0
for f in "${files[@]}"; do
  while read -r sym; do
    def=${owner[$sym]:-}
    [ -n "$def" ] || continue # the C library, pthreads
    calls=$((calls + 1))
    if [ "$sym" = mmi_hooks ]; then continue; fi
    if [ "${rank[$def]}" -gt "${rank[$f]}" ]; then
      echo "check-layers: $f (${layer[$f]}) calls $sym in $def (${layer[$def]}), which comes after it in src/LAYERS"
      bad=1
    fi
  done < <(nm --undefined-only "$(obj_of "$f")" | awk '{ print $NF }' | sort -u)
done
if [ $bad -ne 0 ]; then
  echo "check-layers: calls must go to files listed earlier in src/LAYERS (or through mmi_hooks)"
  exit 1
fi
echo "check-layers: ${#files[@]} files, $calls calls between them, every one to a file listed earlier (mmi_hooks aside)"
