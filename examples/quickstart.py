"""End to end on bundled real DNA: build a small NT-v2 model, pretrain it briefly (masked LM with `Trainer`),
then fill a masked 6-mer with `pipeline("fill-mask")` and embed sequences.

    python examples/quickstart.py [--data ../shared/data] [--max-steps 300] [--out outputs/quickstart]

Held-out data are the last 10% of every FASTA record. What it prints: the held-out masked-LM loss before and after
training (it must fall), fill-mask candidates for a masked held-out 6-mer, and the cosine similarity of mean-pooled
embeddings within and between species.
"""

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset
from transformers import (
    AutoModelForMaskedLM,
    AutoTokenizer,
    DataCollatorForLanguageModeling,
    Trainer,
    TrainingArguments,
    pipeline,
)

from nucleotide_transformer_hf import (
    NucleotideTransformerConfig,
    NucleotideTransformerForMaskedLM,
    NucleotideTransformerTokenizerFast,
)
from nucleotide_transformer_hf.data import read_fasta, sequence_windows
from nucleotide_transformer_hf.modeling_nucleotide_transformer import pool_hidden_states

REPO = Path(__file__).resolve().parent.parent


def load_windows(folder: Path, window_bp: int, held_out_fraction: float = 0.1):
    """Train/held-out windows per FASTA record: the record's last `held_out_fraction` is held out."""
    train, held_out = [], []
    for path in sorted(folder.glob("*.fa*")):
        for record in read_fasta(path):
            cut = int(len(record.sequence) * (1 - held_out_fraction))
            species = path.name.split("_")[0]
            train += [(species, w) for _, w in sequence_windows(record.sequence[:cut], window_bp, window_bp // 2)]
            held_out += [(species, w) for _, w in sequence_windows(record.sequence[cut:], window_bp)]
    return train, held_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO / "data", help="folder with a genomes/ subfolder of FASTA")
    parser.add_argument("--out", type=Path, default=REPO / "outputs" / "quickstart")
    parser.add_argument("--window-bp", type=int, default=600)
    parser.add_argument("--max-steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)

    train, held_out = load_windows(args.data / "genomes", args.window_bp)
    print(f"data: {len(train)} training and {len(held_out)} held-out windows of {args.window_bp} bp")

    tokenizer = NucleotideTransformerTokenizerFast(vocab_layout="v2")
    config = NucleotideTransformerConfig.from_preset(
        "v2", hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=256
    )
    model = NucleotideTransformerForMaskedLM(config)
    print(f"model: NT-v2 architecture, {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters")

    def tokenize(batch):
        return tokenizer(batch["sequence"], return_special_tokens_mask=True)

    datasets = {
        split: Dataset.from_dict({"sequence": [w for _, w in windows]}).map(
            tokenize, batched=True, remove_columns=["sequence"]
        )
        for split, windows in (("train", train), ("held_out", held_out))
    }
    # The paper's masking: 15% of the non-special tokens; of those 80% <mask>, 10% random, 10% unchanged.
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, seed=args.seed)
    training_args = TrainingArguments(
        output_dir=str(args.out / "trainer"),
        max_steps=args.max_steps,
        per_device_train_batch_size=16,
        per_device_eval_batch_size=32,
        learning_rate=1e-3,
        warmup_steps=max(1, args.max_steps // 10),
        lr_scheduler_type="inverse_sqrt",
        weight_decay=0.0,
        logging_steps=max(1, args.max_steps // 10),
        save_strategy="no",
        report_to=[],
        seed=args.seed,
        data_seed=args.seed,
        dataloader_num_workers=0,
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=datasets["train"],
        eval_dataset=datasets["held_out"],
        data_collator=collator,
    )
    before = trainer.evaluate()["eval_loss"]
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    after = trainer.evaluate()["eval_loss"]
    print(
        f"held-out masked-LM loss: {before:.3f} -> {after:.3f} (perplexity {math.exp(before):.0f} -> "
        f"{math.exp(after):.0f}; uniform over 4,096 6-mers would be {math.log(4096):.3f}) in {seconds:.0f} s"
    )

    model_dir = args.out / "model"
    trainer.save_model(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))
    reloaded = AutoModelForMaskedLM.from_pretrained(str(model_dir))
    reloaded_tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    print(f"saved to {model_dir}; reloaded as {type(reloaded).__name__} + {type(reloaded_tokenizer).__name__}")

    # Fill-mask on a held-out window: hide its 10th 6-mer.
    fill_mask = pipeline("fill-mask", model=reloaded, tokenizer=reloaded_tokenizer, top_k=5)
    species, window = held_out[0]
    hidden = window[54:60]
    masked = window[:54] + tokenizer.mask_token + window[60:120]
    print(f"fill-mask on held-out {species} DNA, true 6-mer {hidden}:")
    for candidate in fill_mask(masked):
        print(f"  {candidate['token_str']}  {candidate['score']:.4f}")

    # Mean-pooled embeddings of held-out windows; similarity within vs between species.
    reloaded.eval()
    labels = [s for s, _ in held_out[:96]]
    encoded = reloaded_tokenizer([w for _, w in held_out[:96]], return_tensors="pt", padding=True)
    with torch.inference_mode():
        hidden_states = reloaded.esm(**encoded).last_hidden_state
    embeddings = pool_hidden_states(hidden_states, encoded["attention_mask"], "mean").numpy()
    np.save(args.out / "held_out_embeddings.npy", embeddings)
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    similarity = unit @ unit.T
    same = np.array([[a == b for b in labels] for a in labels]) & ~np.eye(len(labels), dtype=bool)
    different = np.array([[a != b for b in labels] for a in labels])
    summary = {
        "held_out_loss_before": before,
        "held_out_loss_after": after,
        "train_seconds": seconds,
        "embedding_shape": list(embeddings.shape),
        "mean_cosine_same_species": float(similarity[same].mean()),
        "mean_cosine_different_species": float(similarity[different].mean()) if different.any() else None,
    }
    print(f"embeddings {embeddings.shape}: mean cosine within species {summary['mean_cosine_same_species']:.3f}, "
          f"between species {summary['mean_cosine_different_species']:.3f}")
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.out / 'summary.json'}")


if __name__ == "__main__":
    main()
