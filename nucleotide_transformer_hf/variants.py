"""VCF in, zero-shot variant scores out (`nucleotide-transformer score-variants`), streaming at flat memory.

    nucleotide-transformer score-variants --vcf calls.vcf.gz --fasta hg19.fa.gz --model MODEL --out scores.tsv
    accelerate launch --multi_gpu --num_processes 4 -m nucleotide_transformer_hf score-variants ...  # sharded

The scores and windows are those of `nucleotide_transformer_hf.pipelines` (same code); this module adds:

* **Streaming**: the VCF is read one record at a time (`vcf.iter_vcf`), each record is split and checked
  (`plan_records`), rows are grouped into chunks (`iter_chunks`), each chunk is scored and written to disk, and the
  chunk files are streamed into the output. Nothing proportional to the number of records is held (one chunk's rows,
  a set of finished chunk numbers and a few counters), so a genome-wide call set runs at the memory of a small one.
* **Reading the VCF** (plain or bgzip/gzip, by content; `vcf.py`). Each ALT allele of a record is one output row
  (`allele` = 1, 2, ...: multi-allelic records are split). The whole file is refused with a `VcfError` naming the
  file and line when it is empty, has data before the `#CHROM` header, a header that is not `#CHROM POS ID REF ALT
  ...`, is not text or not valid gzip, or when *every* data line is malformed; the last (and a file with no `#CHROM`
  line at all, or gzip that breaks mid-file) only shows at the end of the stream, so the output is only written
  once the whole VCF has been read, and a refused run leaves neither output nor checkpoint. Otherwise a malformed
  line (fewer than 8 columns, POS not a positive integer, REF not A/C/G/T/N, empty ALT) becomes one row with
  `allele` 0, status `skipped` and reason `malformed: ...`.
* **Contig names**: a VCF contig is looked up as written, then with `chr` added or removed (`MT` ↔ `chrM`). Records
  whose contig is still unknown are `skipped` (`contig: ...`); if no contig of the VCF is found, the run is refused
  (at the end of the stream; nothing was scored).
* **REF check**: the REF of every record is compared with the FASTA; a difference (or a POS past the contig's end)
  makes its rows `flagged` (`mismatch: ...`), never scored.
* **Outcomes** (`status`): `scored`; `flagged` (REF disagrees with the FASTA); `skipped` with a reason — `indel`,
  `mnv`, `symbolic` (`<DEL>`, `*`, `.`), `allele` (N or non-ACGT alleles), `contig`, `window` (too many N),
  `malformed`. The end of the run prints these counts.
* **Windows**: centred on the variant and snapped to a grid (`variant_scoring.variant_window`); the variants of a
  window within one chunk share its reference and masked passes (`--no-share-windows` recomputes them, same
  numbers). On position-sorted input the variants of a window are consecutive, so they always share it.
* **Chunks** (`iter_chunks`): consecutive output rows in VCF order. A chunk is closed before the first scorable row
  of a new window once it holds `--chunk-size` scorable rows (or `_chunk_row_limit` rows in all, for stretches of
  unscorable records), so a window is never split across chunks on sorted input and the numbers do not depend on
  `--chunk-size`; a run of unscorable rows is cut where it cannot share the chunk's last window.
* **Output** (`--out`, `.tsv` or `.parquet`): one row per allele in VCF order with the columns of `OUTPUT_COLUMNS`;
  `window_start`/`window_end` are 1-based inclusive FASTA coordinates; scores are empty (null) unless scored. The
  chunk files are streamed into a temporary name (parquet: one row group per `_PARQUET_ROWS` rows, pyarrow's
  `ParquetWriter`) that is renamed at the end, so the file is either absent or complete.
* **Resume**: each finished chunk is written atomically to `<out>.partial/chunk-NNNNNN.tsv` (its rows, each with
  its row number); `<out>.partial/meta.json` holds a fingerprint of the VCF content, the FASTA's contigs, the model
  (path, config, weight files), every scoring option (`--chunk-size` included) and the checkpoint format.
  Rerunning the same command after an interruption computes only the missing chunks and writes the same output
  file as an uninterrupted run; a different fingerprint is refused unless `--restart`. The folder is deleted when
  the output is written.
* **Dry run** (`dry_run=True`, `--dry-run`): reads, checks, plans and writes every record exactly as a real run
  would — the same rows, statuses, reasons and windows (the windows' tokenization included: `window` skips show) —
  but runs no forward pass: the score columns are empty. The model is only read for its config (context); the
  checkpoint folder is `<out>.dry-run.partial`, so a dry run never touches a real run's checkpoint.
* **Several processes** (`accelerate launch`, `accelerate.PartialState`): every process streams the whole VCF and
  scores chunk `i` when `i % num_processes` is its index; every process writes its chunk files, then process 0
  merges them into the output. A chunk's numbers do not depend on which process ran it, so the file equals a
  one-process run's on the same hardware (CPU BLAS rounding may depend on the thread count: `accelerate launch`
  gives each CPU process `OMP_NUM_THREADS=1`), and the run resumes under any process count. With no GPU,
  `accelerate launch --multi_gpu --num_processes N` starts N CPU processes in a gloo group (`accelerate_state`).
"""

