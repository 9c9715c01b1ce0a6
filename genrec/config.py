"""Layered configs: schema defaults < group files < experiment file < command line.

``configs/defaults.yaml`` chooses one file per group (``data``, ``generator``,
``trainer``) and sets the top-level keys. ``experiment=<name>`` loads
``configs/experiment/<name>.yaml``, whose ``defaults:`` block re-chooses group
files and whose other keys override values. On the command line, ``group=file``
chooses a file and ``a.b=value`` sets a value. Every layer is merged into typed
dataclasses (OmegaConf structured configs), so an unknown key or a wrong type is
rejected with the valid keys listed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from genrec.config_checks import check_config
from genrec.errors import ConfigError
from genrec.registry import GROUPS, lookup

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
CONFIG_PATH_ENV = "GENREC_CONFIG_PATH"  # extra config folders (os.pathsep-separated), searched before configs/


def config_folders() -> list[Path]:
    """Where group files are looked up: ``$GENREC_CONFIG_PATH`` folders first, then ``configs/``."""
    extra = [Path(p).expanduser() for p in os.environ.get(CONFIG_PATH_ENV, "").split(os.pathsep) if p]
    return [*extra, CONFIG_DIR]


def config_file(group: str, choice: str) -> Path:
    """The YAML file of ``group=choice``: a path when ``choice`` names one (``data=~/my/shop.yaml``),
    else ``<folder>/<group>/<choice>.yaml`` in the first folder of ``config_folders()`` that has it."""
    if choice.endswith((".yaml", ".yml")) or "/" in choice:
        path = Path(choice).expanduser()
        if not path.is_file():
            raise ConfigError(f"{group}={choice}: no such file {path}; give a .yaml file's path or one of the "
                              f"{group} choices in {[str(f / group) for f in config_folders()]}")
        return path
    for folder in config_folders():
        path = folder / group / f"{choice}.yaml"
        if path.is_file():
            return path
    return CONFIG_DIR / group / f"{choice}.yaml"  # missing: _read_yaml lists the choices


def choice_name(choice: str) -> str:
    """A group choice's short name (a file path's stem), as run and tokenizer names use it."""
    return Path(choice).stem if choice.endswith((".yaml", ".yml")) or "/" in choice else choice
SELECTABLE = ("data", "tokenizer", "generator", "trainer")


@dataclass
class TrainerConfig:
    max_epochs: int = 200
    max_steps: int = -1
    max_time_minutes: float | None = None  # wall-clock budget for fitting, over every part of a resumed run
    stop_after_minutes: float | None = None  # this process's budget: stop resumably (a lease-sized part of a run)
    evaluate_paused: bool = True  # a part ended by stop_after_minutes alone: evaluate and report, or only keep last.ckpt
    batch_size: int = 256
    eval_batch_size: int = 1024
    precision: str = "auto"  # auto: bf16-mixed on CUDA, 32-true on a CPU (see genrec/training/precision.py)
    accelerator: str = "auto"
    devices: str = "auto"  # Lightning: auto, a count (2) or a list of device indices
    strategy: str = "auto"  # Lightning: auto, ddp, fsdp, deepspeed_stage_2, ... (the Lightning path only)
    num_nodes: int = 1
    patience: int = 10  # early stopping: validation checks without improvement
    check_val_every_n_epoch: int = 1
    val_check_interval: float | None = None  # or a number of training steps (TIGER-style)
    val_users: int | None = None  # validate during training on this many seeded-random users; reports use all
    gradient_clip_val: float | None = None
    accumulate_grad_batches: int = 1  # optimiser step every N batches (LC-Rec: 2 per device)
    num_workers: int = 0
    log_every_n_steps: int = 50
    resume: bool = False  # continue from checkpoints/<run>/last.ckpt
    fast_path: str = "auto"  # auto: the lean device-resident loop where CUDA is present (genrec/training/fast_loop.py); on; off
    cuda_graphs: bool = True  # fast path on CUDA: capture each bucket's training step as a CUDA graph
    length_buckets: list[int] | None = None  # fast path: history widths batches are padded to; default ~ H/8, H/4, H/2, H
    enable_progress_bar: bool = True
    deterministic: bool = False


@dataclass
class EvaluationConfig:
    ks: list[int] = field(default_factory=lambda: [1, 5, 10, 20])
    monitor: str = "ndcg@10"  # validation metric for model selection and early stopping
    exclude_seen: bool = True  # never rank items the user already has (SASRec protocol; generative models: at the decoder's last level)
    valid_sample_in_report: bool = False  # report validation on trainer.val_users only (beam search is costly)
    reference: str | None = None  # a run under results_dir whose test metrics are printed beside this run's
    cold_start_rule: str = "direct"  # with data.cold_start_share: direct (every item by its code) | prefix (TIGER's rule)
    cold_start_epsilon: float = 0.1  # prefix rule: at most this share of the top-K are held-out items
    cold_start_prefix_levels: int | None = None  # prefix rule: code levels that must match; null = all but the last


@dataclass
class RootConfig:
    run: str | None = None  # default: see default_run_name (tiger-rqvae-beauty, sasrec_ce_beauty, sasrec_ce_beauty-toys)
    seed: int = 42
    stage: str = "generator"
    experiment: str | None = None
    results_dir: str = "results"
    checkpoints_dir: str = "checkpoints"
    tokenizers_dir: str = "tokenizers"
    overwrite_results: bool = False  # a run may replace a results/<run>/metrics.json that git tracks
    data: Any = None
    tokenizer: Any = None
    generator: Any = None
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        group = path.parent.name
        choices = sorted({p.stem for folder in config_folders() for p in (folder / group).glob("*.yaml")})
        raise ConfigError(f"no config file {path}; choices for {group}: {choices} (or a path to a .yaml file; "
                          f"more folders via ${CONFIG_PATH_ENV})")
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" (line {where.line + 1}, column {where.column + 1})" if where else ""
        raise ConfigError(f"{path}: not valid YAML{line}: {getattr(err, 'problem', None) or err}; fix the file") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def _valid_keys(node: Any) -> list[str]:
    return sorted(node.keys()) if isinstance(node, DictConfig) else []


def _merge(base: DictConfig, update: dict | DictConfig, source: str) -> DictConfig:
    """Merge ``update`` into typed ``base``; errors name the key, the source and the valid keys."""
    try:
        return OmegaConf.merge(base, update)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "?"
        parent = base
        for part in str(key).split(".")[:-1]:
            parent = parent.get(part) if isinstance(parent, DictConfig) and part in parent else None
        valid = _valid_keys(parent if parent is not None else base)
        reason = str(err).splitlines()[0]
        raise ConfigError(f"{source}: bad key or value {key!r}: {reason}\n  valid keys here: {valid}") from None


def _open_free_form_dicts(node: DictConfig) -> None:
    """Let the schema's untyped ``dict`` fields (``tokenizer.quantiser_options``: the quantiser's own
    keys, checked when it is built) take new keys after the root is made strict; every typed
    field, ``dict[str, int]`` ones included, stays strict."""
    for key in node.keys():
        child = node._get_node(key)  # OmegaConf exposes a node's declared types only on its metadata
        if not isinstance(child, DictConfig) or child._is_none():
            continue
        meta = child._metadata
        if meta.object_type is dict and meta.key_type is Any and meta.element_type is Any:
            OmegaConf.set_struct(child, False)
        _open_free_form_dicts(child)


def _strict(cfg: DictConfig) -> DictConfig:
    """``cfg`` with unknown keys refused, but for free-form dicts."""
    OmegaConf.set_struct(cfg, True)
    _open_free_form_dicts(cfg)
    return cfg


def _group_node(group: str, choice: str) -> DictConfig:
    path = config_file(group, choice)
    values = _read_yaml(path)
    if group == "trainer":
        schema = OmegaConf.structured(TrainerConfig)
    else:
        key, _ = GROUPS[group]
        if key not in values:
            raise ConfigError(f"{path}: missing key {key!r} naming the {group} implementation")
        schema = OmegaConf.structured(lookup(group, values[key]).config_class())
    return _merge(schema, values, str(path))


def parse_overrides(args: list[str]) -> tuple[dict[str, str], list[str]]:
    """Split ``key=value`` arguments into group choices and dotted value overrides."""
    choices, values = {}, []
    for arg in args:
        if "=" not in arg:
            raise ConfigError(f"command-line argument {arg!r} is not key=value (e.g. data=beauty trainer.max_epochs=5)")
        key, value = arg.split("=", 1)
        if key in SELECTABLE or key == "experiment":
            choices[key] = value
        else:
            values.append(arg)
    return choices, values


def parse_dotlist(args: list[str]) -> DictConfig:
    """``a.b=value`` arguments as a config; a value that is not valid YAML is refused by name."""
    for arg in args:
        try:
            OmegaConf.from_dotlist([arg])
        except Exception as err:  # noqa: BLE001  (YAML scanner errors are not OmegaConf's)
            reason = str(err).splitlines()[0]
            raise ConfigError(f"command line: cannot read {arg!r} ({reason}); quote lists and strings, "
                              "e.g. evaluation.ks=[5,10] or 'data.text_template=\"{title}\"'") from None
    return OmegaConf.from_dotlist(args)


def default_run_name(cfg: DictConfig, experiment: str | None) -> str:
    """Runs over item codes: ``<model>-<tokenizer.name>`` (the tokenizer name holds the dataset);
    others: ``<experiment or model>``, with ``-<dataset>`` added unless the name ends with it, so an
    experiment pointed at another dataset never reuses the experiment's own run."""
    if lookup("generator", cfg.generator.model).reads_item_codes:  # tiger-rqvae_sinkhorn-beauty
        return f"{cfg.generator.model}-{cfg.tokenizer.name}"
    name, dataset = experiment or cfg.generator.model, cfg.data.dataset
    return name if name.endswith((f"_{dataset}", f"-{dataset}")) else f"{name}-{dataset}"


