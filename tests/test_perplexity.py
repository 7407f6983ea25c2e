"""Masked-LM perplexity: training lowers it, the masking follows 15% / 80-10-10, seeds and batching, hand-worked
aggregation against the model called directly, per-element pooling, writers and bad input."""

import copy
import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from nucleotide_transformer_hf import (
    NucleotideTransformerConfig,
    NucleotideTransformerForMaskedLM,
    NucleotideTransformerTokenizerFast,
)
from nucleotide_transformer_hf.dna import read_fasta, window_starts
from nucleotide_transformer_hf.errors import InputError
from nucleotide_transformer_hf.inference import tokenize_whole
from nucleotide_transformer_hf.perplexity import (
    eligible_token_ids,
    mask_window,
    masked_perplexity,
    perplexity_report,
    window_rng,
    write_perplexity,
)
from nucleotide_transformer_hf.tasks import IGNORE_INDEX, token_labels_from_bases

GENOMES = Path(__file__).resolve().parents[1] / "data" / "genomes"
ECOLI = GENOMES / "ecoli_K12_MG1655_NC_000913.3_1-120000.fa.gz"
MITO = GENOMES / "human_mito_NC_012920.1.fa.gz"
WINDOW_BP = 378  # the tiny fixture's context: 63 tokens besides <cls>


def _ecoli(start: int, end: int) -> str:
    return next(iter(read_fasta(ECOLI))).sequence[start:end]


def _write_fasta(path: Path, records: dict[str, str]) -> Path:
    path.write_text("".join(f">{name} test\n{seq[:70]}\n{seq[70:]}\n" for name, seq in records.items()))
    return path


