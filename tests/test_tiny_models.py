"""Tiny offline stand-ins for other DNA models: a DNABERT-2-like BPE model (plain transformers) and a HyenaDNA-like
character-level model whose code ships in its folder (trust_remote_code)."""

import importlib.util
import inspect
import random
import shutil
import sys
from pathlib import Path

import pytest
import torch
import transformers.dynamic_module_utils as dynamic_module_utils
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertForSequenceClassification,
    BertModel,
)

from nucleotide_transformer_hf.errors import InputError
from nucleotide_transformer_hf.finetuning import silence_peft_checkpointing_warning
from nucleotide_transformer_hf.tiny_models import (
    BPE_SPECIAL_TOKENS,
    CHAR_AUTO_MAP,
    CHAR_VOCAB,
    build_tiny_bpe_model,
    build_tiny_char_model,
    bundled_dna,
)

REPO = Path(__file__).resolve().parent.parent
TRAINING_BASES = 20_000
FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
CHAR_FILES = (*FILES, "configuration_tinychar.py", "modeling_tinychar.py")


def _dna(length: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("ACGT") for _ in range(length))


@pytest.fixture(scope="module", autouse=True)
def modules_cache(remote_code_cache):
    return remote_code_cache


@pytest.fixture(scope="module")
def training_dna():
    return bundled_dna(max_bases=TRAINING_BASES)


@pytest.fixture(scope="module")
def bpe_folder(tmp_path_factory, training_dna):
    return build_tiny_bpe_model(tmp_path_factory.mktemp("bpe"), training_dna)


@pytest.fixture(scope="module")
def char_folder(tmp_path_factory):
    return build_tiny_char_model(tmp_path_factory.mktemp("char"), max_length=256)


def _same_files(a: Path, b: Path, names) -> dict[str, bool]:
    return {name: (a / name).read_bytes() == (b / name).read_bytes() for name in names}


# ---- training DNA ----------------------------------------------------------------------------------------------


def test_bundled_dna_takes_every_genome_up_to_the_budget(tmp_path):
    sequences = bundled_dna(max_bases=3_000)
    genomes = sorted((REPO / "data" / "genomes").glob("*.fa.gz"))
    assert len(genomes) >= 2 and len(sequences) >= len(genomes)
    assert sum(map(len, sequences)) == 3_000 // len(genomes) * len(genomes)
    assert all(set(s) <= set("ACGTN") for s in sequences)
    assert len(set(sequences)) == len(sequences)  # one piece of each genome, not the same one repeated
    with pytest.raises(InputError, match="no bundled genomes folder"):
        bundled_dna(genomes_dir=tmp_path / "absent")
    with pytest.raises(InputError, match="no FASTA files"):
        bundled_dna(genomes_dir=tmp_path)


# ---- the BPE (DNABERT-2-like) model ---------------------------------------------------------------------------


def test_bpe_builder_is_deterministic(bpe_folder, training_dna, tmp_path):
    assert sorted(p.name for p in bpe_folder.iterdir()) == sorted(FILES)
    again = build_tiny_bpe_model(tmp_path / "again", training_dna)
    assert all(_same_files(bpe_folder, again, FILES).values())
    other_seed = build_tiny_bpe_model(tmp_path / "seed", training_dna, seed=1)
    assert _same_files(bpe_folder, other_seed, FILES) == {
        "config.json": True,
        "model.safetensors": False,
        "tokenizer.json": True,
        "tokenizer_config.json": True,
    }
    other_dna = build_tiny_bpe_model(tmp_path / "dna", [s[::-1] for s in training_dna])
    assert not _same_files(bpe_folder, other_dna, ["tokenizer.json"])["tokenizer.json"]


