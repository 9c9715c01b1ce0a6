"""The LLM generator: a causal LM over text and item-code tokens, tuned on instruction tasks,
ranking by the shared constrained beam search after a seqrec prompt.

Training: the examples of every configured task (``genrec/llm/tasks.py``), cross-entropy on
response tokens only, AdamW with a cosine schedule after a linear warm-up (LC-Rec: lr 5e-5,
weight decay 0.01 on all but biases and norm weights, warm-up ratio 0.01, gradients clipped at
norm 1.0: ``genrec/llm/optimizer.py``). Ranking: seqrec template ``eval_template`` (LC-Rec's
fixed test prompt, index 0) fills the user's last ``data.max_history`` items' codes; the prompt
is encoded once per user (KV cache) and the beams branch from it through
``CausalLMStepModel``; only catalogue items can come out. The hub model's
``generation_config`` is never read: the decoder owns beams and masks.

Deviation, named: LC-Rec keeps the checkpoint with the lowest validation loss over rendered
instructions; genrec selects on validation NDCG@10 by constrained ranking, like every generator.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from genrec.decoding import CodeTrie, constrained_beam_search
from genrec.decoding.hf_adapters import CausalLMStepModel
from genrec.errors import ArtefactError, ConfigError
from genrec.evaluation.metrics import list_ranks
from genrec.generators.base import CodeRankingModule
from genrec.llm.adapted_backbone import (
    FROM_RUN,
    FROM_TOKENIZER,
    check_vocabulary,
    resolve_run_backbone,
    resolve_tokenizer_backbone,
)
from genrec.llm.backbone import BackboneConfig, apply_lora, load_backbone, vocabulary_fingerprint
from genrec.llm.code_tokens import add_code_tokens, mean_title_embeddings, projected_centroids, resize_for_codes
from genrec.llm.examples import IGNORE, InstructionDataset, encode_prompts
from genrec.llm.optimizer import adamw_with_cosine
from genrec.llm.tasks import TASKS, PromptSet, TaskContext, catalog_texts, check_tasks
from genrec.tokenizers.item_codes import ItemCodes


def held_out_items(dataset) -> tuple[int, ...]:
    """The dataset's cold-start items (``data.cold_start_share``), which no training task may show."""
    return () if dataset.cold_items is None else tuple(dataset.cold_items.tolist())


@dataclass
class LLMConfig:
    model: str = "lcrec"
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    code_token_init: str = "mean"  # mean | projected_centroids (genrec/llm/code_tokens.py)
    prompts: str = "lcrec"  # configs/prompts/<name>.yaml, or a path
    tasks: list[str] = field(default_factory=lambda: ["seqrec", "item2index", "index2item", "fusionseqrec"])
    # per task: LC-Rec's prompt_sample_num (repeats) and train_data_sample_num (a cap; 0 = every example).
    # Every task a config may name is listed, so an experiment or the command line can set its value.
    task_repeats: dict[str, int] = field(default_factory=lambda: {t: 1 for t in TASKS})
    task_caps: dict[str, int] = field(default_factory=lambda: {t: 0 for t in TASKS})
    history_separator: str = ", "
    max_length: int = 1024  # tokens of prompt + response
    eval_template: int = 0  # the seqrec template ranking uses
    report_template_average: bool = False  # also report test metrics averaged over every seqrec template
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.01
    beam_size: int = 20
    train_form: str = "instructions"


