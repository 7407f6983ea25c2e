"""The inference engine: every forward pass of a trained model in this package runs here.

The embedding and variant-effect pipelines, `score-variants`, `evaluate-variants`, probing, fine-tuning's
`predict`, the main job and the benchmarks all call `run_forward_passes` (through `embed_sequences`,
`head_logits` or a plan of their own), so batching, windows, pooling, layer selection, device, dtype and
`torch.inference_mode` are decided once:

* **Work** is a list of `ForwardPass`: token ids of one window (`<cls>` first) and what to read from it — a sum of
  hidden vectors over a token range (`"sum"`, for mean pooling), the vectors themselves (`"tokens"`), the `<cls>`
  vector (`"cls"`), masked-LM log-probabilities at one position (`"log_probs"`), or the task head's logits
  (`"logits"`).
* **Batching.** Passes are sorted by length and cut into batches of at most `batch_size` x the longest pass's
  length in padded tokens, so short windows run in larger batches at no more memory; results come back in input
  order, float32 numpy.
* **Device and dtype** are the model's: ids go to `model.device`, hidden states are read in the model's dtype and
  returned as float32 (a bf16 model gives float32 arrays within bf16 rounding). The model runs in eval mode under
  `torch.inference_mode()` and is left in the mode it came in. The precision (`float32`, `bfloat16`, `int8`) is set
  on the model beforehand by `precision.prepare_for_inference` (the loader's `dtype=`, the commands' `--dtype`); an
  int8 model runs one window per forward pass, because its dynamic quantisation takes one activation scale per input
  tensor and batching would let windows change each other's rounding (`precision.runs_windows_alone`).

Embedding rules (`embed_sequences`, the `"dna-embedding"` pipeline):

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
"""

import copy
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .dna import context_tokens, window_starts
from .precision import runs_windows_alone

POOLINGS = ("mean", "cls", "token", "nucleotide")
"""Pooling modes of `embed_sequences` and the embedding pipeline."""

READS = ("sum", "tokens", "cls", "log_probs", "logits")
"""What a `ForwardPass` can read from its window."""

DEFAULT_BATCH_SIZE = 8
"""Windows per forward pass (at the longest window's length) when the caller gives no `batch_size`."""

WHITESPACE = {ord(c): None for c in " \t\r\n"}
"""`str.translate` table that removes the whitespace allowed inside a sequence (FASTA line breaks)."""

_HUGE = 1 << 62  # tokenizer max_length that never truncates


# ---- forward passes -------------------------------------------------------------------------------------------


@dataclass
class ForwardPass:
    """One window to run through the model and what to read from it.

    `ids` starts with `<cls>`. `read` is `"sum"` (sum and count of the hidden vectors at positions `[start, stop)`),
    `"tokens"` (the vectors at `[start, stop)`), `"cls"` (position 0), `"log_probs"` (masked-LM log-probabilities
    over the vocabulary at `position`; with `positions`, at each of them, and with `targets` as well, only the
    log-probability of `targets[j]` at `positions[j]`) or `"logits"` (the task head's output: `(labels,)` for a sequence head,
    `(stop - start, labels)` for a token head). `"logits"` runs the whole model (a peft-wrapped one too); the other
    reads run its encoder only, so a call cannot mix the two.
    """

    ids: np.ndarray
    read: str
    start: int = 1
    stop: int = 0
    position: int = 0
    positions: tuple[int, ...] = ()
    targets: tuple[int, ...] = ()


def layer_count(config) -> int | None:
    """Blocks of a model's encoder: `num_hidden_layers` (or `n_layer` / `num_layers`, as other DNA models name it) of
    a config or a model; None when the config says none of them."""
    config = getattr(config, "config", config)
    return next(
        (getattr(config, key) for key in ("num_hidden_layers", "n_layer", "num_layers") if hasattr(config, key)), None
    )


def takes_attention_mask(module) -> bool:
    """Whether a module's `forward` has an `attention_mask` parameter (HyenaDNA's, for one, has not)."""
    return "attention_mask" in inspect.signature(module.forward).parameters


