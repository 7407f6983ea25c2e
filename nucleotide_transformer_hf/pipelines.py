"""Embeddings and zero-shot variant scores from Nucleotide Transformer models, as transformers pipelines.

Importing the package registers two tasks in transformers' pipeline registry:

    from transformers import pipeline
    embed = pipeline("dna-embedding", model=model, tokenizer=tokenizer)
    embed(["ACGT...", "GGT..."], pooling="mean", layers=-1)          # list of numpy arrays
    score = pipeline("variant-effect", model=mlm_model, tokenizer=tokenizer)
    score({"sequence": reference, "position": 6000, "ref": "A", "alt": "G"})

Rules (the library functions below implement them once; the pipelines, `score-variants` and the benchmarks call
them):

* **Input.** Whitespace (space, tab, CR, LF) is removed first; every other character goes to the tokenizer's checks,
  which name the character, its position and the sequence's index in the call. Special tokens written in the text
  are refused. An empty sequence is a `ValueError` naming its index.
* **Pooling** (`pooling=`): `"mean"` — mean over the sequence's real tokens (no `<cls>`, no padding); `"cls"` — the
  `<cls>` vector (only for sequences that fit one window); `"token"` — one row per token; `"nucleotide"` — one row
  per base: each token's vector repeated over the bases it covers (6 for a 6-mer, 1 for `N` and for tail single
  nucleotides), so the row count equals the sequence length.
* **Layers** (`layers=`): an index into `hidden_states` (`0` the embeddings, `num_hidden_layers` or `-1` the last
  layer after the final LayerNorm) or a list of them; a list adds a leading layer axis in the order given.
* **Batching.** All windows of a call are sorted by token count and batched `batch_size` at a time, so padding is
  minimal; outputs come back in input order. Padding is masked, so a sequence's result does not depend on its batch.
* **Long sequences.** The sequence is tokenized once; if it has more tokens than a window holds (the model's context
  minus `<cls>`), it is cut into token windows of that size every `size - window_overlap` tokens, the last one
  flush with the end. Each token takes its vector from the window in which it lies farthest from an *inner* window
  edge (sequence ends are not edges: no context is missing there); ties go to the earlier window. Per-token and
  per-nucleotide outputs are stitched that way (100 kb in gives 100 kb × hidden out) and `"mean"` is the mean of the
  stitched tokens — so a sequence that fits one window gets exactly its single-window result. A token window is the
  same as tokenizing the corresponding substring, because windows start and end on token boundaries.
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

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from transformers import Pipeline

from .tokenization_nucleotide_transformer import KMER_SIZE

POOLINGS = ("mean", "cls", "token", "nucleotide")
"""Pooling modes of the embedding pipeline."""

VARIANT_POOLINGS = ("mean", "cls")
"""Pooling modes for the embedding-distance variant scores."""

SCORE_NAMES = ("cosine_similarity", "l1_distance", "l2_distance", "dot_product", "mlm_log_ratio")
"""The zero-shot variant scores, in output order."""

STATUSES = ("scored", "flagged", "skipped")
"""Per-variant outcomes."""

DEFAULT_BATCH_SIZE = 8
"""Windows per forward pass (at the longest window's length) when the caller gives no `batch_size`."""

_WHITESPACE = {ord(c): None for c in " \t\r\n"}
_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")
_HUGE = 1 << 62  # tokenizer max_length that never truncates


def reverse_complement(sequence: str) -> str:
    """Reverse complement of an A/C/G/T/N string (case kept)."""
    return sequence.translate(_COMPLEMENT)[::-1]


def window_tokens(model, tokenizer) -> int:
    """Tokens one window holds besides `<cls>`: the model's context (and the tokenizer's limit) minus one."""
    config = model.config
    limit = getattr(config, "context_length", None) or config.max_position_embeddings
    return int(min(limit, tokenizer.model_max_length)) - 1


def default_window_bp(model, tokenizer) -> int:
    """Bases in a variant window by default: a full context of 6-mers, `(context - 1) × 6`."""
    return window_tokens(model, tokenizer) * KMER_SIZE


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


# ---- forward passes -------------------------------------------------------------------------------------------


@dataclass
class ForwardPass:
    """One window to run through the encoder and what to read from it.

    `ids` starts with `<cls>`. `read` is `"sum"` (sum and count of the vectors at positions `[start, stop)`),
    `"tokens"` (the vectors at `[start, stop)`), `"cls"` (position 0) or `"log_probs"` (masked-LM log-probabilities
    over the vocabulary at `position`).
    """

    ids: np.ndarray
    read: str
    start: int = 1
    stop: int = 0
    position: int = 0


def _normalise_layers(model, layers: int | Sequence[int]) -> tuple[list[int], bool]:
    count = model.config.num_hidden_layers
    single = isinstance(layers, (int, np.integer))
    wanted = [int(layers)] if single else [int(layer) for layer in layers]
    if not wanted:
        raise ValueError("layers must name at least one hidden-state index.")
    for layer in wanted:
        if not -(count + 1) <= layer <= count:
            raise ValueError(
                f"Layer {layer} does not exist: hidden_states has {count + 1} entries (0 = embeddings, "
                f"{count} or -1 = last layer)."
            )
    return [layer % (count + 1) for layer in wanted], single


def run_forward_passes(
    model,
    passes: Sequence[ForwardPass],
    *,
    layers: int | Sequence[int] = -1,
    batch_size: int = DEFAULT_BATCH_SIZE,
    pad_token_id: int = 1,
    progress: bool = False,
    description: str = "forward passes",
) -> list[Any]:
    """Runs `passes` sorted by length in batches and returns what each one asks for, in input order.

    A batch holds `batch_size` passes of the longest length in `passes`, or more of shorter ones: as many as fit in
    the same number of padded tokens (`batch_size` x the longest length), so that short windows run in larger,
    more efficient batches at no more memory than a batch of long ones.

    `"sum"` gives `(sums (n_layers, hidden), count)`, `"tokens"` `(n_layers, stop - start, hidden)`, `"cls"`
    `(n_layers, hidden)`, all float32 numpy at the hidden-state indexes `layers`; `"log_probs"` a float32 vector
    over the vocabulary (needs a model with an `lm_head`).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    layer_indexes, _ = _normalise_layers(model, layers)
    last = model.config.num_hidden_layers
    all_hidden = any(layer != last for layer in layer_indexes)
    encoder = model.base_model
    lm_head = getattr(model, "lm_head", None)
    if lm_head is None and any(p.read == "log_probs" for p in passes):
        raise ValueError(
            f"{type(model).__name__} has no masked-LM head; load the model with AutoModelForMaskedLM "
            "(NucleotideTransformerForMaskedLM) for the mlm_log_ratio score."
        )
    if lm_head is not None and any(p.read == "log_probs" for p in passes):
        # The head reads a handful of rows, where CPU BLAS rounding can depend on memory layout; float64 makes the
        # float32 log-probabilities reproducible across processes (and is cheap for a few rows).
        lm_head = copy.deepcopy(lm_head).double()
    device = model.device
    order = sorted(range(len(passes)), key=lambda i: len(passes[i].ids))
    results: list[Any] = [None] * len(passes)
    was_training = model.training
    model.eval()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(passes), desc=description, unit="window")
    try:
        with torch.inference_mode():
            for members in _token_budget_batches([len(passes[i].ids) for i in order], order, batch_size):
                width = len(passes[members[-1]].ids)  # sorted: the last member is the longest
                ids = np.full((len(members), width), pad_token_id, dtype=np.int64)
                mask = np.zeros((len(members), width), dtype=np.int64)
                for row, i in enumerate(members):
                    ids[row, : len(passes[i].ids)] = passes[i].ids
                    mask[row, : len(passes[i].ids)] = 1
                outputs = encoder(
                    input_ids=torch.from_numpy(ids).to(device),
                    attention_mask=torch.from_numpy(mask).to(device),
                    output_hidden_states=all_hidden,
                    return_dict=True,
                )
                if all_hidden:
                    stack = torch.stack([outputs.hidden_states[layer] for layer in layer_indexes], dim=1)
                else:
                    stack = outputs.last_hidden_state[:, None]
                stack = stack.float()  # (batch, n_layers, width, hidden)
                _read_batch(passes, members, stack, outputs.last_hidden_state, lm_head, results)
                if bar is not None:
                    bar.update(len(members))
    finally:
        model.train(was_training)
        if bar is not None:
            bar.close()
    return results


def _token_budget_batches(lengths: list[int], order: list[int], batch_size: int) -> list[list[int]]:
    """Splits `order` (sorted by ascending `lengths`) into batches of at most `batch_size * max(lengths)` padded
    tokens each (a batch's width is its last member's length)."""
    if not order:
        return []
    budget = batch_size * lengths[-1]
    batches, start = [], 0
    for end in range(1, len(order) + 1):
        if end == len(order) or (end + 1 - start) * lengths[end] > budget:
            batches.append(order[start:end])
            start = end
    return batches


def _read_batch(passes, members, stack, last_hidden, lm_head, results) -> None:
    kinds = ("sum", "tokens", "cls", "log_probs")
    rows = {kind: [(row, i) for row, i in enumerate(members) if passes[i].read == kind] for kind in kinds}
    if rows["sum"]:
        weights = torch.zeros(len(members), stack.shape[2], device=stack.device)
        for row, i in rows["sum"]:
            weights[row, passes[i].start : passes[i].stop] = 1.0
        sums = torch.einsum("blth,bt->blh", stack, weights).cpu().numpy()
        for row, i in rows["sum"]:
            results[i] = (sums[row], passes[i].stop - passes[i].start)
    if rows["cls"]:
        cls = stack[:, :, 0].cpu().numpy()
        for row, i in rows["cls"]:
            results[i] = cls[row]
    for row, i in rows["tokens"]:
        results[i] = stack[row, :, passes[i].start : passes[i].stop].cpu().numpy()
    if rows["log_probs"]:
        index = torch.tensor([row for row, _ in rows["log_probs"]], device=stack.device)
        position = torch.tensor([passes[i].position for _, i in rows["log_probs"]], device=stack.device)
        logits = lm_head(last_hidden[index, position].double())
        log_probs = torch.log_softmax(logits, dim=-1).float().cpu().numpy()
        for k, (_, i) in enumerate(rows["log_probs"]):
            results[i] = log_probs[k]


# ---- embeddings -----------------------------------------------------------------------------------------------


def _tokenize(tokenizer, sequences: list[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Ids and base offsets of whole sequences (no `<cls>`, never truncated); errors name the sequence index."""
    if not sequences:
        return [], []
    encoded = tokenizer(
        sequences,
        add_special_tokens=False,
        return_offsets_mapping=True,
        return_attention_mask=False,
        truncation=True,
        max_length=_HUGE,
        split_special_tokens=True,
    )
    ids = [np.asarray(row, dtype=np.int64) for row in encoded["input_ids"]]
    offsets = [np.asarray(row, dtype=np.int64).reshape(-1, 2) for row in encoded["offset_mapping"]]
    return ids, offsets


def token_window_starts(n_tokens: int, size: int, overlap: int) -> list[int]:
    """Start tokens of the windows covering `n_tokens`: every `size - overlap` tokens, the last flush with the end."""
    if n_tokens <= size:
        return [0]
    starts = list(range(0, n_tokens - size, size - overlap))
    return starts + [n_tokens - size]


def token_owners(n_tokens: int, starts: Sequence[int], size: int) -> np.ndarray:
    """For each token, the window it is read from: the one where it is farthest from an inner window edge.

    Distances to the sequence's own ends do not count (infinite); ties go to the earlier window.
    """
    index = np.arange(n_tokens)
    owner = np.full(n_tokens, -1)
    best = np.full(n_tokens, -np.inf)
    for w, start in enumerate(starts):
        stop = min(start + size, n_tokens)
        inside = (index >= start) & (index < stop)
        left = index - start if start > 0 else np.full(n_tokens, np.inf)
        right = stop - 1 - index if stop < n_tokens else np.full(n_tokens, np.inf)
        distance = np.minimum(left, right)
        better = inside & (distance > best)
        owner[better] = w
        best[better] = distance[better]
    return owner


@dataclass
class EmbeddingPlan:
    """Windows and read-outs for a batch of sequences (built by `plan_embeddings`)."""

    pooling: str
    single_layer: bool
    passes: list[ForwardPass] = field(default_factory=list)
    # per sequence: (first pass index, number of passes, number of tokens, bases per token)
    sequences: list[tuple[int, int, int, np.ndarray]] = field(default_factory=list)


def plan_embeddings(
    tokenizer,
    sequences: Sequence[str],
    *,
    capacity: int,
    pooling: str = "mean",
    single_layer: bool = True,
    window_overlap: int | None = None,
) -> EmbeddingPlan:
    """Tokenizes `sequences` and lays out their windows (`capacity` tokens each, `<cls>` not counted)."""
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}.")
    overlap = capacity // 4 if window_overlap is None else int(window_overlap)
    if capacity < 1 or not 0 <= overlap < capacity:
        raise ValueError(f"window_overlap must be in [0, {capacity}) tokens, got {overlap}.")
    texts = []
    for index, sequence in enumerate(sequences):
        if not isinstance(sequence, str):
            raise TypeError(f"Sequence {index} is a {type(sequence).__name__}, expected a DNA string.")
        text = sequence.translate(_WHITESPACE)
        if not text:
            raise ValueError(f"Sequence {index} is empty (after removing whitespace).")
        texts.append(text)
    plan = EmbeddingPlan(pooling=pooling, single_layer=single_layer)
    if not texts:
        return plan
    all_ids, all_offsets = _tokenize(tokenizer, texts)
    cls_id = tokenizer.cls_token_id
    for index, (ids, offsets) in enumerate(zip(all_ids, all_offsets)):
        n = len(ids)
        spans = offsets[:, 1] - offsets[:, 0]
        if spans.sum() != len(texts[index]):
            raise AssertionError(f"tokens of sequence {index} do not cover its {len(texts[index])} bases")
        starts = token_window_starts(n, capacity, overlap)
        if pooling == "cls" and len(starts) > 1:
            raise ValueError(
                f"Sequence {index} has {n} tokens, more than one window ({capacity}); 'cls' pooling is defined "
                "for one window only: use 'mean', 'token' or 'nucleotide'."
            )
        owner = token_owners(n, starts, capacity)
        first = len(plan.passes)
        for w, start in enumerate(starts):
            window_ids = np.concatenate([[cls_id], ids[start : start + capacity]])
            owned = np.flatnonzero(owner == w)
            if owned.size and owned[-1] - owned[0] + 1 != owned.size:
                raise AssertionError("window ownership is not contiguous")
            lo, hi = (int(owned[0]) - start + 1, int(owned[-1]) - start + 2) if owned.size else (1, 1)
            read = {"mean": "sum", "cls": "cls"}.get(pooling, "tokens")
            plan.passes.append(ForwardPass(window_ids, read, lo, hi))
        plan.sequences.append((first, len(starts), n, spans))
    return plan


