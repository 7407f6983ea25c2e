"""Tests of the NT 6-mer tokenizer against hand-worked ids, the published examples and transformers' EsmTokenizer."""

import ast
import importlib.util
import itertools
import json
import os
import pickle
import shutil

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import DataCollatorForLanguageModeling, EsmTokenizer

from nucleotide_transformer_hf.tokenization_nucleotide_transformer import (
    NUCLEOTIDES,
    NucleotideTransformerTokenizerFast,
    build_vocab,
    detect_vocab_layout,
    read_vocab_file,
)

MODULE_PATH = os.path.join(
    os.path.dirname(__file__), os.pardir, "nucleotide_transformer_hf", "tokenization_nucleotide_transformer.py"
)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
IUPAC = "RYSWKMBDHV"


def reference_vocab(layout):
    """The layouts of docs/tokenizer.md#vocabulary, written out independently of the code under test."""
    kmers = ["".join(p) for p in itertools.product("ATCG", repeat=6)]
    if layout == "v1":
        return ["<unk>", "<pad>", "<mask>", "<cls>"] + kmers + ["A", "T", "C", "G", "N", "<eos>", "<bos>"]
    return ["<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>"] + kmers + ["A", "T", "C", "G", "N"]


def kmer_id(kmer, base):
    idx = {"A": 0, "T": 1, "C": 2, "G": 3}
    return base + sum(idx[c] * 4 ** (5 - i) for i, c in enumerate(kmer))


@pytest.fixture(scope="module")
def tok():
    return {layout: NucleotideTransformerTokenizerFast(vocab_layout=layout) for layout in ("v1", "v2")}


@pytest.fixture(scope="module")
def vocab_dirs(tmp_path_factory):
    dirs = {}
    for layout in ("v1", "v2"):
        directory = tmp_path_factory.mktemp(f"vocab_{layout}")
        (directory / "vocab.txt").write_text("\n".join(reference_vocab(layout)), encoding="utf-8")
        dirs[layout] = directory
    return dirs


@pytest.fixture(scope="module")
def esm(vocab_dirs):
    return {layout: EsmTokenizer(str(vocab_dirs[layout] / "vocab.txt"), eos_token=None) for layout in ("v1", "v2")}


# ---- vocabulary --------------------------------------------------------------------------------------------------

# (token, v1 id, v2 id) from docs/tokenizer.md#vocabulary
REFERENCE_IDS = [
    ("<unk>", 0, 0),
    ("<pad>", 1, 1),
    ("<mask>", 2, 2),
    ("<cls>", 3, 3),
    ("<eos>", 4105, 4),
    ("<bos>", 4106, 5),
    ("AAAAAA", 4, 6),
    ("AAAAAT", 5, 7),
    ("GGGGGG", 4099, 4101),
    ("A", 4100, 4102),
    ("T", 4101, 4103),
    ("C", 4102, 4104),
    ("G", 4103, 4105),
    ("N", 4104, 4106),
    ("ACGTGT", 737, 739),
]


def test_nucleotide_order_is_atcg():
    assert NUCLEOTIDES == ("A", "T", "C", "G")


@pytest.mark.parametrize("layout", ["v1", "v2"])
def test_build_vocab_matches_reference_layout(layout):
    vocab = build_vocab(layout)
    assert len(vocab) == 4107
    assert vocab == reference_vocab(layout)
    assert len(set(vocab)) == 4107


@pytest.mark.parametrize("token,v1,v2", REFERENCE_IDS)
def test_reference_table_ids(tok, token, v1, v2):
    assert build_vocab("v1").index(token) == v1
    assert build_vocab("v2").index(token) == v2
    assert tok["v1"].convert_tokens_to_ids(token) == v1
    assert tok["v2"].convert_tokens_to_ids(token) == v2


@pytest.mark.parametrize("layout,base", [("v1", 4), ("v2", 6)])
def test_kmer_closed_form_for_all_4096_kmers(tok, layout, base):
    kmers = ["".join(p) for p in itertools.product("ACGT", repeat=6)]
    expected = [kmer_id(kmer, base) for kmer in kmers]
    assert tok[layout].convert_tokens_to_ids(kmers) == expected
    encoded = tok[layout](kmers)["input_ids"]
    assert encoded == [[3, i] for i in expected]


