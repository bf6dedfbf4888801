"""Peer benchmark: lucidrains' audiolm-pytorch stages (semantic, coarse, fine) generating on random weights.

``python -m audiolm bench`` runs this file as a subprocess, by path, under the interpreter that
has audiolm-pytorch (``--peer-python``), right after timing our stages at the same width, depth
and heads; it prints one JSON object. It imports nothing from this repository, so it runs in a
separate venv. It is not part of the test suite.

Setup (what was used; torch 2.13.0+cpu is installed system-wide and is reused, never replaced):

    python -m venv --system-site-packages /tmp/peer-venv
    /tmp/peer-venv/bin/pip install --no-deps audiolm-pytorch==2.4.0
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

Every attribute of a stub is a callable that raises RuntimeError when called. Generation
(``{Semantic,Coarse,Fine}TransformerWrapper.generate`` without prime_wave and with
reconstruct_wave=False) calls none of them, so any accidental use fails loudly rather than
silently changing the measurement.

Two more things are set up, neither of which runs inside the timed loops' model code:
- the coarse and fine wrappers read ``codec.rq_groups`` and ``codec.num_quantizers`` (beartype
  demands a SoundStream, EncodecWrapper or None); building a real SoundStream calls torchaudio.
  The codec passed in is a parameter-less SoundStream instance created without running
  SoundStream.__init__, with ``rq_groups = 1`` and ``num_quantizers = Q``; generate() touches
  the codec only for prime_wave / reconstruct_wave.
- the semantic wrapper stops when every row has sampled EOS; on random weights that would cut
  runs short at random, so ``all_rows_have_eos_id`` is replaced by ``lambda *a: False``: every
  run takes exactly the requested number of steps (one forward each).

What is timed, per stage, batch ``--batch``, ``use_kv_cache=True``, after one warm-up run at a
tenth of the length (``--warmup-fraction``), best of ``--repeats``: the transformer classes at the
given dim / depth / heads, every other argument at the package defaults (flash_attn=False,
rel_pos_bias=True, dim_head=64, hyper-connections with 4 residual streams, value residual), no text
condition (one forward per token):
- semantic: ``SemanticTransformerWrapper.generate(max_length=N)`` from nothing, N tokens;
- coarse: ``CoarseTransformerWrapper.generate(semantic_token_ids, max_time_steps=F)``,
  F × Q' tokens (unique_consecutive=False, so all N semantic tokens condition it);
- fine: ``FineTransformerWrapper.generate(coarse_token_ids)``, F × (Q − Q') tokens, one at a
  time (the paper's layout).
Exit code 2 if the package cannot be imported even with the stubs.

Alone: ``/tmp/peer-venv/bin/python audiolm/peer_lucidrains.py --geometry '{"coarse": {"dim": 384,
"depth": 6, "heads": 6}}' --semantic-tokens 250 --frames 500``.
"""
from __future__ import annotations

import argparse
import importlib.machinery
import json
import os
import sys
import time
import types

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
    p.add_argument("--geometry", required=True,
                   help='JSON: {"semantic"|"coarse"|"fine": {"dim": D, "depth": L, "heads": H}}; stages to time')
    p.add_argument("--semantic-tokens", type=int, default=250, help="semantic tokens generated / conditioning")
    p.add_argument("--frames", type=int, default=500, help="acoustic frames of the coarse and fine stages")
    p.add_argument("--codebook", type=int, default=1024)
    p.add_argument("--num-quantizers", type=int, default=12)
    p.add_argument("--num-coarse", type=int, default=4)
    p.add_argument("--semantic-vocab", type=int, default=512)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--warmup-fraction", type=float, default=0.1,
                   help="the warm-up run's share of the timed length (its full-length fine run takes minutes)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def _timed(fn, device):
    import torch
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return out, time.perf_counter() - t0


