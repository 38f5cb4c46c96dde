"""Epoch log parsing: JSON Lines, narrow CSV and wide CSV.

The three fixtures under fixtures/epochs hold the same six forests (the
narrow CSV has no user fields): quoted labels and category names with
commas and quotes, a wide header written again with a new category and a
new user field, a user field left empty.
"""

import pytest

from conftest import fixture
from mimicmem_report.errors import ReportError
from mimicmem_report.load import load_epoch_log, parse_epoch_log

ODD = 'Odd, "name"'
FORESTS = [
    (0, "Forest 0", 1000, {"Halos": 600, "Trees": 300}, {"halos": 10}),
    (1, "Forest 1", 4000, {"Halos": 2500, "Trees": 1000, "Cooling": 800}, {"halos": 40}),
    (2, 'Forest, "two"', 2000, {"Halos": 1200, "Trees": 500}, {"halos": 20}),
    (3, "Forest 3", 8000, {"Halos": 5000, "Trees": 2000, ODD: 1500},
     {"halos": 80, "wall_s": 0.5}),
    (4, "Forest 4", 500, {"Halos": 300}, {"halos": 5, "wall_s": None}),
    (5, "", 3000, {"Halos": 1000, "Cooling": 1900, ODD: 200}, {"halos": 30, "wall_s": 1.25}),
]


def as_tuples(log, with_fields=True):
    return [(f.epoch, f.label, f.peak_bytes, f.category_peaks, f.fields if with_fields else {})
            for f in log.forests]


def test_jsonl():
    log = load_epoch_log(fixture("epochs", "forests.jsonl"))
    assert log.form == "jsonl"
    assert as_tuples(log) == FORESTS
    assert log.categories == ["Halos", "Trees", "Cooling", ODD]
    assert log.fields == ["halos", "wall_s"]


def test_narrow_csv():
    log = load_epoch_log(fixture("epochs", "forests.csv"))
    assert log.form == "csv"
    assert as_tuples(log) == [t[:4] + ({},) for t in FORESTS]
    assert log.categories == ["Halos", "Trees", "Cooling", ODD]
    assert log.fields == []


def test_wide_csv_with_a_repeated_header():
    log = load_epoch_log(fixture("epochs", "forests-wide.csv"))
    assert log.form == "wide-csv"
    assert as_tuples(log) == FORESTS
    assert log.categories == ["Halos", "Trees", "Cooling", ODD]
    assert log.fields == ["halos", "wall_s"]
    assert isinstance(log.forests[0].fields["halos"], int)
    assert isinstance(log.forests[3].fields["wall_s"], float)


@pytest.mark.parametrize("name", ["forests.jsonl", "forests.csv", "forests-wide.csv"])
def test_crlf_line_ends(name):
    with open(fixture("epochs", name), newline="") as f:
        text = f.read()
    crlf = parse_epoch_log(text.replace("\n", "\r\n"), name)
    assert as_tuples(crlf) == as_tuples(load_epoch_log(fixture("epochs", name)))


def test_quoted_fields_spanning_lines():
    text = ('epoch,label,peak_bytes,category_peaks\r\n'
            '0,"two\r\nlines, ""quoted""",10,"a;b=1;c=d=2"\r\n'
            '1,plain,20,\r\n')
    log = parse_epoch_log(text, "x.csv")
    assert as_tuples(log) == [(0, 'two\r\nlines, "quoted"', 10, {"a;b": 1, "c=d": 2}, {}),
                              (1, "plain", 20, {}, {})]


def test_wide_numbers_and_empty_fields():
    text = ("epoch,label,peak_bytes,A,field:x,field:y\n"
            "0,,5,5,-3,1e3\n"
            "1,,6,0,,2.5E-1\n"
            "2,,7,7,nan,\n")
    log = parse_epoch_log(text, "w.csv")
    assert [f.fields["x"] for f in log.forests][:2] == [-3, None]
    assert [f.fields["y"] for f in log.forests] == [1000.0, 0.25, None]
    assert log.forests[1].category_peaks == {}  # 0: no bytes in that forest
    assert log.categories == ["A"] and log.fields == ["x", "y"]


def test_blank_lines_and_an_empty_log():
    assert as_tuples(parse_epoch_log("epoch,label,peak_bytes,category_peaks\n\n0,a,1,\n\n",
                                     "b.csv")) == [(0, "a", 1, {}, {})]
    assert parse_epoch_log("", "empty.csv").forests == []


def bad(text, name="bad.csv"):
    with pytest.raises(ReportError) as e:
        parse_epoch_log(text, name)
    return str(e.value)


def test_errors_name_file_and_line():
    assert bad(open(fixture("bad", "malformed-line.csv")).read(), "m.csv") == \
        'm.csv:5: peak_bytes: expected a non-negative integer, got "12k"'
    head = "epoch,label,peak_bytes,category_peaks\n"
    assert bad(head + "0,a,1\n") == \
        "bad.csv:2: expected 4 fields (epoch,label,peak_bytes,category_peaks), got 3"
    assert bad(head + "0,a,1,Halos=x\n").startswith(
        'bad.csv:2: category_peaks: expected name=bytes;..., got "Halos=x"')
    assert bad(head + '0,"a"b,1,\n') == \
        "bad.csv:2: malformed CSV: text after a closing quote"
    assert bad(head + '0,a"b,1,\n') == \
        "bad.csv:2: malformed CSV: a quote inside an unquoted field"
    assert bad(head + '0,ok,1,\n1,"open\n2,x,1,\n') == \
        "bad.csv:3: malformed CSV: a quoted field is not closed"
    assert bad("epoch,label,peak_bytes,A,field:f\n0,,1,2,x\n") == \
        'bad.csv:2: user field "f": expected a number, got "x"'
    assert bad("epoch,label,peak_bytes,A\n0,,1,2\n1,,1\n") == \
        "bad.csv:3: expected 4 fields as in the header, got 3"
    assert bad("epoch,label,peak_bytes,A\n0,,1,-2\n") == \
        'bad.csv:2: category "A": expected a non-negative integer, got "-2"'
    assert bad("forest peak\n0 1000\n") == \
        ("bad.csv:1: unknown epoch log form: expected JSON Lines or a CSV header starting "
         "with epoch,label,peak_bytes")


def test_jsonl_errors():
    good = '{"epoch":0,"peak_bytes":1}\n'
    assert bad(good + '{"epoch":1,"peak_bytes":2\n', "l.jsonl").startswith(
        "l.jsonl:2: malformed JSON: ")
    assert bad(good + '{"epoch":1,"peak_bytes":"2"}\n', "l.jsonl") == \
        'l.jsonl:2: "peak_bytes": expected a non-negative integer, got "2"'
    assert bad(good + '{"epoch":1,"peak_bytes":2,"halos":"many"}\n', "l.jsonl") == \
        'l.jsonl:2: user field "halos": expected a number, got "many"'
    assert bad(good + "\n" + '{"peak_bytes":2}\n', "l.jsonl") == \
        'l.jsonl:3: "epoch" is missing'
    assert bad(good + "[1]\n", "l.jsonl") == "l.jsonl:2: expected a JSON object, got [1]"
