"""Value checks a schema's types cannot express: sizes that must be positive, cut-offs that must
fit the beam, the monitored metric, known precision and strategy names.

Run on every composed or re-loaded config, before anything reads data or writes a file, so a
bad value stops the run with exit code 2 and a message naming the key, the value and the fix.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from genrec.errors import ConfigError

PRECISIONS = ("auto", "32-true", "32", "bf16-mixed", "bf16-true", "16-mixed", "16-true", "64-true", "64")
STRATEGIES = ("auto", "ddp", "ddp_spawn", "ddp_find_unused_parameters_true", "fsdp", "deepspeed", "deepspeed_stage_1",
              "deepspeed_stage_2", "deepspeed_stage_2_offload", "deepspeed_stage_3", "deepspeed_stage_3_offload")

AT_LEAST_ONE = (
    "data.max_history", "trainer.batch_size", "trainer.eval_batch_size", "trainer.max_epochs", "trainer.patience",
    "trainer.check_val_every_n_epoch", "trainer.log_every_n_steps", "trainer.num_nodes",
    "trainer.accumulate_grad_batches", "generator.max_length",
    "generator.d_model", "generator.d_kv", "generator.num_heads", "generator.d_ff", "generator.num_layers",
    "generator.num_decoder_layers", "generator.hidden_size", "generator.user_buckets", "generator.beam_size",
    "tokenizer.levels", "tokenizer.codebook_size", "tokenizer.steps", "tokenizer.batch_size",
    "tokenizer.latent_dim", "tokenizer.kmeans_iters",
)
POSITIVE_OR_NULL = ("trainer.max_time_minutes", "trainer.stop_after_minutes", "trainer.val_check_interval",
                    "trainer.val_users", "trainer.gradient_clip_val")
NON_NEGATIVE = ("trainer.num_workers", "generator.warmup_steps", "generator.weight_decay", "generator.eval_template")
NEW_ITEM_CODES = ("open", "seen_prefix")  # tokenizer.new_item_codes (STORE, LAMIA: a held-out item's code)
PROBABILITIES = ("generator.dropout", "generator.warmup_ratio", "generator.backbone.lora.dropout")  # in [0, 1)


def _value(cfg: DictConfig, key: str):
    return OmegaConf.select(cfg, key, default=None)


def _fail(key: str, value, rule: str) -> None:
    raise ConfigError(f"{key}={value!r}: {rule}; set it on the command line ({key}=...) or in the config file")


def check_config(cfg: DictConfig) -> None:
    """Raise ConfigError on the first value no run could use."""
    for key in AT_LEAST_ONE:
        value = _value(cfg, key)
        if value is not None and value < 1:
            _fail(key, value, "must be at least 1")
    for key in POSITIVE_OR_NULL:
        value = _value(cfg, key)
        if value is not None and value <= 0:
            _fail(key, value, "must be positive, or null for none")
    for key in NON_NEGATIVE:
        value = _value(cfg, key)
        if value is not None and value < 0:
            _fail(key, value, "must not be negative")
    for key in PROBABILITIES:
        value = _value(cfg, key)
        if value is not None and not 0 <= value < 1:
            _fail(key, value, "must be in [0, 1)")
    if cfg.trainer.max_steps is not None and cfg.trainer.max_steps not in (-1,) and cfg.trainer.max_steps < 1:
        _fail("trainer.max_steps", cfg.trainer.max_steps, "must be at least 1, or -1 for no limit")
    lr = _value(cfg, "generator.lr")
    if lr is not None and lr <= 0:
        _fail("generator.lr", lr, "must be positive")
    buckets = cfg.trainer.length_buckets
    if buckets is not None and (len(buckets) == 0 or min(buckets) < 1):
        _fail("trainer.length_buckets", list(buckets), "must list history widths of at least 1 (or null)")
    if cfg.trainer.precision not in PRECISIONS:
        _fail("trainer.precision", cfg.trainer.precision, f"must be one of {list(PRECISIONS)}")
    if str(cfg.trainer.strategy) not in STRATEGIES:
        _fail("trainer.strategy", cfg.trainer.strategy, f"must be one of {list(STRATEGIES)}")
    if str(cfg.trainer.strategy) == "fsdp" and cfg.trainer.gradient_clip_val:
        _fail("trainer.gradient_clip_val", cfg.trainer.gradient_clip_val,
              "cannot be used with trainer.strategy=fsdp (Lightning cannot clip by norm under FSDP): set "
              "trainer.gradient_clip_val=null, or use trainer.strategy=deepspeed_stage_3, which clips")
    new_item_codes = _value(cfg, "tokenizer.new_item_codes")
    if new_item_codes is not None and new_item_codes not in NEW_ITEM_CODES:
        _fail("tokenizer.new_item_codes", new_item_codes, f"must be one of {list(NEW_ITEM_CODES)}")
    _check_evaluation(cfg)


def _check_evaluation(cfg: DictConfig) -> None:
    ks = list(cfg.evaluation.ks)
    if not ks:
        _fail("evaluation.ks", ks, "must list at least one cut-off K")
    if min(ks) < 1 or len(set(ks)) != len(ks):
        _fail("evaluation.ks", ks, "must be distinct cut-offs of at least 1")
    beam = _value(cfg, "generator.beam_size")
    if beam is not None and max(ks) > beam:
        _fail("evaluation.ks", ks, f"a generative model returns generator.beam_size={beam} items, so K <= {beam} "
              f"(or raise generator.beam_size)")
    metrics = [f"{m}@{k}" for m in ("recall", "ndcg") for k in ks]
    if cfg.evaluation.monitor not in metrics:
        _fail("evaluation.monitor", cfg.evaluation.monitor, f"must be one of the computed metrics {metrics}")
