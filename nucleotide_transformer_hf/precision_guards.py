"""Accuracy guards of the reduced precisions (`precision.DTYPES`) against float32, on given DNA.

`accuracy_guards` runs a prepared copy of a float32 model against the float32 model itself, through the inference
engine: mean-pooled embedding cosine, variant-score Spearman (the package's own variant scoring), masked-LM top-1
agreement. `GUARD_THRESHOLDS` holds the targets, `guard_verdicts` the pass/fail. The benchmark
(`benchmarks/run.py`) prints them beside the speed (docs/precision.md).
"""

import copy
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .precision import _device_of, check_dtype, inference_dtype, prepare_for_inference

GUARD_THRESHOLDS = {"embedding_cosine_mean": 0.99, "variant_spearman": 0.98}
"""The issue's accuracy targets for a reduced precision against float32: mean over sequences of the mean-pooled
embedding cosine >= 0.99, Spearman of the variants' cosine-distance scores >= 0.98. (`embedding_cosine_min` and the
masked-LM top-1 agreement are reported beside them, without a target.)"""


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _rank_correlation(pairs, score: str, transform=lambda x: x) -> float:
    """Spearman of one score over (float32 result, candidate result) pairs; 1 for equal constant scores, nan for
    other constant ones or fewer than two pairs."""
    from scipy.stats import spearmanr

    if len(pairs) < 2:
        return math.nan
    x = [transform(f[score]) for f, _ in pairs]
    y = [transform(c[score]) for _, c in pairs]
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 1.0 if x == y else math.nan
    return float(spearmanr(x, y).statistic)


def _masked_lm_passes(model, tokenizer, sequences: Sequence[str], mask_fraction: float, seed: int):
    """One pass per sequence: its first window (the model's context), a fixed seeded `mask_fraction` of its tokens
    (at least one) replaced by `<mask>` all at once, read at those positions; and the true token ids there."""
    from .dna import context_tokens
    from .inference import WHITESPACE, ForwardPass, tokenize_whole

    capacity = context_tokens(model.config, tokenizer)
    rng = np.random.default_rng(seed)
    passes, truths = [], []
    for ids in tokenize_whole(tokenizer, [s.translate(WHITESPACE) for s in sequences])[0]:
        window = np.concatenate([[tokenizer.cls_token_id], ids[:capacity]]).astype(np.int64)
        tokens = len(window) - 1
        count = min(tokens, max(1, round(mask_fraction * tokens)))
        positions = np.sort(rng.choice(np.arange(1, tokens + 1), size=count, replace=False))
        truths.append(window[positions].copy())
        window[positions] = tokenizer.mask_token_id
        passes.append(ForwardPass(window, "log_probs", positions=tuple(int(p) for p in positions)))
    return passes, truths


