"""Download helpers: atomic, checksum-verified, tested against local file:// URLs."""

import hashlib
import json

import pytest

from genrec.data.download import RemoteFile, download
from genrec.errors import DataError


def test_download_verifies_sha256(tmp_path):
    source = tmp_path / "src.bin"
    source.write_bytes(b"genrec" * 1000)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    target = download(RemoteFile(source.as_uri(), "data.bin", f"sha256:{digest}"), tmp_path / "out")
    assert target.read_bytes() == source.read_bytes()


def test_bad_checksum_leaves_no_file(tmp_path):
    source = tmp_path / "src.bin"
    source.write_bytes(b"tampered")
    with pytest.raises(DataError, match="sha256"):
        download(RemoteFile(source.as_uri(), "data.bin", "sha256:" + "0" * 64), tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_unpublished_checksum_is_recorded_then_enforced(tmp_path):
    source = tmp_path / "src.bin"
    source.write_bytes(b"first version")
    out = tmp_path / "out"
    download(RemoteFile(source.as_uri(), "data.bin"), out)
    recorded = json.loads((out / "CHECKSUMS.json").read_text())["data.bin"]
    assert recorded == "sha256:" + hashlib.sha256(b"first version").hexdigest()
    (out / "data.bin").write_bytes(b"corrupted on disk")
    with pytest.raises(DataError, match="expected"):
        download(RemoteFile(source.as_uri(), "data.bin"), out)


def test_md5_checksums_work(tmp_path):
    source = tmp_path / "src.zip"
    source.write_bytes(b"zip bytes")
    digest = hashlib.md5(b"zip bytes").hexdigest()
    assert download(RemoteFile(source.as_uri(), "x.zip", f"md5:{digest}"), tmp_path / "o").is_file()


def test_idgenrec_textual_ids_land_where_the_data_configs_read_them(tmp_path, monkeypatch):
    from genrec.data import download as dl

    text = b"B000P24EI2 rene furterer complexe 5\n"
    (tmp_path / "mirror" / "Beauty").mkdir(parents=True)
    (tmp_path / "mirror" / "Beauty" / dl.IDGENREC_FILE).write_bytes(text)
    monkeypatch.setitem(dl.IDGENREC_SHA256, "beauty", hashlib.sha256(text).hexdigest())
    folder = dl.fetch_idgenrec_textual_ids(tmp_path / "root", "beauty", (tmp_path / "mirror").as_uri())
    assert folder == tmp_path / "root" / "amazon_beauty_2014" / "raw" / "idgenrec"
    assert (folder / dl.IDGENREC_FILE).read_bytes() == text
    monkeypatch.setitem(dl.IDGENREC_SHA256, "beauty", "0" * 64)  # another file under that name: refused
    (folder / dl.IDGENREC_FILE).unlink()
    with pytest.raises(DataError, match="sha256"):
        dl.fetch_idgenrec_textual_ids(tmp_path / "root", "beauty", (tmp_path / "mirror").as_uri())
    assert not (folder / dl.IDGENREC_FILE).exists()
