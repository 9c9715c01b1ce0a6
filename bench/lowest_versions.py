"""Do the floors in pyproject.toml hold? Install each dependency at its lowest allowed version
and run the whole test suite on a fresh clone.

    python bench/lowest_versions.py [--find-links DIR]    # writes results/lowest_versions.json

uv (installed into a throw-away environment when it is not on PATH) resolves pyproject.toml
with ``--resolution lowest-direct``: every direct dependency at the lowest version it allows,
their own dependencies at whatever those need. torch is pinned to the build installed here, since
another torch build is a multi-GB CUDA download; the record says so. A fresh clone of HEAD gets a
new virtual environment with exactly that set (torch first, the rest with ``--no-deps``) and runs
the README's test command, with the offline GGUF backbones installed (``make llm-models``) so
that no test is skipped for want of them. The record holds each direct dependency's resolved version, what
``pip check`` said, the suite's summary and failures, the commit and the machine.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo import failure_section, timed  # noqa: E402

try:
    import tomllib
except ImportError:  # Python 3.10
    from pip._vendor import tomli as tomllib

TEST_COMMAND = ["-m", "pytest", "-q", "-n", "2", "--dist", "loadfile", "-p", "no:cacheprovider", "-rfEs"]


def uv_command(tools: Path) -> list[str]:
    """``uv`` from PATH, or from a virtual environment made for it under ``tools``."""
    if shutil.which("uv"):
        return [shutil.which("uv")]
    subprocess.run([sys.executable, "-m", "venv", str(tools)], check=True)
    subprocess.run([str(tools / "bin" / "python"), "-m", "pip", "install", "-q", "uv"], check=True)
    return [str(tools / "bin" / "uv")]


def direct_names(pyproject: Path, extra: str) -> list[str]:
    """The distribution names pyproject.toml depends on directly (with ``extra``), normalised."""
    project = tomllib.loads(pyproject.read_text())["project"]
    requirements = project["dependencies"] + project.get("optional-dependencies", {}).get(extra, [])
    return [normalise(re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0]) for r in requirements]


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(lock: str) -> dict[str, str]:
    """``name==version`` lines of a compiled requirements file, as {normalised name: version}."""
    return {normalise(m.group(1)): m.group(2) for m in re.finditer(r"^([A-Za-z0-9_.-]+)==(\S+)", lock, re.MULTILINE)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--find-links", default=os.environ.get("PIP_FIND_LINKS"),
                        help="a folder of local wheels (the CPU torch build); default $PIP_FIND_LINKS")
    args = parser.parse_args()
    from genrec.artefacts import write_json_atomic
    from genrec.run_info import hardware

    start = time.perf_counter()
    torch_version = metadata.version("torch")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clone = tmp / "genrec"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True,
                                check=True).stdout.strip()
        (tmp / "torch.txt").write_text(f"torch=={torch_version}\n")
        compile_command = [*uv_command(tmp / "uv"), "pip", "compile", "pyproject.toml", "--extra", "dev", "--quiet",
                           "--resolution", "lowest-direct", "-c", str(tmp / "torch.txt"),
                           "--python-version", f"{sys.version_info.major}.{sys.version_info.minor}",
                           "-o", str(tmp / "lowest.txt")]
        if args.find_links:
            compile_command += ["--find-links", args.find_links]
        subprocess.run(compile_command, cwd=clone, check=True)
        lock = (tmp / "lowest.txt").read_text()
        versions = pinned(lock)
        (tmp / "rest.txt").write_text("".join(f"{name}=={version}\n" for name, version in versions.items()
                                              if name != "torch"))
        python = str(tmp / "env" / "bin" / "python")
        subprocess.run([sys.executable, "-m", "venv", str(tmp / "env")], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", f"torch=={torch_version}"], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "-r", str(tmp / "rest.txt")], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "-e", "."], cwd=clone, check=True)
        # the offline GGUF backbones, so their test runs too: the Makefile's list, into this environment
        (tmp / "env" / ".genrec-installed").touch()
        subprocess.run(["make", "-s", "llm-models", f"VENV={tmp / 'env'}"], cwd=clone, check=True)
        check = subprocess.run([python, "-m", "pip", "check"], capture_output=True, text=True)
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "GENREC_CONFIG_PATH")}
        test_s, test_rc, test_out = timed([python, *TEST_COMMAND], clone, env)
        direct = {name: versions.get(name) for name in direct_names(clone / "pyproject.toml", "dev")}
    lines = test_out.splitlines()
    summary = [line for line in lines if re.search(r"\d+ (passed|failed)", line)]
    record = {
        "resolution": "uv pip compile --resolution lowest-direct (pyproject.toml, extra dev)",
        "torch_note": f"pinned to the build installed here ({torch_version}), not torch's floor: another "
                      "build is a multi-GB download",
        "direct_dependencies": direct,
        "pip_check": check.stdout.strip().splitlines(),
        "test_command": "python " + " ".join(TEST_COMMAND),
        "data_dir": os.environ.get("GENREC_DATA_DIR"),
        "make_test": {"wall_time_s": test_s, "exit_code": test_rc, "summary": summary[-1:],
                      "failed": [line for line in lines if line.startswith(("FAILED", "ERROR"))],
                      "skipped": [line for line in lines if line.startswith("SKIPPED")]},
        "commit": commit, "python": sys.version.split()[0], "hardware": hardware(),
        "wall_time_s": round(time.perf_counter() - start, 1),
    }
    write_json_atomic(ROOT / "results" / "lowest_versions.json", record)
    print(failure_section(test_out) if test_rc else test_out[-1500:])
    print("\n".join(f"{name:>26} {version}" for name, version in record["direct_dependencies"].items()))
    print(f"pip check: {record['pip_check']}\nwrote {ROOT / 'results' / 'lowest_versions.json'}")
    return test_rc


if __name__ == "__main__":
    sys.exit(main())
