"""The README's two commands as a new user has them: a fresh clone, nothing beside it.

    python bench/demo.py [--with-tests]      # writes results/demo.json

Clones the current commit into a temporary folder (so no ``../shared`` sits beside it),
runs ``make demo`` there and times it from nothing: the virtual environment, the
MovieLens-100K download, the tokenizer fit, training and evaluation. ``--with-tests``
then runs ``make test`` in the same clone and records its outcome. The record holds the
wall times, the demo's validation and test metrics, the reference row it printed, the
commit and the machine. Each record also becomes one row of ``results/demo_history.json``
(every fresh-clone record so far, newest first) and its table ``results/demo_history.md``,
which ``bench/readme_tables.py`` copies into docs/reliability.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_RUN = "tiger-rqvae_small-ml100k"
HISTORY_ABOUT = ("every fresh-clone record of `make demo` then `make test` (bench/demo.py --with-tests), newest "
                 "first; the rows before this file (2026-12-07) were read from results/demo.json in git history, "
                 "each row's source says where")


def timed(command: list[str], cwd: Path, env: dict) -> tuple[float, int, str]:
    start = time.perf_counter()
    process = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    return round(time.perf_counter() - start, 1), process.returncode, process.stdout + process.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--with-tests", action="store_true", help="also run `make test` in the clone")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from genrec.artefacts import write_json_atomic
    from genrec.run_info import hardware, versions

    env = {k: v for k, v in os.environ.items() if k not in ("GENREC_DATA_DIR", "VIRTUAL_ENV", "GENREC_CONFIG_PATH")}
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "genrec"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        assert not (clone.parent / "shared").exists()
        # the clone is of HEAD with nothing changed: its commit, never this tree's "+dirty"
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True,
                                check=True).stdout.strip()
        demo_s, demo_rc, demo_out = timed(["make", "demo"], clone, env)
        print(demo_out[-2500:])
        record = {"command": "make demo (fresh clone, no ../shared)", "wall_time_s": demo_s, "exit_code": demo_rc}
        report_path = clone / "results" / DEMO_RUN / "metrics.json"
        if demo_rc == 0 and report_path.is_file():
            report = json.loads(report_path.read_text())
            train = report.get("train", {})
            record.update({"valid": report["valid"], "test": report["test"], "run": DEMO_RUN,
                           "train": {k: train.get(k) for k in ("steps", "epochs", "samples_per_s", "stop_reason",
                                                               "best_valid_score", "train_time_total_s")},
                           "tokenizer_fit_s": _tokenizer_seconds(demo_out)})
            reference = json.loads((ROOT / "results" / "sasrec_ml100k" / "metrics.json").read_text())
            record["reference"] = {"run": "sasrec_ml100k", "test": reference["test"]}
        if args.with_tests:
            test_s, test_rc, test_out = timed(["make", "test"], clone, env)
            summary = [line for line in test_out.splitlines() if re.search(r"\d+ (passed|failed)", line)]
            lines = test_out.splitlines()
            record["make_test"] = {"wall_time_s": test_s, "exit_code": test_rc, "summary": summary[-1:] or [],
                                   "failed": [line for line in lines if line.startswith(("FAILED", "ERROR"))],
                                   "skipped": [line for line in lines if line.startswith("SKIPPED")]}
            print(failure_section(test_out) if test_rc else test_out[-2500:])
    record.update({"commit": commit, "date": time.strftime("%Y-%m-%d", time.gmtime()), "versions": versions(),
                   "hardware": hardware()})
    write_json_atomic(ROOT / "results" / "demo.json", record)
    add_to_history(record, ROOT / "results")
    print(json.dumps({k: record.get(k) for k in ("wall_time_s", "exit_code", "make_test")}, indent=1))
    test = record.get("test", {})
    if test:
        print(f"demo test recall@10 {test['recall@10']:.4f}, ndcg@10 {test['ndcg@10']:.4f} "
              f"(SASRec {record['reference']['test']['recall@10']:.4f})")
    return 0 if demo_rc == 0 and record.get("make_test", {}).get("exit_code", 0) == 0 else 1


def history_row(record: dict) -> dict:
    """One fresh-clone record as a row of the history: times, steps, scores and test counts."""
    make_test = record.get("make_test") or {}
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|skipped|failed)", " ".join(make_test.get("summary", [])))}
    train = record.get("train") or {}
    return {"commit": record["commit"][:7], "date": record.get("date"), "make_demo_s": record["wall_time_s"],
            "demo_exit_code": record["exit_code"], "steps": train.get("steps"),
            "samples_per_s": train.get("samples_per_s"), "test_recall@10": (record.get("test") or {}).get("recall@10"),
            "make_test_s": make_test.get("wall_time_s"), "passed": counts.get("passed"),
            "skipped": counts.get("skipped"), "failed": counts.get("failed", 0) if make_test else None,
            "cpu": (record.get("hardware") or {}).get("cpu"), "source": "results/demo.json"}


def minutes(seconds: float | None) -> str:
    return "" if seconds is None else f"{round(seconds) // 60} min {round(seconds) % 60} s"


def history_table(rows: list[dict]) -> str:
    lines = ["| commit | `make demo` | TIGER steps | test R@10 | `make test` | machine |", "|---|---|---|---|---|---|"]
    for row in rows:
        steps = "" if row.get("steps") is None else f"{row['steps']:,}" + (
            f" ({row['samples_per_s']:,.0f} samples/s)" if row.get("samples_per_s") else "")
        recall = "" if row.get("test_recall@10") is None else f"{row['test_recall@10']:.3f}".lstrip("0")
        tests = ""
        if row.get("passed") is not None:
            tests = f"{minutes(row.get('make_test_s'))}, {row['passed']} passed, {row.get('skipped') or 0} skipped"
            tests += f", **{row['failed']} failed**" if row.get("failed") else ""
        lines.append(f"| {row['commit']} | {minutes(row.get('make_demo_s'))} | {steps} | {recall} | {tests} | "
                     f"{row.get('cpu') or ''} |")
    return "\n".join(lines)


def add_to_history(record: dict, results: Path) -> None:
    """Put ``record``'s row first in ``results/demo_history.json`` (replacing an earlier record of the
    same commit) and rewrite ``results/demo_history.md``."""
    from genrec.artefacts import write_json_atomic, write_text_atomic

    path = results / "demo_history.json"
    rows = json.loads(path.read_text())["rows"] if path.is_file() else []
    row = history_row(record)
    rows = [row, *[r for r in rows if r["commit"] != row["commit"]]]
    write_json_atomic(path, {"about": HISTORY_ABOUT, "rows": rows})
    write_text_atomic(results / "demo_history.md", history_table(rows) + "\n")


def failure_section(output: str) -> str:
    """pytest's tracebacks (from its FAILURES / ERRORS banner to the end), so a failing test in the
    fresh clone can be read here; the output's last 2,500 characters when there is no banner."""
    match = re.search(r"^=+ (FAILURES|ERRORS) =+$", output, flags=re.MULTILINE)
    return output[match.start():] if match else output[-2500:]


def _tokenizer_seconds(output: str) -> float | None:
    match = re.search(r"fit ([\d.]+)s", output)
    return float(match.group(1)) if match else None


if __name__ == "__main__":
    sys.exit(main())
