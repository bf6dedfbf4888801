"""A voice prior for the acoustic stages: pull the output's codec ids toward a reference recording's.

The coarse stage is meant to carry the voice of its acoustic prefix (the prompt) across the output, as
AudioLM's does; at our sizes it mostly does not (real readers' voices are lost: ``benchmarks/sampling_sweep.py --voice-prior``).
This prior is an inference-time help in the spirit of kNN-VC (Baas et al., 2023): for each output frame,
the ``k`` reference frames whose semantic-encoder features lie nearest to the centroid of that frame's
semantic id, i.e. frames of the reference that say about the same thing; their codec ids at every level get
``weight`` added to the logits. The stages still choose: what they find unlikely stays unlikely, and the
content still comes from the semantic ids. ``weight`` 0 is off; a very large weight draws every code from
those frames (copying the nearest frame outright, kNN-VC with k = 1, kept the voice and lost most of the
content with 3 s of reference: ``benchmarks/results/speech-mixed-progress.json``).
"""
from __future__ import annotations

import torch

from .sampling import TokenBias

NEIGHBOURS = 4  # reference frames per output frame (kNN-VC's k)


def voice_bias(centroids: torch.Tensor, reference_features: torch.Tensor, reference_ids: torch.Tensor,
               semantic_ids: torch.Tensor, frames: int, weight: float, neighbours: int = NEIGHBOURS) -> TokenBias:
    """The prior over ``frames`` output frames of every codec level.

    ``centroids (V, d)``: the semantic tokenizer's; ``reference_features (Tr, d)``: the reference's encoder
    features at the semantic rate; ``reference_ids (Q, P)``: its codec ids, ``P`` a whole multiple of ``Tr``'s
    frames (codec frames per semantic frame); ``semantic_ids (N, Ts)``: the output's, one per semantic frame.
    Returns ``TokenBias`` with tokens ``(N, Q, frames, k)``."""
    per, left = divmod(reference_ids.shape[1], reference_features.shape[0])
    if reference_features.shape[0] == 0 or left:
        raise ValueError(f"reference: {reference_ids.shape[1]} codec frames for {reference_features.shape[0]} "
                         "semantic frames; cut it to whole alignment units first")
    k = min(neighbours, reference_features.shape[0])
    distances = torch.cdist(centroids.float()[semantic_ids], reference_features.float()[None])  # (N, Ts, Tr)
    nearest = distances.topk(k, largest=False).indices  # (N, Ts, k)
    t = torch.arange(frames, device=nearest.device)
    semantic_frame = (t // per).clamp(max=semantic_ids.shape[1] - 1)
    codec_frames = nearest[:, semantic_frame] * per + (t % per)[None, :, None]  # (N, frames, k)
    return TokenBias(reference_ids[:, codec_frames].permute(1, 0, 2, 3), float(weight))
