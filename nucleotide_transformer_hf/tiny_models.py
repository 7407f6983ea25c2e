"""Tiny random stand-ins for other Hugging Face DNA models, built from scratch (offline) for tests and benchmarks.

- `build_tiny_bpe_model`: a DNABERT-2-like model: a byte-pair-encoding tokenizer trained with `tokenizers` on DNA
  (`[CLS] X [SEP]`), and a random `BertForMaskedLM`; loads with plain `Auto*` classes, no remote code.
- `build_tiny_char_model`: a HyenaDNA/Caduceus-like model: one token per base, a random convolutional model whose
  code lives in the saved folder (`configuration_tinychar.py`, `modeling_tinychar.py`), so it loads only with
  `trust_remote_code=True`; like HyenaDNA, its `forward` takes no `attention_mask` (unless asked for one).

Both are deterministic: the same inputs and seed give byte-identical `tokenizer.json` and weights. Neither is
trained: the weights are random, the point is the interfaces (tokenizer scheme, config names, forward signature).
"""

import contextlib
import importlib
import importlib.util
import re
import sys
import uuid
from collections.abc import Iterable
from pathlib import Path

from .dna import FASTA_SUFFIXES, is_fasta_name, read_fasta
from .errors import InputError

BPE_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
"""Special tokens of the BPE tokenizer, in id order (ids 0..4)."""

BPE_ALPHABET = "ACGTN"
"""Characters the BPE tokenizer starts from (lower case is upper-cased first); anything else is `[UNK]`."""

BPE_TRAINING_CHUNK = 1000
"""Bases per training "word": sequences are cut into chunks this long (no merge crosses a chunk boundary)."""

CHAR_VOCAB = ("[CLS]", "[SEP]", "[BOS]", "[MASK]", "[PAD]", "[RESERVED]", "[UNK]", "A", "C", "G", "T", "N")
"""The character tokenizer's vocabulary in id order, HyenaDNA's layout: specials 0..6, then A C G T N 7..11."""

CHAR_MODEL_TYPE = "tiny_char_dna"
BPE_MODEL_TYPE = "bert"

GENOMES_DIR = Path(__file__).resolve().parent.parent / "data" / "genomes"
"""The repository's bundled genomes (present in a source checkout or an editable install, not in a wheel)."""


# ---- training DNA ----------------------------------------------------------------------------------------------


def bundled_dna(max_bases: int = 60_000, genomes_dir: str | Path | None = None) -> list[str]:
    """Upper-cased sequences from the bundled genomes (`data/genomes/*.fa.gz` of the repository), at most
    `max_bases` bases in all, shared evenly between the files (sorted by name) so that every genome is in.

    One string per FASTA record, each cut to its file's share. Raises `InputError` when the folder is missing (a
    non-editable install has no `data/`) or holds no FASTA files.
    """
    folder = Path(genomes_dir) if genomes_dir is not None else GENOMES_DIR
    if not folder.is_dir():
        raise InputError(
            f"{folder}: no bundled genomes folder; it exists in a source checkout or an editable install "
            "(pip install -e .) of nucleotide_transformer_hf; pass sequences of your own instead."
        )
    files = sorted(p for p in folder.iterdir() if p.is_file() and is_fasta_name(p))
    if not files:
        raise InputError(f"{folder}: no FASTA files ({', '.join(FASTA_SUFFIXES)}, each optionally .gz) in this folder.")
    if max_bases <= 0:
        raise ValueError(f"max_bases must be positive, got {max_bases}.")
    share = max_bases // len(files)
    sequences = []
    for path in files:
        left = share
        for record in read_fasta(path):
            if left <= 0:
                break
            piece = record.sequence[:left].upper()
            sequences.append(piece)
            left -= len(piece)
    return sequences


def sequences_from(path: str | Path, max_bases: int | None = None) -> list[str]:
    """Upper-cased sequences of a FASTA file, or of the FASTA files of a folder (sorted), at most `max_bases`."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and is_fasta_name(p))
        if not files:
            raise InputError(f"{path}: no FASTA files in this folder.")
    elif path.is_file():
        files = [path]
    else:
        raise InputError(f"{path}: no such FASTA file or folder.")
    sequences, total = [], 0
    for file in files:
        for record in read_fasta(file):
            piece = record.sequence.upper()
            if max_bases is not None:
                piece = piece[: max_bases - total]
            if piece:
                sequences.append(piece)
                total += len(piece)
            if max_bases is not None and total >= max_bases:
                return sequences
    return sequences


def _training_words(sequences: Iterable[str]) -> list[str]:
    """Chunks of at most `BPE_TRAINING_CHUNK` bases of the A/C/G/T/N runs of the sequences, in order."""
    words = []
    for sequence in sequences:
        for run in re.split(f"[^{BPE_ALPHABET}]+", sequence.upper()):
            words.extend(run[i : i + BPE_TRAINING_CHUNK] for i in range(0, len(run), BPE_TRAINING_CHUNK))
    return words


def _upper_case_normalizer():
    from tokenizers import normalizers

    # tokenizers has `Lowercase` but no upper-casing normalizer; one `Replace` per base keeps the offsets exact.
    return normalizers.Sequence([normalizers.Replace(base.lower(), base) for base in BPE_ALPHABET])


@contextlib.contextmanager
def _seeded(seed: int):
    """`torch.manual_seed(seed)` inside; the caller's global RNG state is restored afterwards."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


