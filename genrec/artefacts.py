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


def _default_file_mode() -> int:
    """The mode ``open()`` gives a new file: 0o666 less the process umask (read, then restored)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def temporary_beside(path: Path, suffix: str = ".tmp") -> Path:
    """A new empty hidden file in ``path``'s folder, to be renamed over ``path`` once written.
    It gets the mode a plainly created file would: ``mkstemp`` makes files only their owner can
    read (0o600), which a rename would carry to the artefact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    try:
        os.fchmod(fd, _default_file_mode())
    finally:
        os.close(fd)
    return Path(tmp)


def give_plain_file_modes(folder: Path) -> None:
    """Every file below ``folder`` gets the mode a plainly created file would (libraries such as
    safetensors and ``save_pretrained`` write owner-only files)."""
    mode = _default_file_mode()
    for path in Path(folder).rglob("*"):
        if path.is_file() and not path.is_symlink():
            os.chmod(path, mode)


def write_atomic(path: Path, write) -> None:
    """``write(tmp)`` into a temporary file beside ``path``, then rename it over ``path``."""
    tmp = temporary_beside(Path(path))
    try:
        write(tmp)
        os.chmod(tmp, _default_file_mode())  # again: safetensors writes a file of its own, owner-only
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def write_tensors_atomic(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    write_atomic(Path(path), lambda tmp: save_file(tensors, str(tmp)))


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
