#!/usr/bin/env bash
# Issue 7, acceptance 1: the demo teacher (Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF)
# evaluated greedily on all 164 HumanEval problems twice, in-process and behind
# llama-cpp-python's OpenAI-compatible server, then the two compared with
# `distill eval --compare` (pass@1 difference and a paired bootstrap 95% interval).
# Both evals are resumable directories: re-running the script continues where it stopped.
# Not run in CI (it builds llama-cpp-python from source and takes about two hours on
# 2 cores).
#
#   bash scripts/eval-server-parity.sh [WORK_DIR]
#
# WORK_DIR (default: ./eval-parity) holds the venv, the server log and both eval runs.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(realpath -m "${1:-eval-parity}")
mkdir -p "$work"
port=${PORT:-8765}
threads=${THREADS:-$(nproc)}
lcpp_version=0.3.36

cargo build --release --locked
distill=./target/release/distill
$distill setup
cache=${DISTILL_CACHE:-$HOME/.cache/distill}
gguf="$cache/files/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
test -f "$gguf" || { echo "error: $gguf missing after setup" >&2; exit 1; }

# llama-cpp-python (sdist: compiles llama.cpp; about 20 minutes on 2 cores)
if ! "$work/venv/bin/python" -c "import llama_cpp.server" 2>/dev/null; then
  python3 -m venv "$work/venv"
  "$work/venv/bin/pip" install -q --upgrade pip cmake ninja
  PATH="$work/venv/bin:$PATH" CMAKE_ARGS=-DGGML_NATIVE=OFF "$work/venv/bin/pip" install -q \
    "llama-cpp-python[server]==$lcpp_version"
fi

# 1. in-process
$distill eval --model "$gguf" --bench humaneval --out "$work/in-process"

# 2. the same file behind the server (chat template taken from the GGUF's metadata)
OMP_WAIT_POLICY=PASSIVE "$work/venv/bin/python" -m llama_cpp.server --model "$gguf" --model_alias qwen \
  --host 127.0.0.1 --port "$port" --n_ctx 4096 --n_threads "$threads" \
  >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 120); do
  curl -sf "http://127.0.0.1:$port/v1/models" >/dev/null && break
  kill -0 $server 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 1
done
# the server runs one request at a time: two in flight keep it busy without timeouts.
# llama-cpp-python applies a repeat penalty of 1.1 by default, even to greedy requests;
# 1.0 makes the server's decoding plain greedy, like the in-process path.
$distill eval --model "http://127.0.0.1:$port/v1" --served-model qwen --bench humaneval \
  --extra-body '{"repeat_penalty": 1.0}' --concurrency 2 --out "$work/server"

# 3. B − A
$distill eval --compare "$work/in-process" "$work/server"
