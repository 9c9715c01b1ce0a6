"""Where datasets live: config ``data.root``, else ``$GENREC_DATA_DIR``, else ``./data``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from genrec.errors import DataError

ENV_VAR = "GENREC_DATA_DIR"


def resolve_data_root(configured: str | None = None) -> Path:
    """The data root in order of precedence: config value, environment variable, ``./data``."""
    if configured:
        root, source = Path(configured).expanduser(), "data.root"
    elif os.environ.get(ENV_VAR):
        root, source = Path(os.environ[ENV_VAR]).expanduser(), f"${ENV_VAR}"
    else:
        root, source = Path("data"), "the default ./data"
    if root.exists() and not root.is_dir():
        raise DataError(f"data root {root} ({source}) is a file, not a folder; point data.root or ${ENV_VAR} at the "
                        "folder that holds the datasets")
    return root


def require_file(path: Path, dataset: str, how_to_get: str) -> Path:
    """Return ``path`` if it is a file, else raise a DataError that says where we looked."""
    if not path.is_file():
        raise DataError(
            f"dataset {dataset!r}: missing file {path} (data root {path_root_hint()}).\n"
            f"How to get it: {how_to_get}"
        )
    return path


def path_root_hint() -> str:
    if os.environ.get(ENV_VAR):
        return f"${ENV_VAR}={os.environ[ENV_VAR]}"
    return "set data.root=... or $GENREC_DATA_DIR; default ./data"


@contextmanager
def decoding(path: Path) -> Iterator[None]:
    """A text file that is not in its expected encoding stops with a DataError naming the file."""
    try:
        yield
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not {err.encoding} text ({err.reason} at byte {err.start}); re-encode the file "
                        "as UTF-8") from None