import contextlib
import csv
import hashlib
import itertools
import json
import math
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .dna import context_bp
from .errors import InputError
from .inference import DEFAULT_BATCH_SIZE
from .precision import inference_dtype
from .variant_scoring import (
    SCORE_NAMES,
    classify_alleles,
    default_window_snap,
    score_variants,
    variant_plan,
    variant_window,
)
from .vcf import VcfError, VcfRecord, iter_vcf, reconcile_contigs

OUTPUT_COLUMNS = (
    "line",
    "allele",
    "chrom",
    "pos",
    "id",
    "ref",
    "alt",
    "status",
    "reason",
    "contig",
    "window_start",
    "window_end",
    *SCORE_NAMES,
)
"""Columns of the `score-variants` output, in order."""

_INTEGER_COLUMNS = ("line", "allele", "pos", "window_start", "window_end")
_PARQUET_ROWS = 65_536  # rows per parquet row group
_CHECKPOINT_FORMAT = 2  # chunks of consecutive rows (streaming); part of the resume fingerprint


class ReferenceGenome:
    """Random access to an indexed FASTA (plain or bgzip) through pysam, or pyfaidx when pysam is not installed.

    A missing `.fai` (and `.gzi`) index is built next to the file when the folder is writable.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise InputError(f"FASTA {self.path} does not exist.")
        try:
            import pysam
        except ImportError:
            pysam = None
        try:
            if pysam is not None:
                self._fasta = pysam.FastaFile(self.path)
                self.lengths = dict(zip(self._fasta.references, self._fasta.lengths))
                self._fetch = lambda contig, start, end: self._fasta.fetch(contig, start, end)
            else:
                import pyfaidx

                self._fasta = pyfaidx.Fasta(self.path, as_raw=True, sequence_always_upper=True)
                self.lengths = {name: len(record) for name, record in self._fasta.items()}
                self._fetch = lambda contig, start, end: self._fasta[contig][start:end]
        except ImportError as error:
            raise ImportError(
                "Reading a FASTA needs pysam or pyfaidx: pip install 'nucleotide-transformer-hf[genomics]'."
            ) from error
        except Exception as error:  # pysam raises OSError/ValueError, pyfaidx its own classes
            raise InputError(
                f"Cannot open FASTA {self.path}: {error}. It must be plain or bgzip-compressed (not plain gzip) and "
                "indexed (`samtools faidx`), or sit in a writable folder so the index can be built."
            ) from error

    def fetch(self, contig: str, start: int, end: int) -> str:
        """Bases `[start, end)` (0-based) of `contig`, upper case."""
        return self._fetch(contig, start, end).upper()


@dataclass
class VariantRow:
    """One output row before scoring: an allele of a record, its outcome so far and, if scorable, its window."""

    line: int
    allele: int
    chrom: str
    pos: str
    id: str
    ref: str
    alt: str
    status: str = "scored"
    reason: str = ""
    contig: str = ""
    window: tuple[int, int] | None = None  # 0-based [start, end) on the contig
    offset: int = 0
    ref_base: str = ""
    alt_base: str = ""


def _contig_error(vcf_contigs: Sequence[str], genome: ReferenceGenome) -> VcfError:
    names, fasta = sorted(vcf_contigs), list(genome.lengths)
    return VcfError(
        f"None of the VCF's contigs ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''}) is "
        f"in the FASTA ({', '.join(fasta[:5])}{', ...' if len(fasta) > 5 else ''}), "
        "even with 'chr' added or removed: are they the same assembly?"
    )


def plan_records(
    records: Iterable[VcfRecord], genome: ReferenceGenome, window_bp: int, window_snap: int
) -> Iterator[VariantRow]:
    """Splits records into allele rows, checks contigs and REF against the FASTA, and gives each SNV its window; a
    generator (one record at a time). Raises `VcfError` at the end when no contig of the VCF is in the FASTA."""
    mapping: dict[str, str | None] = {}  # one entry per contig name
    for record in records:
        if record.problem:
            alt = ",".join(record.alts)
            reason = f"malformed: {record.problem}"
            yield VariantRow(record.line, 0, record.chrom, record.pos, record.id, record.ref, alt, "skipped", reason)
            continue
        if record.chrom not in mapping:
            mapping.update(reconcile_contigs([record.chrom], list(genome.lengths)))
        contig = mapping[record.chrom]
        status, reason = "scored", ""
        if contig is None:
            status, reason = "skipped", f"contig: {record.chrom!r} is not in the FASTA (nor with 'chr' added/removed)"
        else:
            start, length = int(record.pos) - 1, genome.lengths[contig]
            if start + len(record.ref) > length:
                status, reason = "flagged", f"mismatch: POS {record.pos} is past the end of {contig} ({length} bp)"
            else:
                found = genome.fetch(contig, start, start + len(record.ref))
                if found != record.ref.upper():
                    status = "flagged"
                    reason = f"mismatch: REF {record.ref!r} but the FASTA has {found!r} at {contig}:{record.pos}"
        for allele, alt in enumerate(record.alts, start=1):
            row = VariantRow(
                record.line,
                allele,
                record.chrom,
                record.pos,
                record.id,
                record.ref,
                alt,
                status=status,
                reason=reason,
                contig=contig or "",
            )
            if status == "scored":
                snv = classify_alleles(record.ref, alt)
                if isinstance(snv, str):
                    row.status, row.reason = "skipped", snv
                else:
                    shift, row.ref_base, row.alt_base = snv
                    position = int(record.pos) - 1 + shift
                    row.window = variant_window(genome.lengths[contig], position, window_bp, window_snap)
                    row.offset = position - row.window[0]
            yield row
    if mapping and not any(mapping.values()):
        raise _contig_error(list(mapping), genome)


def plan_vcf(
    records: Iterable[VcfRecord], genome: ReferenceGenome, window_bp: int, window_snap: int
) -> list[VariantRow]:
    """`plan_records` as a list (for small files and tests; `score_vcf` streams)."""
    return list(plan_records(records, genome, window_bp, window_snap))


def _chunk_row_limit(chunk_size: int) -> int:
    """Rows (scorable or not) after which a chunk is closed at the next row that cannot share its last window."""
    return max(16 * chunk_size, 4096)


def iter_chunks(rows: Iterable[VariantRow], chunk_size: int) -> Iterator[list[VariantRow]]:
    """Groups rows (in order) into chunks of consecutive rows, each holding about `chunk_size` scorable rows.

    A chunk is closed before the first scorable row of a new window once it holds `chunk_size` scorable rows or
    `_chunk_row_limit(chunk_size)` rows in all; and before an unscorable row once it holds that many rows, if the
    row lies past the chunk's last window (another contig or a later position: on sorted input no later row can
    share that window) or the chunk already holds four times that many. So on sorted input a window is never split,
    and one chunk in memory is bounded by the row limit and the rows of one window.
    """
    if chunk_size < 1:
        raise InputError(f"chunk_size must be at least 1, got {chunk_size}.")
    limit = _chunk_row_limit(chunk_size)
    chunk: list[VariantRow] = []
    scorable, last = 0, None  # scorable rows in the chunk; (contig, start, end) of its last window
    for row in rows:
        if chunk:
            if row.window is not None:
                key = (row.contig, *row.window)
                close = key != last and (scorable >= chunk_size or len(chunk) >= limit)
            else:
                past = last is None or row.contig != last[0] or (row.pos.isdigit() and int(row.pos) - 1 >= last[2])
                close = len(chunk) >= limit and (past or len(chunk) >= 4 * limit)
            if close:
                yield chunk
                chunk, scorable, last = [], 0, None
        chunk.append(row)
        if row.window is not None:
            scorable, last = scorable + 1, (row.contig, *row.window)
    if chunk:
        yield chunk


def make_chunks(rows: Sequence[VariantRow], chunk_size: int) -> list[list[int]]:
    """Row indexes of each chunk of `iter_chunks` (consecutive), for inspection; `score_vcf` streams instead."""
    chunks, start = [], 0
    for chunk in iter_chunks(rows, chunk_size):
        chunks.append(list(range(start, start + len(chunk))))
        start += len(chunk)
    return chunks


def format_score(value: Any) -> str:
    """A table cell: empty for None/NaN, `repr` for floats (round-trips exactly), `str` otherwise."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(float(value)) if isinstance(value, float) else str(value)


