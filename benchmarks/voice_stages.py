"""Where a continuation loses the reader's voice, stage by stage, on the real held-out readers.

Speaker similarity (resemblyzer GE2E cosine to the reader's enrollment centroid; nearest = that centroid is
the closest of all readers') of 4 s of each reader's first test utterance:
  - the recording; its codec round trip with all Q levels and with the first Q' (coarse) levels only;
  - the true coarse levels with the fine stage's levels (the bundle's fine settings);
and of continuations of its first 3 s (up to 4 s more):
  - as shipped (the semantic stage generates the next semantic ids);
  - with the true next semantic ids (acoustic generation with the prompt as voice prompt), which tells
    the semantic stage's share from the coarse stage's;
  - the true ids with the coarse levels after the 3 s drawn frame by frame from the coarse stage given the true
    past (teacher forced; the bundle's coarse temperature and voice prior), rendered as a continuation is: the
    voice the stage's frames carry without a free-running continuation's drift. With their CE: across stages,
    how much of the voice a lower CE buys.
Then the coarse stage's teacher-forced CE (nats per level) of the next 3 s after a 3 s prefix of the same
reader (an enrollment utterance) or of another reader: how much the stage reads the voice of its prefix (the
window must hold 6 s).

    python benchmarks/voice_stages.py BUNDLE [--speakers 10] [--threads 2]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
sys.path.insert(0, str(Path(__file__).resolve().parent))
from coarse_ce import format_levels, per_level_ce, per_level_logits  # noqa: E402

from audiolm.data.heldout import default_heldout_dir  # noqa: E402
from audiolm.evaluation.similarity import SpeakerEmbedder, centroids, cosine, nearest  # noqa: E402
from audiolm.evaluation.voices import real_voices  # noqa: E402
from audiolm.pipeline import AudioLM, GenerationPlan  # noqa: E402
from audiolm.sampling import SampleGenerators  # noqa: E402


def prefixed_ce(model: AudioLM, prefix: np.ndarray, tokens: tuple[torch.Tensor, torch.Tensor]) -> np.ndarray:
    """The coarse stage's per-level CE of the coarse levels of ``tokens`` (``model.tokenize``'s semantic and
    acoustic ids) after ``prefix``'s (both with their own semantic ids as cond)."""
    Qc, (sem, ac) = model.config.num_coarse, tokens
    prefix_sem, prefix_ac = model.tokenize(model.aligned(prefix))
    cond = torch.cat([prefix_sem, sem], 1)[:, None]
    target = torch.cat([prefix_ac[:, :Qc], ac[:, :Qc]], 2)
    return per_level_ce(model.coarse_stage, cond, target, first_frame=prefix_ac.shape[2])