def accuracy_guards(
    reference_model,
    tokenizer,
    dtype: str | Sequence[str],
    sequences: Sequence[str],
    variants: Sequence[dict[str, Any]] | None = None,
    *,
    mask_fraction: float = 0.15,
    seed: int = 0,
    batch_size: int = 8,
) -> dict[str, Any]:
    """How close `dtype` stays to float32 on real inputs: a deep copy of `reference_model` (a float32 model, left
    untouched) is prepared in `dtype` (`prepare_for_inference`), then both run through the inference engine.

    * `embedding_cosine_mean` / `_min`: cosine between the two mean-pooled last-layer embeddings
      (`inference.embed_sequences`) of each of `sequences`, mean and minimum over them.
    * `variant_spearman` (with `variants`, in `score_variants` form): Spearman rank correlation
      (`scipy.stats.spearmanr`) of the cosine distances `1 - cosine_similarity` that `variant_scoring.score_variants`
      gives in `dtype` and in float32, over the variants scored in both; `variant_mlm_spearman` the same for
      `mlm_log_ratio` when the model has a masked-LM head; `variants_scored` how many.
    * `mlm_top1_agreement` (masked-LM models only): in the first window of each sequence a fixed seeded
      `mask_fraction` of tokens (at least one) is replaced by `<mask>` at once; the fraction of masked positions where
      the argmax token of `dtype` equals that of float32 (`masked_positions` of them). `mlm_top1_accuracy_float32` is
      float32's own top-1 accuracy there (the true tokens): near 1/4,096 for random weights, so agreement between two
      near-uniform guesses is then little evidence.

    Returns a dict of floats (`nan` for a Spearman of constant scores); for a list of dtypes, `{dtype: that dict}`,
    the float32 outputs computed once. `ValueError` if `reference_model` is not float32.
    """
    from .inference import embed_sequences, run_forward_passes
    from .variant_scoring import score_variants

    if inference_dtype(reference_model) != "float32":
        raise ValueError(
            f"accuracy_guards compares against float32; the reference model is {inference_dtype(reference_model)}."
        )
    dtypes = [dtype] if isinstance(dtype, str) else list(dtype)
    for name in dtypes:
        check_dtype(name, _device_of(reference_model))
    if not sequences:
        raise ValueError("accuracy_guards needs at least one sequence.")
    has_head = getattr(reference_model, "lm_head", None) is not None
    pad = tokenizer.pad_token_id
    passes, truths = (
        _masked_lm_passes(reference_model, tokenizer, sequences, mask_fraction, seed) if has_head else ((), ())
    )

    def outputs(model) -> dict[str, Any]:
        out: dict[str, Any] = {"embeddings": embed_sequences(model, tokenizer, sequences, batch_size=batch_size)}
        if variants:
            out["scores"] = score_variants(model, tokenizer, variants, batch_size=batch_size)
        if has_head:
            reads = run_forward_passes(model, passes, batch_size=batch_size, pad_token_id=pad)
            out["top1"] = np.concatenate([r.argmax(axis=-1) for r in reads])
        return out

    reference = outputs(reference_model)
    found: dict[str, dict[str, float]] = {}
    for name in dtypes:
        candidate = outputs(prepare_for_inference(copy.deepcopy(reference_model), name))
        cosines = [_cosine(a, b) for a, b in zip(reference["embeddings"], candidate["embeddings"])]
        guards = {
            "sequences": float(len(cosines)),
            "embedding_cosine_mean": float(np.mean(cosines)),
            "embedding_cosine_min": float(np.min(cosines)),
        }
        if variants:
            both = [
                (f, c)
                for f, c in zip(reference["scores"], candidate["scores"])
                if f["status"] == "scored" and c["status"] == "scored"
            ]
            guards["variants_scored"] = float(len(both))

            guards["variant_spearman"] = _rank_correlation(both, "cosine_similarity", lambda v: 1.0 - v)
            if has_head:
                guards["variant_mlm_spearman"] = _rank_correlation(both, "mlm_log_ratio")
        if has_head:
            truth = np.concatenate(truths)
            guards["masked_positions"] = float(truth.size)
            guards["mlm_top1_agreement"] = float(np.mean(reference["top1"] == candidate["top1"]))
            guards["mlm_top1_accuracy_float32"] = float(np.mean(reference["top1"] == truth))
        found[name] = guards
    return found[dtype] if isinstance(dtype, str) else found


def guard_verdicts(guards: dict[str, float], thresholds: dict[str, float] | None = None) -> dict[str, str]:
    """`"met"`, `"missed"` or `"not measured"` (absent or nan) for each target of `thresholds` (default
    `GUARD_THRESHOLDS`), a value meeting its target when it is at least the threshold."""
    verdicts = {}
    for name, floor in (thresholds or GUARD_THRESHOLDS).items():
        value = guards.get(name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            verdicts[name] = "not measured"
        else:
            verdicts[name] = "met" if value >= floor else "missed"
    return verdicts


__all__ = ["GUARD_THRESHOLDS", "accuracy_guards", "guard_verdicts"]
