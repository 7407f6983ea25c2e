#!/usr/bin/env bash
# The model comparison (issue #17): the main job's model, the shipped checkpoint, a tiny random BPE model
# (DNABERT-2's scheme) and a tiny random character-level model with its own code (HyenaDNA's scheme) through one
# protocol on tasks of the NT revised benchmark sample and GUE, on the CPU with capped sizes. Resumes: rerun the same
# command after an interruption (evaluate-tasks skips the runs in RUNS/results/runs.jsonl).
#
#   bash scripts/main.sh    # once: trains the main job's model into outputs/quickstart/model
#   bash benchmarks/results/model-comparison-2026-12-02/run.sh DIR [RUNS]
#
# DIR holds genomes/ (FASTA; the BPE tokenizer is trained on them), nt_downstream_revised_sample/ (the NT layout
# sequence,name,label,task) and gue/ (GUE task folders); RUNS (default runs/model-comparison) gets the tiny models and
# the results. One CPU thread.
set -euo pipefail
DATA=${1:?usage: run.sh DIR [RUNS]}
RUNS=${2:-runs/model-comparison}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} TOKENIZERS_PARALLELISM=false
MAIN_MODEL=outputs/quickstart/model
[ -f "$MAIN_MODEL/config.json" ] || { echo "run scripts/main.sh first (no $MAIN_MODEL)" >&2; exit 2; }
mkdir -p "$RUNS"
[ -f "$RUNS/tiny-bpe/config.json" ] && [ -f "$RUNS/tiny-char/config.json" ] || \
  python benchmarks/build_tiny_models.py --bpe "$RUNS/tiny-bpe" --char "$RUNS/tiny-char" \
    --sequences-from "$DATA/genomes" --max-bases 200000
TASKS=(nt_downstream_revised_sample/promoter_all nt_downstream_revised_sample/enhancers
       nt_downstream_revised_sample/splice_sites_donors nt_downstream_revised_sample/splice_sites_all
       nt_downstream_revised_sample/H3K4me1 nt_downstream_revised_sample/H3K27ac
       prom_prom_300_all EMP_H3)
nucleotide-transformer evaluate-tasks \
  --model "$MAIN_MODEL" --model data/models/nt-v2-small-six-genomes \
  --model "$RUNS/tiny-bpe" --model "$RUNS/tiny-char" --trust-remote-code \
  "$DATA/nt_downstream_revised_sample" "$DATA/gue" --tasks "${TASKS[@]}" \
  --methods ia3,lora,full,probing,kmer --seeds 0 1 --max-steps 150 --eval-steps 50 --batch-size 16 \
  --max-train 400 --max-test 200 --probes logistic --out "$RUNS/results"