def teacher_forced_draws(model: AudioLM, clip: np.ndarray, prompt_frames: int,
                         seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``clip`` (aligned audio) with the coarse levels of its frames after ``prompt_frames`` drawn one frame and
    level at a time from the coarse stage given the true ids before them (the last window of the clip), at the
    bundle's coarse temperature with its voice prior on the first ``prompt_frames`` as reference; the fine levels
    stay true. Returns the audio after the prompt, rendered as a continuation's (``GenerationPlan.decode``),
    and the stage's per-level CE of the true ids of those frames."""
    stage, settings, Qc = model.coarse_stage, model.default_settings, model.config.num_coarse
    K, hop = stage.config.target_codebook, model.codec.hop_length
    semantic, ids = model.tokenize(clip)
    total = ids.shape[2]
    lo = total - min(total, stage.config.window_frames) // 2 * 2
    if prompt_frames < lo:
        raise ValueError(f"the frames after the prompt ({total - prompt_frames}) must fit the coarse window "
                         f"after some of the prompt ({total - lo} frames)")
    logits = per_level_logits(stage, semantic[:, None, lo // 2:total // 2], ids[:, :Qc, lo:])  # (T, Qc, K)
    logits = logits[prompt_frames - lo:]  # the frames to draw: those after the prompt
    true = ids[0, :Qc, prompt_frames:].T
    ce = F.cross_entropy(logits.reshape(-1, K), true.reshape(-1), reduction="none").view(-1, Qc).mean(0)
    plan = GenerationPlan(semantic[:, None, :prompt_frames // 2], ids[:, :, :prompt_frames], total, None,
                          prompt_samples=prompt_frames * hop, reference=clip[:prompt_frames * hop])
    bias, _ = plan.biases(model, semantic[:, None], settings)
    if bias is not None:
        logits = logits + torch.stack([bias.logits(q, prompt_frames, total, K)[0] for q in range(Qc)], 1)
    probs = F.softmax(logits.reshape(-1, K) / settings.coarse.temperature, -1)
    draws = torch.multinomial(probs, 1, generator=torch.Generator().manual_seed(seed)).view(-1, Qc)
    out = ids.clone()
    out[0, :Qc, prompt_frames:] = draws.T
    return plan.decode(model, out, settings)[0, plan.prompt_samples:], ce.numpy()


@torch.inference_mode()
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("bundle")
    p.add_argument("--speakers", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    model = AudioLM.from_pretrained(a.bundle)
    sr, Qc = model.config.sample_rate, model.config.num_coarse
    real = real_voices(default_heldout_dir(), sr, a.speakers)
    judge = SpeakerEmbedder(sr)
    centre = centroids({s: judge.embed_all(real.enroll[s]) for s in real.speakers})
    rows: dict[str, list[tuple[float, bool]]] = {}
    ce_same, ce_other, ce_drawn = [], [], []

    def add(name: str, speaker: str, wav: np.ndarray) -> None:
        e = judge.embed(wav)
        rows.setdefault(name, []).append((cosine(e, centre[speaker]), nearest(e, centre) == speaker))

    speakers = real.speakers
    for i, s in enumerate(speakers):
        utterance = real.test[s][0]
        wav = model.aligned(utterance[:4 * sr])
        _, ac = model.tokenize(wav)
        add("recording", s, wav)
        add(f"codec, all {ac.shape[1]} levels", s, model.codec.decode(ac)[0].numpy())
        add(f"codec, first {Qc} levels", s, model.codec.decode(ac[:, :Qc])[0].numpy())
        fine = model.fine_stage.generate(ac[:, :Qc], ac[:, Qc:, :0], ac.shape[2], model.default_settings.fine,
                                         SampleGenerators(i, 1))
        add("true coarse levels + fine stage", s, model.codec.decode(torch.cat([ac[:, :Qc], fine], 1))[0].numpy())
        prompt = model.aligned(utterance[:3 * sr])
        after = utterance[len(prompt):7 * sr]
        if len(after) < 2 * sr:  # too short a rest to judge
            continue
        shipped = model.continuation(prompt, len(after) / sr, seed=i)
        add("continuation (generated semantic ids)", s, shipped.audio[0][shipped.prompt_samples:])
        add("continuation from the true semantic ids", s, model.acoustic_generation(after, voice=prompt, seed=i).audio[0])
        drawn, ce = teacher_forced_draws(model, model.aligned(utterance[:len(prompt) + len(after)]),
                                         len(prompt) // model.codec.hop_length, seed=i)
        add("true past, coarse levels drawn frame by frame (teacher forced)", s, drawn)
        ce_drawn.append(ce)
        # 3 s after a 3 s prefix: the 6 s that fit the speech bundle's coarse window
        next_tokens = model.tokenize(model.aligned(after[:3 * sr]))
        ce_same.append(prefixed_ce(model, real.enroll[s][0][:3 * sr], next_tokens))
        ce_other.append(prefixed_ce(model, real.enroll[speakers[(i + 1) % len(speakers)]][0][:3 * sr], next_tokens))
    print(f"{a.bundle}: speaker similarity on {len(speakers)} real held-out readers (test-other)")
    print("| 4 s of | readers | SIM | reader nearest |\n|---|---|---|---|")
    for name, values in rows.items():
        v = np.array(values, dtype=float)
        print(f"| {name} | {len(v)} | {v[:, 0].mean():.3f} | {100 * v[:, 1].mean():.0f} % |")
    print(f"coarse stage, CE per level of the frames drawn teacher forced: {format_levels(ce_drawn)} "
          f"(mean {np.mean(ce_drawn):.3f})")
    print(f"coarse stage, teacher-forced CE per level of the next seconds ({len(ce_same)} readers): after the same "
          f"reader's 3 s {format_levels(ce_same)} (mean {np.mean(ce_same):.3f}); after another reader's "
          f"{format_levels(ce_other)} "
          f"(mean {np.mean(ce_other):.3f}); chance {np.log(model.coarse_stage.config.target_codebook):.2f}")


if __name__ == "__main__":
    main()
