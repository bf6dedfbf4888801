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

``FineByExample`` goes one step further for the fine levels, where the fine stage can only guess (its loss is
0.8 nats under chance: the fine levels are mostly unpredictable from the coarse ones, and they are where much of
a voice's detail is): each output frame's fine levels encode the mean fine residual of the ``k`` reference
frames nearest to it in coarse latent, kNN-VC's regression on the codec's own latent. The coarse levels, and
with them the content, stay the coarse stage's.
"""
from __future__ import annotations

from typing import Callable

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


def fine_by_example(codec, coarse: torch.Tensor, reference_ids: torch.Tensor,
                    neighbours: int = NEIGHBOURS) -> torch.Tensor:
    """Fine ids ``(N, Q - Q', T)`` for coarse ids ``(N, Q', T)``: per frame, what the codec's fine levels make of
    the mean fine residual (the latent of all levels minus that of the first ``Q'``) of the ``neighbours``
    frames of ``reference_ids (Q, P)`` nearest in coarse latent. ``codec`` needs a residual latent."""
    return FineByExample(codec, reference_ids, coarse.shape[1], neighbours).fine(coarse)


class FineByExample:
    """Stands in for the fine stage where there is a voice reference (its ``generate`` / ``stream``): the fine
    levels of the frames after the known prefix come from ``fine_by_example``, window by window as the
    coarse frames become known. It draws no random numbers."""

    def __init__(self, codec, reference_ids: torch.Tensor, coarse_levels: int, neighbours: int = NEIGHBOURS,
                 window_frames: int = 50):
        if reference_ids.shape[1] == 0:
            raise ValueError("FineByExample needs a reference with at least one frame")
        self.codec, self.coarse_levels, self.fine_levels = codec, coarse_levels, reference_ids.shape[0] - coarse_levels
        self.neighbours, self.window_frames = min(neighbours, reference_ids.shape[1]), window_frames
        # the reference's latents, once: its coarse levels' (the search keys) and what its fine levels add
        self.reference_coarse = codec.latent(reference_ids[None, :coarse_levels])[0].T  # (P, d)
        self.reference_fine = codec.latent(reference_ids[None])[0].T - self.reference_coarse  # (P, d)

    @torch.inference_mode()
    def fine(self, coarse: torch.Tensor) -> torch.Tensor:
        """Fine ids ``(N, Q - Q', T)`` for coarse ids ``(N, Q', T)`` (``fine_by_example``)."""
        out = self.codec.latent(coarse).transpose(1, 2)  # (N, T, d)
        nearest = torch.cdist(out, self.reference_coarse[None]).topk(self.neighbours, largest=False).indices
        return self.codec.quantize_residual(self.reference_fine[nearest].mean(2).transpose(1, 2), self.coarse_levels)

    def generate(self, cond: torch.Tensor, prefix: torch.Tensor, total_frames: int, sampling=None, generator=None,
                 progress=None, bias=None) -> torch.Tensor:
        for _, fine in self.stream(cond, prefix, total_frames, progress=progress):
            pass
        return fine

    @torch.inference_mode()
    def stream(self, cond: torch.Tensor, prefix: torch.Tensor, total_frames: int, sampling=None, generator=None,
               progress=None, cond_ready: Callable[[int], None] | None = None, bias=None):
        """Yields ``(known, fine)`` at the start and after every window, as ``Stage.stream``; ``cond_ready(end)``
        is called before the coarse frames ``< end`` of ``cond (B, Q', T)`` are read."""
        known = prefix.shape[2]
        fine = torch.zeros(cond.shape[0], self.fine_levels, total_frames, dtype=torch.long, device=cond.device)
        fine[:, :, :known] = prefix[:, :, :total_frames]
        yield known, fine
        starts = range(known, total_frames, self.window_frames)
        for i, start in enumerate(starts):
            end = min(total_frames, start + self.window_frames)
            if cond_ready is not None:
                cond_ready(end)
            fine[:, :, start:end] = self.fine(cond[:, :, start:end])
            if progress is not None:
                progress(i + 1, len(starts))
            yield end, fine