class LLMRecommender(CodeRankingModule):
    def __init__(self, item_codes: ItemCodes, context_source, cfg: LLMConfig, ks=(1, 5, 10, 20),
                 exclude_seen: bool = False, tokenizer_vectors: torch.Tensor | None = None, backbone=None,
                 text_template: str | None = None, held_out_items=()):
        """``context_source``: ``(split, catalog)`` of the dataset the tasks render from;
        ``backbone``: an already loaded ``(model, tokenizer)`` to tune instead of loading ``cfg.backbone``;
        ``text_template``: how an item's full text (a task's ``{text}``) is rendered (``data.text_template``);
        ``held_out_items``: items no training task shows (cold-start items)."""
        super().__init__(item_codes, ks)
        if max(ks) > cfg.beam_size:
            raise ConfigError(f"generator.beam_size ({cfg.beam_size}) must be >= the largest K ({max(ks)})")
        check_tasks(cfg.tasks)
        self.cfg, self.exclude_seen = cfg, exclude_seen
        self.prompts = PromptSet.load(cfg.prompts)
        self.eval_templates = self.prompts.templates("seqrec")
        if not 0 <= cfg.eval_template < len(self.eval_templates):
            raise ConfigError(f"generator.eval_template={cfg.eval_template}: the prompt file has "
                              f"{len(self.eval_templates)} seqrec templates (0..{len(self.eval_templates) - 1})")
        self.rank_template = cfg.eval_template
        split, catalog = context_source
        model, self.tokenizer = backbone or load_backbone(cfg.backbone,
                                                          self.prompts.corpus() + catalog_texts(catalog, "title"))
        self.code_tokens = add_code_tokens(self.tokenizer, item_codes)
        self.context = TaskContext.build(split, catalog, self.code_tokens.item_texts, cfg.history_separator,
                                         text_template, held_out_items)
        centroids = None
        if cfg.code_token_init == "projected_centroids":
            if tokenizer_vectors is None:
                raise ConfigError("generator.code_token_init=projected_centroids needs the tokenizer's item vectors")
            titles = mean_title_embeddings(model, self.tokenizer, self.context.titles)
            centroids = projected_centroids(item_codes, tokenizer_vectors, titles)
        resize_for_codes(model, self.tokenizer, self.code_tokens, cfg.code_token_init, centroids)
        if cfg.backbone.lora.enabled:
            model = apply_lora(model, cfg.backbone.lora, self.code_tokens.all_ids)
        self.llm = model
        self.tokenizer_fingerprint = vocabulary_fingerprint(self.tokenizer)
        self.trie = CodeTrie.from_item_codes(item_codes)
        self.save_hyperparameters({"config": asdict(cfg), "item_codes_fingerprint": item_codes.fingerprint})

    # --- training -------------------------------------------------------------------------
    def training_examples(self, seed: int) -> InstructionDataset:
        return InstructionDataset(self.context, self.prompts, list(self.cfg.tasks), self.tokenizer, seed,
                                  dict(self.cfg.task_repeats), dict(self.cfg.task_caps), self.cfg.max_length)

    def batch_losses(self, batch):
        """Mean cross-entropy over response tokens; logits only over the columns holding responses."""
        input_ids, labels = batch["input_ids"], batch["labels"]
        mask = input_ids >= 0
        responding = (labels >= 0).any(0).nonzero()
        span = input_ids.shape[1] - int(responding[0]) if len(responding) else 1  # columns holding responses
        out = self.llm(input_ids=input_ids.clamp(min=0), attention_mask=mask.long(),
                       position_ids=(mask.cumsum(1) - 1).clamp(min=0), logits_to_keep=span + 1, use_cache=False)
        logits = out.logits[:, :-1].float()  # position j predicts token j + 1
        targets = labels[:, -span:]
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE)
        return {"loss": loss}

    def configure_optimizers(self):
        return adamw_with_cosine(self, self.named_parameters(), self.cfg.lr, self.cfg.weight_decay, self.cfg.warmup_ratio)

    # --- ranking --------------------------------------------------------------------------
    def ranking_prompts(self, history: torch.Tensor) -> list[str]:
        """The seqrec prompt of each left-padded history (item ids, -1 = padding)."""
        template = self.eval_templates[self.rank_template]
        return [template.prompt(self.prompts.wrapper, {"inters": self.context.history_codes(row[row >= 0].tolist())})
                for row in history.cpu()]

    @torch.no_grad()
    def recommend(self, users: torch.Tensor, history: torch.Tensor, top_k: int, exclude: torch.Tensor | None = None):
        """Top-``top_k`` items and summed log-probabilities per user by constrained beam search."""
        batch = encode_prompts(self.tokenizer, self.ranking_prompts(history), self.cfg.max_length)
        batch = {k: v.to(self.device) for k, v in batch.items()}
        step_model = CausalLMStepModel(self.llm, [t.to(self.device) for t in self.code_tokens.level_ids])
        result = constrained_beam_search(step_model, batch, self.trie.to(self.device),
                                         max(self.cfg.beam_size, top_k), top_k, exclude=exclude)
        return result.items, result.scores

    def target_ranks(self, batch):
        exclude = batch.get("seen") if self.exclude_seen else None
        items, _ = self.recommend(batch["user"], batch["history"], max(self.ks), exclude)
        return list_ranks(items, batch["target"])

    def additional_test_reports(self, run_test) -> dict:
        """With ``report_template_average``: test metrics under every seqrec template and their mean
        (LC-Rec's ``--test_prompt_ids all``), reported beside the fixed-template figures."""
        if not self.cfg.report_template_average:
            return {}
        chosen, per_template = self.rank_template, []
        try:
            for index in range(len(self.eval_templates)):
                self.rank_template = index
                per_template.append(run_test())
        finally:
            self.rank_template = chosen
        mean = {k: sum(m[k] for m in per_template) / len(per_template) for k in per_template[0]}
        return {"test_template_average": mean, "test_per_template": per_template}

    # --- checkpoints and artefacts ------------------------------------------------------
    # A LoRA run's checkpoints hold only the weights that train (adapters, trainable embedding rows,
    # heads) and their optimizer state; the frozen base weights are rebuilt from generator.backbone
    # and checked by checksum on load. SmolLM2-135M with LoRA r 8 and new-token rows: tens of MB,
    # small enough to travel between GPU leases (genrec/training/travel.py), where a full
    # checkpoint (weights and AdamW moments, ~1.6 GB) cannot.
    def frozen_weights(self) -> dict[str, torch.Tensor]:
        """The state-dict entries that never train (a LoRA run's base model; none in full tuning)."""
        names = {name for name, p in self.named_parameters(remove_duplicate=False) if not p.requires_grad}
        return {name: tensor for name, tensor in self.state_dict().items() if name in names}

    def frozen_checksum(self) -> list[float]:
        """Sum and sum of squares (float64) over every frozen weight: they never change, so computed once."""
        if getattr(self, "_frozen_checksum", None) is None:
            tensors = self.frozen_weights().values()
            self._frozen_checksum = [sum(float(t.double().sum()) for t in tensors),
                                     sum(float(t.double().pow(2).sum()) for t in tensors)]
        return self._frozen_checksum

    def on_save_checkpoint(self, checkpoint):
        super().on_save_checkpoint(checkpoint)
        checkpoint["tokenizer_fingerprint"] = self.tokenizer_fingerprint
        frozen = self.frozen_weights()
        if frozen:
            checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k not in frozen}
            checkpoint["frozen_weights"] = {"entries": len(frozen), "checksum": self.frozen_checksum()}

    def on_load_checkpoint(self, checkpoint):
        """Put this module's own frozen weights back into a checkpoint that left them out."""
        if "frozen_weights" in checkpoint:
            self.check_frozen_weights(checkpoint, "the checkpoint")
            checkpoint["state_dict"] = {**self.frozen_weights(), **checkpoint["state_dict"]}

    def check_frozen_weights(self, checkpoint: dict, path) -> None:
        record = checkpoint.get("frozen_weights")
        if record is None:
            return
        here, there = self.frozen_checksum(), record["checksum"]
        same = len(self.frozen_weights()) == record["entries"] and all(
            abs(a - b) <= 1e-9 * (abs(b) + 1) for a, b in zip(here, there))
        if not same:
            raise ArtefactError(f"{path} holds only the weights that train (a LoRA run); its frozen base weights must "
                                f"be rebuilt identically from generator.backbone, but the backbone built now differs "
                                f"({len(self.frozen_weights())} frozen entries, checksum {here}; the run had "
                                f"{record['entries']}, {there}). Build it from the run's own config.yaml and seed")

    def check_checkpoint(self, checkpoint: dict, path) -> None:
        """Refuse weights whose token ids mean something else (other codes, data or tokenizer), or
        a slim checkpoint whose frozen base weights are not this backbone's."""
        super().check_checkpoint(checkpoint, path)
        recorded = checkpoint.get("tokenizer_fingerprint")
        if recorded != self.tokenizer_fingerprint:
            raise ArtefactError(f"{path} was trained with tokenizer vocabulary {recorded}, but the backbone loaded "
                                f"now gives {self.tokenizer_fingerprint}: token ids would mean other tokens. Load the "
                                "backbone the run was trained with (generator.backbone.path in its config.yaml)")
        self.check_frozen_weights(checkpoint, path)

    def merged_llm(self):
        """The backbone with LoRA adapters merged into its weights (a copy; the backbone itself
        when there are no adapters)."""
        import copy

        return copy.deepcopy(self.llm).merge_and_unload() if self.cfg.backbone.lora.enabled else self.llm

    def export_artefacts(self, directory, info: dict) -> None:
        """The tokenizer with its code tokens, so the ids can be read without the training code."""
        self.tokenizer.save_pretrained(directory / "tokenizer")

    @classmethod
    def from_config(cls, cfg, datamodule, **extra):
        """The generator ``cfg`` describes; ``extra``: keyword arguments a subclass's constructor adds."""
        from omegaconf import OmegaConf

        from genrec.tokenizers.pipeline import ensure_item_codes, load_tokenizer_vectors

        item_codes = ensure_item_codes(cfg, datamodule.dataset)
        generator = OmegaConf.to_object(cfg.generator)
        vectors = (load_tokenizer_vectors(cfg, item_codes) if generator.code_token_init == "projected_centroids"
                   else None)
        adapted = None
        if generator.backbone.path == FROM_TOKENIZER:  # the backbone the tokenizer stage tuned (STORE)
            adapted = resolve_tokenizer_backbone(Path(cfg.tokenizers_dir) / cfg.tokenizer.name, item_codes.fingerprint)
        elif generator.backbone.path.startswith(FROM_RUN):  # a previous run's tuned backbone (a second stage)
            adapted = resolve_run_backbone(Path(cfg.checkpoints_dir) / generator.backbone.path[len(FROM_RUN):],
                                           item_codes.fingerprint)
        if adapted is not None:
            generator.backbone.path = str(adapted[0])
        model = cls(item_codes, (datamodule.split, datamodule.dataset.catalog), generator,
                    ks=tuple(cfg.evaluation.ks), exclude_seen=cfg.evaluation.exclude_seen, tokenizer_vectors=vectors,
                    text_template=cfg.data.text_template,
                    held_out_items=held_out_items(datamodule.dataset), **extra)
        if adapted is not None:
            check_vocabulary(model.tokenizer, adapted[1], adapted[0])
        datamodule.use_training_examples(model.training_examples(cfg.seed))
        return model
