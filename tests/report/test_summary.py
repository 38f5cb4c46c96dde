"""summary: the figures of plot as text."""

from conftest import fixture
from mimicmem_report.cli import main
from mimicmem_report.load import load_rank_reports
from mimicmem_report.merge import merge_reports, to_json


def summary(capsys, *args):
    assert main(["summary"] + list(args)) == 0
    return capsys.readouterr().out.splitlines()


def test_epoch_log(capsys):
    lines = summary(capsys, "--epochs", fixture("epochs", "forests-wide.csv"))
    assert lines[1:4] == [
        "Forests (epochs)      6",
        "Peak per forest       mean 3.0 KB, min 500 B, max 7.8 KB",
        "Percentiles           p50 2.0 KB, p90 7.8 KB, p99 7.8 KB",
    ]
    assert lines[0].endswith("forests-wide.csv (wide CSV)")
    assert lines[4] == "Largest forests by peak (per-category peaks):"
    assert lines[5] == ('   1. Forest 3               7.8 KB  Halos 4.9 KB, Trees 2.0 KB, '
                        'Odd, "name" 1.5 KB   <-- largest')
    assert lines[7] == ("   3. epoch 5                2.9 KB  Cooling 1.9 KB, Halos 1000 B, "
                        'Odd, "name" 200 B')
    i = lines.index("Largest forest peak per category:")
    assert lines[i + 1:i + 5] == [
        "  Halos                4.9 KB  in Forest 3",
        "  Trees                2.0 KB  in Forest 3",
        "  Cooling              1.9 KB  in epoch 5",
        '  Odd, "name"          1.5 KB  in Forest 3',
    ]
    assert lines[-2:] == ["  halos            5 / 30.83 / 80  (6 forests)",
                          "  wall_s           0.5 / 0.875 / 1.25  (2 forests)"]


def test_rank_report(capsys):
    lines = summary(capsys, "--report", fixture("two-ranks", "report-0.json"))
    assert lines[1:] == [
        "Peak 1.8 KB, reached in Forest 3: Halos 900 B, Trees 500 B, Cooling 300 B",
        "  (bytes of each category at one moment, adding up to 1.7 KB)"]
    assert lines[0].endswith("report-0.json (rank 0) ===")


def test_merged_report(four_ranks, tmp_path, capsys):
    path = tmp_path / "merged.json"
    path.write_text(to_json(merge_reports([r.data for r in load_rank_reports(four_ranks)])))
    lines = summary(capsys, "--epochs", fixture("epochs", "forests.csv"), "--report", str(path))
    i = lines.index("=== Peak per Rank ===")
    assert lines[i - 1] == "Peak 401 B on rank 2 (no composition recorded)"
    assert lines[i + 1:] == [
        "  rank         peak    current  forests",
        "  0           300 B       10 B  5",
        "  1           140 B       15 B  4",
        "  2           401 B       31 B  0   <-- largest",
        "  3           300 B       10 B  3",
    ]
