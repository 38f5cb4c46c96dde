"""merge: per-rank reports -> one report with min / mean / max over ranks.

The figures and their order follow the rules of the C function mm_mpi_report
(docs/mimicmem-report.md, "merge"), so that both write the same report for
the same ranks. Every byte figure is bytes as requested by the program.
"""

import json

from .fmt import format_bytes, format_count, tenths, text_name

MERGED_SCHEMA_VERSION = 1
TOP_EPOCHS = 10  # forests in the merged top list


def rank_stat(values):
    """S = {"min", "mean", "max", "max_rank"} of one figure over the ranks.

    values: [(rank, bytes)] for every rank (ascending rank; a rank without
    the figure given as 0). mean = sum / N, a float; max_rank = the lowest
    rank among those with the max.
    """
    lo = min(v for _, v in values)
    hi = max(v for _, v in values)
    return {"min": lo,
            "mean": sum(v for _, v in values) / len(values),
            "max": hi,
            "max_rank": min(r for r, v in values if v == hi)}


def merged_epochs(reports):
    """The "epochs" object: the union of every rank's per-forest statistics.

    reports: normalized rank reports (ascending rank). Ranks without an
    "epochs" object do not take part; min comes only from ranks with forests;
    mean is weighted by each rank's forest count; with no forest at all,
    min/mean/max are 0 and max_rank is -1.
    """
    with_epochs = [r for r in reports if r["epochs"] is not None]
    count = sum(r["epochs"]["count"] for r in with_epochs)
    counted = [r for r in with_epochs if r["epochs"]["count"] > 0]
    if count == 0:
        stat = {"min": 0, "mean": 0.0, "max": 0, "max_rank": -1}
    else:
        hi = max(r["epochs"]["max_peak_bytes"] for r in counted)
        stat = {
            "min": min(r["epochs"]["min_peak_bytes"] for r in counted),
            "mean": sum(r["epochs"]["mean_peak_bytes"] * r["epochs"]["count"]
                        for r in counted) / count,
            "max": hi,
            "max_rank": min(r["rank"] for r in counted if r["epochs"]["max_peak_bytes"] == hi),
        }
    top = []
    for r in with_epochs:
        for t in r["epochs"]["top"]:
            top.append({"rank": r["rank"], "context": t["context"], "label": t["label"],
                        "epoch": t["epoch"], "peak_bytes": t["peak_bytes"]})
    top.sort(key=lambda t: (-t["peak_bytes"], t["rank"], t["epoch"]))
    return {"count": count, "peak_bytes": stat, "top": top[:TOP_EPOCHS]}


def merge_reports(reports):
    """The merged report (schema_version 1) of normalized rank reports.

    reports: load.normalize_rank_report() results with "rank" set, in
    ascending rank order, ranks distinct. Returns a dict in output key order.
    """
    n = len(reports)
    # categories by name: first appearance in rank order, then file order;
    # the group is the one of the first rank that has the category
    order, group = [], {}
    for r in reports:
        for c in r["categories"]:
            if c["name"] not in group:
                group[c["name"]] = c["group"]
                order.append(c["name"])
    by_name = [{c["name"]: c for c in r["categories"]} for r in reports]
    categories = []
    for name in order:
        cur = [(r["rank"], m[name]["bytes"] if name in m else 0)
               for r, m in zip(reports, by_name)]
        peak = [(r["rank"], m[name]["peak_bytes"] if name in m else 0)
                for r, m in zip(reports, by_name)]
        categories.append({"name": name, "group": group[name],
                           "bytes": rank_stat(cur), "peak_bytes": rank_stat(peak)})
    process = {
        "bytes": rank_stat([(r["rank"], r["total"]["bytes"]) for r in reports]),
        "peak_bytes": rank_stat([(r["rank"], r["total"]["peak_bytes"]) for r in reports]),
    }
    # the peak: the rank of the largest total peak (lowest rank on ties)
    top_rank = process["peak_bytes"]["max_rank"]
    pr = next(r for r in reports if r["rank"] == top_rank)
    pc = pr["peak_composition"]
    peak = {"rank": top_rank, "peak_bytes": pr["total"]["peak_bytes"],
            "context": pc["context"] if pc else "", "label": pc["label"] if pc else "",
            "composition": dict(pc["categories"]) if pc else {}}
    per_rank = [{"rank": r["rank"], "bytes": r["total"]["bytes"],
                 "peak_bytes": r["total"]["peak_bytes"],
                 "epochs": r["epochs"]["count"] if r["epochs"] else 0} for r in reports]
    return {"schema_version": MERGED_SCHEMA_VERSION, "ranks": n, "process": process,
            "categories": categories, "peak": peak, "epochs": merged_epochs(reports),
            "per_rank": per_rank}


