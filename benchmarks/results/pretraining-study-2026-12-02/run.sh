#!/usr/bin/env bash
# The pretraining study (issue #18): two NT-v2 sizes pretrained on a genomes/ folder (six species), checkpoints
# evaluated on promoter, splice and histone tasks. Every stage resumes: rerun the same command after an interruption.
#
#   bash benchmarks/results/pretraining-study-2026-12-02/run.sh DIR [RUNS]
#
# DIR holds genomes/ (FASTA per species) and gue/ (GUE task folders); RUNS (default runs/pretraining-study) gets the
# models, checkpoints and evaluation folders. One CPU thread (OMP_NUM_THREADS=1) per stage.
set -euo pipefail
DATA=${1:?usage: run.sh DIR [RUNS]}
RUNS=${2:-runs/pretraining-study}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} TOKENIZERS_PARALLELISM=false
mkdir -p "$RUNS"
declare -A SHAPE=(
  [small]="hidden_size=128 num_hidden_layers=4 num_attention_heads=4 intermediate_size=256"
  [medium]="hidden_size=256 num_hidden_layers=4 num_attention_heads=8 intermediate_size=512"
)
declare -A STEPS=([small]=8000 [medium]=4000)
declare -A EVAL_AT=([small]="0 1000 2000 4000 8000" [medium]="0 1000 2000 4000")
TASKS=(gue/prom_prom_core_all gue/prom_prom_300_all gue/splice_reconstructed gue/EMP_H3)
EVAL=(--tasks "${TASKS[@]}" --seeds 0 1 --max-steps 100 --eval-steps 50 --max-train 800 --max-test 400
      --probes logistic --quiet)

pretrain() {  # size
  local size=$1
  [ -f "$RUNS/$size/metrics.json" ] && return 0
  # shellcheck disable=SC2086
  python examples/pretrain.py --config v2 --override ${SHAPE[$size]} --data "$DATA/genomes" \
    --held-out-records XVI 'PA#NC_002083.1X' --window-bp 600 --stride-bp 301 --output-dir "$RUNS/$size" \
    --max-steps "${STEPS[$size]}" --per-device-batch-size 16 --tokens-per-step 0 --learning-rate 1e-3 \
    --warmup-steps 500 --warmup-start-lr 1e-5 --logging-steps 100 --eval-steps 500 --save-steps 1000 \
    --save-total-limit 0 --max-eval-windows 500 --bf16 no --report-to
}

initial() {  # size: the run's step-0 weights (same seed, same config code as examples/pretrain.py) as checkpoint-0
  local size=$1 out="$RUNS/$1/checkpoint-0"
  [ -f "$out/model.safetensors" ] && return 0
  # shellcheck disable=SC2086
  python - "$out" ${SHAPE[$size]} <<'PY'
import sys
from transformers import set_seed
from nucleotide_transformer_hf import NucleotideTransformerForMaskedLM
from nucleotide_transformer_hf.pretraining import load_model_config, load_tokenizer, parse_overrides
set_seed(0)
config = load_model_config("v2", parse_overrides(sys.argv[2:]))
NucleotideTransformerForMaskedLM(config).save_pretrained(sys.argv[1])
load_tokenizer(config).save_pretrained(sys.argv[1])
PY
}

evaluate() {  # size step methods name
  local size=$1 step=$2 methods=$3 out="$RUNS/eval/$1-$4"
  [ -f "$out/results.csv" ] && return 0
  local model="$RUNS/$size/checkpoint-$step"
  python -m nucleotide_transformer_hf evaluate-tasks "$model" "$DATA" --out "$out" --methods "$methods" "${EVAL[@]}"
}

for size in small medium; do  # one size after the other: pretrain, then evaluate its checkpoints
  pretrain "$size"
  initial "$size"
  evaluate "$size" 0 random,kmer baselines  # checkpoint-independent (random init uses only the architecture)
  for step in ${EVAL_AT[$size]}; do
    evaluate "$size" "$step" ia3,probing "step$step"
  done
done
echo "study done: $RUNS"