def test_build_vocab_rejects_unknown_layout():
    with pytest.raises(ValueError, match="v3"):
        build_vocab("v3")


@pytest.mark.parametrize("layout", ["v1", "v2"])
def test_detect_vocab_layout(layout):
    assert detect_vocab_layout(reference_vocab(layout)) == layout


def test_detect_vocab_layout_rejects_other_vocabularies():
    three_mers = ["<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>"] + [
        "".join(p) for p in itertools.product("ATCG", repeat=3)
    ]
    with pytest.raises(ValueError, match="70 tokens"):
        detect_vocab_layout(three_mers)
    swapped = reference_vocab("v2")
    swapped[6], swapped[7] = swapped[7], swapped[6]
    with pytest.raises(ValueError, match="id 6"):
        detect_vocab_layout(swapped)


@pytest.mark.parametrize("trailing", ["", "\n", "\n\n"])
def test_read_vocab_file(tmp_path, trailing):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(reference_vocab("v1")) + trailing, encoding="utf-8")
    assert read_vocab_file(path) == reference_vocab("v1")


def test_special_tokens(tok):
    for layout in ("v1", "v2"):
        t = tok[layout]
        assert (t.unk_token_id, t.pad_token_id, t.mask_token_id, t.cls_token_id) == (0, 1, 2, 3)
        assert t.eos_token is None and t.bos_token is None
        assert t.vocab_size == len(t) == 4107
        assert set(t.all_special_tokens) == {"<unk>", "<pad>", "<mask>", "<cls>"}


def test_default_model_max_length(tok):
    assert tok["v1"].model_max_length == 1000
    assert tok["v2"].model_max_length == 2048
    assert NucleotideTransformerTokenizerFast(vocab_layout="v1", model_max_length=12).model_max_length == 12


# ---- worked examples (docs/tokenizer.md#splitting-rules) ---------------------------------------------------------------------

EXAMPLES = [
    (
        "ACGTGTACGTGCACGGACGACTAGTCAGCA",
        [3, 737, 738, 758, 3223, 1596],
        ["<cls>", "ACGTGT", "ACGTGC", "ACGGAC", "GACTAG", "TCAGCA"],
    ),
    (
        "ACGTGTACNTGCACGGANCGACTAGTCTGA",
        [3, 737, 4100, 4102, 4104, 1935, 4103, 4100, 4104, 2856, 3488],
        ["<cls>", "ACGTGT", "A", "C", "N", "TGCACG", "G", "A", "N", "CGACTA", "GTCTGA"],
    ),
    ("ATTCCGATTCCGATTCCGA", [3, 367, 367, 367, 4100], ["<cls>", "ATTCCG", "ATTCCG", "ATTCCG", "A"]),
]


@pytest.mark.parametrize("text,v1_ids,tokens", EXAMPLES)
def test_worked_examples(tok, text, v1_ids, tokens):
    v2_ids = [i if i < 4 else i + 2 for i in v1_ids]
    assert tok["v1"](text)["input_ids"] == v1_ids
    assert tok["v2"](text)["input_ids"] == v2_ids
    assert tok["v1"].encode(text) == v1_ids
    for layout in ("v1", "v2"):
        assert tok[layout].convert_ids_to_tokens(tok[layout](text)["input_ids"]) == tokens
        assert tok[layout].tokenize(text) == tokens[1:]


def test_n_restarts_the_grid_and_tails_are_single_nucleotides(tok):
    # 7 nucleotides, N, 6 nucleotides, 2-nucleotide tail
    ids = tok["v1"]("AAAAAAANCCCCCCGG")["input_ids"]
    assert ids == [3, 4, 4100, 4104, kmer_id("CCCCCC", 4), 4103, 4103]
    assert tok["v1"]("NNN")["input_ids"] == [3, 4104, 4104, 4104]
    assert tok["v1"]("")["input_ids"] == [3]


