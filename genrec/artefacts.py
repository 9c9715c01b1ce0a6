"""Atomic writes of JSON and safetensors artefacts, and their checked reads.

Every artefact is written to a temporary file in the target folder, then renamed
over the final name, so a crash never leaves a half-written file behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from genrec.errors import ArtefactError


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    _atomic(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def write_tensors_atomic(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    _atomic(Path(path), lambda tmp: save_file(tensors, str(tmp)))


def read_json(path: Path, what: str) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ArtefactError(f"{what}: missing {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ArtefactError(f"{what}: {path} is not valid JSON ({err}); delete it and regenerate") from None
    if not isinstance(data, dict):
        raise ArtefactError(f"{what}: {path} should hold a JSON object; delete it and regenerate")
    return data


def read_tensors(path: Path, what: str) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise ArtefactError(f"{what}: missing {path}")
    try:
        return load_file(str(path))
    except Exception as err:  # noqa: BLE001  (safetensors raises its own error types for damaged files)
        raise ArtefactError(f"{what}: {path} cannot be read ({str(err).splitlines()[0][:100]}); the file is "
                            "damaged (truncated or edited): delete it and regenerate") from None


def _nearest_existing(path: Path) -> Path:
    path = path.resolve()
    while not path.exists():
        path = path.parent
    return path


def check_writable(*folders: str | Path) -> None:
    """Each folder (or the nearest existing parent it would be created in) accepts new files."""
    for folder in folders:
        existing = _nearest_existing(Path(folder))
        if not existing.is_dir():
            raise ArtefactError(f"{folder}: {existing} is a file, not a folder; choose another location")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise ArtefactError(f"{folder}: {existing} is not writable; make it writable or choose another "
                                "folder (results_dir=... / checkpoints_dir=...) before training")


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in blocks."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()
