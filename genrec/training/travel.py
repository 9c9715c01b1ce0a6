"""Move a run folder through a channel that only carries small files (a GPU lease's ``$OUT``:
at most 8 files of 16 MiB), and put it back together bit for bit on the other side.

    python -m genrec.training.travel pack checkpoints/<run> <folder> [--part-mib 15] [--only last.ckpt config.yaml]
    python -m genrec.training.travel unpack <folder> checkpoints/<run>

``pack`` writes the run's files (by default ``config.yaml`` and ``last.ckpt``, what
``trainer.resume=true`` needs) cut into parts of at most ``--part-mib`` MiB, plus
``manifest.json`` with each file's size, sha256 and parts. ``unpack`` joins the parts,
checks every hash, and only then moves the files into place (an existing file is never
overwritten by a damaged one). A TIGER ``last.ckpt`` (about 5M parameters, weights plus
AdamW's two moments) is about 60 MB: four parts and a manifest. An LLM run travels only with
LoRA on new-token rows, whose checkpoints leave the frozen base out (SmolLM2-135M: about 33 MB);
a full fine-tuning checkpoint (~1.5 GB) does not fit (docs/llm.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from genrec.artefacts import file_sha256
from genrec.errors import ArtefactError, GenrecError

MANIFEST = "manifest.json"
RESUME_FILES = ("config.yaml", "last.ckpt")



def pack(run: Path, out: Path, part_mib: float = 15, only: tuple[str, ...] = RESUME_FILES) -> list[Path]:
    """Cut ``run``'s files named in ``only`` into parts under ``out``; returns the paths written."""
    run, out = Path(run), Path(out)
    missing = [name for name in only if not (run / name).is_file()]
    if missing:
        raise ArtefactError(f"{run}: no {missing} to pack; pack a run that has them (--only to choose files)")
    part_bytes = int(part_mib * 2**20)
    out.mkdir(parents=True, exist_ok=True)
    manifest, written = {"run": run.name, "files": {}}, []
    for name in only:
        source = run / name
        parts = []
        with open(source, "rb") as handle:
            for number, chunk in enumerate(iter(lambda: handle.read(part_bytes), b"")):
                part = out / f"{name}.part{number:02d}"
                part.write_bytes(chunk)
                parts.append(part.name)
                written.append(part)
        manifest["files"][name] = {"size": source.stat().st_size, "sha256": file_sha256(source), "parts": parts}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return [*written, out / MANIFEST]


def unpack(packed: Path, run: Path) -> list[Path]:
    """Join the parts in ``packed`` into ``run``, checking sizes and hashes before anything is replaced."""
    packed, run = Path(packed), Path(run)
    try:
        manifest = json.loads((packed / MANIFEST).read_text())
        files = manifest["files"]
    except (OSError, ValueError, KeyError) as err:
        raise ArtefactError(f"{packed / MANIFEST}: cannot read it ({err}); pack the run again") from None
    run.mkdir(parents=True, exist_ok=True)
    staged = []
    try:
        for name, entry in files.items():
            target = run / f".{name}.unpacking"
            staged.append((target, run / name))
            _join(packed, entry, target, name)
    except BaseException:
        for target, _ in staged:
            target.unlink(missing_ok=True)
        raise
    for target, final in staged:
        target.replace(final)
    return [final for _, final in staged]


def _join(packed: Path, entry: dict, target: Path, name: str) -> None:
    with open(target, "wb") as handle:
        for part in entry["parts"]:
            if not (packed / part).is_file():
                raise ArtefactError(f"{packed / part}: missing; bring every part listed in {packed / MANIFEST}")
            handle.write((packed / part).read_bytes())
    if target.stat().st_size != entry["size"] or file_sha256(target) != entry["sha256"]:
        raise ArtefactError(f"{packed}: the parts of {name} do not join into the file that was packed (size or "
                            "sha256 differs); bring them again")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m genrec.training.travel", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("pack")
    p.add_argument("run")
    p.add_argument("out")
    p.add_argument("--part-mib", type=float, default=15)
    p.add_argument("--only", nargs="+", default=list(RESUME_FILES))
    u = commands.add_parser("unpack")
    u.add_argument("packed")
    u.add_argument("run")
    args = parser.parse_args(argv)
    try:
        if args.command == "pack":
            paths = pack(Path(args.run), Path(args.out), args.part_mib, tuple(args.only))
        else:
            paths = unpack(Path(args.packed), Path(args.run))
    except GenrecError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("\n".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