@pytest.mark.parametrize("layout", ["v1", "v2"])
@SETTINGS
@given(text=st.text(alphabet="ACGTN", max_size=300))
def test_same_ids_as_esm_tokenizer(tok, esm, layout, text):
    assert tok[layout](text)["input_ids"] == esm[layout](text)["input_ids"]


# ---- normalization and validation --------------------------------------------------------------------------------


@SETTINGS
@given(text=st.text(alphabet="ACGTNacgtn", max_size=200))
def test_lowercase_same_ids_as_uppercase(tok, text):
    assert tok["v2"](text)["input_ids"] == tok["v2"](text.upper())["input_ids"]


def test_whitespace_is_stripped_before_the_grid(tok):
    text = "ACG TGT\nA\r\n"
    encoded = tok["v1"](text, return_offsets_mapping=True)
    assert encoded["input_ids"] == [3, 737, 4100]
    # A0 C1 G2 ' '3 T4 G5 T6 '\n'7 A8: ACGTGT spans 0..7, A spans 8..9
    assert encoded["offset_mapping"] == [(0, 0), (0, 7), (8, 9)]
    fasta_body = "ACGTGTAC\nGTGCAC\n\tACGG"
    assert tok["v2"](fasta_body)["input_ids"] == tok["v2"](fasta_body.replace("\n", "").replace("\t", ""))["input_ids"]


@SETTINGS
@given(
    chunks=st.lists(
        st.tuples(
            st.text(alphabet="ACGTNacgtn", min_size=1, max_size=20),
            st.sampled_from(["", " ", "\n", "\r\n", "\t"]),
        ),
        max_size=12,
    )
)
def test_offsets_with_whitespace_index_the_original_string(tok, chunks):
    text = "".join(seq + space for seq, space in chunks)
    encoded = tok["v1"](text, return_offsets_mapping=True)
    tokens = tok["v1"].convert_ids_to_tokens(encoded["input_ids"])
    for token, (start, end) in zip(tokens[1:], encoded["offset_mapping"][1:]):
        assert "".join(text[start:end].split()).upper() == token
    assert encoded["input_ids"] == tok["v1"]("".join(text.split()))["input_ids"]


@pytest.mark.parametrize(
    "text,char,position",
    [
        ("ACGTX", "X", 4),
        ("acgu", "u", 3),
        ("ACG-T", "-", 3),
        ("ACGT\x0b", "\x0b", 4),
        ("ACGé", "é", 3),
        ("<mas", "<", 0),
    ],
)
def test_invalid_character_raises_with_char_and_position(tok, text, char, position):
    with pytest.raises(ValueError) as error:
        tok["v2"](text)
    assert repr(char) in str(error.value)
    assert f"position {position}" in str(error.value)
    with pytest.raises(ValueError, match=f"position {position}"):
        tok["v2"].tokenize(text)
    with pytest.raises(ValueError, match=f"position {position}"):
        tok["v2"].encode(text)


def test_invalid_character_in_batch_names_sequence_index(tok):
    with pytest.raises(ValueError, match=r"'Z' at position 6 of sequence 2 of the batch"):
        tok["v1"](["ACGT", "acgtn", "ACGTGTZ"], padding=True, return_tensors="pt")
    with pytest.raises(ValueError, match=r"'Z' at position 1 of sequence 1 .*text_pair"):
        tok["v1"](["ACGT", "ACGT"], ["A", "AZ"])


def test_vectorised_path_separator_inside_a_text_is_refused(tok):
    # The vectorised path joins a batch with "~" and checks it bytewise: a "~" inside a text must still be an error,
    # never a silent split of that text into two sequences.
    with pytest.raises(ValueError, match=r"'~' at position 4 of sequence 1 of the batch"):
        tok["v2"](["ACGTAC", "ACGT~ACGT", "AC"], padding=True, return_tensors="pt")
    with pytest.raises(ValueError, match=r"'~' at position 0 of the sequence"):
        tok["v2"]("~", return_tensors="np")


