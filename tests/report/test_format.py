"""Byte and count formatting: the C library's rules, whatever the locale."""

import locale

import pytest

from mimicmem_report.fmt import (byte_unit, format_axis_bytes, format_bytes, format_count,
                                 format_number, text_name)


@pytest.mark.parametrize("n, text", [
    (0, "0 B"), (812, "812 B"), (1023, "1023 B"), (1024, "1.0 KB"), (1536, "1.5 KB"),
    (1048524, "1023.9 KB"),      # 1023.949 KB stays in KB
    (1048525, "1.0 MB"),         # 1023.950 KB would print as "1024.0 KB"
    (851863142, "812.4 MB"), (5 * 1024 ** 3, "5.0 GB"), (3 * 1024 ** 4, "3.0 TB"),
    (866.67, "867 B"), (7.5, "8 B"),  # a mean: rounded to the nearest byte first
    (1280, "1.3 KB"),            # 1.25 KB exactly: a tie goes up, as in the C library
])
def test_format_bytes(n, text):
    assert format_bytes(n) == text


def test_format_count():
    assert [format_count(n) for n in (0, 999, 1000, 5345, 1234567, -4200)] == \
        ["0", "999", "1,000", "5,345", "1,234,567", "-4,200"]


def test_no_locale_influence():
    for name in ("de_DE.UTF-8", "fr_FR.UTF-8", "C.UTF-8"):
        try:
            locale.setlocale(locale.LC_ALL, name)
        except locale.Error:
            continue
        try:
            assert format_bytes(1536) == "1.5 KB" and format_count(5345) == "5,345"
        finally:
            locale.setlocale(locale.LC_ALL, "C")


def test_axis_helpers():
    assert byte_unit(1000) == (1, "B")
    assert byte_unit(2048) == (1024, "KB")
    assert byte_unit(3 * 1024 ** 3) == (1024 ** 3, "GB")
    assert [format_axis_bytes(v) for v in (0, 512, 1024, 1536, 1024 ** 2)] == \
        ["0 B", "512 B", "1 KB", "1.5 KB", "1 MB"]


def test_text_name_and_numbers():
    assert text_name("a\tb\x7f", 6) == "a?b?  "
    assert [format_number(v) for v in (3, 2.0, 0.52, 30.8333333)] == ["3", "2", "0.52", "30.83"]


def test_means_round_ties_up_as_the_c_library_does():
    from mimicmem_report.merge import to_json
    assert to_json(1000.25) == "1000.3"   # Python's %.1f would say 1000.2
    assert to_json(0.05) == "0.1"
    assert to_json(2.0) == "2.0"
