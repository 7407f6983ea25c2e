"""Loading a model folder for a job: the weights with the head the job needs, and the tokenizer beside them.

A folder that is missing, holds no model weights or no tokenizer files is an `InputError` naming the folder and what
is missing, before transformers is asked (whose own messages for these cases talk about sentencepiece or remote
repositories). A name that is not a local path is passed on as a Hub id.
"""

import os
from pathlib import Path

from .errors import InputError

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
"""Files of which a model folder holds at least one."""

TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")
"""Files of which a folder with our tokenizer holds at least one."""


def _looks_local(name: str) -> bool:
    return os.path.isabs(name) or name.startswith((".", "~")) or os.path.exists(name) or name.count("/") != 1


def check_model_folder(path: str | os.PathLike, *, tokenizer: bool = True) -> None:
    """Raises `InputError` unless the local folder `path` has a `config.json`, weights and (with `tokenizer`)
    tokenizer files. Hub ids (`owner/name` that is not a local path) are not checked."""
    name = os.fspath(path)
    if not _looks_local(name):
        return
    folder = Path(name).expanduser()
    if not folder.exists():
        raise InputError(f"{name}: no such model folder.")
    if not folder.is_dir():
        raise InputError(f"{name}: is a file; --model takes the folder that save_pretrained wrote.")
    missing = []
    if not (folder / "config.json").is_file():
        missing.append("config.json")
    if not any((folder / file).is_file() for file in WEIGHT_FILES):
        missing.append("model weights (" + " or ".join(WEIGHT_FILES[::2]) + ")")
    if tokenizer and not any((folder / file).is_file() for file in TOKENIZER_FILES):
        missing.append("tokenizer files (" + " or ".join(TOKENIZER_FILES) + "; save the tokenizer beside the model)")
    if missing:
        raise InputError(f"{name}: not a model folder: no {', no '.join(missing)}.")


def load_model_and_tokenizer(
    path: str | os.PathLike,
    model_class=None,
    *,
    dtype: str = "float32",
    progress: bool = True,
    **model_kwargs,
):
    """`(model, tokenizer)` from a model folder (checked with `check_model_folder`) or a Hub id.

    `model_class` is the class to load the weights into (default `AutoModelForMaskedLM`); `model_kwargs` go to its
    `from_pretrained`. `dtype` is the inference precision, one of `precision.DTYPES` (`"float32"`, `"bfloat16"`,
    `"int8"`): bf16 weights are loaded as bf16, int8 quantises the float32 weights at load
    (`precision.prepare_for_inference`; the model is on the CPU, where int8 runs). `progress=False` hides
    transformers' weight-loading bar. The model is returned in eval mode.
    """
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer
    from transformers.utils import logging

    from .precision import check_dtype, prepare_for_inference

    check_dtype(dtype)
    check_model_folder(path)
    model_kwargs.setdefault("dtype", torch.bfloat16 if dtype == "bfloat16" else torch.float32)
    model_class = model_class or AutoModelForMaskedLM
    bar_was_on = logging.is_progress_bar_enabled()
    if not progress:
        logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(os.fspath(path))
        model = model_class.from_pretrained(os.fspath(path), **model_kwargs)
    except OSError as error:  # transformers' "not a local folder and not a valid model identifier" and the like
        raise InputError(f"{os.fspath(path)}: cannot load a model: {error}") from error
    finally:
        if bar_was_on:
            logging.enable_progress_bar()
    return prepare_for_inference(model, dtype), tokenizer


__all__ = ["TOKENIZER_FILES", "WEIGHT_FILES", "check_model_folder", "load_model_and_tokenizer"]
