#!/usr/bin/python3
"""Train the built-in demo triplet of Chat Vector Studio: a miniature of arXiv 2310.04799.

  base  a tiny Llama pretrained on English (nlp-corpus)
  chat  base fine-tuned on English chat data: the user's text, echoed back, closed by <|eot_id|>
  cp    base continued on Chinese only (Debian fortunes-zh)

then measures whether cp + α·(chat − base) follows the chat format in Chinese (evaluate.py).
Writes public/demo/{base,chat,cp}/ (the studio's built-in demo) and training/results.json, RESULTS.md, effect.png.
See training/README.md for the command, timings and how reproducible the bytes are.
"""
from pathlib import Path
import argparse
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time

# One BLAS / OpenMP thread: the sums then run in a fixed order, which makes runs repeat bit for bit.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bpe  # noqa: E402
import checkpoint  # noqa: E402
import data  # noqa: E402
from llama import LlamaConfig, LlamaForCausalLM  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

FULL = {
    "bpe_english_sentences": 30000, "bpe_chinese_weight": 2, "vocab_size": 4000,
    "model": {"hidden_size": 128, "intermediate_size": 384, "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2},
    "seq_len": 128,
    "base": {"steps": 800, "batch": 16, "lr": 2e-3, "warmup": 50},
    "chat": {"steps": 600, "batch": 32, "replay": 8, "lr": 3e-3, "warmup": 20},
    "cp": {"steps": 500, "batch": 16, "lr": 1e-3, "warmup": 30},
    "eval_prompts": 100,
}
QUICK = {
    "bpe_english_sentences": 3000, "bpe_chinese_weight": 2, "vocab_size": 1200,
    "model": {"hidden_size": 64, "intermediate_size": 192, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2},
    "seq_len": 96,
    "base": {"steps": 120, "batch": 16, "lr": 3e-3, "warmup": 10},
    "chat": {"steps": 60, "batch": 32, "replay": 4, "lr": 3e-3, "warmup": 5},
    "cp": {"steps": 80, "batch": 16, "lr": 2e-3, "warmup": 5},
    "eval_prompts": 20,
}
WEIGHT_DECAY = 0.1


# ---------------------------------------------------------------------------------------------
# Training loop


def lr_at(step: int, hp: dict) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak."""
    if step < hp["warmup"]:
        return hp["lr"] * (step + 1) / hp["warmup"]
    p = (step - hp["warmup"]) / max(1, hp["steps"] - hp["warmup"])
    return hp["lr"] * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))


VOCAB_TENSORS = ("model.embed_tokens.weight", "lm_head.weight")


def optimizer_for(model: LlamaForCausalLM, lr: float) -> torch.optim.AdamW:
    """AdamW; weight decay on the layers' matrices only, not on norms or vocabulary rows."""
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and n not in VOCAB_TENSORS]
    rest = [p for n, p in model.named_parameters() if not (p.dim() == 2 and n not in VOCAB_TENSORS)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": rest, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95), eps=1e-8)


def freeze_vocab_rows(model: LlamaForCausalLM, trained_ids: set[int]) -> None:
    """Zero the gradient of every embedding and lm_head row except `trained_ids`, so those rows stay exactly as they were.

    Why: the softmax gives every token a tiny gradient, and Adam scales tiny gradients up to full steps, so at
    this demo's learning rates (100× a real chat tune's) the English chat stage would shove all Chinese lm_head
    rows down, and cp + τ could no longer write Chinese. A real chat tune barely moves the rows of tokens it never sees.
    """
    mask = torch.zeros(model.cfg.vocab_size, 1)
    mask[sorted(trained_ids)] = 1.0
    for name, p in model.named_parameters():
        if name in VOCAB_TENSORS:
            p.register_hook(lambda g: g * mask)


def train(model: LlamaForCausalLM, batches, hp: dict, label: str, log_every: int = 50) -> dict:
    opt = optimizer_for(model, hp["lr"])
    model.train()
    t0 = time.time()
    losses = []
    for step, parts in enumerate(batches):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, hp)
        # A step may hold several (inputs, targets) parts, e.g. chat examples and replayed pretraining text: their mean losses add.
        loss = sum(F.cross_entropy(model(x).flatten(0, 1), y.flatten(), ignore_index=data.IGNORE) for x, y in parts)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        if (step + 1) % log_every == 0 or step + 1 == hp["steps"]:
            recent = losses[-log_every:]
            print(f"  {label} step {step + 1}/{hp['steps']}  loss {sum(recent) / len(recent):.3f}  {time.time() - t0:.0f}s", flush=True)
    model.eval()
    tail = losses[-min(50, len(losses)):]
    return {"steps": hp["steps"], "seconds": round(time.time() - t0, 1), "final_loss": round(sum(tail) / len(tail), 4)}