@pytest.mark.parametrize("code", IUPAC + IUPAC.lower())
def test_iupac_codes_need_opt_in_and_map_to_n(tok, code):
    with pytest.raises(ValueError, match="allow_iupac=True"):
        tok["v2"](f"ACGTGT{code}A")
    iupac_tok = NucleotideTransformerTokenizerFast(vocab_layout="v2", allow_iupac=True)
    assert iupac_tok(f"ACGTGT{code}A")["input_ids"] == [3, 739, 4106, 4102]
    assert iupac_tok(f"ACG{code}TGT")["input_ids"] == tok["v2"]("ACGNTGT")["input_ids"]


def test_literal_special_tokens(tok):
    assert tok["v1"]("ACGTGT<mask>acgt")["input_ids"] == [3, 737, 2, 4100, 4102, 4103, 4101]
    assert tok["v2"]("<mask>ACGTGT<pad>")["input_ids"] == [3, 2, 739, 1]
    assert tok["v2"]("A<eos><bos>")["input_ids"] == [3, 4102, 4, 5]
    with pytest.raises(ValueError, match="v1"):  # ids 4105/4106 have no embedding row in v1 models
        tok["v1"]("ACGT<eos>")
    with pytest.raises(ValueError, match="'<' at position 4"):
        tok["v2"]("ACGT<mask>", split_special_tokens=True)


def test_pretokenized_input_is_refused(tok):
    with pytest.raises(NotImplementedError, match="is_split_into_words"):
        tok["v2"](["ACG", "TGT"], is_split_into_words=True)


def test_backend_alone_maps_unknown_characters_to_unk(tok):
    assert tok["v1"].backend_tokenizer.encode("ACXGT").ids == [3, 4100, 4102, 0, 4103, 4101]


# ---- decoding and offsets ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["v1", "v2"])
@SETTINGS
@given(text=st.text(alphabet="ACGTNacgtn", max_size=200))
def test_decode_round_trip_and_offsets(tok, layout, text):
    t = tok[layout]
    encoded = t(text, return_offsets_mapping=True)
    assert t.decode(encoded["input_ids"], skip_special_tokens=True) == text.upper()
    tokens = t.convert_ids_to_tokens(encoded["input_ids"])
    assert tokens[0] == "<cls>" and encoded["offset_mapping"][0] == (0, 0)
    for token, (start, end) in zip(tokens[1:], encoded["offset_mapping"][1:]):
        assert text[start:end].upper() == token
    spans = encoded["offset_mapping"][1:]
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))


def test_decode_concatenates_tokens(tok):
    ids = tok["v1"].convert_tokens_to_ids(["<cls>", "ACGTGT", "A", "N"])
    assert tok["v1"].decode(ids) == "<cls>ACGTGTAN"
    assert tok["v1"].decode(ids, skip_special_tokens=True) == "ACGTGTAN"
    assert tok["v1"].batch_decode([ids, ids[:2]], skip_special_tokens=True) == ["ACGTGTAN", "ACGTGT"]


# ---- batching, padding, truncation, tensors -----------------------------------------------------------------------

BATCH = ["ACGTGT", "ACGTGTACGTGTA", "N"]
# v1 ids by hand: ACGTGT=737, A=4100, N=4104
BATCH_IDS = [[3, 737], [3, 737, 737, 4100], [3, 4104]]


def test_batch_without_padding(tok):
    encoded = tok["v1"](BATCH)
    assert encoded["input_ids"] == BATCH_IDS
    assert encoded["attention_mask"] == [[1] * len(ids) for ids in BATCH_IDS]
    assert "token_type_ids" not in encoded


@pytest.mark.parametrize("return_tensors", [None, "pt", "np"])
def test_padding_longest(tok, return_tensors):
    encoded = tok["v1"](BATCH, padding=True, return_tensors=return_tensors)
    ids = [[3, 737, 1, 1], [3, 737, 737, 4100], [3, 4104, 1, 1]]
    mask = [[1, 1, 0, 0], [1, 1, 1, 1], [1, 1, 0, 0]]
    if return_tensors == "pt":
        assert encoded["input_ids"].dtype == torch.int64 and encoded["attention_mask"].dtype == torch.int64
    if return_tensors == "np":
        assert isinstance(encoded["input_ids"], np.ndarray) and encoded["input_ids"].dtype == np.int64
    assert np.asarray(encoded["input_ids"]).tolist() == ids
    assert np.asarray(encoded["attention_mask"]).tolist() == mask
    assert encoded.encodings is not None and encoded.tokens(1) == ["<cls>", "ACGTGT", "ACGTGT", "A"]


