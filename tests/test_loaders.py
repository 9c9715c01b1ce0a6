"""Loaders on small fixtures the tests write: raw UCSD Amazon, LC-Rec JSON, RecBole ML-100K."""

import gzip
import json

import numpy as np
import pytest

from genrec.data.amazon_p5 import AmazonP5Config, load_amazon_p5
from genrec.data.amazon_raw import AmazonRawConfig, k_core, load_amazon_raw
from genrec.data.lcrec import LCRecConfig, load_lcrec
from genrec.data.movielens import MovieLensConfig, load_movielens
from genrec.errors import DataError


def write_raw_amazon(folder, reviews, meta):
    folder.mkdir(parents=True)
    with gzip.open(folder / "reviews_Toy_5.json.gz", "wt") as out:
        for user, item, time in reviews:
            out.write(json.dumps({"reviewerID": user, "asin": item, "unixReviewTime": time, "overall": 5.0}) + "\n")
    with gzip.open(folder / "meta_Toy.json.gz", "wt") as out:
        for record in meta:
            out.write(repr(record) + "\n")  # Python literals, as the official meta files are


def test_k_core_is_iterated():
    # u3 has 1 interaction -> dropped; then item c falls to 1 user -> dropped; then u2 falls to 1 item -> dropped
    rows = [("u1", "a", 1), ("u1", "b", 2), ("u2", "a", 1), ("u2", "c", 2), ("u3", "c", 1),
            ("u4", "a", 1), ("u4", "b", 2)]
    kept = k_core(rows, 2)
    assert {(u, i) for u, i, _ in kept} == {("u1", "a"), ("u1", "b"), ("u4", "a"), ("u4", "b")}


def test_raw_amazon_orders_by_time_keeps_file_order_on_ties_and_reads_python_literal_meta(tmp_path):
    reviews = []
    for u in range(6):
        # times: item order per user is i4 (t=1), then i0..i3 at t=5 (ties: file order)
        for i in range(4):
            reviews.append((f"U{u}", f"I{i}", 5))
        reviews.append((f"U{u}", "I4", 1))
    reviews.append(("Ushort", "I0", 9))  # fewer than 5 -> dropped by the 5-core
    meta = [{"asin": f"I{i}", "title": f"Toy &amp; {i}", "brand": "Acme", "categories": [["Toys", "Cars"]]}
            for i in range(5)]
    write_raw_amazon(tmp_path / "toy", reviews, meta)
    dataset = load_amazon_raw(AmazonRawConfig(dataset="toy", directory="toy", category="Toy", root=str(tmp_path)))
    assert dataset.statistics()["users"] == 6 and dataset.n_items == 5
    first = dataset.interactions.sequences[0]
    ids = [dataset.catalog.external_ids[i] for i in first]
    assert ids == ["I4", "I0", "I1", "I2", "I3"]
    assert dataset.catalog.field("title", dataset.catalog.internal_id("I0")) == "Toy &amp; 0"  # raw; text.py unescapes


def test_raw_amazon_malformed_line_names_file_and_line(tmp_path):
    folder = tmp_path / "toy"
    folder.mkdir()
    with gzip.open(folder / "reviews_Toy_5.json.gz", "wt") as out:
        out.write('{"reviewerID": "u", "asin": "a", "unixReviewTime": 1}\n{not json\n')
    with pytest.raises(DataError, match="reviews_Toy_5.json.gz:2"):
        load_amazon_raw(AmazonRawConfig(dataset="toy", directory="toy", category="Toy", root=str(tmp_path)))


def test_lcrec_inter_and_item_files(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "Mine.inter.json").write_text(json.dumps({"0": [2, 0, 1], "1": [1, 10, 2]}))
    (folder / "Mine.item.json").write_text(json.dumps({
        "0": {"title": "zero", "brand": "B0", "categories": "c"},
        "1": {"title": "one"}, "2": {"title": "two"}, "10": {"title": "ten"}, "11": {"title": "never bought"},
    }))
    with pytest.raises(DataError, match=r"lists 1 item\(s\) no user interacted with \['11'\].*item_file=lenient"):
        load_lcrec(LCRecConfig(dataset="mine", directory="mine", name="Mine", root=str(tmp_path)))
    dataset = load_lcrec(LCRecConfig(dataset="mine", directory="mine", name="Mine", root=str(tmp_path),
                                     item_file="lenient"))
    assert dataset.catalog.external_ids == ["0", "1", "2", "10", "11"]  # numeric order
    assert [list(s) for s in dataset.interactions.sequences] == [[2, 0, 1], [1, 3, 2]]
    assert dataset.catalog.field("title", 3) == "ten" and dataset.catalog.field("brand", 0) == "B0"


@pytest.mark.parametrize("content,message", [
    ('{"u1": [1, null, 2]}', r"user 'u1', position 1: item id None is a NoneType"),
    ('{"u1": [1, true]}', r"item id True is a bool"),
    ('{"u1": [1, 3.5]}', r"item id 3.5 is a float"),
    ('{"u1": [[7, 8]]}', r"item id \[7, 8\] is a list"),
    ('{"u1": [1, -4]}', r"item id -4 is negative"),
    ('[[1, 2, 3]]', r"expected a JSON object .* found a list"),
    ('{"u1": [1, 2', r"not valid JSON"),
    ('{}', r"no users"),
])
def test_lcrec_ids_that_would_become_items_are_refused(tmp_path, content, message):
    (tmp_path / "Bad.inter.json").write_text(content)
    with pytest.raises(DataError, match=message):
        load_lcrec(LCRecConfig(dataset="bad", directory=".", name="Bad", root=str(tmp_path)))


