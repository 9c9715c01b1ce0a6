"""The tokenizer stage: item vectors -> scheme fit -> unique codes -> ItemCodes + report.

``python train.py stage=tokenizer data=beauty tokenizer=rqvae`` writes
``tokenizers/<name>/`` (codes.safetensors, item_codes.json, report.json, report.png)
and ``results/tokenizers/<name>.json`` (the report with commit, versions, hardware).
Nothing is written when the codes cannot be made unique.
"""

from __future__ import annotations

import os
import shutil
import time
import warnings
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from genrec.artefacts import (
    check_writable,
    give_plain_file_modes,
    read_json,
    read_tensors,
    write_json_atomic,
    write_tensors_atomic,
)
from genrec.config import to_dict
from genrec.data import RecDataset, load_dataset
from genrec.errors import ArtefactError, ConfigError, DataError
from genrec.features.domination import semantic_domination
from genrec.registry import lookup
from genrec.run_info import git_commit, hardware, versions
from genrec.tokenizers.collisions import METHODS, CollisionError, add_extra_level, collision_rate, resolve_with_sinkhorn
from genrec.tokenizers.fit_cache import fit_key, load_fit, save_fit
from genrec.tokenizers.item_codes import ItemCodes
from genrec.tokenizers.report import headline, level_stats, plot_report, usage_warning
from genrec.tokenizers.vector_sources import item_vectors

VECTORS_FILE = "vectors.safetensors"  # the pre-quantisation vectors, beside the codes (PRORec's stage 2 reads them)


def check_finite(vectors: torch.Tensor, source: str) -> None:
    """Refuse NaN / inf item vectors before any fit: quantised, they give one code to every item."""
    bad = (~torch.isfinite(vectors)).any(1).nonzero().flatten()
    if len(bad):
        raise DataError(f"tokenizer.vectors={source}: {len(bad)} item vectors hold NaN or inf (internal item ids "
                        f"{bad[:5].tolist()}...); nothing was fitted. Check the encoder (tokenizer.features.*) or "
                        "the collaborative run the vectors come from")


def make_unique(cfg, fit) -> tuple[torch.Tensor, list[int], dict]:
    method = cfg.collisions
    if method not in METHODS:
        raise ConfigError(f"tokenizer.collisions must be one of {METHODS}, got {method!r}")
    codes, sizes = fit.codes, list(fit.codebook_sizes)
    if method == "extra_level":
        codes, extra = add_extra_level(codes)
        return codes, sizes + [extra], {"method": method, "extra_level_size": extra}
    if method == "sinkhorn":
        if fit.last_inputs is None:
            raise ConfigError(f"tokenizer.collisions=sinkhorn needs a residual scheme; {cfg.scheme} has no last level")
        codes, info = resolve_with_sinkhorn(codes, fit.last_inputs, fit.last_codebook, cfg.sinkhorn_epsilon,
                                            cfg.sinkhorn_rounds, cfg.sinkhorn_iterations, cfg.exact_fallback)
        return codes, sizes, {"method": method, **info}
    return codes, sizes, {"method": method}


def fit_tokenizer(cfg: DictConfig, dataset: RecDataset | None = None) -> tuple[ItemCodes, dict, torch.Tensor]:
    """(unique codes, report, the vectors that were quantised)."""
    dataset = dataset or load_dataset(cfg.data)
    start = time.perf_counter()
    vectors, extras = item_vectors(cfg, dataset)
    return fit_codes(cfg, dataset, vectors, extras, time.perf_counter() - start)


