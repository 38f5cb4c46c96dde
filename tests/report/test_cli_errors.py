"""Bad input: one message "mimicmem-report: <file>[:<line>]: <what>" on
stderr and exit status 1; bad usage: status 2.

The main cases run the launcher as a subprocess (all at once, to keep the
suite fast: each run imports matplotlib to choose its interpreter); the
others call the entry point in-process.
"""

import subprocess

import pytest

from conftest import LAUNCHER, fixture, launcher_env
from mimicmem_report.cli import main

REPORT_0 = fixture("two-ranks", "report-0.json")
MALFORMED_JSON = fixture("bad", "malformed.json")
MALFORMED_LINE = fixture("bad", "malformed-line.csv")
SCHEMA_2 = fixture("bad", "schema-2.json")
RANK_0_AGAIN = fixture("bad", "rank-0-again.json")

# name: (arguments, expected exit status, expected stderr or its start + "...")
CASES = {
    "missing file": (["merge", REPORT_0, "/nonexistent/report-1.json"], 1,
                     "mimicmem-report: /nonexistent/report-1.json: no such file\n"),
    "malformed JSON": (["merge", MALFORMED_JSON], 1,
                       "mimicmem-report: %s:3: malformed JSON: ..." % MALFORMED_JSON),
    "malformed epoch line": (["summary", "--epochs", MALFORMED_LINE], 1,
                             'mimicmem-report: %s:5: peak_bytes: expected a non-negative '
                             'integer, got "12k"\n' % MALFORMED_LINE),
    "schema version": (["merge", REPORT_0, SCHEMA_2], 1,
                       "mimicmem-report: %s: schema_version 2 is not supported (this tool "
                       "reads 1)\n" % SCHEMA_2),
    "duplicate rank": (["merge", REPORT_0, RANK_0_AGAIN], 1,
                       "mimicmem-report: %s: rank 0 again (already read from %s)\n"
                       % (RANK_0_AGAIN, REPORT_0)),
    "no input files": (["merge"], 1, "mimicmem-report: merge: no input files\n"),
    "bad usage": (["merge", "--format", "xml", REPORT_0], 2, "usage: ..."),
}


@pytest.fixture(scope="module")
def launcher_results():
    """{case: (status, stdout, stderr)} of every CASES run, run in parallel."""
    procs = {name: subprocess.Popen([LAUNCHER] + args, env=launcher_env(),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    universal_newlines=True)
             for name, (args, _, _) in CASES.items()}
    results = {}
    for name, p in procs.items():
        out, err = p.communicate(timeout=120)
        results[name] = (p.returncode, out, err)
    return results


@pytest.mark.parametrize("case", sorted(CASES))
def test_launcher_error(case, launcher_results):
    _, status, message = CASES[case]
    got_status, out, err = launcher_results[case]
    assert got_status == status, err
    assert out == ""
    if message.endswith("..."):
        assert err.startswith(message[:-3]), err
    else:
        assert err == message


def error_of(capsys, args):
    """(status, stderr) of the entry point called in-process."""
    status = main(args)
    captured = capsys.readouterr()
    assert captured.out == ""
    return status, captured.err


def test_more_missing_files(capsys):
    assert error_of(capsys, ["summary", "--epochs", "/nonexistent/e.csv"]) == \
        (1, "mimicmem-report: /nonexistent/e.csv: no such file\n")
    assert error_of(capsys, ["plot", "--report", "/nonexistent/m.json", "--out", "/tmp/x"]) == \
        (1, "mimicmem-report: /nonexistent/m.json: no such file\n")


def test_plot_reports_the_bad_line_too(capsys):
    assert error_of(capsys, ["plot", "--epochs", MALFORMED_LINE, "--out", "/tmp/never"]) == \
        (1, 'mimicmem-report: %s:5: peak_bytes: expected a non-negative integer, got "12k"\n'
         % MALFORMED_LINE)


def test_unknown_epoch_form(capsys):
    path = fixture("bad", "unknown-form.txt")
    assert error_of(capsys, ["summary", "--epochs", path]) == \
        (1, "mimicmem-report: %s:1: unknown epoch log form: expected JSON Lines or a CSV "
            "header starting with epoch,label,peak_bytes\n" % path)


def test_schema_version_of_a_report_to_plot(capsys):
    assert error_of(capsys, ["summary", "--report", SCHEMA_2]) == \
        (1, "mimicmem-report: %s: schema_version 2 is not supported (this tool reads 1)\n"
         % SCHEMA_2)


def test_no_rank(capsys):
    path = fixture("bad", "no-rank.json")
    assert error_of(capsys, ["merge", path]) == \
        (1, 'mimicmem-report: %s: no rank: the report has no "rank" field and the file name '
            "has no number\n" % path)


def test_unwritable_output(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    assert error_of(capsys, ["plot", "--epochs", fixture("epochs", "forests.csv"), "--out",
                             str(target / "sub")]) == \
        (1, "mimicmem-report: %s: cannot create the directory: Not a directory\n"
         % (target / "sub"))
    assert error_of(capsys, ["merge", "--out", str(target / "m.json"), REPORT_0]) == \
        (1, "mimicmem-report: %s: cannot write: Not a directory\n" % (target / "m.json"))


@pytest.mark.parametrize("args", [["plot", "--epochs", "e.csv"], ["summary"], ["frobnicate"],
                                  []])
def test_bad_usage_exits_2(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2
    assert "usage:" in capsys.readouterr().err
