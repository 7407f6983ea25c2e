"""Genome-scale embeddings to a folder of parquet shards (`nucleotide-transformer embed`).

    nucleotide-transformer embed --model M --fasta genome.fa --window 6000 --stride 5000 --out emb/
    nucleotide-transformer embed --model M --bed regions.bed --fasta hg38.fa --flank 100 --out emb/
    nucleotide-transformer embed --model M --table seqs.csv --column sequence --id-column id --out emb/
    accelerate launch --num_processes 4 -m nucleotide_transformer_hf embed ...   # shards split across processes

The vectors are `inference.embed_sequences`'s (same code, same windows and stitching); this module adds:

* **Inputs** (`FastaInput`, `BedInput`, `TableInput`, `DatasetInput`): streaming readers that yield `Region`
  tuples `(id, contig, start, end, strand, sequence)` without holding the input in memory. Every user mistake is an
  `InputError` naming the file and line or row, found by a first pass over the whole input before anything is
  written: an empty input or record, a BED row on an unknown contig or past its end, a bad strand, a table without
  the column, a missing value, a character the tokenizer refuses, a duplicate id.
* **Output** (`out_dir`): `shard-NNNNN-of-MMMMM.parquet` files of `shard_size` inputs each, in input order, and
  `manifest.json` (model, every option, counts, each shard's sha256 and row count). Columns: `index` (0-based input
  order), `id`, `contig`, `start`, `end` (0-based half-open on the contig; null for tables), `strand`, `length` and
  one float32 column per requested layer (`embedding`, or `embedding_layer<L>` for a list of layers): a fixed-length
  list per row for pooled outputs, a list of fixed-length lists (rows x hidden) for `token`/`nucleotide`. A shard
  is written a row group at a time (a bounded number of output floats each), so per-token outputs never sit in
  memory whole.
* **Atomic and resumable**: shards are written under `<out>.partial/` (temporary name, then renamed) next to a
  `meta.json` holding a fingerprint of the input bytes, the model and every option. Rerunning the same command
  computes only the missing shards; at the end the manifest is written and `<out>.partial` is renamed to `<out>`,
  so `<out>` is either absent or complete, and equal byte for byte to an uninterrupted run's. A checkpoint or an
  output folder of another run is refused unless `restart=True`.
* **Several processes** (`accelerate launch`): shard `i` belongs to process `i % num_processes`; process 0 writes
  the manifest after all have finished. A shard's numbers do not depend on which process ran it (CPU processes
  under `accelerate launch` get `OMP_NUM_THREADS=1`; compare with a one-thread run).
"""

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .dna import context_tokens, open_maybe_gzip, read_fasta, reverse_complement, table_separator, window_starts
from .errors import InputError
from .inference import DEFAULT_BATCH_SIZE, POOLINGS, WHITESPACE, embed_sequences, normalise_layers, token_counts
from .precision import inference_dtype

MANIFEST = "manifest.json"
SHARDS = "data"
"""Sub-folder of the shards (so that `pyarrow`/`pandas` can read `<out>/data` as one dataset)."""
FORMAT = "nucleotide-transformer-embeddings/1"
DEFAULT_SHARD_SIZE = 10_000
GROUP_FLOATS = 1 << 24
"""Output floats per parquet row group (64 MB of float32): the unit embedded and written at a time."""
GROUP_BASES = 1 << 22
"""Input bases per row group at most (bounds the sequences held at a time for pooled outputs)."""


class Region(NamedTuple):
    """One input: `start`/`end` are 0-based half-open on `contig` (None for table rows); `strand` `+`/`-` or None."""

    id: str
    contig: str | None
    start: int | None
    end: int | None
    strand: str | None
    sequence: str


# ---- inputs -----------------------------------------------------------------------------------------------------


