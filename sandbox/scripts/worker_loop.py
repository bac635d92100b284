#!/usr/bin/env python3
"""Per-job cost of one sandbox worker process, without the executor around it.

Feeds jobs to a single `distill sandbox worker` over its JSON-lines protocol and prints
the wall time of the whole run and the time inside the sandbox per job (instantiation
to end, as the worker reports it). Used for the per-job numbers in BENCHMARKS.md
("Sandbox vs native Python") and vendor/README.md.

    python3 sandbox/scripts/worker_loop.py --jobs humaneval --rounds 10
    python3 sandbox/scripts/worker_loop.py --jobs pass --count 1000
    python3 sandbox/scripts/worker_loop.py --jobs humaneval --only 75 --rounds 8

Needs `distill setup` to have run (it reads the runtime and HumanEval from
$DISTILL_CACHE, default ~/.cache/distill) and a release build of `distill`.
"""

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The compute-bound HumanEval programs (tens to hundreds of ms each); `humaneval`
# leaves them out unless `--only` asks for them, so the run measures per-job costs.
SLOW = {32, 36, 75, 147}

ASSERT_TEST = "def f(x):\n    return x * 2\nassert f(2) == 4\nassert f(3) == 6\n"


def humaneval_programs(cache: Path):
    with gzip.open(cache / "files" / "HumanEval.jsonl.gz", "rt") as f:
        for line in f:
            task = json.loads(line)
            number = int(task["task_id"].split("/")[1])
            code = (task["prompt"] + task["canonical_solution"] + "\n" + task["test"]
                    + f"\ncheck({task['entry_point']})\n")
            yield number, code


def runtime(cache: Path):
    """The runner component built by `distill setup` and its recorded sha256."""
    found = sorted((cache / "runtime").glob("*/runner.wasm"), key=lambda p: p.stat().st_mtime)
    if not found:
        sys.exit(f"no runtime under {cache / 'runtime'}: run `distill setup` first")
    wasm = found[-1]
    sha = Path(str(wasm) + ".sha256").read_text().split()[0]
    return wasm, sha


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", choices=["humaneval", "pass", "assert"], default="humaneval")
    parser.add_argument("--rounds", type=int, default=10, help="passes over HumanEval")
    parser.add_argument("--count", type=int, default=1000, help="jobs for pass/assert")
    parser.add_argument("--only", type=str, default="", help="HumanEval numbers, e.g. 75,147")
    parser.add_argument("--distill", default="target/release/distill")
    args = parser.parse_args()

    cache = Path(os.environ.get("DISTILL_CACHE", Path.home() / ".cache" / "distill"))
    if args.jobs == "humaneval":
        only = {int(n) for n in args.only.split(",") if n}
        programs = [code for number, code in humaneval_programs(cache)
                    if (number in only if only else number not in SLOW)]
        codes = programs * args.rounds
    else:
        codes = ["pass" if args.jobs == "pass" else ASSERT_TEST] * args.count

    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for code in codes:
            f.write(json.dumps({"code": code, "stdin": "", "argv": [], "timeout_ms": 10000,
                                "memory_bytes": 512 << 20, "output_bytes": 1 << 20}) + "\n")
        jobs_file = f.name
    wasm, sha = runtime(cache)
    command = [args.distill, "sandbox", "worker", "--runtime", str(wasm),
               "--runtime-sha256", sha, "--cache-dir", str(cache)]
    # The first run may compile the runtime for this engine; time the second.
    with open(jobs_file) as jobs:
        warm = subprocess.run(command, stdin=jobs, capture_output=True, text=True)
    if warm.returncode != 0:
        sys.exit(f"worker failed: {warm.stderr.strip()}")
    with open(jobs_file) as jobs:
        start = time.perf_counter()
        run = subprocess.run(command, stdin=jobs, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - start
    os.unlink(jobs_file)

    outcomes = [json.loads(line)["outcome"] for line in run.stdout.splitlines()
                if line.startswith('{"outcome"')]
    if len(outcomes) != len(codes):
        sys.exit(f"{len(codes)} jobs sent, {len(outcomes)} outcomes back")
    inside = sorted(o["duration_ns"] / 1e6 for o in outcomes)
    statuses = {}
    for o in outcomes:
        statuses[o["status"]] = statuses.get(o["status"], 0) + 1
    print(f"{len(codes)} jobs ({args.jobs}), one worker process: {wall:.2f} s wall "
          f"(including about 0.06 s start-up)")
    print(f"inside the sandbox per job: mean {sum(inside) / len(inside):.3f} ms, "
          f"median {inside[len(inside) // 2]:.3f} ms, max {inside[-1]:.1f} ms")
    print(f"outcomes: {statuses}")


if __name__ == "__main__":
    main()