def assemble_embeddings(plan: EmbeddingPlan, results: Sequence[Any]) -> list[np.ndarray]:
    """Pools or stitches the read-outs of `plan` into one float32 array per sequence (layer axis first if several)."""
    outputs = []
    for first, count, _, spans in plan.sequences:
        pieces = results[first : first + count]
        if plan.pooling == "mean":
            total = sum(piece[0] for piece in pieces)
            out = total / sum(piece[1] for piece in pieces)
        elif plan.pooling == "cls":
            out = pieces[0]
        else:
            out = np.concatenate(pieces, axis=1)
            if plan.pooling == "nucleotide":
                out = np.repeat(out, spans, axis=1)
        out = out.astype(np.float32, copy=False)
        outputs.append(out[0] if plan.single_layer else out)
    return outputs


def embed_sequences(
    model,
    tokenizer,
    sequences: Sequence[str],
    *,
    pooling: str = "mean",
    layers: int | Sequence[int] = -1,
    batch_size: int = DEFAULT_BATCH_SIZE,
    window_overlap: int | None = None,
    max_window_tokens: int | None = None,
    progress: bool = False,
) -> list[np.ndarray]:
    """Embeddings of DNA sequences as numpy arrays, one per sequence in input order (rules in the module docstring).

    Args:
        model: an NT model (any head; the encoder is used).
        tokenizer: its `NucleotideTransformerTokenizerFast`.
        sequences: DNA strings of any length.
        pooling: `"mean"`, `"cls"`, `"token"` or `"nucleotide"`.
        layers: a hidden-state index or a list of them.
        batch_size: windows per forward pass at the longest window's length; shorter windows are packed into the
            same number of padded tokens (see `run_forward_passes`).
        window_overlap: tokens shared by consecutive windows of a long sequence (default a quarter of a window).
        max_window_tokens: use windows smaller than the model's context (tokens, `<cls>` not counted).
        progress: show a progress bar.
    """
    _, single = _normalise_layers(model, layers)
    capacity = window_tokens(model, tokenizer)
    if max_window_tokens is not None:
        capacity = min(capacity, int(max_window_tokens))
    plan = plan_embeddings(
        tokenizer, sequences, capacity=capacity, pooling=pooling, single_layer=single, window_overlap=window_overlap
    )
    results = run_forward_passes(
        model, plan.passes, layers=layers, batch_size=batch_size, pad_token_id=tokenizer.pad_token_id, progress=progress
    )
    return assemble_embeddings(plan, results)


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
        ref_seq, alt_seq = ref_seq.translate(_WHITESPACE), alt_seq.translate(_WHITESPACE)
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
    sequence = sequence.translate(_WHITESPACE)
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
    ids, offsets = _tokenize(tokenizer, distinct)
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
                    ref_base.translate(_COMPLEMENT),
                    alt_base.translate(_COMPLEMENT),
                )
            )
        scored.append((index, strands))
        strands_to_tokenize += [s[0] for s in strands]

    distinct = list(dict.fromkeys(strands_to_tokenize))
    tokenized = dict(zip(distinct, zip(*_tokenize(tokenizer, distinct))))
    cls_id, mask_id = tokenizer.cls_token_id, tokenizer.mask_token_id
    read = "sum" if pooling == "mean" else "cls"
    shared: dict[tuple, int] = {}

    def add_pass(key: tuple | None, make) -> int:
        if share_windows and key is not None and key in shared:
            return shared[key]
        plan.passes.append(make())
        if share_windows and key is not None:
            shared[key] = len(plan.passes) - 1
        return len(plan.passes) - 1

    for index, strands in scored:
        for piece, offset, ref_base, alt_base in strands:
            window_ids, window_offsets = tokenized[piece]
            token = int(np.searchsorted(window_offsets[:, 1], offset, side="right"))
            token_start, token_end = window_offsets[token]
            ref_token = piece[token_start:token_end]
            alt_token = ref_token[: offset - token_start] + alt_base + ref_token[offset - token_start + 1 :]
            ref_id, alt_id = (int(i) for i in tokenizer.convert_tokens_to_ids([ref_token, alt_token]))
            full = np.concatenate([[cls_id], window_ids])
            n = len(full)
            ref_pass = add_pass(("ref", piece), lambda: ForwardPass(full, read, 1, n))
            alt_ids = full.copy()
            alt_ids[token + 1] = alt_id
            alt_pass = add_pass(("alt", piece, token, alt_id), lambda: ForwardPass(alt_ids, read, 1, n))
            masked = full.copy()
            masked[token + 1] = mask_id
            mask_pass = add_pass(("mask", piece, token), lambda: ForwardPass(masked, "log_probs", position=token + 1))
            plan.links.append((index, ref_pass, alt_pass, mask_pass, ref_id, alt_id))
    return plan


