"""Where datasets live: config ``data.root``, else ``$GENREC_DATA_DIR``, else ``./data``."""

from __future__ import annotations

import os
from pathlib import Path

from genrec.errors import DataError

ENV_VAR = "GENREC_DATA_DIR"


def resolve_data_root(configured: str | None = None) -> Path:
    """The data root in order of precedence: config value, environment variable, ``./data``."""
    if configured:
        return Path(configured).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    return Path("data")


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
