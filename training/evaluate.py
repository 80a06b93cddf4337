"""Measure the chat-vector effect on the trained triplet.

Merges cp + α·(chat − base) with the project's own CLI (`chatvec merge`, the code the studio ships),
loads the merged bf16 safetensors, and decodes greedily on held-out Chinese and English prompts.

Per model and prompt language:
  format    the response ended with <|eot_id|> within MAX_NEW_TOKENS tokens
  script    the response's letters are mostly in the prompt's script: more than half of its letters
            are Han (U+4E00–9FFF, U+3400–4DBF, U+F900–FAFF, U+20000–2FA1F) for Chinese prompts,
            Latin for English prompts; letters are Unicode category L*; a response without letters fails
  exact     the skill: the response is the prompt, exactly, followed by <|eot_id|>
  prefix    how much of the prompt the response copies from its start (longest common prefix /
            prompt length, in characters), whether or not it stops
plus the mean loss (nats per token) on held-out Chinese and English text.
"""
from pathlib import Path
import json
import shutil
import subprocess
import tempfile
import time

import torch
import torch.nn.functional as F

import bpe
import checkpoint
import corpus
import data

ROOT = Path(__file__).resolve().parent.parent
ALPHAS = [0.25, 0.5, 0.75, 1.0]
TABLE_ALPHAS = {0.5, 1.0}
MAX_NEW_TOKENS = 64
VAL_WINDOWS = 24
SAMPLE_PROMPTS = 6
# Models whose greedy answers to the Chinese prompts are re-decoded with the studio's preview runtime.
STUDIO_CHECK = {"chat", "cp", "cp + 0.5τ", "cp + 1.0τ"}


