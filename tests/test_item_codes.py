"""ItemCodes: round trips, fingerprints, refusal of mismatches."""

import json

import pytest
import torch

from genrec.errors import ArtefactError
from genrec.tokenizers.item_codes import SIDECAR, TENSORS, ItemCodes


def sample_codes() -> ItemCodes:
    codes = torch.tensor([[0, 1, 0], [0, 1, 1], [2, 0, 0], [3, 3, 0]])
    return ItemCodes(codes, [4, 4, 2], "rqvae", "toy", "dataset-fp", {"levels": 2})


def test_round_trip_is_identical(tmp_path):
    original = sample_codes()
    original.save(tmp_path / "tok")
    loaded = ItemCodes.load(tmp_path / "tok", dataset_fingerprint="dataset-fp")
    assert torch.equal(loaded.codes, original.codes)
    assert loaded.fingerprint == original.fingerprint
    assert loaded.codebook_sizes == [4, 4, 2] and loaded.config == {"levels": 2}


def test_refuses_codes_of_another_dataset(tmp_path):
    sample_codes().save(tmp_path / "tok")
    with pytest.raises(ArtefactError, match="fitted on dataset toy"):
        ItemCodes.load(tmp_path / "tok", dataset_fingerprint="other")


def test_refuses_a_modified_table(tmp_path):
    sample_codes().save(tmp_path / "tok")
    sidecar = json.loads((tmp_path / "tok" / SIDECAR).read_text())
    sidecar["fingerprint"] = "0" * 16
    (tmp_path / "tok" / SIDECAR).write_text(json.dumps(sidecar))
    with pytest.raises(ArtefactError, match="modified or mixed up"):
        ItemCodes.load(tmp_path / "tok")


def test_collisions_and_out_of_range_codes_are_refused_and_nothing_is_written(tmp_path):
    colliding = ItemCodes(torch.tensor([[1, 1], [1, 1]]), [2, 2], "x", "toy", "fp")
    with pytest.raises(ArtefactError, match="2 items share"):
        colliding.save(tmp_path / "bad")
    assert not (tmp_path / "bad" / TENSORS).exists()
    with pytest.raises(ArtefactError, match="outside"):
        ItemCodes(torch.tensor([[0, 5]]), [2, 2], "x", "toy", "fp").validate()


def test_fingerprint_depends_on_every_code():
    a = sample_codes()
    b = sample_codes()
    b.codes[3, 2] = 1
    assert a.fingerprint != b.fingerprint
