"""Cold start (TIGER's protocol): STORE's text -> token codes against TIGER's prefix-matching rule.

    python bench/cold_start.py [--dataset ml100k] [--skip-existing] [--runs RUN ...] [key=value ...]

Both runs hold the same 5% of test items out of training (``data.cold_start_share=0.05``, seed
0, the dataset renamed ``<dataset>_cold`` so its artefacts never mix with the full data's):

- TIGER (``experiment=tiger_<dataset>``) on its RQ-VAE codes, which every item has from its
  text. It ranks by ``evaluation.cold_start_rule=prefix``: the search runs over the trained
  items, and held-out items sharing a retrieved item's code prefix join the list, at most
  epsilon = 10% of it. The same checkpoint is re-scored with shorter prefixes (2 levels, 1
  level) and with the direct rule (every item ranked by its own code).
- STORE (``experiment=store_<dataset>``). Its tokenizer stage fits and tunes on the other items;
  each held-out item gets its code from its text through the tuned backbone. Ranking reaches
  every item directly by its code.
- STORE on LAMIA's item palette (``tokenizer=lamia``, the arguments of ``bench/llm.py``'s LAMIA
  row for the dataset): the same cold-start path, with codes the backbone learns to write from
  text more readily (docs/store.md).
- Both again with ``tokenizer.new_item_codes=seen_prefix``: a held-out item's code before its last
  level must be one a fitted item holds, so the recommender has seen that path to the last level.
  The table's "in a fitted prefix" column is the share of held-out items whose code is so placed.

Reports test Recall/NDCG on the users whose target is held out (``test_cold``), on the others
(``test_warm``) and on all, into ``results/cold_start/<dataset>.json`` and ``<dataset>.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from llm import ROWS as LLM_ROWS  # noqa: E402

from genrec.artefacts import write_json_atomic, write_text_atomic  # noqa: E402
from genrec.config import compose  # noqa: E402
from genrec.quiet import quiet_libraries  # noqa: E402
from genrec.run_info import git_commit, hardware, versions  # noqa: E402
from genrec.training.pipeline import train_run  # noqa: E402

COLUMNS = ("recall@5", "recall@10", "ndcg@5", "ndcg@10")


def runs(dataset: str) -> list[tuple[str, str, list[str], list[tuple[str, list[str]]]]]:
    """(method, run name, training overrides, re-scorings) of each trained run; every run holds out
    the same items. A re-scoring is (method, evaluation overrides) applied to the run's best
    checkpoint: the same model under another retrieval rule."""
    cold = ["data.cold_start_share=0.05", "data.cold_start_seed=0", f"data.dataset={dataset}_cold"]
    store = "store_tiny" if dataset == "ml100k" else "store"  # the CPU experiment's backbone is a tiny Llama
    lamia = "lamia_tiny" if dataset == "ml100k" else "lamia"
    lamia_arguments = [a for a in LLM_ROWS[f"{lamia}-{dataset}"].arguments if not a.startswith("tokenizer.name=")]
    llm_rows = []
    for rule, suffix in (("any free code", ""), ("a fitted item's prefix", "_seen")):  # tokenizer.new_item_codes
        for method, name, arguments in (("STORE", store, [f"experiment=store_{dataset}"]),
                                        ("STORE on LAMIA's palette", lamia, lamia_arguments)):
            llm_rows.append((f"{method}, text -> token: {rule}", f"{name}_cold{suffix}-{dataset}",
                             [*arguments, *cold, f"tokenizer.name={name}-{dataset}_cold{suffix}",
                              f"tokenizer.new_item_codes={'seen_prefix' if suffix else 'open'}"], []))
    return [
        ("TIGER, prefix rule: 3 levels (epsilon 0.1)", f"tiger_cold-{dataset}",
         [f"experiment=tiger_{dataset}", *cold, "evaluation.cold_start_rule=prefix"],
         [("TIGER, prefix rule: 2 levels", ["evaluation.cold_start_prefix_levels=2"]),
          ("TIGER, prefix rule: 1 level", ["evaluation.cold_start_prefix_levels=1"]),
          ("TIGER, direct (every item by its RQ-VAE code)", ["evaluation.cold_start_rule=direct"])]),
        *llm_rows,
    ]


def rescore(run: str, overrides: list[str]) -> dict:
    """Test metrics of ``run``'s best checkpoint with ``overrides`` applied to its saved config."""
    from genrec.config import load_saved
    from genrec.training.pipeline import build_datamodule, build_generator, evaluate_run, load_weights
    from genrec.training.precision import resolve_precision

    directory = Path("checkpoints") / run
    cfg = load_saved(directory / "config.yaml", overrides)
    cfg.trainer.precision = resolve_precision(cfg.trainer.precision, cfg.trainer.accelerator)
    datamodule = build_datamodule(cfg)
    model = build_generator(cfg, datamodule)
    load_weights(model, directory / "best.ckpt")
    results = evaluate_run(cfg, model, datamodule, progress=False)
    return {"test": results["test"], **results["extra"]}


