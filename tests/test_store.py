"""STORE: the open code space, text -> token on a tiny backbone (a planted map, new items' codes),
and the store tokenizer's artefact (codes + tuned backbone) end to end with its fingerprint checks."""

import json

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from safetensors.torch import load_file, save_file
from test_tokenizer_stage import TITLES, fixture_root, run_stage  # noqa: F401  (fixture)

from genrec.config import compose
from genrec.data import Catalog, Interactions, RecDataset
from genrec.data.datamodule import SequentialDataModule
from genrec.decoding import constrained_beam_search
from genrec.decoding.code_space import OpenCodeSpace
from genrec.errors import ArtefactError
from genrec.llm.backbone import BackboneConfig
from genrec.llm.module import LLMConfig, LLMRecommender
from genrec.llm.store_tokenizer import code_agreement, normalised_mutual_information
from genrec.llm.text_to_token import codes_for_new_items, text_to_token_accuracy
from genrec.tokenizers.item_codes import ItemCodes


class FixedScores:
    """A step model whose level-``l`` log-probs are a fixed table (context-free), for reference checks."""

    def __init__(self, tables):
        self.tables = tables
        self.ids = [torch.arange(sum(len(t) for t in tables[:i]), sum(len(t) for t in tables[:i + 1]))
                    for i in range(len(tables))]

    def code_token_ids(self):
        return self.ids

    def batch_size(self, state):
        return state["rows"]

    def start(self, batch):
        return {"rows": len(batch["input_ids"]), "level": 0}

    def step(self, state, tokens):
        row = torch.cat([t.log_softmax(0) for t in self.tables])
        level = state["level"]
        state = {**state, "level": level + 1}
        return row.expand(state["rows"], -1).clone(), state

    def reorder(self, state, rows):
        return {**state, "rows": len(rows)}


def test_open_code_space_finds_the_best_untaken_code():
    """Against brute force over every code: the search returns the best codes nobody holds, in order."""
    torch.manual_seed(0)
    sizes = [3, 4, 2]
    tables = [torch.randn(s) for s in sizes]
    every = torch.cartesian_prod(*[torch.arange(s) for s in sizes])
    score = sum(tables[level].log_softmax(0)[every[:, level]] for level in range(3))
    taken = every[score.argsort(descending=True)[[0, 2, 5]]]  # the best code and two others are held
    taken = torch.cat([taken, torch.tensor([[1, 1, 0], [1, 1, 1]])])  # prefix (1, 1) is full
    result = constrained_beam_search(FixedScores(tables), {"input_ids": torch.zeros(1, 1)},
                                     OpenCodeSpace(taken, sizes), beam_size=24, top_k=6)
    free = [tuple(c) for c in every[score.argsort(descending=True)].tolist() if c not in taken.tolist()]
    assert [tuple(c) for c in result.codes[0].tolist()] == free[:6]
    assert all(c[:2] != (1, 1) for c in free[:6]) and not set(free[:6]) & {tuple(c) for c in taken.tolist()}


def test_open_code_space_on_seen_prefixes_keeps_new_codes_under_fitted_prefixes():
    """Against brute force: with ``seen_prefixes_only`` the search returns the best free codes whose
    prefix before the last level an existing item holds, in order, and never walks elsewhere."""
    torch.manual_seed(1)
    sizes = [3, 4, 2]
    tables = [torch.randn(s) for s in sizes]
    every = torch.cartesian_prod(*[torch.arange(s) for s in sizes])
    score = sum(tables[level].log_softmax(0)[every[:, level]] for level in range(3))
    taken = torch.tensor([[0, 1, 0], [0, 3, 1], [2, 0, 0], [2, 0, 1], [2, 2, 1]])  # prefix (2, 0) is full
    result = constrained_beam_search(FixedScores(tables), {"input_ids": torch.zeros(1, 1)},
                                     OpenCodeSpace(taken, sizes, seen_prefixes_only=True), beam_size=24, top_k=6)
    prefixes = {tuple(c[:2]) for c in taken.tolist()}
    allowed = [tuple(c) for c in every[score.argsort(descending=True)].tolist()
               if tuple(c[:2]) in prefixes and c not in taken.tolist()]
    assert sorted(allowed) == [(0, 1, 1), (0, 3, 0), (2, 2, 0)]
    found = [tuple(c) for c in result.codes[0].tolist() if c[0] >= 0]
    assert found == allowed  # only three codes qualify: the other beams come back empty (-1)
    assert (result.codes[0, len(allowed):] == -1).all()


