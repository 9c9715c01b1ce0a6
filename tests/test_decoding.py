"""The constrained decoder against a plain reference, brute force, and real HF models."""

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genrec.decoding import CodeTrie, DecodingError, constrained_beam_search
from genrec.decoding.hf_adapters import CausalLMStepModel, T5StepModel


class PrefixHashModel:
    """A step model whose log-probs are a fixed random function of (user, token prefix)."""

    def __init__(self, vocab: int, token_ids: list[torch.Tensor], seed: int = 0, table: int = 997):
        generator = torch.Generator().manual_seed(seed)
        self.table = torch.log_softmax(torch.randn(table, vocab, generator=generator) * 3, dim=-1)
        self.token_ids = token_ids

    def code_token_ids(self):
        return self.token_ids

    def batch_size(self, state):
        return len(state["user"])

    def log_probs(self, users: torch.Tensor, prefixes: torch.Tensor) -> torch.Tensor:
        key = users * 7919
        for t in range(prefixes.shape[1]):
            key = key * 31 + prefixes[:, t] + 1
        return self.table[key % len(self.table)]

    def start(self, batch):
        users = batch["user"]
        return {"user": users, "tokens": torch.zeros(len(users), 0, dtype=torch.long)}

    def step(self, state, tokens):
        if tokens is not None:
            state = {**state, "tokens": torch.cat([state["tokens"], tokens[:, None]], 1)}
        return self.log_probs(state["user"], state["tokens"]), state

    def reorder(self, state, rows):
        return {"user": state["user"][rows], "tokens": state["tokens"][rows]}


def reference_search(codes, model, user, beam, top_k, exclude=()):
    """Dict trie and an explicit loop over beams, written for clarity; items in ``exclude``
    are dropped where a beam becomes an item (the last level)."""
    children: dict[tuple, list[int]] = {}
    item_of = {}
    for item, code in enumerate(codes):
        code = tuple(code)
        item_of[code] = item
        for level in range(len(code)):
            children.setdefault(code[:level], [])
            if code[level] not in children[code[:level]]:
                children[code[:level]].append(code[level])
    beams = [((), torch.tensor(0.0))]
    for level in range(len(codes[0])):
        candidates = []
        for prefix, score in beams:
            tokens = torch.tensor([[int(model.token_ids[lv][c]) for lv, c in enumerate(prefix)]], dtype=torch.long)
            lp = model.log_probs(torch.tensor([user]), tokens.reshape(1, -1))[0]
            for code in sorted(children[prefix]):
                if level == len(codes[0]) - 1 and item_of[prefix + (code,)] in exclude:
                    continue
                candidates.append((prefix + (code,), score + lp[model.token_ids[level][code]]))
        candidates.sort(key=lambda c: -float(c[1]))
        beams = candidates[:beam]
    return [item_of[p] for p, _ in beams[:top_k]], [float(s) for _, s in beams[:top_k]]


def random_catalogue(draw_codes, sizes):
    return torch.tensor(draw_codes, dtype=torch.long), sizes


@st.composite
def catalogues(draw):
    levels = draw(st.integers(1, 3))
    sizes = [draw(st.integers(1, 5)) for _ in range(levels)]
    space = list(itertools.product(*[range(s) for s in sizes]))
    n = draw(st.integers(1, min(30, len(space))))
    picked = draw(st.lists(st.sampled_from(space), min_size=n, max_size=n, unique=True))
    return [list(c) for c in picked], sizes


def token_layout(sizes, seed):
    """Code tokens scattered inside a larger vocabulary, as added tokens in an LLM would be."""
    vocab = sum(sizes) + 7
    perm = torch.randperm(vocab, generator=torch.Generator().manual_seed(seed))
    ids, offset = [], 0
    for size in sizes:
        ids.append(perm[offset:offset + size])
        offset += size
    return vocab, ids


