"""Shared helpers: the real data root, and a skip per dataset that the root lacks.

A test that reads a real dataset calls ``require_datasets("beauty", ...)``: it returns the data
root when every named dataset's folder is there, else the test is skipped with a reason that
names the missing dataset (``pytest -rs``, on by default, prints it). So ``make test`` passes
after ``make demo`` has fetched only MovieLens-100K into ``./data``, and with the full shared
data beside the checkout (CI), every test runs.
"""

from __future__ import annotations

import os
import random
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
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


def _reseed(node_id: str, salt: int) -> None:
    base = int(os.environ.get("GENREC_TEST_RESEED", "0"))
    seed = (base * 1_000_003 + salt + zlib.crc32(node_id.encode())) % 2**31
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@pytest.fixture(autouse=True, scope="module")
def _reseed_global_rngs_per_module(request):
    """Every global RNG (Python, NumPy, torch) starts each test module, and each test (below), from a
    seed of its own id and ``GENREC_TEST_RESEED`` (default 0), not from the state the tests before it
    in the same pytest worker left: which files share a worker changes from run to run. Another
    ``GENREC_TEST_RESEED`` shows a test that passes only for one global RNG state (docs/reliability.md)."""
    _reseed(request.node.nodeid, 1)


@pytest.fixture(autouse=True)
def _reseed_global_rngs(request):
    _reseed(request.node.nodeid, 0)


if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two pytest workers on a 2-core machine: one thread each (and in every process a
    # test starts), so the workers share the cores instead of oversubscribing them
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