def _hash_files(paths: Sequence[str | os.PathLike]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(os.fspath(path).encode() + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _exists(path: str, what: str) -> None:
    if not os.path.exists(path):
        raise InputError(f"{what} {path} does not exist.")


@dataclass(frozen=True)
class FastaInput:
    """Every record of a FASTA(.gz), whole, or tiled with windows of `window` bases every `stride` (default
    `window`): tiles start at 0, `stride`, `2 stride`, ... and one more tile ends flush with the record's end when the
    grid does not (`dna.window_starts`); a record no longer than `window` is one tile. Tile ids are
    `name:start+1-end` (1-based inclusive, as samtools writes regions); whole records keep their name."""

    fasta: str
    window: int | None = None
    stride: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "fasta", os.fspath(self.fasta))
        if self.window is not None and self.window < 1:
            raise InputError(f"--window must be a positive number of bases, got {self.window}.")
        if self.stride is not None and (self.window is None or self.stride < 1):
            raise InputError("--stride needs --window and must be positive.")

    def content_hash(self) -> str:
        return _hash_files([self.fasta])

    def places(self) -> Iterator[tuple[str, Region]]:
        _exists(self.fasta, "FASTA")
        for number, record in enumerate(read_fasta(self.fasta), start=1):
            place = f"{self.fasta}, record {number} ({record.name!r})"
            sequence = record.sequence.translate(WHITESPACE)
            if not sequence:
                raise InputError(f"{place}: the record has no sequence.")
            if self.window is None:
                yield place, Region(record.name, record.name, 0, len(sequence), "+", sequence)
                continue
            for start in window_starts(len(sequence), self.window, self.stride or self.window):
                end = min(start + self.window, len(sequence))
                tile = Region(f"{record.name}:{start + 1}-{end}", record.name, start, end, "+", sequence[start:end])
                yield f"{place}, tile {start + 1}-{end}", tile


@dataclass(frozen=True)
class BedInput:
    """BED regions (0-based half-open; columns chrom, start, end, optional name, score, strand) read from an indexed
    FASTA (`variants.ReferenceGenome`). `flank` bases are added on both sides, clipped at the contig's ends (the
    `start`/`end` columns give what was embedded). Strand `-` embeds the reverse complement; `+`, `.` or no column
    the forward strand. The id is the name column, or `chrom:start+1-end` (with `(+)`/`(-)` when a strand is given).
    Blank lines and `#`, `track` and `browser` lines are skipped."""

    bed: str
    fasta: str
    flank: int = 0

    def __post_init__(self):
        object.__setattr__(self, "bed", os.fspath(self.bed))
        object.__setattr__(self, "fasta", os.fspath(self.fasta))
        if self.flank < 0:
            raise InputError(f"--flank must be non-negative, got {self.flank}.")

    def _genome(self):
        from .variants import ReferenceGenome

        return ReferenceGenome(self.fasta)

    def content_hash(self) -> str:
        genome = self._genome()
        extra = json.dumps({"lengths": genome.lengths, "size": os.path.getsize(self.fasta)}, sort_keys=True)
        return hashlib.sha256((_hash_files([self.bed]) + extra).encode()).hexdigest()

    def places(self) -> Iterator[tuple[str, Region]]:
        _exists(self.bed, "BED file")
        genome = self._genome()
        with open_maybe_gzip(self.bed, "rt") as handle:
            for number, line in enumerate(handle, start=1):
                text = line.rstrip("\r\n")
                if not text.strip() or text.startswith(("#", "track", "browser")):
                    continue
                place = f"{self.bed}, line {number}"
                fields = text.split("\t") if "\t" in text else text.split()
                if len(fields) < 3:
                    raise InputError(f"{place}: expected at least 3 columns (chrom, start, end), found {len(fields)}.")
                chrom, start_text, end_text = fields[:3]
                if not (start_text.isdigit() and end_text.isdigit()):
                    raise InputError(f"{place}: start {start_text!r} and end {end_text!r} must be integers >= 0.")
                start, end = int(start_text), int(end_text)
                if end <= start:
                    raise InputError(f"{place}: end {end} is not after start {start} (BED is 0-based half-open).")
                if chrom not in genome.lengths:
                    known = ", ".join(list(genome.lengths)[:5]) + (", ..." if len(genome.lengths) > 5 else "")
                    raise InputError(f"{place}: contig {chrom!r} is not in {self.fasta} (it has {known}).")
                length = genome.lengths[chrom]
                if end > length:
                    raise InputError(f"{place}: end {end} is past the end of {chrom} ({length} bp).")
                strand = fields[5] if len(fields) > 5 else "."
                if strand not in ("+", "-", "."):
                    raise InputError(f"{place}: strand {strand!r} must be '+', '-' or '.'.")
                name = fields[3] if len(fields) > 3 and fields[3] not in ("", ".") else None
                if name is None:
                    name = f"{chrom}:{start + 1}-{end}" + (f"({strand})" if strand != "." else "")
                lo, hi = max(0, start - self.flank), min(length, end + self.flank)
                sequence = genome.fetch(chrom, lo, hi)
                if strand == "-":
                    try:
                        sequence = reverse_complement(sequence)
                    except ValueError as error:
                        raise InputError(f"{place}: {error}") from None
                yield place, Region(name, chrom, lo, hi, "-" if strand == "-" else "+", sequence)


def _table_ids(columns: Sequence[str], column: str, id_column: str | None, where: str) -> str | None:
    if column not in columns:
        raise InputError(f"{where}: no column {column!r} (columns: {', '.join(map(str, columns))}).")
    if id_column is not None and id_column not in columns:
        raise InputError(f"{where}: no id column {id_column!r} (columns: {', '.join(map(str, columns))}).")
    if id_column is None and "id" in columns:
        return "id"
    return id_column


def _table_region(place: str, number: int, sequence: Any, identifier: Any, column: str, ids: str | None) -> Region:
    if not isinstance(sequence, str):
        raise InputError(f"{place}: column {column!r} holds {sequence!r}, not a DNA string.")
    sequence = sequence.translate(WHITESPACE)
    if not sequence:
        raise InputError(f"{place}: column {column!r} is empty.")
    if ids is None:
        return Region(str(number), None, None, None, None, sequence)
    if identifier is None or identifier == "" or (isinstance(identifier, float) and identifier != identifier):
        raise InputError(f"{place}: the id column {ids!r} is empty.")
    return Region(str(identifier), None, None, None, None, sequence)


@dataclass(frozen=True)
class TableInput:
    """Rows of a CSV/TSV(.gz) or parquet table: the DNA in `column`, the id in `id_column` (default: the `id` column
    when there is one, else the 1-based row number)."""

    table: str
    column: str = "sequence"
    id_column: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "table", os.fspath(self.table))

    def content_hash(self) -> str:
        return _hash_files([self.table])

    def places(self) -> Iterator[tuple[str, Region]]:
        _exists(self.table, "table")
        if self.table.lower().endswith(".parquet"):
            yield from self._parquet()
            return
        import csv

        with open_maybe_gzip(self.table, "rt") as handle:
            reader = csv.DictReader(handle, delimiter=table_separator(self.table))
            columns = reader.fieldnames or []
            if not columns:
                raise InputError(f"{self.table} is empty: no header line.")
            ids = _table_ids(columns, self.column, self.id_column, f"{self.table}, line 1")
            for number, row in enumerate(reader, start=1):
                place = f"{self.table}, line {reader.line_num}"
                identifier = row.get(ids) if ids else None
                yield place, _table_region(place, number, row.get(self.column), identifier, self.column, ids)

    def _parquet(self):
        import pyarrow.parquet as pq

        try:
            handle = pq.ParquetFile(self.table)
        except Exception as error:  # pyarrow raises ArrowInvalid and friends
            raise InputError(f"{self.table}: cannot be read as parquet: {error}") from None
        ids = _table_ids(handle.schema_arrow.names, self.column, self.id_column, self.table)
        columns = [self.column] + ([ids] if ids else [])
        number = 0
        for batch in handle.iter_batches(batch_size=1024, columns=columns):
            data = batch.to_pydict()
            for k, sequence in enumerate(data[self.column]):
                number += 1
                place = f"{self.table}, row {number}"
                yield place, _table_region(place, number, sequence, data[ids][k] if ids else None, self.column, ids)


