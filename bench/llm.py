"""The LLM generators' rows (LC-Rec, STORE, LAMIA, EAGER-LLM): run them, and collect every
finished one into one table beside its references.

    python bench/llm.py --rows lcrec-beauty store-beauty [--continue --deadline-minutes 9] [key=value ...]
    python bench/llm.py --summary-only        # results/llm/summary.json, results/llm/table.md
    python bench/llm.py --list                # every row and its command

Each row is one ``python train.py ...`` command (``ROWS``); its report is
``results/<run>/metrics.json``. ``--continue --deadline-minutes M`` trains the rows one after
another within M minutes, each stopped resumably when its share runs out and resumed from
``checkpoints/<run>/last.ckpt`` by the next invocation (``bench/reproduce.py``'s lease-sized
parts). A row whose prerequisite (EAGER's stage 2 needs stage 1's exported backbone) is trained
in the same invocation, or has never run, waits until it has finished; list stage 2 alone to
start it from a stage 1 that ran before and stopped on its budget. On a GPU lease a full fine-tuning row cannot leave the machine mid-way (its
checkpoint is ~1.5 GB, docs/llm.md): give it consecutive commands on the warm machine, all but
the last with ``trainer.evaluate_paused=false`` (those parts skip the minutes-long full evaluation).

The table shows every row's budget as measured (steps, training minutes over all parts, why it
stopped, the hardware), since no row here is trained to the papers' budgets.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from reproduce import fit_minutes, run_in_parts  # noqa: E402
from rows import parse_command_line  # noqa: E402

from genrec.artefacts import write_json_atomic, write_text_atomic  # noqa: E402
from genrec.run_info import git_commit, hardware, versions  # noqa: E402

COLUMNS = ("recall@5", "recall@10", "ndcg@5", "ndcg@10")


@dataclass(frozen=True)
class Row:
    arguments: tuple[str, ...]  # train.py's arguments; the run name is the row's name
    what: str  # method and variant, for the table
    backbone: str
    requires: tuple[str, ...] = ()  # rows that must have finished first


def row(what: str, backbone: str, *arguments: str, requires: tuple[str, ...] = ()) -> Row:
    return Row(tuple(arguments), what, backbone, requires)


SMOL, TINY = "SmolLM2-135M", "tiny random Llama (2 x 128)"
STORE_MINILM = ("experiment=store_beauty", "tokenizer=rqvae", "generator.backbone.path=offline:smollm2-135m",
                "generator.tasks=[seqrec,titles2next,index2item,item2index]")
EAGER_OFF_GCT = ("generator.gct_text_weight=0", "generator.gct_behaviour_weight=0")
ROWS = {
    # CPU rows (ML-100K, minutes): pipeline checks, not the methods at their best
    "lcrec-rqvae_small-ml100k": row("LC-Rec, all tasks", TINY, "experiment=lcrec_ml100k"),
    "store_tiny-ml100k": row("STORE", TINY, "experiment=store_ml100k"),
    "lamia_tiny-ml100k": row("STORE with LAMIA's palette (3 aspects)", TINY, "experiment=store_ml100k",
                             "tokenizer=lamia", "tokenizer.name=lamia_tiny-ml100k", "tokenizer.levels=3",
                             "tokenizer.palette.epochs=6", "tokenizer.palette.lr=5e-3",
                             "tokenizer.palette.warmup_ratio=0.02"),
    "eager_llm-ml100k": row("EAGER-LLM stage 1 (CIMT + GCT)", TINY, "experiment=eager_llm_ml100k"),
    "eager_llm_aat-ml100k": row("EAGER-LLM stage 2 (AAT)", TINY, "experiment=eager_llm_ml100k_aat",
                                requires=("eager_llm-ml100k",)),
    # Beauty (GPU)
    "lcrec-rqvae-beauty": row("LC-Rec, all tasks", SMOL, "experiment=lcrec_beauty"),
    "lcrec_seqrec_only-beauty": row("LC-Rec, seqrec only", SMOL, "experiment=lcrec_beauty", "generator.tasks=[seqrec]"),
    "store-beauty": row("STORE", SMOL, "experiment=store_beauty"),
    "store_no_token2text-beauty": row("STORE without token -> text", SMOL, "experiment=store_beauty",
                                      "generator.tasks=[seqrec,titles2next]", requires=("store-beauty",)),
    "store_no_aux-beauty": row("STORE without the auxiliary task", SMOL, "experiment=store_beauty",
                               "generator.tasks=[seqrec,index2item]", requires=("store-beauty",)),
    "store_minilm_codes-beauty": row("STORE on MiniLM RQ-VAE codes", SMOL, *STORE_MINILM),
    "lamia-beauty": row("STORE with LAMIA's palette (4 aspects)", SMOL, "experiment=store_beauty", "tokenizer=lamia",
                        "tokenizer.name=lamia-beauty"),
    "eager_llm-beauty": row("EAGER-LLM stage 1 (= without AAT)", SMOL, "experiment=eager_llm_beauty"),
    "eager_llm_aat-beauty": row("EAGER-LLM (stage 2, AAT)", SMOL, "experiment=eager_llm_beauty_aat",
                                requires=("eager_llm-beauty",)),
    "eager_llm_text_only-beauty": row("EAGER-LLM stage 1, text-only indices", SMOL, "experiment=eager_llm_beauty",
                                      "tokenizer.sources=[text]", "tokenizer.name=eager_text-beauty"),
    "eager_llm_behaviour_only-beauty": row("EAGER-LLM stage 1, behaviour-only indices", SMOL,
                                           "experiment=eager_llm_beauty", "tokenizer.sources=[behaviour]",
                                           "tokenizer.name=eager_behaviour-beauty"),
    "eager_llm_no_gct-beauty": row("EAGER-LLM stage 1 without GCT", SMOL, "experiment=eager_llm_beauty",
                                   *EAGER_OFF_GCT),
    # Sports (GPU)
    "eager_llm-sports": row("EAGER-LLM stage 1", SMOL, "experiment=eager_llm_sports"),
    "eager_llm_aat-sports": row("EAGER-LLM (stage 2, AAT)", SMOL, "experiment=eager_llm_sports_aat",
                                requires=("eager_llm-sports",)),
}
# Rows of other models on the same split, for scale: (label, test R@5, R@10, N@5, N@10, source)
REFERENCES = {
    "beauty": [
        ("phonism/genrec LC-Rec, Qwen3-1.7B (their report)", (0.0481, 0.0704, 0.0331, 0.0403), "phonism/genrec"),
        ("EAGER-LLM paper, LLaMA-7B (secondary source)", (0.0548, 0.0830, 0.0369, 0.0459), "arXiv 2502.14735"),
    ],
    "sports": [
        ("EAGER-LLM paper, LLaMA-7B (secondary source)", (0.0373, 0.0569, 0.0251, 0.0315), "arXiv 2502.14735"),
    ],
}
OURS_FOR_SCALE = {"beauty": "tiger-rqvae-beauty", "sports": "tiger-rqvae-sports"}  # our TIGER rows, same split


def arguments(name: str) -> list[str]:
    return [*ROWS[name].arguments, f"run={name}"]


def dataset_of(name: str) -> str:
    return name.rsplit("-", 1)[1]


def report(name: str) -> dict | None:
    path = Path("results") / name / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else None


def budget(found: dict) -> str:
    """What a row was trained with, from its report: steps, minutes over all parts, why it
    stopped, on what."""
    train, device = found.get("train") or {}, found.get("hardware") or {}
    where = device.get("gpu") or f"{device.get('cpu_count', '?')}-core CPU"
    return f"{train.get('steps')} steps, {fit_minutes(train)} min, {train.get('stop_reason')}, {where}"


def summarise() -> dict:
    entries = []
    for name, spec in ROWS.items():
        found = report(name)
        if found is None:
            continue
        train, evaluation = found.get("train") or {}, found.get("eval") or {}
        entries.append({"run": name, "what": spec.what, "backbone": spec.backbone, "dataset": dataset_of(name),
                        "test": {k: found["test"][k] for k in COLUMNS}, "valid_ndcg@10": found["valid"].get("ndcg@10"),
                        "steps": train.get("steps"), "fit_minutes": fit_minutes(train),
                        "stop_reason": train.get("stop_reason"), "train_tokens_per_s": train.get("tokens_per_s"),
                        "eval_users_per_s": evaluation.get("users_per_s"), "hardware": found.get("hardware"),
                        "commit": found.get("commit"), "budget": budget(found)})
    return {"rows": entries, "references": REFERENCES, "commit": git_commit(), "versions": versions(),
            "hardware": hardware()}


def table(summary: dict) -> str:
    """One table per dataset: our rows (run or not yet), then the references."""
    by_run = {e["run"]: e for e in summary["rows"]}
    header = ("| run | method | backbone | budget (steps, training, stop, hardware) | "
              + " | ".join(f"test {c.replace('recall', 'R').replace('ndcg', 'N')}" for c in COLUMNS)
              + " | tokens/s | users/s |")
    blocks = []
    for dataset in dict.fromkeys(dataset_of(n) for n in ROWS):
        lines = [f"**{dataset}**", "", header, "|" + "---|" * (len(COLUMNS) + 6)]
        for name, spec in ROWS.items():
            if dataset_of(name) != dataset:
                continue
            e = by_run.get(name)
            if e is None:
                lines.append(f"| `{name}` | {spec.what} | {spec.backbone} | not run yet |" + " |" * (len(COLUMNS) + 2))
                continue
            lines.append(f"| `{name}` | {spec.what} | {spec.backbone} | {e['budget']} | "
                         + " | ".join(f"{e['test'][k]:.4f}" for k in COLUMNS)
                         + f" | {round(e['train_tokens_per_s']) if e['train_tokens_per_s'] else ''} | {e['eval_users_per_s'] or ''} |")
        tiger = OURS_FOR_SCALE.get(dataset)
        found = report(tiger) if tiger else None
        if found:
            lines.append(f"| `{tiger}` (ours, for scale) | TIGER | T5 (~5M) | {budget(found)} | "
                         + " | ".join(f"{found['test'][k]:.4f}" for k in COLUMNS) + " | | |")
        for label, values, _source in summary["references"].get(dataset, []):
            lines.append(f"| {label} | | | | " + " | ".join(f"{v:.4f}" for v in values) + " | | |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", nargs="+", default=[], help=f"any of: {', '.join(ROWS)}")
    parser.add_argument("--continue", dest="resume", action="store_true",
                        help="skip finished rows, resume unfinished ones from last.ckpt")
    parser.add_argument("--deadline-minutes", type=float, default=None, help="this invocation's time for all rows")
    parser.add_argument("--reserve-minutes", type=float, default=3.0,
                        help="kept from the deadline for each part's start-up and final evaluation (an LLM on "
                        "Beauty: minutes); 1 is enough for parts run with trainer.evaluate_paused=false")
    parser.add_argument("--summary-only", action="store_true")
    parser.add_argument("--list", action="store_true", help="print every row's command and exit")
    args, overrides = parse_command_line(parser)
    if args.list:
        for name in ROWS:
            print(f"{name}: python train.py {' '.join(arguments(name))}")
        return 0
    unknown = sorted(set(args.rows) - set(ROWS))
    if unknown:
        raise SystemExit(f"unknown rows {unknown}; python bench/llm.py --list shows them")
    if not args.summary_only and args.rows:
        if not args.resume:
            started = [n for n in args.rows if (Path("checkpoints") / n / "last.ckpt").is_file() or report(n)]
            if started:
                raise SystemExit(f"{started} already ran: add --continue to resume or skip them, or delete their "
                                 "checkpoints/<run> and results/<run> to start again")
        # a prerequisite trained in this invocation, or never run, must finish first; one that ran
        # before and is not listed is taken as it is (a budget-bound stage 1 the operator has ended)
        run_in_parts(args.rows, overrides, args.deadline_minutes, arguments_of=arguments,
                     requires_of=lambda name: [r for r in ROWS[name].requires if r in args.rows or report(r) is None],
                     reserve_minutes=args.reserve_minutes)
    summary = summarise()
    write_json_atomic(Path("results") / "llm" / "summary.json", summary)
    text = table(summary)
    write_text_atomic(Path("results") / "llm" / "table.md", text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
