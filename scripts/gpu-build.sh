#!/usr/bin/env bash
# Builds the `cuda` feature and stages what `scripts/gpu-check.sh` runs in gpu-bin/
# (git-ignored): `distill` and the `sft` integration-test binary `sft-tests`, stripped
# and xz-compressed (about 27 MB together), and `libcudart.so.13` (candle's kernels
# link it). For a GPU machine that has no Rust
# toolchain or no network: build here, copy the repo with gpu-bin/ there, and run
# `GPU_BIN=gpu-bin bash scripts/gpu-check.sh`.
#
# Needs nvcc. Without one on the PATH, CUDA 13.0's compiler, headers and runtime are
# taken from NVIDIA's PyPI wheels (pinned below, about 100 MB, cached under
# ~/.cache/distill/cuda-13.0). No GPU or driver is needed to build: cudarc loads the
# driver and CUDA libraries when the program starts (vendor/README.md, candle patch 4).
# CUDA_COMPUTE_CAP (default 90, Hopper) picks the architecture of the kernels.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nvcc >/dev/null; then
  root=${XDG_CACHE_HOME:-$HOME/.cache}/distill/cuda-13.0
  if [ ! -x "$root/nvidia/cu13/bin/nvcc" ]; then
    mkdir -p "$root/wheels"
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_12_x86_64 \
      -d "$root/wheels" nvidia-cuda-nvcc==13.0.88 nvidia-cuda-runtime==13.0.96 \
      nvidia-cuda-cccl==13.0.85 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88
    for w in "$root"/wheels/*.whl; do (cd "$root" && python3 -m zipfile -e "$w" .); done
    chmod +x "$root"/nvidia/cu13/bin/* "$root"/nvidia/cu13/nvvm/bin/*
    ln -sfn lib "$root/nvidia/cu13/lib64"
    ln -sf libcudart.so.13 "$root/nvidia/cu13/lib/libcudart.so"
  fi
  export CUDA_HOME=$root/nvidia/cu13 PATH=$root/nvidia/cu13/bin:$PATH
fi
cuda_home=${CUDA_HOME:-$(dirname "$(dirname "$(command -v nvcc)")")}
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
export LIBRARY_PATH=$cuda_home/lib:$cuda_home/lib64${LIBRARY_PATH:+:$LIBRARY_PATH}
nvcc --version | tail -n 2
cargo build --release --locked --features cuda
tests=$(cargo test --release --locked --features cuda -p distill-sft --test sft --no-run \
  --message-format=json | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "sft" and m.get("executable"):
        print(m["executable"])')
rm -rf gpu-bin && mkdir gpu-bin
strip -o gpu-bin/distill target/release/distill
strip -o gpu-bin/sft-tests "$tests"
xz -6 -T0 gpu-bin/distill gpu-bin/sft-tests
cp -L "$(find "$cuda_home"/ -name 'libcudart.so.13' -print -quit)" gpu-bin/
du -sh gpu-bin/*
