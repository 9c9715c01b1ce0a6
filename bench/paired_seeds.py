"""Comparing arms (encoders, training recipes, ...) over the same generator seeds: run each arm's
seeds at a fixed step count, summarise test metrics as mean ± sd, and compare every arm with the
first on the same seeds (paired difference, wins, paired t). Shared by bench/text_vectors.py and
bench/tiger_recipe.py.

A fixed step count with no wall-clock cap gives every run the same training whatever the
machine's load, so runs may go side by side (``jobs``; then one torch thread each).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from rows import ROOT, run_parallel, split_overrides

from genrec.run_info import git_commit, hardware, versions

METRICS = ("recall@10", "ndcg@10", "recall@20", "ndcg@20")
COMPARED = ("recall@10", "ndcg@10")


def bench_parser(description: str, seeds: list[int]) -> argparse.ArgumentParser:
    """The options every seed-paired bench takes; each adds the option that names its arms."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", default="tiger_ml100k")
    parser.add_argument("--seeds", nargs="+", type=int, default=seeds)
    parser.add_argument("--max-steps", type=int, default=1200)
    parser.add_argument("--jobs", type=int, default=1, help="runs side by side (then one torch thread each)")
    return parser


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """(the bench's options, the ``key=value`` overrides for every run), wherever the overrides stand."""
    options, overrides = split_overrides(argv)
    return parser.parse_args(options), overrides


def fixed_steps(max_steps: int, results_dir: str) -> list[str]:
    """Overrides that train every run exactly ``max_steps`` steps (no clock) and report under ``results_dir``."""
    return [f"trainer.max_steps={max_steps}", "trainer.max_time_minutes=null", f"results_dir={results_dir}",
            "evaluation.reference=null"]


def record_header(args: argparse.Namespace, tokenizer: str, overrides: list[str]) -> dict:
    return {"experiment": args.experiment, "tokenizer": tokenizer, "seeds": args.seeds, "max_steps": args.max_steps,
            "overrides": overrides}


def fit_codes_once(tokenizers_dir: str, name: str, fit_args: list[str]) -> None:
    """Fit ``tokenizers/<name>/`` with ``train.py stage=tokenizer fit_args`` unless it is there: once,
    before generator runs that would otherwise fit it side by side."""
    if (ROOT / tokenizers_dir / name).is_dir():
        return
    print(f"fitting {name}", flush=True)
    if run_parallel({name: ["stage=tokenizer", *fit_args]}, jobs=1)[name] != 0:
        raise SystemExit(f"fitting {name} failed; see checkpoints/{name}/console.log")


def mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def paired(base: list[float], other: list[float]) -> dict:
    """Mean difference (other - base) over the same seeds, its paired t and how many seeds ``other`` wins."""
    diffs = [b - a for a, b in zip(base, other)]
    mean, sd = mean_sd(diffs)
    t = mean / (sd / len(diffs) ** 0.5) if sd > 0 else None
    return {"mean_difference": mean, "paired_t": t, "wins": sum(d > 0 for d in diffs), "of": len(diffs)}


def run_seeds(runs: dict, results_dir: str, jobs: int = 1) -> dict:
    """``{key (a seed, or (arm, seed)): (run name, train.py arguments)}``: train each run whose report is not yet under
    ``results_dir`` (``jobs`` at a time; with more than one, one torch thread each), then read
    every report. A run that fails stops the bench with its log named."""
    todo = {name: args for name, args in runs.values() if not (ROOT / results_dir / name / "metrics.json").is_file()}
    if todo:
        if jobs > 1:
            os.environ["OMP_NUM_THREADS"] = "1"  # side by side on a CPU: one thread each, no oversubscription
        started = time.perf_counter()
        failed = {name: code for name, code in run_parallel(todo, jobs).items() if code != 0}
        if failed:
            logs = ", ".join(f"checkpoints/{name}/console.log" for name in failed)
            raise SystemExit(f"{len(failed)} run(s) failed ({failed}); see {logs}")
        print(f"{len(todo)} run(s) in {time.perf_counter() - started:.0f} s", flush=True)
    return {key: json.loads((ROOT / results_dir / name / "metrics.json").read_text()) for key, (name, _) in runs.items()}


def seeds_summary(reports: dict[int, dict]) -> dict:
    """Per seed the test and validation metrics, steps, stop reason, commit and wall time; test mean ± sd."""
    return {
        "runs": {seed: {"test": r["test"], "valid": r["valid"], "steps": r["train"].get("steps"),
                        "stop_reason": r["train"].get("stop_reason"), "commit": r["commit"],
                        "wall_time_s": r.get("wall_time_s"), "threads": r.get("hardware", {}).get("torch_threads"),
                        "codes": r.get("item_codes", {}).get("fingerprint")}  # None in reports before 2026-12-07
                 for seed, r in reports.items()},
        "test": {m: dict(zip(("mean", "sd"), mean_sd([r["test"][m] for r in reports.values()]))) for m in METRICS},
    }