@dataclass(frozen=True)
class DatasetInput:
    """Rows of a `datasets.Dataset` saved with `save_to_disk` (memory-mapped, read in batches); columns as for
    `TableInput`. A `DatasetDict` folder is refused: give one split's folder (`DIR/train`)."""

    dataset: str
    column: str = "sequence"
    id_column: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "dataset", os.fspath(self.dataset))

    def content_hash(self) -> str:
        files = sorted(p for p in Path(self.dataset).rglob("*") if p.is_file())
        return _hash_files(files)

    def places(self) -> Iterator[tuple[str, Region]]:
        _exists(self.dataset, "dataset folder")
        import datasets

        try:
            data = datasets.load_from_disk(self.dataset)
        except Exception as error:  # FileNotFoundError for a folder that is not a saved dataset
            raise InputError(f"{self.dataset}: not a dataset saved with save_to_disk: {error}") from None
        if isinstance(data, datasets.DatasetDict):
            raise InputError(
                f"{self.dataset} holds splits {sorted(data)}; give one split's folder, e.g. {self.dataset}/{next(iter(data))}."
            )
        ids = _table_ids(data.column_names, self.column, self.id_column, self.dataset)
        number = 0
        for batch in data.select_columns([self.column] + ([ids] if ids else [])).iter(batch_size=1024):
            for k, sequence in enumerate(batch[self.column]):
                number += 1
                place = f"{self.dataset}, row {number}"
                yield place, _table_region(place, number, sequence, batch[ids][k] if ids else None, self.column, ids)


