"""How much an item text source tells about the next item, with nothing trained: how much of
Sports' gap its missing titles can explain.

    python bench/text_source_signal.py [--rows beauty:rqvae beauty_keywords:rqvae ...] [--encoder minilm] [key=value ...]

Each row ``<data config>:<scheme>`` reads the dataset's leave-one-out split, its text vectors
(``tokenizer.vectors=text``: ``data.text_template`` through the configured sentence encoder,
cached after the first encoding) and the fitted tokenizer ``tokenizers/<scheme>-<dataset>/``
(fit it first: ``python train.py stage=tokenizer data=<data config> tokenizer=<scheme>``).
Two measures, both on data a generator would see:

- **text neighbours** (per data config): every test user's catalogue ranked by the cosine
  similarity of each item's text vector to the user's last item, the user's earlier items left
  out; test (and validation) Recall/NDCG@10. A recommender made of the item text alone.
- **code transitions** (per tokenizer): over every pair of consecutive items ``(a, b)`` in the
  training parts, how often ``b`` shares ``a``'s first ``l`` codes, over the rate expected if
  ``b`` were drawn independently with the same popularity (chance = sum over prefixes ``p`` of
  P(a has p) * P(b has p)); the lift for ``l`` = 1 .. the scheme's semantic levels. TIGER writes
  the next item's code level by level, so codes that repeat along sequences give it a head start.

Sports has only IDGenRec's keywords as item text. ``data=beauty_keywords`` and
``data=toys_keywords`` give Beauty and Toys that same text (``python -m genrec.data.download
idgenrec-beauty``, ``idgenrec-toys``), so the drop from ``beauty`` to ``beauty_keywords`` is
what losing real titles costs on a dataset where TIGER's paper figure is known. Writes
``results/bench/text_source_signal.json`` and ``.md``.

``--encoder`` swaps the text vectors for one of ``bench/text_vectors.py``'s encoders (the offline
LLMs, mean-pooled) and reads the tokenizers fitted on them, ``tokenizers/<scheme>-<encoder>-<dataset>/``
(``python train.py stage=tokenizer data=beauty tokenizer=rqvae tokenizer.features.model=offline:smollm2-135m
tokenizer.features.pooling=mean tokenizer.name=rqvae-smollm2-135m-beauty``); it writes
``text_source_signal-<encoder>.{json,md}``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from genrec.artefacts import write_json_atomic, write_text_atomic  # noqa: E402
from genrec.config import compose  # noqa: E402
from genrec.data import load_dataset  # noqa: E402
from genrec.data.splits import leave_one_out  # noqa: E402
from genrec.evaluation.metrics import metrics_from_ranks, target_ranks  # noqa: E402
from genrec.run_info import git_commit, hardware, versions  # noqa: E402
from genrec.tokenizers.item_codes import ItemCodes  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from text_vectors import ENCODERS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ROWS = ["beauty:rqvae", "beauty_keywords:rqvae", "beauty:random",
        "toys:rqvae", "toys_keywords:rqvae", "sports:rqvae"]
OUT = ROOT / "results" / "bench" / "text_source_signal"


def text_neighbours(vectors: torch.Tensor, test, batch: int = 1024) -> dict[str, float]:
    """Test Recall/NDCG@10 of ranking every item by text cosine similarity to the user's last item."""
    unit = torch.nn.functional.normalize(vectors.float(), dim=1)
    ranks = []
    for start in range(0, len(test), batch):
        stop = min(start + batch, len(test))
        last = torch.as_tensor([int(h[-1]) for h in test.histories[start:stop]])
        scores = unit[last] @ unit.T
        for row, seen in enumerate(test.seen[start:stop]):
            scores[row, torch.as_tensor(seen)] = -torch.inf
        ranks.append(target_ranks(scores, torch.as_tensor(test.targets[start:stop])))
    metrics = metrics_from_ranks(torch.cat(ranks), ks=(10,))
    return {k: round(v, 4) for k, v in metrics.items()}


