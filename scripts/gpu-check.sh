#!/usr/bin/env bash
# GPU check for a machine with an NVIDIA GPU and the CUDA toolkit (nvcc): builds the
# `cuda` feature, then times LoRA and full training steps of SmolLM2-135M (batch 4 x 256
# tokens, 50 steps each) and prints tokens/s and MFU. Not run in CI (no GPU there).
#
#   bash scripts/gpu-check.sh [PEAK_TFLOPS]
#
# PEAK_TFLOPS is the GPU's dense peak for the dtype the step runs in (default 67, an
# H100/H200's FP32 non-tensor-core peak; the model trains in f32 today).
set -euo pipefail
cd "$(dirname "$0")/.."
peak=${1:-67}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
cargo build --release --locked --features cuda
./target/release/distill setup
for mode in lora full; do
  json=$(./target/release/distill bench train --worker --modes "$mode" --steps 50 --batch 4 --seq 256 | tail -n 1)
  python3 - "$mode" "$peak" "$json" <<'PY'
import json, sys
mode, peak, r = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3])
c = r["model_config"]
h, layers, inter, vocab = c["hidden_size"], c["num_hidden_layers"], c["intermediate_size"], c["vocab_size"]
heads, kv = c["num_attention_heads"], c.get("num_key_value_heads", c["num_attention_heads"])
hd = h // heads
# matmul parameters touched per token (projections + LM head)
per_layer = h * heads * hd + 2 * h * kv * hd + heads * hd * h + 3 * h * inter
n = layers * per_layer + vocab * h
seq = 256
attn = layers * 2 * 2 * seq * heads * hd  # q.k and p.v per token, forward
# forward 2N; backward: input grads 2N (+ weight grads 2N when full)
flops_per_token = (2 * n + attn) * (3 if mode == "full" else 2)
tps = r["tokens_per_s"]
print(f"{mode}: {tps:,.0f} tokens/s, {flops_per_token * tps / 1e12:.2f} TFLOP/s, "
      f"MFU {100 * flops_per_token * tps / (peak * 1e12):.1f}% of {peak} TFLOP/s, "
      f"peak host RSS {r['peak_rss_bytes'] / 2**30:.2f} GiB")
PY
done