EmbeddingInput = FastaInput | BedInput | TableInput | DatasetInput


def read_regions(source: EmbeddingInput) -> Iterator[Region]:
    """The inputs of `source` as `Region` tuples, streaming (one record or batch held at a time)."""
    for _, region in source.places():
        yield region


def _input_name(source: EmbeddingInput) -> str:
    return (
        getattr(source, "bed", None)
        or getattr(source, "table", None)
        or getattr(source, "dataset", None)
        or source.fasta
    )


def scan_inputs(source: EmbeddingInput, tokenizer=None, max_tokens: int | None = None) -> dict[str, int]:
    """Checks every input (and its characters with the tokenizer's rules, when given) before anything is written;
    returns `{"inputs": n, "bases": total}`. Ids are checked unique through 8-byte digests (8 bytes per input).
    `max_tokens` (for `cls` pooling) refuses an input with more tokens than one window holds."""
    digests, bases = [], 0
    validate = getattr(tokenizer, "_validate", None)
    for place, region in source.places():
        if validate is not None:
            try:
                validate([region.sequence], is_batched=False, split_special_tokens=True)
            except ValueError as error:
                raise InputError(f"{place} (id {region.id!r}): {error}") from None
        if max_tokens is not None and token_counts(tokenizer, [region.sequence])[0] - 1 > max_tokens:
            raise InputError(
                f"{place} (id {region.id!r}): longer than one window of {max_tokens} tokens; 'cls' pooling is defined "
                "for one window only: use 'mean', 'token' or 'nucleotide', or cut the input (--window)."
            )
        digests.append(int.from_bytes(hashlib.blake2b(region.id.encode(), digest_size=8).digest(), "little"))
        bases += len(region.sequence)
    if not digests:
        raise InputError(f"{_input_name(source)}: no inputs to embed (the input is empty).")
    values = np.asarray(digests, dtype=np.uint64)
    del digests
    uniq, counts = np.unique(values, return_counts=True)
    if (counts > 1).any():
        clash = set(uniq[counts > 1].tolist())
        seen: dict[str, str] = {}
        for place, region in source.places():
            key = int.from_bytes(hashlib.blake2b(region.id.encode(), digest_size=8).digest(), "little")
            if key in clash:
                if region.id in seen:
                    raise InputError(f"{place}: duplicate id {region.id!r} (first at {seen[region.id]}).")
                seen[region.id] = place
    return {"inputs": len(values), "bases": bases}


# ---- embedding one group of inputs ---------------------------------------------------------------------------------


def embed_regions(
    model,
    tokenizer,
    sequences: Sequence[str],
    *,
    pooling: str = "mean",
    layers: int | Sequence[int] = -1,
    both_strands: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    window_overlap: int | None = None,
) -> list[np.ndarray]:
    """`embed_sequences`, with `both_strands` the mean of each sequence's and its reverse complement's output
    (`nucleotide`: the reverse complement's rows flipped back, so that row i is base i on both strands)."""
    kwargs = dict(pooling=pooling, layers=layers, batch_size=batch_size, window_overlap=window_overlap)
    if not both_strands:
        return embed_sequences(model, tokenizer, list(sequences), **kwargs)
    outputs = embed_sequences(model, tokenizer, [*sequences, *map(reverse_complement, sequences)], **kwargs)
    forward, backward = outputs[: len(sequences)], outputs[len(sequences) :]
    if pooling == "nucleotide":
        backward = [b[..., ::-1, :] for b in backward]
    return [((f + b) / 2).astype(np.float32) for f, b in zip(forward, backward)]


