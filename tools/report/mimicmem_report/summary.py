"""summary: the figures of `plot` as text, for a terminal or a log file."""

from . import plotdata
from .fmt import format_bytes, format_count, format_number, text_name
from .merge import composition_text, where_text

TOP_FORESTS = 10        # forests listed, largest first
TOP_CATEGORIES = 4      # categories named per listed forest (as the C report)


def _top_categories(peaks, n=TOP_CATEGORIES):
    """"Halos 58.3 KB, Trees 49.4 KB": a forest's n largest category peaks."""
    items = sorted(peaks.items(), key=lambda nb: -nb[1])[:n]
    return ", ".join("%s %s" % (text_name(c), format_bytes(b)) for c, b in items)


def epoch_log_summary(log):
    """Lines describing an EpochLog: forest count, min/mean/max and
    percentiles of the forest peaks, the largest forests with their largest
    categories, each category's largest peak, and the user fields."""
    out = []
    count, lo, mean, hi = plotdata.forest_peak_stats(log.forests)
    out.append("Epoch log             %s (%s)" % (log.path, log.FORM_NAMES[log.form]))
    out.append("Forests (epochs)      %s" % format_count(count))
    if count == 0:
        return out
    out.append("Peak per forest       mean %s, min %s, max %s"
               % (format_bytes(mean), format_bytes(lo), format_bytes(hi)))
    out.append("Percentiles           "
               + ", ".join("p%d %s" % (p, format_bytes(b))
                           for p, b in plotdata.peak_percentiles(log.forests)))
    tops = plotdata.top_forests(log.forests, TOP_FORESTS)
    w = max([16] + [len(c) for c in log.categories])
    lw = max([18] + [len(f.name()) for f in tops])
    out.append("Largest forests by peak (per-category peaks):")
    for i, f in enumerate(tops):
        line = "  %2d. %s %10s" % (i + 1, text_name(f.name(), lw), format_bytes(f.peak_bytes))
        cats = _top_categories(f.category_peaks)
        if cats:
            line += "  " + cats
        out.append(line + ("   <-- largest" if i == 0 else ""))
    best = plotdata.category_max_peaks(log.forests, log.categories)
    if best:
        out.append("Largest forest peak per category:")
        for c, (b, f) in best.items():
            out.append("  %s %10s  in %s" % (text_name(c, w), format_bytes(b), text_name(f.name())))
    if log.fields:
        out.append("User fields (min / mean / max over the forests that set them):")
        for name in log.fields:
            vals = [f.fields.get(name) for f in log.forests]
            vals = [v for v in vals if v is not None]
            if not vals:
                out.append("  %s (never set)" % text_name(name, w))
                continue
            out.append("  %s %s / %s / %s  (%s forests)"
                       % (text_name(name, w), format_number(min(vals)),
                          format_number(sum(vals) / len(vals)), format_number(max(vals)),
                          format_count(len(vals))))
    return out


def report_summary(report):
    """Lines describing a LoadedReport: its peak composition and, for a
    merged report, the peak of each rank."""
    out = []
    if report.kind == "merged":
        d = report.data
        out.append("=== Peak Composition: %s (%d ranks) ===" % (report.path, d["ranks"]))
        p = d["peak"]
        line = "Peak %s on rank %d" % (format_bytes(p["peak_bytes"]), p["rank"])
        comp = composition_text(p.get("composition") or {})
        where = where_text(p.get("context") or "", p.get("label") or "")
        out.append(line + (", reached %s: %s" % (where, comp) if comp else
                           " (no composition recorded)"))
        rp = plotdata.rank_peaks(report)
        if rp is not None:
            rows = {r["rank"]: r for r in d["per_rank"]}
            out.append("=== Peak per Rank ===")
            out.append("  %-6s %10s %10s  %s" % ("rank", "peak", "current", "forests"))
            for r, peak in zip(rp.ranks, rp.peaks):
                out.append("  %-6d %10s %10s  %s%s"
                           % (r, format_bytes(peak), format_bytes(rows[r]["bytes"]),
                              format_count(rows[r].get("epochs") or 0),
                              "   <-- largest" if r == rp.max_rank else ""))
        return out
    rank = "" if report.rank is None else " (rank %d)" % report.rank
    out.append("=== Peak Composition: %s%s ===" % (report.path, rank))
    pc = report.data["peak_composition"]
    if pc is None:
        out.append("Peak %s (no composition recorded)"
                   % format_bytes(report.data["total"]["peak_bytes"]))
        return out
    comp = composition_text(pc["categories"])
    out.append("Peak %s, reached %s%s" % (format_bytes(pc["peak_bytes"]),
                                         where_text(pc["context"], pc["label"]),
                                         ": " + comp if comp else ""))
    out.append("  (bytes of each category at one moment, adding up to %s)"
               % format_bytes(pc["bytes"]))
    return out


def summary_text(log, report):
    """The whole summary: the epoch log's part, then the report's."""
    lines = []
    if log is not None:
        lines += epoch_log_summary(log)
    if report is not None:
        lines += report_summary(report)
    return "\n".join(lines) + "\n"
