"""merge: exact merged figures from hand-made per-rank reports.

The expected values below were worked out by hand from the fixtures (see
the comments); they are what mm_mpi_report must write for the same ranks.
"""

import json

import pytest

from mimicmem_report.cli import main
from mimicmem_report.errors import ReportError
from mimicmem_report.load import load_rank_reports, rank_from_file_name
from mimicmem_report.merge import merge_reports, merged_text, rank_stat, to_json


def S(lo, mean, hi, rank):
    return {"min": lo, "mean": mean, "max": hi, "max_rank": rank}


def merged(paths):
    return merge_reports([r.data for r in load_rank_reports(paths)])


# two-ranks: rank 0 bare; rank 1 the exit wrapper, its categories in another
# order, "Trees" missing and "IO" new; equal total peaks (1800: max_rank 0),
# equal Cooling peaks (300: max_rank 0).
TWO_RANKS = {
    "schema_version": 1,
    "ranks": 2,
    "process": {"bytes": S(70, 110.0, 150, 0), "peak_bytes": S(1800, 1800.0, 1800, 0)},
    "categories": [
        {"name": "Halos", "group": "Core",
         "bytes": S(40, 70.0, 100, 0), "peak_bytes": S(1000, 1100.0, 1200, 1)},
        {"name": "Trees", "group": "Core",
         "bytes": S(0, 0.0, 0, 0), "peak_bytes": S(0, 250.0, 500, 0)},
        {"name": "Cooling", "group": "Physics Modules",
         "bytes": S(20, 35.0, 50, 0), "peak_bytes": S(300, 300.0, 300, 0)},
        {"name": "IO", "group": "Core",
         "bytes": S(0, 5.0, 10, 1), "peak_bytes": S(0, 125.0, 250, 1)},
    ],
    "peak": {"rank": 0, "peak_bytes": 1800, "context": "Forest", "label": "Forest 3",
             "composition": {"Halos": 900, "Trees": 500, "Cooling": 300}},
    # count 4 + 2; min(400, 300); max 1800 on rank 0;
    # mean (800.0 * 4 + 1000.0 * 2) / 6 = 866.67
    "epochs": {"count": 6, "peak_bytes": S(300, (800.0 * 4 + 1000.0 * 2) / 6, 1800, 0),
               "top": [
                   {"rank": 0, "context": "Forest", "label": "Forest 3", "epoch": 3,
                    "peak_bytes": 1800},
                   {"rank": 1, "context": "Forest", "label": "Forest 0", "epoch": 0,
                    "peak_bytes": 1700},
                   {"rank": 0, "context": "Forest", "label": "Forest 1", "epoch": 1,
                    "peak_bytes": 600},
                   {"rank": 0, "context": "Forest", "label": "Forest 0", "epoch": 0,
                    "peak_bytes": 400},
                   {"rank": 0, "context": "Forest", "label": "Forest 2", "epoch": 2,
                    "peak_bytes": 400},
                   {"rank": 1, "context": "Forest", "label": "Forest 1", "epoch": 1,
                    "peak_bytes": 300},
               ]},
    "per_rank": [{"rank": 0, "bytes": 150, "peak_bytes": 1800, "epochs": 4},
                 {"rank": 1, "bytes": 70, "peak_bytes": 1800, "epochs": 2}],
}


def top(rank, context, label, epoch, peak):
    return {"rank": rank, "context": context, "label": label, "epoch": epoch,
            "peak_bytes": peak}