@pytest.mark.parametrize("return_tensors", [None, "pt"])
def test_padding_max_length_left_and_multiple(tok, return_tensors):
    t = tok["v1"]
    encoded = t(BATCH, padding="max_length", max_length=6, return_tensors=return_tensors)
    assert np.asarray(encoded["input_ids"]).tolist()[0] == [3, 737, 1, 1, 1, 1]
    encoded = t(BATCH, padding=True, padding_side="left", return_tensors=return_tensors)
    assert np.asarray(encoded["input_ids"]).tolist()[0] == [1, 1, 3, 737]
    assert np.asarray(encoded["attention_mask"]).tolist()[0] == [0, 0, 1, 1]
    encoded = t(BATCH, padding=True, pad_to_multiple_of=8, return_tensors=return_tensors)
    assert np.asarray(encoded["input_ids"]).shape == (3, 8)


def test_tensor_path_equals_list_path(tok):
    rng = np.random.default_rng(0)
    texts = ["".join(rng.choice(list("ACGTNacgt"), size=n)) for n in rng.integers(0, 400, size=20)]
    lists = tok["v2"](texts, padding=True)
    for kwargs in ({}, {"return_offsets_mapping": True}, {"return_length": True}):
        tensors = tok["v2"](texts, padding=True, return_tensors="pt", **kwargs)
        assert tensors["input_ids"].tolist() == lists["input_ids"]
        assert tensors["attention_mask"].tolist() == lists["attention_mask"]
    single = tok["v2"](texts[3], return_tensors="pt")
    assert single["input_ids"].shape == (1, len(lists["input_ids"][3]) - lists["input_ids"][3].count(1))


def test_ragged_tensors_without_padding_raise(tok):
    with pytest.raises(ValueError, match="padding=True"):
        tok["v1"](BATCH, return_tensors="pt")


def test_truncation(tok):
    assert tok["v1"]("ACGTGTACGTGTACGTGT", truncation=True, max_length=3)["input_ids"] == [3, 737, 737]
    encoded = tok["v1"](["A" * 6000, "ACGT"], truncation=True, padding=True, return_tensors="pt")
    assert encoded["input_ids"].shape == (2, 1000)
    assert encoded["attention_mask"][1].sum() == 5


@pytest.mark.parametrize("return_tensors", [None, "pt"])
def test_too_long_without_truncation_raises(tok, return_tensors):
    # 999 6-mers + <cls> = 1000 tokens fits v1; one more nucleotide does not
    assert len(tok["v1"]("A" * 5994)["input_ids"]) == 1000
    with pytest.raises(ValueError) as error:
        tok["v1"](["ACGT", "A" * 5995], padding=True, return_tensors=return_tensors)
    message = str(error.value)
    assert "Sequence 1" in message and "1001 tokens" in message and "model_max_length=1000" in message
    assert "truncation=True" in message
    with pytest.raises(ValueError, match="2049 tokens"):
        tok["v2"]("ACGTGT" * 2048)
    assert len(tok["v2"].tokenize("ACGTGT" * 2048)) == 2048  # tokenize() only inspects, never rejects length


def test_pairs_have_cls_and_no_separator(tok):
    assert tok["v1"]("ACGTGT", "A")["input_ids"] == [3, 737, 4100]
    assert tok["v1"].build_inputs_with_special_tokens([737], [4100]) == [3, 737, 4100]
    assert tok["v1"].get_special_tokens_mask([737, 4100]) == [1, 0, 0]
    assert tok["v1"].get_special_tokens_mask([3, 737, 1], already_has_special_tokens=True) == [1, 0, 1]


def test_mlm_collator(tok):
    features = [tok["v2"](text) for text in ("ACGTGT" * 5, "ACGTGTA")]
    batch = DataCollatorForLanguageModeling(tok["v2"], mlm_probability=0.5, seed=0)(features)
    assert batch["input_ids"].shape == batch["labels"].shape == (2, 6)
    assert (batch["labels"][:, 0] == -100).all()  # <cls> is never masked
    assert (batch["labels"][1, 3:] == -100).all()  # nor padding