@pytest.mark.parametrize("seen_prefixes_only", [False, True])
def test_open_code_space_never_walks_into_a_full_subtree(seen_prefixes_only):
    """Random taken sets, each with one first-level code whose every code is taken: the search
    returns exactly the best free codes brute force finds, and a space with none says so (the
    decoder stops on a live beam with no way on; it did at level 1 before full subtrees were pruned)."""
    sizes = [3, 4, 2]
    every = torch.cartesian_prod(*[torch.arange(s) for s in sizes])
    generator = torch.Generator().manual_seed(0)
    for trial in range(30):
        tables = [torch.randn(s, generator=generator) for s in sizes]
        score = sum(tables[level].log_softmax(0)[every[:, level]] for level in range(3))
        full = int(tables[0].argmax())  # the best first-level code: a beam certainly enters it
        picked = torch.randperm(len(every), generator=generator)[:int(torch.randint(3, 16, (1,), generator=generator))]
        taken = torch.cat([every[every[:, 0] == full], every[picked]])
        held = {tuple(c) for c in taken.tolist()}
        prefixes = {c[:2] for c in held}
        free = [tuple(c) for c in every[score.argsort(descending=True)].tolist()
                if tuple(c) not in held and (not seen_prefixes_only or tuple(c[:2]) in prefixes)]
        space = OpenCodeSpace(taken, sizes, seen_prefixes_only=seen_prefixes_only)
        assert space.has_free_code() == bool(free), trial
        if not free:
            continue
        result = constrained_beam_search(FixedScores(tables), {"input_ids": torch.zeros(1, 1)}, space,
                                         beam_size=24, top_k=min(6, len(free)))
        assert [tuple(c) for c in result.codes[0].tolist()] == free[:6], trial