def main(argv=None):
    args = parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")  # generate() wraps its loop in tqdm
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is fetched; fail fast if something tries
    geometry = json.loads(args.geometry)
    install_stubs()
    import torch
    try:
        from audiolm_pytorch import audiolm_pytorch as peer
        from audiolm_pytorch.version import __version__ as peer_version
    except Exception as e:  # noqa: BLE001
        print(f"cannot import audiolm_pytorch even with stubs ({', '.join(STUBBED)}): "
              f"{type(e).__name__}: {e}", file=sys.stderr)
        return 2

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    # The transformers' __init__ always evaluates get_encoded_dim(t5_name) (an eager default()),
    # which downloads google/t5-v1_1-base's config. Pre-seed the package's config cache with the
    # same d_model (768) so no network is needed; with has_condition=False it only sizes an
    # unused proj_text_embed Linear(768, dim) that never runs.
    from transformers import T5Config
    from audiolm_pytorch import t5 as peer_t5
    peer_t5.T5_CONFIGS.setdefault(peer_t5.DEFAULT_T5_NAME, {})["config"] = T5Config(d_model=768)
    peer.all_rows_have_eos_id = lambda *a, **k: False  # see the module docstring

    codec = peer.SoundStream.__new__(peer.SoundStream)  # placeholder; see the module docstring
    torch.nn.Module.__init__(codec)
    codec.rq_groups, codec.num_quantizers = 1, args.num_quantizers
    b, device, num_fine = args.batch, args.device, args.num_quantizers - args.num_coarse
    sem = torch.randint(0, args.semantic_vocab, (b, args.semantic_tokens), device=device)
    coarse = torch.randint(0, args.codebook, (b, args.frames, args.num_coarse), device=device)

    def build(stage, g):
        """The transformer, its wrapper, ``generate(fraction)`` (that fraction of the length) and the token count."""
        size = dict(dim=g["dim"], depth=g["depth"], heads=g["heads"])
        part = lambda n, fraction: max(1, round(n * fraction))  # noqa: E731
        if stage == "semantic":
            t = peer.SemanticTransformer(num_semantic_tokens=args.semantic_vocab, **size)
            w = peer.SemanticTransformerWrapper(transformer=t, unique_consecutive=False)
            return t, w, (lambda f=1.0: w.generate(max_length=part(args.semantic_tokens, f), batch_size=b)), \
                args.semantic_tokens
        if stage == "coarse":
            t = peer.CoarseTransformer(num_semantic_tokens=args.semantic_vocab, codebook_size=args.codebook,
                                       num_coarse_quantizers=args.num_coarse, **size)
            w = peer.CoarseTransformerWrapper(transformer=t, codec=codec, unique_consecutive=False)
            return t, w, (lambda f=1.0: w.generate(semantic_token_ids=sem[:, :part(args.semantic_tokens, f)],
                                                   max_time_steps=part(args.frames, f))), \
                args.frames * args.num_coarse
        t = peer.FineTransformer(num_coarse_quantizers=args.num_coarse, num_fine_quantizers=num_fine,
                                 codebook_size=args.codebook, **size)
        w = peer.FineTransformerWrapper(transformer=t, codec=codec)
        return t, w, (lambda f=1.0: w.generate(coarse_token_ids=coarse[:, :part(args.frames, f)])), \
            args.frames * num_fine

    report = {"package": f"audiolm-pytorch {peer_version}", "torch": torch.__version__,
              "threads": torch.get_num_threads(), "batch": b, "device": device, "stages": {}}
    for stage, g in geometry.items():
        transformer, wrapper, generate, tokens = build(stage, g)
        wrapper.to(device).eval()
        generate(args.warmup_fraction)  # warm-up: first-call costs, on a shorter run
        best = float("inf")
        for _ in range(args.repeats):
            out, wall = _timed(generate, device)
            best = min(best, wall)
        assert out.shape[0] == b and out.shape[1:].numel() == tokens, (stage, tuple(out.shape), tokens)
        report["stages"][stage] = {
            "dim": g["dim"], "depth": g["depth"], "heads": g["heads"], "tokens": tokens,
            "params_m": sum(p.numel() for p in transformer.parameters()) / 1e6, "wall_s": best,
            "tokens_per_s": tokens * b / best, "ms_per_token": 1000 * best / tokens}
        print(f"{stage}: {tokens} tokens in {best:.2f} s", file=sys.stderr)
    if device.startswith("cuda"):
        report["peak_memory_mb"] = torch.cuda.max_memory_allocated() / 2 ** 20
    else:
        import resource
        report["peak_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
