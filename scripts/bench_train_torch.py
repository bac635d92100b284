#!/usr/bin/env python3
"""PyTorch eager baseline for `distill bench train` (never run in CI).

Times the same training step as sft::bench: a Llama-family model built from the
config.json fields our loader read (random weights: the arithmetic is the same),
f32 on the CPU or the GPU (`--device`), `batch x seq` random tokens, every token trained, cross-entropy on
the shifted sequence, backward, global-norm clipping at 1.0, torch.optim.AdamW.
LoRA mode wraps the model with PEFT (rank r, alpha 2r, dropout 0.05, all seven
projections). One untimed warmup step, then `--steps` timed ones. Prints one JSON
line: tokens_per_s, step_seconds, peak_rss_bytes (ru_maxrss), trainable_params.

    python3 -m pip install torch transformers peft
    python3 scripts/bench_train_torch.py --config CONFIG.json --mode lora --threads 2
"""
import argparse
import json
import resource
import time

import torch
from transformers import AutoConfig, AutoModelForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, help="Hugging Face config.json")
    ap.add_argument("--mode", choices=["lora", "full"], required=True)
    ap.add_argument("--lora-rank", type=int, default=16)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    with open(args.config) as f:
        cfg_dict = json.load(f)
    cfg = AutoConfig.for_model(cfg_dict.pop("model_type", "llama"), **cfg_dict)
    cfg.torch_dtype = torch.float32
    model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.float32, attn_implementation="eager")
    if args.mode == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model,
            LoraConfig(
                r=args.lora_rank,
                lora_alpha=2 * args.lora_rank,
                lora_dropout=0.05,
                target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
            ),
        )
    model.to(args.device)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5, weight_decay=0.0)
    ids = torch.randint(0, cfg.vocab_size, (args.batch, args.seq)).to(args.device)
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)

    def step():
        logits = model(input_ids=ids).logits
        loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1)
        )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()
    sync()
    times = []
    for _ in range(args.steps):
        t = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t)
    tokens = args.batch * args.seq * len(times)
    print(
        json.dumps(
            {
                "tokens_per_s": tokens / sum(times),
                "step_seconds": times,
                "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "trainable_params": sum(p.numel() for p in params),
                "torch": torch.__version__,
                "device": args.device,
                "peak_device_bytes": torch.cuda.max_memory_allocated() if args.device == "cuda" else None,
            }
        )
    )


if __name__ == "__main__":
    main()