@given(catalogues(), st.integers(1, 8), st.integers(0, 10_000), st.sampled_from(["dense", "csr"]))
@settings(max_examples=60, deadline=None)
def test_matches_reference_and_never_returns_invalid_or_duplicate_items(catalogue, beam, seed, layout):
    codes, sizes = catalogue
    vocab, token_ids = token_layout(sizes, seed)
    model = PrefixHashModel(vocab, token_ids, seed)
    trie = CodeTrie(torch.tensor(codes), sizes, layout=layout)
    top_k = max(1, beam // 2)
    users = torch.arange(3)
    result = constrained_beam_search(model, {"user": users}, trie, beam_size=beam, top_k=top_k)
    for user in users.tolist():
        ref_items, ref_scores = reference_search(codes, model, user, beam, top_k)
        got = result.items[user].tolist()
        real = [i for i in got if i >= 0]
        assert real == ref_items
        assert torch.allclose(result.scores[user, :len(real)], torch.tensor(ref_scores), atol=1e-5)
        assert len(set(real)) == len(real) and all(0 <= i < len(codes) for i in real)
        assert len(real) == min(top_k, len(codes))  # never fewer items than exist
        for item, code in zip(real, result.codes[user].tolist()):
            assert codes[item] == code


@given(catalogues(), st.integers(1, 8), st.integers(0, 10_000))
@settings(max_examples=40, deadline=None)
def test_excluded_items_are_never_returned_and_the_rest_matches_the_reference(catalogue, beam, seed):
    codes, sizes = catalogue
    vocab, token_ids = token_layout(sizes, seed)
    model = PrefixHashModel(vocab, token_ids, seed)
    generator = torch.Generator().manual_seed(seed)
    users = torch.arange(3)
    exclude = torch.full((3, 4), -1)
    for user in users.tolist():  # up to 4 seen items per user, -1 padded, in any order
        seen = torch.randperm(len(codes), generator=generator)[:int(torch.randint(0, 5, (1,), generator=generator))]
        exclude[user, :len(seen)] = seen
    top_k = max(1, beam // 2)
    result = constrained_beam_search(model, {"user": users}, CodeTrie(torch.tensor(codes), sizes),
                                     beam_size=beam, top_k=top_k, exclude=exclude)
    for user in users.tolist():
        seen = set(exclude[user].tolist()) - {-1}
        ref_items, ref_scores = reference_search(codes, model, user, beam, top_k, exclude=seen)
        real = [i for i in result.items[user].tolist() if i >= 0]
        assert not seen & set(real)
        assert real == ref_items
        assert torch.allclose(result.scores[user, :len(real)], torch.tensor(ref_scores), atol=1e-5)


def test_exact_when_beam_covers_the_catalogue():
    sizes = [4, 4, 3]
    generator = torch.Generator().manual_seed(1)
    all_codes = torch.tensor(list(itertools.product(*[range(s) for s in sizes])))
    codes = all_codes[torch.randperm(len(all_codes), generator=generator)[:30]]
    vocab, token_ids = token_layout(sizes, 3)
    model = PrefixHashModel(vocab, token_ids, 5)
    result = constrained_beam_search(model, {"user": torch.arange(4)}, CodeTrie(codes, sizes), beam_size=30, top_k=10)
    for user in range(4):
        brute = []
        for item, code in enumerate(codes.tolist()):
            score = torch.tensor(0.0)
            for level in range(len(code)):
                prefix = torch.tensor([[int(token_ids[lv][code[lv]]) for lv in range(level)]], dtype=torch.long)
                score = score + model.log_probs(torch.tensor([user]), prefix.reshape(1, -1))[0, token_ids[level][code[level]]]
            brute.append((float(score), item))
        brute.sort(key=lambda x: -x[0])
        assert result.items[user].tolist() == [item for _, item in brute[:10]]


def test_catalogue_of_one_item_and_padding():
    model = PrefixHashModel(10, [torch.tensor([3, 4]), torch.tensor([5, 6, 7])])
    result = constrained_beam_search(model, {"user": torch.arange(2)}, CodeTrie(torch.tensor([[1, 2]]), [2, 3]),
                                     beam_size=4, top_k=3)
    assert result.items.tolist() == [[0, -1, -1], [0, -1, -1]]
    assert result.codes[0].tolist() == [[1, 2], [-1, -1], [-1, -1]]
    assert torch.isinf(result.scores[:, 1:]).all() and torch.isfinite(result.scores[:, 0]).all()


def test_dense_and_csr_layouts_agree_and_csr_is_smaller_for_sparse_tries():
    generator = torch.Generator().manual_seed(0)
    codes = torch.unique(torch.randint(0, 64, (300, 3), generator=generator), dim=0)
    dense, csr = CodeTrie(codes, [64] * 3, "dense"), CodeTrie(codes, [64] * 3, "csr")
    assert csr.memory_bytes() < dense.memory_bytes()
    vocab, token_ids = token_layout([64] * 3, 0)
    model = PrefixHashModel(vocab, token_ids)
    a = constrained_beam_search(model, {"user": torch.arange(5)}, dense, beam_size=10)
    b = constrained_beam_search(model, {"user": torch.arange(5)}, csr, beam_size=10)
    assert torch.equal(a.items, b.items) and torch.allclose(a.scores, b.scores)


def test_inconsistent_trie_raises_instead_of_decoding_unconstrained():
    trie = CodeTrie(torch.tensor([[0, 0], [1, 1]]), [2, 2], "dense")
    trie.next_node[1][:] = -1  # every level-1 node loses its children
    model = PrefixHashModel(4, [torch.tensor([0, 1]), torch.tensor([2, 3])])
    with pytest.raises(DecodingError, match="no valid continuation"):
        constrained_beam_search(model, {"user": torch.arange(1)}, trie, beam_size=2)


def test_unconstrained_diagnostic_counts_invalid_prefixes():
    codes = torch.tensor([[0, 0]])  # one item: almost everything an unconstrained search picks is invalid
    model = PrefixHashModel(8, [torch.arange(4), torch.arange(4, 8)])
    result = constrained_beam_search(model, {"user": torch.arange(3)}, CodeTrie(codes, [4, 4]), beam_size=4,
                                     count_unconstrained=True)
    assert 0.5 < result.stats["unconstrained_invalid_beam_share"] <= 1.0


def tiny_t5(vocab):
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    config = T5Config(vocab_size=vocab, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2,
                      num_heads=4, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    return T5ForConditionalGeneration(config).eval()


def tiny_llama(vocab, base_vocab=20):
    """A tiny Llama with a 20-token "text" vocabulary, then the code tokens added to it. Weights at
    unit gain (std 0.2 ~ 1/sqrt(32)), not the default 0.02: near-zero weights make attention
    uniform, and a cache fed wrong positions would then give the same scores."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=base_vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, pad_token_id=0,
                         initializer_range=0.2)
    model = LlamaForCausalLM(config)
    # new rows for the code tokens, as for an LLM's added tokens; drawn like the others: the mean
    # resizing's fallback for 20 rows in 32 dimensions (no full-rank covariance) gives every code
    # token the same row, and so every item the same score
    model.resize_token_embeddings(vocab, mean_resizing=False)
    return model.eval()


def hf_case(seed=0):
    sizes = [6, 6, 4]
    generator = torch.Generator().manual_seed(seed)
    codes = torch.unique(torch.stack([torch.randint(0, s, (60,), generator=generator) for s in sizes], 1), dim=0)
    base = 20  # code tokens after 20 "text" tokens, as added tokens of an LLM
    token_ids = [torch.arange(base + sum(sizes[:i]), base + sum(sizes[:i + 1])) for i in range(len(sizes))]
    vocab = base + sum(sizes)
    input_ids = torch.randint(2, vocab, (3, 7), generator=generator)
    mask = torch.ones_like(input_ids)
    mask[1, :3] = 0  # left padding
    input_ids[1, :3] = 0
    return codes, sizes, token_ids, vocab, {"input_ids": input_ids, "attention_mask": mask}


# the adapters pass the KV cache under the name the installed transformers takes
# (hf_adapters.cache_keyword): a deprecated name would warn, and break in transformers 5.40
@pytest.mark.filterwarnings("error:.*past_key_values.*:FutureWarning")
@pytest.mark.parametrize("family", ["t5", "llama"])
def test_kv_cache_reordering_equals_recomputation(family):
    codes, sizes, token_ids, vocab, batch = hf_case()
    model = tiny_t5(vocab) if family == "t5" else tiny_llama(vocab)
    adapter = T5StepModel if family == "t5" else CausalLMStepModel
    trie = CodeTrie(codes, sizes)
    cached = constrained_beam_search(adapter(model, token_ids, use_cache=True), batch, trie, beam_size=8, top_k=5)
    recomputed = constrained_beam_search(adapter(model, token_ids, use_cache=False), batch, trie, beam_size=8, top_k=5)
    assert (recomputed.scores[:, :-1] - recomputed.scores[:, 1:]).min() > 1e-3  # no ties: the order means something
    assert torch.equal(cached.items, recomputed.items)
    assert torch.allclose(cached.scores, recomputed.scores, atol=1e-4)
    valid = {tuple(c) for c in codes.tolist()}
    for user_codes in cached.codes.tolist():
        assert all(tuple(c) in valid for c in user_codes)


def test_beam_aware_t5_step_matches_t5_forward():
    from genrec.decoding.t5_beams import T5BeamStepModel

    codes, sizes, token_ids, vocab, batch = hf_case(seed=2)
    model = tiny_t5(vocab)
    trie = CodeTrie(codes, sizes)
    reference = constrained_beam_search(T5StepModel(model, token_ids, use_cache=False), batch, trie, 8, 5)
    fast = constrained_beam_search(T5BeamStepModel(model, token_ids), batch, trie, 8, 5)
    assert torch.equal(fast.items, reference.items)
    assert torch.allclose(fast.scores, reference.scores, atol=1e-4)


@pytest.mark.parametrize("side", ["left", "right"])
def test_length_grouped_encoding_equals_encoding_the_padded_batch(side):
    from genrec.decoding.t5_beams import T5BeamStepModel, length_groups

    generator = torch.Generator().manual_seed(3)
    model = tiny_t5(40)
    lengths = torch.tensor([9, 2, 5, 9, 1, 4, 7])
    positions = torch.arange(9)[None]
    mask = (positions >= 9 - lengths[:, None]) if side == "left" else (positions < lengths[:, None])
    input_ids = torch.where(mask, torch.randint(2, 40, (7, 9), generator=generator), 0)
    mask = mask.long()
    groups = length_groups(mask, 3)
    assert sorted(torch.cat([rows for rows, _ in groups]).tolist()) == list(range(7))
    assert any(span.stop - span.start < 9 for _, span in groups)  # some groups skip padding
    with torch.no_grad():
        reference = model.get_encoder()(input_ids=input_ids, attention_mask=mask).last_hidden_state
        grouped = T5BeamStepModel(model, [torch.arange(2, 40)], encode_group_size=3).encode(input_ids, mask)
    real = mask.bool()
    assert torch.allclose(grouped[real], reference[real], atol=1e-5)
