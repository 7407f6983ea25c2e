"""The `"dna-embedding"` and `"variant-effect"` transformers pipelines.

Importing the package registers both tasks in transformers' pipeline registry (as soon as `transformers.pipelines` is
imported):

    from transformers import pipeline
    embed = pipeline("dna-embedding", model=model, tokenizer=tokenizer)
    embed(["ACGT...", "GGT..."], pooling="mean", layers=-1)          # list of numpy arrays
    score = pipeline("variant-effect", model=mlm_model, tokenizer=tokenizer)
    score({"sequence": reference, "position": 6000, "ref": "A", "alt": "G"})

They are thin: `preprocess` plans the windows of the whole call (`inference.embedding_plan`,
`variant_scoring.variant_plan`), `_forward` runs them through the inference engine, `postprocess` pools or scores.
The rules (pooling, layers, long sequences, variant windows and scores) are in those two modules' docstrings.

**Precision.** Both take `dtype=` (`"float32"`, `"bfloat16"`, `"int8"`: `precision.DTYPES`, docs/precision.md):

    embed = pipeline("dna-embedding", model=model, tokenizer=tokenizer, dtype="int8")

The pipeline then runs `precision.prepare_for_inference` on a deep copy of its model, so the model given stays as it
was (an int8 preparation cannot be undone, and a bf16 cast would round the caller's float32 weights); a model already
in that precision is used as it is. Through `transformers.pipeline(...)` the names arrive as torch dtypes
(`torch.float32`, `torch.bfloat16`, `torch.int8`) and are read the same way; a model loaded by path with
`dtype="int8"` is first loaded in float32 (transformers says it falls back to float32), then quantised. Without
`dtype` (transformers' default `"auto"`) the model runs as given.
"""

import copy

import torch
from transformers import Pipeline

from .inference import DEFAULT_BATCH_SIZE, assemble_embeddings, embedding_plan, run_forward_passes
from .precision import DTYPES, inference_dtype, prepare_for_inference
from .variant_scoring import finish_variant_scores, variant_plan


def pipeline_dtype(dtype) -> str | None:
    """The precision of `precision.DTYPES` a pipeline's `dtype=` asks for: one of those names, or the torch dtype
    `transformers.pipeline` turns it into (`torch.float32`, `torch.bfloat16`, `torch.int8`); `None` for `None`,
    `"auto"` and other torch dtypes (transformers' own loading dtype, e.g. `torch.float16`: the model runs as loaded).
    An unknown string is an `InputError` (from `precision.check_dtype`)."""
    from .precision import check_dtype

    if dtype is None or dtype == "auto":
        return None
    if isinstance(dtype, torch.dtype):
        name = str(dtype).removeprefix("torch.")
        return name if name in DTYPES else None
    return check_dtype(str(dtype))


class _WholeCallPipeline(Pipeline):
    """A pipeline whose `preprocess` sees every input of a call at once, so windows can be shared and sorted by length
    across inputs; `forward` then runs all batches and `postprocess` restores the input order."""

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = True

    def __init__(self, *args, dtype=None, **kwargs):
        super().__init__(*args, **kwargs)
        wanted = pipeline_dtype(dtype)
        if wanted is not None:
            if inference_dtype(self.model) != wanted:
                self.model = copy.deepcopy(self.model)
            self.model = prepare_for_inference(self.model, wanted)

    def __call__(self, inputs, **kwargs):
        """Runs the pipeline on one input (a string or dict) or an iterable of them; returns one result or a list."""
        single = isinstance(inputs, (str, dict))
        batch_size = kwargs.pop("batch_size", None) or self._batch_size or DEFAULT_BATCH_SIZE
        preprocess_params, forward_params, postprocess_params = self._sanitize_parameters(**kwargs)
        preprocess_params = {**self._preprocess_params, **preprocess_params}
        forward_params = {**self._forward_params, **forward_params, "batch_size": batch_size}
        postprocess_params = {**self._postprocess_params, **postprocess_params}
        outputs = self.run_single(
            [inputs] if single else list(inputs), preprocess_params, forward_params, postprocess_params
        )
        return outputs[0] if single else outputs

    def get_inference_context(self):
        return torch.inference_mode


