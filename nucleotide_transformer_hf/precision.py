"""Inference precision: one `dtype` choice (`"float32"`, `"bfloat16"`, `"int8"`) for every forward pass.

The loader (`loading.load_model_and_tokenizer`, the commands' `--dtype`) and anyone holding a model call
`prepare_for_inference(model, dtype)`; the inference engine reads the result back with `inference_dtype(model)`.
Rules (measurements and reasons in docs/precision.md):

* **`float32`**: the weights as published.
* **`bfloat16`**: the weights themselves in bf16 (`model.to(torch.bfloat16)`), not fp32 weights under autocast:
  measured faster on CPUs with AVX512-BF16/AMX (no per-call cast of every weight) and half the memory. LayerNorm
  and softmax accumulate in float32 inside torch's bf16 kernels; the engine reads hidden states as float32 and runs
  the masked-LM head's log-softmax in float64, as for every dtype. Without a bf16 matrix unit torch emulates bf16
  products (many times slower than fp32): allowed, but `bfloat16_is_native()` says so.
* **`int8`** (CPU only): the encoder's `nn.Linear` layers become torch's dynamically quantised linears
  (`torch.ao.quantization.quantize_dynamic`: int8 per-channel weights, activations quantised per call), packed for
  the oneDNN kernels where the CPU has VNNI or AMX-INT8 and for FBGEMM elsewhere (`int8_engine`). Embeddings,
  LayerNorm, softmax, the masked-LM head (and its log-softmax) and task heads stay float32. The weights on disk stay
  float32/bf16 safetensors: int8 is applied at load. Dynamic quantisation takes one activation scale per input
  tensor, so a batch would let one sequence (and the padding) change another's rounding: the engine therefore runs
  an int8 model one window per forward pass (`runs_windows_alone`), which makes its outputs independent of batching.

Why torch's `quantize_dynamic` and not torchao's `quantize_`: torch 2.13 marks `torch.ao.quantization` deprecated in
favour of torchao, but measured here torchao 0.18's eager `Int8DynamicActivationInt8WeightConfig` ran at 1.15x
float32 on the v2-50M shape and failed under `torch.inference_mode()` (the engine's context), while torch's
oneDNN-packed dynamic linear ran at 2.5-3.2x. The deprecation warning of that call is silenced here, once.

The accuracy guards of these paths against float32 are in `precision_guards` (they run the inference engine, which
reads this module).
"""

import warnings
from collections.abc import Iterable

import torch
from torch import nn

from .errors import InputError

DTYPES = ("float32", "bfloat16", "int8")
"""The inference dtypes, in order of precision."""

INFERENCE_DTYPE_ATTRIBUTE = "nt_inference_dtype"
"""Attribute `prepare_for_inference` sets on a model (read by `inference_dtype`)."""

MATRIX_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8", "fma")
"""The CPU flags (Linux `/proc/cpuinfo` names) that decide which precision path is fast."""


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux `/proc/cpuinfo`; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as handle:
            return set(next(line.split(":", 1)[1].split() for line in handle if line.startswith("flags")))
    except (OSError, StopIteration):
        return set()


def cpu_matrix_features(flags: Iterable[str] | None = None) -> dict[str, bool]:
    """Which matrix instructions the CPU has: the flags of `MATRIX_FLAGS`, plus `vnni` (AVX512-VNNI or AVX-VNNI:
    int8 dot products) and `bf16` (AVX512-BF16 or AMX-BF16: bf16 dot products)."""
    flags = cpu_flags() if flags is None else set(flags)
    features = {flag: flag in flags for flag in MATRIX_FLAGS}
    features["vnni"] = bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})
    features["bf16"] = bool(flags & {"avx512_bf16", "amx_bf16"})
    return features


def bfloat16_is_native(device: str | torch.device = "cpu", flags: Iterable[str] | None = None) -> bool:
    """True on CUDA and on CPUs with bf16 matrix instructions (AVX512-BF16 or AMX-BF16); elsewhere torch emulates
    bf16 products, slower than float32."""
    return torch.device(device).type == "cuda" or cpu_matrix_features(flags)["bf16"]


def int8_engine(flags: Iterable[str] | None = None) -> str:
    """The quantised engine the int8 linears are packed for: `"onednn"` where the CPU has VNNI/AMX-INT8 (measured
    about twice FBGEMM's speed there), else `"fbgemm"` (AVX2), else whatever torch supports (`"qnnpack"` on ARM);
    `InputError` when this torch build has none."""
    supported = set(torch.backends.quantized.supported_engines)
    preferred = ("onednn", "fbgemm", "x86", "qnnpack") if cpu_matrix_features(flags)["vnni"] else ("fbgemm", "x86")
    for engine in (*preferred, "onednn", "qnnpack"):
        if engine in supported:
            return engine
    raise InputError("--dtype int8: this torch build has no quantised CPU engine (fbgemm, onednn or qnnpack).")


