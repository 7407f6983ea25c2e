"""Masked-LM perplexity of DNA, as in the paper: per window, per record, per species and per annotated element.

Each FASTA record is cut into windows of `window_bp` bases every `stride_bp` (default: the model's context,
`dna.context_bp`, without overlap; the last window ends flush with the record). Each window is tokenized on its own
(`<cls>` first) and masked by the pretraining rule (`pretraining_data.MLMCollator`): every eligible token (a
nucleotide token: 6-mer, single base or `N`; never a special token) is selected with probability 15%; a selected
token becomes `<mask>` with probability 80%, a different random nucleotide token with probability 10% and stays as it
is otherwise. The loss is `-log p(original token)` at the selected positions only (nats; the LM head runs in float64
in `inference.run_forward_passes`).

Masks come from a numpy generator seeded per window from `(seed, record, start, copy)` (`window_rng`), so numbers do
not depend on batching, on the order of the files or on the process. `copies=k` masks each window `k` times
independently (k forward passes), covering more tokens.

Every level reports `masked_tokens`, `masked_bases` (bases of those tokens), `loss_sum` and
`perplexity = exp(loss_sum / masked_tokens)` (the pooled perplexity, as `pretraining.compute_mlm_metrics`: exp of
the mean masked-token loss, never a mean of window perplexities), and the per-nucleotide variant
`perplexity_per_base = exp(loss_sum / masked_bases)`: each base of a masked token carries its token's loss divided by
the token's bases (a uniform guess over 6-mers scores 4096 per token and 4 per base).

With `base_labels`, each masked token belongs to the element of its bases (`tasks.token_labels_from_bases`:
majority, ties to the leftmost, unlabelled bases do not vote; tokens with no labelled base belong to no element).
"""

import hashlib
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .dna import context_bp, context_tokens, open_maybe_gzip, read_fasta, window_starts
from .errors import InputError
from .inference import DEFAULT_BATCH_SIZE, ForwardPass, run_forward_passes, tokenize_whole
from .pretraining_data import (
    MASK_REPLACE_PROB,
    MLM_PROBABILITY,
    RANDOM_REPLACE_PROB,
    MLMCollator,
    find_fasta_files,
)
from .tasks import IGNORE_INDEX, token_labels_from_bases

BaseLabels = Callable[[str, int, int], tuple[np.ndarray, Sequence[str]]]
"""`base_labels(record, start, end) -> (codes, names)`: one int code per base of `[start, end)` (`IGNORE_INDEX` for
unlabelled bases) and the element names the codes index."""

SUM_COLUMNS = ("masked_tokens", "masked_bases", "loss_sum")
TABLE_NAMES = ("windows", "records", "species", "elements", "window_elements")
"""The TSV files `write_perplexity` writes (the last two only with element labels)."""

_N_BASES = str.maketrans("", "", "ACGTacgt")


# ---- masking ---------------------------------------------------------------------------------------------------


def window_rng(seed: int, record: str, start: int, copy: int = 0) -> np.random.Generator:
    """The generator that masks copy `copy` of the window at `start` of `record`: a pure function of its arguments."""
    if int(seed) < 0:
        raise ValueError(f"seed must be non-negative, got {seed}.")
    text = f"{record}\x1f{int(start)}\x1f{int(copy)}".encode()
    key = int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")
    return np.random.default_rng([int(seed), key])


def eligible_token_ids(tokenizer, vocab_size: int | None = None) -> np.ndarray:
    """Sorted ids that can be selected: the nucleotide tokens of `MLMCollator` (6-mers, single bases, `N`)."""
    return MLMCollator(tokenizer, vocab_size=vocab_size).candidate_ids.numpy()