# ---- construction, saving, loading --------------------------------------------------------------------------------

SAMPLES = ["ACGTGTACNTGCACGGA", "acgtgtaaaaaa", "", "N" * 7, "ACGTGT<mask>A"]


@pytest.mark.parametrize("layout", ["v1", "v2"])
def test_build_from_published_vocab_file(tok, vocab_dirs, layout):
    from_file = NucleotideTransformerTokenizerFast(vocab_file=str(vocab_dirs[layout] / "vocab.txt"))
    from_dir = NucleotideTransformerTokenizerFast.from_vocab_file(vocab_dirs[layout])
    for t in (from_file, from_dir):
        assert t.vocab_layout == layout
        assert t.model_max_length == {"v1": 1000, "v2": 2048}[layout]
        assert t(SAMPLES)["input_ids"] == tok[layout](SAMPLES)["input_ids"]


def test_bad_vocab_file_raises(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(["<unk>", "<pad>", "A", "C"]), encoding="utf-8")
    with pytest.raises(ValueError, match="v1 layout"):
        NucleotideTransformerTokenizerFast(vocab_file=str(path))


@pytest.mark.parametrize("layout", ["v1", "v2"])
def test_save_and_reload(tmp_path, layout):
    original = NucleotideTransformerTokenizerFast(vocab_layout=layout, allow_iupac=True, model_max_length=500)
    saved = original.save_pretrained(tmp_path)
    names = {os.path.basename(path) for path in saved}
    assert {"tokenizer.json", "tokenizer_config.json", "vocab.txt"} <= names
    assert read_vocab_file(tmp_path / "vocab.txt") == reference_vocab(layout)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert config["vocab_layout"] == layout and config["allow_iupac"] is True
    assert config["tokenizer_class"] == "NucleotideTransformerTokenizerFast"
    assert config.get("eos_token") is None and config["model_max_length"] == 500

    reloaded = NucleotideTransformerTokenizerFast.from_pretrained(tmp_path)
    assert reloaded.vocab_layout == layout and reloaded.allow_iupac is True
    assert reloaded.model_max_length == 500
    assert reloaded.special_tokens_map == original.special_tokens_map
    assert reloaded.eos_token is None and reloaded.eos_token_id is None
    texts = SAMPLES + ["ACGRYT"]
    assert reloaded(texts)["input_ids"] == original(texts)["input_ids"]
    assert reloaded("ACGTGTA")["input_ids"][-1] == original.convert_tokens_to_ids("A")  # no <eos> appended
    assert reloaded.get_vocab() == original.get_vocab()

    # vocab.txt alone (tokenizer.json removed) rebuilds the same tokenizer
    os.remove(tmp_path / "tokenizer.json")
    from_vocab = NucleotideTransformerTokenizerFast.from_pretrained(tmp_path)
    assert from_vocab(texts)["input_ids"] == original(texts)["input_ids"]


def test_from_published_checkpoint_folder(tmp_path, vocab_dirs):
    shutil.copy(vocab_dirs["v1"] / "vocab.txt", tmp_path / "vocab.txt")
    (tmp_path / "special_tokens_map.json").write_text(
        json.dumps({"cls_token": "<cls>", "mask_token": "<mask>", "pad_token": "<pad>", "unk_token": "<unk>"})
    )
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps({"clean_up_tokenization_spaces": True, "model_max_length": 1000, "tokenizer_class": "EsmTokenizer"})
    )
    t = NucleotideTransformerTokenizerFast.from_pretrained(tmp_path)
    assert t.vocab_layout == "v1" and t.model_max_length == 1000 and t.eos_token is None
    assert t(EXAMPLES[1][0])["input_ids"] == EXAMPLES[1][1]
    assert t.decode(t(EXAMPLES[1][0])["input_ids"], skip_special_tokens=True) == EXAMPLES[1][0]