# four-ranks: ranks 0, 2 and 3 have no "rank" field (from the file names,
# mm7-report-3.json -> 3: the last number); ranks 2 and 3 are exit wrappers;
# rank 2 has no epochs and no peak composition but the largest peak; rank 3
# gives category A another group (the first rank's group wins); 14 top
# forests of which 10 are kept, ties by rank then epoch.
FOUR_RANKS = {
    "schema_version": 1,
    "ranks": 4,
    "process": {"bytes": S(10, 16.5, 31, 2), "peak_bytes": S(140, 285.25, 401, 2)},
    "categories": [
        {"name": "A", "group": "G1", "bytes": S(0, 7.5, 10, 0), "peak_bytes": S(0, 70.0, 100, 0)},
        {"name": "B", "group": "G1", "bytes": S(0, 7.5, 30, 2),
         "peak_bytes": S(0, 150.0, 400, 2)},
        {"name": "C", "group": "G2", "bytes": S(0, 1.25, 5, 1), "peak_bytes": S(0, 10.0, 40, 1)},
        {"name": "D", "group": "G2", "bytes": S(0, 0.25, 1, 2), "peak_bytes": S(0, 0.25, 1, 2)},
    ],
    "peak": {"rank": 2, "peak_bytes": 401, "context": "", "label": "", "composition": {}},
    # ranks 0, 1, 3: count 5 + 4 + 3; min(50, 20, 60); max 100 on ranks 0 and 1
    # (lowest: 0); mean (70 * 5 + 52.5 * 4 + 70 * 3) / 12
    "epochs": {"count": 12, "peak_bytes": S(20, 770 / 12, 100, 0),
               "top": [top(0, "Forest", "Forest 0", 0, 100), top(1, "Tree", "Tree 0", 0, 100),
                       top(0, "Forest", "Forest 1", 1, 90), top(3, "Forest", "Forest 5", 5, 90),
                       top(1, "Tree", "Tree 1", 1, 70), top(0, "Forest", "Forest 2", 2, 60),
                       top(3, "Forest", "Forest 6", 6, 60), top(3, "Forest", "Forest 7", 7, 60),
                       top(0, "Forest", "Forest 3", 3, 50), top(0, "Forest", "Forest 4", 4, 50)]},
    "per_rank": [{"rank": 0, "bytes": 10, "peak_bytes": 300, "epochs": 5},
                 {"rank": 1, "bytes": 15, "peak_bytes": 140, "epochs": 4},
                 {"rank": 2, "bytes": 31, "peak_bytes": 401, "epochs": 0},
                 {"rank": 3, "bytes": 10, "peak_bytes": 300, "epochs": 3}],
}


def test_two_ranks(two_ranks):
    assert merged(two_ranks) == TWO_RANKS


def test_four_ranks(four_ranks):
    assert merged(four_ranks) == FOUR_RANKS


def test_input_order_does_not_matter(four_ranks):
    assert merged(list(reversed(four_ranks))) == FOUR_RANKS


def test_key_order_follows_the_layout(two_ranks):
    m = merged(two_ranks)
    assert list(m) == ["schema_version", "ranks", "process", "categories", "peak", "epochs",
                       "per_rank"]
    assert list(m["categories"][0]) == ["name", "group", "bytes", "peak_bytes"]
    assert list(m["process"]["bytes"]) == ["min", "mean", "max", "max_rank"]
    assert list(m["epochs"]["top"][0]) == ["rank", "context", "label", "epoch", "peak_bytes"]


def test_json_output_means_have_one_decimal(four_ranks, capsys):
    assert main(["merge"] + four_ranks) == 0
    out = capsys.readouterr().out
    assert out.endswith("}\n") and out.count("\n") == 1
    assert json.loads(out)["ranks"] == 4
    # 285.25 and 1.25 round half up, as the C library's means do (mm_mpi_report)
    assert '"peak_bytes":{"min":140,"mean":285.3,"max":401,"max_rank":2}' in out
    assert '"bytes":{"min":0,"mean":1.3,"max":5,"max_rank":1}' in out
    assert '"peak_bytes":{"min":20,"mean":64.2,"max":100,"max_rank":0}' in out
    assert '"mean":7.5,' in out and '"mean":70.0,' in out


def test_out_file(two_ranks, tmp_path):
    out = tmp_path / "merged.json"
    assert main(["merge", "--out", str(out)] + two_ranks) == 0
    m = json.loads(out.read_text())
    assert m["epochs"]["peak_bytes"]["mean"] == 866.7
    assert m["process"] == TWO_RANKS["process"]


def test_to_json():
    assert to_json({"a": [1, 2.0, 2.25, "é\"x"], "b": {}, "c": None, "d": True}) == \
        '{"a":[1,2.0,2.3,"é\\"x"],"b":{},"c":null,"d":true}'


def test_rank_stat_ties_take_the_lowest_rank():
    assert rank_stat([(0, 5), (3, 9), (7, 9), (9, 1)]) == S(1, 6.0, 9, 3)


def test_rank_from_file_name():
    assert rank_from_file_name("report-12.json") == 12
    assert rank_from_file_name("/a/b7/mm7-report-3.json") == 3
    assert rank_from_file_name("run2/report.json") is None


def write(path, obj):
    path.write_text(json.dumps(obj))
    return str(path)


def rank_report(rank=None, peak=10, epochs=None):
    r = {"schema_version": 1, "total": {"bytes": 1, "peak_bytes": peak}, "categories": []}
    if rank is not None:
        r["rank"] = rank
    if epochs is not None:
        r["epochs"] = epochs
    return r