# ---- the BPE (DNABERT-2-like) model ---------------------------------------------------------------------------


def build_bpe_tokenizer(sequences: Iterable[str], *, vocab_size: int = 256, model_max_length: int = 128):
    """A `PreTrainedTokenizerFast` with a BPE model trained on `sequences` (DNABERT-2's scheme: BPE over A/C/G/T
    (and N), whitespace pre-tokenizer, specials `[PAD] [UNK] [CLS] [SEP] [MASK]` = ids 0..4, `[CLS] X [SEP]`)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    words = _training_words(sequences)
    if not words:
        raise InputError("no DNA (A/C/G/T/N) to train the BPE tokenizer on.")
    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.normalizer = _upper_case_normalizer()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(BPE_SPECIAL_TOKENS),
        initial_alphabet=list(BPE_ALPHABET),
        limit_alphabet=len(BPE_ALPHABET),
        show_progress=False,
    )
    tokenizer.train_from_iterator(words, trainer=trainer, length=len(words))
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=model_max_length,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )


def build_tiny_bpe_model(
    out_dir: str | Path,
    sequences: Iterable[str] | None = None,
    *,
    vocab_size: int = 256,
    hidden_size: int = 32,
    num_layers: int = 2,
    heads: int = 2,
    max_position_embeddings: int = 128,
    seed: int = 0,
) -> Path:
    """Saves a tiny random DNABERT-2-like model to `out_dir` and returns the folder.

    The tokenizer is `build_bpe_tokenizer(sequences)` (default: `bundled_dna()`), `model_max_length`
    `max_position_embeddings`; the model a `BertForMaskedLM` with random weights from `torch.manual_seed(seed)`,
    its encoder with a pooler (so `AutoModel` and `AutoModelForSequenceClassification` find every encoder weight).
    Loads with `AutoTokenizer`, `AutoModel`, `AutoModelForMaskedLM`, `AutoModelForSequenceClassification`, without
    remote code; model_type `"bert"`, so peft's IA3/LoRA defaults apply.
    """
    from transformers import BertConfig, BertForMaskedLM, BertModel

    out_dir = Path(out_dir)
    sequences = bundled_dna() if sequences is None else sequences
    tokenizer = build_bpe_tokenizer(sequences, vocab_size=vocab_size, model_max_length=max_position_embeddings)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=heads,
        intermediate_size=4 * hidden_size,
        max_position_embeddings=max_position_embeddings,
        type_vocab_size=2,
        pad_token_id=tokenizer.pad_token_id,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    with _seeded(seed):
        model = BertForMaskedLM(config)
        model.bert = BertModel(config, add_pooling_layer=True)  # BertForMaskedLM drops the pooler; keep one
        model.tie_weights()
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


# ---- the character-level (HyenaDNA/Caduceus-like) model ---------------------------------------------------------

CHAR_CONFIG_FILE = "configuration_tinychar.py"
CHAR_MODELING_FILE = "modeling_tinychar.py"

CHAR_AUTO_MAP = {
    "AutoConfig": "configuration_tinychar.TinyCharConfig",
    "AutoModel": "modeling_tinychar.TinyCharModel",
    "AutoModelForMaskedLM": "modeling_tinychar.TinyCharForMaskedLM",
    "AutoModelForSequenceClassification": "modeling_tinychar.TinyCharForSequenceClassification",
}

_CHAR_CONFIG_SOURCE = '''"""Configuration of a tiny random character-level DNA model (a HyenaDNA/Caduceus stand-in for tests)."""

from transformers import PretrainedConfig


class TinyCharConfig(PretrainedConfig):
    model_type = "tiny_char_dna"
    attribute_map = {"num_hidden_layers": "n_layer"}

    def __init__(
        self,
        vocab_size=12,
        d_model=32,
        n_layer=2,
        d_inner=None,
        kernel_size=5,
        max_seq_len=1024,
        causal=True,
        use_attention_mask=False,
        layer_norm_epsilon=1e-5,
        initializer_range=0.02,
        pad_token_id=4,
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.n_layer = n_layer
        self.d_inner = d_inner if d_inner is not None else 4 * d_model
        self.kernel_size = kernel_size
        self.max_seq_len = max_seq_len
        self.causal = causal
        self.use_attention_mask = use_attention_mask
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range
        super().__init__(pad_token_id=pad_token_id, **kwargs)
'''

# Lines ending in `# tiny:mask` are kept only with an attention mask, lines ending in `# tiny:nomask` only without.
_CHAR_MODELING_TEMPLATE = '''"""A tiny random character-level DNA model (a HyenaDNA/Caduceus stand-in for tests): embedding, blocks of a
depthwise convolution over positions (causal or centred) and an MLP, a final norm; heads for masked-LM and
sequence classification (mean pooling). Imports only torch and transformers."""

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput, MaskedLMOutput, SequenceClassifierOutput

from .configuration_tinychar import TinyCharConfig


class TinyCharBlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.causal = config.causal
        self.kernel_size = config.kernel_size
        self.norm1 = nn.LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.mixer = nn.Conv1d(config.d_model, config.d_model, config.kernel_size, groups=config.d_model)
        self.norm2 = nn.LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.fc1 = nn.Linear(config.d_model, config.d_inner)
        self.fc2 = nn.Linear(config.d_inner, config.d_model)

    def forward(self, hidden, mask=None):
        mixed = self.norm1(hidden)
        if mask is not None:
            mixed = mixed * mask[..., None]
        left = self.kernel_size - 1 if self.causal else (self.kernel_size - 1) // 2
        mixed = F.pad(mixed.transpose(1, 2), (left, self.kernel_size - 1 - left))
        hidden = hidden + self.mixer(mixed).transpose(1, 2)
        return hidden + self.fc2(F.gelu(self.fc1(self.norm2(hidden))))


class TinyCharPreTrainedModel(PreTrainedModel):
    config_class = TinyCharConfig
    base_model_prefix = "backbone"
    main_input_name = "input_ids"
    _no_split_modules = ["TinyCharBlock"]


class TinyCharModel(TinyCharPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.embeddings = nn.Embedding(config.vocab_size, config.d_model)
        self.layers = nn.ModuleList(TinyCharBlock(config) for _ in range(config.n_layer))
        self.norm_f = nn.LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings

    def set_input_embeddings(self, value):
        self.embeddings = value

    def forward(
        self,
        input_ids,
        attention_mask=None,  # tiny:mask
        output_hidden_states=None,
        return_dict=None,
    ):
        attention_mask = None  # tiny:nomask
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        mask = None if attention_mask is None else attention_mask.to(self.embeddings.weight.dtype)
        hidden = self.embeddings(input_ids)
        all_hidden = [hidden] if output_hidden_states else None
        for layer in self.layers:
            hidden = layer(hidden, mask)
            if output_hidden_states:
                all_hidden.append(hidden)
        hidden = self.norm_f(hidden)
        if output_hidden_states:
            all_hidden[-1] = hidden
        all_hidden = tuple(all_hidden) if output_hidden_states else None
        if not return_dict:
            return tuple(v for v in (hidden, all_hidden) if v is not None)
        return BaseModelOutput(last_hidden_state=hidden, hidden_states=all_hidden)


class TinyCharForMaskedLM(TinyCharPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.backbone = TinyCharModel(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size)
        self.post_init()

    def forward(
        self,
        input_ids,
        attention_mask=None,  # tiny:mask
        output_hidden_states=None,
        return_dict=None,
        labels=None,
    ):
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        outputs = self.backbone(
            input_ids,
            attention_mask=attention_mask,  # tiny:mask
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.lm_head(outputs.last_hidden_state)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1).to(logits.device))
        if not return_dict:
            output = tuple(v for v in (logits, outputs.hidden_states) if v is not None)
            return ((loss,) + output) if loss is not None else output
        return MaskedLMOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states)


class TinyCharForSequenceClassification(TinyCharPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.backbone = TinyCharModel(config)
        self.score = nn.Linear(config.d_model, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids,
        attention_mask=None,  # tiny:mask
        output_hidden_states=None,
        return_dict=None,
        labels=None,
    ):
        attention_mask = None  # tiny:nomask
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        outputs = self.backbone(
            input_ids,
            attention_mask=attention_mask,  # tiny:mask
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        hidden = outputs.last_hidden_state
        if attention_mask is None:
            pooled = hidden.mean(dim=1)
        else:
            weights = attention_mask.to(hidden.dtype)[..., None]
            pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        logits = self.score(pooled)
        loss = None
        if labels is not None:
            labels = labels.to(logits.device)
            problem_type = self.config.problem_type
            if problem_type is None:
                if self.num_labels == 1:
                    problem_type = "regression"
                elif labels.dtype in (torch.long, torch.int):
                    problem_type = "single_label_classification"
                else:
                    problem_type = "multi_label_classification"
            if problem_type == "regression":
                loss = F.mse_loss(logits.squeeze(-1), labels.squeeze(-1).to(logits.dtype))
            elif problem_type == "single_label_classification":
                loss = F.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))
            else:
                loss = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
        if not return_dict:
            output = tuple(v for v in (logits, outputs.hidden_states) if v is not None)
            return ((loss,) + output) if loss is not None else output
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states)
'''


def char_modeling_source(attention_mask: bool = False) -> str:
    """The text of `modeling_tinychar.py`: its `forward`s take `attention_mask` only when `attention_mask`."""
    keep, drop = ("# tiny:mask", "# tiny:nomask") if attention_mask else ("# tiny:nomask", "# tiny:mask")
    lines = []
    for line in _CHAR_MODELING_TEMPLATE.splitlines():
        if line.endswith(drop):
            continue
        lines.append(line.removesuffix(keep).rstrip())
    return "\n".join(lines) + "\n"


def build_char_tokenizer(*, model_max_length: int = 1024, attention_mask: bool = False):
    """A `PreTrainedTokenizerFast` with one token per base (WordLevel over `CHAR_VOCAB`, a pre-tokenizer that
    isolates every character, lower case upper-cased), `X [SEP]` as HyenaDNA's, padding on the left as HyenaDNA's.
    Without `attention_mask` it returns `input_ids` only (the model takes nothing else)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate(CHAR_VOCAB)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = _upper_case_normalizer()
    tokenizer.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A [SEP]", pair="$A [SEP] $B:1 [SEP]:1", special_tokens=[("[SEP]", vocab["[SEP]"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        bos_token="[BOS]",
        model_max_length=model_max_length,
        padding_side="left",
        model_input_names=["input_ids", "attention_mask"] if attention_mask else ["input_ids"],
    )


