"""The CLI's table formatting."""

from __future__ import annotations

from rqueues.cli.output import table


def test_table_aligns_columns_under_upper_case_headers() -> None:
    rows = [
        {"name": "heavy", "concurrency": 2, "tags": ["has=gpu", "zone=a"]},
        {"name": "q", "concurrency": 10, "tags": []},
    ]
    assert table(rows, ("name", "concurrency", "tags")) == "\n".join(
        [
            "NAME   CONCURRENCY  TAGS",
            "heavy  2            has=gpu,zone=a",
            "q      10           -",
        ]
    )


def test_missing_and_none_values_print_a_dash() -> None:
    assert table([{"a": None}], ("a", "b")).splitlines() == ["A  B", "-  -"]


def test_no_rows_prints_the_header_only() -> None:
    assert table([], ("id", "state")) == "ID  STATE"


def test_lines_have_no_trailing_spaces() -> None:
    text = table([{"a": "x", "b": None}, {"a": "longer", "b": ""}], ("a", "b"))
    assert all(line == line.rstrip() for line in text.splitlines())
