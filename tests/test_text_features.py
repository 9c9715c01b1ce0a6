"""Text item vectors from a causal LM (``tokenizer.features.pooling=mean``): the model loads as a
generator backbone does, padding never leaks into a text's vector, and the vectors are cached."""

import pytest
import torch

from genrec.errors import ConfigError
from genrec.features.text import TextFeatureConfig, text_vectors

TEXTS = ["red lipstick", "a much longer title about a hair shampoo for dry hair", "nail polish", "face cream"]


def mean_pooled(tmp_path, name: str, batch_size: int) -> torch.Tensor:
    torch.manual_seed(0)  # the tiny backbone is randomly initialised: the same seed, the same model
    cfg = TextFeatureConfig(model="tiny:llama", pooling="mean", batch_size=batch_size, cache_dir=str(tmp_path / name))
    return text_vectors(TEXTS, cfg)


def test_mean_pooled_vectors_do_not_depend_on_the_batch_and_are_cached(tmp_path, monkeypatch):
    batched = mean_pooled(tmp_path, "batched", batch_size=4)
    alone = mean_pooled(tmp_path, "alone", batch_size=1)
    assert batched.shape == (len(TEXTS), 64)  # the tiny backbone's hidden size
    assert torch.allclose(batched, alone, atol=1e-5)  # padding beside a short title changes nothing
    assert not torch.allclose(batched[0], batched[2])

    import genrec.llm.backbone as backbone

    def no_model(*args, **kwargs):
        raise AssertionError("the cached vectors should have been read")

    monkeypatch.setattr(backbone, "load_backbone", no_model)
    assert torch.equal(mean_pooled(tmp_path, "batched", batch_size=4), batched)


def test_an_unknown_offline_model_names_the_features_key(tmp_path):
    cfg = TextFeatureConfig(model="offline:nope", pooling="mean", cache_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="tokenizer.features.model=offline:nope: unknown"):
        text_vectors(TEXTS, cfg)
    with pytest.raises(ConfigError, match="features.pooling must be 'sentence' or 'mean'"):
        text_vectors(TEXTS, TextFeatureConfig(pooling="max", cache_dir=str(tmp_path)))
