"""Fit the tokenizer schemes on every dataset and tabulate their reports.

    python bench/tokenizer_fits.py [--datasets beauty sports toys ml100k] [--schemes rqvae rqvae_sinkhorn rqkmeans]
                               [--skip-existing] [key=value ...]

Each fit is ``python train.py stage=tokenizer data=<dataset> tokenizer=<scheme>`` and
writes ``results/tokenizers/<scheme>-<dataset>.json``; the table goes to
``results/tokenizers/table.md``. Text vectors are cached, so schemes after the first
reuse each dataset's encoding.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from genrec.artefacts import write_text_atomic  # noqa: E402
from genrec.config import compose  # noqa: E402
from genrec.tokenizers.pipeline import run_tokenizer_stage  # noqa: E402


def row(report: dict) -> str:
    levels = " / ".join(f"{lv['used']}/{lv['size']}" for lv in report["levels"])
    ppl = " / ".join(f"{lv['perplexity']:.0f}" for lv in report["levels"])
    recon = report.get("reconstruction_mse")
    moved = report.get("collisions", {}).get("moved_by_exact_pass")
    return (f"| {report['name']} | {report['n_items']:,} | {levels} | {ppl} | {report['collision_rate_before']:.2%} | "
            f"{report['collision_rate_after']:.2%} | {'' if moved is None else moved} | "
            f"{'' if recon is None else f'{recon:.3f}'} | {report['fit_wall_time_s']:.0f} s |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["beauty", "sports", "toys", "ml100k"])
    parser.add_argument("--schemes", nargs="+", default=["rqvae", "rqvae_sinkhorn", "rqkmeans"])
    parser.add_argument("--skip-existing", action="store_true")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    out = Path("results") / "tokenizers"
    reports = []
    for dataset in args.datasets:
        for scheme in args.schemes:
            path = out / f"{scheme}-{dataset}.json"
            if args.skip_existing and path.is_file():
                reports.append(json.loads(path.read_text()))
                continue
            cfg = compose([f"data={dataset}", f"tokenizer={scheme}", "stage=tokenizer", *args.overrides])
            reports.append(run_tokenizer_stage(cfg))
    head = ("| tokenizer | items | codes used per level | perplexity per level | collisions before | after | "
            "moved by exact pass | reconstruction MSE | fit time |")
    table = "\n".join([head, "|" + "---|" * 9, *(row(r) for r in reports)])
    write_text_atomic(out / "table.md", table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
