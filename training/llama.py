"""A Llama-layout causal LM in plain PyTorch with Hugging Face's tensor names and semantics.

Matches transformers' LlamaForCausalLM (and the studio's reference forward, src/model/reference-forward.ts):
RMSNorm x·rsqrt(mean(x²)+eps)·w, rotary embeddings on the two halves of each head (rotate_half),
grouped-query attention with scale 1/√head_dim, SwiGLU MLP down(silu(gate(x))·up(x)), final norm, lm_head.
"""
from dataclasses import dataclass, asdict
import math

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class LlamaConfig:
    vocab_size: int
    hidden_size: int = 128
    intermediate_size: int = 384
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 256
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    tie_word_embeddings: bool = False

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def to_hf(self, bos_token_id: int, eos_token_id: int) -> dict:
        """config.json as transformers writes it for LlamaForCausalLM (weights stored in bf16)."""
        return {
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "attention_bias": False,
            "attention_dropout": 0.0,
            "bos_token_id": bos_token_id,
            "eos_token_id": eos_token_id,
            "head_dim": self.head_dim,
            "hidden_act": "silu",
            "hidden_size": self.hidden_size,
            "initializer_range": 0.02,
            "intermediate_size": self.intermediate_size,
            "max_position_embeddings": self.max_position_embeddings,
            "mlp_bias": False,
            "num_attention_heads": self.num_attention_heads,
            "num_hidden_layers": self.num_hidden_layers,
            "num_key_value_heads": self.num_key_value_heads,
            "pretraining_tp": 1,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_scaling": None,
            "rope_theta": self.rope_theta,
            "tie_word_embeddings": self.tie_word_embeddings,
            "torch_dtype": "bfloat16",
            "use_cache": True,
            "vocab_size": self.vocab_size,
        }

    def as_dict(self) -> dict:
        return asdict(self)


class RMSNorm(nn.Module):
    def __init__(self, size: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(cfg: LlamaConfig, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin [length, head_dim] in HF's layout: the half-size frequency table repeated twice."""
    d = cfg.head_dim
    inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
    angles = torch.outer(torch.arange(length, dtype=torch.float32), inv_freq)
    emb = torch.cat([angles, angles], dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.cfg = cfg
        h, d = cfg.hidden_size, cfg.head_dim
        self.q_proj = nn.Linear(h, cfg.num_attention_heads * d, bias=False)
        self.k_proj = nn.Linear(h, cfg.num_key_value_heads * d, bias=False)
        self.v_proj = nn.Linear(h, cfg.num_key_value_heads * d, bias=False)
        self.o_proj = nn.Linear(cfg.num_attention_heads * d, h, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor, cache: list | None = None) -> torch.Tensor:
        """`cache` (generation only): [keys, values] of earlier positions, extended in place."""
        b, t, _ = x.shape
        c = self.cfg
        d = c.head_dim
        q = self.q_proj(x).view(b, t, c.num_attention_heads, d).transpose(1, 2)
        k = self.k_proj(x).view(b, t, c.num_key_value_heads, d).transpose(1, 2)
        v = self.v_proj(x).view(b, t, c.num_key_value_heads, d).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if cache is not None:
            if cache:
                k = torch.cat([cache[0], k], dim=2)
                v = torch.cat([cache[1], v], dim=2)
            cache[:] = [k, v]
        group = c.num_attention_heads // c.num_key_value_heads
        k = k.repeat_interleave(group, dim=1)
        v = v.repeat_interleave(group, dim=1)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(d) + mask
        out = torch.softmax(scores, dim=-1) @ v
        return self.o_proj(out.transpose(1, 2).reshape(b, t, c.num_attention_heads * d))


class MLP(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.self_attn = Attention(cfg)
        self.mlp = MLP(cfg)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, x, cos, sin, mask, cache=None):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class Backbone(nn.Module):
    """`model.*` in HF's names."""

    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class LlamaForCausalLM(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.cfg = cfg
        self.model = Backbone(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        cos, sin = rope_tables(cfg, cfg.max_position_embeddings)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def init_weights(self, generator: torch.Generator, std: float = 0.02) -> None:
        """Normal(0, std) for every matrix, residual outputs scaled by 1/√(2·layers) (GPT-2 style); norms at 1."""
        out_std = std / math.sqrt(2 * self.cfg.num_hidden_layers)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("layernorm.weight") or name == "model.norm.weight":
                    p.fill_(1.0)
                elif name.endswith(("o_proj.weight", "down_proj.weight")):
                    p.normal_(0.0, out_std, generator=generator)
                else:
                    p.normal_(0.0, std, generator=generator)

    def forward(self, ids: torch.Tensor, cache: list[list] | None = None) -> torch.Tensor:
        """Logits [batch, time, vocab] for token ids [batch, time].

        Without `cache` the ids sit at positions 0…time−1. With `cache` (one list per layer, empty at first)
        they follow the positions already cached, and their keys and values are appended to it.
        """
        t = ids.shape[1]
        start = cache[0][0].shape[2] if cache and cache[0] else 0
        if start + t > self.cfg.max_position_embeddings:
            raise ValueError(f"sequence of {start + t} tokens is longer than max_position_embeddings {self.cfg.max_position_embeddings}")
        cos, sin = self.rope_cos[start:start + t], self.rope_sin[start:start + t]
        mask = torch.full((t, start + t), float("-inf")).triu(start + 1)
        x = self.model.embed_tokens(ids)
        for i, layer in enumerate(self.model.layers):
            x = layer(x, cos, sin, mask, cache[i] if cache is not None else None)
        return self.lm_head(self.model.norm(x))

    def hf_state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors under HF's names, in HF's order; lm_head left out when tied."""
        sd = {k: v for k, v in self.state_dict().items() if not k.startswith("rope_")}
        if self.cfg.tie_word_embeddings:
            sd.pop("lm_head.weight")
        return sd

    def load_hf_state_dict(self, tensors: dict[str, torch.Tensor]) -> None:
        want = self.hf_state_dict()
        missing = sorted(set(want) - set(tensors))
        extra = sorted(set(tensors) - set(want))
        if missing or extra:
            raise ValueError(f"checkpoint does not match the model: missing {missing[:5]}, unexpected {extra[:5]}")
        with torch.no_grad():
            for k, v in want.items():
                if tuple(tensors[k].shape) != tuple(v.shape):
                    raise ValueError(f"{k}: shape {tuple(tensors[k].shape)} in the checkpoint, {tuple(v.shape)} in the model")
                v.copy_(tensors[k].to(torch.float32))


@torch.no_grad()
def greedy_generate(model: LlamaForCausalLM, prompt_ids: list[int], max_new_tokens: int, stop_ids: set[int]) -> list[int]:
    """Argmax decoding with a KV cache; stops after a stop id, at `max_new_tokens` or at the context length."""
    cache: list[list] = [[] for _ in model.model.layers]
    logits = model(torch.tensor([prompt_ids]), cache)[0, -1]
    out: list[int] = []
    for _ in range(max_new_tokens):
        nxt = int(torch.argmax(logits))
        out.append(nxt)
        if nxt in stop_ids or len(prompt_ids) + len(out) >= model.cfg.max_position_embeddings:
            break
        logits = model(torch.tensor([[nxt]]), cache)[0, -1]
    return out
