"""plot: PNG figures of an epoch log and a report (matplotlib, Agg backend).

The data of each figure comes from plotdata.py; this module only draws it.
Every figure is FIGSIZE inches at DPI (1000 x 500 pixels), byte axes in the
unit that suits their largest value (KB, MB, GB, ...).
"""

import os

from . import plotdata
from .errors import ReportError
from .fmt import byte_unit, format_axis_bytes, format_bytes, format_count

FIGSIZE = (10, 5)  # inches
DPI = 100          # pixels per inch: 1000 x 500 pixel images

MATPLOTLIB_MISSING = (
    "plot needs matplotlib, and no Python with it was found (this one is %s); "
    "install the Debian package python3-matplotlib (apt-get install python3-matplotlib), "
    "or point MIMICMEM_PYTHON at a python3 that has matplotlib")


class MatplotlibMissing(Exception):
    """matplotlib cannot be imported by this interpreter."""


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only, never a window)."""
    try:
        import matplotlib
    except ImportError as e:
        raise MatplotlibMissing(str(e))
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _new_figure(plt):
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    return fig, ax


def _save(plt, fig, path):
    try:
        fig.savefig(path, dpi=DPI)
    except OSError as e:
        raise ReportError(path, "cannot write: %s" % (e.strerror or e))
    finally:
        plt.close(fig)
    return path


def _byte_axis(axis, max_bytes):
    """Scales an axis to the unit of max_bytes; returns (divisor, unit)."""
    from matplotlib.ticker import FuncFormatter
    div, unit = byte_unit(max(max_bytes, 1))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: "%g" % v))
    return div, unit


def plot_forest_peaks(plt, log, path):
    """forest-peaks.png: each forest's peak (a line) over the categories'
    own peaks in that forest (stacked areas), against the epoch."""
    s = plotdata.forest_peak_series(log.forests, log.categories)
    fig, ax = _new_figure(plt)
    stack_tops = [sum(col) for col in zip(*(vals for _, vals in s.stacks))]
    top = max(s.peaks + stack_tops)
    div, unit = _byte_axis(ax.yaxis, top)
    if s.stacks:
        ax.stackplot(s.x, *[[v / div for v in vals] for _, vals in s.stacks],
                     labels=[name for name, _ in s.stacks], alpha=0.75, linewidth=0)
    ax.plot(s.x, [p / div for p in s.peaks], color="black", linewidth=0.7, alpha=0.8,
            label="forest peak", marker="." if len(s.x) <= 60 else None)
    what = "%s forests" % format_count(s.n_forests)
    if s.bin_size > 1:
        what += "; each point: the largest of %s consecutive forests" % format_count(s.bin_size)
    ax.set_title("Peak per forest (%s)" % what)
    ax.set_xlabel("Forest (epoch)")
    ax.set_ylabel("Bytes (%s)" % unit)
    ax.set_ylim(bottom=0)
    if len(s.x) > 1:
        ax.set_xlim(s.x[0], s.x[-1])
    ax.grid(True, axis="y", alpha=0.3)
    # the legend (right of the plot) says how to read the stack
    legend = ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
                       frameon=False, title="each category's own peak\nin the forest, stacked;\n"
                       "their moments may differ,\nso the stack can exceed\nthe forest peak")
    legend.get_title().set_fontsize("small")
    fig.subplots_adjust(left=0.08, right=0.76, top=0.9, bottom=0.11)
    return _save(plt, fig, path)


def plot_peak_distribution(plt, log, path):
    """forest-peak-distribution.png: histogram of forest peaks on a log
    axis, the largest forests marked by vertical lines."""
    h = plotdata.forest_peak_histogram(log.forests)
    fig, ax = _new_figure(plt)
    if h.counts:
        widths = [b - a for a, b in zip(h.edges, h.edges[1:])]
        ax.bar(h.edges[:-1], h.counts, width=widths, align="edge", color="#4c72b0",
               edgecolor="white", linewidth=0.3)
        ax.set_xscale("log")
        ticks = plotdata.byte_ticks(h.edges[0], h.edges[-1])
        ax.set_xticks(ticks)
        ax.set_xticklabels([format_axis_bytes(t) for t in ticks])
        ax.minorticks_off()
        colors = ["#c44e52", "#dd8452", "#8172b3", "#55a868", "#937860"]
        for i, (name, peak) in enumerate(h.marked):
            ax.axvline(peak, color=colors[i % len(colors)], linestyle="--", linewidth=1.2,
                       label="%d. %s: %s" % (i + 1, name, format_bytes(peak)))
        if h.marked:  # right of the plot: the largest forests sit at the right end
            ax.legend(title="largest forests", loc="upper left", bbox_to_anchor=(1.01, 1.0),
                      fontsize="small", frameon=False)
    title = "Distribution of forest peaks (%s forests)" % format_count(len(log.forests))
    if h.zero_count:
        title += "; %s forests with 0 B not shown" % format_count(h.zero_count)
    ax.set_title(title)
    ax.set_xlabel("Forest peak (bytes, log scale)")
    ax.set_ylabel("Forests")
    ax.grid(True, axis="y", alpha=0.3)
    fig.subplots_adjust(left=0.08, right=0.76, top=0.9, bottom=0.11)
    return _save(plt, fig, path)


def plot_peak_composition(plt, comp, path):
    """peak-composition.png: bytes of each category at the peak,
    horizontal bars, largest at the top."""
    fig, ax = _new_figure(plt)
    names = [n for n, _ in comp.bars]
    values = [b for _, b in comp.bars]
    div, unit = _byte_axis(ax.xaxis, max(values))
    ys = list(range(len(names)))
    ax.barh(ys, [v / div for v in values], color="#4c72b0")
    ax.set_yticks(ys)
    ax.set_yticklabels(names, fontsize="small" if len(names) > 12 else "medium")
    ax.invert_yaxis()
    for y, v in zip(ys, values):
        ax.text(v / div, y, " " + format_bytes(v), va="center", fontsize="small")
    ax.set_xlim(0, max(values) / div * 1.15)
    where = comp.where + ("" if comp.rank is None else " on rank %d" % comp.rank)
    ax.set_title("Bytes per category at the peak: %s, reached %s\n(categories add up to %s "
                 "at the moment the composition was recorded)"
                 % (format_bytes(comp.peak_bytes), where, format_bytes(comp.total)), fontsize=10)
    ax.set_xlabel("Bytes (%s)" % unit)
    ax.grid(True, axis="x", alpha=0.3)
    fig.subplots_adjust(left=0.2, right=0.97, top=0.86, bottom=0.11)
    return _save(plt, fig, path)


def plot_rank_peaks(plt, rp, path):
    """rank-peaks.png: the peak of each rank, the largest marked."""
    fig, ax = _new_figure(plt)
    div, unit = _byte_axis(ax.yaxis, max(rp.peaks))
    colors = ["#c44e52" if r == rp.max_rank else "#4c72b0" for r in rp.ranks]
    ax.bar(rp.ranks, [p / div for p in rp.peaks], color=colors, width=0.8)
    hi = rp.peaks[rp.ranks.index(rp.max_rank)]
    ax.annotate("rank %d: %s" % (rp.max_rank, format_bytes(hi)), xy=(rp.max_rank, hi / div),
                xytext=(0, 6), textcoords="offset points", ha="center", fontsize="small",
                color="#c44e52")
    ax.set_ylim(0, hi / div * 1.12)
    mean = sum(rp.peaks) / len(rp.peaks)
    ax.axhline(mean / div, color="black", linestyle=":", linewidth=1,
               label="mean %s" % format_bytes(mean))
    ax.legend(loc="upper right", fontsize="small")
    ax.set_title("Peak per rank (%s ranks); largest on rank %d"
                 % (format_count(len(rp.ranks)), rp.max_rank))
    ax.set_xlabel("Rank")
    ax.set_ylabel("Peak (%s)" % unit)
    if len(rp.ranks) <= 32:
        ax.set_xticks(rp.ranks)
    ax.grid(True, axis="y", alpha=0.3)
    fig.subplots_adjust(left=0.08, right=0.97, top=0.9, bottom=0.11)
    return _save(plt, fig, path)


def write_plots(log, report, out_dir):
    """Writes every figure the inputs allow into out_dir (created if
    missing); returns the paths written, in order.

    log: an EpochLog or None; report: a LoadedReport or None.
    """
    plt = pyplot()
    if log is not None and not log.forests:
        raise ReportError(log.path, "no forests to plot")
    comp = plotdata.peak_composition(report) if report is not None else None
    rp = plotdata.rank_peaks(report) if report is not None else None
    if log is None and comp is None and rp is None:
        raise ReportError(report.path, "nothing to plot: the report records no peak "
                                       "composition (give --epochs too)")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise ReportError(out_dir, "cannot create the directory: %s" % (e.strerror or e))
    written = []
    if log is not None:
        written.append(plot_forest_peaks(plt, log, os.path.join(out_dir, "forest-peaks.png")))
        written.append(plot_peak_distribution(
            plt, log, os.path.join(out_dir, "forest-peak-distribution.png")))
    if comp is not None:
        written.append(plot_peak_composition(
            plt, comp, os.path.join(out_dir, "peak-composition.png")))
    if rp is not None:
        written.append(plot_rank_peaks(plt, rp, os.path.join(out_dir, "rank-peaks.png")))
    return written
