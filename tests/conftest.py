"""Shared helpers: the real data root, and a skip per dataset that the root lacks.

A test that reads a real dataset calls ``require_datasets("beauty", ...)``: it returns the data
root when every named dataset's folder is there, else the test is skipped with a reason that
names the missing dataset (``pytest -rs``, on by default, prints it). So ``make test`` passes
after ``make demo`` has fetched only MovieLens-100K into ``./data``, and with the full shared
data beside the checkout (CI), every test runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"


def real_data_root() -> Path | None:
    for candidate in (os.environ.get("GENREC_DATA_DIR"), SHARED):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


def dataset_folder(config_name: str) -> str:
    """The folder below the data root that ``configs/data/<config_name>.yaml`` reads."""
    config = yaml.safe_load((REPO / "configs" / "data" / f"{config_name}.yaml").read_text())
    return config["directory"]


def require_datasets(*config_names: str) -> Path:
    """The data root, or a skip naming each dataset (by its config name) the root lacks."""
    root = real_data_root()
    if root is None:
        pytest.skip(f"no data root for {list(config_names)}: set GENREC_DATA_DIR (CI: ../shared/data)")
    missing = [n for n in config_names if not (root / dataset_folder(n)).is_dir()]
    if missing:
        pytest.skip(f"dataset(s) {missing} not under the data root {root} "
                    f"(looked for {[dataset_folder(n) for n in missing]}); see docs/datasets.md")
    return root


if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two pytest workers on a 2-core machine: one thread each (and in every process a
    # test starts), so the workers share the cores instead of oversubscribing them
    import torch

    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
