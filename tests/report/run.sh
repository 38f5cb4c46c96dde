#!/usr/bin/env bash
# Runs the mimicmem-report tests (tests/report/test_*.py) with a Python 3
# that has both pytest and matplotlib, searched as the launcher searches:
# $MIMICMEM_PYTHON, /usr/bin/python3, then each python3 on PATH (the first
# python3 on PATH may be a pyenv interpreter without them). Extra arguments
# go to pytest (e.g. -k merge, -x). Nothing is written into the source tree
# (no __pycache__, no .pytest_cache).
# On Debian/Ubuntu: apt-get install -y python3-matplotlib python3-pytest
set -u
here=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)

candidates=()
[ -n "${MIMICMEM_PYTHON:-}" ] && candidates+=("$(command -v -- "$MIMICMEM_PYTHON" || echo "$MIMICMEM_PYTHON")")
candidates+=(/usr/bin/python3)
IFS=: read -r -a path_dirs <<< "${PATH:-}"
for d in ${path_dirs[@]+"${path_dirs[@]}"}; do candidates+=("${d:-.}/python3"); done

chosen=""
tried=()     # each interpreter tried
lacks=()     # what it lacks, in the same order
for py in "${candidates[@]}"; do
  [ -f "$py" ] && [ -x "$py" ] || continue
  seen=0
  for t in "${tried[@]+"${tried[@]}"}"; do [ "$t" = "$py" ] && seen=1; done
  [ $seen -eq 0 ] || continue
  missing=$("$py" -c 'import sys
if sys.version_info < (3, 7):
    print("Python 3.7 or later"); sys.exit(1)
missing = []
for name in ("pytest", "matplotlib"):
    try:
        __import__(name)
    except Exception:
        missing.append(name)
print(" and ".join(missing))
sys.exit(1 if missing else 0)' 2>/dev/null)
  if [ $? -eq 0 ]; then chosen=$py; break; fi
  tried+=("$py")
  lacks+=("${missing:-a working Python}")
done

if [ -z "$chosen" ]; then
  echo "tests/report/run.sh: no Python 3 with both pytest and matplotlib found:" >&2
  for i in "${!tried[@]}"; do echo "  ${tried[$i]} lacks ${lacks[$i]}" >&2; done
  echo "Install them with: apt-get install -y python3-pytest python3-matplotlib" \
       "(or set MIMICMEM_PYTHON to a python3 that has both)." >&2
  exit 1
fi

echo "tests/report: $chosen ($("$chosen" -c 'import sys, matplotlib, pytest
print("Python %d.%d.%d, matplotlib %s, pytest %s" % (sys.version_info[:3]
      + (matplotlib.__version__, pytest.__version__)))'))"
cd "$here" || exit 1
export PYTHONDONTWRITEBYTECODE=1
exec "$chosen" -m pytest -q -p no:cacheprovider "$@" "$here"
