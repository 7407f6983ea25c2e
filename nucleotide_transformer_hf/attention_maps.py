"""Which genomic elements each attention head attends to (the NT paper's attention-map analysis; docs/analysis.md).

For every layer and head, the share of high-confidence attention (a weight `a_ij > threshold`, default 0.3, as in
Vig et al. 2020, "BERTology meets biology") whose target token `j` is of element type `e`, next to `e`'s share of
the target tokens (the background), with a two-proportion z-test and a Benjamini-Hochberg correction over all
(layer, head, element) tests.

* **Targets** are real tokens other than `<cls>` with a label (not padding, not all-`N` tokens); attention that lands
  on `<cls>` or an unlabelled token counts neither in the numerator nor in the denominator, so the attention share
  and the background share are shares of the same set of tokens. **Sources** (queries) are all real tokens,
  `<cls>` included; padding rows and columns never count (keys beyond a row's length are masked as the model masks
  them).
* **Memory.** Nothing holds all layers' `T x T` maps: a forward hook on each layer's self-attention module recomputes
  that layer's probabilities from the module's own inputs with its own projections and rotary tables, one head at a
  time, adds the counts to `(layers, heads, elements)` integer tables and frees them before the next layer runs.
  The forward passes themselves run in `inference.run_forward_passes` (token-budget batches, padding masked).
"""

import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .errors import InputError
from .tasks import IGNORE_INDEX

DEFAULT_THRESHOLD = 0.3
"""High-confidence attention: weights above this (Vig et al. 2020)."""

DEFAULT_ALPHA = 0.05
"""Corrected p-value below which an enriched cell is called significant."""

COLUMNS = (
    "layer",
    "head",
    "element",
    "attention_count",
    "attention_total",
    "attention_share",
    "background_count",
    "background_total",
    "background_share",
    "z",
    "p_value",
    "q_value",
    "enriched",
)


@dataclass
class LabelledWindow:
    """Token ids of one window (no `<cls>`) and each token's element index (`IGNORE_INDEX`: no target)."""

    ids: np.ndarray
    labels: np.ndarray
    name: str = ""


def _self_attention_modules(model) -> list:
    from .modeling_nucleotide_transformer import NucleotideTransformerSelfAttention

    modules = [m for m in model.base_model.modules() if isinstance(m, NucleotideTransformerSelfAttention)]
    if not modules:
        raise ValueError(f"{type(model).__name__} has no NucleotideTransformerSelfAttention modules.")
    return modules


def head_probabilities(module, hidden_states, position_embeddings, lengths, head: int) -> torch.Tensor:
    """Attention probabilities `(batch, T, T)` of one head, float32, recomputed from the module's inputs as its
    forward computes them (query scaled by `1/sqrt(d)` before RoPE); keys at or beyond each row's length masked."""
    from .modeling_nucleotide_transformer import apply_rotary

    d = module.attention_head_size
    rows = slice(head * d, (head + 1) * d)
    query = torch.nn.functional.linear(hidden_states, module.query.weight[rows], module.query.bias[rows])
    key = torch.nn.functional.linear(hidden_states, module.key.weight[rows], module.key.bias[rows])
    query, key = query[:, None].float(), key[:, None].float()  # (batch, 1, T, d)
    scale = d**-0.5
    if position_embeddings is not None:
        cos, sin = position_embeddings
        query = apply_rotary(query, cos.float(), sin.float(), scale=scale)
        key = apply_rotary(key, cos.float(), sin.float())
    else:
        query = query * scale
    scores = torch.matmul(query, key.transpose(-1, -2))[:, 0]  # (batch, T, T)
    width = scores.shape[-1]
    padded = torch.arange(width, device=scores.device)[None, :] >= lengths[:, None]
    scores = scores.masked_fill(padded[:, None, :], float("-inf"))
    return torch.softmax(scores, dim=-1)