def require_same_codes(arms: dict[str, dict]) -> None:
    """Stop when the runs of a bench whose arms share one tokenizer read different codes (a refit
    between runs): their differences would mix the recipe with the codes. Runs whose report
    predates the codes fingerprint are not checked."""
    fingerprints = {}
    for arm, row in arms.items():
        for seed, run in row["runs"].items():
            if run.get("codes"):
                fingerprints.setdefault(run["codes"], []).append(f"{arm} seed {seed}")
    if len(fingerprints) > 1:
        found = "; ".join(f"{code}: {', '.join(runs)}" for code, runs in fingerprints.items())
        raise SystemExit(f"the runs read different item codes ({found}); delete the stale runs' results and rerun")


def compare_with_first(arms: dict[str, dict], seeds: list[int]) -> None:
    """Add ``versus_first`` (paired over ``seeds``) to every arm but the first."""
    first = next(iter(arms.values()))["runs"]
    for row in list(arms.values())[1:]:
        row["versus_first"] = {m: paired([first[s]["test"][m] for s in seeds], [row["runs"][s]["test"][m] for s in seeds])
                               for m in COMPARED}


def versus_cells(row: dict) -> list[str]:
    """The table cells ``+0.0012 (4/6, t 1.3)`` for each compared metric ("-" for the first arm)."""
    cells = []
    for metric in COMPARED:
        versus = row.get("versus_first", {}).get(metric)
        if versus is None:
            cells.append("-")
            continue
        t = "-" if versus["paired_t"] is None else f"{versus['paired_t']:.1f}"
        cells.append(f"{versus['mean_difference']:+.4f} ({versus['wins']}/{versus['of']}, t {t})")
    return cells


def test_cells(row: dict) -> list[str]:
    return [f"{row['test'][m]['mean']:.4f} ± {row['test'][m]['sd']:.4f}" for m in COMPARED]


def result_columns(first: str) -> str:
    """The header cells every seed-paired bench's table ends with, compared with its ``first`` row."""
    return (f"valid N@10 | test R@10 | test N@10 | R@10 vs {first} (wins, t) | N@10 vs {first} (wins, t) | "
            f"wall s / run |")


def result_cells(row: dict) -> list[str]:
    """The cells under ``result_columns``: validation NDCG@10 and test mean ± sd, the paired
    differences from the first row, and the mean wall time of a run."""
    valid = mean_sd([run["valid"]["ndcg@10"] for run in row["runs"].values()])
    wall = mean_sd([run["wall_time_s"] or 0 for run in row["runs"].values()])[0]
    return [f"{valid[0]:.4f} ± {valid[1]:.4f}", *test_cells(row), *versus_cells(row), f"{wall:.0f}"]


def provenance(arms: dict[str, dict], start: float) -> dict:
    """Commit, versions and hardware of this invocation; the runs' own commits and summed wall time."""
    runs = [run for row in arms.values() for run in row["runs"].values()]
    return {"commit": git_commit(), "versions": versions(), "hardware": hardware(),
            "wall_time_s": round(time.perf_counter() - start, 1),  # this invocation (finished runs are reused)
            "runs_wall_time_s": round(sum(run["wall_time_s"] or 0 for run in runs), 1),
            "run_commits": sorted({run["commit"] for run in runs})}


def runs_sentence(record: dict, arms_key: str, training: str | None = None) -> str:
    """How the runs were made, from the runs' own records (not from this invocation's options).
    ``training`` replaces the ``N steps each`` clause, for benches whose runs stop on their own."""
    commits = ", ".join(c[:7] + ("+dirty" if c.endswith("+dirty") else "") for c in record["run_commits"])
    runs = [run for row in record[arms_key].values() for run in row["runs"].values()]
    threads = sorted({run.get("threads") or 0 for run in runs})
    steps = f"{record['max_steps']} steps each"
    if any(run.get("steps") not in (None, record["max_steps"]) for run in runs):
        steps += " unless the arm's steps say otherwise"
    steps = training or steps
    return (f"Generator seeds {record['seeds']}, {steps}, best validation NDCG@10 "
            f"checkpoint tested. Runs at commit {commits}, {record['hardware'].get('cpu', '')} "
            f"({record['hardware'].get('cpu_count')} cores, {' / '.join(map(str, threads))} torch thread(s) a run), "
            f"{record['runs_wall_time_s'] / 60:.0f} min of runs.")


def finish(name: str, record: dict, arms_key: str, start: float, table) -> None:
    """Compare ``record[arms_key]`` with its first arm, add provenance, write ``results/bench/<name>.json``
    and ``.md`` (``table(record)``) and print the table."""
    from genrec.artefacts import write_json_atomic, write_text_atomic

    compare_with_first(record[arms_key], record["seeds"])
    record.update(provenance(record[arms_key], start))
    text = table(record)
    out = Path(ROOT) / "results" / "bench"
    write_json_atomic(out / f"{name}.json", record)
    write_text_atomic(out / f"{name}.md", text)
    print(text)
