"""Why residual k-means leaves items sharing a code, and what changes it: one table per dataset.

    python bench/rqkmeans_collisions.py [--datasets ml100k beauty toys sports] [--repeats 3] [key=value ...]

Every setting fits ``tokenizer=rqkmeans`` (3 x 256, seed 42) on the same item vectors (the
configured text vectors, cached after the first encoding) and changes one thing: the
dimensions clustered (all 384, or the leading ``pca_dims`` principal components), the seeding
(``kmeans_init``), z-scoring (``standardize``) or the Lloyd iterations; a last row runs the
reference algorithm, scikit-learn's KMeans per level (what the ``semantic-id`` library does), when
scikit-learn is installed. Reported per setting:
the share of items sharing their 3-level code before collision handling, the perplexity of each
level's codes, the largest number of items on one code, the reconstruction MSE in the input
space over the input's variance (so z-scored and raw inputs compare), and the fit time (median of ``--repeats`` fits). Writes
``results/bench/rqkmeans_collisions.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from genrec.artefacts import write_json_atomic, write_text_atomic  # noqa: E402
from genrec.config import compose  # noqa: E402
from genrec.data import load_dataset  # noqa: E402
from genrec.run_info import git_commit, hardware, versions  # noqa: E402
from genrec.tokenizers.base import FitOutput  # noqa: E402
from genrec.tokenizers.collisions import collision_rate  # noqa: E402
from genrec.tokenizers.report import level_stats  # noqa: E402
from genrec.tokenizers.rqkmeans import RQKMeans, RQKMeansConfig  # noqa: E402
from genrec.tokenizers.vector_sources import item_vectors  # noqa: E402

# name -> the RQKMeansConfig keys it sets (3 x 256 and standardisation unless it says otherwise)
SETTINGS = {
    "all dims (tokenizer=rqkmeans)": {"pca_dims": None},
    "all dims, k-means++, 300 iters": {"pca_dims": None, "kmeans_iters": 300},
    "all dims, random seeding": {"pca_dims": None, "kmeans_init": "random"},
    "all dims, not standardised": {"pca_dims": None, "standardize": False},
    "pca 16": {"pca_dims": 16},
    "pca 32 (tokenizer=rqkmeans_pca)": {"pca_dims": 32},
    "pca 32, random seeding": {"pca_dims": 32, "kmeans_init": "random"},
    "pca 64": {"pca_dims": 64},
    "pca 128": {"pca_dims": 128},
    # the reference: what the `semantic-id` library (PyPI) runs, scikit-learn's KMeans per level on
    # the raw vectors (its default is 10 initialisations; one here, for time); skipped without sklearn
    "scikit-learn KMeans, all dims, not standardised": {"reference": "sklearn"},
}
SEED = 42


def sklearn_fit(vectors: torch.Tensor, seed: int) -> FitOutput:
    """Residual k-means with scikit-learn's KMeans (k-means++, 100 iterations, one initialisation)."""
    from sklearn.cluster import KMeans

    x = vectors.float().numpy()
    residual, codes = x.copy(), []
    for level in range(3):
        fitted = KMeans(256, max_iter=100, tol=1e-4, random_state=seed + level, n_init=1).fit(residual)
        codes.append(torch.from_numpy(fitted.labels_).long())
        residual = residual - fitted.cluster_centers_[fitted.labels_]
    return FitOutput(codes=torch.stack(codes, 1), codebook_sizes=[256] * 3,
                     details={"reconstruction_mse": float((residual**2).mean()), "input_variance": float(x.var(0).mean())})


def measure(vectors: torch.Tensor, keys: dict, repeats: int) -> dict:
    if keys.get("reference") == "sklearn":
        fit_once = lambda: sklearn_fit(vectors, SEED)  # noqa: E731
    else:
        fit_once = lambda: RQKMeans(RQKMeansConfig(levels=3, codebook_size=256, **keys)).fit(vectors, seed=SEED)  # noqa: E731
    times, fit = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        fit = fit_once()
        times.append(time.perf_counter() - start)
    levels = [level_stats(fit.codes[:, i], 256) for i in range(3)]
    return {
        "keys": keys,
        "collision_rate": collision_rate(fit.codes),
        "perplexity": [lv["perplexity"] for lv in levels],
        "max_items_per_code": [lv["max_items_per_code"] for lv in levels],
        "reconstruction_mse": fit.details["reconstruction_mse"],
        "relative_reconstruction_mse": fit.details["reconstruction_mse"] / fit.details["input_variance"],
        "pca_explained_variance": fit.details.get("pca_explained_variance"),
        "fit_seconds_median": statistics.median(times),
    }


def table(dataset: str, n_items: int, rows: dict) -> str:
    lines = [f"### {dataset} ({n_items:,} items)", "",
             "| setting | items sharing a code | perplexity L1 / L2 / L3 | most items on one L2 / L3 code | "
             "variance kept | reconstruction MSE / input variance | fit time |", "|" + "---|" * 7]
    for name, r in rows.items():
        kept = r["pca_explained_variance"]
        lines.append(f"| {name} | {r['collision_rate']:.2%} | {' / '.join(f'{p:.0f}' for p in r['perplexity'])} | "
                     f"{r['max_items_per_code'][1]:,} / {r['max_items_per_code'][2]:,} | "
                     f"{'all' if kept is None else f'{kept:.0%}'} | {r['relative_reconstruction_mse']:.3f} | "
                     f"{r['fit_seconds_median']:.1f} s |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["ml100k", "beauty", "toys", "sports"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("overrides", nargs="*", help="config overrides for the item vectors (tokenizer.features.*)")
    args = parser.parse_args()
    start = time.perf_counter()
    results, sections = {}, []
    for dataset in args.datasets:
        cfg = compose([f"data={dataset}", "tokenizer=rqkmeans", "stage=tokenizer", f"seed={SEED}", *args.overrides])
        data = load_dataset(cfg.data)
        vectors, _ = item_vectors(cfg, data)
        rows = {}
        for name, keys in SETTINGS.items():
            if keys.get("reference") == "sklearn" and importlib.util.find_spec("sklearn") is None:
                print(f"skip {name}: scikit-learn is not installed")
                continue
            rows[name] = measure(vectors, keys, args.repeats)
            print(f"{dataset} | {name}: {rows[name]['collision_rate']:.2%}", flush=True)
        results[dataset] = {"n_items": data.n_items, "vector_dims": vectors.shape[1], "settings": rows}
        sections.append(table(dataset, data.n_items, rows))
    record = {
        "bench": "rqkmeans_collisions", "seed": SEED, "levels": 3, "codebook_size": 256,
        "vectors": {"source": "text", "model": cfg.tokenizer.features.model, "overrides": args.overrides},
        "repeats": args.repeats, "results": results, "commit": git_commit(), "versions": versions(),
        "hardware": hardware(), "wall_time_s": round(time.perf_counter() - start, 1),
    }
    out = Path("results") / "bench"
    write_json_atomic(out / "rqkmeans_collisions.json", record)
    write_text_atomic(out / "rqkmeans_collisions.md", "\n\n".join(sections) + "\n")
    print("\n\n".join(sections))
    return 0


if __name__ == "__main__":
    sys.exit(main())