class _Counter:
    """Forward hooks that add each layer's high-confidence attention counts to `(layers, heads, elements)` tables."""

    def __init__(self, model, windows: Sequence[LabelledWindow], n_elements: int, threshold: float):
        self.modules = _self_attention_modules(model)
        self.windows = windows
        self.n_elements = n_elements
        self.threshold = threshold
        heads = self.modules[0].num_attention_heads
        self.counts = np.zeros((len(self.modules), heads, n_elements), dtype=np.int64)
        self.rows: list[int] = []
        self.handles = []

    def before_batch(self, members: list[int]) -> None:
        self.rows = members

    def __enter__(self):
        for layer, module in enumerate(self.modules):
            self.handles.append(module.register_forward_hook(self._hook(layer), with_kwargs=True))
        return self

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def _hook(self, layer: int):
        def hook(module, args, kwargs, output):
            hidden = args[0] if args else kwargs["hidden_states"]
            position_embeddings = kwargs.get("position_embeddings")
            if position_embeddings is None and len(args) > 2:
                position_embeddings = args[2]
            batch, width = hidden.shape[:2]
            device = hidden.device
            lengths = torch.tensor([len(self.windows[i].ids) + 1 for i in self.rows], device=device)
            # One-hot targets (batch, T, E): row 0 is <cls>, then the window's tokens; padding and unlabelled zero.
            onehot = torch.zeros((batch, width, self.n_elements), dtype=torch.float32, device=device)
            for row, i in enumerate(self.rows):
                labels = torch.as_tensor(self.windows[i].labels, device=device)
                positions = torch.nonzero(labels != IGNORE_INDEX)[:, 0]
                onehot[row, positions + 1, labels[positions]] = 1.0
            queries = (torch.arange(width, device=device)[None, :] < lengths[:, None]).float()  # (batch, T)
            for head in range(module.num_attention_heads):
                probs = head_probabilities(module, hidden, position_embeddings, lengths, head)
                high = (probs > self.threshold).float() * queries[:, :, None]  # (batch, T queries, T keys)
                per_key = high.sum(dim=1)  # (batch, T keys)
                del probs, high
                counts = torch.einsum("bt,bte->e", per_key, onehot)
                self.counts[layer, head] += np.rint(counts.double().cpu().numpy()).astype(np.int64)

        return hook


def attention_counts(
    model,
    windows: Sequence[LabelledWindow],
    n_elements: int,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    batch_size: int = 8,
    progress: bool = False,
) -> np.ndarray:
    """`(layers, heads, elements)` counts of (query, target) pairs with attention above `threshold` whose target is
    of each element (targets and sources as in the module docstring)."""
    from .inference import ForwardPass, run_forward_passes

    if not 0 <= threshold < 1:
        raise ValueError(f"threshold must be in [0, 1), got {threshold}.")
    config = model.config
    cls_id = getattr(config, "cls_token_id", None)
    if cls_id is None:
        cls_id = 3
    passes = [ForwardPass(np.concatenate([[cls_id], np.asarray(w.ids, dtype=np.int64)]), "cls") for w in windows]
    with _Counter(model, windows, n_elements, threshold) as counter:
        run_forward_passes(
            model,
            passes,
            batch_size=batch_size,
            pad_token_id=config.pad_token_id,
            progress=progress,
            description="attention maps",
            before_batch=counter.before_batch,
        )
    return counter.counts