def test_bpe_tokenizer_splits_dna_into_pieces_that_cover_it(bpe_folder):
    tokenizer = AutoTokenizer.from_pretrained(bpe_folder)
    assert len(tokenizer) == 256 and tokenizer.model_max_length == 128
    assert [tokenizer.convert_tokens_to_ids(t) for t in BPE_SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert (tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.cls_token_id) == (0, 1, 2)
    assert (tokenizer.sep_token_id, tokenizer.mask_token_id) == (3, 4)
    sequence = _dna(240, seed=5)
    encoding = tokenizer(sequence, return_offsets_mapping=True)
    ids, offsets = encoding["input_ids"], encoding["offset_mapping"]
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    pieces = tokenizer.convert_ids_to_tokens(ids[1:-1])
    assert "".join(pieces) == sequence and tokenizer.unk_token not in pieces
    assert len(pieces) < len(sequence) / 2  # merges happened: most pieces are several bases
    assert offsets[1][0] == 0 and offsets[-2][1] == len(sequence)
    assert all(offsets[i][1] == offsets[i + 1][0] for i in range(1, len(offsets) - 2))  # contiguous
    assert [sequence[a:b] for a, b in offsets[1:-1]] == pieces
    assert tokenizer(sequence.lower())["input_ids"] == ids
    assert "N" in tokenizer.convert_ids_to_tokens(tokenizer("ACNGT")["input_ids"])
    assert tokenizer("ACXGT")["input_ids"].count(tokenizer.unk_token_id) == 1  # not silently dropped


def test_bpe_model_loads_with_plain_auto_classes_and_trains(bpe_folder):
    assert AutoConfig.from_pretrained(bpe_folder).model_type == "bert"
    encoder, info = AutoModel.from_pretrained(bpe_folder, output_loading_info=True)
    assert isinstance(encoder, BertModel)
    assert not info["missing_keys"] and encoder.pooler is not None  # the pooler was saved too
    assert AutoModelForMaskedLM.from_pretrained(bpe_folder).config.architectures == ["BertForMaskedLM"]
    model = AutoModelForSequenceClassification.from_pretrained(bpe_folder, num_labels=2)
    assert isinstance(model, BertForSequenceClassification)
    tokenizer = AutoTokenizer.from_pretrained(bpe_folder)
    batch = tokenizer([_dna(90, 1), _dna(40, 2)], padding=True, return_tensors="pt")
    output = model(**batch, labels=torch.tensor([0, 1]))
    assert output.logits.shape == (2, 2) and torch.isfinite(output.loss)
    output.loss.backward()
    for parameter in (model.classifier.weight, model.bert.embeddings.word_embeddings.weight):
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0


def test_peft_defaults_apply_to_the_bpe_model(bpe_folder):
    from peft import IA3Config, LoraConfig, get_peft_model

    for config, marker in ((IA3Config(task_type="SEQ_CLS"), "ia3_l"), (LoraConfig(task_type="SEQ_CLS"), "lora_A")):
        with silence_peft_checkpointing_warning():  # peft 0.21 reads a deprecated transformers attribute
            model = get_peft_model(AutoModelForSequenceClassification.from_pretrained(bpe_folder, num_labels=2), config)
        trainable = [name for name, p in model.named_parameters() if p.requires_grad]
        assert any(marker in name for name in trainable) and any("classifier" in name for name in trainable)


# ---- the character-level (HyenaDNA-like) model ------------------------------------------------------------------


def test_char_builder_is_deterministic(char_folder, tmp_path):
    assert sorted(p.name for p in char_folder.iterdir()) == sorted(CHAR_FILES)
    again = build_tiny_char_model(tmp_path / "again", max_length=256)
    assert all(_same_files(char_folder, again, CHAR_FILES).values())
    other_seed = build_tiny_char_model(tmp_path / "seed", max_length=256, seed=1)
    assert [n for n, same in _same_files(char_folder, other_seed, CHAR_FILES).items() if not same] == [
        "model.safetensors"
    ]


def test_char_tokenizer_gives_one_token_per_base(char_folder):
    tokenizer = AutoTokenizer.from_pretrained(char_folder, trust_remote_code=True)
    assert tokenizer.model_max_length == 256 and len(tokenizer) == len(CHAR_VOCAB) == 12
    assert tokenizer.convert_ids_to_tokens(list(range(12))) == list(CHAR_VOCAB)
    assert (tokenizer.pad_token_id, tokenizer.sep_token_id, tokenizer.unk_token_id) == (4, 1, 6)
    sequence = _dna(57, seed=3) + "N"
    encoding = tokenizer(sequence)
    assert list(encoding) == ["input_ids"]  # the model takes nothing else
    assert encoding["input_ids"] == [CHAR_VOCAB.index(base) for base in sequence] + [tokenizer.sep_token_id]
    assert tokenizer(sequence.lower())["input_ids"] == encoding["input_ids"]
    assert tokenizer("AXC")["input_ids"] == [7, 6, 8, 1]
    padded = tokenizer(["ACGT", "AC"], padding=True)["input_ids"]
    assert padded == [[7, 8, 9, 10, 1], [4, 4, 7, 8, 1]]  # HyenaDNA pads on the left


def test_char_model_needs_trust_remote_code(char_folder, modules_cache, monkeypatch, tmp_path):
    for auto in (AutoConfig, AutoModel, AutoModelForSequenceClassification):
        with pytest.raises(ValueError, match="trust_remote_code=True"):
            auto.from_pretrained(char_folder, trust_remote_code=False)
    monkeypatch.setattr(dynamic_module_utils, "TIME_OUT_REMOTE_CODE", 0)  # unset: no prompt, refused at once
    with pytest.raises(ValueError, match="trust_remote_code=True"):
        AutoModel.from_pretrained(char_folder)

    copy = shutil.copytree(char_folder, tmp_path / "elsewhere" / "tiny-char")  # the code travels with the folder
    config = AutoConfig.from_pretrained(copy, trust_remote_code=True)
    assert config.model_type == "tiny_char_dna" and config.auto_map == CHAR_AUTO_MAP
    assert (config.d_model, config.n_layer, config.num_hidden_layers, config.max_seq_len) == (32, 2, 2, 256)
    assert not hasattr(config, "hidden_size")  # HyenaDNA-style names, not BERT's
    for auto, name in (
        (AutoModel, "TinyCharModel"),
        (AutoModelForMaskedLM, "TinyCharForMaskedLM"),
        (AutoModelForSequenceClassification, "TinyCharForSequenceClassification"),
    ):
        model = auto.from_pretrained(copy, trust_remote_code=True)
        assert type(model).__name__ == name and type(model).__module__.startswith("transformers_modules.")
        assert Path(inspect.getfile(type(model))).is_relative_to(modules_cache)  # not in the user's home


def test_char_model_remote_code_imports_only_torch_and_transformers(char_folder):
    for name in ("configuration_tinychar.py", "modeling_tinychar.py"):
        imports = dynamic_module_utils.get_imports(char_folder / name)
        assert set(imports) <= {"torch", "transformers"}, imports
    # and it runs where our package cannot be imported: in a fresh package built from the files alone
    spec = importlib.util.spec_from_loader("tinychar_alone", loader=None, is_package=True)
    package = importlib.util.module_from_spec(spec)
    package.__path__ = [str(char_folder)]
    sys.modules["tinychar_alone"] = package
    try:
        modeling = importlib.import_module("tinychar_alone.modeling_tinychar")
        assert "nucleotide_transformer_hf" not in (char_folder / "modeling_tinychar.py").read_text()
        assert modeling.TinyCharModel.config_class.model_type == "tiny_char_dna"
    finally:
        for name in [n for n in sys.modules if n.split(".")[0] == "tinychar_alone"]:
            del sys.modules[name]


def test_char_forward_takes_no_attention_mask(char_folder, tmp_path):
    encoder = AutoModel.from_pretrained(char_folder, trust_remote_code=True)
    classifier = AutoModelForSequenceClassification.from_pretrained(char_folder, trust_remote_code=True, num_labels=2)
    assert list(inspect.signature(encoder.forward).parameters) == ["input_ids", "output_hidden_states", "return_dict"]
    assert list(inspect.signature(classifier.forward).parameters) == [
        "input_ids",
        "output_hidden_states",
        "return_dict",
        "labels",
    ]
    ids = torch.tensor([[7, 8, 9, 10, 1]])
    with pytest.raises(TypeError, match="attention_mask"):
        encoder(ids, attention_mask=torch.ones_like(ids))

    masked = build_tiny_char_model(tmp_path / "masked", attention_mask=True)
    encoder = AutoModel.from_pretrained(masked, trust_remote_code=True)
    assert "attention_mask" in inspect.signature(encoder.forward).parameters
    assert list(AutoTokenizer.from_pretrained(masked)("ACG")) == ["input_ids", "attention_mask"]


def test_char_model_outputs_mix_positions_causally_and_train(char_folder):
    encoder = AutoModel.from_pretrained(char_folder, trust_remote_code=True).eval()
    ids = torch.tensor([[7, 8, 9, 10, 7, 8, 9, 10, 11, 1]])
    changed = ids.clone()
    changed[0, 6] = 10
    with torch.no_grad():
        output = encoder(ids, output_hidden_states=True)
        other = encoder(changed).last_hidden_state
    assert output.last_hidden_state.shape == (1, 10, 32) and len(output.hidden_states) == 3
    assert torch.equal(output.hidden_states[-1], output.last_hidden_state)
    assert torch.allclose(other[0, :6], output.last_hidden_state[0, :6])  # causal: the past does not see base 6
    assert not torch.allclose(other[0, 7:], output.last_hidden_state[0, 7:], atol=1e-6)  # the future does
    assert isinstance(encoder(ids, return_dict=False), tuple)

    model = AutoModelForSequenceClassification.from_pretrained(char_folder, trust_remote_code=True, num_labels=2)
    tokenizer = AutoTokenizer.from_pretrained(char_folder)
    batch = tokenizer([_dna(50, 1), _dna(30, 2)], padding=True, return_tensors="pt")
    output = model(**batch, labels=torch.tensor([1, 0]))
    assert output.logits.shape == (2, 2) and torch.isfinite(output.loss)
    expected = torch.nn.functional.cross_entropy(output.logits, torch.tensor([1, 0]))
    assert torch.allclose(output.loss, expected)
    output.loss.backward()
    for parameter in (model.score.weight, model.backbone.embeddings.weight, model.backbone.layers[0].mixer.weight):
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0
    regression = AutoModelForSequenceClassification.from_pretrained(char_folder, trust_remote_code=True, num_labels=1)
    assert regression(**batch, labels=torch.tensor([0.5, -1.0])).loss.ndim == 0


def test_char_model_with_attention_mask_ignores_left_padding(tmp_path):
    folder = build_tiny_char_model(tmp_path / "masked", attention_mask=True)
    model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True, num_labels=2).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    short, long = _dna(20, 7), _dna(45, 8)
    with torch.no_grad():
        alone = model(**tokenizer([short], return_tensors="pt")).logits
        padded = model(**tokenizer([short, long], padding=True, return_tensors="pt")).logits
        unmasked = model(input_ids=tokenizer([short, long], padding=True, return_tensors="pt")["input_ids"]).logits
    assert torch.allclose(alone[0], padded[0], atol=1e-5)
    assert not torch.allclose(alone[0], unmasked[0], atol=1e-5)  # without the mask the padding is seen


