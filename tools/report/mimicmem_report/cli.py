"""Command line: argument parsing and the three subcommands.

Exit status: 0 success, 1 an input or output problem (a message
"mimicmem-report: <file>[:<line>]: <what>" on stderr), 2 bad usage.
"""

import argparse
import os
import sys

from . import __version__
from .errors import ReportError
from .load import load_epoch_log, load_rank_reports, load_report
from .merge import merge_reports, merged_text, to_json

PROG = "mimicmem-report"


def build_parser():
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Offline analysis of mimicmem reports and epoch logs "
                    "(docs/mimicmem-report.md).")
    p.add_argument("--version", action="version", version="%(prog)s " + __version__)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    m = sub.add_parser("merge", help="merge per-rank JSON reports (min / mean / max over ranks)",
                       description="Merge per-rank JSON reports into one report, as "
                                   "mm_mpi_report writes it.")
    m.add_argument("--format", choices=("json", "text"), default="json",
                   help="output format (default: json)")
    m.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")
    m.add_argument("reports", nargs="*", metavar="REPORT.json",
                   help="per-rank reports (bare or the exit wrapper {\"report\": ...})")

    for name, helptext in (("plot", "write PNG figures of an epoch log and a report"),
                           ("summary", "print the figures of plot as text")):
        s = sub.add_parser(name, help=helptext, description=helptext[0].upper() + helptext[1:]
                           + "; give --epochs, --report or both.")
        s.add_argument("--epochs", metavar="EPOCHS",
                       help="epoch log: JSON Lines, CSV or wide CSV (told by content)")
        s.add_argument("--report", metavar="REPORT.json",
                       help="a per-rank report or a merged report")
        if name == "plot":
            s.add_argument("--out", metavar="DIR", required=True,
                           help="directory for the PNGs (created if missing)")
    return p


def write_output(text, path):
    """text to path (None: standard output)."""
    if path is None:
        sys.stdout.write(text)
        return
    try:
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    except OSError as e:
        raise ReportError(path, "cannot write: %s" % (e.strerror or e))


def run_merge(args):
    reports = load_rank_reports(args.reports)
    merged = merge_reports([r.data for r in reports])
    text = merged_text(merged) if args.format == "text" else to_json(merged) + "\n"
    write_output(text, args.out)


def _inputs(parser, args):
    if args.epochs is None and args.report is None:
        parser.error("%s: give --epochs, --report or both" % args.command)
    log = load_epoch_log(args.epochs) if args.epochs is not None else None
    report = load_report(args.report) if args.report is not None else None
    return log, report


def run_plot(parser, args):
    from .plot import MATPLOTLIB_MISSING, MatplotlibMissing, write_plots
    log, report = _inputs(parser, args)
    try:
        paths = write_plots(log, report, args.out)
    except MatplotlibMissing:
        sys.stderr.write("%s: %s\n" % (PROG, MATPLOTLIB_MISSING % sys.executable))
        tried = os.environ.get("MIMICMEM_REPORT_TRIED")
        if tried:
            sys.stderr.write("%s: interpreters tried: %s\n" % (PROG, tried))
        return 1
    for path in paths:
        print(path)
    return 0


def run_summary(parser, args):
    from .summary import summary_text
    log, report = _inputs(parser, args)
    sys.stdout.write(summary_text(log, report))


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "merge":
            run_merge(args)
        elif args.command == "plot":
            return run_plot(parser, args)
        else:
            run_summary(parser, args)
    except ReportError as e:
        sys.stdout.flush()
        sys.stderr.write("%s: %s\n" % (PROG, e))
        return 1
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): quiet, and no second error
        # when Python flushes stdout at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return 0
