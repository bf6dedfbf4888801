"""Peer benchmark: lucidrains' audiolm-pytorch CoarseTransformer generation speed on CPU.

Not part of the test suite; it needs its own venv (it must not touch the system torch).

Setup (what was used; torch 2.13.0+cpu is installed system-wide and is reused, never replaced):

    python -m venv --system-site-packages /tmp/peer-venv
    /tmp/peer-venv/bin/pip install --no-deps audiolm-pytorch
    /tmp/peer-venv/bin/pip install --no-deps einops beartype hyper-connections \
        vector-quantize-pytorch local-attention gateloop-transformer encodec ema-pytorch \
        pytorch-warmup accelerate torch-einops-utils einx loguru rotary-embedding-torch \
        psutil frozendict
    # already present system-wide: numpy, packaging, tqdm, joblib, scikit-learn, transformers,
    # huggingface_hub, safetensors, pyyaml, sympy, typing_extensions

Never install torchaudio (no CPU wheel on PyPI; it would pull a CUDA torch), fairseq or wandb.
Instead this script puts stub modules into ``sys.modules`` before importing audiolm_pytorch:

    torchaudio, torchaudio.functional, torchaudio.transforms
        imported at module level by audiolm_pytorch.{audiolm_pytorch,soundstream,encodec,data,
        hubert_kmeans,vq_wav2vec,trainer} and encodec.{utils,msstftd}
        (names: resample, transforms.MelSpectrogram/Spectrogram/Resample, load, save)
    fairseq (+ fairseq.checkpoint_utils)   imported by hubert_kmeans.py and vq_wav2vec.py
    wandb                                   imported by trainer.py

Every attribute of a stub is a callable that raises RuntimeError when called. Coarse generation
(CoarseTransformer.forward / forward_with_cond_scale and CoarseTransformerWrapper.generate without
prime_wave and with reconstruct_wave=False) calls none of them, so any accidental use fails loudly
rather than silently changing the measurement.

CoarseTransformerWrapper.__init__ reads ``codec.rq_groups`` (and beartype demands a SoundStream,
EncodecWrapper or None), and building a real SoundStream calls torchaudio.transforms.MelSpectrogram.
So the codec passed in is a parameter-less SoundStream instance created without running
SoundStream.__init__ (only nn.Module.__init__) with ``rq_groups = 1``; generate() touches the codec
only for prime_wave / reconstruct_wave, which are not used here.

Run (from the repo root):

    /tmp/peer-venv/bin/python benchmarks/peer_lucidrains.py --dim 384 --depth 6 --heads 6 \
        --semantic-tokens 250 --coarse-frames 100 --threads 2 --repeats 3

What is timed: ``CoarseTransformerWrapper.generate(semantic_token_ids=..., max_time_steps=F,
use_kv_cache=True)`` on a randomly initialised ``CoarseTransformer(num_semantic_tokens,
codebook_size, num_coarse_quantizers, dim, depth, heads)`` (all other arguments at the package
defaults: flash_attn=False, rel_pos_bias=True, dim_head=64, hyper-connections with 4 residual
streams, value residual), batch 1, no text condition, so one forward per token. It produces
F * num_coarse coarse tokens one at a time. unique_consecutive=False so exactly
--semantic-tokens semantic tokens condition the generation. Exit code 2 if the package cannot be
imported even with the stubs.
"""
from __future__ import annotations

import argparse
import importlib.machinery
import os
import statistics
import sys
import time
import types

os.environ.setdefault("TQDM_DISABLE", "1")  # generate() wraps its loop in tqdm
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is fetched; fail fast if something tries


def _raiser(qualname):
    def fn(*args, **kwargs):
        raise RuntimeError(f"{qualname} is a benchmark stub (peer_lucidrains.py); it must not be called")
    fn.__name__ = qualname.rsplit(".", 1)[-1]
    return fn


