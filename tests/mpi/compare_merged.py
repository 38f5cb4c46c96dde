"""Compares the merged report of mm_mpi_report (C) with the one of
mimicmem-report merge (Python) field by field: the same keys in the same
order, the same strings and integers. A "mean" may differ by a tenth: the C
emitter rounds a half up, Python's "%.1f" to even, and the Python merge
weights each rank's forest mean as its report printed it (to a tenth).

Usage: compare_merged.py C.json PYTHON.json; exit status 1 on a difference.
"""

import json
import sys
from collections import OrderedDict


def compare(c, p, where, diffs):
    if isinstance(c, dict) and isinstance(p, dict):
        if list(c.keys()) != list(p.keys()):
            diffs.append("%s: keys %s (C) vs %s (Python)" % (where, list(c), list(p)))
            return
        for k in c:
            compare(c[k], p[k], "%s.%s" % (where, k) if where else k, diffs)
    elif isinstance(c, list) and isinstance(p, list):
        if len(c) != len(p):
            diffs.append("%s: %d items (C) vs %d (Python)" % (where, len(c), len(p)))
            return
        for i, (a, b) in enumerate(zip(c, p)):
            compare(a, b, "%s[%d]" % (where, i), diffs)
    elif where.endswith(".mean") and isinstance(c, (int, float)) and isinstance(p, (int, float)):
        if abs(c - p) > 0.1 + 1e-9:
            diffs.append("%s: %r (C) vs %r (Python)" % (where, c, p))
    elif type(c) is not type(p) or c != p:
        diffs.append("%s: %r (C) vs %r (Python)" % (where, c, p))


def main():
    docs = []
    for path in sys.argv[1:3]:
        with open(path, encoding="utf-8") as f:
            docs.append(json.loads(f.read(), object_pairs_hook=OrderedDict))
    diffs = []
    compare(docs[0], docs[1], "", diffs)
    n = len(docs[0].get("categories", []))
    if diffs:
        print("compare_merged: the C and Python merges differ:")
        for d in diffs:
            print("  " + d)
        return 1
    print("compare_merged: identical (%d ranks, %d categories, %d top forests)"
          % (docs[0]["ranks"], n, len(docs[0]["epochs"]["top"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