def test_non_utf8_dataset_file_is_named(tmp_path):
    (tmp_path / "Bad.inter.json").write_bytes(b'{"u1": ["caf\xe9"]}')
    with pytest.raises(DataError, match=r"Bad.inter.json: not UTF-8 .*re-encode"):
        load_lcrec(LCRecConfig(dataset="bad", directory=".", name="Bad", root=str(tmp_path)))


def test_duplicate_items_are_refused_or_deduplicated_by_config(tmp_path):
    from genrec.data import apply_duplicate_policy

    (tmp_path / "Dup.inter.json").write_text(json.dumps({"u1": [1, 2, 1, 3], "u2": [2, 3, 4]}))
    config = LCRecConfig(dataset="dup", directory=".", name="Dup", root=str(tmp_path))
    with pytest.raises(DataError, match=r"1 user\(s\) have an item twice .*'u1', item '1'.*data.duplicates=dedupe"):
        apply_duplicate_policy(load_lcrec(config), "error")
    dataset = load_lcrec(config)
    with pytest.warns(UserWarning, match="dropped repeated items from 1 user"):
        apply_duplicate_policy(dataset, "dedupe")
    assert [dataset.catalog.external_ids[i] for i in dataset.interactions.sequences[0]] == ["1", "2", "3"]


def test_a_dataset_without_evaluable_users_is_refused(tmp_path):
    from genrec.data.datamodule import SequentialDataModule

    (tmp_path / "Short.inter.json").write_text(json.dumps({"u1": [1, 2], "u2": [3]}))
    dataset = load_lcrec(LCRecConfig(dataset="short", directory=".", name="Short", root=str(tmp_path)))
    with pytest.raises(DataError, match="no user has the 3 items leave-one-out needs"):
        SequentialDataModule(dataset)


def test_lcrec_bad_sequence_is_named(tmp_path):
    (tmp_path / "Bad.inter.json").write_text(json.dumps({"u7": []}))
    with pytest.raises(DataError, match="u7"):
        load_lcrec(LCRecConfig(dataset="bad", directory=".", name="Bad", root=str(tmp_path)))


def test_movielens_recbole_layout_and_timestamp_ties(tmp_path):
    folder = tmp_path / "movielens_100k" / "recbole"
    folder.mkdir(parents=True)
    (folder / "ml-100k.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "1\t3\t4\t100\n1\t2\t5\t100\n1\t1\t3\t50\n2\t2\t1\t7\n"
    )
    (folder / "ml-100k.item").write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "1\tToy Story\t1995\tAnimation Comedy\n2\tHeat\t1995\tAction\n3\tJumanji\t1995\tAdventure\n"
    )
    dataset = load_movielens(MovieLensConfig(root=str(tmp_path), auto_download=False))
    # user 1: item 1 at t=50, then items 2 and 3 tie at t=100 -> item id order
    assert [dataset.catalog.external_ids[i] for i in dataset.interactions.sequences[0]] == ["1", "2", "3"]
    assert dataset.catalog.field("title", 0) == "Toy Story (1995)"
    assert dataset.catalog.field("genres", 0) == ["Animation", "Comedy"]


def test_missing_dataset_says_where_and_how(tmp_path):
    with pytest.raises(DataError) as err:
        load_movielens(MovieLensConfig(root=str(tmp_path), auto_download=False))
    assert str(tmp_path) in str(err.value) and "genrec.data.download movielens-100k" in str(err.value)


def write_p5(folder, textual_ids=None):
    folder.mkdir(parents=True)
    (folder / "sequential_data.txt").write_text("1 1 2 3\n2 2 3 1\n")
    (folder / "datamaps.json").write_text(json.dumps({"id2item": {"1": "A1", "2": "B2", "3": "C3"}}))
    if textual_ids is not None:
        (folder / "textual_ids.txt").write_text(textual_ids)
    return AmazonP5Config(dataset="kw", directory="kw", root=str(folder.parent), sequences="sequential_data.txt",
                          datamaps="datamaps.json", textual_ids="textual_ids.txt")


def test_p5_keywords_stand_in_for_missing_titles_and_say_so(tmp_path):
    cfg = write_p5(tmp_path / "kw", "B2 bicycle fender\nA1 nail lacquer red\n")  # any order, by ASIN
    catalog = load_amazon_p5(cfg).catalog
    assert [catalog.field("title", i) for i in range(3)] == ["nail lacquer red", "bicycle fender", ""]
    assert "IDGenRec" in catalog.metadata["text_source"]["title"]


def test_missing_textual_ids_point_to_their_download(tmp_path):
    with pytest.raises(DataError) as err:
        load_amazon_p5(write_p5(tmp_path / "kw"))
    assert "textual_ids.txt" in str(err.value) and "genrec.data.download idgenrec-" in str(err.value)


def test_fingerprint_changes_with_the_data(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "A.inter.json").write_text(json.dumps({"0": [0, 1, 2]}))
    cfg = LCRecConfig(dataset="d", directory="d", name="A", root=str(tmp_path))
    before = load_lcrec(cfg).fingerprint()
    assert load_lcrec(cfg).fingerprint() == before
    (folder / "A.inter.json").write_text(json.dumps({"0": [0, 2, 1]}))
    assert load_lcrec(cfg).fingerprint() != before
    assert np.array_equal(load_lcrec(cfg).interactions.sequences[0], [0, 2, 1])
