"""Task data: task files (CSV/TSV/FASTA/datasets, gzip by content), label kinds, split folders, user errors named by
file, row and column, token labels from bases and base scores from tokens, sequence lengths by the tokenizer's rule,
windows, and k-fold and held-out splits."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from nucleotide_transformer_hf import NucleotideTransformerTokenizerFast
from nucleotide_transformer_hf.errors import InputError
from nucleotide_transformer_hf.finetuning import encode_task
from nucleotide_transformer_hf.tasks import (
    IGNORE_INDEX,
    TaskData,
    base_scores_from_tokens,
    check_sequence_lengths,
    find_split_files,
    kfold_indices,
    load_task,
    load_task_splits,
    make_windows,
    split_off,
    subsample,
    task_file_columns,
    task_from_columns,
    task_values,
    token_labels_from_bases,
)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tokenizer():
    return NucleotideTransformerTokenizerFast(vocab_layout="v2")


# ---- token labels ----------------------------------------------------------------------------------------------------


def test_token_labels_land_on_the_right_tokens(tokenizer):
    # tokens: <cls> ACGTGT | A C (tail before N) | N | TGCACG | G A (tail)
    sequence = "ACGTGTACNTGCACGGA"
    base_labels = "000111" + "10" + "2" + "222110" + ".1"
    task = TaskData([sequence], [np.array([-100 if c == "." else int(c) for c in base_labels])], "token", 3)
    encoded = encode_task(task, tokenizer)
    assert tokenizer.convert_ids_to_tokens(encoded[0]["input_ids"]) == [
        "<cls>",
        "ACGTGT",
        "A",
        "C",
        "N",
        "TGCACG",
        "G",
        "A",
    ]
    # ACGTGT: three 0s and three 1s, tie -> the leftmost base's label 0; TGCACG: 2,2,2,1,1,0 -> 2; singles 1:1;
    # the tail G is unlabelled -> ignored, like <cls>
    assert encoded[0]["labels"] == [IGNORE_INDEX, 0, 1, 0, 2, 2, IGNORE_INDEX, 1]
    assert token_labels_from_bases([1, 1, 0, 0, 0, 2], [(0, 6)]) == [0]  # plain majority
    assert token_labels_from_bases([2, 1, 1, 2, 0, 0], [(0, 6)]) == [2]  # three-way tie -> leftmost
    scores = np.arange(16, dtype=float).reshape(8, 2)
    per_base = base_scores_from_tokens(
        scores, tokenizer(sequence, return_offsets_mapping=True)["offset_mapping"], len(sequence)
    )
    np.testing.assert_array_equal(per_base[:6], np.repeat(scores[1:2], 6, axis=0))
    np.testing.assert_array_equal(per_base[[6, 7, 8, 15, 16]], scores[[2, 3, 4, 6, 7]])


def test_token_labels_from_a_file(tmp_path, tokenizer):
    path = tmp_path / "bases.tsv"
    path.write_text("sequence\tlabel\nACGTGTACNT\t0001110020\nNNACGTGTAA\t..11111100\n")
    task = load_task(path, kind="token")
    assert task.kind == "token" and task.num_labels == 3
    assert task.labels[1].tolist() == [IGNORE_INDEX, IGNORE_INDEX, 1, 1, 1, 1, 1, 1, 0, 0]
    assert encode_task(task, tokenizer)[1]["labels"] == [IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, 1, 0, 0]
    path.write_text("sequence\tlabel\nACGTGT\t00011\n")
    with pytest.raises(InputError, match=r"bases.tsv, row 0: 5 per-base labels for a sequence of 6 bp"):
        load_task(path, kind="token")


# ---- task files ------------------------------------------------------------------------------------------------------


def test_task_files_csv_tsv_fasta_datasets_and_nt_layout(tmp_path):
    rows = [("ACGTGTAC", "1"), ("ttgcaacg", "0"), ("GGGCCCAN", "1")]
    (tmp_path / "t.csv").write_text("sequence,label\n" + "".join(f"{s},{y}\n" for s, y in rows))
    with gzip.open(tmp_path / "t.tsv.gz", "wt") as handle:
        handle.write("sequence\tlabel\n" + "".join(f"{s}\t{y}\n" for s, y in rows))
    (tmp_path / "t.fna").write_text("".join(f">seq{i}|{y}\n{s[:4]}\n{s[4:]}\n" for i, (s, y) in enumerate(rows)))
    import datasets

    datasets.Dataset.from_dict({"sequence": [s for s, _ in rows], "label": [int(y) for _, y in rows]}).save_to_disk(
        tmp_path / "ds"
    )
    for source in ("t.csv", "t.tsv.gz", "t.fna", "ds"):
        task = load_task(tmp_path / source)
        assert task.kind == "binary" and task.num_labels == 2, source
        assert task.sequences == [s for s, _ in rows] and task.labels.tolist() == [1, 0, 1], source
    assert load_task(tmp_path / "t.fna").names == ["seq0", "seq1", "seq2"]

    (tmp_path / "nt.csv").write_text(
        "sequence,name,label,task\nACGT,a,0,enhancers\nGGCC,b,2,enhancers_types\nTTAA,c,1,enhancers\n"
    )
    enhancers = load_task(tmp_path / "nt.csv", task="enhancers")
    assert enhancers.sequences == ["ACGT", "TTAA"] and enhancers.names == ["a", "c"]
    with pytest.raises(InputError, match="no rows for task 'H3'"):
        load_task(tmp_path / "nt.csv", task="H3")

    (tmp_path / "kinds.csv").write_text(
        "sequence,a,b,y,cls\nACGT,1,0,0.5,promoter\nGGCC,0,1,1.25,enhancer\nTTAA,1,1,-2.0,promoter\n"
    )
    multilabel = load_task(tmp_path / "kinds.csv", label_columns=["a", "b"])
    assert multilabel.kind == "multilabel" and multilabel.labels.tolist() == [[1, 0], [0, 1], [1, 1]]
    regression = load_task(tmp_path / "kinds.csv", label_columns="y")
    assert regression.kind == "regression" and regression.labels.tolist() == [0.5, 1.25, -2.0]
    named = load_task(tmp_path / "kinds.csv", label_columns="cls")
    assert named.label_names == ["enhancer", "promoter"] and named.labels.tolist() == [1, 0, 1]

    with pytest.raises(InputError, match=r"t.csv: missing column\(s\) target"):
        load_task(tmp_path / "t.csv", label_columns="target")
    (tmp_path / "bad.fa").write_text(">seq0\nACGT\n")
    with pytest.raises(InputError, match=r"bad.fa, record 0 \('seq0'\): the label must be the last"):
        load_task(tmp_path / "bad.fa")


def test_split_files_agree_on_text_labels_and_kind(tmp_path):
    (tmp_path / "train.csv").write_text("sequence,label\nACGT,weak\nGGCC,strong\nTTAA,none\n")
    (tmp_path / "test.csv").write_text("sequence,label\nACGA,weak\nGGCA,none\n")
    splits = load_task_splits(tmp_path)
    assert splits["train"].label_names == splits["test"].label_names == ["none", "strong", "weak"]
    assert splits["test"].labels.tolist() == [2, 0] and splits["test"].kind == "multiclass"
    (tmp_path / "train.csv").write_text("sequence,label\nACGT,0.5\nGGCC,1.5\n")
    (tmp_path / "test.csv").write_text("sequence,label\nACGA,1\nGGCA,2\n")
    assert {t.kind for t in load_task_splits(tmp_path).values()} == {"regression"}  # the train split decides


def test_bundled_task_folders_load_with_their_splits():
    splits = load_task_splits(REPO / "data" / "tasks" / "prom_core_all")
    assert set(splits) == {"train", "validation", "test"}
    assert all(t.kind == "binary" and t.num_labels == 2 for t in splits.values())
    assert {len(s) for s in splits["train"].sequences} == {70}


# ---- user errors name the file, the row and the column --------------------------------------------------------------


def test_user_errors_in_task_files_are_input_errors_naming_the_place(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("name,sequence,label\na,ACGTGT,1\nb,ACGXGT,0\n")
    with pytest.raises(
        InputError, match=r"t.csv, row 1: 'X' at position 3 is not a nucleotide .*\(column 'sequence'\)"
    ):
        load_task(path)
    path.write_text("sequence,label\nACGTGT,1\n,0\n")
    with pytest.raises(InputError, match=r"t.csv, row 1: empty sequence \(column 'sequence'\)"):
        load_task(path)
    path.write_text("sequence,label\nACGTGT,1\nACGTAA,\n")
    with pytest.raises(InputError, match=r"t.csv, row 1: missing label \(column 'label'\)"):
        load_task(path)
    path.write_text("sequence,y\nACGTGT,0.5\nACGTAA,high\n")
    with pytest.raises(InputError, match=r"t.csv, row 1: regression labels must be numbers, got 'high' \(column 'y'\)"):
        load_task(path, label_columns="y", kind="regression")
    path.write_text("sequence,a,b\nACGTGT,0,1\nACGTAA,1,yes\n")
    with pytest.raises(InputError, match=r"t.csv, row 1: multi-label labels must be numbers, got 'yes' \(column 'b'\)"):
        load_task(path, label_columns=["a", "b"])
    path.write_text("sequence,label\nACGTGT,-1\nACGTAA,1\n")
    with pytest.raises(InputError, match=r"t.csv, row 0: class labels must be 0 or more, got -1 \(column 'label'\)"):
        load_task(path, kind="binary")
    path.write_text('sequence,label\nACGTGT,1\nACGTAA,0,extra\n"ACG\n')
    with pytest.raises(InputError, match=r"t.csv: cannot read the table: .*line 3"):
        load_task(path)

    (tmp_path / "x.fa").write_text(">s0|1\nACGT\n>s1|0\nAC-GT\n")
    with pytest.raises(InputError, match=r"x.fa, record 1 \('s1\|0'\): '-' at position 2 is not a nucleotide"):
        load_task(tmp_path / "x.fa")
    (tmp_path / "x.fa").write_text("ACGT\n>s0|1\nACGT\n")
    with pytest.raises(InputError, match=r"x.fa, line 1: sequence data before the first '>' header"):
        load_task(tmp_path / "x.fa")
    (tmp_path / "t.json").write_text("{}")
    with pytest.raises(InputError, match=r"t.json: not a task file name"):
        load_task(tmp_path / "t.json")
    with pytest.raises(InputError, match=r"missing.csv: no such task file"):
        load_task(tmp_path / "missing.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"empty: no train/dev/test files"):
        load_task_splits(tmp_path / "empty")
    with pytest.raises(InputError, match=r"empty: a folder that `datasets` cannot read"):
        load_task(tmp_path / "empty")
    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed" / "train.csv").write_text("sequence,label\nACGT,weak\nGGCC,strong\n")
    (tmp_path / "mixed" / "test.csv").write_text("sequence,label\nACGA,0\nGGCA,1\n")
    with pytest.raises(InputError, match=r"train.csv has text labels but .*test.csv has numbers"):
        load_task_splits(tmp_path / "mixed", kind="binary")


def test_gzip_is_detected_from_the_content_and_columns_read_without_loading(tmp_path):
    # gzipped content under a plain name, and a plain file under a .gz name
    with gzip.open(tmp_path / "train.csv", "wt") as handle:
        handle.write("sequence,name,label,task\nACGTGT,a,0,H3\nGGCCGG,b,1,H3\nTTTTTT,c,1,enhancers\n")
    (tmp_path / "test.tsv.gz").write_text("sequence\tlabel\nACGTGA\t1\nGGCCGA\t0\n")
    assert find_split_files(tmp_path) == {"train": tmp_path / "train.csv", "test": tmp_path / "test.tsv.gz"}
    assert load_task(tmp_path / "train.csv", task="H3").sequences == ["ACGTGT", "GGCCGG"]
    assert load_task(tmp_path / "test.tsv.gz").labels.tolist() == [1, 0]
    assert task_file_columns(tmp_path / "train.csv") == ["sequence", "name", "label", "task"]
    assert task_values(tmp_path / "train.csv") == ["H3", "enhancers"]
    (tmp_path / "labelled.fa").write_text(">s0|1\nACGT\n")
    (tmp_path / "genome.fna").write_text(">chr1 some description\nACGT\n")
    assert task_file_columns(tmp_path / "labelled.fa") == ["sequence", "label"]
    assert task_file_columns(tmp_path / "genome.fna") == ["sequence"]


def test_in_memory_columns_with_missing_values(tmp_path):
    with pytest.raises(InputError, match=r"<memory>, row 2: empty sequence \(column 'dna'\)"):
        task_from_columns(["ACGT", "ACGA", None], {"label": [0, 1, 0]}, sequence_column="dna")
    with pytest.raises(InputError, match=r"<memory>, row 1: missing label \(column 'y'\)"):
        task_from_columns(["ACGT", "ACGA"], {"y": [0.5, float("nan")]}, kind="regression")
    task = task_from_columns(["AC GT\n", "acgn"], {"label": ["b", "a"]})
    assert task.sequences == ["ACGT", "acgn"] and task.label_names == ["a", "b"] and task.labels.tolist() == [1, 0]


# ---- lengths, windows, splits ---------------------------------------------------------------------------------------


def test_sequence_lengths_follow_the_tokenizer_and_windows_cover_every_base(tokenizer):
    # the tokenizer's rule: <cls> ACGTAC ACGTAC ACGTAC = 4 tokens; <cls> ACGTAC N G T = 5 (N and tails one each)
    task = TaskData(["ACGTAC" * 3, "ACGTACNGT"], np.array([0, 1]), "binary", 2, names=["sixmers", "with_n"])
    check_sequence_lengths(task, tokenizer, 5)
    with pytest.raises(InputError, match=r"sequence 1 \(with_n\) is 9 bp = 5 tokens .* context of 4 tokens"):
        check_sequence_lengths(task, tokenizer, 4)
    with pytest.raises(InputError, match=r"sequence 0 \(sixmers\) is 18 bp = 4 tokens"):
        check_sequence_lengths(task, tokenizer, 3)

    token_task = TaskData(["A" * 100, "C" * 30], [np.arange(100) % 3, np.zeros(30, dtype=int)], "token", 3)
    windows = make_windows(token_task, 60, 30)
    assert windows.owner.tolist() == [0, 0, 0, 1] and windows.start.tolist() == [0, 30, 40, 0]  # last flush with end
    assert [len(s) for s in windows.task.sequences] == [60, 60, 60, 30]
    np.testing.assert_array_equal(windows.task.labels[2], token_task.labels[0][40:100])
    sequence_windows = make_windows(task, 6)  # stride: half a window, rounded to the 6-mer grid (at least 6)
    assert sequence_windows.start.tolist() == [0, 6, 12, 0, 3]
    assert sequence_windows.owner.tolist() == [0, 0, 0, 1, 1] and sequence_windows.task.labels.tolist() == [
        0,
        0,
        0,
        1,
        1,
    ]
    with pytest.raises(ValueError, match="window_bp must be a positive multiple of 6"):
        make_windows(task, 50)
    with pytest.raises(ValueError, match="stride_bp must be a multiple of 6"):
        make_windows(task, 60, 7)


def test_held_out_splits_are_stratified_and_keep_row_order():
    labels = np.array([0] * 30 + [1] * 10)
    task = TaskData([f"ACGT{'A' * i}" for i in range(40)], labels, "binary", 2)
    kept, held_out = split_off(task, 0.25, seed=3)
    assert len(kept) == 30 and len(held_out) == 10
    assert np.bincount(held_out.labels).tolist() == [7, 3] or np.bincount(held_out.labels).tolist() == [8, 2]
    assert kept.sequences == sorted(kept.sequences, key=task.sequences.index)
    assert not set(kept.sequences) & set(held_out.sequences)
    small = subsample(task, 20, seed=1)
    assert len(small) == 20 and subsample(task, 100) is task and subsample(task, None) is task
    folds = kfold_indices(task, 4, seed=0)
    assert sorted(np.concatenate([rows for _, rows in folds]).tolist()) == list(range(40))
    assert all(
        np.bincount(labels[rows]).tolist() == [7, 3] or np.bincount(labels[rows]).tolist() == [8, 2]
        for _, rows in folds
    )
