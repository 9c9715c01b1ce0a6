"""Which text encoder's vectors make the better item codes: the same tokenizer and generator, only
the item text vectors change, over several generator seeds.

    python bench/text_vectors.py [--experiment tiger_ml100k] [--encoders minilm smollm2-135m gemma3-270m]
                                 [--seeds 0 1 2 3 4 5] [--max-steps 1200] [--jobs 1] [key=value ...]

TIGER's paper encodes items with Sentence-T5 XXL; ours are all-MiniLM-L6-v2 by default, and the
offline SmolLM2-135M and Gemma-3-270M give mean-pooled last-layer states too (the LC-Rec /
EAGER-LLM way). For each encoder the experiment's tokenizer is fitted once (seed 42) on that
encoder's vectors into ``tokenizers/<tokenizer>-<encoder>-<dataset>/``, then the experiment's
generator trains on those codes once per seed for a fixed number of steps (``--max-steps``; no
wall-clock cap, so every row gets the same training whatever the machine's load), the best
validation NDCG@10 checkpoint is tested. Runs go one at a time (``--jobs 2``: two side by side,
one torch thread each). Writes each run under
``results/text_vectors/<run>/`` and the summary to ``results/bench/text_vectors.{json,md}``:
per encoder the vectors (how well they already tell a training sequence's next item from a random
one, and how much they all point one way), the codes (shared before the extra level, perplexity per level, reconstruction error
over input variance) and test Recall/NDCG@10 mean ± sd, with paired differences against the first
encoder (the same seeds). ``key=value`` overrides go to every run (e.g. ``trainer.accelerator=gpu``).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import paired_seeds as paired  # noqa: E402

from genrec.artefacts import read_tensors  # noqa: E402
from genrec.config import compose  # noqa: E402
from genrec.data import load_dataset  # noqa: E402
from genrec.tokenizers.base import standardize  # noqa: E402

# encoder name -> the tokenizer.features keys it sets (all-MiniLM-L6-v2, sentence pooling, otherwise)
ENCODERS = {
    "minilm": [],
    "smollm2-135m": ["tokenizer.features.model=offline:smollm2-135m", "tokenizer.features.pooling=mean"],
    "gemma3-270m": ["tokenizer.features.model=offline:gemma3-270m", "tokenizer.features.pooling=mean"],
}
TOKENIZER_SEED = 42
OUT = "results/text_vectors"


def vector_summary(vectors: torch.Tensor, sequences: list, standardised: bool, seed: int = 0) -> dict:
    """Two measures of the vectors themselves, before any code is fitted:
    ``transition_auc``: over every consecutive pair (a, b) of the training sequences (each user's
    items but the last two, leave-one-out), how often cos(a, b) beats cos(a, c) for a random item c
    (0.5: the vectors know nothing of what follows what), on the vectors the tokenizer quantises
    (z-scored per dimension when ``standardised``);
    ``mean_cosine``: the mean cosine of random item pairs of the raw vectors (near 1: every vector
    points one way)."""
    raw = torch.nn.functional.normalize(vectors.float(), dim=-1)
    unit = torch.nn.functional.normalize(standardize(vectors.float()), dim=-1) if standardised else raw
    pairs = torch.tensor(np.concatenate([np.stack([s[:-3], s[1:-2]], 1) for s in sequences if len(s) > 3]))
    generator = torch.Generator().manual_seed(seed)
    random_items = torch.randint(len(unit), (len(pairs),), generator=generator)
    anchor = unit[pairs[:, 0]]
    follows = (anchor * unit[pairs[:, 1]]).sum(-1)
    other = (anchor * unit[random_items]).sum(-1)
    auc = ((follows > other).float() + 0.5 * (follows == other).float()).mean()
    a, b = torch.randint(len(unit), (2, 20000), generator=generator)
    return {"transition_auc": round(auc.item(), 4), "mean_cosine": round((raw[a] * raw[b]).sum(-1).mean().item(), 4),
            "transitions": len(pairs), "standardised": standardised}


def codes_summary(report: dict) -> dict:
    details = report.get("details", {})
    variance = details.get("input_variance")
    return {"vector_dim": report["vector_dim"], "shared_before_extra_level": report["collision_rate_before"],
            "perplexity": [round(level["perplexity"], 1) for level in report["levels"][:report["config"]["levels"]]],
            "reconstruction_over_variance": report["reconstruction_mse"] / variance if variance else None,
            "vectors_wall_time_s": report.get("vectors_wall_time_s"), "fit_wall_time_s": report.get("fit_wall_time_s")}


def table(record: dict) -> str:
    encoders = list(record["encoders"])
    lines = [f"# Text vectors -> item codes -> {record['experiment']}", "",
             f"Tokenizer `{record['tokenizer']}` fitted once per encoder (seed {TOKENIZER_SEED}). "
             f"{paired.runs_sentence(record, 'encoders')}", "",
             "Transition AUC: how often an item's vector is closer to the item that followed it in a training "
             "sequence than to a random item (0.5: chance), on the vectors the tokenizer quantises. Mean cosine: of "
             "random item pairs, raw vectors.", "",
             "| encoder | dim | transition AUC | mean cosine | shared codes | perplexity per level | recon. / var | "
             f"test R@10 | test N@10 | R@10 vs {encoders[0]} (wins, t) | N@10 vs {encoders[0]} (wins, t) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, row in record["encoders"].items():
        codes = row["codes"]
        cells = [name, str(codes["vector_dim"]), f"{row['vectors']['transition_auc']:.3f}",
                 f"{row['vectors']['mean_cosine']:.2f}", f"{codes['shared_before_extra_level']:.1%}",
                 " / ".join(f"{p:.0f}" for p in codes["perplexity"]),
                 f"{codes['reconstruction_over_variance']:.3f}" if codes["reconstruction_over_variance"] else "-",
                 *paired.test_cells(row), *paired.versus_cells(row)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = paired.bench_parser(__doc__, seeds=[0, 1, 2, 3, 4, 5])
    parser.add_argument("--encoders", nargs="+", default=list(ENCODERS), choices=list(ENCODERS))
    args, overrides = paired.parse(parser, sys.argv[1:] if argv is None else argv)
    base = compose([f"experiment={args.experiment}", *overrides])
    dataset, tokenizer = base.data.dataset, base.tokenizer.name.rsplit("-", 1)[0]
    sequences = load_dataset(base.data).interactions.sequences
    training = paired.fixed_steps(args.max_steps, OUT)
    start = time.perf_counter()
    record = {**paired.record_header(args, tokenizer, overrides), "encoders": {}}
    for encoder in args.encoders:
        name = f"{tokenizer}-{encoder}-{dataset}"
        features = [*ENCODERS[encoder], f"tokenizer.name={name}"]
        paired.fit_codes_once(base.tokenizers_dir, name, [f"experiment={args.experiment}", f"seed={TOKENIZER_SEED}",
                                                          *features, f"results_dir={OUT}", *overrides])
        report = json.loads((ROOT / base.tokenizers_dir / name / "report.json").read_text())
        vectors = read_tensors(ROOT / base.tokenizers_dir / name / "vectors.safetensors", "tokenizer vectors")["vectors"]
        runs = {}
        for seed in args.seeds:
            run = f"{base.generator.model}-{name}-{args.max_steps}steps-seed{seed}"
            runs[seed] = (run, [f"experiment={args.experiment}", f"seed={seed}", f"run={run}", *features, *training,
                                *overrides])
        reports = paired.run_seeds(runs, OUT, args.jobs)
        record["encoders"][encoder] = {
            "tokenizer": name, "codes": codes_summary(report),
            "vectors": vector_summary(vectors, sequences, report["config"].get("standardize", True)),
            **paired.seeds_summary(reports),
        }
    paired.finish("text_vectors", record, "encoders", start, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
