"""EAGER-LLM's GCT: zero weights give the plain LM loss; the contrastive heads learn to point the
EOS state at the target item's vectors on a toy problem."""

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from test_tiger import planted, titled

from genrec.data.datamodule import SequentialDataModule
from genrec.llm.backbone import BackboneConfig
from genrec.llm.eager_llm import EAGERLLM, EAGERConfig
from genrec.llm.module import LLMConfig, LLMRecommender

TINY = BackboneConfig(path="tiny:llama", tiny_hidden_size=64, tiny_layers=2, tiny_heads=4, tiny_max_positions=512)


def build(model_class, cfg, vectors=None, prompts=None):
    dataset, codes = planted()
    dataset = titled(dataset)
    dm = SequentialDataModule(dataset, max_history=5, train_form="instructions", batch_size=32, eval_batch_size=32)
    torch.manual_seed(0)
    extra = {"item_vectors": vectors} if vectors is not None else {}
    model = model_class(codes, (dm.split, dataset.catalog), cfg, ks=(1, 10), **extra)
    dm.use_training_examples(model.training_examples(seed=0))
    return model, dm


def item_vectors(n_items=24):
    generator = torch.Generator().manual_seed(1)
    return torch.randn(n_items, 8, generator=generator), torch.randn(n_items, 4, generator=generator)


def test_gct_adds_to_the_lm_loss_and_vanishes_at_zero_weight():
    tasks = ["seqrec", "item2index"]
    plain, dm = build(LLMRecommender, LLMConfig(backbone=TINY, tasks=tasks, beam_size=10))
    eager, _ = build(EAGERLLM, EAGERConfig(backbone=TINY, tasks=tasks, beam_size=10), item_vectors())
    off, _ = build(EAGERLLM, EAGERConfig(backbone=TINY, tasks=tasks, beam_size=10, gct_text_weight=0.0,
                                         gct_behaviour_weight=0.0), item_vectors())
    examples = dm.train_dataset()
    counts = examples.counts()
    batch = examples.__getitems__([0, 1, counts["seqrec"], counts["seqrec"] + 1])  # two seqrec, two item2index rows
    assert batch["next_item"].tolist()[2:] == [-1, -1] and (batch["next_item"][:2] >= 0).all()
    lm = plain.batch_losses(batch)["loss"]
    losses = eager.batch_losses(batch)
    assert torch.allclose(losses["lm"], lm, atol=1e-6) and losses["gct_text"] > 0 and losses["gct_behaviour"] > 0
    assert torch.allclose(losses["loss"], lm + 0.1 * losses["gct_text"] + 0.1 * losses["gct_behaviour"], atol=1e-6)
    assert torch.allclose(off.batch_losses(batch)["loss"], lm, atol=1e-6)


def test_gct_learns_to_point_at_the_target_items_vectors(tmp_path):
    prompt_file = tmp_path / "short.yaml"
    prompt_file.write_text('wrapper: "{instruction} ->"\ntasks:\n  seqrec:\n    - {instruction: "{inters}", '
                           'response: "{item}"}\n')
    cfg = EAGERConfig(backbone=TINY, prompts=str(prompt_file), tasks=["seqrec"], beam_size=10, lr=1e-2,
                      warmup_ratio=0.05, gct_text_weight=1.0, gct_behaviour_weight=1.0, gct_negatives=24,
                      code_token_init="normal")
    model, dm = build(EAGERLLM, cfg, item_vectors())
    batch = next(iter(dm.train_dataloader()))

    def retrieval(model):
        hidden = {}
        handle = model._last_layer().register_forward_hook(lambda m, i, o: hidden.update(states=o))
        with torch.no_grad():
            model.batch_losses(batch)
        handle.remove()
        state = F.normalize(hidden["states"][:, -1].float(), dim=-1)
        scores = F.normalize(model.text_projector(state), dim=-1) @ F.normalize(model.text_vectors, dim=-1).T
        return float((scores.argmax(1) == batch["next_item"]).float().mean())

    before = model.batch_losses(batch)["gct_text"].item()
    pl.seed_everything(0)
    pl.Trainer(max_epochs=15, logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False, limit_val_batches=0).fit(model, datamodule=dm)
    after = model.batch_losses(batch)["gct_text"].item()
    assert after < 0.5 * before, (before, after)
    assert retrieval(model) > 0.5  # chance: 1/24


def test_stage_two_starts_from_stage_one_weights_exactly(tmp_path):
    from genrec.errors import ArtefactError
    from genrec.llm.adapted_backbone import resolve_run_backbone
    from genrec.llm.backbone import LoRAConfig

    stage_one, _ = build(EAGERLLM, EAGERConfig(backbone=TINY, tasks=["seqrec"], beam_size=10), item_vectors())
    with torch.no_grad():  # weights no fresh model would have
        stage_one.llm.get_input_embeddings().weight.mul_(1.5)
    stage_one.export_artefacts(tmp_path / "stage1", {"run": "stage1"})
    folder, _ = resolve_run_backbone(tmp_path / "stage1", stage_one.item_codes.fingerprint)
    lora = LoRAConfig(enabled=True, rank=4, alpha=8, dropout=0.0)
    stage_two, _ = build(LLMRecommender, LLMConfig(backbone=BackboneConfig(path=str(folder), lora=lora),
                                                   tasks=["seqrec"], beam_size=10))
    merged = stage_two.merged_llm().state_dict()
    assert all(torch.equal(merged[name], value) for name, value in stage_one.llm.state_dict().items())
    assert stage_two.tokenizer_fingerprint == stage_one.tokenizer_fingerprint
    with pytest.raises(ArtefactError, match="tuned on item codes"):
        resolve_run_backbone(tmp_path / "stage1", "other-codes")