def rescorings_of(run: str, report: dict, rescorings: list[tuple[str, list[str]]]) -> list[dict | None]:
    """Each re-scoring's metrics, kept in ``results/<run>/rescorings.json`` for the run they were
    computed on (its commit and training wall time): a later invocation (``--runs`` in another
    lease, a fresh clone) reads them there, as the checkpoint is git-ignored and may be gone. A
    re-scoring neither kept nor computable (no ``best.ckpt`` here) is left out, with a line."""
    path = Path("results") / run / "rescorings.json"
    trained = {"commit": report.get("commit"), "wall_time_s": report["train"]["wall_time_s"]}
    kept = json.loads(path.read_text()) if path.is_file() else {}
    if kept.get("run") != trained:
        kept = {"run": trained, "rescorings": {}}
    found, changed = [], False
    for _, evaluation in rescorings:
        key = " ".join(evaluation)
        if key not in kept["rescorings"]:
            if not (Path("checkpoints") / run / "best.ckpt").is_file():
                print(f"{run} re-scored with {key}: left out (no checkpoints/{run}/best.ckpt here, none kept in {path})")
                found.append(None)
                continue
            kept["rescorings"][key], changed = rescore(run, evaluation), True
        found.append(kept["rescorings"][key])
    if changed:
        write_json_atomic(path, kept)
    return found


def row(method: str, run: str, report: dict, train_s: float, rescored_with: list[str] | None = None) -> dict:
    return {"method": method, "run": run, "test": report["test"], "test_cold": report["test_cold"],
            "test_warm": report["test_warm"], "cold_users": report["cold_start"]["cold_test_users"],
            "held_out_items": report["cold_start"]["held_out_items"], "train_s": train_s,
            "rescored_with": rescored_with, "cold_codes_in_a_fitted_prefix": in_a_fitted_prefix(report)}


def in_a_fitted_prefix(report: dict) -> float | None:
    """Share of held-out items whose text -> token code shares all but its last level with a
    fitted item's (STORE's tokenizer report); None where codes do not come from text -> token,
    where ``report`` is a re-scoring (it carries no config), or where the tokenizer report is of
    other codes than the run read (a refit under the same name since)."""
    if "config" not in report:
        return None
    path = Path("results") / "tokenizers" / f"{report['config']['tokenizer']['name']}.json"
    tokenizer_report = json.loads(path.read_text()) if path.is_file() else {}
    read = (report.get("item_codes") or {}).get("fingerprint")
    if read is not None and read != tokenizer_report.get("codes_fingerprint"):
        return None
    return tokenizer_report.get("cold_start", {}).get("sharing_a_prefix_with_a_fitted_item")


def table(rows: list[dict]) -> str:
    head = ("| method | run | cold users | cold R@5 | cold R@10 | cold N@5 | cold N@10 | warm R@10 | all R@10 | "
            "in a fitted prefix | training |")
    lines = [head, "|" + "---|" * 11]
    for row in rows:
        cold, warm, test = row["test_cold"], row["test_warm"], row["test"]
        share = row.get("cold_codes_in_a_fitted_prefix")
        lines.append(f"| {row['method']} | `{row['run']}` | {row['cold_users']} | "
                     + " | ".join(f"{cold[c]:.4f}" for c in COLUMNS)
                     + f" | {warm['recall@10']:.4f} | {test['recall@10']:.4f} | "
                     + ("" if share is None else f"{share:.0%}") + f" | {row['train_s'] / 60:.1f} min |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="ml100k")
    parser.add_argument("--skip-existing", action="store_true", help="reuse results/<run>/metrics.json")
    parser.add_argument("--runs", nargs="+", default=None,
                        help="train only these runs (a lease-sized share); the others are read from their "
                             "results/<run>/metrics.json where it exists and left out of the table where not")
    parser.add_argument("overrides", nargs="*", help="config overrides for every run")
    args = parser.parse_args()
    quiet_libraries()  # no Lightning banners or tips from the runs trained in this process
    every = runs(args.dataset)
    unknown = sorted(set(args.runs or []) - {run for _, run, _, _ in every})
    if unknown:
        raise SystemExit(f"--runs {unknown}: not runs of {args.dataset}; they are {[run for _, run, _, _ in every]}")
    rows = []
    for method, run, overrides, rescorings in every:
        path = Path("results") / run / "metrics.json"
        if args.runs is not None and run not in args.runs:
            if not path.is_file():
                continue
            report = json.loads(path.read_text())
        elif args.skip_existing and path.is_file():
            report = json.loads(path.read_text())
        else:
            report = train_run(compose([*overrides, f"run={run}", "trainer.enable_progress_bar=false",
                                        *args.overrides]))
        train_s = report["train"]["wall_time_s"]
        rows.append({**row(method, run, report, train_s), "commit": report.get("commit")})
        for (other, evaluation), rescored in zip(rescorings, rescorings_of(run, report, rescorings)):
            if rescored is not None:
                rows.append(row(other, run, rescored, train_s, evaluation))
    out = Path("results") / "cold_start"
    write_json_atomic(out / f"{args.dataset}.json", {
        "dataset": args.dataset, "rows": rows, "commit": git_commit(), "versions": versions(), "hardware": hardware(),
        "protocol": "TIGER's cold start: 5% of test items (seed 0) held out of training; leave-one-out, full "
                    "ranking, seen items excluded; cold = test users whose target is held out",
    })
    text = table(rows)
    write_text_atomic(out / f"{args.dataset}.md", text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