def _check_variant_layer(model, layer: Any) -> None:
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)):
        raise ValueError(f"Variant scores use one layer (an int hidden-state index), got {layer!r}.")
    _normalise_layers(model, layer)


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
    _check_variant_layer(model, layer)
    capacity = window_tokens(model, tokenizer)
    window_bp = window_bp or capacity * KMER_SIZE
    window_snap = window_snap or default_window_snap(window_bp)
    plan = plan_variant_scores(
        tokenizer,
        variants,
        capacity=capacity,
        window_bp=window_bp,
        window_snap=window_snap,
        pooling=pooling,
        both_strands=both_strands,
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


# ---- transformers pipelines -----------------------------------------------------------------------------------


class _WholeCallPipeline(Pipeline):
    """A pipeline whose `preprocess` sees every input of a call at once, so windows can be shared and sorted by length
    across inputs; `forward` then runs all batches and `postprocess` restores the input order."""

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = True

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
    `window_overlap` and `max_window_tokens` (long sequences), `batch_size`, `progress`. Rules: module docstring.
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
        _, single = _normalise_layers(self.model, layers)
        capacity = window_tokens(self.model, self.tokenizer)
        if max_window_tokens is not None:
            capacity = min(capacity, int(max_window_tokens))
        return {
            "plan": plan_embeddings(
                self.tokenizer,
                sequences,
                capacity=capacity,
                pooling=pooling,
                single_layer=single,
                window_overlap=window_overlap,
            )
        }

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
    `window_snap`, `share_windows`, `batch_size`, `progress`.
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
        _check_variant_layer(self.model, layer)
        capacity = window_tokens(self.model, self.tokenizer)
        window_bp = window_bp or capacity * KMER_SIZE
        plan = plan_variant_scores(
            self.tokenizer,
            variants,
            capacity=capacity,
            window_bp=window_bp,
            window_snap=window_snap or default_window_snap(window_bp),
            pooling=pooling,
            both_strands=both_strands,
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


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "POOLINGS",
    "SCORE_NAMES",
    "STATUSES",
    "VARIANT_POOLINGS",
    "DnaEmbeddingPipeline",
    "EmbeddingPlan",
    "ForwardPass",
    "VariantEffectPipeline",
    "VariantPlan",
    "assemble_embeddings",
    "classify_alleles",
    "default_window_bp",
    "default_window_snap",
    "embed_sequences",
    "finish_variant_scores",
    "plan_embeddings",
    "plan_variant_scores",
    "register_pipelines",
    "reverse_complement",
    "run_forward_passes",
    "score_variants",
    "token_owners",
    "token_window_starts",
    "variant_window",
    "window_tokens",
]
