"""EAGER-LLM's dual-source indices: two balanced trees, codes unique by construction."""

import math

import pytest
import torch

from genrec.errors import ConfigError
from genrec.tokenizers.dual_source import DualSourceConfig, DualSourceIndices, tree_depth


def test_dual_source_codes_are_unique_balanced_and_follow_each_source():
    torch.manual_seed(0)
    n, k = 300, 8
    text_group, behaviour_group = torch.arange(n) % 4, torch.arange(n) // 75  # two unrelated planted partitions
    text = torch.randn(4, 16)[text_group] * 5 + torch.randn(n, 16)
    behaviour = torch.randn(4, 8)[behaviour_group] * 5 + torch.randn(n, 8)
    fit = DualSourceIndices(DualSourceConfig(codebook_size=k), (16, 8)).fit(torch.cat([text, behaviour], 1), seed=0)
    depth = tree_depth(n, k)
    assert depth == math.ceil(math.log(n, k)) == 3 and fit.codes.shape == (n, 2 * depth)
    assert fit.details["unique_by_construction"] == {"text": True, "behaviour": True}
    assert len(torch.unique(fit.codes[:, :depth], dim=0)) == n and len(torch.unique(fit.codes[:, depth:], dim=0)) == n
    assert torch.bincount(fit.codes[:, 0]).max() <= math.ceil(n / k)  # balanced first level
    # each tree's first level follows its own source: items of one planted group share few first codes
    for codes, group in ((fit.codes[:, 0], text_group), (fit.codes[:, depth], behaviour_group)):
        purity = sum(torch.bincount(group[codes == c]).max() for c in codes.unique()) / n
        assert purity > 0.75  # chance: about 0.4


def test_fit_needs_the_split_between_sources():
    with pytest.raises(ConfigError, match="fit_stage"):
        DualSourceIndices(DualSourceConfig()).fit(torch.randn(10, 4))


def test_single_source_ablation_builds_one_tree():
    torch.manual_seed(0)
    vectors = torch.randn(40, 6)
    both = DualSourceIndices(DualSourceConfig(codebook_size=8), (4, 2)).fit(vectors, seed=0)
    text = DualSourceIndices(DualSourceConfig(codebook_size=8, sources=["text"]), (4, 2)).fit(vectors, seed=0)
    behaviour = DualSourceIndices(DualSourceConfig(codebook_size=8, sources=["behaviour"]), (4, 2)).fit(vectors, seed=0)
    depth = tree_depth(40, 8)
    assert torch.equal(text.codes, both.codes[:, :depth]) and torch.equal(behaviour.codes, both.codes[:, depth:])
    with pytest.raises(ConfigError, match="sources"):
        DualSourceIndices(DualSourceConfig(sources=["text", "text"]), (4, 2))
