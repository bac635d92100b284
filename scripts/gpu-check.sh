#!/usr/bin/env bash
# GPU check, for a machine with an NVIDIA GPU (not run in CI: no GPU there).
#
#   bash scripts/gpu-check.sh                  # runs scripts/gpu-build.sh first
#   GPU_BIN=gpu-bin bash scripts/gpu-check.sh  # runs what scripts/gpu-build.sh staged
#
# 1. The CUDA training path against the CPU one (`sft` tests `cuda::`: logits, loss and
#    gradients, full and LoRA, Llama and Qwen2; AdamW; two steps of the training loop).
# 2. `distill bench train` next to PyTorch eager on the same GPU, f32, LoRA and full
#    fine-tuning, for SmolLM2-135M and a Llama-3.2-1B-shaped model (random weights,
#    written by transformers: no download), with tokens/s and MFU against
#    PEAK_TFLOPS (default 67: an H100/H200's dense f32 peak without tensor cores).
#
# Every step runs even when an earlier one fails; the exit status is the first failure.
# LOG_DIR (default: a temporary directory) keeps each step's full output.
set -uo pipefail
cd "$(dirname "$0")/.."
peak=${PEAK_TFLOPS:-67}
log=${LOG_DIR:-$(mktemp -d)}
mkdir -p "$log"
status=0
step() { # name, command...
  local name=$1
  shift
  echo "== $name"
  local t0=$SECONDS
  "$@" 2>&1 | tee "$log/$name.log"
  local rc=${PIPESTATUS[0]}
  echo "== $name: exit $rc, $((SECONDS - t0)) s"
  [ "$rc" = 0 ] || [ "$status" != 0 ] || status=$rc
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
if [ -z "${GPU_BIN:-}" ]; then
  bash scripts/gpu-build.sh || exit 1
  GPU_BIN=gpu-bin
fi
bin=$(mktemp -d)
for f in distill sft-tests; do # xz, or Python's lzma where xz is missing
  if command -v xz >/dev/null; then xz -dc "$GPU_BIN/$f.xz"; else
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$GPU_BIN/$f.xz"
  fi >"$bin/$f" && chmod +x "$bin/$f" || exit 1
done
cp "$GPU_BIN"/libcudart.so.* "$bin/"
distill=$bin/distill tests=$bin/sft-tests
export LD_LIBRARY_PATH=$bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# cudarc opens cuBLAS, cuRAND and NVRTC at run time: add the folders that hold them
# (the CUDA toolkit's, or the ones pip's nvidia-* packages install for PyTorch).
for lib in libcublas.so libcublasLt.so libcurand.so libnvrtc.so libcudart.so; do
  dir=$(find /usr/local/cuda*/lib64 /usr/local/cuda*/targets/*/lib /opt /usr/lib \
    -name "$lib*" -print -quit 2>/dev/null | xargs -r dirname)
  [ -n "$dir" ] && export LD_LIBRARY_PATH=$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
done
echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"

step parity "$tests" cuda:: --test-threads 1 --nocapture

models=$(mktemp -d)
step models python3 - "$models" <<'PY'
import json, sys, torch
from transformers import AutoConfig, AutoModelForCausalLM
out = sys.argv[1]
shapes = {
    # SmolLM2-135M, as read from its GGUF by `distill bench train`.
    "smollm2-135m": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
        num_attention_heads=9, num_key_value_heads=3, vocab_size=49152,
        rms_norm_eps=1e-5, rope_theta=100000.0, tie_word_embeddings=True,
        max_position_embeddings=8192),
    # Llama-3.2-1B's published shape.
    "llama-1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
        num_attention_heads=32, num_key_value_heads=8, vocab_size=128256,
        rms_norm_eps=1e-5, rope_theta=500000.0, tie_word_embeddings=True,
        max_position_embeddings=131072),
}
for name, shape in shapes.items():
    cfg = AutoConfig.for_model("llama", **shape)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(cfg)
    model.save_pretrained(f"{out}/{name}")
    print(name, sum(p.numel() for p in model.parameters()), "parameters")
PY

mfu() { # model dir, batch, seq, steps: the table of bench train with MFU of both sides
  local dir=$1 batch=$2 seq=$3 steps=$4
  "$distill" bench train --model "$dir" --modes lora,full --batch "$batch" --seq "$seq" \
    --steps "$steps" | tee /dev/stderr | python3 -c '
import json, sys
cfg = json.load(open(sys.argv[1] + "/config.json"))
peak, seq = float(sys.argv[2]), int(sys.argv[3])
h, layers, inter, vocab = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["intermediate_size"], cfg["vocab_size"]
heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
hd = h // heads
# matmul parameters touched per token (projections + LM head); attention scores
n = layers * (2 * h * heads * hd + 2 * h * kv * hd + 3 * h * inter) + vocab * h
attn = layers * 2 * 2 * seq * heads * hd
for line in sys.stdin:
    f = line.split()
    if len(f) >= 3 and f[0] in ("lora", "full"):
        # forward 2N; backward: input grads 2N (+ weight grads 2N when full)
        per_token = (2 * n + attn) * (3 if f[0] == "full" else 2)
        for side, tps in (("distill", f[1]), ("torch", f[2])):
            try:
                t = float(tps)
            except ValueError:
                continue
            print(f"{f[0]} {side}: {t:,.0f} tokens/s, {per_token * t / 1e12:.2f} TFLOP/s, "
                  f"MFU {100 * per_token * t / (peak * 1e12):.1f}% of {peak:g}")
' "$dir" "$peak" "$seq" >&2
  return "${PIPESTATUS[0]}"
}
step bench-135m mfu "$models/smollm2-135m" 4 256 20
step bench-135m-large-batch mfu "$models/smollm2-135m" 16 512 10
step bench-1b mfu "$models/llama-1b" 4 1024 10
rm -rf "$models"
echo "logs in $log; first failure: exit $status"
exit "$status"