def mask_window(
    ids: np.ndarray,
    rng: np.random.Generator,
    candidates: np.ndarray,
    mask_token_id: int,
    *,
    mlm_probability: float = MLM_PROBABILITY,
    mask_replace_prob: float = MASK_REPLACE_PROB,
    random_replace_prob: float = RANDOM_REPLACE_PROB,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(masked ids, selected positions, original ids there)` for one window's ids (`<cls>` first).

    Each token in `candidates` is selected with `mlm_probability`; a selected token becomes `<mask>` with
    `mask_replace_prob`, a different random candidate with `random_replace_prob`, and is kept otherwise.
    """
    ids = np.asarray(ids, dtype=np.int64)
    n = len(ids)
    uniform = rng.random((2, n))
    offsets = rng.integers(0, max(len(candidates) - 1, 1), n)
    selected = np.isin(ids, candidates) & (uniform[0] < mlm_probability)
    to_mask = selected & (uniform[1] < mask_replace_prob)
    to_random = selected & (uniform[1] >= mask_replace_prob) & (uniform[1] < mask_replace_prob + random_replace_prob)
    rank = np.minimum(np.searchsorted(candidates, ids), len(candidates) - 1)
    replacement = candidates[offsets + (offsets >= rank)]
    masked = ids.copy()
    masked[to_mask] = mask_token_id
    masked[to_random] = replacement[to_random]
    positions = np.flatnonzero(selected)
    return masked, positions, ids[positions]


# ---- windows ---------------------------------------------------------------------------------------------------


@dataclass
class _Window:
    species: str
    file: str
    record: str
    start: int
    end: int
    ids: np.ndarray  # <cls> first
    offsets: np.ndarray  # (tokens, 2), relative to start, no <cls>


def _check_fasta_start(path: Path) -> None:
    """A cheap look before the run: the file's first non-empty line must be a FASTA header."""
    try:
        with open_maybe_gzip(path, "rt") as handle:
            for line_number, line in enumerate(handle, start=1):
                if line.strip():
                    if not line.startswith(">"):
                        raise InputError(f"{path}, line {line_number}: sequence data before the first '>' header.")
                    return
    except (OSError, UnicodeDecodeError, EOFError) as error:
        raise InputError(f"{path}: cannot be read as FASTA ({error}).") from error
    raise InputError(f"{path}: no FASTA record (the file is empty).")


def _tokenize_windows(tokenizer, texts: list[str], where: list[tuple[Path, str, int]]):
    try:
        return tokenize_whole(tokenizer, texts)
    except ValueError:
        for text, (path, record, start) in zip(texts, where):
            try:
                tokenize_whole(tokenizer, [text])
            except ValueError as error:
                raise InputError(f"{path}, record {record}, window at 0-based position {start}: {error}") from error
        raise


def _iter_windows(
    species_files: Mapping[str, Sequence[Path]],
    tokenizer,
    *,
    window_bp: int,
    stride_bp: int,
    capacity: int,
    max_n_fraction: float,
):
    cls_id = tokenizer.cls_token_id
    for species, files in species_files.items():
        for path in files:
            records = 0
            for record in read_fasta(path):
                records += 1
                sequence = record.sequence
                if not sequence:
                    continue
                texts, where = [], []
                for start in window_starts(len(sequence), window_bp, stride_bp):
                    text = sequence[start : start + window_bp]
                    if len(text.translate(_N_BASES)) > max_n_fraction * len(text):
                        continue
                    texts.append(text)
                    where.append((path, record.name, start))
                # tokenized a slice of windows at a time, so memory holds one record and one slice of tokens
                for first in range(0, len(texts), 1024):
                    chunk = slice(first, first + 1024)
                    all_ids, all_offsets = _tokenize_windows(tokenizer, texts[chunk], where[chunk])
                    for ids, offsets, (_, name, start) in zip(all_ids, all_offsets, where[chunk]):
                        ids, offsets = ids[:capacity], offsets[:capacity]  # `N` runs can overflow the context
                        yield _Window(
                            species,
                            path.name,
                            name,
                            start,
                            start + int(offsets[-1, 1]),
                            np.concatenate([[cls_id], ids]),
                            offsets,
                        )
            if records == 0:
                raise InputError(f"{path}: no FASTA record.")


# ---- the computation -------------------------------------------------------------------------------------------


@dataclass
class PerplexityTables:
    """The tables of one run (see the module docstring for the columns' meaning).

    `windows`: one row per window (species, file, record, start, end, tokens, eligible_tokens, masked_tokens,
    masked_bases, loss_sum, perplexity, perplexity_per_base). `records` and `species`: the same sums per record and
    per species, with `windows`. `elements` (per species and element) and `window_elements` (per window and element)
    when element labels were given, else `None`.
    """

    windows: pd.DataFrame
    records: pd.DataFrame
    species: pd.DataFrame
    elements: pd.DataFrame | None = None
    window_elements: pd.DataFrame | None = None


def add_perplexity(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds `mean_loss`, `perplexity` (exp of loss_sum / masked_tokens) and `perplexity_per_base` (exp of
    loss_sum / masked_bases); NaN where nothing was masked."""
    frame = frame.copy()
    tokens = frame["masked_tokens"].astype(float).replace(0, np.nan)
    bases = frame["masked_bases"].astype(float).replace(0, np.nan)
    frame["mean_loss"] = frame["loss_sum"] / tokens
    frame["perplexity"] = np.exp(np.minimum(frame["mean_loss"], 700.0))
    frame["perplexity_per_base"] = np.exp(np.minimum(frame["loss_sum"] / bases, 700.0))
    return frame


def aggregate_perplexity(frame: pd.DataFrame, by: str | Sequence[str]) -> pd.DataFrame:
    """Pools rows of a window-level table by `by`: sums `masked_tokens`, `masked_bases` and `loss_sum`, counts the
    `windows`, and recomputes the perplexities from the sums (exp of total loss over total masked tokens)."""
    by = [by] if isinstance(by, str) else list(by)
    grouped = frame.groupby(by, sort=False, dropna=False)
    out = grouped[list(SUM_COLUMNS)].sum().reset_index()
    out.insert(len(by), "windows", grouped.size().to_numpy())
    return add_perplexity(out)


def _species_files(fasta: str | os.PathLike | Iterable[str | os.PathLike]) -> dict[str, list[Path]]:
    paths = [fasta] if isinstance(fasta, (str, os.PathLike)) else list(fasta)
    if not paths:
        raise InputError("No FASTA file given.")
    return find_fasta_files(paths)


def _labels_for(base_labels, species: str):
    if base_labels is None or callable(base_labels):
        return base_labels
    return base_labels.get(species)


def masked_perplexity(
    model,
    tokenizer,
    fasta: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    window_bp: int | None = None,
    stride_bp: int | None = None,
    seed: int = 0,
    copies: int = 1,
    base_labels: BaseLabels | Mapping[str, BaseLabels] | None = None,
    max_n_fraction: float = 0.5,
    batch_size: int = DEFAULT_BATCH_SIZE,
    chunk_windows: int = 512,
    progress: bool = False,
) -> PerplexityTables:
    """Paper-style masked-LM perplexity of the records of one or more FASTA files (rules in the module docstring).

    Args:
        model: an NT masked-LM (`NucleotideTransformerForMaskedLM`).
        tokenizer: its tokenizer.
        fasta: a FASTA[.gz] file, a folder of them, or a list of either; each file is a species named by
            `pretraining_data.species_name` (files with the same name are one species).
        window_bp: bases per window (default and maximum: `dna.context_bp`, the bases that fill the context). A
            window whose `N`s make more tokens than the context is cut at the context; its `end` says where.
        stride_bp: distance between window starts (default `window_bp`: no overlap).
        seed: masking seed (non-negative).
        copies: independent maskings of each window; its row sums them all.
        base_labels: per-base element labels, `base_labels(record, start, end) -> (codes, names)`, or a mapping
            species -> such a function (a species without one gets no element rows).
        max_n_fraction: windows with a larger fraction of `N` are skipped (the pretraining windows' rule).
        batch_size: windows per forward pass (see `inference.run_forward_passes`).
        chunk_windows: windows masked and run together; bounds the memory, not the numbers.
        progress: a progress bar over windows.

    Raises `InputError` for a missing, empty or record-less FASTA file, a character the tokenizer refuses (naming
    file, record and window) and a window larger than the context.
    """
    capacity = context_tokens(model, tokenizer)
    largest = context_bp(model, tokenizer)
    window_bp = largest if window_bp is None else int(window_bp)
    if not 0 < window_bp <= largest:
        raise InputError(
            f"window_bp {window_bp} does not fit the model's context: at most {largest} bp "
            f"({capacity} 6-mer tokens besides <cls>)."
        )
    stride_bp = window_bp if stride_bp is None else int(stride_bp)
    if stride_bp <= 0:
        raise InputError(f"stride_bp must be positive, got {stride_bp}.")
    if copies < 1:
        raise InputError(f"copies must be at least 1, got {copies}.")
    if int(seed) < 0:
        raise InputError(f"seed must be non-negative, got {seed}.")
    if not 0.0 <= max_n_fraction <= 1.0:
        raise InputError(f"max_n_fraction must be in [0, 1], got {max_n_fraction}.")
    species_files = _species_files(fasta)
    for files in species_files.values():
        for path in files:
            _check_fasta_start(path)

    candidates = eligible_token_ids(tokenizer, getattr(model.config, "vocab_size", None))
    mask_id = tokenizer.mask_token_id
    window_rows: list[dict] = []
    element_rows: list[dict] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc="perplexity", unit="window")

    def run(chunk: list[_Window]) -> None:
        passes, masks = [], []
        for window in chunk:
            for copy in range(copies):
                masked, positions, targets = mask_window(
                    window.ids, window_rng(seed, window.record, window.start, copy), candidates, mask_id
                )
                masks.append(positions)
                if len(positions):
                    passes.append(ForwardPass(masked, "log_probs", positions=tuple(positions), targets=tuple(targets)))
        results = iter(run_forward_passes(model, passes, batch_size=batch_size, pad_token_id=tokenizer.pad_token_id))
        spans_of = iter(masks)
        for window in chunk:
            spans = window.offsets[:, 1] - window.offsets[:, 0]
            labels_fn = _labels_for(base_labels, window.species)
            token_elements, names = None, None
            if labels_fn is not None:
                codes, names = labels_fn(window.record, window.start, window.end)
                codes = np.asarray(codes)
                if codes.shape != (window.end - window.start,):
                    raise ValueError(
                        f"base_labels({window.record!r}, {window.start}, {window.end}) gave {codes.shape} codes, "
                        f"expected ({window.end - window.start},)."
                    )
                token_elements = np.asarray(token_labels_from_bases(codes, window.offsets))
            row = dict(
                species=window.species,
                file=window.file,
                record=window.record,
                start=window.start,
                end=window.end,
                tokens=len(window.ids) - 1,
                eligible_tokens=int(np.isin(window.ids, candidates).sum()),
                masked_tokens=0,
                masked_bases=0,
                loss_sum=0.0,
            )
            per_element: dict[str, list] = {}
            for _ in range(copies):
                positions = next(spans_of)
                if not len(positions):
                    continue
                losses = -next(results).astype(np.float64)
                bases = spans[positions - 1]
                row["masked_tokens"] += len(positions)
                row["masked_bases"] += int(bases.sum())
                row["loss_sum"] += float(losses.sum())
                if token_elements is not None:
                    for code, loss, base_count in zip(token_elements[positions - 1], losses, bases):
                        if code == IGNORE_INDEX:
                            continue
                        if not 0 <= code < len(names):
                            raise ValueError(f"base_labels gave code {code} for {len(names)} element names.")
                        totals = per_element.setdefault(names[code], [0, 0, 0.0])
                        totals[0] += 1
                        totals[1] += int(base_count)
                        totals[2] += float(loss)
            window_rows.append(row)
            for element, (count, base_count, loss) in per_element.items():
                element_rows.append(
                    dict(
                        species=window.species,
                        file=window.file,
                        record=window.record,
                        start=window.start,
                        end=window.end,
                        element=element,
                        masked_tokens=count,
                        masked_bases=base_count,
                        loss_sum=loss,
                    )
                )
        if bar is not None:
            bar.update(len(chunk))

    try:
        chunk: list[_Window] = []
        for window in _iter_windows(
            species_files,
            tokenizer,
            window_bp=window_bp,
            stride_bp=stride_bp,
            capacity=capacity,
            max_n_fraction=max_n_fraction,
        ):
            chunk.append(window)
            if len(chunk) >= chunk_windows:
                run(chunk)
                chunk = []
        if chunk:
            run(chunk)
    finally:
        if bar is not None:
            bar.close()
    return build_tables(window_rows, element_rows if base_labels is not None else None)


def build_tables(window_rows: Sequence[Mapping], element_rows: Sequence[Mapping] | None = None) -> PerplexityTables:
    """`PerplexityTables` from window rows (and window x element rows): the per-record, per-species and per-element
    levels are sums of the rows below them."""
    columns = ["species", "file", "record", "start", "end", "tokens", "eligible_tokens", *SUM_COLUMNS]
    windows = pd.DataFrame(list(window_rows), columns=columns)
    windows = windows.astype({c: "int64" for c in columns[3:-1]} | {"loss_sum": "float64"})
    windows = add_perplexity(windows)
    records = aggregate_perplexity(windows, ["species", "file", "record"])
    species = aggregate_perplexity(windows, "species")
    elements = window_elements = None
    if element_rows is not None:
        element_columns = ["species", "file", "record", "start", "end", "element", *SUM_COLUMNS]
        window_elements = pd.DataFrame(list(element_rows), columns=element_columns)
        window_elements = add_perplexity(
            window_elements.astype({"masked_tokens": "int64", "masked_bases": "int64", "loss_sum": "float64"})
        )
        elements = aggregate_perplexity(window_elements, ["species", "element"])
    return PerplexityTables(windows, records, species, elements, window_elements)


# ---- outputs ---------------------------------------------------------------------------------------------------


def plot_perplexity(tables: PerplexityTables, path: str | os.PathLike) -> Path:
    """A PNG of the distribution of window perplexity per species (box plots, log scale) and, with element labels,
    of window x element perplexity per element. matplotlib's Agg canvas: no display, global backend untouched."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = [("species", tables.windows, "window perplexity")]
    if tables.window_elements is not None and len(tables.window_elements):
        panels.append(("element", tables.window_elements, "window perplexity of the element's masked tokens"))
    figure = Figure(figsize=(6 * len(panels), 4.5))
    FigureCanvasAgg(figure)
    axes_list = figure.subplots(1, len(panels), squeeze=False)[0]
    for axes, (key, frame, ylabel) in zip(axes_list, panels):
        frame = frame[np.isfinite(frame["perplexity"])]
        groups = list(dict.fromkeys(frame[key]))
        data = [frame.loc[frame[key] == group, "perplexity"].to_numpy() for group in groups]
        if data:
            axes.boxplot(data, showfliers=False)
            axes.set_xticks(range(1, len(groups) + 1), groups, rotation=30, ha="right", fontsize="small")
            axes.set_yscale("log")
        axes.set_xlabel(key)
        axes.set_ylabel(ylabel)
    figure.tight_layout()
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    figure.savefig(temporary, format="png", dpi=120)
    os.replace(temporary, path)
    return path


def write_perplexity(tables: PerplexityTables, out: str | os.PathLike, *, plot: bool = True) -> dict[str, Path]:
    """Writes `windows.tsv`, `records.tsv`, `species.tsv`, with labels `elements.tsv` and `window_elements.tsv`,
    and `perplexity.png` into the folder `out` (created). Each file is written under a temporary name and renamed, so
    a file under its final name is always whole. Returns the paths by name."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frames = {"windows": tables.windows, "records": tables.records, "species": tables.species}
    if tables.elements is not None:
        frames["elements"] = tables.elements
        frames["window_elements"] = tables.window_elements
    written: dict[str, Path] = {}
    temporaries = []
    for name, frame in frames.items():
        path = out / f"{name}.tsv"
        temporary = out / f".{name}.tsv.tmp"
        frame.to_csv(temporary, sep="\t", index=False, float_format="%.6g")
        temporaries.append((temporary, path))
        written[name] = path
    for temporary, path in temporaries:
        os.replace(temporary, path)
    if plot:
        written["plot"] = plot_perplexity(tables, out / "perplexity.png")
    return written


def perplexity_report(model, tokenizer, fasta, out: str | os.PathLike, *, plot: bool = True, **options):
    """`masked_perplexity` then `write_perplexity` into `out`: nothing is written unless every input was read.
    Returns `(tables, paths)`."""
    tables = masked_perplexity(model, tokenizer, fasta, **options)
    return tables, write_perplexity(tables, out, plot=plot)


def annotation_labels(
    fasta: str | os.PathLike, annotation: str | os.PathLike, *, promoter_bp: int | None = None
) -> BaseLabels:
    """`base_labels` for the records of one FASTA file from its GFF3 or BED annotation, by the rules of
    `annotations` (element priority, derived promoters, `N` unlabelled). The records' sequences are held in memory
    (a bacterial genome: a few MB); the annotation is checked against them first (`annotations.annotated_records`)."""
    from .annotations import DEFAULT_PROMOTER_BP, annotated_records, base_labels, read_annotation

    parsed = read_annotation(annotation)
    records = {record.name: record for record in annotated_records(fasta, parsed)}
    elements = parsed.element_types()
    promoter = DEFAULT_PROMOTER_BP if promoter_bp is None else promoter_bp

    def labels(record: str, start: int, end: int):
        return base_labels(parsed, records[record], start, end, elements=elements, promoter_bp=promoter), elements

    return labels


def pooled_perplexity(losses: Iterable[float]) -> float:
    """exp of the mean of masked-token losses (nats): the pooled perplexity of a set of tokens."""
    losses = list(losses)
    return math.exp(sum(losses) / len(losses)) if losses else math.nan


__all__ = [
    "TABLE_NAMES",
    "BaseLabels",
    "PerplexityTables",
    "add_perplexity",
    "annotation_labels",
    "aggregate_perplexity",
    "build_tables",
    "eligible_token_ids",
    "mask_window",
    "masked_perplexity",
    "perplexity_report",
    "plot_perplexity",
    "pooled_perplexity",
    "window_rng",
    "write_perplexity",
]
