"""EAGER-LLM (Hong et al., WWW 2025, arXiv 2502.14735): an LLM recommender over dual-source
indices (DKI, ``tokenizer=eager_dual``) with non-invasive multiscale alignment and an annealing adapter.

- **CIMT** (comprehensive interaction modelling): the interaction tasks of LC-Rec's shape
  (seqrec, item2index, index2item, fusionseqrec; the title-fusion task capped at 100k examples
  as the reference does). Tasks needing externally written user profiles are left out.
- **GCT** (global contrastive decompression): on next-item (seqrec) examples, the last-layer
  hidden state at the end-of-sequence token after the target's code tokens is L2-normalised
  and put through two linear projectors (hidden -> text-vector dim, hidden -> behaviour-vector
  dim). Each projection is scored by InfoNCE (temperature ``gct_temperature``) against the
  target item's frozen text and behaviour vectors (the DKI artefact's ``vectors.safetensors``,
  split by ``report.dual_source.dims``), with negatives shared across the batch
  (``gct_negatives`` random catalogue items). Loss = LM + ``gct_text_weight`` x L_text +
  ``gct_behaviour_weight`` x L_behaviour (0.1 each). Rows are left-padded, so that EOS is the
  last column of every row.
- **AAT** (annealing adapter): a second run started from this one's tuned backbone
  (``generator.backbone.path=run:<stage-1 run>``) with LoRA, next-item data only, one epoch, a low
  learning rate (``experiment=eager_llm_*_aat``; docs/eager_llm.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from genrec.errors import ConfigError
from genrec.llm.module import LLMConfig, LLMRecommender
from genrec.llm.tasks import TASKS


@dataclass
class EAGERConfig(LLMConfig):
    model: str = "eager_llm"
    task_caps: dict[str, int] = field(default_factory=lambda: {**{t: 0 for t in TASKS}, "fusionseqrec": 100000})
    gct_text_weight: float = 0.1
    gct_behaviour_weight: float = 0.1
    gct_temperature: float = 0.1
    gct_negatives: int = 2048  # random catalogue items shared by the batch as negatives


def info_nce(query: torch.Tensor, targets: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor,
             temperature: float) -> torch.Tensor:
    """Mean InfoNCE of ``query [B, d]`` against its positive row of ``targets`` and the shared
    ``negatives`` (ids into ``targets``; a negative equal to the positive is masked)."""
    query = F.normalize(query.float(), dim=-1)
    table = F.normalize(targets.float(), dim=-1)
    positive = (query * table[positives]).sum(-1, keepdim=True)
    negative = query @ table[negatives].T
    negative = negative.masked_fill(negatives[None, :] == positives[:, None], float("-inf"))
    logits = torch.cat([positive, negative], 1) / temperature
    return F.cross_entropy(logits, torch.zeros(len(query), dtype=torch.long, device=query.device))


class EAGERLLM(LLMRecommender):
    def __init__(self, *args, item_vectors: tuple[torch.Tensor, torch.Tensor] | None = None, **kwargs):
        """``item_vectors``: the frozen (text, behaviour) vectors of every item (GCT's targets)."""
        super().__init__(*args, **kwargs)
        cfg: EAGERConfig = self.cfg
        self.gct = item_vectors is not None and (cfg.gct_text_weight > 0 or cfg.gct_behaviour_weight > 0)
        if self.gct:
            text, behaviour = item_vectors
            self.register_buffer("text_vectors", text.float(), persistent=False)
            self.register_buffer("behaviour_vectors", behaviour.float(), persistent=False)
            hidden = self.llm.get_input_embeddings().weight.shape[1]
            self.text_projector = nn.Linear(hidden, text.shape[1])
            self.behaviour_projector = nn.Linear(hidden, behaviour.shape[1])

    def batch_losses(self, batch):
        if not self.gct or "next_item" not in batch or not (batch["next_item"] >= 0).any():
            return super().batch_losses(batch)
        hidden = {}
        handle = self._last_layer().register_forward_hook(lambda m, i, o: hidden.update(states=o))
        try:
            losses = super().batch_losses(batch)
        finally:
            handle.remove()
        rows = batch["next_item"] >= 0
        state = F.normalize(hidden["states"][rows, -1].float(), dim=-1)  # EOS after the target's codes
        positives = batch["next_item"][rows]
        n_items = len(self.text_vectors)
        generator = torch.Generator(device="cpu").manual_seed(int(self.global_step))
        negatives = torch.randint(n_items, (min(self.cfg.gct_negatives, n_items),), generator=generator).to(self.device)
        text = info_nce(self.text_projector(state), self.text_vectors, positives, negatives, self.cfg.gct_temperature)
        behaviour = info_nce(self.behaviour_projector(state), self.behaviour_vectors, positives, negatives,
                             self.cfg.gct_temperature)
        loss = losses["loss"] + self.cfg.gct_text_weight * text + self.cfg.gct_behaviour_weight * behaviour
        return {"loss": loss, "lm": losses["loss"], "gct_text": text, "gct_behaviour": behaviour}

    def _last_layer(self):
        """The module whose output is the last layer's normalised hidden states (the final norm)."""
        base = self.llm.get_base_model() if hasattr(self.llm, "get_base_model") else self.llm
        norm = getattr(getattr(base, "model", base), "norm", None)
        if norm is None:
            raise ConfigError("EAGER-LLM's GCT needs a decoder whose final norm is model.norm (Llama, Qwen2, Gemma, "
                              "SmolLM); this backbone has none")
        return norm

    def export_artefacts(self, directory, info: dict) -> None:
        """The tokenizer, and the tuned backbone (LoRA merged) that a second stage starts from
        (``generator.backbone.path=run:<this run>``)."""
        from genrec.llm.adapted_backbone import FOLDER, save_adapted_backbone

        super().export_artefacts(directory, info)
        save_adapted_backbone(Path(directory) / FOLDER, self.merged_llm(), self.tokenizer, self.item_codes.fingerprint,
                              {"run": info.get("run"), "checkpoint": info.get("checkpoint"),
                               "dataset_fingerprint": info.get("dataset_fingerprint")})

    @classmethod
    def from_config(cls, cfg, datamodule):
        from genrec.artefacts import read_json
        from genrec.tokenizers.pipeline import ensure_item_codes, load_tokenizer_vectors

        generator = cfg.generator
        vectors = None
        if generator.gct_text_weight > 0 or generator.gct_behaviour_weight > 0:
            item_codes = ensure_item_codes(cfg, datamodule.dataset)
            report = read_json(Path(cfg.tokenizers_dir) / cfg.tokenizer.name / "report.json", "tokenizer report")
            if "dual_source" not in report:
                raise ConfigError(f"generator.gct_*_weight > 0 needs dual-source vectors (tokenizer=eager_dual); "
                                  f"tokenizer {cfg.tokenizer.name} has none: set both weights to 0")
            dims = report["dual_source"]["dims"]
            vectors = tuple(torch.split(load_tokenizer_vectors(cfg, item_codes), dims, dim=1))
        return super().from_config(cfg, datamodule, item_vectors=vectors)
