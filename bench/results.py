"""Keep bench/RESULTS.md as sections, one per benchmark script, each rewritten by its script."""

from __future__ import annotations

import re
from pathlib import Path

HEADER = ("# Benchmark results\n\nWritten by the scripts in `bench/`; each section is replaced "
          "when its script runs. Figures are ratios against direct calls measured in the same "
          "run, because absolute numbers depend on the machine.\n")


def write_section(path: Path, title: str, body: str) -> None:
    """Replace (or append) the ``## title`` section of ``path``."""
    text = path.read_text() if path.exists() else HEADER
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text.rstrip() + "\n")
