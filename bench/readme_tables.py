"""Refresh the result tables in README.md from the committed result files.

    python bench/readme_tables.py

Each table sits between ``<!-- NAME -->`` and ``<!-- /NAME -->`` markers and is copied
from the ``.md`` table a benchmark wrote (``results/sasrec/table.md``,
``results/tokenizers/table.md``, ``results/bench/decoding.md``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLES = {
    "SASREC-TABLE": ROOT / "results" / "sasrec" / "table.md",
    "TOKENIZER-TABLE": ROOT / "results" / "tokenizers" / "table.md",
    "DECODING-TABLE": ROOT / "results" / "bench" / "decoding.md",
}


def main() -> int:
    readme = ROOT / "README.md"
    text = readme.read_text()
    for marker, source in TABLES.items():
        if not source.is_file():
            print(f"skip {marker}: {source.relative_to(ROOT)} does not exist yet")
            continue
        body = source.read_text().strip()
        pattern = re.compile(rf"(<!-- {marker} -->\n).*?(\n<!-- /{marker} -->)", re.S)
        text, count = pattern.subn(lambda m, b=body: m.group(1) + b + m.group(2), text)
        print(f"{marker}: {'updated' if count else 'marker not found'}")
    readme.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
