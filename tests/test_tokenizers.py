"""Tokenizer schemes: planted structure, determinism, unique codes, Sinkhorn spreading."""

import pytest
import torch

from genrec.errors import ConfigError
from genrec.tokenizers.atomic_ids import AtomicIDs, AtomicIDsConfig
from genrec.tokenizers.collisions import (
    CollisionError,
    add_extra_level,
    colliding_mask,
    collision_rate,
    resolve_with_sinkhorn,
)
from genrec.tokenizers.hkmeans import HierarchicalKMeans, HKMeansConfig
from genrec.tokenizers.kmeans import kmeans
from genrec.tokenizers.random_ids import RandomIDs, RandomIDsConfig
from genrec.tokenizers.report import level_stats
from genrec.tokenizers.rqkmeans import RQKMeans, RQKMeansConfig
from genrec.tokenizers.rqvae import RQVAE, RQVAEConfig


def planted(n_clusters=8, per_cluster=60, dim=24, seed=0):
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_clusters, dim, generator=generator) * 6
    labels = torch.arange(n_clusters).repeat_interleave(per_cluster)
    return centres[labels] + torch.randn(len(labels), dim, generator=generator), labels


def purity(first_codes: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of same-cluster item pairs that share their first code."""
    same_label = labels[:, None] == labels[None]
    same_code = first_codes[:, None] == first_codes[None]
    off_diagonal = ~torch.eye(len(labels), dtype=torch.bool)
    return float((same_code & same_label & off_diagonal).sum() / (same_label & off_diagonal).sum())


def small_rqvae(**overrides) -> RQVAEConfig:
    values = dict(levels=2, codebook_size=16, hidden_sizes=[32], latent_dim=8, steps=150, batch_size=128,
                  kmeans_init_items=4096, lr=3e-3)
    values.update(overrides)
    return RQVAEConfig(**values)


def test_rqvae_recovers_planted_clusters():
    x, labels = planted()
    fit = RQVAE(small_rqvae(), progress=False).fit(x, seed=0)
    chance = 1 / 16
    assert purity(fit.codes[:, 0], labels) > 0.8 > 10 * chance
    assert fit.details["reconstruction_mse"] < 1.0  # standardised inputs have variance 1


def test_rqvae_is_deterministic():
    x, _ = planted(n_clusters=4, per_cluster=30)
    a = RQVAE(small_rqvae(steps=30), progress=False).fit(x, seed=3).codes
    b = RQVAE(small_rqvae(steps=30), progress=False).fit(x, seed=3).codes
    assert torch.equal(a, b)


def test_rqkmeans_recovers_planted_clusters_and_is_deterministic():
    x, labels = planted()
    cfg = RQKMeansConfig(levels=2, codebook_size=8)
    a = RQKMeans(cfg).fit(x, seed=1)
    assert purity(a.codes[:, 0], labels) > 0.9
    assert torch.equal(a.codes, RQKMeans(cfg).fit(x, seed=1).codes)
    assert a.last_inputs.shape == x.shape and a.last_codebook.shape == (8, x.shape[1])


def test_random_point_seeding_recovers_planted_clusters_and_rejects_unknown_inits():
    x, labels = planted()
    fit = RQKMeans(RQKMeansConfig(levels=2, codebook_size=8, kmeans_init="random")).fit(x, seed=1)
    assert purity(fit.codes[:, 0], labels) > 0.9
    centers, _ = kmeans(x, 8, iters=0, seed=2, init="random")  # no Lloyd step: the seeds themselves
    assert all(bool((x == c).all(1).any()) for c in centers) and len(torch.unique(centers, dim=0)) == 8
    with pytest.raises(ConfigError, match="kmeans_init"):
        RQKMeans(RQKMeansConfig(kmeans_init="forgy"))


def perplexity(codes: torch.Tensor) -> float:
    share = torch.bincount(codes).float() / len(codes)
    share = share[share > 0]
    return float(torch.exp(-(share * share.log()).sum()))


def test_rqkmeans_on_leading_components_avoids_the_hub_code_of_noisy_high_dimensional_residuals():
    # items on an 8-d manifold seen through 256 noisy dimensions: on all 256 the deeper residuals
    # are mostly noise, near-orthogonal, and one centre near the origin takes most items
    generator = torch.Generator().manual_seed(0)
    latent = torch.rand(1000, 8, generator=generator)
    x = latent @ torch.randn(8, 256, generator=generator) + torch.randn(1000, 256, generator=generator)
    full = RQKMeans(RQKMeansConfig(levels=3, codebook_size=64)).fit(x, seed=0)
    reduced = RQKMeans(RQKMeansConfig(levels=3, codebook_size=64, pca_dims=8)).fit(x, seed=0)
    assert perplexity(full.codes[:, 2]) < 16 and collision_rate(full.codes) > 0.05
    assert perplexity(reduced.codes[:, 2]) > 48 and collision_rate(reduced.codes) < 0.02
    assert 0.3 < reduced.details["pca_explained_variance"] < 1 and reduced.details["pca_dims"] == 8
    assert reduced.last_inputs.shape == (1000, 8) and reduced.last_codebook.shape == (64, 8)
    # the reconstruction is measured in the input space for both, so the two compare
    assert abs(reduced.details["reconstruction_mse"] - full.details["reconstruction_mse"]) < 0.2


def test_rqkmeans_on_every_component_is_a_rotation_and_gives_the_same_codes():
    x, _ = planted(dim=12)
    full = RQKMeans(RQKMeansConfig(levels=2, codebook_size=8)).fit(x, seed=4)
    rotated = RQKMeans(RQKMeansConfig(levels=2, codebook_size=8, pca_dims=64)).fit(x, seed=4)  # cut to 12
    assert torch.equal(full.codes, rotated.codes)
    assert rotated.details["pca_dims"] == 12 and rotated.details["pca_explained_variance"] == pytest.approx(1.0)
    assert rotated.details["reconstruction_mse"] == pytest.approx(full.details["reconstruction_mse"], abs=1e-4)
    with pytest.raises(ConfigError, match="pca_dims"):
        RQKMeans(RQKMeansConfig(pca_dims=0))


def test_kmeans_balanced_caps_cluster_sizes():
    x, _ = planted(n_clusters=2, per_cluster=50)
    x = torch.cat([x, x[:1].repeat(40, 1)])  # a crowded spot
    _, assign = kmeans(x, 4, balanced=True)
    assert torch.bincount(assign).max() <= -(-len(x) // 4)


def test_hierarchical_kmeans_paths():
    x, labels = planted(n_clusters=4, per_cluster=40)
    fit = HierarchicalKMeans(HKMeansConfig(levels=2, codebook_size=4)).fit(x)
    assert purity(fit.codes[:, 0], labels) > 0.9
    assert fit.codes.shape == (160, 2)


def crowded_codes(n=64, last_size=16, dim=6, seed=0):
    """Every item shares one prefix and crowds into 2 of 16 last-level codes."""
    generator = torch.Generator().manual_seed(seed)
    codebook = torch.randn(last_size, dim, generator=generator)
    inputs = codebook[torch.arange(n) % 2] + 0.05 * torch.randn(n, dim, generator=generator)
    codes = torch.stack([torch.zeros(n, dtype=torch.long), torch.arange(n) % 2], 1)
    return codes, inputs, codebook


def test_extra_level_makes_codes_unique():
    codes, _, _ = crowded_codes()
    unique, size = add_extra_level(codes)
    assert not colliding_mask(unique).any()
    assert size == 32 and unique.shape == (64, 3)
    assert unique[:, 2].tolist()[:4] == [0, 0, 1, 1]  # rank inside each group, in item order


def test_sinkhorn_spreads_a_crowded_last_level():
    codes, inputs, codebook = crowded_codes(n=16)
    assert level_stats(codes[:, 1], 16)["used"] == 2
    resolved, info = resolve_with_sinkhorn(codes, inputs, codebook, epsilon=0.003, rounds=20, exact_fallback=False)
    assert collision_rate(resolved) == 0.0
    assert level_stats(resolved[:, 1], 16)["used"] == 16  # uniform: every code used once
    assert info["colliding_per_round"][0] == 16 and info["moved_by_exact_pass"] == 0
    assert resolved.shape == codes.shape  # no extra level


def test_sinkhorn_with_more_items_than_codes_in_a_prefix_fails_loudly():
    codes, inputs, codebook = crowded_codes(n=40, last_size=16)
    with pytest.raises(CollisionError):
        resolve_with_sinkhorn(codes, inputs, codebook, rounds=3)


def test_baselines():
    random_fit = RandomIDs(RandomIDsConfig(levels=3, codebook_size=8)).fit(torch.zeros(50, 1), seed=0)
    assert random_fit.codes.shape == (50, 3) and random_fit.codes.max() < 8
    assert torch.equal(random_fit.codes, RandomIDs(RandomIDsConfig(levels=3, codebook_size=8)).fit(
        torch.zeros(50, 1), seed=0).codes)
    atomic = AtomicIDs(AtomicIDsConfig()).fit(torch.zeros(7, 1))
    assert atomic.codes[:, 0].tolist() == list(range(7)) and atomic.codebook_sizes == [7]


def test_level_stats_hand_computed():
    stats = level_stats(torch.tensor([0, 0, 1, 1]), 4)
    assert stats["used"] == 2 and stats["entropy"] == pytest.approx(1.0) and stats["perplexity"] == pytest.approx(2.0)


def test_fit_cache_ignores_collision_keys_and_round_trips(tmp_path):
    from genrec.tokenizers.fit_cache import fit_key, load_fit, save_fit

    x, _ = planted(n_clusters=3, per_cluster=10)
    base = {"scheme": "rqkmeans", "levels": 2, "codebook_size": 4, "collisions": "extra_level"}
    key = fit_key(base, x, seed=0)
    assert key == fit_key({**base, "collisions": "sinkhorn", "sinkhorn_rounds": 3}, x, seed=0)
    assert key != fit_key({**base, "codebook_size": 8}, x, seed=0)
    assert key != fit_key(base, x + 1, seed=0) and key != fit_key(base, x, seed=1)
    fit = RQKMeans(RQKMeansConfig(levels=2, codebook_size=4)).fit(x)
    save_fit(tmp_path, key, fit)
    again = load_fit(tmp_path, key)
    assert torch.equal(again.codes, fit.codes) and torch.equal(again.last_codebook, fit.last_codebook)
    assert again.details["from_cache"] and load_fit(tmp_path, "missing") is None
