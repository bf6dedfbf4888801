"""Teacher-forced cross-entropy of a bundle's coarse stage, per codec level, on the real held-out
readers (nats; chance is ln K, 6.93 for 1024 codes): how well the stage predicts real speech's
acoustic tokens given the true semantic ids and the true past, without sampling; and the same with
another reader's semantic ids (how much the stage reads its cond).

    python benchmarks/coarse_ce.py BUNDLE [BUNDLE ...] [--speakers 10] [--seconds 3]
        [--training-readers ../shared/data/speech/librispeech/train-clean]

One window per reader (its first test utterance, the first ``--seconds``). With ``--training-readers DIR`` the
same CE on as many recordings of readers the stage trained on (the first ones of DIR as long as the held-out
windows): a stage that memorised its training voices predicts them better than the held-out readers; one at the
floor of what its inputs tell it predicts both alike.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from audiolm.audio import load_audio  # noqa: E402
from audiolm.data.heldout import default_heldout_dir  # noqa: E402
from audiolm.data.shared_data import audio_files  # noqa: E402
from audiolm.evaluation.voices import real_voices  # noqa: E402
from audiolm.pipeline import AudioLM  # noqa: E402


def per_level_ce(stage, cond: torch.Tensor, target: torch.Tensor, first_frame: int = 0) -> np.ndarray:
    """``(L,)`` mean cross-entropy of each target level (flat, interleaved or delay layout), over the target
    frames from ``first_frame`` on (the ones before are context: a prefix)."""
    L, K = target.shape[1], stage.config.target_codebook
    if stage.layout == "delay":
        if first_frame:
            raise ValueError("first_frame needs a flat or interleaved stage")
        logits, D = stage(cond, target), stage.delayed(target)
        ce = F.cross_entropy(logits.reshape(-1, K), D.transpose(1, 2).reshape(-1), ignore_index=stage.config.pad,
                             reduction="none").reshape(D.shape[2], L)
        valid = (D[0] != stage.config.pad).T
        return np.array([float(ce[:, k][valid[:, k]].mean()) for k in range(L)])
    T, per = target.shape[2], per_level_logits(stage, cond, target)
    return F.cross_entropy(per.reshape(-1, K), target[0].T.reshape(-1),
                           reduction="none").reshape(T, L)[first_frame:].mean(0).numpy()


def per_level_logits(stage, cond: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """A flat or interleaved stage's teacher-forced logits ``(T, L, K)`` of each target frame and level of one
    window (``cond`` ``(1, 1, T / 2)``, ``target`` ``(1, L, T)``): each given the true ids before it."""
    K, ids = stage.config.target_codebook, stage.flatten(cond, target)
    logits = stage.lm(ids[:, :-1])[:, stage.loss_positions(cond, ids, target.shape[2]) - 1]  # p predicts p + 1
    return torch.stack([logits[0, :, i, o:o + K] for i, o in enumerate(stage.target_offsets.tolist())], 1)


def format_levels(ce: list[np.ndarray]) -> str:
    """Per-level CE rows ``(L,)`` averaged over readers, as ``a / b / c / d``."""
    return " / ".join(f"{c:.2f}" for c in np.mean(ce, 0))


@torch.inference_mode()
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("bundles", nargs="+")
    p.add_argument("--speakers", type=int, default=10)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--training-readers", type=Path, default=None,
                   help="a folder of recordings of readers the stage trained on, one file each")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    real = real_voices(default_heldout_dir(), 16000, a.speakers)
    for bundle in a.bundles:
        model = AudioLM.from_pretrained(bundle)
        stage, frames = model.coarse_stage, round(a.seconds * model.config.acoustic_rate) // 2 * 2
        clips = [model.tokenize(model.aligned(real.test[speaker][0])) for speaker in real.speakers]
        frames = min([frames, stage.config.window_frames] + [a.shape[2] for _, a in clips]) // 2 * 2
        rows, other_rows = [], []
        for i, (semantic, acoustic) in enumerate(clips):
            cond, target = window(model, semantic, acoustic, frames)
            rows.append(per_level_ce(stage, cond, target))
            # the next reader's semantic ids under this reader's acoustic tokens: a stage that reads its cond
            # predicts worse with them; one that follows only the acoustic history does not notice
            other = clips[(i + 1) % len(clips)][0]
            other_rows.append(per_level_ce(stage, window(model, other, acoustic, frames)[0], target))
        print(f"{bundle} ({stage.layout}): per-level CE {format_levels(rows)} nats with its own semantic ids, "
              f"{format_levels(other_rows)} with another reader's (chance {np.log(stage.config.target_codebook):.2f}), "
              f"{len(rows)} readers × {frames} frames")
        if a.training_readers:
            seen_rows = [per_level_ce(stage, *window(model, semantic, acoustic, frames))
                         for semantic, acoustic in training_clips(model, a.training_readers, len(rows), frames)]
            print(f"  training readers ({a.training_readers}): per-level CE {format_levels(seen_rows)} nats, "
                  f"{len(seen_rows)} readers × {frames} frames")


def window(model: AudioLM, semantic: torch.Tensor, acoustic: torch.Tensor, frames: int):
    """A clip's first ``frames`` coarse frames and the semantic ids under them: the stage's ``(cond, target)``."""
    return semantic[:, None, :frames // 2], acoustic[:, :model.config.num_coarse, :frames]


def training_clips(model: AudioLM, folder: Path, count: int, frames: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Tokens of the first ``count`` recordings in ``folder`` with at least ``frames`` acoustic frames."""
    clips = []
    for path in audio_files(folder):
        semantic, acoustic = model.tokenize(model.aligned(load_audio(path, model.config.sample_rate)))
        if acoustic.shape[2] >= frames:
            clips.append((semantic, acoustic))
        if len(clips) == count:
            return clips
    raise SystemExit(f"{folder}: fewer than {count} recordings of {frames} frames or more")


if __name__ == "__main__":
    main()
