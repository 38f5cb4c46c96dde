"""Number formatting shared by the text outputs and the plots.

The rules are the C library's (src/report.c), so that a figure printed here
reads the same as in the library's own reports. Nothing here consults the
locale: Python's %-formatting always writes '.' and no digit grouping.
"""

UNITS = ("B", "KB", "MB", "GB", "TB", "PB", "EB")


def tenths(x):
    """x >= 0 with one decimal, rounded as the C library rounds: the value
    times ten plus one half, truncated (a tie goes up: 1.25 -> "1.3"), not
    as Python's %.1f (a tie to even). Negative or NaN x gives "0.0", as in C."""
    if not x >= 0.0:
        return "0.0"
    t = int(x * 10.0 + 0.5)
    return "%d.%d" % (t // 10, t % 10)


def format_bytes(n):
    """A byte count for people: "0 B", "812 B", "1.5 KB", "812.4 MB".

    n: bytes (an int, or a float such as a mean: rounded to the nearest byte
    first, as the C library does with a mean). 1024-based units with one
    decimal from KB up; the unit switches at 1023.95 so that nothing prints
    as "1024.0 KB" (same rule as mm_format_bytes).
    """
    n = int(n + 0.5) if isinstance(n, float) else int(n)
    if n < 1024:
        return "%d B" % n
    v = float(n)
    u = 0
    while v >= 1024.0 and u < len(UNITS) - 1:
        v /= 1024.0
        u += 1
    if v >= 1023.95 and u < len(UNITS) - 1:
        v /= 1024.0
        u += 1
    return "%s %s" % (tenths(v), UNITS[u])


def format_count(n):
    """An integer with ',' between thousands: 5345 -> "5,345" (any locale)."""
    s = "%d" % int(n)
    sign = "-" if s.startswith("-") else ""
    digits = s[len(sign):]
    groups = []
    while len(digits) > 3:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    groups.insert(0, digits)
    return sign + ",".join(groups)


def format_number(x):
    """A user field's value (int or float) compactly: 1234, 0.52, 1.5e+09."""
    if isinstance(x, int):
        return "%d" % x
    if x == int(x) and abs(x) < 1e15:
        return "%d" % int(x)
    return "%.4g" % x


def text_name(s, width=0):
    """A name as the C text reports print it: control characters as '?',
    padded with spaces to `width` characters."""
    clean = "".join("?" if ord(ch) < 0x20 or ord(ch) == 0x7F else ch for ch in s)
    return clean.ljust(width)


def byte_unit(max_bytes):
    """(divisor, unit name) for an axis whose largest value is max_bytes:
    the largest 1024-based unit in which max_bytes is at least 1."""
    u = 0
    v = float(max_bytes)
    while v >= 1024.0 and u < len(UNITS) - 1:
        v /= 1024.0
        u += 1
    return 1024 ** u, UNITS[u]


def format_axis_bytes(v):
    """A tick on a logarithmic byte axis: 1024 -> "1 KB", 1536 -> "1.5 KB"."""
    if v <= 0:
        return "0 B"
    div, unit = byte_unit(v)
    x = v / div
    return ("%d %s" % (round(x), unit)) if abs(x - round(x)) < 0.05 else ("%.1f %s" % (x, unit))
