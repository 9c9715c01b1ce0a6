"""A tokenizer artefact that carries its LLM: ``tokenizers/<name>/backbone/``.

STORE's tokenizer *is* the LLM (DESIGN §7, "where the one-way flow bends"): the tokenizer stage
fits codes from the backbone's own item states and tunes that backbone on text->token and
token->text. The artefact keeps the arrow one-way by carrying both: ``codes.safetensors`` beside
``backbone/`` (the tuned weights and tokenizer, saved by ``save_pretrained`` as safetensors, with
adapters merged) and ``backbone/genrec_backbone.json``, which records

- ``codes_fingerprint``: the ``ItemCodes`` the backbone learnt (its code tokens mean those codes);
- ``vocabulary_fingerprint``: the tokenizer's (token, id) table, code tokens included;
- ``weights_sha256``: the weight files' hashes, so swapped or edited weights are refused.

A generator starts from it with ``generator.backbone.path=tokenizer`` and reads nothing else of
the tokenizer: ``resolve_tokenizer_backbone`` checks the fingerprints and returns the folder.
"""

from __future__ import annotations

from pathlib import Path

from genrec.artefacts import file_sha256, read_json, write_json_atomic
from genrec.errors import ArtefactError
from genrec.llm.backbone import forget_gguf_quantization, vocabulary_fingerprint

FOLDER = "backbone"
META = "genrec_backbone.json"
FROM_TOKENIZER = "tokenizer"  # generator.backbone.path value: start from the tokenizer artefact's backbone


def weight_hashes(folder: Path) -> dict[str, str]:
    return {p.name: file_sha256(p) for p in sorted(Path(folder).glob("*.safetensors"))}


def save_adapted_backbone(folder: Path, model, tokenizer, codes_fingerprint: str, info: dict) -> None:
    """Write the tuned backbone (adapters merged) and its fingerprints into ``folder``."""
    folder = Path(folder)
    forget_gguf_quantization(model)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    write_json_atomic(folder / META, {
        "codes_fingerprint": codes_fingerprint,
        "vocabulary_fingerprint": vocabulary_fingerprint(tokenizer),
        "weights_sha256": weight_hashes(folder),
        **info,
    })


FROM_RUN = "run:"  # generator.backbone.path=run:<name>: the backbone a previous LLM run exported (a second stage)


def resolve_tokenizer_backbone(tokenizer_dir: Path, codes_fingerprint: str) -> tuple[Path, dict]:
    """``(folder, meta)`` of the backbone inside ``tokenizer_dir``, after checking it belongs to
    the codes loaded (``codes_fingerprint``) and its weights are the ones written."""
    folder = Path(tokenizer_dir) / FOLDER
    if not (folder / META).is_file():
        raise ArtefactError(f"generator.backbone.path={FROM_TOKENIZER}: {folder / META} is missing; the tokenizer "
                            f"{Path(tokenizer_dir).name} carries no backbone (only tokenizer=store does): fit one "
                            "(python train.py stage=tokenizer tokenizer=store ...) or give a backbone path")
    return folder, checked_meta(folder, codes_fingerprint, "refit the tokenizer (delete the folder and rerun)")


def resolve_run_backbone(run_dir: Path, codes_fingerprint: str) -> tuple[Path, dict]:
    """``(folder, meta)`` of the backbone a previous run exported (``checkpoints/<run>/backbone``)."""
    folder = Path(run_dir) / FOLDER
    if not (folder / META).is_file():
        raise ArtefactError(f"generator.backbone.path={FROM_RUN}{Path(run_dir).name}: {folder / META} is missing; train "
                            "that run first (an EAGER-LLM run exports its tuned backbone there)")
    return folder, checked_meta(folder, codes_fingerprint, f"retrain run {Path(run_dir).name}")


def checked_meta(folder: Path, codes_fingerprint: str, fix: str) -> dict:
    """The folder's record, after checking its codes and weight files."""
    meta = read_json(folder / META, "tuned backbone")
    if meta.get("codes_fingerprint") != codes_fingerprint:
        raise ArtefactError(f"{folder} was tuned on item codes {meta.get('codes_fingerprint')}, but the codes loaded "
                            f"now are {codes_fingerprint}: its code tokens would mean other items; {fix}")
    if weight_hashes(folder) != meta.get("weights_sha256"):
        raise ArtefactError(f"{folder}: the weight files are not the ones {META} records (edited, swapped or "
                            f"truncated); {fix}")
    return meta


def check_vocabulary(tokenizer, meta: dict, folder: Path) -> None:
    """Refuse a tokenizer whose ids differ from the ones the backbone was tuned with."""
    found = vocabulary_fingerprint(tokenizer)
    if found != meta.get("vocabulary_fingerprint"):
        raise ArtefactError(f"{folder}: the tokenizer loaded has vocabulary {found}, but the backbone was tuned with "
                            f"{meta.get('vocabulary_fingerprint')}; refit the tokenizer (delete the folder and rerun)")
