"""plot: the data behind each figure from small known inputs, and the PNGs."""

import os
import time

import pytest

from conftest import fixture
from mimicmem_report import plotdata
from mimicmem_report.cli import main
from mimicmem_report.load import Forest, load_epoch_log, load_rank_reports, load_report
from mimicmem_report.merge import merge_reports, to_json

ODD = 'Odd, "name"'


@pytest.fixture
def log():
    return load_epoch_log(fixture("epochs", "forests-wide.csv"))


@pytest.fixture
def merged_path(four_ranks, tmp_path):
    path = tmp_path / "merged.json"
    path.write_text(to_json(merge_reports([r.data for r in load_rank_reports(four_ranks)])))
    return str(path)


def test_forest_peak_series(log):
    s = plotdata.forest_peak_series(log.forests, log.categories)
    assert s.bin_size == 1 and s.n_forests == 6
    assert s.x == [0, 1, 2, 3, 4, 5]
    assert s.peaks == [1000, 4000, 2000, 8000, 500, 3000]
    # bands ordered by each category's largest peak: 5000, 2000, 1900, 1500
    assert s.stacks == [("Halos", [600, 2500, 1200, 5000, 300, 1000]),
                        ("Trees", [300, 1000, 500, 2000, 0, 0]),
                        ("Cooling", [0, 800, 0, 0, 0, 1900]),
                        (ODD, [0, 0, 0, 1500, 0, 200])]


def test_forest_peak_series_other_band(log):
    s = plotdata.forest_peak_series(log.forests, log.categories, max_categories=2)
    assert [name for name, _ in s.stacks] == ["Halos", "Trees", "other (2 categories)"]
    assert s.stacks[2][1] == [0, 800, 0, 1500, 0, 2100]


def test_forest_peak_series_bins(log):
    """Above the threshold each bin is drawn as its largest forest."""
    s = plotdata.forest_peak_series(list(reversed(log.forests)), log.categories,
                                    threshold=4, bins=2)
    assert s.bin_size == 3
    assert s.x == [1, 3] and s.peaks == [4000, 8000]
    assert s.stacks[0] == ("Halos", [2500, 5000])


def test_forest_peak_series_of_many_forests_is_binned():
    forests = [Forest(i, "Forest %d" % i, 1000 + (i * 7919) % 5000,
                      {"Halos": 500 + i % 300, "Trees": 200 + i % 11})
               for i in range(20000)]
    s = plotdata.forest_peak_series(forests, ["Halos", "Trees"])
    assert s.bin_size == 20 and len(s.x) == 1000
    assert max(s.peaks) == max(f.peak_bytes for f in forests)


def test_histogram(log):
    h = plotdata.forest_peak_histogram(log.forests, bins=4)
    # peaks 500 .. 8000 = 16x: edges 500, 1000, 2000, 4000, 8000
    assert h.edges == pytest.approx([500, 1000, 2000, 4000, 8000])
    # 500 | 1000 | 2000 3000 | 4000 8000 (an edge value opens its bin; the last closes)
    assert h.counts == [1, 1, 2, 2]
    assert h.zero_count == 0
    assert h.marked == [("Forest 3", 8000), ("Forest 1", 4000), ("epoch 5", 3000),
                        ('Forest, "two"', 2000), ("Forest 0", 1000)]


def test_histogram_zero_and_single_values():
    forests = [Forest(0, "", 0, {}), Forest(1, "", 1000, {}), Forest(2, "", 1000, {})]
    h = plotdata.forest_peak_histogram(forests, bins=3)
    assert h.zero_count == 1 and sum(h.counts) == 2
    assert h.edges[0] < 1000 < h.edges[-1]
    assert plotdata.forest_peak_histogram([Forest(0, "", 0, {})]).counts == []


def test_percentiles_and_stats(log):
    assert plotdata.peak_percentiles(log.forests) == [(50, 2000), (90, 8000), (99, 8000)]
    assert plotdata.forest_peak_stats(log.forests) == (6, 500, 18500 / 6, 8000)
    assert plotdata.forest_peak_stats([]) == (0, 0, 0.0, 0)


def test_category_max_peaks(log):
    best = plotdata.category_max_peaks(log.forests, log.categories)
    assert [(c, b, f.epoch) for c, (b, f) in best.items()] == \
        [("Halos", 5000, 3), ("Trees", 2000, 3), ("Cooling", 1900, 5), (ODD, 1500, 3)]