def test_normalised_mutual_information_on_known_partitions():
    same = torch.tensor([[0, 1], [0, 2], [1, 1], [1, 3]])
    relabelled = torch.tensor([[5, 0], [5, 1], [2, 0], [2, 2]])  # the same grouping under other labels
    assert code_agreement(same, relabelled) == [1.0, 1.0]
    assert normalised_mutual_information([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(0.0, abs=1e-12)


COLOURS, SHAPES = ["red", "blue", "green", "yellow"], ["ball", "cube", "cone", "ring", "star", "disc"]


def planted_text_to_code(held_out=(5, 18)):
    """24 items titled "<colour> <shape>", coded (colour, shape): a map from text to code."""
    titles = [f"{c} {s}" for c in COLOURS for s in SHAPES]
    codes = torch.tensor([[i // 6, i % 6] for i in range(24)])
    keep = [i for i in range(24) if i not in held_out]
    sequences = [[keep[(u + k) % len(keep)] for k in range(4)] for u in range(30)]
    catalog = Catalog("shapes", [str(i) for i in keep], {"title": [titles[i] for i in keep]})
    dataset = RecDataset(catalog, Interactions([str(u) for u in range(30)], [[keep.index(i) for i in s] for s in sequences]))
    # a fifth colour code that no item holds: room for a new item outside every fitted prefix
    item_codes = ItemCodes(codes[keep], [5, 6], "manual", "shapes", dataset.fingerprint())
    return dataset, item_codes, [titles[i] for i in held_out], codes[list(held_out)]


def test_text_to_token_learns_a_planted_map_and_new_items_get_valid_new_codes(tmp_path):
    """Through item2index with one short template, a tiny random Llama learns "colour shape" ->
    (colour code, shape code); two held-out items then get valid codes that nobody holds. Kept on
    fitted prefixes they get their planted codes; with every fitted prefix full they fall back to
    the open space."""
    prompt_file = tmp_path / "short.yaml"
    prompt_file.write_text('wrapper: "{instruction} ->"\ntasks:\n  item2index:\n    - {instruction: "{text}", '
                           'response: "{item}"}\n  seqrec:\n    - {instruction: "{inters}", response: "{item}"}\n')
    dataset, item_codes, new_titles, planted = planted_text_to_code()
    dm = SequentialDataModule(dataset, max_history=3, train_form="instructions", batch_size=4, eval_batch_size=16)
    backbone = BackboneConfig(path="tiny:llama", tiny_hidden_size=64, tiny_layers=2, tiny_heads=4, tiny_max_positions=256)
    cfg = LLMConfig(backbone=backbone, prompts=str(prompt_file), tasks=["item2index"], beam_size=10, lr=1e-2,
                    warmup_ratio=0.05, code_token_init="normal")
    torch.manual_seed(0)
    model = LLMRecommender(item_codes, (dm.split, dataset.catalog), cfg, ks=(1,))
    dm.use_training_examples(model.training_examples(seed=0))
    items = torch.arange(item_codes.n_items).numpy()
    before = text_to_token_accuracy(model, items)
    pl.seed_everything(0)
    pl.Trainer(max_epochs=60, logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False, limit_val_batches=0).fit(model, datamodule=dm)
    after = text_to_token_accuracy(model.eval(), items)
    assert before < 0.3 and after > 0.9, (before, after)
    fields = [{"title": t, "text": t} for t in new_titles]

    def new_codes(taken, seen_prefixes_only=False):
        return codes_for_new_items(model.llm, model.tokenizer, model.code_tokens.level_ids, model.prompts, fields,
                                   taken, [5, 6], seen_prefixes_only=seen_prefixes_only)

    new = new_codes(item_codes.codes)
    assert new.shape == (2, 2) and (new >= 0).all() and (new < torch.tensor([5, 6])).all()
    held = {tuple(c) for c in item_codes.codes.tolist()}
    assert not {tuple(c) for c in new.tolist()} & held and len({tuple(c) for c in new.tolist()}) == 2
    # on fitted prefixes: "red disc" and "yellow ball" land on (red, disc) and (yellow, ball)
    assert new_codes(item_codes.codes, seen_prefixes_only=True).tolist() == planted.tolist()
    # every fitted prefix full: the open space, where only the unused fifth colour has room
    fallback = new_codes(torch.cat([item_codes.codes, planted]), seen_prefixes_only=True)
    assert fallback[:, 0].tolist() == [4, 4] and len({tuple(c) for c in fallback.tolist()}) == 2


STORE_SMALL = ["tokenizer=store", "tokenizer.levels=2", "tokenizer.codebook_size=4",
               "tokenizer.llm.backbone.path=tiny:llama", "tokenizer.llm.backbone.tiny_hidden_size=32",
               "tokenizer.llm.backbone.tiny_layers=1", "tokenizer.adaptation.epochs=2", "tokenizer.adaptation.lr=0.005",
               "tokenizer.adaptation.check_items=16", "tokenizer.iterations=2", "trainer.enable_progress_bar=false",
               "data.cold_start_share=0.2"]


def test_store_tokenizer_artefact_carries_codes_and_backbone_and_refuses_others(fixture_root):  # noqa: F811
    """Two iterations on 16 items, 3 of them held out (cold start): the held-out items get codes by
    text -> token and never appear in training examples; the generator starts from the saved backbone."""
    from genrec.training.pipeline import build_datamodule, build_generator

    result = run_stage(fixture_root, *STORE_SMALL)
    assert result.returncode == 0, result.stderr[-3000:]
    folder = fixture_root / "tok" / "store-beauty_lcrec"
    report = json.loads((folder / "report.json").read_text())
    rounds = report["store"]["rounds"]
    assert len(rounds) == 2 and len(rounds[1]["agreement_with_previous_nmi"]) == 3
    assert all(0 <= a <= 1 for a in rounds[1]["agreement_with_previous_nmi"]) and "text_to_token_accuracy" in rounds[1]
    meta = json.loads((folder / "backbone" / "genrec_backbone.json").read_text())
    codes = ItemCodes.load(folder)  # unique codes (load validates)
    assert meta["codes_fingerprint"] == codes.fingerprint == report["codes_fingerprint"]

    overrides = ["experiment=", "data=beauty_lcrec", f"data.root={fixture_root / 'data'}", f"tokenizers_dir={fixture_root / 'tok'}",
                 "generator=store", "trainer=smoke", *STORE_SMALL]
    cfg = compose(overrides)
    generator = build_generator(cfg, build_datamodule(cfg))
    saved = load_file(folder / "backbone" / "model.safetensors")
    state = generator.llm.state_dict()
    assert all(torch.equal(state[name], tensor) for name, tensor in saved.items())  # the tuned weights, as written
    assert generator.tokenizer_fingerprint == meta["vocabulary_fingerprint"]
    cold = build_datamodule(cfg).dataset.cold_items
    assert report["cold_start"]["held_out_items"] == len(cold) == 3
    assert generator.training_examples(0).counts()["index2item"] == len(TITLES) - len(cold)
    fitted = {tuple(r[:-1]) for i, r in enumerate(codes.codes.tolist()) if i not in set(cold.tolist())}
    assert report["cold_start"]["sharing_a_prefix_with_a_fitted_item"] == pytest.approx(abs=1e-4, expected=
        np.mean([tuple(codes.codes[i, :-1].tolist()) in fitted for i in cold]))

    swapped = codes.codes.clone()
    swapped[[0, 1]] = swapped[[1, 0]]  # two items exchange codes: a valid table the backbone never learnt
    ItemCodes(swapped, codes.codebook_sizes, codes.scheme, codes.dataset, codes.dataset_fingerprint,
              codes.config).save(folder)
    with pytest.raises(ArtefactError, match="tuned on item codes"):
        build_generator(cfg, build_datamodule(cfg))
    codes.save(folder)
    saved["model.embed_tokens.weight"] = saved["model.embed_tokens.weight"] + 1
    save_file(saved, folder / "backbone" / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ArtefactError, match="weight files"):
        build_generator(cfg, build_datamodule(cfg))