def fit_codes(cfg: DictConfig, dataset: RecDataset, vectors: torch.Tensor, extras: dict | None = None,
              vectors_seconds: float = 0.0, tokenizer=None) -> tuple[ItemCodes, dict, torch.Tensor]:
    """Quantise ``vectors`` with the configured scheme (or the given ``tokenizer`` instance) and make
    every code unique: (codes, report, the vectors). Raises ``CollisionError`` when the codes stay ambiguous."""
    t = cfg.tokenizer
    extras = extras or {}
    check_finite(vectors, t.vectors)
    tokenizer = tokenizer or lookup("tokenizer", t.scheme).builder()(OmegaConf.to_object(t))
    fit_start = time.perf_counter()
    key = fit_key(to_dict(t), vectors, cfg.seed)
    fit = load_fit(t.fit_cache_dir, key) if t.fit_cache_dir else None
    if fit is None:
        fit = tokenizer.fit(vectors, cfg.seed)
        fit.details["fit_wall_time_s"] = round(time.perf_counter() - fit_start, 2)
        if t.fit_cache_dir:
            save_fit(t.fit_cache_dir, key, fit)
    rate_before = collision_rate(fit.codes)
    codes, sizes, collision_info = make_unique(t, fit)
    fit_seconds = time.perf_counter() - fit_start

    item_codes = ItemCodes(codes, sizes, t.scheme, dataset.name, dataset.fingerprint(), to_dict(t))
    if item_codes.collision_count():
        raise CollisionError(f"{t.name}: {item_codes.collision_count()} items collide after "
                             f"collisions={t.collisions}; nothing was saved")
    levels = [level_stats(codes[:, i], s) for i, s in enumerate(sizes)]
    report = {
        "name": t.name,
        "scheme": t.scheme,
        "dataset": dataset.name,
        "dataset_fingerprint": dataset.fingerprint(),
        "codes_fingerprint": item_codes.fingerprint,
        "n_items": dataset.n_items,
        "levels": levels,
        "collision_rate_before": rate_before,
        "collision_rate_after": collision_rate(codes),
        "collisions": collision_info,
        "reconstruction_mse": fit.details.get("reconstruction_mse"),
        "details": fit.details,
        "vector_dim": int(vectors.shape[1]),
        "vectors_wall_time_s": round(vectors_seconds, 2),
        "fit_wall_time_s": fit.details["fit_wall_time_s"],  # the scheme's fit, even when reused from cache
        "resolve_wall_time_s": round(fit_seconds - (0 if fit.details.get("from_cache") else fit.details["fit_wall_time_s"]), 2),
        "config": to_dict(t),
        "seed": cfg.seed,
    }
    if "fusion" in extras:
        report["fusion"] = {**extras["fusion"], "semantic_domination": semantic_domination(
            extras["text"], extras["collaborative"], vectors, codes, seed=cfg.seed)}
    warning = usage_warning(levels[:1] if t.scheme != "atomic" else levels, t.min_level1_usage)
    if warning and t.scheme not in ("atomic",):
        report["warning"] = warning
        warnings.warn(warning, stacklevel=1)
        print(f"WARNING: {warning}")
    return item_codes, report, vectors.float().contiguous()


def check_artefact_folder(root: Path) -> None:
    """``tokenizers/`` is data: an ``__init__.py`` there would shadow Hugging Face's ``tokenizers``."""
    if (root / "__init__.py").exists():
        raise ArtefactError(
            f"{root / '__init__.py'} exists: it turns the artefact folder into a Python package that "
            "shadows Hugging Face's `tokenizers` library. Delete it."
        )


def replace_folder(staged: Path, target: Path) -> None:
    """Put the complete folder ``staged`` at ``target`` by renames: a reader sees the old folder, no
    folder, or the new one, never a mix (a kill between the renames leaves no folder, so the next
    run fits again). Its files get plain modes, readable as the umask allows."""
    give_plain_file_modes(staged)
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    os.replace(staged, target)
    shutil.rmtree(old, ignore_errors=True)


