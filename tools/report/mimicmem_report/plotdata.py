"""The figures behind each plot, computed without matplotlib.

plot.py draws what these functions return, summary.py prints some of the
same figures, and the tests check them on small known inputs. All byte
figures are bytes as requested by the program.
"""

import math

# forest-peaks.png: above this many forests, forests are grouped into bins and
# each bin is drawn as its largest forest, so 100,000 forests plot quickly.
FOREST_BIN_THRESHOLD = 3000
FOREST_BINS = 1000
# categories stacked one by one; the rest are summed into one "other" band
MAX_STACKED_CATEGORIES = 8
# forest-peak-distribution.png
HISTOGRAM_BINS = 50
MARKED_FORESTS = 5


def forests_by_epoch(forests):
    """The forests sorted by epoch (stable: file order among equal epochs)."""
    return sorted(forests, key=lambda f: f.epoch)


def top_forests(forests, n=10):
    """The n forests with the largest peaks, largest first; ties by epoch
    ascending, then file order."""
    order = sorted(range(len(forests)), key=lambda i: (-forests[i].peak_bytes,
                                                       forests[i].epoch, i))
    return [forests[i] for i in order[:n]]


def category_max_peaks(forests, categories):
    """{category: (its largest peak over the forests in bytes, the first
    forest reaching it)} for each category in `categories` that has bytes,
    ordered by that peak, largest first (ties: the given order)."""
    best = {}
    for f in forests:
        for name, b in f.category_peaks.items():
            if name not in best or b > best[name][0]:
                best[name] = (b, f)
    ranked = [c for c in categories if c in best]
    ranked.sort(key=lambda c: -best[c][0])
    return {c: best[c] for c in ranked}


def forest_peak_stats(forests):
    """(count, min, mean, max) of the forests' peaks in bytes (mean a float);
    all zero when there are no forests."""
    if not forests:
        return 0, 0, 0.0, 0
    peaks = [f.peak_bytes for f in forests]
    return len(peaks), min(peaks), sum(peaks) / len(peaks), max(peaks)


class ForestPeakSeries:
    """Data of forest-peaks.png.

    x: epoch of each point; peaks: the forest peak at each point (bytes);
    stacks: [(name, [bytes at each point])], bottom band first: each shown
            category's own peak in the forest, and possibly a last
            "other (k categories)" band summing the rest;
    bin_size: forests per point (1: every forest is a point; above that,
              each point is the largest forest of bin_size consecutive ones);
    n_forests: all forests.
    """

    def __init__(self, x, peaks, stacks, bin_size, n_forests):
        self.x = x
        self.peaks = peaks
        self.stacks = stacks
        self.bin_size = bin_size
        self.n_forests = n_forests