def test_no_forests_anywhere(tmp_path):
    """Only empty epoch summaries: count 0, all zero, max_rank -1."""
    paths = [write(tmp_path / "a-0.json", rank_report(epochs={"count": 0, "top": []})),
             write(tmp_path / "a-1.json", rank_report())]
    m = merged(paths)
    assert m["epochs"] == {"count": 0, "peak_bytes": S(0, 0.0, 0, -1), "top": []}
    assert m["categories"] == []
    assert m["per_rank"][0]["epochs"] == 0


def test_rank_with_zero_forests_does_not_set_the_min(tmp_path):
    empty = {"count": 0, "min_peak_bytes": 0, "mean_peak_bytes": 0.0, "max_peak_bytes": 0,
             "top": []}
    some = {"count": 2, "min_peak_bytes": 7, "mean_peak_bytes": 8.0, "max_peak_bytes": 9,
            "top": []}
    m = merged([write(tmp_path / "r-0.json", rank_report(epochs=empty)),
                write(tmp_path / "r-1.json", rank_report(epochs=some))])
    assert m["epochs"]["peak_bytes"] == S(7, 8.0, 9, 1)


def test_rank_field_wins_over_the_file_name(tmp_path):
    m = merged([write(tmp_path / "report-0.json", rank_report(rank=5, peak=3)),
                write(tmp_path / "report-1.json", rank_report(peak=4))])
    assert [r["rank"] for r in m["per_rank"]] == [1, 5]
    assert m["peak"]["rank"] == 1


def test_duplicate_rank_is_an_error(tmp_path):
    a = write(tmp_path / "report-0.json", rank_report())
    b = write(tmp_path / "x.json", rank_report(rank=0))
    with pytest.raises(ReportError) as e:
        load_rank_reports([a, b])
    assert str(e.value) == "%s: rank 0 again (already read from %s)" % (b, a)


def test_merged_report_is_not_an_input(two_ranks, tmp_path):
    out = tmp_path / "merged-7.json"
    out.write_text(to_json(merged(two_ranks)))
    with pytest.raises(ReportError, match="a merged report, not a per-rank report"):
        load_rank_reports([str(out)])


def test_bad_field_types_name_the_field(tmp_path):
    r = rank_report(rank=0)
    r["categories"] = [{"name": "A", "bytes": -1, "peak_bytes": 0}]
    with pytest.raises(ReportError, match=r'"categories\[0\].bytes": expected a non-negative '
                                          r'integer, got -1'):
        load_rank_reports([write(tmp_path / "r.json", r)])


def test_text_form(two_ranks, capsys):
    assert main(["merge", "--format", "text"] + two_ranks) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "=== Memory Usage by Category: 2 ranks (min / mean / max (rank)) ==="
    assert lines[1:10] == [
        "Core:",
        "  Halos            40 B / 70 B / 100 B (0)   peak 1000 B / 1.1 KB / 1.2 KB (1)",
        "  Trees            0 B / 0 B / 0 B (0)       peak 0 B / 250 B / 500 B (0)",
        "  IO               0 B / 5 B / 10 B (1)      peak 0 B / 125 B / 250 B (1)",
        "Physics Modules:",
        "  Cooling          20 B / 35 B / 50 B (0)    peak 300 B / 300 B / 300 B (0)",
        "Total              70 B / 110 B / 150 B (0)  peak 1.8 KB / 1.8 KB / 1.8 KB (0)",
        "Peak               1.8 KB on rank 0, reached in Forest 3: Halos 900 B, Trees 500 B, "
        "Cooling 300 B",
        "=== Per-Forest Statistics: 2 ranks ===",
    ]
    assert "Forests (epochs)      6" in lines
    assert "Peak per forest       mean 867 B, min 300 B, max 1.8 KB (rank 0)" in lines
    assert "   1. rank 0     Forest 3               1.8 KB   <-- largest" in lines
    assert "   6. rank 1     Forest 1                300 B" in lines


def test_text_form_without_composition(four_ranks):
    text = merged_text(merged(four_ranks))
    assert "\nPeak               401 B on rank 2\n" in text
    assert "  10. rank 0     Forest 4                 50 B\n" in text
    assert "G2:\n  C " in text


def test_text_form_big_numbers(tmp_path):
    big = 851863142  # 812.4 MB
    paths = [write(tmp_path / "r-0.json", rank_report(peak=big)),
             write(tmp_path / "r-1.json", rank_report(peak=5 * 1024 ** 3))]
    text = merged_text(merged(paths))
    assert "peak 812.4 MB / 2.9 GB / 5.0 GB (1)" in text


def test_null_rank_counts_as_absent(tmp_path):
    r = rank_report()
    r["rank"] = None
    assert merged([write(tmp_path / "report-4.json", r)])["per_rank"][0]["rank"] == 4