# ---------------------------------------------------------------------------------------------


MODEL_FILES = {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}
MODELS = ("base", "chat", "cp")
# What may sit beside the three model folders in --out: the data notice of public/demo, the report of a --quick run.
OUT_EXTRAS = {"NOTICE.md", "results.json", "RESULTS.md", "effect.png"}


def check_replaceable(out: Path) -> None:
    """Refuse, before hours of CPU, an --out that holds anything this script did not write (never overwrite user data)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise SystemExit(f"--out {out}: exists and is not a folder; pick another --out")
    for entry in out.iterdir():
        if entry.name in OUT_EXTRAS and entry.is_file():
            continue
        if entry.name not in MODELS or not entry.is_dir():
            raise SystemExit(f"--out {out}: holds {entry.name}, which is not a demo model folder ({', '.join(MODELS)}); "
                             "the script only replaces those. Move it away or pick another --out")
        foreign = sorted(f.name for f in entry.iterdir() if f.name not in MODEL_FILES or not f.is_file())
        if foreign:
            raise SystemExit(f"--out {out}: {entry.name}/ holds {', '.join(foreign)}, which this script does not write; "
                             "move it away or pick another --out")


def replace_models(staging: Path, out: Path) -> None:
    """Move the finished folders from staging into --out, replacing only base/, chat/ and cp/."""
    out.mkdir(parents=True, exist_ok=True)
    for name in MODELS:
        if (out / name).exists():
            shutil.rmtree(out / name)
        shutil.move(str(staging / name), str(out / name))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1–2 minute smoke run: a smaller model and fewer steps, written to training/.cache/quick")
    ap.add_argument("--out", type=Path, help="model folders go to OUT/{base,chat,cp} (default public/demo; --quick: training/.cache/quick); "
                    "trained in a folder of training/.cache and moved there only when the run succeeds")
    ap.add_argument("--results", type=Path, help="results.json, RESULTS.md, effect.png go here (default training/; --quick: the --out folder)")
    ap.add_argument("--nlp-corpus", type=Path, default=ROOT / "training/.cache/node_modules/nlp-corpus/builds", help="nlp-corpus's builds/ folder")
    ap.add_argument("--naughty-words", type=Path, default=ROOT / "training/.cache/node_modules/naughty-words", help="the naughty-words package folder (en.json, zh.json)")
    ap.add_argument("--fortunes", type=Path, default=Path("/usr/share/games/fortunes"), help="folder with fortunes-zh's chinese, tang300, song100")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--skip-train", action="store_true", help="evaluate the model folders already in --out")
    args = ap.parse_args()

    hp = QUICK if args.quick else FULL
    out = (args.out or (ROOT / "training/.cache/quick" if args.quick else ROOT / "public/demo")).resolve()
    results_dir = args.results or (out if args.quick else ROOT / "training")
    check_replaceable(out)
    # Train and evaluate in a scratch folder; --out changes only after everything succeeded.
    (ROOT / "training/.cache").mkdir(exist_ok=True)
    work = out if args.skip_train else Path(tempfile.mkdtemp(prefix="train-", dir=ROOT / "training/.cache"))

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    random.seed(args.seed)
    torch.manual_seed(args.seed)

    t_start = time.time()
    timings: dict[str, float] = {}
    splits = data.make_splits(args.nlp_corpus, args.fortunes, args.naughty_words)
    print(f"data: English {len(splits['en']['pretrain'])} pretraining / {len(splits['en']['chat'])} chat / {len(splits['en']['heldout'])} held-out sentences; "
          f"Chinese {len(splits['zh_train'])} training / {len(splits['zh_heldout'])} held-out entries, {len(splits['zh_prompts'])} prompt lines", flush=True)

    stages: dict[str, dict] = {}
    if not args.skip_train:
        t = time.time()
        tok = data.train_tokenizer(splits, hp)
        timings["tokenizer"] = round(time.time() - t, 1)
        print(f"tokenizer: {tok.vocab_size} tokens in {timings['tokenizer']}s", flush=True)

        cfg = LlamaConfig(vocab_size=tok.vocab_size, max_position_embeddings=checkpoint.MAX_POSITIONS, **hp["model"])
        seq = hp["seq_len"]

        # base: English pretraining from a seeded initialisation.
        t = time.time()
        base = LlamaForCausalLM(cfg)
        base.init_weights(torch.Generator().manual_seed(args.seed))
        windows = data.lm_windows(data.english_docs(tok, splits["en"]["pretrain"]), seq, args.seed)
        print(f"base: {len(windows)} windows of {seq} tokens ({windows.numel() / 1e6:.2f}M tokens); {hp['base']['steps'] * hp['base']['batch'] * seq / 1e6:.2f}M trained", flush=True)
        stages["base"] = train(base, data.lm_batches(windows, hp["base"]["batch"], hp["base"]["steps"], args.seed + 1), hp["base"], "base")
        checkpoint.write_model(work / "base", base, tok, chat=False, description="Chat Vector Studio demo: base, English pretraining")
        timings["base"] = round(time.time() - t, 1)

        # chat and cp both start from the written (bf16) base, as fine-tunes of a published checkpoint do.
        t = time.time()
        chat = checkpoint.load_model(work / "base")
        messages = [s for s in splits["en"]["chat"] if data.chat_message_ok(tok, s)]
        examples = [data.chat_example(tok, s) for s in messages]
        # Replayed English pretraining text keeps chat a language model, as real chat tunes stay one.
        replay = data.lm_windows(data.english_docs(tok, splits["en"]["pretrain"]), seq, args.seed + 5)
        print(f"chat: {len(examples)} English echo exchanges, {hp['chat']['replay']} windows of English text replayed per step", flush=True)
        freeze_vocab_rows(chat, {t for ids, _ in examples for t in ids} | set(replay.flatten().tolist()))
        batches = data.mixed_batches(
            data.chat_batches(examples, hp["chat"]["batch"], hp["chat"]["steps"], tok.special_ids[bpe.EOS], args.seed + 2),
            data.lm_batches(replay, hp["chat"]["replay"], hp["chat"]["steps"], args.seed + 6),
        )
        stages["chat"] = train(chat, batches, hp["chat"], "chat")
        checkpoint.write_model(work / "chat", chat, tok, chat=True, description="Chat Vector Studio demo: chat, base + English echo chat tuning")
        timings["chat"] = round(time.time() - t, 1)

        t = time.time()
        cp = checkpoint.load_model(work / "base")
        windows = data.lm_windows(data.chinese_docs(tok, splits["zh_train"]), seq, args.seed + 3)
        print(f"cp: {len(windows)} windows of {seq} tokens ({windows.numel() / 1e6:.2f}M tokens); {hp['cp']['steps'] * hp['cp']['batch'] * seq / 1e6:.2f}M trained", flush=True)
        stages["cp"] = train(cp, data.lm_batches(windows, hp["cp"]["batch"], hp["cp"]["steps"], args.seed + 4), hp["cp"], "cp")
        checkpoint.write_model(work / "cp", cp, tok, chat=False, description="Chat Vector Studio demo: cp, base + Chinese continual pretraining")
        timings["cp"] = round(time.time() - t, 1)
        timings["training_total"] = round(time.time() - t_start, 1)

    import evaluate  # noqa: E402  (matplotlib is only needed from here on)

    t = time.time()
    report = evaluate.run(work, splits, hp["eval_prompts"], results_dir)
    timings["evaluation"] = round(time.time() - t, 1)
    report["training"] = {
        "mode": "quick" if args.quick else "full",
        "seed": args.seed,
        "hyperparameters": hp,
        "stages": stages,
        "timings_s": timings,
        "torch": torch.__version__,
        "files_sha256": {f"{m}/model.safetensors": checkpoint.sha256_file(work / m / "model.safetensors") for m in MODELS},
    }
    if args.skip_train:
        previous = results_dir / "results.json"
        if previous.exists():
            report["training"] = json.loads(previous.read_text()).get("training", report["training"])
    evaluate.write_report(report, results_dir)
    if work != out:
        replace_models(work, out)
        shutil.rmtree(work)
        print(f"models in {out}", flush=True)
    print(f"done in {time.time() - t_start:.0f}s; results in {results_dir}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