def _row_cells(row: VariantRow, result: dict[str, Any] | None = None) -> list[str]:
    status, reason = (result["status"], result["reason"]) if result else (row.status, row.reason)
    start = end = None
    if result and result.get("window_start") is not None:
        start, end = row.window[0] + result["window_start"] + 1, row.window[0] + result["window_end"]
    scores = [result.get(name) if result else None for name in SCORE_NAMES]
    cells = [
        row.line,
        row.allele,
        row.chrom,
        row.pos,
        row.id,
        row.ref,
        row.alt,
        status,
        reason,
        row.contig,
        start,
        end,
        *scores,
    ]
    return [format_score(cell) for cell in cells]


def write_atomically(path: Path, write: Callable[[str], None]) -> None:
    """Calls `write(temporary_path)` for a temporary file beside `path`, then renames it to `path`: the file is either
    absent or complete (used for chunk files, checkpoints, manifests and outputs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _check_out(out: Path) -> None:
    if out.suffix not in (".tsv", ".txt", ".parquet"):
        raise InputError(f"--out must end in .tsv or .parquet, got {out.name!r}.")


def _parquet_writer(temporary: str):
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as error:
        raise ImportError(
            "Writing a .parquet output needs pyarrow (pip install pyarrow); or give a .tsv path."
        ) from error
    types = {name: pa.int64() if name in _INTEGER_COLUMNS else pa.string() for name in OUTPUT_COLUMNS}
    types.update(dict.fromkeys(SCORE_NAMES, pa.float64()))
    schema = pa.schema([(name, types[name]) for name in OUTPUT_COLUMNS])

    def convert(name: str, values: Sequence[str]):
        if name in _INTEGER_COLUMNS:
            return pa.array([int(v) if v.lstrip("-").isdigit() else None for v in values], pa.int64())
        if name in SCORE_NAMES:
            return pa.array([float(v) if v else None for v in values], pa.float64())
        return pa.array(values, pa.string())

    def write_rows(writer, rows: list[list[str]]) -> None:
        columns = list(zip(*rows))
        writer.write_table(pa.table([convert(n, c) for n, c in zip(OUTPUT_COLUMNS, columns)], schema=schema))

    return pq.ParquetWriter(temporary, schema), write_rows


@contextlib.contextmanager
def table_writer(out: str | os.PathLike) -> Iterator[Callable[[list[str]], None]]:
    """Streams output rows (lists of strings, columns `OUTPUT_COLUMNS`) into `.tsv` or `.parquet` (row groups of
    `_PARQUET_ROWS`) under a temporary name, renamed to `out` when the block ends without an exception."""
    out = Path(out)
    _check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(handle)
    try:
        if out.suffix == ".parquet":
            writer, write_rows = _parquet_writer(temporary)
            buffer: list[list[str]] = []

            def write(cells: list[str]) -> None:
                buffer.append(cells)
                if len(buffer) >= _PARQUET_ROWS:
                    write_rows(writer, buffer)
                    buffer.clear()

            try:
                yield write
                if buffer:
                    write_rows(writer, buffer)
            finally:
                writer.close()
        else:
            with open(temporary, "w", encoding="utf-8", newline="") as stream:
                stream.write("\t".join(OUTPUT_COLUMNS) + "\n")
                yield lambda cells: stream.write("\t".join(cells) + "\n")
        os.replace(temporary, out)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def write_table(rows: Iterable[Sequence[str]], out: str | os.PathLike) -> None:
    """Writes output rows (strings, columns `OUTPUT_COLUMNS`) to `.tsv` or `.parquet`, atomically."""
    with table_writer(out) as write:
        for cells in rows:
            write(list(cells))


def read_table(path: str | os.PathLike) -> list[dict[str, str]]:
    """Reads a `score-variants` TSV output back as dicts of strings (for checks and notebooks)."""
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def run_fingerprint(vcf: str | os.PathLike, genome: ReferenceGenome, model, options: dict[str, Any]) -> str:
    """Hash of what decides the numbers: VCF bytes, FASTA contigs, model path/config/weight files, options."""
    digest = hashlib.sha256()
    with open(vcf, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    digest.update(json.dumps(genome.lengths, sort_keys=True).encode())
    digest.update(model.config.to_json_string().encode())
    source = str(getattr(model, "name_or_path", "") or "")
    digest.update(source.encode())
    if os.path.isdir(source):
        for name in sorted(os.listdir(source)):
            stat = os.stat(os.path.join(source, name))
            digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    digest.update(json.dumps(options, sort_keys=True).encode())
    return digest.hexdigest()


def accelerate_state():
    """`accelerate.PartialState` of this process. Several processes with no GPU (`accelerate launch --multi_gpu
    --num_processes N` on a CPU machine, or `ACCELERATE_USE_CPU=1`) join a gloo process group on the CPU."""
    import torch
    from accelerate import PartialState

    launched = int(os.environ.get("WORLD_SIZE", "1")) > 1
    use_cpu = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes") or (
        launched and not torch.cuda.is_available() and not (hasattr(torch, "xpu") and torch.xpu.is_available())
    )
    return PartialState(cpu=use_cpu)


def _chunk_text(chunk: list[VariantRow], first: int, genome: ReferenceGenome, score) -> str:
    """The chunk file's text: each row's number and cells; `score(items)` gives the scorable rows' results."""
    fetched: dict[tuple, str] = {}
    items = []
    for row in chunk:
        if row.window is not None:
            key = (row.contig, *row.window)
            if key not in fetched:
                fetched[key] = genome.fetch(*key)
            items.append({"sequence": fetched[key], "position": row.offset, "ref": row.ref_base, "alt": row.alt_base})
    results = iter(score(items) if items else ())
    lines = []
    for number, row in enumerate(chunk, start=first):
        cells = _row_cells(row, next(results) if row.window is not None else None)
        lines.append("\t".join([str(number), *cells]) + "\n")
    return "".join(lines)


