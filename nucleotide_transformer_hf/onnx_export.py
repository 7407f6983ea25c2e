"""ONNX export of a Nucleotide Transformer, int8 quantisation of the export, and onnxruntime inference.

`export_onnx` writes a folder that describes itself, as optimum's exports do:

* `model.onnx` — the masked-LM model (output `logits`, `(batch, sequence, vocab)`) or, with `masked_lm=False`, the
  bare encoder (output `last_hidden_state`, `(batch, sequence, hidden)`, after the final LayerNorm). Inputs
  `input_ids` and `attention_mask`, both int64 `(batch, sequence)`, 1 for tokens and 0 for padding; `batch` and
  `sequence` are dynamic axes. A v1 model (learned positions) takes at most its context of tokens, as in torch; a v2
  model (rotary) any length. A graph whose weights pass 1.5 GiB (torch's threshold, under protobuf's 2 GiB limit)
  keeps them in `model.onnx.data` beside it; onnxruntime and `quantize_onnx_int8` find that file by themselves.
* `config.json` and the tokenizer files, so that `AutoConfig` / `AutoTokenizer.from_pretrained(folder)` work on the
  folder and the tokens fed to the graph are the ones the model was trained on.

The graph comes from torch's dynamo exporter (`torch.onnx.export(..., dynamo=True)`) traced on a padded batch, so
the attention-mask path is in the graph; the export is then checked (`verify=True`) by running onnxruntime on a
padded batch of two sequences of other lengths than the traced ones and comparing with torch: a largest difference
above `VERIFY_TOLERANCE` (relative to the largest output magnitude, at least 1) raises `OnnxVerificationError`.

Only float32 models are exported. A bf16 or int8 (torch-quantised) model is an `InputError`: export the float32
model and quantise the ONNX graph with `quantize_onnx_int8`, onnxruntime's dynamic int8 quantisation (int8 weights,
activations quantised per call). Like torch's int8 (`precision`), one activation scale covers a whole input tensor,
so an int8 graph's outputs for a sequence depend slightly on what it is batched with; run one sequence per call when
that matters.

`onnx_session` opens an exported graph on the CPU and `run_onnx` runs it. onnx, onnxscript and onnxruntime are
imported only inside these functions; without them an `InputError` says to install the `onnx` extra.
"""

import logging
import os
import shutil
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError

ONNX_FILE = "model.onnx"
"""The graph's file name inside an export folder."""

INPUT_NAMES = ("input_ids", "attention_mask")
"""The graph's inputs, both int64 `(batch, sequence)`."""

OUTPUT_NAMES = {True: "logits", False: "last_hidden_state"}
"""The graph's single output, by `masked_lm`."""

DYNAMIC_AXES = ("batch", "sequence")
"""Names of the graph's dynamic axes (of every input and output)."""

VERIFY_TOLERANCE = 1e-4
"""Largest float32 difference `export_onnx(verify=True)` allows between onnxruntime and torch, times
max(1, largest output magnitude)."""

_SIDE_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "added_tokens.json",
)
"""Files copied with a graph from one export folder to another (`quantize_onnx_int8`)."""

_INSTALL_HINT = "pip install 'nucleotide-transformer-hf[onnx]'"


class OnnxVerificationError(RuntimeError):
    """The exported graph's outputs differ from torch's by more than `VERIFY_TOLERANCE` (an export bug)."""


def _require(*modules: str) -> None:
    import importlib.util

    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise InputError(f"ONNX export and inference need {', '.join(missing)}: {_INSTALL_HINT}")


def _graph_path(path: str | os.PathLike) -> Path:
    """`path` itself if it is a file, else `path/model.onnx`; `InputError` when neither exists."""
    path = Path(path).expanduser()
    graph = path / ONNX_FILE if path.is_dir() else path
    if not graph.is_file():
        raise InputError(f"{os.fspath(path)}: no ONNX graph there (an export folder holds {ONNX_FILE}).")
    return graph


# ---- export -----------------------------------------------------------------------------------------------------