def _schema(columns: list[str], hidden: int, per_row: bool):
    import pyarrow as pa

    vector = pa.list_(pa.float32(), hidden)
    value = pa.list_(vector) if per_row else vector
    return pa.schema(
        [
            ("index", pa.int64()),
            ("id", pa.string()),
            ("contig", pa.string()),
            ("start", pa.int64()),
            ("end", pa.int64()),
            ("strand", pa.string()),
            ("length", pa.int64()),
            *[(name, value) for name in columns],
        ]
    )


def _arrow_vectors(arrays: list[np.ndarray], hidden: int, per_row: bool):
    import pyarrow as pa

    flat = pa.array(np.concatenate([a.reshape(-1) for a in arrays]).astype(np.float32, copy=False), pa.float32())
    vectors = pa.FixedSizeListArray.from_arrays(flat, hidden)
    if not per_row:
        return vectors
    offsets = np.concatenate([[0], np.cumsum([a.shape[0] for a in arrays])]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), vectors)


@dataclass
class _Job:
    model: Any
    tokenizer: Any
    pooling: str
    layers: int | list[int]
    layer_indexes: list[int]
    single: bool
    columns: list[str]
    hidden: int
    both_strands: bool
    batch_size: int
    window_overlap: int | None

    @property
    def per_row(self) -> bool:
        return self.pooling in ("token", "nucleotide")

    def cost(self, length: int) -> int:
        rows = {"token": length // 6 + 1, "nucleotide": length}.get(self.pooling, 1)
        return rows * self.hidden * len(self.layer_indexes) * (2 if self.both_strands else 1)


def _group_table(job: _Job, items: list[tuple[int, str, Region]]):
    import pyarrow as pa

    try:
        vectors = embed_regions(
            job.model,
            job.tokenizer,
            [region.sequence for _, _, region in items],
            pooling=job.pooling,
            layers=job.layers,
            both_strands=job.both_strands,
            batch_size=job.batch_size,
            window_overlap=job.window_overlap,
        )
    except ValueError as error:  # e.g. 'cls' pooling of a sequence longer than one window
        found = re.match(r"Sequence (\d+)", str(error))
        k = int(found[1]) % len(items) if found else 0
        raise InputError(f"{items[k][1]} (id {items[k][2].id!r}): {error}") from None
    if job.single:
        vectors = [v[None] for v in vectors]
    columns = {
        "index": pa.array([index for index, _, _ in items], pa.int64()),
        "id": pa.array([r.id for _, _, r in items], pa.string()),
        "contig": pa.array([r.contig for _, _, r in items], pa.string()),
        "start": pa.array([r.start for _, _, r in items], pa.int64()),
        "end": pa.array([r.end for _, _, r in items], pa.int64()),
        "strand": pa.array([r.strand for _, _, r in items], pa.string()),
        "length": pa.array([len(r.sequence) for _, _, r in items], pa.int64()),
    }
    for position, name in enumerate(job.columns):
        columns[name] = _arrow_vectors([v[position] for v in vectors], job.hidden, job.per_row)
    return pa.table(columns, schema=_schema(job.columns, job.hidden, job.per_row))


def _write_shard(job: _Job, temporary: str, items: Iterator[tuple[int, str, Region]], bar) -> int:
    """Writes the inputs of one shard to `temporary`, one row group per bounded group of inputs; returns the rows."""
    import pyarrow.parquet as pq

    rows = 0
    with pq.ParquetWriter(temporary, _schema(job.columns, job.hidden, job.per_row), compression="zstd") as writer:
        group, floats, bases = [], 0, 0
        for item in chain(items, [None]):
            if item is not None:
                group.append(item)
                floats += job.cost(len(item[2].sequence))
                bases += len(item[2].sequence)
            if group and (item is None or floats >= GROUP_FLOATS or bases >= GROUP_BASES):
                writer.write_table(_group_table(job, group), row_group_size=len(group))
                rows += len(group)
                if bar is not None:
                    bar.update(len(group))
                group, floats, bases = [], 0, 0
    return rows


# ---- the job --------------------------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_description(model) -> dict[str, Any]:
    """Model path, sha256 of its config JSON, inference dtype (`precision.inference_dtype`) and device (as recorded
    in the manifest)."""
    config = getattr(model, "config", None)
    return {
        "path": str(getattr(model, "name_or_path", "") or ""),
        "config_sha256": hashlib.sha256(config.to_json_string().encode()).hexdigest(),
        "dtype": inference_dtype(model),  # "int8" for quantised linears (model.dtype stays float32)
        "device": model.device.type,
    }


def _weights_stamp(model) -> str:
    source = str(getattr(model, "name_or_path", "") or "")
    if not os.path.isdir(source):
        return ""
    return ";".join(f"{n}:{os.stat(os.path.join(source, n)).st_size}" for n in sorted(os.listdir(source)))


def shard_name(k: int, count: int) -> str:
    return f"train-{k:05d}-of-{count:05d}.parquet"


def embed_to_folder(
    model,
    tokenizer,
    source: EmbeddingInput,
    out_dir: str | os.PathLike,
    *,
    pooling: str = "mean",
    layers: int | Sequence[int] = -1,
    both_strands: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    shard_size: int = DEFAULT_SHARD_SIZE,
    window_overlap: int | None = None,
    restart: bool = False,
    progress: bool = True,
) -> dict[str, int]:
    """Embeds every input of `source` into parquet shards under `out_dir` (rules in the module docstring).

    Works in one process or under `accelerate launch` (shard `i` to process `i % num_processes`; process 0 writes
    the manifest). `both_strands` averages each input's output with its reverse complement's (`mean`/`cls`: the
    vectors; `nucleotide`: base by base; refused for `token`, whose tokens do not line up between strands).
    Returns `inputs`, `bases`, `shards`, `shards_resumed` (found done from an interrupted run) and
    `shards_computed` (by this process).
    """
    from .variants import accelerate_state, write_atomically

    if pooling not in POOLINGS:
        raise InputError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}.")
    if both_strands and pooling == "token":
        raise InputError(
            "--both-strands is not defined for 'token' pooling (tokens of the two strands do not line up); use 'nucleotide'."
        )
    for name, value in (("shard_size", shard_size), ("batch_size", batch_size)):
        if value < 1:
            raise InputError(f"{name} must be at least 1, got {value}.")
    try:
        layer_indexes, single = normalise_layers(model.config, layers)
    except ValueError as error:
        raise InputError(str(error)) from None
    layers = int(layers) if single else [int(layer) for layer in layers]
    columns = ["embedding"] if single else [f"embedding_layer{index}" for index in layer_indexes]
    if len(set(columns)) != len(columns):
        raise InputError(f"layers {layers} name the same hidden state twice.")
    job = _Job(
        model,
        tokenizer,
        pooling,
        layers,
        layer_indexes,
        single,
        columns,
        model.config.hidden_size,
        both_strands,
        batch_size,
        window_overlap,
    )

    state = accelerate_state()
    out = Path(out_dir)
    partial = out.with_name(out.name + ".partial")
    counts = scan_inputs(source, tokenizer, context_tokens(model.config, tokenizer) if pooling == "cls" else None)
    shards = -(-counts["inputs"] // shard_size)
    options = {
        "pooling": pooling,
        "layers": layers,
        "both_strands": both_strands,
        "batch_size": batch_size,
        "shard_size": shard_size,
        "window_overlap": window_overlap,
    }
    description = {"kind": type(source).__name__, **asdict(source)}
    fingerprint = hashlib.sha256(
        json.dumps(
            [description, source.content_hash(), model_description(model), _weights_stamp(model), options],
            sort_keys=True,
        ).encode()
    ).hexdigest()

    manifest_path = out / MANIFEST
    if out.exists():
        previous = json.loads(manifest_path.read_text()) if manifest_path.is_file() else None
        if previous is None:
            raise InputError(f"{out} exists and is not an embed output (no {MANIFEST}); choose another --out.")
        if previous.get("fingerprint") == fingerprint and not restart:
            return {**counts, "shards": shards, "shards_resumed": shards, "shards_computed": 0}
        if not restart:
            raise InputError(
                f"{out} holds the output of a run with other inputs or options; pass --restart to replace it."
            )
    meta = partial / "meta.json"
    if not restart and meta.is_file() and json.loads(meta.read_text()).get("fingerprint") != fingerprint:
        raise InputError(
            f"{partial} holds a checkpoint of a run with other inputs or options; rerun with the same ones to resume, "
            "or pass --restart to discard it."
        )
    if state.is_main_process:
        if restart and out.exists():
            shutil.rmtree(out)
        if partial.exists() and (restart or not meta.is_file()):
            shutil.rmtree(partial)
        partial.mkdir(parents=True, exist_ok=True)
        (partial / SHARDS).mkdir(exist_ok=True)
        for stale in (partial / SHARDS).glob(".*.tmp"):  # left by a killed run
            stale.unlink()
        if not meta.is_file():
            text = json.dumps({"fingerprint": fingerprint, "shards": shards})
            write_atomically(meta, lambda t: Path(t).write_text(text))
    state.wait_for_everyone()

    done = {k for k in range(shards) if (partial / SHARDS / shard_name(k, shards)).is_file()}
    mine = [k for k in range(shards) if k % state.num_processes == state.process_index and k not in done]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        total = sum(min(shard_size, counts["inputs"] - k * shard_size) for k in mine)
        label = f"embedding (process {state.process_index})" if state.num_processes > 1 else "embedding"
        bar = tqdm(total=total, unit="seq", desc=label, position=state.process_index, dynamic_ncols=True)
    try:
        if mine:
            stream = ((index, place, region) for index, (place, region) in enumerate(source.places()))
            wanted = set(mine)
            for k in range(mine[-1] + 1):
                items = islice(stream, shard_size)
                if k not in wanted:
                    for _ in items:
                        pass
                    continue
                write_atomically(
                    partial / SHARDS / shard_name(k, shards), lambda t, items=items: _write_shard(job, t, items, bar)
                )
    finally:
        if bar is not None:
            bar.close()
    state.wait_for_everyone()

    if state.is_main_process:
        listed = []
        for k in range(shards):
            path = partial / SHARDS / shard_name(k, shards)
            rows = min(shard_size, counts["inputs"] - k * shard_size)
            listed.append(
                {"file": f"{SHARDS}/{path.name}", "rows": rows, "first_index": k * shard_size, "sha256": _sha256(path)}
            )
        manifest = {
            "format": FORMAT,
            "fingerprint": fingerprint,
            "model": model_description(model),
            "input": description,
            "input_sha256": source.content_hash(),
            "options": options,
            "columns": {
                "metadata": ["index", "id", "contig", "start", "end", "strand", "length"],
                "embeddings": columns,
                "layers": layer_indexes,
                "shape": ["rows", job.hidden] if job.per_row else [job.hidden],
                "dtype": "float32",
            },
            "counts": {**counts, "shards": shards},
            "shards": listed,
        }
        text = json.dumps(manifest, indent=2) + "\n"
        write_atomically(partial / MANIFEST, lambda t: Path(t).write_text(text))
        meta.unlink()
        os.replace(partial, out)
    state.wait_for_everyone()
    return {**counts, "shards": shards, "shards_resumed": len(done), "shards_computed": len(mine)}


def read_manifest(out_dir: str | os.PathLike) -> dict[str, Any]:
    """The `manifest.json` of an embed output folder."""
    return json.loads((Path(out_dir) / MANIFEST).read_text())


__all__ = [
    "DEFAULT_SHARD_SIZE",
    "MANIFEST",
    "BedInput",
    "DatasetInput",
    "EmbeddingInput",
    "FastaInput",
    "Region",
    "TableInput",
    "embed_regions",
    "embed_to_folder",
    "model_description",
    "read_manifest",
    "read_regions",
    "scan_inputs",
    "shard_name",
]