def _import_char_code(folder: Path):
    """Imports the folder's remote code as a throw-away package; returns (config module, modeling module, name)."""
    name = f"_tinychar_build_{uuid.uuid4().hex}"
    package = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader=None, is_package=True))
    package.__path__ = [str(folder)]
    sys.modules[name] = package
    configuration = importlib.import_module(f"{name}.configuration_tinychar")
    modeling = importlib.import_module(f"{name}.modeling_tinychar")
    return configuration, modeling, name


def build_tiny_char_model(
    out_dir: str | Path,
    *,
    hidden_size: int = 32,
    num_layers: int = 2,
    max_length: int = 1024,
    seed: int = 0,
    attention_mask: bool = False,
    causal: bool = True,
) -> Path:
    """Saves a tiny random character-level DNA model with its remote code to `out_dir` and returns the folder.

    The folder holds `configuration_tinychar.py`, `modeling_tinychar.py`, `config.json` (model_type
    `"tiny_char_dna"`, HyenaDNA-style names `d_model`/`n_layer`/`max_seq_len`, `auto_map` for `AutoConfig`,
    `AutoModel`, `AutoModelForMaskedLM`, `AutoModelForSequenceClassification`), `model.safetensors` (a
    `TinyCharForMaskedLM`, random weights from `torch.manual_seed(seed)`) and the tokenizer files
    (`build_char_tokenizer`). Loading needs `trust_remote_code=True`. Without `attention_mask`, every `forward` is
    `forward(input_ids, output_hidden_states=None, return_dict=None[, labels=None])`, as HyenaDNA's.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / CHAR_CONFIG_FILE).write_text(_CHAR_CONFIG_SOURCE)
    (out_dir / CHAR_MODELING_FILE).write_text(char_modeling_source(attention_mask))
    configuration, modeling, package = _import_char_code(out_dir)
    try:
        tokenizer = build_char_tokenizer(model_max_length=max_length, attention_mask=attention_mask)
        config = configuration.TinyCharConfig(
            vocab_size=len(CHAR_VOCAB),
            d_model=hidden_size,
            n_layer=num_layers,
            max_seq_len=max_length,
            causal=causal,
            use_attention_mask=attention_mask,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.sep_token_id,
        )
        config.auto_map = dict(CHAR_AUTO_MAP)
        with _seeded(seed):
            model = modeling.TinyCharForMaskedLM(config)
        model.eval()
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
    finally:
        for module_name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[module_name]
    return out_dir


__all__ = [
    "BPE_SPECIAL_TOKENS",
    "CHAR_AUTO_MAP",
    "CHAR_MODEL_TYPE",
    "CHAR_VOCAB",
    "build_bpe_tokenizer",
    "build_char_tokenizer",
    "build_tiny_bpe_model",
    "build_tiny_char_model",
    "bundled_dna",
    "char_modeling_source",
    "sequences_from",
]