def _merge_chunks(partial: Path, chunks: int, rows: int, out: Path) -> Counter:
    """Streams the chunk files into `out` (atomically), checking that they hold rows 0, 1, ... `rows - 1` in order;
    returns the counts of statuses and of the reasons' categories (`reason:<category>`)."""
    counts: Counter = Counter()
    status, reason = OUTPUT_COLUMNS.index("status"), OUTPUT_COLUMNS.index("reason")
    expected = 0
    with table_writer(out) as write:
        for k in range(chunks):
            path = partial / f"chunk-{k:06d}.tsv"
            try:
                handle = open(path, encoding="utf-8", newline="")
            except FileNotFoundError:
                raise InputError(f"Checkpoint {path} is missing; delete {partial} or pass --restart.") from None
            with handle:
                for text in handle:
                    number, *cells = text.rstrip("\n").split("\t")
                    if number != str(expected) or len(cells) != len(OUTPUT_COLUMNS):
                        raise InputError(
                            f"Checkpoint {path} does not hold the rows it should; delete {partial} or pass --restart."
                        )
                    expected += 1
                    counts[cells[status]] += 1
                    if cells[status] != "scored":
                        counts["reason:" + cells[reason].split(":")[0]] += 1
                    write(cells)
        if expected != rows:
            raise InputError(f"Checkpoint {partial} holds {expected} rows, not {rows}; delete it or pass --restart.")
    return counts


