"""Model folders as Hugging Face writes them: bf16 model.safetensors, config, generation and tokenizer files."""
from pathlib import Path
import hashlib
import json

import bpe
import safetensors_io
from llama import LlamaConfig, LlamaForCausalLM

MAX_POSITIONS = 256


def write_model(folder: Path, model: LlamaForCausalLM, tok: bpe.ByteLevelBPE, chat: bool, description: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("model*.safetensors*"):
        stale.unlink()
    bos, eos, eot = (tok.special_ids[t] for t in (bpe.BOS, bpe.EOS, bpe.EOT))
    safetensors_io.write_bf16(folder / "model.safetensors", model.hf_state_dict(), {"format": "pt", "description": description})
    files = {
        "config.json": model.cfg.to_hf(bos, eot if chat else eos),
        "generation_config.json": {"bos_token_id": bos, "eos_token_id": [eos, eot] if chat else eos, "do_sample": False},
        "tokenizer.json": tok.tokenizer_json(),
        "tokenizer_config.json": tok.tokenizer_config(chat, MAX_POSITIONS),
        "special_tokens_map.json": {"bos_token": bpe.BOS, "eos_token": bpe.EOT if chat else bpe.EOS},
    }
    for name, value in files.items():
        (folder / name).write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def load_model(folder: Path) -> LlamaForCausalLM:
    """A model folder (as written here or by `chatvec merge`) with its bf16 weights, computing in f32."""
    cfg_json = json.loads((folder / "config.json").read_text())
    cfg = LlamaConfig(
        vocab_size=cfg_json["vocab_size"], hidden_size=cfg_json["hidden_size"], intermediate_size=cfg_json["intermediate_size"],
        num_hidden_layers=cfg_json["num_hidden_layers"], num_attention_heads=cfg_json["num_attention_heads"],
        num_key_value_heads=cfg_json["num_key_value_heads"], max_position_embeddings=cfg_json["max_position_embeddings"],
        rope_theta=cfg_json["rope_theta"], rms_norm_eps=cfg_json["rms_norm_eps"], tie_word_embeddings=cfg_json.get("tie_word_embeddings", False),
    )
    if cfg_json.get("head_dim", cfg.head_dim) != cfg.head_dim:
        raise ValueError(f"{folder}/config.json: head_dim {cfg_json['head_dim']} is not hidden_size / num_attention_heads = {cfg.head_dim}")
    model = LlamaForCausalLM(cfg)
    model.load_hf_state_dict(safetensors_io.read_folder(folder))
    model.eval()
    return model


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