def kernel_info() -> dict[str, object]:
    """What torch runs on this CPU: its ATen vector ISA (`torch.backends.cpu.get_cpu_capability()`), whether oneDNN
    (mkldnn) is built in and takes bf16, the quantised engines and the one `int8` uses."""
    info: dict[str, object] = {
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn_available": torch.backends.mkldnn.is_available(),
        "quantized_engines": " ".join(e for e in torch.backends.quantized.supported_engines if e != "none"),
    }
    try:
        info["onednn_bf16_supported"] = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        info["onednn_bf16_supported"] = None
    try:
        info["int8_engine"] = int8_engine()
    except InputError:
        info["int8_engine"] = None
    return info


def check_dtype(dtype: str, device: str | torch.device = "cpu") -> str:
    """`dtype` if it is one of `DTYPES` and runs on `device`; else `InputError` naming the problem."""
    if dtype not in DTYPES:
        raise InputError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}.")
    kind = torch.device(device).type
    if dtype == "int8" and kind != "cpu":
        raise InputError(
            f"--dtype int8 runs on the CPU only (torch's dynamic int8 kernels), not on {kind}; use bfloat16 there."
        )
    return dtype


def inference_dtype(model) -> str:
    """The dtype a model was prepared for (`prepare_for_inference`), else that of its floating-point weights
    (`"float32"`, `"bfloat16"`, or torch's name for another one such as `"float16"`)."""
    marked = getattr(model, INFERENCE_DTYPE_ATTRIBUTE, None)
    if marked is not None:
        return marked
    for parameter in model.parameters():
        if parameter.is_floating_point():
            return str(parameter.dtype).removeprefix("torch.")
    return "float32"


def runs_windows_alone(model) -> bool:
    """Whether the engine must run each window in a forward pass of its own: true for int8 (one activation scale per
    input tensor, see the module docstring)."""
    return inference_dtype(model) == "int8"


def _device_of(model) -> torch.device:
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _encoders(model) -> list[nn.Module]:
    """The encoder stacks (blocks + final LayerNorm) in `model`: the modules whose linears int8 quantises."""
    from .modeling_nucleotide_transformer import NucleotideTransformerEncoder

    found = [m for m in model.modules() if isinstance(m, NucleotideTransformerEncoder)]
    if not found:  # the same class loaded as Hub remote code is another class object
        found = [m for m in model.modules() if type(m).__name__ == "NucleotideTransformerEncoder"]
    return found


def quantize_linears_int8(module: nn.Module, engine: str | None = None) -> nn.Module:
    """Replaces every `nn.Linear` inside `module` (in place) by torch's dynamically quantised int8 linear, packed
    for `engine` (default `int8_engine()`); returns `module`."""
    engine = engine or int8_engine()
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        with warnings.catch_warnings():
            # torch 2.13 deprecates torch.ao.quantization in favour of torchao, whose CPU int8 path is slower here
            # and fails under inference_mode (module docstring); the call still works and is the fast one.
            warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization is deprecated.*")
            warnings.filterwarnings("ignore", message=r".*quantized tensor creation functions.*")
            torch.ao.quantization.quantize_dynamic(module, {nn.Linear}, dtype=torch.qint8, inplace=True)
    finally:
        torch.backends.quantized.engine = previous
    return module


def prepare_for_inference(model, dtype: str = "float32"):
    """Puts `model` (in place) in the precision `dtype` of `DTYPES` for inference and returns it, in eval mode.

    `"float32"` / `"bfloat16"` cast the weights; `"int8"` casts to float32 and quantises the encoder's linear layers
    (CPU only; the embeddings, LayerNorms, softmax, masked-LM head and task heads stay float32). The choice is
    recorded on the model (`inference_dtype`) for the inference engine, `embed`'s manifest and `score-variants`'
    checkpoint fingerprint. An int8 model cannot be prepared again (its float weights are gone): load it anew.
    Errors: `InputError` for an unknown dtype or int8 on a GPU, `ValueError` for an int8 model or one without an
    NT encoder given to int8.
    """
    check_dtype(dtype, _device_of(model))
    if inference_dtype(model) == "int8":
        if dtype == "int8":
            return model.eval()
        raise ValueError("This model is already quantised to int8; load it again to run it in another dtype.")
    if dtype == "int8":
        encoders = _encoders(model)
        if not encoders:
            raise ValueError(f"{type(model).__name__} holds no NT encoder to quantise to int8.")
        model.float()
        engine = int8_engine()
        for encoder in encoders:
            quantize_linears_int8(encoder, engine)
    else:
        model.to(getattr(torch, dtype))
    setattr(model, INFERENCE_DTYPE_ATTRIBUTE, dtype)
    return model.eval()


# ---- accuracy guards -------------------------------------------------------------------------------------------


__all__ = [
    "DTYPES",
    "INFERENCE_DTYPE_ATTRIBUTE",
    "MATRIX_FLAGS",
    "bfloat16_is_native",
    "check_dtype",
    "cpu_flags",
    "cpu_matrix_features",
    "inference_dtype",
    "int8_engine",
    "kernel_info",
    "prepare_for_inference",
    "quantize_linears_int8",
    "runs_windows_alone",
]
