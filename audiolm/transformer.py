"""A compact pre-norm transformer (SDPA, learned absolute positions) with a preallocated KV cache.

Decoding one token on a 2-core CPU is bound by per-operator overhead more than by FLOPs, so
the block is written with as few kernels as possible: fused LayerNorm rather than RMSNorm
(several kernels in torch), learned absolute positions (one add per step) rather than
rotary embeddings (several kernels per layer), tanh-GELU. Stages never see sequences longer
than their window, so absolute positions up to ``max_seq_len`` suffice. For the same reason the
forward pass calls the functional ops on the submodules' weights instead of calling the submodules
(``nn.Module.__call__`` costs a few microseconds each: about a sixth of a coarse stage's decoding
step, ``benchmarks/results/speech-mixed-progress.json``, ``decoding_speed_2026_12_04``); the
submodules stay for their parameters, so state dicts and bundles are unchanged. A long context is bound
by reading the KV cache instead: ``n_kv_heads`` below ``n_heads`` (grouped-query attention) shrinks it.

``Transformer`` maps embeddings to hidden states and is shared by the three stages and the
built-in semantic encoder; ``DecoderLM`` adds a token embedding and an output head.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(kw_only=True)
class TransformerConfig:
    d_model: int = 384
    n_layers: int = 6
    n_heads: int = 6
    # key/value heads (None: n_heads); fewer is grouped-query attention (Ainslie et al., 2023): each shared by
    # n_heads / n_kv_heads query heads, which shrinks the KV cache a decoding step reads by that factor
    n_kv_heads: int | None = None
    ff_mult: int = 4
    max_seq_len: int = 4096  # learned positions and KV-cache capacity
    dropout: float = 0.0
    causal: bool = True

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads

    @property
    def head_size(self) -> int:
        return self.d_model // self.n_heads


def decoding_dtype() -> torch.dtype | None:
    """The KV cache's dtype when a stage samples (``Transformer.new_cache``'s default): the weights' (None) unless
    ``AUDIOLM_DECODING_DTYPE=bfloat16``.

    A bfloat16 cache halves what attention reads over a long context: on a CPU with AVX512-BF16 a speech
    continuation took about 11 % less time, with the same voice and content within their noise
    (``benchmarks/results/speech-mixed-progress.json``, ``decoding_speed_2026_12_04``). It is not the default
    because rounding to bfloat16 turns the last-bit differences between batch sizes (small matrix products
    take other kernels) into other tokens: sample i of a batch would no longer come out the same when
    generated alone with its seed. Elsewhere bfloat16 is emulated and slower."""
    choice = os.environ.get("AUDIOLM_DECODING_DTYPE", "float32").strip().lower()
    if choice not in ("float32", "bfloat16"):
        raise ValueError(f"AUDIOLM_DECODING_DTYPE must be float32 or bfloat16, got {choice!r}")
    return torch.bfloat16 if choice == "bfloat16" else None


class KVCache:
    """Per-layer key/value buffers ``(B, n_kv_heads, capacity, hs)`` filled in place, plus a length. In a dtype other
    than the model's (``decoding_dtype``), attention reads the cache in that dtype and returns the model's.

    It also keeps, for the generation it serves, the weights its linear layers have met prepacked for oneDNN
    (``linear``)."""

    def __init__(self, config: TransformerConfig, batch: int, device=None, dtype=torch.float32, capacity=None):
        capacity = capacity or config.max_seq_len
        shape = (batch, config.kv_heads, capacity, config.head_size)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layers)]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layers)]
        self.length = 0
        self.capacity = capacity
        self.packed = {} if linear_kernel() == "onednn" and torch.backends.mkldnn.is_available() else None

    def linear(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """``F.linear(x, weight)``, on a copy of ``weight`` prepacked for oneDNN (made on first use; the cache
        lives for one generation, so the weights cannot change under it) where ``x (B, T, d)`` holds two
        sequences or more, ``weight`` has at least ``ONEDNN_MIN_WEIGHT`` entries, oneDNN is there and nothing
        needs gradients.

        Why: a guided decoding step multiplies two rows (the cond and the null cond) by each weight, and on AMD
        CPUs MKL (torch's float32 default) takes a slow path for a few rows: oneDNN's packed product took half
        the time or less there. One sequence stays with MKL, whose matrix-vector path is faster than oneDNN's
        fixed cost per call (about 15 us; more when its threads have gone idle since its last call, as when
        only a frame's opening step has two rows), and so do small weights. Figures:
        ``benchmarks/results/speech-mixed-progress.json``, ``linear_kernel_2026_12_05``."""
        if (self.packed is None or x.dim() < 2 or x.shape[0] < 2 or weight.numel() < ONEDNN_MIN_WEIGHT
                or x.device.type != "cpu"
                or weight.dtype != torch.float32 or x.dtype != torch.float32
                or torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)):
            return F.linear(x, weight)
        key = (weight.data_ptr(), tuple(weight.shape), weight.stride())
        packed = self.packed.get(key)
        if packed is None:
            packed = self.packed[key] = torch.ops.mkldnn._reorder_linear_weight(weight.contiguous(), x.shape[0])
        return torch.ops.mkldnn._linear_pointwise(x, packed, None, "none", [], "")


# the smallest weight (entries) that ``KVCache.linear`` hands to oneDNN: on an AMD EPYC host, 2 or 4 rows times a
# weight of 2 ** 17 entries or more took less time in oneDNN than in MKL alone, smaller ones more; within a
# guided decoding step (oneDNN's threads kept busy) the 256 x 256 attention output still gained
ONEDNN_MIN_WEIGHT = 1 << 16


def linear_kernel() -> str:
    """What a sampling step's larger linear layers over two sequences or more run on: ``onednn`` (prepacked weights,
    ``KVCache.linear``) or ``aten`` (``F.linear``, i.e. MKL on x86), as ``AUDIOLM_LINEAR_KERNEL`` says; ``auto`` (the
    default): oneDNN on AMD CPUs only. On an Intel Xeon host (AMX) MKL is the faster: the speech continuation's
    marginal RTF 0.318 against 0.446 on oneDNN (medians of 6, ``python benchmarks/linear_kernel.py``), where an AMD
    EPYC host gave 0.829 against 0.663."""
    choice = os.environ.get("AUDIOLM_LINEAR_KERNEL", "auto").strip().lower()
    if choice not in ("auto", "onednn", "aten"):
        raise ValueError(f"AUDIOLM_LINEAR_KERNEL must be auto, onednn or aten, got {choice!r}")
    if choice == "auto":
        return "onednn" if cpu_vendor() == "AuthenticAMD" else "aten"
    return choice


def cpu_vendor(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The CPU's vendor id as Linux reports it (``GenuineIntel``, ``AuthenticAMD``); "" where it does not."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


class SelfAttention(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        assert cfg.d_model % cfg.n_heads == 0, "d_model must be divisible by n_heads"
        assert cfg.n_heads % cfg.kv_heads == 0, "n_heads must be a multiple of n_kv_heads"
        self.n_heads, self.kv_heads, self.causal, self.dropout = cfg.n_heads, cfg.kv_heads, cfg.causal, cfg.dropout
        self.qkv = nn.Linear(cfg.d_model, cfg.d_model + 2 * cfg.kv_heads * cfg.head_size, bias=False)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)

    def forward(self, x, start: int, cache: KVCache | None, layer: int):
        B, T, C = x.shape
        linear = F.linear if cache is None else cache.linear
        hs = C // self.n_heads
        qkv = linear(x, self.qkv.weight).view(B, T, self.n_heads + 2 * self.kv_heads, hs).transpose(1, 2)
        q, k, v = qkv.split([self.n_heads, self.kv_heads, self.kv_heads], dim=1)  # (B, heads, T, hs)
        if cache is not None:
            cache.keys[layer][:, :, start:start + T] = k
            cache.values[layer][:, :, start:start + T] = v
            k, v = cache.keys[layer][:, :, :start + T], cache.values[layer][:, :, :start + T]
            q = q.to(k.dtype)
        mask, is_causal = None, False
        if self.causal and T > 1:
            if start == 0:
                is_causal = True
            else:  # a chunk after cached positions: query i sees keys <= start + i
                mask = torch.arange(start + T, device=x.device)[None] <= (start + torch.arange(T, device=x.device))[:, None]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal,
                                           dropout_p=self.dropout if self.training else 0.0,
                                           enable_gqa=self.kv_heads != self.n_heads)
        return linear(y.transpose(1, 2).reshape(B, T, C).to(x.dtype), self.proj.weight)

    def fit_saved(self, name: str, value: torch.Tensor) -> torch.Tensor:
        """A saved weight of this module made to fit it (``training.loop.warm_start``): a saved ``qkv`` with more
        key/value heads than this one has each group's keys and values averaged (the mean-pooled start of
        grouped-query attention); anything else as it is."""
        if name != "qkv.weight" or value.shape == self.qkv.weight.shape:
            return value
        C = value.shape[1]
        hs = C // self.n_heads
        saved_kv = (value.shape[0] - C) // (2 * hs)
        if value.shape[0] != C + 2 * saved_kv * hs or saved_kv % self.kv_heads:
            return value
        q, k, v = value.split([C, saved_kv * hs, saved_kv * hs])
        pool = lambda w: w.view(self.kv_heads, saved_kv // self.kv_heads, hs, C).mean(1).reshape(-1, C)  # noqa: E731
        return torch.cat([q, pool(k), pool(v)])


class Block(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(cfg.d_model, bias=False), nn.LayerNorm(cfg.d_model, bias=False)
        self.attn = SelfAttention(cfg)
        # Linear, GELU(tanh), Linear: a Sequential for its parameter names (mlp.0, mlp.2); forward applies them
        # itself, and the dropout after them
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, cfg.ff_mult * cfg.d_model, bias=False), nn.GELU(approximate="tanh"),
                                 nn.Linear(cfg.ff_mult * cfg.d_model, cfg.d_model, bias=False))
        self.dropout = cfg.dropout

    def start_as_identity(self) -> None:
        """Zero both residual branches' output projections: the block passes its input on unchanged, so a deeper
        model warm-started from a shallower one (``training.loop.warm_start``) starts as that model."""
        nn.init.zeros_(self.attn.proj.weight)
        nn.init.zeros_(self.mlp[2].weight)

    def forward(self, x, start, cache, layer):
        shape, linear = self.norm1.normalized_shape, F.linear if cache is None else cache.linear
        x = x + self.attn.forward(F.layer_norm(x, shape, self.norm1.weight), start, cache, layer)
        h = linear(F.layer_norm(x, shape, self.norm2.weight), self.mlp[0].weight)
        h = linear(F.gelu(h, approximate="tanh"), self.mlp[2].weight)
        return x + (F.dropout(h, self.dropout) if self.training and self.dropout else h)


class Transformer(nn.Module):
    """Embeddings ``(B, T, d)`` -> normalised hidden states ``(B, T, d)``."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.config = cfg
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.positions = nn.Embedding(cfg.max_seq_len, cfg.d_model)
        self.norm = nn.LayerNorm(cfg.d_model, bias=False)
        self.apply(_init_weights)

    def forward(self, x, cache: KVCache | None = None, return_layers: bool = False):
        start = cache.length if cache is not None else 0
        T = x.shape[1]
        if start + T > self.config.max_seq_len:
            raise ValueError(f"Sequence of {start + T} positions exceeds max_seq_len={self.config.max_seq_len}.")
        if cache is not None and not self.config.causal:
            raise ValueError("A KV cache only makes sense for a causal transformer.")
        x = x + self.positions.weight[start:start + T]
        if self.training and self.config.dropout:
            x = F.dropout(x, self.config.dropout)
        layers = []
        for i, block in enumerate(self.blocks):
            x = block.forward(x, start, cache, i)
            layers.append(x)
        if cache is not None:
            cache.length = start + T
        x = F.layer_norm(x, self.norm.normalized_shape, self.norm.weight)
        return (x, layers) if return_layers else x

    def new_cache(self, batch: int, device=None, dtype=None, capacity=None) -> KVCache:
        """A KV cache for sampling, in ``dtype``, else ``decoding_dtype()``, else the weights' dtype."""
        p = next(self.parameters())
        return KVCache(self.config, batch, device or p.device, dtype or decoding_dtype() or p.dtype, capacity)