def studio_ids(folder: Path, prompts: list[str], stop: list[int], template_from: Path) -> list[list[int]]:
    """Greedy ids from the studio's preview runtime (scripts/demo-eval.ts: ONNX graph on onnxruntime-web)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8", delete=False) as f:
        json.dump(prompts, f, ensure_ascii=False)
    try:
        cmd = ["npx", "tsx", "scripts/demo-eval.ts", "--model", str(folder), "--prompts", f.name,
               "--max-new-tokens", str(MAX_NEW_TOKENS), "--stop", ",".join(map(str, stop)), "--template-from", str(template_from)]
        run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"scripts/demo-eval.ts failed with exit {run.returncode}:\n{run.stderr}")
        return [r["ids"] for r in json.loads(run.stdout)["results"]]
    finally:
        Path(f.name).unlink()


def merge_with_cli(out: Path, alpha: float, dest: Path) -> None:
    """`npm run --silent chatvec -- merge …` into dest (bf16, like the inputs)."""
    cmd = ["npm", "run", "--silent", "chatvec", "--", "merge",
           "--base", str(out / "base"), "--chat", str(out / "chat"), "--cp", str(out / "cp"),
           "--alpha", str(alpha), "--out", str(dest), "--force"]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"chatvec merge (α={alpha}) failed with exit {run.returncode}:\n{run.stdout}\n{run.stderr}")


def script_share(text: str, script: str) -> float | None:
    counts = corpus.script_counts(text)
    letters = sum(counts.values())
    return counts[script] / letters if letters else None


def common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def generate_all(model, tok: bpe.ByteLevelBPE, prompts: list[str], script: str) -> tuple[dict, list[dict]]:
    from llama import greedy_generate
    eot, eos = tok.special_ids[bpe.EOT], tok.special_ids[bpe.EOS]
    rows = []
    for p in prompts:
        ids = greedy_generate(model, tok.encode(bpe.render_chat(p)), MAX_NEW_TOKENS, {eot, eos})
        stopped = bool(ids) and ids[-1] == eot
        body = ids[:-1] if ids and ids[-1] in (eot, eos) else ids
        text = tok.decode(body, skip_special=True)
        share = script_share(text, script)
        rows.append({
            "prompt": p, "ids": ids, "response": text, "tokens": len(ids), "stop": "eot" if stopped else "eos" if ids and ids[-1] == eos else "limit",
            "format": stopped, "script": share is not None and share > 0.5, "exact": stopped and text.strip() == p.strip(),
            "prefix": common_prefix(text.strip(), p.strip()) / len(p.strip()),
        })
    n = len(rows)
    summary = {
        "n": n,
        "format": sum(r["format"] for r in rows) / n,
        "script": sum(r["script"] for r in rows) / n,
        "exact": sum(r["exact"] for r in rows) / n,
        "prefix": sum(r["prefix"] for r in rows) / n,
        "mean_tokens": sum(r["tokens"] for r in rows) / n,
    }
    return summary, rows


@torch.no_grad()
def mean_loss(model, windows: torch.Tensor) -> float:
    logits = model(windows[:, :-1])
    return float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), windows[:, 1:].reshape(-1)))


def run(out: Path, splits: dict, n_prompts: int, results_dir: Path) -> dict:
    tok = bpe.ByteLevelBPE.from_tokenizer_json(json.loads((out / "cp/tokenizer.json").read_text(encoding="utf-8")))
    zh_prompts = data.stable_order(splits["zh_prompts"], "eval")[:n_prompts]
    en_prompts = data.stable_order([s for s in splits["en"]["heldout"] if data.chat_message_ok(tok, s)], "eval")[:n_prompts]
    if len(zh_prompts) < n_prompts or len(en_prompts) < n_prompts:
        raise RuntimeError(f"only {len(zh_prompts)} Chinese and {len(en_prompts)} English held-out prompts; {n_prompts} needed")
    seq = 128
    zh_val = data.lm_windows(data.chinese_docs(tok, splits["zh_heldout"]), seq, 0)[:VAL_WINDOWS]
    en_val = data.lm_windows(data.english_docs(tok, splits["en"]["heldout"]), seq, 0)[:VAL_WINDOWS]

    merged_root = Path(tempfile.mkdtemp(prefix="chatvec-demo-merge-"))
    models: list[tuple[str, float | None, Path]] = [("base", None, out / "base"), ("chat", None, out / "chat"), ("cp", 0.0, out / "cp")]
    try:
        for a in ALPHAS:
            dest = merged_root / f"alpha-{a}"
            t = time.time()
            merge_with_cli(out, a, dest)
            print(f"  merged cp + {a}·τ with chatvec in {time.time() - t:.1f}s", flush=True)
            models.append((f"cp + {a}τ", a, dest))
        results, samples = [], {}
        for name, alpha, folder in models:
            t = time.time()
            model = checkpoint.load_model(folder)
            zh, zh_rows = generate_all(model, tok, zh_prompts, "han")
            en, en_rows = generate_all(model, tok, en_prompts, "latin")
            results.append({"model": name, "alpha": alpha, "zh": zh, "en": en,
                            "loss_zh": round(mean_loss(model, zh_val), 4), "loss_en": round(mean_loss(model, en_val), 4)})
            if name in STUDIO_CHECK:
                ours = [r["ids"] for r in zh_rows]
                theirs = studio_ids(folder, zh_prompts, [tok.special_ids[bpe.EOT], tok.special_ids[bpe.EOS]], out / "chat")
                same = sum(a == b for a, b in zip(ours, theirs))
                results[-1]["studio_agreement_zh"] = same / len(ours)
                print(f"  {name}: the studio's preview runtime decodes the same ids for {same}/{len(ours)} Chinese prompts", flush=True)
            samples[name] = {"zh": zh_rows[:SAMPLE_PROMPTS], "en": en_rows[:2]}
            print(f"  {name:12s} zh format {zh['format']:.2f} script {zh['script']:.2f} exact {zh['exact']:.2f} | "
                  f"en format {en['format']:.2f} exact {en['exact']:.2f} | loss zh {results[-1]['loss_zh']:.2f} en {results[-1]['loss_en']:.2f}  ({time.time() - t:.0f}s)", flush=True)
    finally:
        shutil.rmtree(merged_root, ignore_errors=True)
    return {
        "prompts": {"zh": len(zh_prompts), "en": len(en_prompts), "max_new_tokens": MAX_NEW_TOKENS},
        "results": results,
        "samples": samples,
        "eval_prompts": {"zh": zh_prompts, "en": en_prompts},
    }


# ---------------------------------------------------------------------------------------------
# Report


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def table(report: dict) -> str:
    head = ("| model | zh format (ends with `<\\|eot_id\\|>`) | zh in Han script | zh exact echo | zh prefix copied | "
            "en format | en exact echo | loss zh | loss en |\n|---|---|---|---|---|---|---|---|---|\n")
    rows = []
    for r in report["results"]:
        if r["alpha"] not in (None, 0.0) and r["alpha"] not in TABLE_ALPHAS:
            continue
        z, e = r["zh"], r["en"]
        rows.append(f"| {r['model']} | {pct(z['format'])} | {pct(z['script'])} | {pct(z['exact'])} | {pct(z['prefix'])} | "
                    f"{pct(e['format'])} | {pct(e['exact'])} | {r['loss_zh']:.2f} | {r['loss_en']:.2f} |")
    return head + "\n".join(rows) + "\n"


def write_report(report: dict, results_dir: Path) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "results.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    plot(report, results_dir / "effect.png")
    tr = report.get("training", {})
    lines = [
        "# Chat vector demo: results",
        "",
        f"Written by `training/train_demo.py` ({tr.get('mode', '?')} run, seed {tr.get('seed', '?')}). "
        f"{report['prompts']['zh']} held-out Chinese and {report['prompts']['en']} held-out English prompts, greedy decoding, "
        f"at most {report['prompts']['max_new_tokens']} new tokens. The merges are `chatvec merge` outputs (bf16).",
        "",
        "The skill taught in English only: answer with the user's message, word for word, then `<|eot_id|>`.",
        "",
        table(report),
        "- **format**: the response ended with `<|eot_id|>` within the token limit.",
        "- **in Han script**: more than half of the response's letters are Han characters (a response with no letters fails).",
        "- **exact echo**: the response is the prompt, exactly, then `<|eot_id|>`.",
        "- **prefix copied**: mean share of the prompt's characters that the response reproduces from its start (longest common prefix), stop or not.",
        "- **loss**: mean cross-entropy (nats/token) on held-out Chinese (fortunes-zh) and English (nlp-corpus) text.",
        "",
        "All α (the plot, `effect.png`):",
        "",
        "| α | zh format | zh Han | zh exact | en format | en exact | loss zh |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        if r["alpha"] is not None:
            lines.append(f"| {r['alpha']} | {pct(r['zh']['format'])} | {pct(r['zh']['script'])} | {pct(r['zh']['exact'])} | "
                         f"{pct(r['en']['format'])} | {pct(r['en']['exact'])} | {r['loss_zh']:.2f} |")
    lines += ["", "![effect](effect.png)", "", "## Samples (first held-out Chinese prompts)", ""]
    names = list(report["samples"])
    for k, row in enumerate(report["samples"][names[0]]["zh"]):
        lines.append(f"**Prompt:** {row['prompt']}")
        lines.append("")
        for name in names:
            if name.startswith("cp + ") and float(name[5:-1]) not in TABLE_ALPHAS:
                continue
            s = report["samples"][name]["zh"][k]
            text = s["response"].replace("\n", "⏎").replace("|", "\\|")
            lines.append(f"- {name}: {text} `[{s['stop']}]`")
        lines.append("")
    if tr:
        lines += ["## Training", "", "```json", json.dumps({k: tr[k] for k in ("stages", "timings_s", "files_sha256") if k in tr}, indent=2), "```", ""]
    (results_dir / "RESULTS.md").write_text("\n".join(lines), encoding="utf-8")


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["results"] if r["alpha"] is not None]
    chat = next(r for r in report["results"] if r["model"] == "chat")
    alphas = [r["alpha"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, lang, title in ((axes[0], "zh", "Chinese prompts (language B)"), (axes[1], "en", "English prompts (language A)")):
        for key, label, color in (("format", "ends with <|eot_id|>", "tab:blue"), ("script", "in the prompt's script", "tab:green"), ("exact", "exact echo (the skill)", "tab:red")):
            ax.plot(alphas, [100 * r[lang][key] for r in rows], marker="o", color=color, label=label)
            ax.axhline(100 * chat[lang][key], color=color, linestyle=":", linewidth=1)
        ax.set_title(title)
        ax.set_xlabel("α in cp + α·(chat − base)   (α = 0: cp alone)")
        ax.set_xticks(alphas)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("% of held-out prompts")
    axes[0].set_ylim(-3, 103)
    axes[1].legend(loc="center right", fontsize=8, title="dotted: the chat model", title_fontsize=8)
    fig.suptitle("Chat vector on the trained demo: cp (Chinese) + α·τ, τ = chat (English echo) − base")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