def score_vcf(
    model,
    tokenizer,
    vcf: str | os.PathLike,
    fasta: str | os.PathLike,
    out: str | os.PathLike,
    *,
    layer: int = -1,
    pooling: str = "mean",
    both_strands: bool = False,
    window_bp: int | None = None,
    window_snap: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    chunk_size: int = 256,
    share_windows: bool = True,
    restart: bool = False,
    progress: bool = True,
    dry_run: bool = False,
) -> dict[str, int]:
    """Scores every allele of a VCF against an indexed FASTA and writes `out`, streaming (rules in the module
    docstring). `dry_run=True` writes the same rows, statuses and windows without running the model.

    Works in one process or under `accelerate launch` (each process scores its share of the chunks; process 0
    merges). Returns counts: `records` (data lines), `rows`, `scored`, `flagged`, `skipped` (from process 0; 0
    elsewhere), `chunks`, `chunks_resumed` (found done from an interrupted run), and `chunks_computed` and
    `forward_passes` (by this process).
    """
    if chunk_size < 1:
        raise InputError(f"chunk_size must be at least 1, got {chunk_size}.")
    state = accelerate_state()
    out = Path(out)
    _check_out(out)
    window_bp = window_bp or context_bp(model.config, tokenizer)
    window_snap = window_snap or default_window_snap(window_bp)
    records = iter_vcf(vcf)
    first = next(records, None)  # the problems at the top of a file are refused before anything is written
    records = itertools.chain([first] if first is not None else [], records)
    genome = ReferenceGenome(fasta)

    options = {
        "layer": layer,
        "pooling": pooling,
        "both_strands": both_strands,
        "window_bp": window_bp,
        "window_snap": window_snap,
        "batch_size": batch_size,
        "chunk_size": chunk_size,
        "share_windows": share_windows,
        "device": model.device.type,
        "dtype": f"torch.{inference_dtype(model)}",  # int8 linears leave model.dtype float32: name the precision
        "dry_run": dry_run,
        "checkpoint_format": _CHECKPOINT_FORMAT,
    }
    fingerprint = run_fingerprint(vcf, genome, model, options)
    partial = out.with_name(out.name + (".dry-run.partial" if dry_run else ".partial"))
    meta = partial / "meta.json"
    if state.is_main_process:
        if partial.exists() and (restart or not meta.exists()):
            shutil.rmtree(partial)
        if meta.exists() and json.loads(meta.read_text()).get("fingerprint") != fingerprint:
            raise InputError(
                f"{partial} holds a checkpoint of a run with other inputs or options; rerun with the same ones to "
                "resume, or pass --restart to discard it."
            )
        partial.mkdir(parents=True, exist_ok=True)
        if not meta.exists():
            content = json.dumps({"fingerprint": fingerprint, "format": _CHECKPOINT_FORMAT})
            write_atomically(meta, lambda t: Path(t).write_text(content))
    state.wait_for_everyone()
    done = {int(p.name[6:12]) for p in partial.glob("chunk-*.tsv") if p.name[6:12].isdigit()}

    scoring = {"layer": layer, "pooling": pooling, "both_strands": both_strands, "window_bp": window_bp}
    scoring.update(window_snap=window_snap, share_windows=share_windows)
    stats = {"forward_passes": 0}

    def score(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if dry_run:
            return variant_plan(model, tokenizer, items, **scoring).results
        return score_variants(model, tokenizer, items, batch_size=batch_size, stats=stats, **scoring)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            unit="variant",
            position=state.process_index,
            desc=f"scoring (process {state.process_index})" if state.num_processes > 1 else "scoring",
        )
    tally = Counter()

    def counted(stream: Iterable[VcfRecord]) -> Iterator[VcfRecord]:
        for record in stream:
            tally["records"] += 1
            yield record

    try:
        rows = plan_records(counted(records), genome, window_bp, window_snap)
        for k, chunk in enumerate(iter_chunks(rows, chunk_size)):
            first_row = tally["rows"]
            tally["rows"] += len(chunk)
            tally["chunks"] += 1
            if k % state.num_processes != state.process_index or k in done:
                continue
            text = _chunk_text(chunk, first_row, genome, score)
            write_atomically(partial / f"chunk-{k:06d}.tsv", lambda t, text=text: Path(t).write_text(text, "utf-8"))
            tally["computed"] += 1
            if bar is not None:
                bar.update(sum(row.window is not None for row in chunk))
    except VcfError:  # a whole-file problem found late in the stream: leave nothing behind
        if state.is_main_process:
            shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        if bar is not None:
            bar.close()
    state.wait_for_everyone()

    counts = Counter()
    if state.is_main_process:
        counts = _merge_chunks(partial, tally["chunks"], tally["rows"], out)
        shutil.rmtree(partial)
        reasons = Counter({key[7:]: n for key, n in counts.items() if key.startswith("reason:")})
        detail = ", ".join(f"{name} {count}" for name, count in reasons.most_common())
        resumed = len(done & set(range(tally["chunks"])))
        print(
            f"score-variants: {tally['records']} records, {tally['rows']} alleles: {counts['scored']} scored, "
            f"{counts['flagged']} flagged, {counts['skipped']} skipped{f' ({detail})' if detail else ''}; "
            f"{resumed} of {tally['chunks']} chunks resumed from a checkpoint; "
            f"{'dry run (no forward pass, scores left empty); ' if dry_run else ''}wrote {out}",
            flush=True,
        )
    state.wait_for_everyone()
    return {
        "records": tally["records"],
        "rows": tally["rows"],
        "scored": counts["scored"],
        "flagged": counts["flagged"],
        "skipped": counts["skipped"],
        "chunks": tally["chunks"],
        "chunks_resumed": len(done & set(range(tally["chunks"]))),
        "chunks_computed": tally["computed"],
        "forward_passes": stats["forward_passes"],
    }


__all__ = [
    "OUTPUT_COLUMNS",
    "ReferenceGenome",
    "VariantRow",
    "accelerate_state",
    "format_score",
    "iter_chunks",
    "make_chunks",
    "plan_records",
    "plan_vcf",
    "read_table",
    "run_fingerprint",
    "score_vcf",
    "table_writer",
    "write_atomically",
    "write_table",
]
