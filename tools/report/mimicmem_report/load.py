"""Reading the inputs: JSON reports (per rank or merged) and epoch logs.

Everything read is checked here, so that the rest of the tool can trust it:
a problem is a ReportError naming the file and, where there is one, the line.
Fields this tool does not use are ignored (the report schema may grow).
"""

import json
import os
import re

from .errors import ReportError

SCHEMA_VERSION = 1

_UINT_RE = re.compile(r"[0-9]+\Z")
# Numbers as C's printf and JSON write them, plus inf/nan for %g's sake.
_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_SPECIAL_RE = re.compile(r"[+-]?(?:inf|infinity|nan)\Z", re.IGNORECASE)
_LAST_DIGITS_RE = re.compile(r"([0-9]+)[^0-9]*\Z")
# One "name=bytes" entry of the narrow form's category field.
_NARROW_ENTRY_RE = re.compile(r"(.+?)=([0-9]+)(?:;|\Z)", re.DOTALL)

NARROW_HEADER = ["epoch", "label", "peak_bytes", "category_peaks"]
FIELD_PREFIX = "field:"


# ----------------------------------------------------------------------
# Reading files
# ----------------------------------------------------------------------

def read_text(path):
    """The whole file as text (UTF-8, a leading byte-order mark dropped),
    line endings untouched."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ReportError(path, "no such file")
    except IsADirectoryError:
        raise ReportError(path, "is a directory, not a file")
    except OSError as e:
        raise ReportError(path, "cannot read: %s" % (e.strerror or e))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ReportError(path, "not UTF-8 text", line)
    return text[1:] if text.startswith("\ufeff") else text


def read_json(path):
    """The JSON value in a file; malformed JSON names its line."""
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ReportError(path, "malformed JSON: %s (column %d)" % (e.msg, e.colno), e.lineno)


# ----------------------------------------------------------------------
# Field checks
# ----------------------------------------------------------------------

def _describe(v):
    """A short JSON-ish rendering of a bad value for a message."""
    s = json.dumps(v, ensure_ascii=False)
    return s if len(s) <= 40 else s[:37] + "..."


def _is_uint(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _get(obj, key, where, path, check, expected, default=None, required=True):
    """obj[key] checked by check(); `where` names obj in messages ("total")."""
    name = "%s.%s" % (where, key) if where else key
    if key not in obj or (obj[key] is None and not required):  # null: as if absent
        if required:
            raise ReportError(path, '"%s" is missing' % name)
        return default
    v = obj[key]
    if not check(v):
        raise ReportError(path, '"%s": expected %s, got %s' % (name, expected, _describe(v)))
    return v


def _uint(obj, key, where, path, **kw):
    return _get(obj, key, where, path, _is_uint, "a non-negative integer", **kw)


def _number(obj, key, where, path, **kw):
    return _get(obj, key, where, path, _is_number, "a number", **kw)


def _string(obj, key, where, path, **kw):
    return _get(obj, key, where, path, lambda v: isinstance(v, str), "a string", **kw)


def _obj(obj, key, where, path, **kw):
    return _get(obj, key, where, path, lambda v: isinstance(v, dict), "an object", **kw)


def _list(obj, key, where, path, **kw):
    return _get(obj, key, where, path, lambda v: isinstance(v, list), "an array", **kw)


def _objects(obj, key, where, path, **kw):
    """An array of objects: [(its name in messages, the object)]."""
    name = "%s.%s" % (where, key) if where else key
    out = []
    for i, item in enumerate(_list(obj, key, where, path, **kw) or []):
        w = "%s[%d]" % (name, i)
        if not isinstance(item, dict):
            raise ReportError(path, '"%s": expected an object, got %s' % (w, _describe(item)))
        out.append((w, item))
    return out


def _byte_map(obj, key, where, path):
    """An object {name: bytes} (absent: {}), order kept."""
    m = _obj(obj, key, where, path, required=False, default={})
    prefix = "%s.%s" % (where, key) if where else key
    for name, v in m.items():
        if not _is_uint(v):
            raise ReportError(path, '"%s.%s": expected a non-negative integer, got %s'
                              % (prefix, name, _describe(v)))
    return dict(m)


# ----------------------------------------------------------------------
# Reports
# ----------------------------------------------------------------------

class LoadedReport:
    """One report file.

    kind: "rank" (one process's report, as mm_report writes it) or "merged"
          (what `merge` or mm_mpi_report writes);
    rank: the rank of a "rank" report (None for a merged one);
    data: for "rank", the normalized report (see normalize_rank_report);
          for "merged", the merged object as read (checked).
    """

    def __init__(self, path, kind, rank, data):
        self.path = path
        self.kind = kind
        self.rank = rank
        self.data = data


def rank_from_file_name(path):
    """The last run of digits in the file's base name ("report-12.json" -> 12),
    or None when it has none."""
    m = _LAST_DIGITS_RE.search(os.path.basename(path))
    return int(m.group(1)) if m else None


def unwrap_report(obj, path):
    """The report object of a file: a bare report, or the exit wrapper
    {"report": ..., "leaks": ...} that MIMICMEM_REPORT=exit writes."""
    if not isinstance(obj, dict):
        raise ReportError(path, "expected a JSON object, got %s" % _describe(obj))
    if "schema_version" not in obj and isinstance(obj.get("report"), dict):
        obj = obj["report"]
    if "schema_version" not in obj:
        raise ReportError(path, 'no "schema_version": not a mimicmem report')
    if obj["schema_version"] != SCHEMA_VERSION:
        raise ReportError(path, "schema_version %s is not supported (this tool reads %d)"
                          % (_describe(obj["schema_version"]), SCHEMA_VERSION))
    return obj


def is_merged_report(obj):
    """True when a report object is a merged (multi-rank) report."""
    return "per_rank" in obj and "ranks" in obj


def normalize_rank_report(obj, path):
    """A per-rank report object, checked, with the fields merge uses and the
    defaults for what may be absent:

    {"rank": int or None,
     "categories": [{"name", "group", "bytes", "peak_bytes"}],   (bytes)
     "total": {"bytes", "peak_bytes"},                            (bytes)
     "peak_composition": None or {"bytes", "peak_bytes", "epoch", "context",
                                  "label", "categories": {name: bytes}},
     "epochs": None or {"count", "min_peak_bytes", "mean_peak_bytes",
                        "max_peak_bytes", "top": [{"context", "label",
                        "epoch", "peak_bytes", "category_peaks"}]}}
    """
    rank = _uint(obj, "rank", "", path, required=False)
    cats = []
    for where, c in _objects(obj, "categories", "", path, required=False, default=[]):
        cats.append({
            "name": _string(c, "name", where, path),
            "group": _string(c, "group", where, path, required=False, default=""),
            "bytes": _uint(c, "bytes", where, path),
            "peak_bytes": _uint(c, "peak_bytes", where, path),
        })
    seen = set()
    for c in cats:
        if c["name"] in seen:
            raise ReportError(path, 'category "%s" appears twice' % c["name"])
        seen.add(c["name"])
    total = _obj(obj, "total", "", path)
    out = {
        "rank": rank,
        "categories": cats,
        "total": {"bytes": _uint(total, "bytes", "total", path),
                  "peak_bytes": _uint(total, "peak_bytes", "total", path)},
        "peak_composition": None,
        "epochs": None,
    }
    pc = _obj(obj, "peak_composition", "", path, required=False)
    if pc is not None:
        w = "peak_composition"
        out["peak_composition"] = {
            "bytes": _uint(pc, "bytes", w, path, required=False, default=0),
            "peak_bytes": _uint(pc, "peak_bytes", w, path, required=False, default=0),
            "epoch": _uint(pc, "epoch", w, path, required=False, default=0),
            "context": _string(pc, "context", w, path, required=False, default=""),
            "label": _string(pc, "label", w, path, required=False, default=""),
            "categories": _byte_map(pc, "categories", w, path),
        }
    ep = _obj(obj, "epochs", "", path, required=False)
    if ep is not None:
        w = "epochs"
        count = _uint(ep, "count", w, path)
        need = count > 0  # the figures of an empty summary may be left out
        top = []
        for tw, t in _objects(ep, "top", w, path, required=False, default=[]):
            top.append({
                "context": _string(t, "context", tw, path, required=False, default=""),
                "label": _string(t, "label", tw, path, required=False, default=""),
                "epoch": _uint(t, "epoch", tw, path),
                "peak_bytes": _uint(t, "peak_bytes", tw, path),
                "category_peaks": _byte_map(t, "category_peaks", tw, path),
            })
        out["epochs"] = {
            "count": count,
            "min_peak_bytes": _uint(ep, "min_peak_bytes", w, path, required=need, default=0),
            "mean_peak_bytes": float(_number(ep, "mean_peak_bytes", w, path,
                                             required=need, default=0.0)),
            "max_peak_bytes": _uint(ep, "max_peak_bytes", w, path, required=need, default=0),
            "top": top,
        }
    return out


def _check_stat(obj, key, where, path):
    """A merged report's {"min","mean","max","max_rank"} object."""
    s = _obj(obj, key, where, path)
    w = "%s.%s" % (where, key) if where else key
    _uint(s, "min", w, path)
    _number(s, "mean", w, path)
    _uint(s, "max", w, path)
    _get(s, "max_rank", w, path, lambda v: isinstance(v, int) and not isinstance(v, bool),
         "an integer")
    return s


def check_merged_report(obj, path):
    """Checks the parts of a merged report that plot and summary read."""
    _uint(obj, "ranks", "", path)
    proc = _obj(obj, "process", "", path)
    _check_stat(proc, "bytes", "process", path)
    _check_stat(proc, "peak_bytes", "process", path)
    for w, c in _objects(obj, "categories", "", path):
        _string(c, "name", w, path)
        _check_stat(c, "peak_bytes", w, path)
    peak = _obj(obj, "peak", "", path)
    _uint(peak, "rank", "peak", path)
    _uint(peak, "peak_bytes", "peak", path)
    _string(peak, "context", "peak", path, required=False)
    _string(peak, "label", "peak", path, required=False)
    _byte_map(peak, "composition", "peak", path)
    for w, r in _objects(obj, "per_rank", "", path):
        _uint(r, "rank", w, path)
        _uint(r, "peak_bytes", w, path)
        _uint(r, "bytes", w, path)
    return obj


def load_report(path):
    """A report file of either kind, checked (see LoadedReport)."""
    obj = unwrap_report(read_json(path), path)
    if is_merged_report(obj):
        return LoadedReport(path, "merged", None, check_merged_report(obj, path))
    data = normalize_rank_report(obj, path)
    if data["rank"] is None:  # as mm_report writes it without MPI: the file name
        data["rank"] = rank_from_file_name(path)
    return LoadedReport(path, "rank", data["rank"], data)


def load_rank_reports(paths):
    """Per-rank reports, sorted by rank. The rank is the report's "rank"
    field, else the last number in the file name; a file with neither, a
    merged report, or two files of one rank is an error."""
    if not paths:
        raise ReportError("merge", "no input files")
    by_rank = {}
    for path in paths:
        rep = load_report(path)
        if rep.kind != "rank":
            raise ReportError(path, "a merged report, not a per-rank report")
        rank = rep.rank
        if rank is None:
            raise ReportError(path, 'no rank: the report has no "rank" field and the '
                                    'file name has no number')
        if rank in by_rank:
            raise ReportError(path, "rank %d again (already read from %s)"
                              % (rank, by_rank[rank].path))
        by_rank[rank] = rep
    return [by_rank[r] for r in sorted(by_rank)]


# ----------------------------------------------------------------------
# Epoch logs
# ----------------------------------------------------------------------

class Forest:
    """One line of an epoch log: one forest (epoch).

    epoch: the epoch index; label: its label ("" when none);
    peak_bytes: the forest's peak, bytes;
    category_peaks: {category: its own peak in this forest, bytes}, only
                    categories with bytes (each may come from a different
                    moment of the forest);
    fields: {user field: number, or None when not set for this forest}.
    """

    __slots__ = ("epoch", "label", "peak_bytes", "category_peaks", "fields")

    def __init__(self, epoch, label, peak_bytes, category_peaks, fields=None):
        self.epoch = epoch
        self.label = label
        self.peak_bytes = peak_bytes
        self.category_peaks = category_peaks
        self.fields = fields if fields is not None else {}

    def name(self):
        """The label, or "epoch N" when it has none (as the C reports do)."""
        return self.label if self.label else "epoch %d" % self.epoch

    def __repr__(self):
        return "Forest(%d, %r, %d, %r, %r)" % (self.epoch, self.label, self.peak_bytes,
                                               self.category_peaks, self.fields)


class EpochLog:
    """A parsed epoch log.

    form: "jsonl", "csv" (narrow) or "wide-csv";
    forests: the Forest objects in file order;
    categories: every category name met, in order of first appearance;
    fields: every user field name met, in order of first appearance.
    """

    FORM_NAMES = {"jsonl": "JSON Lines", "csv": "CSV", "wide-csv": "wide CSV"}

    def __init__(self, path, form):
        self.path = path
        self.form = form
        self.forests = []
        self.categories = []
        self.fields = []
        self._cat_seen = set()
        self._field_seen = set()

    def note_category(self, name):
        if name not in self._cat_seen:
            self._cat_seen.add(name)
            self.categories.append(name)

    def note_field(self, name):
        if name not in self._field_seen:
            self._field_seen.add(name)
            self.fields.append(name)


def _parse_uint(s, what, path, line):
    if not _UINT_RE.match(s):
        raise ReportError(path, "%s: expected a non-negative integer, got %s"
                          % (what, _describe(s)), line)
    return int(s)


def _parse_number(s, what, path, line):
    """A user field's CSV value: int or float; "" means not set (None)."""
    if s == "":
        return None
    if _UINT_RE.match(s) or (s[:1] == "-" and _UINT_RE.match(s[1:])):
        return int(s)
    if _NUMBER_RE.match(s) or _SPECIAL_RE.match(s):
        return float(s)
    raise ReportError(path, "%s: expected a number, got %s" % (what, _describe(s)), line)


def split_lines(text):
    """Physical lines split at LF only (a CR or another separator may sit
    inside a quoted CSV field); a final empty piece is dropped."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _csv_quoted_record(lines, i, path):
    """One RFC 4180 record starting at lines[i] that contains a quote; it may
    span lines (a quoted field holding CR or LF). Returns (fields, next i)."""
    start = i + 1
    fields, buf = [], []
    state = "start"  # start of field | unquoted | quoted | quote (closing or doubled?)
    line = lines[i]
    while True:
        n = len(line)
        for pos, c in enumerate(line):
            if c == "\r" and pos == n - 1 and state != "quoted":
                break  # the CR of a CRLF record end
            if state == "start":
                if c == '"':
                    state = "quoted"
                elif c == ",":
                    fields.append("")
                else:
                    buf.append(c)
                    state = "unquoted"
            elif state == "unquoted":
                if c == ",":
                    fields.append("".join(buf))
                    buf = []
                    state = "start"
                elif c == '"':
                    raise ReportError(path, "malformed CSV: a quote inside an unquoted field",
                                      start)
                else:
                    buf.append(c)
            elif state == "quoted":
                if c == '"':
                    state = "quote"
                else:
                    buf.append(c)
            else:  # "quote": a doubled quote, or the end of the quoted field
                if c == '"':
                    buf.append('"')
                    state = "quoted"
                elif c == ",":
                    fields.append("".join(buf))
                    buf = []
                    state = "start"
                else:
                    raise ReportError(path, "malformed CSV: text after a closing quote", start)
        i += 1
        if state != "quoted":
            fields.append("".join(buf))
            return fields, i
        if i >= len(lines):
            raise ReportError(path, "malformed CSV: a quoted field is not closed", start)
        buf.append("\n")  # the line break is part of the quoted field
        line = lines[i]


def csv_records(lines, path):
    """(line number, fields) for each record of CSV lines; blank lines are
    skipped. Lines without a quote (nearly all) take a fast path."""
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if '"' not in line:
            i += 1
            if line.endswith("\r"):
                line = line[:-1]
            if line:
                yield i, line.split(",")
            continue
        start = i + 1
        fields, i = _csv_quoted_record(lines, i, path)
        yield start, fields


def _parse_narrow_categories(s, path, line):
    """"Halos=100000;Cooling=23456" -> {"Halos": 100000, "Cooling": 23456}.
    A name may hold ';' or '=': each entry ends at "=<digits>" followed by ';'
    or the end of the field."""
    out = {}
    pos = 0
    while pos < len(s):
        m = _NARROW_ENTRY_RE.match(s, pos)
        if not m:
            raise ReportError(path, "category_peaks: expected name=bytes;..., got %s"
                              % _describe(s[pos:]), line)
        out[m.group(1)] = int(m.group(2))
        pos = m.end()
    return out


def _parse_jsonl(log, lines, path):
    for i, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise ReportError(path, "malformed JSON: %s (column %d)" % (e.msg, e.colno), i)
        if not isinstance(obj, dict):
            raise ReportError(path, "expected a JSON object, got %s" % _describe(obj), i)
        try:
            epoch = _uint(obj, "epoch", "", path)
            label = _string(obj, "label", "", path, required=False, default="")
            peak = _uint(obj, "peak_bytes", "", path)
            cats = _byte_map(obj, "category_peaks", "", path)
            fields = {}
            for k, v in obj.items():
                if k in ("epoch", "label", "peak_bytes", "category_peaks"):
                    continue
                if v is not None and not _is_number(v):
                    raise ReportError(path, 'user field "%s": expected a number, got %s'
                                      % (k, _describe(v)))
                fields[k] = v
        except ReportError as e:
            e.line = i
            raise
        for name in cats:
            log.note_category(name)
        for name in fields:
            log.note_field(name)
        log.forests.append(Forest(epoch, label, peak, cats, fields))


def _parse_narrow_csv(log, records, path):
    for line, f in records:
        if f == NARROW_HEADER:
            continue  # a header again (logs appended to one another)
        if len(f) != 4:
            raise ReportError(path, "expected 4 fields (epoch,label,peak_bytes,category_peaks),"
                                    " got %d" % len(f), line)
        cats = _parse_narrow_categories(f[3], path, line)
        for name in cats:
            log.note_category(name)
        log.forests.append(Forest(_parse_uint(f[0], "epoch", path, line), f[1],
                                  _parse_uint(f[2], "peak_bytes", path, line), cats))


def _wide_columns(header, path, line):
    """The columns after epoch,label,peak_bytes of a wide header:
    [(name, is_user_field)]."""
    cols, seen = [], set()
    for name in header[3:]:
        is_field = name.startswith(FIELD_PREFIX)
        key = name[len(FIELD_PREFIX):] if is_field else name
        if key == "":
            raise ReportError(path, "empty column name in the header", line)
        if name in seen:
            raise ReportError(path, 'column "%s" twice in the header' % name, line)
        seen.add(name)
        cols.append((key, is_field))
    return cols


def _parse_wide_csv(log, records, path):
    cols = None
    for line, f in records:
        if f[0] == "epoch":  # a header: the first, or again with more columns
            if f[:3] != ["epoch", "label", "peak_bytes"]:
                raise ReportError(path, "a header must start with epoch,label,peak_bytes", line)
            cols = _wide_columns(f, path, line)
            for name, is_field in cols:
                (log.note_field if is_field else log.note_category)(name)
            continue
        if len(f) != 3 + len(cols):
            raise ReportError(path, "expected %d fields as in the header, got %d"
                              % (3 + len(cols), len(f)), line)
        cats, fields = {}, {}
        for (name, is_field), s in zip(cols, f[3:]):
            if is_field:
                fields[name] = _parse_number(s, 'user field "%s"' % name, path, line)
            else:
                v = _parse_uint(s, 'category "%s"' % name, path, line)
                if v:
                    cats[name] = v
        log.forests.append(Forest(_parse_uint(f[0], "epoch", path, line), f[1],
                                  _parse_uint(f[2], "peak_bytes", path, line), cats, fields))


def parse_epoch_log(text, path):
    """An epoch log's text -> EpochLog; the form is told from the content:
    a line starting with '{' is JSON Lines; a CSV header
    "epoch,label,peak_bytes,category_peaks" is the narrow form; any other
    header starting with "epoch,label,peak_bytes" is the wide form."""
    lines = split_lines(text)
    first = next((ln for ln in lines if ln.strip()), None)
    if first is None:
        return EpochLog(path, "csv")  # empty: no forests
    if first.lstrip().startswith("{"):
        log = EpochLog(path, "jsonl")
        _parse_jsonl(log, lines, path)
        return log
    records = csv_records(lines, path)
    line, header = next(records)
    if header == NARROW_HEADER:
        log = EpochLog(path, "csv")
        _parse_narrow_csv(log, records, path)
    elif header[:3] == ["epoch", "label", "peak_bytes"]:
        log = EpochLog(path, "wide-csv")
        _parse_wide_csv(log, _prepend((line, header), records), path)
    else:
        raise ReportError(path, "unknown epoch log form: expected JSON Lines or a CSV header "
                                "starting with epoch,label,peak_bytes", line)
    return log


def _prepend(item, it):
    yield item
    yield from it


def load_epoch_log(path):
    """The epoch log in a file (see parse_epoch_log)."""
    return parse_epoch_log(read_text(path), path)