def run_tokenizer_stage(cfg: DictConfig) -> dict:
    """Fit, then write ``tokenizers/<name>/`` whole: every file goes to a hidden staging folder
    first, which replaces the old folder only when complete (kill -9 mid-fit leaves nothing a
    later run would trust)."""
    root = Path(cfg.tokenizers_dir)
    check_artefact_folder(root)
    check_writable(root, cfg.results_dir)
    git_commit()  # pin the commit this fit starts from
    directory = root / cfg.tokenizer.name
    staged = root / f".{cfg.tokenizer.name}.partial-{os.getpid()}"
    scheme = lookup("tokenizer", cfg.tokenizer.scheme).builder()
    try:
        if hasattr(scheme, "fit_stage"):  # a scheme whose artefact holds more than codes (STORE: the backbone)
            item_codes, report, vectors = scheme.fit_stage(cfg, load_dataset(cfg.data), staged)
        else:
            item_codes, report, vectors = fit_tokenizer(cfg)
        item_codes.save(staged)
        write_tensors_atomic(staged / VECTORS_FILE, {"vectors": vectors})
        write_json_atomic(staged / "report.json", report)
        plot_report(item_codes.codes, item_codes.codebook_sizes, report["name"], staged / "report.png")
        replace_folder(staged, directory)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    record = {**report, "commit": git_commit(), "versions": versions(), "hardware": hardware()}
    write_json_atomic(Path(cfg.results_dir) / "tokenizers" / f"{cfg.tokenizer.name}.json", record)
    print(headline(report))
    print(f"wrote {directory}/ and {Path(cfg.results_dir) / 'tokenizers' / (cfg.tokenizer.name + '.json')}")
    return report


CACHE_KEYS = ("fit_cache_dir", "fusion_cache_dir", "cache_dir")  # where caches live: not what was fitted


def fit_settings(config: dict) -> dict:
    """A tokenizer config without its name and cache locations (at any depth): what the codes depend on."""
    return {k: fit_settings(v) if isinstance(v, dict) else v for k, v in config.items()
            if k not in CACHE_KEYS and k != "name"}


def ensure_item_codes(cfg: DictConfig, dataset: RecDataset) -> ItemCodes:
    """The configured tokenizer's codes: fitted now when ``tokenizers/<name>/`` does not exist,
    else loaded. Codes that runs were trained on are never refitted in place: a folder that is
    damaged, fitted on other data, or fitted with another config stops the run with the fix."""
    directory = Path(cfg.tokenizers_dir) / cfg.tokenizer.name
    if not directory.is_dir():
        run_tokenizer_stage(cfg)
        return ItemCodes.load(directory, dataset.fingerprint())
    codes = ItemCodes.load(directory, dataset.fingerprint())
    wanted, fitted = fit_settings(to_dict(cfg.tokenizer)), fit_settings(codes.config)
    # a key added to the scheme after these codes were fitted reads as its default there: new keys
    # default to the behaviour that came before them
    defaults = fit_settings(to_dict(OmegaConf.structured(lookup("tokenizer", cfg.tokenizer.scheme).config_class())))
    fitted = {**{k: v for k, v in defaults.items() if k not in fitted}, **fitted}
    differing = sorted(k for k in {*wanted, *fitted} if fitted.get(k) != wanted.get(k))
    if differing:
        shown = ", ".join(f"tokenizer.{k}: {fitted.get(k)!r} there, {wanted.get(k)!r} now" for k in differing[:3])
        raise ConfigError(f"{directory} holds codes fitted with another tokenizer config ({shown}"
                          f"{', ...' if len(differing) > 3 else ''}); runs trained on those codes need them, so they "
                          f"are not refitted in place. Name the new codes (tokenizer.name=<new name>), or delete "
                          f"{directory} to refit")
    print(f"reusing item codes {directory} (fingerprint {codes.fingerprint})")
    return codes


def load_tokenizer_vectors(cfg: DictConfig, item_codes: ItemCodes) -> torch.Tensor:
    """The pre-quantisation vectors saved beside ``item_codes`` (``[n_items, d]``)."""
    directory = Path(cfg.tokenizers_dir) / cfg.tokenizer.name
    report = read_json(directory / "report.json", "tokenizer report")
    if report.get("codes_fingerprint") != item_codes.fingerprint or not (directory / VECTORS_FILE).is_file():
        raise ArtefactError(f"{directory / VECTORS_FILE} is missing or belongs to other codes; refit the tokenizer "
                            f"(python train.py stage=tokenizer tokenizer={cfg.tokenizer.name.rsplit('-', 1)[0]} ...), "
                            f"or, on an offline kit, pack it without --codes-only")
    return read_tensors(directory / VECTORS_FILE, "tokenizer vectors")["vectors"]
