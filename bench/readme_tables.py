"""Refresh the result tables in README.md and docs/ from the committed result files.

    python bench/readme_tables.py

Each table sits between ``<!-- NAME -->`` and ``<!-- /NAME -->`` markers (in any of
``DOCUMENTS``) and is copied from the ``.md`` table a benchmark wrote.
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
    "TIGER-TABLE": ROOT / "results" / "tiger" / "table.md",
    "TIGER-SPEED-TABLE": ROOT / "results" / "bench" / "tiger_training_speed.md",
    "PROREC-TABLE": ROOT / "results" / "prorec" / "table.md",
    "COLD-START-TABLE": ROOT / "results" / "cold_start" / "ml100k.md",
    "LLM-TABLE": ROOT / "results" / "llm" / "table.md",
    "DEMO-HISTORY-TABLE": ROOT / "results" / "demo_history.md",
}
DOCUMENTS = [ROOT / "README.md", ROOT / "docs" / "tiger.md", ROOT / "docs" / "prorec.md", ROOT / "docs" / "store.md",
             ROOT / "docs" / "llm.md", ROOT / "docs" / "eager_llm.md", ROOT / "docs" / "reliability.md"]


def main() -> int:
    for document in DOCUMENTS:
        text = document.read_text()
        for marker, source in TABLES.items():
            if f"<!-- {marker} -->" not in text:
                continue
            if not source.is_file():
                print(f"skip {marker}: {source.relative_to(ROOT)} does not exist yet")
                continue
            body = source.read_text().strip()
            # the markers may hold an old table or nothing at all
            pattern = re.compile(rf"(<!-- {marker} -->\n)(?:.*?\n)?(<!-- /{marker} -->)", re.S)
            text, count = pattern.subn(lambda m, b=body: m.group(1) + b + "\n" + m.group(2), text)
            print(f"{document.relative_to(ROOT)}: {marker} " + ("updated" if count else "markers malformed, skipped"))
        document.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