def enrichment_table(
    counts: np.ndarray, background: np.ndarray, elements: Sequence[str], *, alpha: float = DEFAULT_ALPHA
):
    """The enrichment DataFrame (`COLUMNS`) from attention counts `(layers, heads, elements)` and background token
    counts `(elements,)`: two-proportion z-test (pooled), two-sided p, Benjamini-Hochberg q over all tests;
    `enriched` when q < alpha and the attention share is above the background. Layers are 1-based, heads 0-based.
    A head with no high-confidence attention gets NaN shares and z, p = 1."""
    import pandas as pd
    from scipy.stats import false_discovery_control, norm

    layers, heads, n_elements = counts.shape
    totals = counts.sum(axis=2, keepdims=True).astype(float)
    n2 = float(background.sum())
    x1 = counts.astype(float)
    x2 = np.broadcast_to(background.astype(float), counts.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        p1 = x1 / totals
        p2 = x2 / n2
        pooled = (x1 + x2) / (totals + n2)
        se = np.sqrt(pooled * (1 - pooled) * (1 / totals + 1 / n2))
        z = np.where(se > 0, (p1 - p2) / se, np.where(totals > 0, 0.0, np.nan))
    p = np.where(np.isnan(z), 1.0, 2 * norm.sf(np.abs(np.nan_to_num(z))))
    q = false_discovery_control(p.ravel(), method="bh").reshape(p.shape)
    layer_index, head_index, element_index = np.meshgrid(
        np.arange(layers), np.arange(heads), np.arange(n_elements), indexing="ij"
    )
    frame = pd.DataFrame(
        {
            "layer": layer_index.ravel() + 1,
            "head": head_index.ravel(),
            "element": np.asarray(elements, dtype=object)[element_index.ravel()],
            "attention_count": counts.ravel(),
            "attention_total": np.broadcast_to(totals, counts.shape).ravel().astype(np.int64),
            "attention_share": p1.ravel(),
            "background_count": x2.ravel().astype(np.int64),
            "background_total": np.full(counts.size, int(n2)),
            "background_share": p2.ravel(),
            "z": z.ravel(),
            "p_value": p.ravel(),
            "q_value": q.ravel(),
        }
    )
    frame["enriched"] = (frame["q_value"] < alpha) & (frame["attention_share"] > frame["background_share"])
    return frame


def background_counts(windows: Sequence[LabelledWindow], n_elements: int) -> np.ndarray:
    """Target tokens of each element over all windows (labelled tokens; `<cls>` is not in `ids`)."""
    counts = np.zeros(n_elements, dtype=np.int64)
    for window in windows:
        labels = np.asarray(window.labels)
        counts += np.bincount(labels[labels != IGNORE_INDEX], minlength=n_elements)[:n_elements]
    return counts


def attention_enrichment(
    model,
    windows: Sequence[LabelledWindow],
    elements: Sequence[str],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
    batch_size: int = 8,
    progress: bool = False,
):
    """Per (layer, head, element): attention share vs background share, z, p, BH q, enriched (`enrichment_table`).
    `windows[i].labels` index into `elements`."""
    if not windows:
        raise ValueError("attention_enrichment needs at least one window.")
    counts = attention_counts(
        model, windows, len(elements), threshold=threshold, batch_size=batch_size, progress=progress
    )
    return enrichment_table(counts, background_counts(windows, len(elements)), elements, alpha=alpha)


# ---- FASTA + annotation -> windows -> tables and figures ---------------------------------------------------------


def annotated_windows(
    tokenizer,
    fasta: str | os.PathLike,
    annotation: str | os.PathLike,
    *,
    context_tokens: int,
    window_bp: int | None = None,
    stride_bp: int | None = None,
    promoter_bp: int = 100,
) -> tuple[list[LabelledWindow], list[str]]:
    """Labelled windows of `window_bp` bases every `stride_bp` (default: the context's bases, no overlap; the last
    window ends flush with the record) over every record of `fasta`, labelled from the GFF3/BED `annotation`
    (`annotations` module rules). A window whose tokens exceed `context_tokens` (the model's context without
    `<cls>`) raises `InputError`."""
    from .annotations import annotated_records, base_labels, read_annotation, token_labels
    from .dna import KMER_SIZE, window_starts

    parsed = read_annotation(annotation)
    records = annotated_records(fasta, parsed)
    elements = parsed.element_types()
    window_bp = context_tokens * KMER_SIZE if window_bp is None else int(window_bp)
    stride_bp = window_bp if stride_bp is None else int(stride_bp)
    if window_bp < 1 or stride_bp < 1:
        raise InputError(f"window ({window_bp} bp) and stride ({stride_bp} bp) must be positive.")
    if window_bp > context_tokens * KMER_SIZE:
        raise InputError(
            f"window of {window_bp} bp is larger than the model's context ({context_tokens} tokens = "
            f"{context_tokens * KMER_SIZE} bp of 6-mers, besides <cls>)."
        )
    windows = []
    for record in records:
        for start in window_starts(len(record.sequence), window_bp, stride_bp):
            end = min(start + window_bp, len(record.sequence))
            labels = base_labels(parsed, record, start, end, elements=elements, promoter_bp=promoter_bp)
            ids, per_token = token_labels(tokenizer, record.sequence[start:end], labels)
            name = f"{record.name}:{start + 1}-{end}"
            if len(ids) > context_tokens:
                raise InputError(
                    f"{record.path}, record {record.name}, bases {start + 1}-{end}: {len(ids)} tokens, more than the "
                    f"model's context ({context_tokens} besides <cls>; N or short runs restart the 6-mer grid); "
                    "use a smaller window."
                )
            windows.append(LabelledWindow(ids, per_token, name))
    return windows, elements


def write_heatmaps(frame, folder: str | os.PathLike) -> list[str]:
    """One PNG per element: layers (rows) x heads (columns) of attention share / background share (log2), enriched
    cells marked with a dot. Returns the file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    for element, part in frame.groupby("element", sort=False):
        layers, heads = int(part["layer"].max()), int(part["head"].max()) + 1
        ratio = np.full((layers, heads), np.nan)
        marks = np.zeros((layers, heads), dtype=bool)
        for row in part.itertuples():
            if row.background_share > 0 and row.attention_share == row.attention_share:
                ratio[row.layer - 1, row.head] = np.log2(max(row.attention_share, 1e-6) / row.background_share)
            marks[row.layer - 1, row.head] = row.enriched
        figure, axis = plt.subplots(figsize=(1 + 0.35 * heads, 1 + 0.3 * layers))
        limit = np.nanmax(np.abs(ratio)) if np.isfinite(ratio).any() else 1.0
        image = axis.imshow(ratio, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
        ys, xs = np.nonzero(marks)
        axis.scatter(xs, ys, marker="o", s=12, c="black")
        axis.set_xlabel("head")
        axis.set_ylabel("layer")
        axis.set_yticks(range(layers), [str(i + 1) for i in range(layers)])
        axis.set_title(f"{element}: log2(attention share / background)", fontsize=9)
        figure.colorbar(image, ax=axis)
        figure.tight_layout()
        name = f"heatmap_{element}.png"
        figure.savefig(os.path.join(folder, name), dpi=100)
        plt.close(figure)
        names.append(name)
    return names


def summarise(frame, windows: Sequence[LabelledWindow], elements: Sequence[str], settings: dict) -> dict:
    """JSON-ready summary: settings, window and token counts, background shares and per element the enriched heads."""
    background = background_counts(windows, len(elements))
    per_element = {}
    for element in elements:
        part = frame[frame["element"] == element]
        hits = part[part["enriched"]].sort_values("z", ascending=False)
        best = part.sort_values("z", ascending=False).head(1)
        per_element[element] = {
            "background_share": float(background[list(elements).index(element)] / max(background.sum(), 1)),
            "enriched_heads": [[int(r.layer), int(r.head)] for r in hits.itertuples()],
            "top_head": None if best.empty else [int(best.iloc[0]["layer"]), int(best.iloc[0]["head"])],
            "top_attention_share": None if best.empty else _finite(best.iloc[0]["attention_share"]),
        }
    return {
        **settings,
        "windows": len(windows),
        "target_tokens": int(background.sum()),
        "elements": list(elements),
        "tests": len(frame),
        "enriched_cells": int(frame["enriched"].sum()),
        "per_element": per_element,
    }


def _finite(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def attention_map(
    model,
    tokenizer,
    fasta: str | os.PathLike,
    annotation: str | os.PathLike,
    out: str | os.PathLike,
    *,
    window_bp: int | None = None,
    stride_bp: int | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
    promoter_bp: int = 100,
    batch_size: int = 8,
    progress: bool = True,
) -> dict:
    """Reads `fasta` and the GFF3/BED `annotation`, cuts and labels windows, runs `attention_enrichment` and writes
    into folder `out`: `attention_enrichment.tsv`, `heatmap_<element>.png` and `summary.json` (returned). Inputs are
    checked before anything runs; files are written to a temporary folder inside `out` and moved in at the end, so
    a failure leaves no partial output."""
    from .dna import context_tokens

    windows, elements = annotated_windows(
        tokenizer,
        fasta,
        annotation,
        context_tokens=context_tokens(model.config, tokenizer),
        window_bp=window_bp,
        stride_bp=stride_bp,
        promoter_bp=promoter_bp,
    )
    frame = attention_enrichment(
        model, windows, elements, threshold=threshold, alpha=alpha, batch_size=batch_size, progress=progress
    )
    settings = {
        "fasta": os.fspath(fasta),
        "annotation": os.fspath(annotation),
        "window_bp": window_bp,
        "stride_bp": stride_bp,
        "threshold": threshold,
        "alpha": alpha,
        "promoter_bp": promoter_bp,
        "rule": "share of attention weights > threshold landing on each element's tokens (Vig et al. 2020); "
        "two-proportion z-test vs the element's token share; Benjamini-Hochberg over all (layer, head, element)",
    }
    summary = summarise(frame, windows, elements, settings)
    os.makedirs(out, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".attention-map-", dir=out)
    try:
        frame.to_csv(os.path.join(staging, "attention_enrichment.tsv"), sep="\t", index=False)
        summary["heatmaps"] = write_heatmaps(frame, staging)
        with open(os.path.join(staging, "summary.json"), "w") as handle:
            json.dump(summary, handle, indent=2)
        for name in os.listdir(staging):
            os.replace(os.path.join(staging, name), os.path.join(out, name))
    finally:
        for name in os.listdir(staging):
            os.remove(os.path.join(staging, name))
        os.rmdir(staging)
    return summary


__all__ = [
    "COLUMNS",
    "DEFAULT_ALPHA",
    "DEFAULT_THRESHOLD",
    "LabelledWindow",
    "annotated_windows",
    "attention_counts",
    "attention_enrichment",
    "attention_map",
    "background_counts",
    "enrichment_table",
    "head_probabilities",
    "summarise",
    "write_heatmaps",
]