def test_pickle_round_trip():
    # datasets.map(num_proc=...) and DataLoader workers pickle the tokenizer
    original = NucleotideTransformerTokenizerFast(vocab_layout="v1", allow_iupac=True)
    restored = pickle.loads(pickle.dumps(original))
    assert (restored.vocab_layout, restored.allow_iupac) == ("v1", True)
    assert restored(["ACGTGTRA", "acgt"])["input_ids"] == original(["ACGTGTRA", "acgt"])["input_ids"]


def test_module_works_as_standalone_remote_code(tmp_path):
    tree = ast.parse(open(MODULE_PATH, encoding="utf-8").read())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports in Hub remote code"
            assert node.module.split(".")[0] in {"tokenizers", "transformers"}
        elif isinstance(node, ast.Import):
            # torch only inside the return_tensors="pt" path, as transformers itself does
            assert {alias.name.split(".")[0] for alias in node.names} <= {"itertools", "os", "re", "numpy", "torch"}
    copy = tmp_path / "tokenization_nucleotide_transformer.py"
    shutil.copy(MODULE_PATH, copy)
    spec = importlib.util.spec_from_file_location("standalone_nt_tokenizer", copy)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.NucleotideTransformerTokenizerFast(vocab_layout="v1")(EXAMPLES[0][0])["input_ids"] == EXAMPLES[0][1]


# ---------------------------------------------------------------------------------------------------------------------
# The vectorised path (tensor-only calls on plain A/C/G/T/N text) against the `tokenizers` pipeline it replaces

PLAIN_DNA = st.text(alphabet="ACGTNacgtn", min_size=0, max_size=80)
CALL_OPTIONS = [
    {"padding": True},
    {"padding": True, "padding_side": "left"},
    {"padding": "max_length", "max_length": 30, "truncation": True},
    {"padding": True, "truncation": True, "max_length": 7},
    {"padding": True, "pad_to_multiple_of": 8},
    {"padding": True, "add_special_tokens": False},
    {"padding": True, "return_attention_mask": False},
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(PLAIN_DNA, min_size=1, max_size=6),
    option=st.sampled_from(CALL_OPTIONS),
    layout=st.sampled_from(["v1", "v2"]),
)
def test_vectorised_path_is_bit_identical_to_backend(tok, texts, option, layout):
    t = tok[layout]
    fast = t(texts, return_tensors="np", **option)
    generic = t(texts, **option)  # lists: the TokenizersBackend path over the Rust encodings
    assert fast["input_ids"].tolist() == generic["input_ids"]
    assert ("attention_mask" in fast) == ("attention_mask" in generic)
    if "attention_mask" in fast:
        assert fast["attention_mask"].tolist() == generic["attention_mask"]
    # token-level accessors still work: the encodings are computed on first use
    assert [fast.tokens(i) for i in range(len(texts))] == [generic.tokens(i) for i in range(len(texts))]


def test_vectorised_path_long_batch_spans_several_chunks(tok):
    rng = np.random.default_rng(1)
    texts = ["".join(rng.choice(list("ACGTN"), p=[0.249, 0.249, 0.249, 0.249, 0.004], size=5990)) for _ in range(400)]
    fast = tok["v2"](texts, return_tensors="pt", padding=True)  # 2.4 Mbp: more than one internal chunk
    generic = tok["v2"](texts, padding=True)
    assert fast["input_ids"].tolist() == generic["input_ids"]
    assert fast["attention_mask"].tolist() == generic["attention_mask"]


def test_unverified_v1_vocab_txt_order_follows_the_jax_v1_layout():
    """docs/unverified.md#v1-vocabulary-order: the v1 hub vocab.txt was not read directly; its order is inferred (4,107 lines, JAX v1
    order, <eos>/<bos> last). `vocab_file=` always reads a checkpoint's own file, so a different real order would be
    detected as not-NT rather than silently misread."""
    vocab = build_vocab("v1")
    assert (
        len(vocab) == 4107 and vocab[:4] == ["<unk>", "<pad>", "<mask>", "<cls>"] and vocab[-2:] == ["<eos>", "<bos>"]
    )
    shuffled = vocab[:4] + vocab[5:6] + vocab[4:5] + vocab[6:]
    with pytest.raises(ValueError, match="v1 expects"):
        detect_vocab_layout(shuffled)
