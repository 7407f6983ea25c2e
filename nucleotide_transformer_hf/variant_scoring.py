"""Zero-shot variant-effect scores: checking each variant, planning its windows, and the scores.

`score_variants` is the library function; the `"variant-effect"` pipeline, `score-variants` (a VCF, in
`variants.py`) and `evaluate-variants` call it or its two halves (`variant_plan` before the forward passes of the
inference engine, `finish_variant_scores` after). Rules:

* **Variant input.** `{"sequence", "position", "ref", "alt"}` (`position` 0-based, counted after whitespace removal)
  or `{"ref_sequence", "alt_sequence"}` (same length, differing at one base). Malformed input (missing keys, a REF
  that does not fit in the sequence) raises `ValueError` naming the variant's index.
* **Variant windows.** A variant at 0-based `position` of a sequence longer than `window_bp` (default: the context,
  `(context - 1) × 6` bases) is scored on the window `[s, s + window_bp)` with `s = position - window_bp // 2`
  rounded to the nearest multiple of `window_snap` (default `window_bp // 8`, a multiple of 6) and clamped into the
  sequence; the variant therefore lies within `window_snap / 2` of the centre, and nearby variants get the very same
  window, whose reference passes are then computed once. A sequence no longer than `window_bp` is used whole. If a
  window has more tokens than the context (many `N`), the block of tokens centred on the window's middle is kept; a
  variant that falls outside it is skipped with a reason.
* **Scores** (`SCORE_NAMES`), between the pooled (`pooling` = `"mean"` or `"cls"`, at `layer`) embeddings `r` of the
  reference window and `a` of the alternative window: `cosine_similarity = r·a / (|r| |a|)`, `l1_distance =
  Σ|r - a|`, `l2_distance = sqrt(Σ(r - a)²)`, `dot_product = r·a`; and `mlm_log_ratio = log p(alt token) - log
  p(ref token)`, both read from the masked-LM head's softmax at the variant's token when that token is replaced by
  `<mask>` in the reference window (the alt token is the ref token with the variant base substituted; the head runs
  in float64 so that the float32 log-probabilities do not depend on memory layout, e.g. across processes).
  `both_strands=True` also scores the reverse complement of both windows (variant mirrored, alleles complemented)
  and reports the mean of the two strands for each score.
* **Per-variant outcome.** `status` is `"scored"`, `"flagged"` (the stated REF disagrees with the sequence) or
  `"skipped"`, with a `reason` (`"indel: ..."`, `"mnv: ..."`, `"symbolic: ..."`, `"allele: ..."`, `"window: ..."`).
  Only single-nucleotide variants are scored; equal-length alleles sharing bases (`AC>AT`) are trimmed to the SNV.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .dna import KMER_SIZE, complement, context_bp, context_tokens, reverse_complement
from .inference import (
    DEFAULT_BATCH_SIZE,
    WHITESPACE,
    ForwardPass,
    normalise_layers,
    run_forward_passes,
    tokenize_whole,
)

VARIANT_POOLINGS = ("mean", "cls")
"""Pooling modes for the embedding-distance variant scores."""

SCORE_NAMES = ("cosine_similarity", "l1_distance", "l2_distance", "dot_product", "mlm_log_ratio")
"""The zero-shot variant scores, in output order."""

STATUSES = ("scored", "flagged", "skipped")
"""Per-variant outcomes."""


def default_window_snap(window_bp: int) -> int:
    """Default grid for variant-window starts: `window_bp // 8` rounded down to a multiple of 6 (at least 6)."""
    return max(KMER_SIZE, window_bp // 8 // KMER_SIZE * KMER_SIZE)


def variant_window(length: int, position: int, window_bp: int, snap: int) -> tuple[int, int]:
    """`[start, end)` of the window scored for a variant at 0-based `position` of a sequence of `length` bases.

    The whole sequence when `length <= window_bp`; else `position - window_bp // 2` rounded to the nearest multiple
    of `snap` (halves round up) and clamped into the sequence.
    """
    if window_bp < 1 or snap < 1 or snap > max(1, window_bp // 2):
        raise ValueError(f"Need window_bp >= 1 and 1 <= window_snap <= window_bp // 2; got {window_bp}, {snap}.")
    if length <= window_bp:
        return 0, length
    start = (position - window_bp // 2 + snap // 2) // snap * snap
    start = min(max(start, 0), length - window_bp)
    return start, start + window_bp


# ---- variant scores -------------------------------------------------------------------------------------------


def classify_alleles(ref: str, alt: str) -> tuple[int, str, str] | str:
    """Reduces a REF/ALT pair to a single-nucleotide change, or says why it is not one.

    Returns `(shift, ref_base, alt_base)` for an SNV (`shift` = bases trimmed from the left of equal-length alleles,
    so `AC>AT` is `(1, "C", "T")`), else the reason it is skipped (`"indel: ..."`, `"mnv: ..."`, `"symbolic: ..."`,
    `"allele: ..."`).
    """
    ref_u, alt_u = ref.upper(), alt.upper()
    if alt_u in (".", "*", "") or alt_u.startswith("<") or "[" in alt_u or "]" in alt_u:
        return f"symbolic: ALT {alt!r} is not a sequence allele"
    if set(ref_u + alt_u) - set("ACGTN"):
        return f"allele: REF {ref!r} / ALT {alt!r} contain letters other than A, C, G, T, N"
    if ref_u == alt_u:
        return f"allele: ALT {alt!r} equals REF"
    if len(ref_u) != len(alt_u):
        return f"indel: REF {len(ref_u)} bp, ALT {len(alt_u)} bp; only single-nucleotide variants are scored"
    while len(ref_u) > 1 and ref_u[-1] == alt_u[-1]:
        ref_u, alt_u = ref_u[:-1], alt_u[:-1]
    shift = 0
    while len(ref_u) > 1 and ref_u[0] == alt_u[0]:
        ref_u, alt_u, shift = ref_u[1:], alt_u[1:], shift + 1
    if len(ref_u) > 1:
        return f"mnv: {len(ref_u)} adjacent bases change; only single-nucleotide variants are scored"
    if "N" in ref_u + alt_u:
        return "allele: an N allele has no 6-mer to score"
    return shift, ref_u, alt_u


@dataclass
class VariantPlan:
    """Forward passes and bookkeeping for a list of variants (built by `plan_variant_scores`)."""

    results: list[dict[str, Any]]
    passes: list[ForwardPass] = field(default_factory=list)
    # per scored variant and strand: (variant index, ref pass, alt pass, masked pass, ref token id, alt token id)
    links: list[tuple[int, int, int, int, int, int]] = field(default_factory=list)
    both_strands: bool = False


def _unscored(status: str, reason: str) -> dict[str, Any]:
    return {
        "status": status,
        "reason": reason,
        "window_start": None,
        "window_end": None,
        **{name: math.nan for name in SCORE_NAMES},
    }


def _parse_variant(index: int, item: Any) -> tuple[str, int, str, str] | dict[str, Any]:
    """(sequence, position, ref, alt) of one pipeline input, or its unscored result; malformed input raises."""
    if not isinstance(item, dict):
        raise TypeError(
            f"Variant {index} is a {type(item).__name__}; expected a dict with sequence/position/ref/alt "
            "or ref_sequence/alt_sequence."
        )
    if "ref_sequence" in item or "alt_sequence" in item:
        ref_seq, alt_seq = item.get("ref_sequence"), item.get("alt_sequence")
        if not isinstance(ref_seq, str) or not isinstance(alt_seq, str):
            raise ValueError(f"Variant {index}: ref_sequence and alt_sequence must both be strings.")
        ref_seq, alt_seq = ref_seq.translate(WHITESPACE), alt_seq.translate(WHITESPACE)
        if len(ref_seq) != len(alt_seq):
            return _unscored(
                "skipped",
                f"indel: sequences of {len(ref_seq)} and {len(alt_seq)} bp; only single-nucleotide variants are scored",
            )
        diff = np.flatnonzero(
            np.frombuffer(ref_seq.upper().encode(), np.uint8) != np.frombuffer(alt_seq.upper().encode(), np.uint8)
        )
        if diff.size == 0:
            return _unscored("skipped", "allele: ref and alt sequences are identical")
        if diff.size > 1:
            return _unscored(
                "skipped",
                f"mnv: the sequences differ at {diff.size} positions; only single-nucleotide variants are scored",
            )
        position = int(diff[0])
        return ref_seq, position, ref_seq[position], alt_seq[position]
    missing = [key for key in ("sequence", "position", "ref", "alt") if key not in item]
    if missing:
        raise ValueError(
            f"Variant {index} lacks {', '.join(missing)}; give sequence, position (0-based), ref and alt, "
            "or ref_sequence and alt_sequence."
        )
    sequence, position, ref, alt = item["sequence"], item["position"], item["ref"], item["alt"]
    if not isinstance(sequence, str) or not isinstance(ref, str) or not isinstance(alt, str):
        raise ValueError(f"Variant {index}: sequence, ref and alt must be strings.")
    if isinstance(position, bool) or not isinstance(position, (int, np.integer)):
        raise ValueError(f"Variant {index}: position must be an integer, got {position!r}.")
    sequence = sequence.translate(WHITESPACE)
    if not ref or not 0 <= position <= len(sequence) - len(ref):
        raise ValueError(
            f"Variant {index}: REF {ref!r} at position {position} does not fit in a sequence of "
            f"{len(sequence)} bp (positions are 0-based)."
        )
    found = sequence[position : position + len(ref)]
    if found.upper() != ref.upper():
        return _unscored("flagged", f"mismatch: REF {ref!r} but the sequence has {found!r} at position {position}")
    snv = classify_alleles(ref, alt)
    if isinstance(snv, str):
        return _unscored("skipped", snv)
    shift, ref_base, alt_base = snv
    return sequence, int(position) + shift, ref_base, alt_base


def plan_variant_scores(
    tokenizer,
    variants: Sequence[dict[str, Any]],
    *,
    capacity: int,
    window_bp: int,
    window_snap: int,
    pooling: str = "mean",
    both_strands: bool = False,
    share_windows: bool = True,
) -> VariantPlan:
    """Checks each variant, cuts its windows and lists the forward passes (shared between variants when allowed)."""
    if pooling not in VARIANT_POOLINGS:
        raise ValueError(f"Variant scores pool with one of {VARIANT_POOLINGS}, got {pooling!r}.")
    plan = VariantPlan(results=[], both_strands=both_strands)
    snvs = []  # (variant index, window, offset, ref base, alt base, window start in the given sequence)
    for index, item in enumerate(variants):
        parsed = _parse_variant(index, item)
        if isinstance(parsed, dict):
            plan.results.append(parsed)
            continue
        sequence, position, ref_base, alt_base = parsed
        start, end = variant_window(len(sequence), position, window_bp, window_snap)
        snvs.append((index, sequence[start:end].upper(), position - start, ref_base, alt_base, start))
        plan.results.append({})
    if not snvs:
        return plan

    # Fit each distinct window to the context: keep the token block centred on the window's middle.
    distinct = list(dict.fromkeys(window for _, window, *_ in snvs))
    ids, offsets = tokenize_whole(tokenizer, distinct)
    fitted = {}
    for window, window_ids, window_offsets in zip(distinct, ids, offsets):
        n = len(window_ids)
        if n > capacity:
            middles = (window_offsets[: n - capacity + 1, 0] + window_offsets[capacity - 1 :, 1]) / 2
            k = int(np.argmin(np.abs(middles - len(window) / 2)))
            fitted[window] = (int(window_offsets[k, 0]), int(window_offsets[k + capacity - 1, 1]))
        else:
            fitted[window] = (0, len(window))
    strands_to_tokenize = []
    scored = []
    for index, window, offset, ref_base, alt_base, start in snvs:
        lo, hi = fitted[window]
        if not lo <= offset < hi:
            plan.results[index] = _unscored(
                "skipped",
                f"window: the {len(window)} bp window has more tokens than the context holds "
                f"({capacity}) and the variant falls outside the kept block (too many N)",
            )
            continue
        piece = window[lo:hi]
        plan.results[index] = {"status": "scored", "reason": "", "window_start": start + lo, "window_end": start + hi}
        strands = [(piece, offset - lo, ref_base, alt_base)]
        if both_strands:
            strands.append(
                (
                    reverse_complement(piece),
                    hi - 1 - offset,
                    complement(ref_base),
                    complement(alt_base),
                )
            )
        scored.append((index, strands))
        strands_to_tokenize += [s[0] for s in strands]

    distinct = list(dict.fromkeys(strands_to_tokenize))
    tokenized = dict(zip(distinct, zip(*tokenize_whole(tokenizer, distinct))))
    cls_id, mask_id = tokenizer.cls_token_id, tokenizer.mask_token_id
    read = "sum" if pooling == "mean" else "cls"
    shared: dict[tuple, int] = {}

    def add_pass(key: tuple, forward_pass: ForwardPass) -> int:
        if share_windows and key in shared:
            return shared[key]
        plan.passes.append(forward_pass)
        if share_windows:
            shared[key] = len(plan.passes) - 1
        return len(plan.passes) - 1

    for index, strands in scored:
        for piece, offset, _ref_base, alt_base in strands:
            window_ids, window_offsets = tokenized[piece]
            token = int(np.searchsorted(window_offsets[:, 1], offset, side="right"))
            token_start, token_end = window_offsets[token]
            ref_token = piece[token_start:token_end]
            alt_token = ref_token[: offset - token_start] + alt_base + ref_token[offset - token_start + 1 :]
            ref_id, alt_id = (int(i) for i in tokenizer.convert_tokens_to_ids([ref_token, alt_token]))
            full = np.concatenate([[cls_id], window_ids])
            n = len(full)
            ref_pass = add_pass(("ref", piece), ForwardPass(full, read, 1, n))
            alt_ids = full.copy()
            alt_ids[token + 1] = alt_id
            alt_pass = add_pass(("alt", piece, token, alt_id), ForwardPass(alt_ids, read, 1, n))
            masked = full.copy()
            masked[token + 1] = mask_id
            mask_pass = add_pass(("mask", piece, token), ForwardPass(masked, "log_probs", position=token + 1))
            plan.links.append((index, ref_pass, alt_pass, mask_pass, ref_id, alt_id))
    return plan


def _check_variant_layer(model, layer: Any) -> None:
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)):
        raise ValueError(f"Variant scores use one layer (an int hidden-state index), got {layer!r}.")
    normalise_layers(model.config, layer)


def variant_plan(
    model,
    tokenizer,
    variants: Sequence[dict[str, Any]],
    *,
    layer: int = -1,
    pooling: str = "mean",
    both_strands: bool = False,
    window_bp: int | None = None,
    window_snap: int | None = None,
    share_windows: bool = True,
) -> VariantPlan:
    """`plan_variant_scores` with the model's context: `window_bp` defaults to a full context of 6-mers
    (`dna.context_bp`), `window_snap` to `default_window_snap(window_bp)`; checks `layer`."""
    _check_variant_layer(model, layer)
    capacity = context_tokens(model.config, tokenizer)
    window_bp = window_bp or context_bp(model.config, tokenizer)
    return plan_variant_scores(
        tokenizer,
        variants,
        capacity=capacity,
        window_bp=window_bp,
        window_snap=window_snap or default_window_snap(window_bp),
        pooling=pooling,
        both_strands=both_strands,
        share_windows=share_windows,
    )


def _pooled(result: Any) -> np.ndarray:
    vector = result[0] / result[1] if isinstance(result, tuple) else result
    return np.asarray(vector[0], dtype=np.float64)  # one layer


def finish_variant_scores(plan: VariantPlan, results: Sequence[Any]) -> list[dict[str, Any]]:
    """Computes the scores of `SCORE_NAMES` from the read-outs of `plan` (strand mean when both strands ran)."""
    per_variant: dict[int, list[np.ndarray]] = {}
    for index, ref_pass, alt_pass, mask_pass, ref_id, alt_id in plan.links:
        r, a = _pooled(results[ref_pass]), _pooled(results[alt_pass])
        log_probs = results[mask_pass]
        scores = np.array(
            [
                float(r @ a / (np.linalg.norm(r) * np.linalg.norm(a))),
                float(np.abs(r - a).sum()),
                float(np.sqrt(((r - a) ** 2).sum())),
                float(r @ a),
                float(log_probs[alt_id]) - float(log_probs[ref_id]),
            ]
        )
        per_variant.setdefault(index, []).append(scores)
    out = []
    for index, result in enumerate(plan.results):
        result = dict(result)
        if index in per_variant:
            mean = np.mean(per_variant[index], axis=0)
            result.update({name: float(value) for name, value in zip(SCORE_NAMES, mean)})
        out.append(result)
    return out


def score_variants(
    model,
    tokenizer,
    variants: Sequence[dict[str, Any]],
    *,
    layer: int = -1,
    pooling: str = "mean",
    both_strands: bool = False,
    window_bp: int | None = None,
    window_snap: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    share_windows: bool = True,
    progress: bool = False,
    stats: dict[str, int] | None = None,
) -> list[dict[str, Any]]:
    """Zero-shot scores of variants given as `{"sequence", "position" (0-based), "ref", "alt"}` or
    `{"ref_sequence", "alt_sequence"}` dicts; one result dict per variant, in input order.

    Each result has `status`, `reason`, `window_start`/`window_end` (0-based, end exclusive, in the given sequence)
    and the scores of `SCORE_NAMES` (NaN unless scored). Rules in the module docstring. `share_windows=False`
    recomputes the reference passes for every variant (same numbers, for benchmarks). A `stats` dict gets the number
    of forward passes run added under `"forward_passes"`.
    """
    plan = variant_plan(
        model,
        tokenizer,
        variants,
        layer=layer,
        pooling=pooling,
        both_strands=both_strands,
        window_bp=window_bp,
        window_snap=window_snap,
        share_windows=share_windows,
    )
    results = run_forward_passes(
        model,
        plan.passes,
        layers=layer,
        batch_size=batch_size,
        pad_token_id=tokenizer.pad_token_id,
        progress=progress,
        description="variant windows",
    )
    if stats is not None:
        stats["forward_passes"] = stats.get("forward_passes", 0) + len(plan.passes)
    return finish_variant_scores(plan, results)


__all__ = [
    "SCORE_NAMES",
    "STATUSES",
    "VARIANT_POOLINGS",
    "VariantPlan",
    "classify_alleles",
    "default_window_snap",
    "finish_variant_scores",
    "plan_variant_scores",
    "score_variants",
    "variant_plan",
    "variant_window",
]