def test_peft_has_no_ia3_default_for_the_char_model(char_folder):
    from peft import IA3Config, LoraConfig, get_peft_model

    for config in (IA3Config(task_type="SEQ_CLS"), LoraConfig(task_type="SEQ_CLS")):
        model = AutoModelForSequenceClassification.from_pretrained(char_folder, trust_remote_code=True, num_labels=2)
        with pytest.raises(ValueError, match="target_modules"):
            get_peft_model(model, config)


# ---- the build script ------------------------------------------------------------------------------------------


def test_build_script_writes_both_folders(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("build_tiny_models", REPO / "benchmarks" / "build_tiny_models.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    genome = sorted((REPO / "data" / "genomes").glob("*.fa.gz"))[0]
    argv = ["--bpe", str(tmp_path / "bpe"), "--char", str(tmp_path / "char"), "--max-bases", "5000"]
    assert script.main([*argv, "--sequences-from", str(genome), "--vocab-size", "64"]) == 0
    printed = capsys.readouterr().out
    assert "bpe:" in printed and "(5000 bases" in printed and "char:" in printed
    assert len(AutoTokenizer.from_pretrained(tmp_path / "bpe")) == 64
    assert sorted(p.name for p in (tmp_path / "char").iterdir()) == sorted(CHAR_FILES)
    assert script.main(["--bpe", str(tmp_path / "bpe2"), "--max-bases", "5000", "--vocab-size", "64"]) == 0
    assert (tmp_path / "bpe2" / "tokenizer.json").read_bytes() != (tmp_path / "bpe" / "tokenizer.json").read_bytes()