class DecoderLM(nn.Module):
    """Token ids -> next-token logits over one shared vocabulary (layouts live in the stages)."""

    def __init__(self, vocab_size: int, cfg: TransformerConfig):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, cfg.d_model)
        self.body = Transformer(cfg)
        self.head = nn.Linear(cfg.d_model, vocab_size, bias=False)
        self.apply(_init_weights)

    def forward(self, ids, cache: KVCache | None = None, vocab_range: tuple[int, int] | None = None):
        """``ids (B, T)`` -> logits ``(B, T, V)``, or only over ``vocab_range=(lo, hi)`` (cheaper)."""
        return self.logits(self.hidden(ids, cache), vocab_range, cache)

    def logits(self, hidden: torch.Tensor, vocab_range: tuple[int, int] | None = None,
               cache: KVCache | None = None) -> torch.Tensor:
        """The head's logits of ``hidden (..., d)``, over the whole vocabulary or ``vocab_range=(lo, hi)``; with
        the ``cache`` of the generation, on its prepacked weights."""
        lo, hi = vocab_range or (0, self.head.weight.shape[0])
        return (F.linear if cache is None else cache.linear)(hidden, self.head.weight[lo:hi])

    def hidden(self, ids, cache: KVCache | None = None) -> torch.Tensor:
        """``ids (B, T)`` -> the last hidden states ``(B, T, d)``, before the head."""
        return self.body.forward(F.embedding(ids, self.embed.weight), cache)

    def prefill(self, ids, cache: KVCache) -> None:
        """Feed ``ids (B, T)`` into ``cache`` without computing their logits."""
        self.hidden(ids, cache)


def _init_weights(module):
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