def test_byte_ticks():
    assert plotdata.byte_ticks(500, 8000) == [512, 768, 1024, 1536, 2048, 3072, 4096, 6144]
    wide = plotdata.byte_ticks(1, 2.0 ** 40)
    assert 2 <= len(wide) <= 10 and wide[0] == 1
    narrow = plotdata.byte_ticks(70000, 90000)
    assert narrow[0] <= 70000 and narrow[-1] >= 90000


def test_composition_of_a_rank_report():
    c = plotdata.peak_composition(load_report(fixture("two-ranks", "report-0.json")))
    assert c.bars == [("Halos", 900), ("Trees", 500), ("Cooling", 300)]
    assert (c.peak_bytes, c.total, c.where, c.rank) == (1800, 1700, "in Forest 3", 0)


def test_composition_of_a_merged_report(two_ranks, tmp_path):
    path = tmp_path / "m.json"
    path.write_text(to_json(merge_reports([r.data for r in load_rank_reports(two_ranks)])))
    c = plotdata.peak_composition(load_report(str(path)))
    assert c.bars == [("Halos", 900), ("Trees", 500), ("Cooling", 300)]
    assert (c.peak_bytes, c.rank) == (1800, 0)


def test_no_composition(merged_path):
    assert plotdata.peak_composition(load_report(merged_path)) is None  # rank 2 has none
    assert plotdata.peak_composition(load_report(fixture("four-ranks", "report-1.json"))) is None


def test_rank_peaks(merged_path):
    rp = plotdata.rank_peaks(load_report(merged_path))
    assert (rp.ranks, rp.peaks, rp.max_rank) == ([0, 1, 2, 3], [300, 140, 401, 300], 2)
    assert plotdata.rank_peaks(load_report(fixture("two-ranks", "report-0.json"))) is None


def png_size(path):
    import matplotlib.image
    img = matplotlib.image.imread(path)
    return img.shape[1], img.shape[0]


def test_every_png_written_and_decodable(merged_path, tmp_path, capsys):
    out = tmp_path / "new" / "plots"
    assert main(["plot", "--epochs", fixture("epochs", "forests.jsonl"),
                 "--report", merged_path, "--out", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    names = ["forest-peaks.png", "forest-peak-distribution.png", "rank-peaks.png"]
    assert printed == [str(out / n) for n in names]  # no composition: rank 2 has none
    for path in printed:
        assert png_size(path) == (1000, 500)


def test_composition_png(two_ranks, tmp_path, capsys):
    assert main(["plot", "--epochs", fixture("epochs", "forests.csv"), "--report",
                 fixture("two-ranks", "report-0.json"), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.split()
    assert [os.path.basename(p) for p in printed] == \
        ["forest-peaks.png", "forest-peak-distribution.png", "peak-composition.png"]
    assert png_size(printed[2]) == (1000, 500)


def test_plot_100000_forests(tmp_path, capsys):
    lines = ["epoch,label,peak_bytes,category_peaks"]
    lines += ["%d,Forest %d,%d,Halos=%d;Trees=%d" % (i, i, 2000 + (i * 7919) % 100000,
                                                     1000 + i % 977, 300 + i % 13)
              for i in range(100000)]
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines) + "\n")
    t = time.time()
    assert main(["plot", "--epochs", str(path), "--out", str(tmp_path / "p")]) == 0
    assert time.time() - t < 20
    for p in capsys.readouterr().out.split():
        assert png_size(p) == (1000, 500)


def test_report_only(merged_path, tmp_path, capsys):
    assert main(["plot", "--report", merged_path, "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "rank-peaks.png")]


def test_nothing_to_plot(tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["plot", "--report", fixture("four-ranks", "report-1.json"),
                 "--out", str(out)]) == 1
    assert capsys.readouterr().err.endswith(
        "report-1.json: nothing to plot: the report records no peak composition "
        "(give --epochs too)\n")
    empty = tmp_path / "empty.csv"
    empty.write_text("epoch,label,peak_bytes,category_peaks\n")
    assert main(["plot", "--epochs", str(empty), "--out", str(out)]) == 1
    assert capsys.readouterr().err == "mimicmem-report: %s: no forests to plot\n" % empty
    assert not out.exists()


def test_one_forest(tmp_path, capsys):
    one = tmp_path / "one.jsonl"
    one.write_text('{"epoch":0,"label":"only","peak_bytes":2048,"category_peaks":{"A":2048}}\n')
    assert main(["plot", "--epochs", str(one), "--out", str(tmp_path)]) == 0
    for p in capsys.readouterr().out.split():
        assert png_size(p) == (1000, 500)
