"""STORE's tokenizer (scheme ``store``): the LLM that recommends is the one that tokenizes.

Liu et al., "Streamlining Semantic Tokenization and Generative Recommendation with A Single LLM"
(arXiv 2409.07276; public as an abstract only, so this is a reconstruction, docs/store.md):

1. **Item vectors from the backbone itself**: layer ``llm.layer``'s hidden states pooled
   (``llm.pooling``) over each item's text (``genrec/llm/item_states.py``); no sentence encoder.
2. **Quantised** by any registered scheme (``quantiser``, residual k-means by default) into
   ``levels`` x ``codebook_size`` codes, made unique by ``collisions`` as every tokenizer does.
   These codes are the targets of text -> token.
3. **Tuned on the same backbone**: text -> token (``item2index``: item text -> its codes) and
   token -> text (``index2item``: codes -> item text), ``adaptation.*`` (``genrec/llm/module.py``
   trains them, response-only loss). Text -> token accuracy over catalogue items is measured
   after tuning (constrained to existing codes).
4. **Iterate** (``iterations`` > 1, a named option): re-embed the items with the tuned backbone,
   re-quantise, tune again; the report says whether the codes settle (per level, the normalised
   mutual information between consecutive iterations' code partitions: 1 = the same grouping).

The artefact ``tokenizers/<name>/`` holds the codes *and* ``backbone/`` (genrec/llm/adapted_backbone.py);
the STORE generator starts from it (``generator.backbone.path=tokenizer``).

Scheme ``lamia`` (``LamiaTokenizerConfig``) runs the same stage with LAMIA's item palette as step 1
(genrec/llm/item_palette.py: aspect tokens tuned by text reconstruction and a contrastive task)
and ``palette_kmeans`` as step 2 (each aspect clustered on its own).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields

import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from pytorch_lightning.callbacks import Callback

from genrec.errors import ConfigError
from genrec.llm.item_palette import (
    PaletteConfig,
    PaletteTuner,
    add_palette_tokens,
    aspect_redundancy,
    palette_vectors,
    tune_palette,
)
from genrec.llm.item_states import LLMVectorConfig, pooled_item_states
from genrec.tokenizers.base import FitOutput, TokenizerConfig


@dataclass
class AdaptationConfig:
    prompts: str = "store"  # configs/prompts/<name>.yaml
    tasks: list[str] = field(default_factory=lambda: ["item2index", "index2item"])  # text->token, token->text
    code_token_init: str = "normal"  # the code rows' init (genrec/llm/code_tokens.py)
    epochs: int = 3
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.01
    batch_size: int = 32
    max_length: int = 256
    check_items: int = 500  # items whose text -> token accuracy is measured (seeded sample; 0 = none)
    beam_size: int = 10


@dataclass
class StoreTokenizerConfig(TokenizerConfig):
    scheme: str = "store"
    vectors: str = "llm"
    quantiser: str = "rqkmeans"  # any registered scheme but store quantises the LLM's item vectors
    quantiser_options: dict = field(default_factory=dict)  # its own keys, e.g. {kmeans_iters: 50}
    llm: LLMVectorConfig = field(default_factory=LLMVectorConfig)
    adaptation: AdaptationConfig = field(default_factory=AdaptationConfig)
    iterations: int = 1  # > 1: re-embed with the tuned backbone, re-quantise, tune again
    # a held-out (cold-start) item's code by text -> token: "open", any free code; "seen_prefix", its
    # code before the last level one a fitted item holds (text_to_token.codes_for_new_items)
    new_item_codes: str = "open"  # the choices: genrec.config_checks.NEW_ITEM_CODES


@dataclass
class LamiaTokenizerConfig(StoreTokenizerConfig):
    """STORE's pipeline with LAMIA's item palette as the item vectors (genrec/llm/item_palette.py):
    ``levels`` aspects, each clustered on its own by ``palette_kmeans``."""

    scheme: str = "lamia"
    quantiser: str = "palette_kmeans"
    levels: int = 4  # palette aspects, one code level each
    palette: PaletteConfig = field(default_factory=PaletteConfig)


class StoreTokenizer:
    def __init__(self, cfg: StoreTokenizerConfig):
        from genrec.registry import lookup

        if cfg.quantiser in ("store", "lamia"):
            raise ConfigError(f"tokenizer.quantiser={cfg.quantiser}: choose the scheme that quantises, e.g. "
                              "rqkmeans, rqvae or palette_kmeans")
        entry = lookup("tokenizer", cfg.quantiser)
        shared = {f.name: getattr(cfg, f.name) for f in fields(TokenizerConfig) if f.name != "scheme"}
        config_class = entry.config_class()
        unknown = sorted(set(cfg.quantiser_options) - {f.name for f in fields(config_class)})
        if unknown:
            raise ConfigError(f"tokenizer.quantiser_options: {unknown} are not keys of {cfg.quantiser} "
                              f"({config_class.__name__})")
        self.cfg = cfg
        self.quantiser = entry.builder()(config_class(**{**shared, **cfg.quantiser_options}))

    def fit(self, vectors: torch.Tensor, seed: int = 0) -> FitOutput:
        out = self.quantiser.fit(vectors, seed)
        out.details["quantiser"] = self.cfg.quantiser
        return out

    @staticmethod
    def fit_stage(cfg, dataset, staged) -> tuple:
        """The whole tokenizer stage: (codes, report, vectors), the tuned backbone written to
        ``staged/backbone``."""
        return fit_store_tokenizer(cfg, dataset, staged)


class EpochLoss(Callback):
    """Mean training loss of each epoch."""

    def __init__(self):
        self.means, self._sum, self._count = [], 0.0, 0

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self._sum += float(outputs["loss"] if isinstance(outputs, dict) else outputs)
        self._count += 1

    def on_train_epoch_end(self, trainer, module):
        self.means.append(round(self._sum / max(self._count, 1), 4))
        self._sum, self._count = 0.0, 0


def adaptation_module(item_codes, dataset, t: StoreTokenizerConfig, backbone, text_template: str, max_history: int):
    """An ``LLMRecommender`` over ``backbone`` that trains the adaptation tasks."""
    from genrec.data.splits import leave_one_out
    from genrec.llm.module import LLMConfig, LLMRecommender, held_out_items

    a = t.adaptation
    llm_cfg = LLMConfig(model="store", backbone=t.llm.backbone, code_token_init=a.code_token_init,
                        prompts=a.prompts, tasks=list(a.tasks),
                        max_length=a.max_length, lr=a.lr, weight_decay=a.weight_decay, warmup_ratio=a.warmup_ratio,
                        beam_size=a.beam_size)
    split = leave_one_out(dataset.interactions, max_history)
    return LLMRecommender(item_codes, (split, dataset.catalog), llm_cfg, ks=(1,), backbone=backbone,
                          text_template=text_template,
                          held_out_items=held_out_items(dataset))


def stage_trainer(cfg, epochs: int, callbacks=()) -> pl.Trainer:
    """A validation-free Lightning trainer for the tokenizer stage's tuning (the run's accelerator,
    precision and clipping; no checkpoints, no logger)."""
    from genrec.training.precision import resolve_precision

    return pl.Trainer(accelerator=cfg.trainer.accelerator, devices=1, max_epochs=epochs, limit_val_batches=0,
                      precision=resolve_precision(cfg.trainer.precision, cfg.trainer.accelerator),
                      gradient_clip_val=cfg.trainer.gradient_clip_val, enable_checkpointing=False, logger=False,
                      enable_progress_bar=cfg.trainer.enable_progress_bar, enable_model_summary=False,
                      num_sanity_val_steps=0, callbacks=list(callbacks))


def tune(module, cfg, dataset, t: StoreTokenizerConfig) -> dict:
    """Train ``module`` on the adaptation tasks for ``adaptation.epochs``; its record."""
    from genrec.data.datamodule import SequentialDataModule
    from genrec.training.engine import TrainingThroughput

    a = t.adaptation
    datamodule = SequentialDataModule(dataset, max_history=cfg.data.max_history, train_form="instructions",
                                      batch_size=a.batch_size, eval_batch_size=a.batch_size, num_workers=0,
                                      seed=cfg.seed)
    examples = module.training_examples(cfg.seed)
    datamodule.use_training_examples(examples)
    losses, throughput = EpochLoss(), TrainingThroughput()
    trainer = stage_trainer(cfg, a.epochs, [losses, throughput])
    start = time.perf_counter()
    trainer.fit(module, train_dataloaders=datamodule.train_dataloader())
    return {"examples": examples.counts(), "steps": trainer.global_step, "epoch_losses": losses.means,
            "wall_time_s": round(time.perf_counter() - start, 2), **throughput.summary()}


def normalised_mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """NMI (arithmetic-mean normalisation) of two labelings of the same items: 1 = the same partition."""
    _, a = np.unique(a, return_inverse=True)
    _, b = np.unique(b, return_inverse=True)
    joint = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(joint, (a, b), 1)
    joint /= joint.sum()
    pa, pb = joint.sum(1), joint.sum(0)
    nz = joint > 0
    mutual = float((joint[nz] * np.log(joint[nz] / (pa[:, None] * pb[None, :])[nz])).sum())
    entropy = [-float((p[p > 0] * np.log(p[p > 0])).sum()) for p in (pa, pb)]
    mean = (entropy[0] + entropy[1]) / 2
    return 1.0 if mean == 0 else mutual / mean


def code_agreement(previous: torch.Tensor, current: torch.Tensor) -> list[float]:
    """Per level ``l``: NMI between the partitions of items by their first ``l + 1`` codes."""
    def prefix_labels(codes, level):
        return np.unique(codes[:, :level + 1].numpy(), axis=0, return_inverse=True)[1].reshape(-1)

    return [round(normalised_mutual_information(prefix_labels(previous, level), prefix_labels(current, level)), 4)
            for level in range(min(previous.shape[1], current.shape[1]))]


def aspect_code_nmi(codes: torch.Tensor) -> float:
    """Mean NMI between the code partitions of every two levels: near 0 when the aspects group
    items independently, 1 when two aspects give the same grouping."""
    pairs = [(a, b) for a in range(codes.shape[1]) for b in range(a + 1, codes.shape[1])]
    if not pairs:
        return 0.0
    return round(float(np.mean([normalised_mutual_information(codes[:, a].numpy(), codes[:, b].numpy())
                                for a, b in pairs])), 4)


def placeholder_codes(taken: torch.Tensor, codebook_sizes: list[int], count: int) -> torch.Tensor:
    """``count`` distinct codes nobody holds (the smallest free ones), to stand in for held-out
    items while the backbone is tuned without them."""
    from genrec.decoding.code_space import OpenCodeSpace

    space = OpenCodeSpace(taken, codebook_sizes)
    held, free, candidate = set(space.taken.tolist()), [], 0
    while len(free) < count:
        if candidate not in held:
            free.append(candidate)
        candidate += 1
    return space.unflatten(torch.tensor(free, dtype=torch.long)).reshape(count, len(codebook_sizes))


def with_rows(item_codes, n_items: int, warm: np.ndarray, cold: np.ndarray, cold_codes: torch.Tensor):
    """Full ``ItemCodes``: the fitted rows at ``warm``, ``cold_codes`` at ``cold``."""
    from genrec.tokenizers.item_codes import ItemCodes

    codes = torch.zeros(n_items, item_codes.n_levels, dtype=torch.long)
    codes[torch.from_numpy(warm)] = item_codes.codes
    codes[torch.from_numpy(cold)] = cold_codes
    return ItemCodes(codes, item_codes.codebook_sizes, item_codes.scheme, item_codes.dataset,
                     item_codes.dataset_fingerprint, item_codes.config)


def fit_store_tokenizer(cfg, dataset, staged):
    """Iterations of (pool the backbone's item states, quantise, tune text<->token). With held-out
    items (``data.cold_start_share``) codes are fitted and tuned on the other items only; each
    held-out item then gets its code from its text by the tuned backbone (``codes_for_new_items``),
    as a new catalogue item would."""
    from genrec.data.text import item_texts
    from genrec.llm.adapted_backbone import FOLDER, save_adapted_backbone
    from genrec.llm.backbone import load_backbone
    from genrec.llm.tasks import PromptSet, catalog_texts
    from genrec.llm.text_to_token import codes_for_new_items, text_to_token_accuracy
    from genrec.tokenizers.pipeline import fit_codes

    t: StoreTokenizerConfig = OmegaConf.to_object(cfg.tokenizer)
    if t.iterations < 1:
        raise ConfigError(f"tokenizer.iterations must be >= 1, got {t.iterations}")
    texts = item_texts(dataset.catalog, cfg.data.text_template)
    corpus = PromptSet.load(t.adaptation.prompts).corpus() + catalog_texts(dataset.catalog, "title") + texts
    backbone = load_backbone(t.llm.backbone, corpus)  # one backbone from item vectors to recommendation
    use_cuda = torch.cuda.is_available() and cfg.trainer.accelerator in ("auto", "gpu", "cuda")
    cold = np.asarray(dataset.cold_items if dataset.cold_items is not None else [], dtype=np.int64)
    warm = np.setdiff1d(np.arange(dataset.n_items), cold)
    rng = np.random.default_rng(cfg.seed)
    check = np.sort(rng.choice(warm, min(t.adaptation.check_items, len(warm)), replace=False))
    palette_ids = add_palette_tokens(*backbone, t.levels) if isinstance(t, LamiaTokenizerConfig) else None
    rounds, previous = [], None
    for iteration in range(t.iterations):
        model, tokenizer = backbone
        start = time.perf_counter()
        palette_record = None
        if palette_ids is not None:  # LAMIA: tune the palette on the fitted items' texts, then read it out
            tuner = PaletteTuner(model, tokenizer, texts, palette_ids, t.palette, t.llm.layer, cfg.seed + iteration)
            palette_record = tune_palette(tuner, stage_trainer(cfg, t.palette.epochs), warm, cfg.seed + iteration)
            vectors = palette_vectors(model.cuda() if use_cuda else model, tokenizer, texts, palette_ids, t.llm.layer,
                                      t.llm.batch_size, t.palette.max_length)
            palette_record["aspect_redundancy"] = aspect_redundancy(vectors, len(palette_ids))
        else:
            vectors = pooled_item_states(model.cuda() if use_cuda else model, tokenizer, texts, t.llm.layer,
                                         t.llm.pooling, t.llm.batch_size, t.llm.max_length)
        warm_codes, report, _ = fit_codes(cfg, dataset, vectors[torch.from_numpy(warm)], {},
                                          time.perf_counter() - start)
        item_codes = with_rows(warm_codes, dataset.n_items, warm, cold,
                               placeholder_codes(warm_codes.codes, warm_codes.codebook_sizes, len(cold)))
        module = adaptation_module(item_codes, dataset, t, backbone, cfg.data.text_template, cfg.data.max_history)
        record = {"iteration": iteration + 1, "vectors_wall_time_s": report["vectors_wall_time_s"],
                  "codes_fingerprint": warm_codes.fingerprint, "collision_rate_before": report["collision_rate_before"],
                  "tuning": tune(module, cfg, dataset, t)}
        if use_cuda:
            module.cuda()
        if len(check):
            record["text_to_token_accuracy"] = round(
                text_to_token_accuracy(module, check, t.adaptation.beam_size, candidates=warm), 4)
        if palette_record is not None:
            record["palette"] = {**palette_record, "aspect_code_nmi": aspect_code_nmi(warm_codes.codes[:, :t.levels])}
        if previous is not None:
            record["agreement_with_previous_nmi"] = code_agreement(previous.codes, warm_codes.codes)
        print(f"store iteration {iteration + 1}/{t.iterations}: tuning losses {record['tuning']['epoch_losses']}, "
              f"text->token accuracy {record.get('text_to_token_accuracy')}")
        rounds.append(record)
        backbone, previous = (module.merged_llm().cpu(), module.tokenizer), warm_codes
    report["store"] = {"rounds": rounds, "layer": t.llm.layer,
                       "pooling": "palette" if palette_ids is not None else t.llm.pooling,
                       "backbone_source": t.llm.backbone.path}
    if len(cold):
        start = time.perf_counter()
        llm = backbone[0].cuda() if use_cuda else backbone[0]
        fields = [module.context.item_fields(int(i)) for i in cold]
        cold_codes = codes_for_new_items(llm, backbone[1], module.code_tokens.level_ids, module.prompts, fields,
                                         warm_codes.codes, warm_codes.codebook_sizes, t.adaptation.beam_size,
                                         t.adaptation.max_length, seen_prefixes_only=t.new_item_codes == "seen_prefix")
        item_codes = with_rows(warm_codes, dataset.n_items, warm, cold, cold_codes)
        report["cold_start"] = {"held_out_items": len(cold), "codes_from": "text_to_token",
                                "new_item_codes": t.new_item_codes,
                                "wall_time_s": round(time.perf_counter() - start, 2),
                                "sharing_a_prefix_with_a_fitted_item": round(float(np.mean(
                                    [tuple(c[:-1]) in {tuple(w[:-1]) for w in warm_codes.codes.tolist()}
                                     for c in cold_codes.tolist()])), 4)}
        backbone = (llm.cpu(), backbone[1])
    else:
        item_codes = warm_codes
    report["codes_fingerprint"] = item_codes.fingerprint
    save_adapted_backbone(staged / FOLDER, backbone[0], backbone[1], item_codes.fingerprint,
                          {"dataset_fingerprint": dataset.fingerprint(), "source": t.llm.backbone.path,
                           "text_to_token_accuracy": rounds[-1].get("text_to_token_accuracy")})
    return item_codes, report, vectors