@contextmanager
def _quiet_exporter():
    """Silences, during one export, the messages torch's exporter prints that say nothing about this model: one
    log line per torchvision op it skips when torchvision is not installed, and pytree's `LeafSpec` deprecation
    warning (raised inside torch.export)."""

    class _DropTorchvision(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return not record.getMessage().startswith("torchvision is not installed")

    registration_logger = logging.getLogger("torch.onnx._internal.exporter._registration")
    drop = _DropTorchvision()
    registration_logger.addFilter(drop)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
            yield
    finally:
        registration_logger.removeFilter(drop)


def _example_inputs(config, batch_lengths: list[int], seed: int):
    """Right-padded int64 `(ids, mask)` with `<cls>` first and random k-mer ids, one row per length."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    length = max(batch_lengths)
    special = {config.pad_token_id, config.mask_token_id, config.cls_token_id, getattr(config, "eos_token_id", None)}
    low = max(s for s in special if s is not None) + 3  # past <unk>, <pad>, <mask>, <cls>, <eos>, <bos>
    ids = torch.randint(low, config.vocab_size, (len(batch_lengths), length), generator=generator)
    ids[:, 0] = config.cls_token_id if config.cls_token_id is not None else low
    mask = torch.zeros_like(ids)
    for row, n in enumerate(batch_lengths):
        ids[row, n:] = config.pad_token_id if config.pad_token_id is not None else 0
        mask[row, :n] = 1
    return ids, mask


def _export_module(model, masked_lm: bool):
    """A module whose `forward(input_ids, attention_mask)` returns the one tensor the graph outputs."""
    import torch

    if masked_lm:
        if not hasattr(model, "lm_head"):
            raise InputError(
                f"{type(model).__name__} has no masked-LM head; export it with masked_lm=False (the encoder) or "
                "pass a NucleotideTransformerForMaskedLM."
            )
        core, read = model, "logits"
    else:
        core, read = getattr(model, "base_model", model), "last_hidden_state"

    class _Graph(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.core = core

        def forward(self, input_ids, attention_mask):
            return getattr(self.core(input_ids=input_ids, attention_mask=attention_mask, return_dict=True), read)

    return _Graph().eval()


def _fold_weight_views(model) -> None:
    """Folds, in the exported `onnx_ir` model, the constant ops on weights that the exporter's optimizer leaves for
    being large: v2's SwiGLU reads its gate and value rows as two slices of one weight, which the graph would
    otherwise slice and transpose on every call, and which `quantize_dynamic` cannot quantise (it takes only
    MatMuls whose weight is an initializer): 100 of the 220 MB of the v2-50M graph stayed float32 without this."""
    import onnxscript

    sizes = [value.const_value.size for value in model.graph.initializers.values() if value.const_value is not None]
    if sizes:
        limit = max(sizes)  # each fold replaces its inputs by outputs no larger (slices and transposes)
        onnxscript.optimizer.optimize(model, input_size_limit=limit, output_size_limit=limit)


def _check_exportable(model) -> None:
    from .precision import inference_dtype

    dtype = inference_dtype(model)
    if dtype != "float32":
        raise InputError(
            f"Cannot export a {dtype} model to ONNX: export the float32 model (load it with dtype='float32') and "
            "quantise the ONNX graph with quantize_onnx_int8."
        )
    devices = {tensor.device.type for tensor in (*model.parameters(), *model.buffers())}
    if devices - {"cpu"}:
        raise InputError(f"ONNX export runs on the CPU; the model is on {', '.join(sorted(devices))}: model.cpu().")


def export_onnx(
    model: Any,
    out_dir: str | os.PathLike,
    *,
    masked_lm: bool = True,
    tokenizer: Any = None,
    opset: int | None = None,
    example_length: int = 16,
    verify: bool = True,
) -> dict[str, Any]:
    """Exports `model` to `out_dir/model.onnx` with its `config.json` and tokenizer files beside it (module docstring).

    `model` is a model folder or Hub id (loaded in float32 with its tokenizer by `loading.load_model_and_tokenizer`)
    or a float32 model in memory (`NucleotideTransformerForMaskedLM`, or any NT model with `masked_lm=False`), whose
    `tokenizer`, if given, is saved beside the graph. `masked_lm` exports the masked-LM logits, else the encoder's
    `last_hidden_state`. `opset` is the ONNX opset (default: torch's exporter's). `example_length` is the length of
    the padded example batch the graph is traced on (at most a v1 model's context). `verify` runs onnxruntime on a
    padded batch of other lengths and raises `OnnxVerificationError` if it differs from torch (module docstring).

    Returns `{"path", "files", "opset", "inputs", "outputs", "dynamic_axes", "max_abs_diff", "export_seconds"}`
    (`max_abs_diff` is `None` without `verify`). Errors: `InputError` for a non-float32 model, a missing folder or
    missing ONNX packages.
    """
    _require("onnx", "onnxscript", *(("onnxruntime",) if verify else ()))
    import onnx
    import torch

    if isinstance(model, (str, os.PathLike)):
        from transformers import AutoModel, AutoModelForMaskedLM

        from .loading import load_model_and_tokenizer

        model, tokenizer = load_model_and_tokenizer(
            model, AutoModelForMaskedLM if masked_lm else AutoModel, dtype="float32", progress=False
        )
    _check_exportable(model)
    config = model.config
    absolute = config.position_embedding_type == "absolute"
    if example_length < 4 or (absolute and example_length > config.context_length):
        limit = f" and at most the context of {config.context_length} tokens" if absolute else ""
        raise InputError(f"example_length must be at least 4{limit}, got {example_length}.")

    out_dir = Path(out_dir).expanduser()
    out_dir.mkdir(parents=True, exist_ok=True)
    graph_path = out_dir / ONNX_FILE
    for stale in (graph_path, out_dir / f"{ONNX_FILE}.data"):
        stale.unlink(missing_ok=True)

    module = _export_module(model, masked_lm)
    # Traced on a padded batch (the second row half padding), so the mask path is part of the graph.
    example = _example_inputs(config, [example_length, example_length // 2 + 1], seed=0)
    batch = torch.export.Dim("batch")
    sequence = torch.export.Dim("sequence", max=config.context_length) if absolute else torch.export.Dim("sequence")
    # The mask's axes are the ids' axes; naming them twice makes the exporter warn that the names are not used.
    dynamic_shapes = {
        "input_ids": {0: batch, 1: sequence},
        "attention_mask": {0: torch.export.Dim.DYNAMIC, 1: torch.export.Dim.DYNAMIC},
    }
    was_training = model.training
    model.eval()
    started = time.perf_counter()
    try:
        with _quiet_exporter(), torch.no_grad():
            program = torch.onnx.export(
                module,
                example,
                dynamo=True,
                input_names=list(INPUT_NAMES),
                output_names=[OUTPUT_NAMES[masked_lm]],
                dynamic_shapes=dynamic_shapes,
                opset_version=opset,
                verbose=False,
            )
        _fold_weight_views(program.model)
        program.save(graph_path)  # weights inside the file unless they pass 1.5 GiB (then model.onnx.data)
    finally:
        model.train(was_training)
    export_seconds = time.perf_counter() - started

    config.save_pretrained(out_dir)
    if tokenizer is not None:
        tokenizer.save_pretrained(out_dir)

    max_abs_diff = _verify(model, module, graph_path, config, example_length) if verify else None
    saved = onnx.load(graph_path, load_external_data=False)
    return {
        "path": str(graph_path),
        "files": sorted(p.name for p in out_dir.iterdir() if p.is_file()),
        "opset": next(entry.version for entry in saved.opset_import if entry.domain in ("", "ai.onnx")),
        "inputs": [i.name for i in saved.graph.input],
        "outputs": [o.name for o in saved.graph.output],
        "dynamic_axes": list(DYNAMIC_AXES),
        "max_abs_diff": max_abs_diff,
        "export_seconds": round(export_seconds, 2),
    }


def _verify(model, module, graph_path: Path, config, example_length: int) -> float:
    """Largest |onnxruntime - torch| on a padded batch of two lengths the graph was not traced on."""
    import torch

    longest = example_length + 3
    if config.position_embedding_type == "absolute":
        longest = min(longest, config.context_length)
    ids, mask = _example_inputs(config, [longest // 2 + 2, longest], seed=1)
    with torch.no_grad():
        reference = module(ids, mask).float().numpy()
    got = run_onnx(onnx_session(graph_path), ids.numpy(), mask.numpy())
    diff = float(np.abs(got - reference).max())
    allowed = VERIFY_TOLERANCE * max(1.0, float(np.abs(reference).max()))
    if not np.isfinite(diff) or diff > allowed:
        raise OnnxVerificationError(
            f"{graph_path}: onnxruntime differs from torch by {diff:.3g} (allowed {allowed:.3g}) on a padded batch."
        )
    return diff


# ---- int8 -------------------------------------------------------------------------------------------------------


def quantize_onnx_int8(src: str | os.PathLike, dst: str | os.PathLike, *, per_channel: bool = True) -> dict[str, Any]:
    """Writes an int8 copy of the float32 graph `src` to `dst` with onnxruntime's dynamic quantisation
    (`onnxruntime.quantization.quantize_dynamic`): MatMul/Gemm weights stored as int8 (`QInt8`) and run as
    `MatMulInteger` on activations quantised per call (`DynamicQuantizeLinear`, uint8, one scale per tensor). The
    attention products (of two activations), the embedding table, LayerNorm, softmax and the rest stay float32, as in
    torch's int8 (`precision`).

    `src` and `dst` are export folders (holding / to hold `model.onnx`; the config and tokenizer files are copied
    along) or `.onnx` files. `per_channel=True` (the default) gives each output column of a weight its own scale:
    measured on the shipped small model (data/models/, held-out yeast DNA), its masked-LM argmax agrees with float32
    at 95.9% of tokens against 92.0% with one scale per weight matrix, and on the v2-50M shape it runs at the same
    speed within noise (the scales multiply the integer product's columns either way); see docs/onnx.md.

    Returns `{"path", "size_bytes", "float32_size_bytes"}`.
    """
    _require("onnx", "onnxruntime")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source = _graph_path(src)
    dst = Path(dst).expanduser()
    target = dst if dst.suffix == ".onnx" else dst / ONNX_FILE
    if target.resolve() == source.resolve():
        raise InputError(f"{os.fspath(dst)}: the int8 graph would overwrite its float32 source; choose another place.")
    target.parent.mkdir(parents=True, exist_ok=True)
    big = (source.parent / f"{source.name}.data").exists() or source.stat().st_size >= 2**31
    onnx_logger = logging.getLogger()
    # quantize_dynamic logs, on the root logger, a warning that asks for its pre-processing (shape inference and
    # graph fusions, made for static quantisation); the exporter's graph already carries the shapes it needs.
    preprocessing_note = _DropMessage("Please consider to run pre-processing before quantization")
    onnx_logger.addFilter(preprocessing_note)
    try:
        quantize_dynamic(
            source,
            target,
            op_types_to_quantize=["MatMul"],  # not Gather: the embedding table stays float32 (module docstring)
            per_channel=per_channel,
            weight_type=QuantType.QInt8,
            use_external_data_format=big,
        )
    finally:
        onnx_logger.removeFilter(preprocessing_note)
    if source.parent.resolve() != target.parent.resolve():
        for name in _SIDE_FILES:
            if (source.parent / name).is_file():
                shutil.copy2(source.parent / name, target.parent / name)
    return {
        "path": str(target),
        "size_bytes": _graph_bytes(target),
        "float32_size_bytes": _graph_bytes(source),
    }


class _DropMessage(logging.Filter):
    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefix)


def _graph_bytes(graph: Path) -> int:
    data = graph.parent / f"{graph.name}.data"
    return graph.stat().st_size + (data.stat().st_size if data.exists() else 0)


# ---- onnxruntime ------------------------------------------------------------------------------------------------


def onnx_session(path: str | os.PathLike, threads: int | None = None):
    """An `onnxruntime.InferenceSession` on the CPU (`CPUExecutionProvider`) for the graph `path` (an export folder
    or a `.onnx` file), with `threads` intra-op threads (default: onnxruntime's, one per physical core)."""
    _require("onnxruntime")
    import onnxruntime

    graph = _graph_path(path)
    options = onnxruntime.SessionOptions()
    if threads is not None:
        if threads < 1:
            raise InputError(f"threads must be at least 1, got {threads}.")
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(graph), sess_options=options, providers=["CPUExecutionProvider"])


def run_onnx(session, input_ids, attention_mask) -> np.ndarray:
    """The graph's single output (`logits` or `last_hidden_state`) as float32 numpy for int64 `(batch, sequence)`
    `input_ids` and `attention_mask` (numpy arrays, torch tensors or nested lists)."""
    feeds = {}
    for name, value in zip(INPUT_NAMES, (input_ids, attention_mask)):
        if hasattr(value, "detach"):  # a torch tensor
            value = value.detach().cpu().numpy()
        array = np.asarray(value, dtype=np.int64)
        if array.ndim != 2:
            raise InputError(f"{name} must be 2-D (batch, sequence), got shape {array.shape}.")
        feeds[name] = array
    if feeds["input_ids"].shape != feeds["attention_mask"].shape:
        raise InputError(
            f"input_ids {feeds['input_ids'].shape} and attention_mask {feeds['attention_mask'].shape} differ in shape."
        )
    (output,) = session.run(None, feeds)
    return np.asarray(output, dtype=np.float32)


__all__ = [
    "DYNAMIC_AXES",
    "INPUT_NAMES",
    "ONNX_FILE",
    "OUTPUT_NAMES",
    "VERIFY_TOLERANCE",
    "OnnxVerificationError",
    "export_onnx",
    "onnx_session",
    "quantize_onnx_int8",
    "run_onnx",
]