def compose(args: list[str] | None = None) -> DictConfig:
    """Build the resolved, validated config from ``configs/`` and command-line ``args``."""
    choices, value_args = parse_overrides(args or [])
    defaults = _read_yaml(CONFIG_DIR / "defaults.yaml")
    selection = dict(defaults.pop("defaults", {}))
    experiment_name = choices.pop("experiment") if "experiment" in choices else defaults.get("experiment")
    defaults["experiment"] = experiment_name = experiment_name or None  # `experiment=` means none
    experiment: dict = {}
    if experiment_name:
        experiment = _read_yaml(config_file("experiment", experiment_name))
        selection.update(experiment.pop("defaults", {}))
    selection.update(choices)
    unknown = sorted(set(selection) - set(SELECTABLE))
    if unknown:
        raise ConfigError(f"defaults: unknown group(s) {unknown}; groups are {list(SELECTABLE)}")

    cfg = OmegaConf.structured(RootConfig)
    OmegaConf.set_struct(cfg, False)
    for group in SELECTABLE:
        if group not in selection:
            raise ConfigError(f"configs/defaults.yaml: no file chosen for group {group!r}")
        cfg[group] = _group_node(group, str(selection[group]))
    _strict(cfg)
    cfg = _merge(cfg, defaults, str(CONFIG_DIR / "defaults.yaml"))
    if experiment:
        cfg = _merge(cfg, experiment, str(config_file("experiment", experiment_name)))
    cfg = _merge(cfg, parse_dotlist(value_args), "command line")
    for group in GROUPS:
        key, _ = GROUPS[group]
        chosen = _read_yaml(config_file(group, str(selection[group])))[key]
        if cfg[group][key] != chosen:
            raise ConfigError(f"{group}.{key} cannot be overridden; choose another file with {group}=<name>")
    if cfg.tokenizer.name is None:
        cfg.tokenizer.name = f"{choice_name(str(selection['tokenizer']))}-{cfg.data.dataset}"
    if cfg.run is None:
        cfg.run = default_run_name(cfg, choice_name(experiment_name) if experiment_name else None)
    check_config(cfg)
    return cfg


def to_yaml(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg, resolve=True)


def to_dict(cfg: DictConfig) -> dict:
    return OmegaConf.to_container(cfg, resolve=True)


def load_saved(path: Path, overrides: list[str] | None = None) -> DictConfig:
    """A run's saved ``config.yaml``, re-typed against the schema, with validated overrides."""
    saved = OmegaConf.load(path)
    cfg = OmegaConf.structured(RootConfig)
    OmegaConf.set_struct(cfg, False)
    for group in GROUPS:
        key, _ = GROUPS[group]
        cfg[group] = OmegaConf.structured(lookup(group, saved[group][key]).config_class())
    _strict(cfg)
    cfg = _merge(cfg, saved, str(path))
    cfg = _merge(cfg, parse_dotlist(overrides or []), "command line")
    check_config(cfg)
    return cfg