# ----------------------------------------------------------------------
# JSON output
# ----------------------------------------------------------------------

def to_json(value):
    """Compact JSON as the C library writes it: keys in the dict's order,
    UTF-8 kept, every float (a mean) with exactly one decimal, rounded as C
    rounds it (fmt.tenths)."""
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + to_json(v)
                              for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return tenths(value) if value >= 0.0 else "%.1f" % value
    if isinstance(value, int):
        return "%d" % value
    return json.dumps(value, ensure_ascii=False)


# ----------------------------------------------------------------------
# Text output
# ----------------------------------------------------------------------

def format_stat(s):
    """"min / mean / max (rank)" of an S object, bytes human-formatted."""
    return "%s / %s / %s (%d)" % (format_bytes(s["min"]), format_bytes(float(s["mean"])),
                                  format_bytes(s["max"]), s["max_rank"])


def composition_text(composition):
    """"Halos 41.6 KB, Trees 36.3 KB": nonzero categories, largest first
    (ties in the given order)."""
    items = sorted(((n, b) for n, b in composition.items() if b), key=lambda nb: -nb[1])
    return ", ".join("%s %s" % (text_name(n), format_bytes(b)) for n, b in items)


def where_text(context, label):
    """Where a peak was reached, as the C report says it."""
    if label:
        return "in " + text_name(label)
    if context:
        return 'in context "%s"' % text_name(context)
    return "outside any context"


def merged_text(m):
    """The merged report as text, in the style of the C library's report.

    Categories are listed under their group (groups in order of first
    appearance, categories in the report's order within a group)."""
    out = []
    w = max([16] + [len(c["name"]) for c in m["categories"]])
    rows = [(c["name"], format_stat(c["bytes"]), format_stat(c["peak_bytes"]))
            for c in m["categories"]]
    total = ("Total", format_stat(m["process"]["bytes"]), format_stat(m["process"]["peak_bytes"]))
    cw = max(len(r[1]) for r in rows + [total])
    out.append("=== Memory Usage by Category: %d ranks (min / mean / max (rank)) ===" % m["ranks"])
    if not rows:
        out.append("  (no memory in use)")
    groups = []
    for c in m["categories"]:
        if c["group"] not in groups:
            groups.append(c["group"])
    for g in groups:
        out.append("%s:" % text_name(g))
        for c, (name, cur, peak) in zip(m["categories"], rows):
            if c["group"] == g:
                out.append("  %s %s  peak %s" % (text_name(name, w), cur.ljust(cw), peak))
    out.append("%s %s  peak %s" % ("Total".ljust(w + 2), total[1].ljust(cw), total[2]))
    p = m["peak"]
    line = "%s %s on rank %d" % ("Peak".ljust(w + 2), format_bytes(p["peak_bytes"]), p["rank"])
    comp = composition_text(p["composition"])
    if comp:
        line += ", reached %s: %s" % (where_text(p["context"], p["label"]), comp)
    elif p["context"] or p["label"]:
        line += ", reached %s" % where_text(p["context"], p["label"])
    out.append(line)
    e = m["epochs"]
    out.append("=== Per-Forest Statistics: %d ranks ===" % m["ranks"])
    out.append("Forests (epochs)      %s" % format_count(e["count"]))
    if e["count"]:
        s = e["peak_bytes"]
        out.append("Peak per forest       mean %s, min %s, max %s (rank %d)"
                   % (format_bytes(float(s["mean"])), format_bytes(s["min"]),
                      format_bytes(s["max"]), s["max_rank"]))
    if e["top"]:
        out.append("Largest forests by peak:")
        lw = max([18] + [len(t["label"]) for t in e["top"]])
        for i, t in enumerate(e["top"]):
            label = t["label"] if t["label"] else "epoch %d" % t["epoch"]
            out.append("  %2d. rank %-5d %s %10s%s"
                       % (i + 1, t["rank"], text_name(label, lw), format_bytes(t["peak_bytes"]),
                          "   <-- largest" if i == 0 else ""))
    return "\n".join(out) + "\n"