def transition_lift(codes: torch.Tensor, train_sequences: list[np.ndarray], levels: int) -> list[dict]:
    """Per prefix length: the share of consecutive training pairs whose codes share it, chance, lift."""
    sources = np.concatenate([s[:-1] for s in train_sequences if len(s) > 1])
    targets = np.concatenate([s[1:] for s in train_sequences if len(s) > 1])
    table = codes.numpy().astype(np.int64)
    out, key = [], np.zeros(len(table), np.int64)
    for level in range(levels):
        key = key * (int(table[:, level].max()) + 1) + table[:, level]
        a, b = key[sources], key[targets]
        rate = float(np.mean(a == b))
        prefixes, a_index = np.unique(a, return_inverse=True)
        b_index = np.searchsorted(prefixes, b)
        b_known = (b_index < len(prefixes)) & (prefixes[np.minimum(b_index, len(prefixes) - 1)] == b)
        p_a = np.bincount(a_index, minlength=len(prefixes)) / len(a)
        p_b = np.bincount(b_index[b_known], minlength=len(prefixes)) / len(b)
        chance = float(np.sum(p_a * p_b))
        out.append({"prefix_levels": level + 1, "same_prefix": round(rate, 4), "chance": round(chance, 5),
                    "lift": round(rate / chance, 1) if chance else None})
    return out


def measure(rows: list[str], overrides: list[str], encoder: str = "minilm") -> dict:
    results, neighbours = {}, {}
    overrides = [*ENCODERS[encoder], *overrides]
    for row in rows:
        data_name, scheme = row.split(":")
        cfg = compose([f"data={data_name}", f"tokenizer={scheme}", "stage=tokenizer", *overrides])
        if encoder != "minilm":
            cfg.tokenizer.name = f"{scheme}-{encoder}-{cfg.data.dataset}"
        dataset = load_dataset(cfg.data)
        split = leave_one_out(dataset.interactions, cfg.data.max_history)
        if data_name not in neighbours:
            from genrec.tokenizers.vector_sources import item_vectors

            text_cfg = compose([f"data={data_name}", "tokenizer=rqvae", "stage=tokenizer", *overrides])
            started = time.perf_counter()
            vectors, _ = item_vectors(text_cfg, dataset)
            valid = {f"valid_{k}": v for k, v in text_neighbours(vectors, split.valid).items()}
            neighbours[data_name] = {**text_neighbours(vectors, split.test), **valid,
                                     "wall_time_s": round(time.perf_counter() - started, 1),
                                     "text_source": dataset.catalog.metadata.get("text_source", {}).get("title"),
                                     "text_template": cfg.data.text_template}
        folder = ROOT / cfg.tokenizers_dir / cfg.tokenizer.name
        codes = ItemCodes.load(folder, dataset.fingerprint())
        levels = int(codes.config.get("levels", codes.n_levels))
        results[row] = {"tokenizer": cfg.tokenizer.name, "codes_fingerprint": codes.fingerprint,
                        "transitions": transition_lift(codes.codes, split.train_sequences, levels)}
    return {"text_neighbours": neighbours, "tokenizers": results}


def table(summary: dict) -> str:
    lines = ["| data | text | text neighbours test R@10 | test N@10 | valid R@10 | valid N@10 |",
             "|---|---|---|---|---|---|"]
    for name, row in summary["text_neighbours"].items():
        lines.append(f"| {name} | `{row['text_template']}` | {row['recall@10']:.4f} | {row['ndcg@10']:.4f} | "
                     f"{row['valid_recall@10']:.4f} | {row['valid_ndcg@10']:.4f} |")
    levels = max(len(r["transitions"]) for r in summary["tokenizers"].values())
    head = " | ".join(f"{n} code{'s' if n > 1 else ''} shared (lift)" for n in range(1, levels + 1))
    lines += ["", f"| row | tokenizer | {head} |", "|---|---|" + "---|" * levels]
    for row, entry in summary["tokenizers"].items():
        cells = " | ".join(f"{t['same_prefix']:.4f} ({t['lift']}x)" for t in entry["transitions"])
        lines.append(f"| {row} | {entry['tokenizer']} ({entry['codes_fingerprint']}) | {cells} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", nargs="+", default=ROWS)
    parser.add_argument("--encoder", default="minilm", choices=list(ENCODERS),
                        help="the text vectors (and the tokenizers fitted on them) to measure")
    parser.add_argument("overrides", nargs="*", help="config overrides for every row (key=value)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    summary = measure(args.rows, args.overrides, args.encoder)
    summary.update({"rows": args.rows, "encoder": args.encoder, "overrides": args.overrides, "commit": git_commit(ROOT),
                    "versions": versions(), "hardware": hardware(),
                    "wall_time_s": round(time.perf_counter() - started, 1)})
    out = OUT if args.encoder == "minilm" else OUT.with_name(f"{OUT.name}-{args.encoder}")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out.with_suffix(".json"), summary)
    write_text_atomic(out.with_suffix(".md"), table(summary))
    print(table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