def _stub_module(name, submodules=()):
    mod = types.ModuleType(name)
    mod.__spec__ = importlib.machinery.ModuleSpec(name, loader=None, is_package=bool(submodules))
    mod.__file__ = f"<stub {name}>"
    mod.__version__ = "0.0.0+stub"
    if submodules:
        mod.__path__ = []

    def __getattr__(attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _raiser(f"{name}.{attr}")

    mod.__getattr__ = __getattr__
    sys.modules[name] = mod
    for sub in submodules:
        child = _stub_module(f"{name}.{sub}")
        setattr(mod, sub, child)
    return mod


STUBBED = {
    "torchaudio": ("functional", "transforms"),
    "fairseq": ("checkpoint_utils",),
    "wandb": (),
}


def install_stubs():
    import importlib.util
    for name, subs in STUBBED.items():
        if name == "wandb" and importlib.util.find_spec("wandb") is not None:
            continue  # the real one is harmless if present
        if name != "wandb" and name in sys.modules:
            continue
        _stub_module(name, subs)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--depth", type=int, default=6)
    p.add_argument("--heads", type=int, default=6)
    p.add_argument("--semantic-tokens", type=int, default=250, help="conditioning semantic sequence length")
    p.add_argument("--coarse-frames", type=int, default=100, help="max_time_steps: frames to generate")
    p.add_argument("--codebook", type=int, default=1024)
    p.add_argument("--num-coarse", type=int, default=4)
    p.add_argument("--semantic-vocab", type=int, default=512)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup-frames", type=int, default=None, help="frames for the warm-up run (default: --coarse-frames)")
    p.add_argument("--no-kv-cache", action="store_true", help="generate(use_kv_cache=False), for comparison")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    install_stubs()
    import torch
    try:
        import audiolm_pytorch
        from audiolm_pytorch import CoarseTransformer, CoarseTransformerWrapper, SoundStream
    except Exception as e:  # noqa: BLE001
        print(f"cannot import audiolm_pytorch even with stubs ({', '.join(STUBBED)}): "
              f"{type(e).__name__}: {e}", file=sys.stderr)
        return 2

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    # CoarseTransformer.__init__ always evaluates get_encoded_dim(t5_name) (eager default()), which
    # downloads google/t5-v1_1-base's config. Pre-seed the package's config cache with the same
    # d_model (768) so no network is needed; with has_condition=False it only sizes an unused
    # proj_text_embed Linear(768, dim) that never runs.
    from transformers import T5Config
    from audiolm_pytorch import t5 as peer_t5
    peer_t5.T5_CONFIGS.setdefault(peer_t5.DEFAULT_T5_NAME, {})["config"] = T5Config(d_model=768)

    transformer = CoarseTransformer(
        num_semantic_tokens=args.semantic_vocab,
        codebook_size=args.codebook,
        num_coarse_quantizers=args.num_coarse,
        dim=args.dim,
        depth=args.depth,
        heads=args.heads,
    )
    codec = SoundStream.__new__(SoundStream)  # placeholder; see module docstring
    torch.nn.Module.__init__(codec)
    codec.rq_groups = 1
    wrapper = CoarseTransformerWrapper(transformer=transformer, codec=codec, unique_consecutive=False).eval()

    n_params = sum(p.numel() for p in transformer.parameters())
    attn = transformer.transformer.layers[0][0]
    attn = getattr(attn, "branch", attn)
    from audiolm_pytorch.version import __version__ as peer_version
    print(f"audiolm-pytorch {peer_version}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"CoarseTransformer dim={args.dim} depth={args.depth} heads={args.heads} "
          f"dim_head={attn.to_q.out_features // args.heads} params={n_params / 1e6:.2f}M "
          f"flash={attn.attend.flash} rel_pos_bias={transformer.transformer.rel_pos_bias is not None} "
          f"kv_cache={not args.no_kv_cache}")
    print(f"semantic tokens {args.semantic_tokens} (vocab {args.semantic_vocab}), coarse frames {args.coarse_frames} "
          f"x {args.num_coarse} quantizers = {args.coarse_frames * args.num_coarse} tokens, codebook {args.codebook}")

    sem = torch.randint(0, args.semantic_vocab, (1, args.semantic_tokens))

    def run(frames):
        t0 = time.perf_counter()
        out = wrapper.generate(semantic_token_ids=sem, max_time_steps=frames, use_kv_cache=not args.no_kv_cache)
        dt = time.perf_counter() - t0
        assert out.shape == (1, frames, args.num_coarse), out.shape
        return dt

    warm = args.warmup_frames if args.warmup_frames is not None else args.coarse_frames
    dt = run(warm)
    print(f"warm-up: {warm} frames in {dt:.2f} s")

    tokens = args.coarse_frames * args.num_coarse
    times = []
    for r in range(args.repeats):
        dt = run(args.coarse_frames)
        times.append(dt)
        print(f"repeat {r + 1}: {dt:.2f} s  {1000 * dt / tokens:.2f} ms/token  {tokens / dt:.1f} tokens/s")
    med, best = statistics.median(times), min(times)
    print(f"median: {1000 * med / tokens:.2f} ms/token, {tokens / med:.1f} coarse tokens/s")
    print(f"best:   {1000 * best / tokens:.2f} ms/token, {tokens / best:.1f} coarse tokens/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