def forest_peak_series(forests, categories, threshold=FOREST_BIN_THRESHOLD, bins=FOREST_BINS,
                       max_categories=MAX_STACKED_CATEGORIES):
    """ForestPeakSeries of an epoch log's forests (any order: sorted by epoch).

    categories: candidate names (EpochLog.categories); the max_categories
    with the largest peaks get a band each, largest at the bottom. Above
    `threshold` forests, consecutive forests are grouped ceil(n / bins) at a
    time and each group is drawn as its largest forest (the first on ties),
    with that forest's own category peaks: every point is a real forest.
    """
    fs = forests_by_epoch(forests)
    n = len(fs)
    ranked = list(category_max_peaks(fs, categories))
    shown, rest = ranked[:max_categories], ranked[max_categories:]
    if len(rest) == 1:  # one band of its own beats an "other" band of one
        shown, rest = ranked, []
    bin_size = 1 if n <= threshold else -(-n // bins)
    if bin_size > 1:
        points = []
        for start in range(0, n, bin_size):
            best = fs[start]
            for f in fs[start + 1:start + bin_size]:
                if f.peak_bytes > best.peak_bytes:
                    best = f
            points.append(best)
    else:
        points = fs
    stacks = [(name, [f.category_peaks.get(name, 0) for f in points]) for name in shown]
    if rest:
        stacks.append(("other (%d categories)" % len(rest),
                       [sum(f.category_peaks.get(c, 0) for c in rest) for f in points]))
    return ForestPeakSeries([f.epoch for f in points], [f.peak_bytes for f in points],
                            stacks, bin_size, n)


class PeakHistogram:
    """Data of forest-peak-distribution.png.

    edges: bin edges in bytes, logarithmically spaced (len = bins + 1);
    counts: forests per bin (a peak equal to the last edge counts in the
            last bin);
    zero_count: forests with a peak of 0 (not on a log axis);
    marked: [(name, peak bytes)] of the largest forests, largest first.
    """

    def __init__(self, edges, counts, zero_count, marked):
        self.edges = edges
        self.counts = counts
        self.zero_count = zero_count
        self.marked = marked


def log_edges(lo, hi, bins):
    """bins + 1 edges from lo to hi (bytes, lo > 0), equally spaced in log;
    a single value lo == hi gets the range [lo / 1.25, lo * 1.25]."""
    if hi <= lo:
        lo, hi = lo / 1.25, lo * 1.25
    a, b = math.log(lo), math.log(hi)
    edges = [math.exp(a + (b - a) * i / bins) for i in range(bins + 1)]
    edges[0], edges[-1] = float(lo), float(hi)  # exact ends despite rounding
    return edges


def forest_peak_histogram(forests, bins=HISTOGRAM_BINS, marked=MARKED_FORESTS):
    """PeakHistogram of the forests' peaks (see that class)."""
    positive = [f.peak_bytes for f in forests if f.peak_bytes > 0]
    zero = len(forests) - len(positive)
    tops = [(f.name(), f.peak_bytes) for f in top_forests(forests, marked) if f.peak_bytes > 0]
    if not positive:
        return PeakHistogram([], [], zero, tops)
    edges = log_edges(min(positive), max(positive), bins)
    counts = [0] * bins
    la, span = math.log(edges[0]), math.log(edges[-1]) - math.log(edges[0])
    for v in positive:
        i = min(bins - 1, int((math.log(v) - la) / span * bins))
        # the log estimate may be one off at an edge: settle it on the edges
        while i > 0 and v < edges[i]:
            i -= 1
        while i < bins - 1 and v >= edges[i + 1]:
            i += 1
        counts[i] += 1
    return PeakHistogram(edges, counts, zero, tops)


class Composition:
    """Data of peak-composition.png: bytes of each category at the moment of
    the peak.

    peak_bytes: the peak (bytes); bars: [(category, bytes)], largest first,
    nonzero only; where: "in Forest 20", 'in context "Forest"' or "outside
    any context"; rank: the rank of the peak (merged report) or None;
    total: sum of the bars (may be below the peak: the composition is
    recorded when the peak grows by a step).
    """

    def __init__(self, peak_bytes, bars, where, rank):
        self.peak_bytes = peak_bytes
        self.bars = bars
        self.where = where
        self.rank = rank
        self.total = sum(b for _, b in bars)


def _where(context, label):
    if label:
        return "in " + label
    if context:
        return 'in context "%s"' % context
    return "outside any context"


def peak_composition(report):
    """Composition of a LoadedReport (rank: its peak_composition; merged: its
    "peak"), or None when it records none."""
    if report.kind == "merged":
        p = report.data["peak"]
        comp, peak, rank = p.get("composition") or {}, p["peak_bytes"], p["rank"]
        where = _where(p.get("context") or "", p.get("label") or "")
    else:
        pc = report.data["peak_composition"]
        if pc is None:
            return None
        comp, peak, rank = pc["categories"], pc["peak_bytes"], report.rank
        where = _where(pc["context"], pc["label"])
    bars = sorted(((n, b) for n, b in comp.items() if b), key=lambda nb: -nb[1])
    if not bars:
        return None
    return Composition(peak, bars, where, rank)


class RankPeaks:
    """Data of rank-peaks.png: ranks (ascending), their peaks (bytes), and
    max_rank, the lowest rank with the largest peak."""

    def __init__(self, ranks, peaks, max_rank):
        self.ranks = ranks
        self.peaks = peaks
        self.max_rank = max_rank


def rank_peaks(report):
    """RankPeaks of a merged LoadedReport, or None for a per-rank report."""
    if report.kind != "merged":
        return None
    rows = sorted(report.data["per_rank"], key=lambda r: r["rank"])
    ranks = [r["rank"] for r in rows]
    peaks = [r["peak_bytes"] for r in rows]
    if not rows:
        return None
    hi = max(peaks)
    return RankPeaks(ranks, peaks, min(r for r, p in zip(ranks, peaks) if p == hi))


def byte_ticks(lo, hi, max_ticks=10):
    """Tick positions (bytes) for a logarithmic byte axis from lo to hi
    (lo > 0): round binary values 2^k, adding 1.5 * 2^k when that stays
    within max_ticks, or thinning to every 2nd, 4th, ... power of 2 when
    the range is wide. Always at least two ticks, the range's ends covered."""
    if hi < lo:
        lo, hi = hi, lo
    k0 = int(math.floor(math.log2(lo)))
    k1 = int(math.ceil(math.log2(hi)))
    powers = [2.0 ** k for k in range(k0, k1 + 1)]
    inside = [t for t in powers if lo <= t <= hi]
    fine = sorted(inside + [1.5 * t for t in powers if lo <= 1.5 * t <= hi])
    if len(fine) <= max_ticks and len(fine) >= 2:
        return fine
    if len(inside) < 2:  # a narrow range: the powers around it
        below = [t for t in powers if t <= lo][-1:] or powers[:1]
        above = [t for t in powers if t >= hi][:1] or powers[-1:]
        return sorted(set(below + fine + above))
    step = 1
    while len(inside[::step]) > max_ticks:
        step *= 2
    return inside[::step]


def peak_percentiles(forests, percents=(50, 90, 99)):
    """[(p, bytes)]: the nearest-rank p-th percentile of the forests' peaks
    (the smallest peak with at least p% of the forests at or below it);
    [] when there are no forests."""
    peaks = sorted(f.peak_bytes for f in forests)
    if not peaks:
        return []
    out = []
    for p in percents:
        k = max(1, int(math.ceil(p / 100.0 * len(peaks))))
        out.append((p, peaks[k - 1]))
    return out
