"""mimicmem-report: offline analysis of mimicmem's reports and epoch logs.

Three subcommands (see docs/mimicmem-report.md):

* ``merge``   per-rank JSON reports -> one report with min / mean / max over
              ranks, in the layout the C function ``mm_mpi_report`` writes;
* ``plot``    an epoch log (and optionally a report) -> PNG figures;
* ``summary`` the same figures as ``plot``, as text.

Only ``plot`` needs matplotlib; everything else is the standard library.
Every byte figure handled here is a count of bytes as the program requested
them (mimicmem's own convention), never of allocator overhead.
"""

__version__ = "0.3.0"