def normalise_layers(config, layers: int | Sequence[int]) -> tuple[list[int], bool]:
    """`(hidden-state indexes in 0..num_hidden_layers, whether a single int was given)` for a config (or a model);
    a layer that does not exist raises naming it. A model whose config names no layer count has only `-1`, its last
    hidden state."""
    count = layer_count(config)
    if count is None:
        if layers in (-1, [-1], (-1,)):
            return [-1], isinstance(layers, (int, np.integer))
        raise ValueError("This model's config gives no layer count: only its last hidden state (-1) can be read.")
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
    before_batch: Callable[[list[int]], None] | None = None,
) -> list[Any]:
    """Runs `passes` sorted by length in batches and returns what each one asks for, in input order.

    A batch holds `batch_size` passes of the longest length in `passes`, or more of shorter ones: as many as fit in
    the same number of padded tokens (`batch_size` x the longest length), so that short windows run in larger,
    more efficient batches at no more memory than a batch of long ones.

    `"sum"` gives `(sums (n_layers, hidden), count)`, `"tokens"` `(n_layers, stop - start, hidden)`, `"cls"`
    `(n_layers, hidden)`, all float32 numpy at the hidden-state indexes `layers`; `"log_probs"` a float32 vector
    over the vocabulary (needs a model with an `lm_head`), `(len(positions), vocab)` with `positions`, or
    `(len(positions),)` with `targets`; `"logits"` the head's float32 logits (see `ForwardPass`).

    An int8 model (`precision.runs_windows_alone`) runs every pass alone, whatever `batch_size`: its outputs then do
    not depend on the other windows of a call. So does a model whose `forward` takes no `attention_mask` (HyenaDNA
    and other models compared with NT, `model_zoo`): with no mask, padding would reach it.

    `before_batch`, if given, is called with the indexes (into `passes`) of each batch's rows, in row order, just before
    that batch runs: a forward hook that aggregates inside the model (attention statistics) knows which pass each row
    of the batch is.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    unknown = sorted({p.read for p in passes} - set(READS))
    if unknown:
        raise ValueError(f"Unknown read {unknown[0]!r}; one of {READS}.")
    for index, p in enumerate(passes):
        if p.targets and len(p.targets) != len(p.positions):
            raise ValueError(f"Pass {index}: {len(p.targets)} targets for {len(p.positions)} positions.")
    head = any(p.read == "logits" for p in passes)
    if head and any(p.read != "logits" for p in passes):
        raise ValueError("'logits' passes run the whole model; run them in a call of their own.")
    layer_indexes = [] if head else normalise_layers(_config_of(model), layers)[0]
    last = layer_count(_config_of(model))
    all_hidden = any(layer not in (last, -1) for layer in layer_indexes)
    lm_head = None
    if any(p.read == "log_probs" for p in passes):
        lm_head = getattr(model, "lm_head", None)
        if lm_head is None:
            raise ValueError(
                f"{type(model).__name__} has no masked-LM head; load the model with AutoModelForMaskedLM "
                "(NucleotideTransformerForMaskedLM) for the mlm_log_ratio score."
            )
        # The head reads a handful of rows, where CPU BLAS rounding can depend on memory layout; float64 makes the
        # float32 log-probabilities reproducible across processes (and is cheap for a few rows).
        lm_head = copy.deepcopy(lm_head).double()
    run = model if head else model.base_model
    masked = takes_attention_mask(run)
    device = next(model.parameters()).device
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
            if runs_windows_alone(model) or not masked:
                batches = [[i] for i in order]
            else:
                batches = _token_budget_batches([len(passes[i].ids) for i in order], order, batch_size)
            for members in batches:
                width = len(passes[members[-1]].ids)  # sorted: the last member is the longest
                ids = np.full((len(members), width), pad_token_id, dtype=np.int64)
                mask = np.zeros((len(members), width), dtype=np.int64)
                for row, i in enumerate(members):
                    ids[row, : len(passes[i].ids)] = passes[i].ids
                    mask[row, : len(passes[i].ids)] = 1
                if before_batch is not None:
                    before_batch(list(members))
                inputs = {"input_ids": torch.from_numpy(ids).to(device)}
                if masked:
                    inputs["attention_mask"] = torch.from_numpy(mask).to(device)
                if head:
                    _read_logits(passes, members, run(**inputs).logits.float().cpu().numpy(), results)
                else:
                    outputs = run(**inputs, output_hidden_states=all_hidden, return_dict=True)
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


def _config_of(model):
    # A peft-wrapped model keeps the NT config on the model it wraps.
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.config


def _read_logits(passes, members, logits: np.ndarray, results) -> None:
    for row, i in enumerate(members):
        results[i] = logits[row] if logits.ndim == 2 else logits[row, passes[i].start : passes[i].stop]


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
        # one (row, position) pair per read-out; a pass with `positions` owns a run of them
        pairs = [(row, pos) for row, i in rows["log_probs"] for pos in (passes[i].positions or (passes[i].position,))]
        index = torch.tensor([row for row, _ in pairs], device=stack.device, dtype=torch.long)
        position = torch.tensor([pos for _, pos in pairs], device=stack.device, dtype=torch.long)
        logits = lm_head(last_hidden[index, position].double())
        log_probs = torch.log_softmax(logits, dim=-1)
        start = 0
        for _, i in rows["log_probs"]:
            p = passes[i]
            count = len(p.positions) or 1
            block = log_probs[start : start + count]
            if p.targets:
                targets = torch.tensor(p.targets, device=block.device, dtype=torch.long)
                results[i] = block.gather(1, targets[:, None])[:, 0].float().cpu().numpy()
            else:
                block = block.float().cpu().numpy()
                results[i] = block if p.positions else block[0]
            start += count


# ---- embeddings -----------------------------------------------------------------------------------------------


def tokenize_whole(tokenizer, sequences: Sequence[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Ids and base offsets `(tokens, 2)` of whole sequences (no `<cls>`, never truncated, whatever their length);
    the tokenizer's errors name the character, its position and the sequence index."""
    if not sequences:
        return [], []
    encoded = tokenizer(
        list(sequences),
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
    return window_starts(n_tokens, size, size - overlap)


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
        text = sequence.translate(WHITESPACE)
        if not text:
            raise ValueError(f"Sequence {index} is empty (after removing whitespace).")
        texts.append(text)
    plan = EmbeddingPlan(pooling=pooling, single_layer=single_layer)
    if not texts:
        return plan
    all_ids, all_offsets = tokenize_whole(tokenizer, texts)
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


def embedding_plan(
    model,
    tokenizer,
    sequences: Sequence[str],
    *,
    pooling: str = "mean",
    layers: int | Sequence[int] = -1,
    window_overlap: int | None = None,
    max_window_tokens: int | None = None,
) -> EmbeddingPlan:
    """`plan_embeddings` with the window capacity of `model` and `tokenizer` (at most `max_window_tokens`)."""
    _, single = normalise_layers(_config_of(model), layers)
    capacity = context_tokens(_config_of(model), tokenizer)
    if max_window_tokens is not None:
        capacity = min(capacity, int(max_window_tokens))
    return plan_embeddings(
        tokenizer, sequences, capacity=capacity, pooling=pooling, single_layer=single, window_overlap=window_overlap
    )


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
        layers: a hidden-state index or a list of them (a list adds a leading layer axis).
        batch_size: windows per forward pass at the longest window's length; shorter windows are packed into the
            same number of padded tokens (see `run_forward_passes`).
        window_overlap: tokens shared by consecutive windows of a long sequence (default a quarter of a window).
        max_window_tokens: use windows smaller than the model's context (tokens, `<cls>` not counted).
        progress: show a progress bar.
    """
    plan = embedding_plan(
        model,
        tokenizer,
        sequences,
        pooling=pooling,
        layers=layers,
        window_overlap=window_overlap,
        max_window_tokens=max_window_tokens,
    )
    results = run_forward_passes(
        model, plan.passes, layers=layers, batch_size=batch_size, pad_token_id=tokenizer.pad_token_id, progress=progress
    )
    return assemble_embeddings(plan, results)


# ---- task heads ------------------------------------------------------------------------------------------------


def _dna_texts(sequences: Sequence[str]) -> list[str]:
    """The sequences with their whitespace removed; a non-string is a `TypeError` naming its index."""
    texts = []
    for index, sequence in enumerate(sequences):
        if not isinstance(sequence, str):
            raise TypeError(f"Sequence {index} is a {type(sequence).__name__}, expected a DNA string.")
        texts.append(sequence.translate(WHITESPACE))
    return texts


def _pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


def is_nt_tokenizer(tokenizer) -> bool:
    """Whether `tokenizer` is ours (6-mers, `<cls>` only). Other models' tokenizers (`model_zoo`) get whole-sequence
    passes with their own special tokens (`sequence_passes`) instead of our token windows."""
    from .tokenization_nucleotide_transformer import NucleotideTransformerTokenizerFast

    return isinstance(tokenizer, NucleotideTransformerTokenizerFast)


def sequence_passes(tokenizer, sequences: Sequence[str], read: str, capacity: int | None = None) -> list[ForwardPass]:
    """One `ForwardPass` per whole sequence, tokenized by the tokenizer's own rule with its own special tokens (e.g.
    `[CLS] … [SEP]`), `start`/`stop` bounding the real tokens (those its `special_tokens_mask` does not mark). For
    models compared with NT, which are not windowed (`model_zoo`): a sequence with more than `capacity` tokens
    (special tokens included) raises `ValueError` naming its index."""
    texts = _dna_texts(sequences)
    if not texts:
        return []
    encoded = tokenizer(texts, add_special_tokens=True, return_special_tokens_mask=True, truncation=False)
    passes = []
    for index, (ids, special) in enumerate(zip(encoded["input_ids"], encoded["special_tokens_mask"])):
        real = np.flatnonzero(np.asarray(special) == 0)
        if real.size == 0:
            raise ValueError(f"Sequence {index} gives no token besides the special ones.")
        if capacity is not None and len(ids) > capacity:
            raise ValueError(f"Sequence {index} has {len(ids)} tokens, more than the model's context of {capacity}.")
        passes.append(ForwardPass(np.asarray(ids, dtype=np.int64), read, int(real[0]), int(real[-1]) + 1))
    return passes


def mean_embeddings(
    model,
    tokenizer,
    sequences: Sequence[str],
    layers: int | Sequence[int] = -1,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = False,
) -> list[np.ndarray]:
    """Mean-pooled embeddings of whole sequences with any tokenizer: per sequence `(n_layers, hidden)` (or
    `(hidden,)` for a single int `layers`), the mean over its real tokens (special tokens and padding excluded).
    Our tokenizer goes through `embed_sequences` (windows for long sequences); another model's tokenizer through
    `sequence_passes` (one pass per sequence, at most the model's context: `model_zoo.context_of`)."""
    if is_nt_tokenizer(tokenizer):
        return embed_sequences(
            model, tokenizer, list(sequences), pooling="mean", layers=layers, batch_size=batch_size, progress=progress
        )
    from .model_zoo import context_of

    single = isinstance(layers, (int, np.integer))
    passes = sequence_passes(tokenizer, sequences, "sum", context_of(_config_of(model), tokenizer))
    results = run_forward_passes(
        model,
        passes,
        layers=layers,
        batch_size=batch_size,
        pad_token_id=_pad_id(tokenizer),
        progress=progress,
        description="sequences",
    )
    means = [sums / count for sums, count in results]
    return [mean[0] for mean in means] if single else means


def token_counts(tokenizer, sequences: Sequence[str]) -> list[int]:
    """Tokens the tokenizer makes of each sequence with its special tokens (`<cls>`), by the tokenizer's own rule
    and whatever the length (nothing is truncated)."""
    ids, _ = tokenize_whole(tokenizer, [sequence.translate(WHITESPACE) for sequence in sequences])
    return [len(row) + tokenizer.num_special_tokens_to_add() for row in ids]


def head_logits(
    model,
    tokenizer,
    sequences: Sequence[str],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = False,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The task head's float32 logits for each sequence, with the base offsets of its tokens.

    Returns `(logits, offsets)`: per sequence `(labels,)` for a sequence-classification or regression head, or
    `(tokens, labels)` for a token-classification head (`<cls>` left out, one row per token), and the `(tokens, 2)`
    base offsets of its tokens. `model` may be wrapped by peft. A sequence with more tokens than the context raises
    `ValueError` naming its index (cut long sequences into windows first).

    Another model's tokenizer (`model_zoo`) runs each sequence with its own special tokens (`sequence_passes`); its
    offsets are then empty (token heads are for our tokenizer).
    """
    if not is_nt_tokenizer(tokenizer):
        from .model_zoo import context_of

        passes = sequence_passes(tokenizer, sequences, "logits", context_of(_config_of(model), tokenizer))
        logits = run_forward_passes(
            model,
            passes,
            batch_size=batch_size,
            pad_token_id=_pad_id(tokenizer),
            progress=progress,
            description="sequences",
        )
        return logits, [np.zeros((0, 2), dtype=np.int64) for _ in passes]
    capacity = context_tokens(_config_of(model), tokenizer)
    texts = _dna_texts(sequences)
    all_ids, all_offsets = tokenize_whole(tokenizer, texts)
    passes = []
    for index, ids in enumerate(all_ids):
        if len(ids) > capacity:
            raise ValueError(
                f"Sequence {index} has {len(ids) + 1} tokens, more than the model's context of {capacity + 1}; "
                "cut it into windows first."
            )
        passes.append(ForwardPass(np.concatenate([[tokenizer.cls_token_id], ids]), "logits", 1, len(ids) + 1))
    logits = run_forward_passes(
        model,
        passes,
        batch_size=batch_size,
        pad_token_id=tokenizer.pad_token_id,
        progress=progress,
        description="sequences",
    )
    return logits, all_offsets


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "POOLINGS",
    "READS",
    "WHITESPACE",
    "EmbeddingPlan",
    "ForwardPass",
    "assemble_embeddings",
    "embed_sequences",
    "embedding_plan",
    "head_logits",
    "is_nt_tokenizer",
    "layer_count",
    "mean_embeddings",
    "normalise_layers",
    "plan_embeddings",
    "run_forward_passes",
    "sequence_passes",
    "takes_attention_mask",
    "token_counts",
    "token_owners",
    "token_window_starts",
    "tokenize_whole",
]