@pytest.fixture(scope="module")
def small_fasta(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ppl")
    return _write_fasta(folder / "tiny_species.fa", {"r1": _ecoli(1000, 1500), "r2": _ecoli(5000, 5290)})


# ---- training lowers perplexity ---------------------------------------------------------------------------------


def test_briefly_trained_model_has_lower_perplexity_than_random_init(tmp_path):
    torch.manual_seed(0)
    config = NucleotideTransformerConfig.from_preset(
        "v2",
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=66,
    )
    untrained = NucleotideTransformerForMaskedLM(config)
    model = copy.deepcopy(untrained)
    tokenizer = NucleotideTransformerTokenizerFast(vocab_layout="v2", model_max_length=64)
    sequence = _ecoli(20000, 20000 + WINDOW_BP)
    ids = np.concatenate([[tokenizer.cls_token_id], tokenize_whole(tokenizer, [sequence])[0][0]])
    candidates = eligible_token_ids(tokenizer)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(40):  # 8 differently masked copies of the window a step, masks unlike the evaluation's
        inputs, labels = [], []
        for row in range(8):
            masked, positions, targets = mask_window(
                ids, window_rng(1000 + step, "train", row), candidates, tokenizer.mask_token_id
            )
            label = np.full(len(ids), -100)
            label[positions] = targets
            inputs.append(masked)
            labels.append(label)
        loss = model(input_ids=torch.tensor(np.stack(inputs)), labels=torch.tensor(np.stack(labels))).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    fasta = _write_fasta(tmp_path / "slice.fa", {"slice": sequence})
    before = masked_perplexity(untrained.eval(), tokenizer, fasta, copies=8).species
    after = masked_perplexity(model, tokenizer, fasta, copies=8).species
    assert before["masked_tokens"].iloc[0] == after["masked_tokens"].iloc[0] > 40
    assert before["perplexity"].iloc[0] > 2000  # near the 4,096 of a uniform guess over 6-mers
    assert after["perplexity"].iloc[0] < 0.1 * before["perplexity"].iloc[0]


# ---- masking ------------------------------------------------------------------------------------------------------


def test_masking_follows_15_percent_and_80_10_10(tiny):
    _, tokenizer = tiny
    candidates = eligible_token_ids(tokenizer)
    sequence = _ecoli(0, 120000)
    starts = window_starts(len(sequence), WINDOW_BP, WINDOW_BP)
    all_ids, _ = tokenize_whole(tokenizer, [sequence[s : s + WINDOW_BP] for s in starts])
    eligible = selected = masked = random = kept = 0
    for start, ids in zip(starts, all_ids):
        ids = np.concatenate([[tokenizer.cls_token_id], ids, [tokenizer.pad_token_id, tokenizer.mask_token_id]])
        out, positions, targets = mask_window(ids, window_rng(0, "r", start), candidates, tokenizer.mask_token_id)
        assert 0 not in positions and len(ids) - 1 not in positions and len(ids) - 2 not in positions  # specials never
        np.testing.assert_array_equal(targets, ids[positions])
        np.testing.assert_array_equal(np.delete(out, positions), np.delete(ids, positions))
        eligible += int(np.isin(ids, candidates).sum())
        selected += len(positions)
        masked += int((out[positions] == tokenizer.mask_token_id).sum())
        kept += int((out[positions] == ids[positions]).sum())
        replaced = out[positions][(out[positions] != tokenizer.mask_token_id) & (out[positions] != ids[positions])]
        assert np.isin(replaced, candidates).all()
        random += len(replaced)
    assert eligible > 20000

    def within(count, total, p):  # 5 standard deviations
        return abs(count / total - p) < 5 * np.sqrt(p * (1 - p) / total)

    assert within(selected, eligible, 0.15)
    assert within(masked, selected, 0.8) and within(random, selected, 0.1) and within(kept, selected, 0.1)
    assert masked + random + kept == selected


def test_seed_reproduces_exactly_and_batching_does_not_matter(tiny, small_fasta):
    model, tokenizer = tiny
    options = dict(window_bp=120, stride_bp=90, copies=2)
    first = masked_perplexity(model, tokenizer, small_fasta, seed=3, **options)
    again = masked_perplexity(model, tokenizer, small_fasta, seed=3, **options)
    pd.testing.assert_frame_equal(first.windows, again.windows, check_exact=True)
    other = masked_perplexity(model, tokenizer, small_fasta, seed=4, **options)
    assert not np.allclose(first.windows["loss_sum"], other.windows["loss_sum"])
    rebatched = masked_perplexity(model, tokenizer, small_fasta, seed=3, batch_size=1, chunk_windows=2, **options)
    counts = ["start", "end", "tokens", "eligible_tokens", "masked_tokens", "masked_bases"]
    pd.testing.assert_frame_equal(first.windows[counts], rebatched.windows[counts], check_exact=True)
    pd.testing.assert_frame_equal(first.windows, rebatched.windows, check_exact=False, rtol=1e-5)
    # the other species first: this species' rows are unchanged
    both = masked_perplexity(model, tokenizer, [MITO, small_fasta], seed=3, **options)
    mine = both.windows[both.windows["species"] == "tiny_species"].reset_index(drop=True)
    pd.testing.assert_frame_equal(first.windows, mine, check_exact=False, rtol=1e-5)
    assert list(both.species["species"]) == ["human_mito_NC_012920.1", "tiny_species"]


# ---- aggregation by hand ------------------------------------------------------------------------------------------


def _brute_force(model, tokenizer, fasta, window_bp, stride_bp, seed, copies, labels=None):
    """Per window: (record, start, end, losses, bases, elements) with the model called directly on masked ids."""
    candidates = eligible_token_ids(tokenizer, model.config.vocab_size)
    rows = []
    for record in read_fasta(fasta):
        for start in window_starts(len(record.sequence), window_bp, stride_bp):
            text = record.sequence[start : start + window_bp]
            ids, offsets = tokenize_whole(tokenizer, [text])
            ids = np.concatenate([[tokenizer.cls_token_id], ids[0]])
            spans = offsets[0][:, 1] - offsets[0][:, 0]
            elements = None
            if labels is not None:
                codes, names = labels(record.name, start, start + len(text))
                elements = [names[c] if c != IGNORE_INDEX else None for c in token_labels_from_bases(codes, offsets[0])]
            losses, bases, owners = [], [], []
            for c in range(copies):
                masked, positions, targets = mask_window(
                    ids, window_rng(seed, record.name, start, c), candidates, tokenizer.mask_token_id
                )
                with torch.no_grad():
                    logits = model(input_ids=torch.tensor(masked)[None]).logits[0].double()
                log_probs = torch.log_softmax(logits, dim=-1).numpy()
                losses += [-log_probs[p, t] for p, t in zip(positions, targets)]
                bases += [spans[p - 1] for p in positions]
                owners += [elements[p - 1] for p in positions] if elements else [None] * len(positions)
            rows.append((record.name, start, start + len(text), np.array(losses), np.array(bases), owners))
    return rows


def test_aggregation_matches_a_brute_force_computation(tiny, small_fasta):
    model, tokenizer = tiny
    tables = masked_perplexity(model, tokenizer, small_fasta, window_bp=120, stride_bp=100, seed=5, copies=2)
    brute = _brute_force(model, tokenizer, small_fasta, 120, 100, 5, 2)
    windows = tables.windows
    assert list(zip(windows["record"], windows["start"], windows["end"])) == [(r, s, e) for r, s, e, *_ in brute]
    for (_, _, _, losses, bases, _), (_, row) in zip(brute, windows.iterrows()):
        assert row["masked_tokens"] == len(losses) and row["masked_bases"] == bases.sum()
        assert row["loss_sum"] == pytest.approx(losses.sum(), rel=1e-5)
        assert row["perplexity"] == pytest.approx(np.exp(losses.mean()), rel=1e-5)
    for name in ("r1", "r2"):
        losses = np.concatenate([b[3] for b in brute if b[0] == name])
        bases = np.concatenate([b[4] for b in brute if b[0] == name])
        record = tables.records.set_index("record").loc[name]
        assert record["masked_tokens"] == len(losses) and record["windows"] == sum(b[0] == name for b in brute)
        assert record["perplexity"] == pytest.approx(np.exp(losses.sum() / len(losses)), rel=1e-5)
        assert record["perplexity_per_base"] == pytest.approx(np.exp(losses.sum() / bases.sum()), rel=1e-5)
    losses = np.concatenate([b[3] for b in brute])
    species = tables.species.iloc[0]
    assert species["species"] == "tiny_species" and species["masked_tokens"] == len(losses)
    # pooled over tokens, not a mean of window perplexities
    assert species["perplexity"] == pytest.approx(np.exp(losses.sum() / len(losses)), rel=1e-5)
    assert tables.elements is None


def test_per_element_aggregation_with_a_hand_made_labels_function(tiny, small_fasta):
    model, tokenizer = tiny

    def labels(record, start, end):
        position = np.arange(start, end)
        codes = np.where(position % 100 < 50, 0, 1)
        codes[(position >= 200) & (position < 230)] = IGNORE_INDEX
        if record == "r2":
            codes[position < 90] = 2
        return codes, ["exon", "intron", "promoter"]

    tables = masked_perplexity(
        model, tokenizer, small_fasta, window_bp=120, stride_bp=100, seed=1, copies=2, base_labels=labels
    )
    brute = _brute_force(model, tokenizer, small_fasta, 120, 100, 1, 2, labels)
    elements = tables.elements.set_index("element")
    assert set(elements.index) == {"exon", "intron", "promoter"}
    for element in elements.index:
        losses = np.array([loss for b in brute for loss, owner in zip(b[3], b[5]) if owner == element])
        bases = np.array([base for b in brute for base, owner in zip(b[4], b[5]) if owner == element])
        row = elements.loc[element]
        assert row["masked_tokens"] == len(losses) > 0 and row["masked_bases"] == bases.sum()
        assert row["perplexity"] == pytest.approx(np.exp(losses.sum() / len(losses)), rel=1e-5)
    unlabelled = sum(owner is None for b in brute for owner in b[5])
    assert unlabelled > 0
    assert elements["masked_tokens"].sum() + unlabelled == tables.species["masked_tokens"].sum()
    window_elements = tables.window_elements
    assert window_elements.groupby("element")["masked_tokens"].sum().to_dict() == elements["masked_tokens"].to_dict()
    # a mapping species -> labels; a species without one gets no element rows
    mapped = masked_perplexity(
        model,
        tokenizer,
        [small_fasta, MITO],
        window_bp=120,
        stride_bp=100,
        seed=1,
        copies=2,
        base_labels={"tiny_species": labels},
    )
    assert set(mapped.elements["species"]) == {"tiny_species"}
    pd.testing.assert_frame_equal(mapped.elements.reset_index(drop=True), tables.elements.reset_index(drop=True))


# ---- windows, writers, bad input ---------------------------------------------------------------------------------


def test_n_rich_windows_are_skipped_or_cut_at_the_context(tiny, tmp_path):
    model, tokenizer = tiny
    sequence = _ecoli(0, WINDOW_BP)
    fasta = _write_fasta(tmp_path / "n.fa", {"gappy": "N" * WINDOW_BP + sequence, "broken": ("ACGTN" * 80)[:WINDOW_BP]})
    windows = masked_perplexity(model, tokenizer, fasta).windows
    assert list(zip(windows["record"], windows["start"])) == [("gappy", WINDOW_BP), ("broken", 0)]
    broken = windows.iloc[1]
    assert broken["tokens"] == 63 and broken["end"] < WINDOW_BP  # 1-base tokens overflow: cut at the context


def test_writers_and_report(tiny, small_fasta, tmp_path):
    model, tokenizer = tiny

    def labels(record, start, end):
        return np.where(np.arange(start, end) < 250, 0, 1), ["left", "right"]

    tables, paths = perplexity_report(
        model, tokenizer, small_fasta, tmp_path / "out", window_bp=120, base_labels=labels, progress=True
    )
    assert set(paths) == {"windows", "records", "species", "elements", "window_elements", "plot"}
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    read = pd.read_csv(paths["windows"], sep="\t")
    assert list(read.columns) == list(tables.windows.columns)
    np.testing.assert_allclose(read["perplexity"], tables.windows["perplexity"], rtol=1e-5)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths.values())
    plain = write_perplexity(masked_perplexity(model, tokenizer, small_fasta, window_bp=120), tmp_path / "plain")
    assert set(plain) == {"windows", "records", "species", "plot"}


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "no FASTA record"),
        (b"\n\n", "no FASTA record"),
        (b"ACGTACGT\n", "line 1: sequence data before"),
        (b">r1\nACGTRACGT\n", "record r1, window at 0-based position 0"),
    ],
)
def test_bad_fasta_raises_naming_the_file_and_writes_nothing(tiny, small_fasta, tmp_path, content, message):
    model, tokenizer = tiny
    bad = tmp_path / "bad.fa"
    bad.write_bytes(content)
    with pytest.raises(InputError, match=message) as caught:
        perplexity_report(model, tokenizer, [small_fasta, bad], tmp_path / "out", window_bp=120)
    assert str(bad) in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_bad_options_raise_input_error(tiny, small_fasta, tmp_path):
    model, tokenizer = tiny
    with pytest.raises(InputError, match="does not fit the model's context: at most 378 bp"):
        perplexity_report(model, tokenizer, small_fasta, tmp_path / "out", window_bp=WINDOW_BP + 1)
    with pytest.raises(InputError, match="no such FASTA"):
        masked_perplexity(model, tokenizer, tmp_path / "missing.fa")
    empty_gz = tmp_path / "empty.fa.gz"
    with gzip.open(empty_gz, "wb"):
        pass
    with pytest.raises(InputError, match="empty.fa.gz: no FASTA record"):
        masked_perplexity(model, tokenizer, empty_gz)
    for bad in (dict(copies=0), dict(stride_bp=0), dict(seed=-1)):
        with pytest.raises(InputError):
            masked_perplexity(model, tokenizer, small_fasta, **bad)
    assert not (tmp_path / "out").exists()