class DnaEmbeddingPipeline(_WholeCallPipeline):
    """Task `"dna-embedding"`: DNA sequences in, numpy embeddings out (one array per sequence).

    Call options: `pooling` (`"mean"`, `"cls"`, `"token"`, `"nucleotide"`), `layers` (int or list),
    `window_overlap` and `max_window_tokens` (long sequences), `batch_size`, `progress`. Construction option: `dtype`
    (precision). Rules: module docstring.
    """

    def _sanitize_parameters(
        self, pooling=None, layers=None, window_overlap=None, max_window_tokens=None, progress=None, **kwargs
    ):
        if kwargs:
            raise TypeError(f"Unknown dna-embedding options: {', '.join(sorted(kwargs))}.")
        preprocess, forward = {}, {}
        if pooling is not None:
            preprocess["pooling"] = pooling
        if layers is not None:
            preprocess["layers"] = forward["layers"] = layers
        if window_overlap is not None:
            preprocess["window_overlap"] = window_overlap
        if max_window_tokens is not None:
            preprocess["max_window_tokens"] = max_window_tokens
        if progress is not None:
            forward["progress"] = progress
        return preprocess, forward, {}

    def preprocess(self, sequences, pooling="mean", layers=-1, window_overlap=None, max_window_tokens=None):
        plan = embedding_plan(
            self.model,
            self.tokenizer,
            sequences,
            pooling=pooling,
            layers=layers,
            window_overlap=window_overlap,
            max_window_tokens=max_window_tokens,
        )
        return {"plan": plan}

    def _forward(self, model_inputs, layers=-1, batch_size=DEFAULT_BATCH_SIZE, progress=False):
        plan = model_inputs["plan"]
        results = run_forward_passes(
            self.model,
            plan.passes,
            layers=layers,
            batch_size=batch_size,
            pad_token_id=self.tokenizer.pad_token_id,
            progress=progress,
        )
        return {"plan": plan, "results": results}

    def postprocess(self, model_outputs):
        return assemble_embeddings(model_outputs["plan"], model_outputs["results"])


class VariantEffectPipeline(_WholeCallPipeline):
    """Task `"variant-effect"`: zero-shot variant scores (cosine similarity, L1/L2 distance, dot product, masked-LM
    log-ratio) from a masked-LM NT model.

    Input: `{"sequence", "position" (0-based), "ref", "alt"}` or `{"ref_sequence", "alt_sequence"}`, or a list of them.
    Output: a dict per variant with `status`, `reason`, `window_start`, `window_end` and the scores (see
    `score_variants`). Call options: `layer`, `pooling` (`"mean"`/`"cls"`), `both_strands`, `window_bp`,
    `window_snap`, `share_windows`, `batch_size`, `progress`. Construction option: `dtype` (precision, module
    docstring).
    """

    def _sanitize_parameters(
        self,
        layer=None,
        pooling=None,
        both_strands=None,
        window_bp=None,
        window_snap=None,
        share_windows=None,
        progress=None,
        **kwargs,
    ):
        if kwargs:
            raise TypeError(f"Unknown variant-effect options: {', '.join(sorted(kwargs))}.")
        preprocess, forward = {}, {}
        for name, value in (
            ("pooling", pooling),
            ("both_strands", both_strands),
            ("window_bp", window_bp),
            ("window_snap", window_snap),
            ("share_windows", share_windows),
        ):
            if value is not None:
                preprocess[name] = value
        if layer is not None:
            preprocess["layer"] = forward["layer"] = layer
        if progress is not None:
            forward["progress"] = progress
        return preprocess, forward, {}

    def preprocess(
        self,
        variants,
        layer=-1,
        pooling="mean",
        both_strands=False,
        window_bp=None,
        window_snap=None,
        share_windows=True,
    ):
        plan = variant_plan(
            self.model,
            self.tokenizer,
            variants,
            layer=layer,
            pooling=pooling,
            both_strands=both_strands,
            window_bp=window_bp,
            window_snap=window_snap,
            share_windows=share_windows,
        )
        return {"plan": plan}

    def _forward(self, model_inputs, layer=-1, batch_size=DEFAULT_BATCH_SIZE, progress=False):
        plan = model_inputs["plan"]
        results = run_forward_passes(
            self.model,
            plan.passes,
            layers=layer,
            batch_size=batch_size,
            pad_token_id=self.tokenizer.pad_token_id,
            progress=progress,
            description="variant windows",
        )
        return {"plan": plan, "results": results}

    def postprocess(self, model_outputs):
        return finish_variant_scores(model_outputs["plan"], model_outputs["results"])


def register_pipelines() -> None:
    """Registers `"dna-embedding"` and `"variant-effect"` in transformers' pipeline registry (safe to call again)."""
    from transformers import AutoModel, AutoModelForMaskedLM
    from transformers.pipelines import PIPELINE_REGISTRY

    for task, pipeline_class, model_class in (
        ("dna-embedding", DnaEmbeddingPipeline, AutoModel),
        ("variant-effect", VariantEffectPipeline, AutoModelForMaskedLM),
    ):
        if PIPELINE_REGISTRY.supported_tasks.get(task, {}).get("impl") is pipeline_class:
            continue
        PIPELINE_REGISTRY.register_pipeline(task, pipeline_class=pipeline_class, pt_model=model_class, type="text")


__all__ = ["DnaEmbeddingPipeline", "VariantEffectPipeline", "pipeline_dtype", "register_pipelines"]
