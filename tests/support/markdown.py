"""Reading the docs' Markdown tables, so tests can hold the docs and the code to each other."""

from __future__ import annotations


def doc_table(document: str, heading: str) -> list[list[str]]:
    """The body rows of the first Markdown table after the line `heading`, cells stripped of backticks."""
    lines = document[document.index(heading) :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip().strip("`") for cell in line.strip().strip("|").split("|")])
    return rows
