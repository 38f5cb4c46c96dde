#!/usr/bin/env bash
# Checks the libraries' exported names (no global-namespace pollution): the
# shared library exports only mm_* and Mimic's legacy API; the static archive
# defines nothing global beyond those and the library's internal mmi_* names.
# Usage: tools/check-symbols.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: tools/check-symbols.sh BUILD_DIR}
legacy='^(init_memory_system|mymalloc|mymalloc_cat|myrealloc|myrealloc_cat|myfree|set_memory_reporting|print_allocated|print_allocated_by_category|print_memory_brief|check_memory_leaks|validate_memory_block|validate_all_memory|cleanup_memory_system)$'
so=$(ls "$build"/libmimicmem.so* 2>/dev/null | head -1)
bad=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -vE '^mm_' | grep -vE "$legacy" || true)
if [ -n "$bad" ]; then echo "check-symbols: the shared library exports unexpected names:"; echo "$bad"; exit 1; fi
bad=$(nm --defined-only -g "$build/libmimicmem.a" 2>/dev/null | awk 'NF==3 {print $3}' |
      grep -vE '^(mm_|mmi_)' | grep -vE "$legacy" || true)
if [ -n "$bad" ]; then echo "check-symbols: the static library defines unexpected globals:"; echo "$bad"; exit 1; fi
n=$(nm -D --defined-only "$so" | wc -l)
echo "check-symbols: $n exported names, all mm_* or Mimic's legacy API"
