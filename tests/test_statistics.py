"""The loaders reproduce the published statistics of the real benchmark files exactly."""

import numpy as np
import pytest
from conftest import require_datasets

from genrec.config import compose
from genrec.data import load_dataset

PUBLISHED = {
    "beauty": (22_363, 12_101, 198_502),
    "sports": (35_598, 18_357, 296_337),
    "toys": (19_412, 11_924, 167_597),
    "ml100k": (943, 1_682, 100_000),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_statistics(name):
    data_root = require_datasets(name)
    users, items, interactions = PUBLISHED[name]
    dataset = load_dataset(compose([f"data={name}", f"data.root={data_root}"]).data)
    stats = dataset.statistics()
    assert (stats["users"], stats["items"], stats["interactions"]) == (users, items, interactions)
    if name != "ml100k":  # P5 5-core: every user and item has at least 5 interactions
        counts = np.bincount(np.concatenate(dataset.interactions.sequences), minlength=items)
        assert counts.min() >= 5
        assert min(len(s) for s in dataset.interactions.sequences) >= 5


def test_beauty_text_and_ids():
    data_root = require_datasets("beauty")
    dataset = load_dataset(compose(["data=beauty", f"data.root={data_root}"]).data)
    catalog = dataset.catalog
    first = catalog.internal_id("B004756YJA")
    assert first == 0 and catalog.field("title", first).startswith("OPI Nail Lacquer, Simmer and Shimmer")
    assert catalog.field("brand", first) == "OPI"
    assert sum(bool(b) for b in catalog.fields["brand"]) == 11_997  # 99.1% informative brands


def test_sports_text_fallback_is_declared():
    data_root = require_datasets("sports")
    catalog = load_dataset(compose(["data=sports", f"data.root={data_root}"]).data).catalog
    assert "FALLBACK" in catalog.metadata["text_source"]["title"]
    assert all(catalog.fields["title"])


def test_lcrec_form_matches_p5_beauty():
    data_root = require_datasets("beauty", "beauty_lcrec")
    p5 = load_dataset(compose(["data=beauty", f"data.root={data_root}"]).data)
    lcrec = load_dataset(compose(["data=beauty_lcrec", f"data.root={data_root}"]).data)
    assert lcrec.statistics()["interactions"] == p5.statistics()["interactions"]
    # LC-Rec ids are P5's minus one: internal ids coincide, user by user
    for a, b in zip(p5.interactions.sequences, lcrec.interactions.sequences):
        assert np.array_equal(a, b)


def test_movielens_order_and_genres():
    data_root = require_datasets("ml100k")
    dataset = load_dataset(compose(["data=ml100k", f"data.root={data_root}"]).data)
    catalog = dataset.catalog
    toy_story = catalog.internal_id("1")
    assert catalog.field("title", toy_story) == "Toy Story (1995)"
    assert catalog.field("genres", toy_story) == ["Animation", "Children's", "Comedy"]
