"""Teacher-forced cross-entropy of a bundle's coarse stage, per codec level, on the real held-out
readers (nats; chance is ln K, 6.93 for 1024 codes): how well the stage predicts real speech's
acoustic tokens given the true semantic ids and the true past, without sampling.

    python benchmarks/coarse_ce.py BUNDLE [BUNDLE ...] [--speakers 10] [--seconds 3]

One window per reader (its first test utterance, the first ``--seconds``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from audiolm.data.heldout import default_heldout_dir  # noqa: E402
from audiolm.evaluation.voices import real_voices  # noqa: E402
from audiolm.pipeline import AudioLM  # noqa: E402


def per_level_ce(stage, cond: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    """``(L,)`` mean cross-entropy of each target level (flat or delay layout)."""
    L, K = target.shape[1], stage.config.target_codebook
    if stage.layout == "delay":
        logits, D = stage(cond, target), stage.delayed(target)
        ce = F.cross_entropy(logits.reshape(-1, K), D.transpose(1, 2).reshape(-1), ignore_index=stage.config.pad,
                             reduction="none").reshape(D.shape[2], L)
        valid = (D[0] != stage.config.pad).T
        return np.array([float(ce[:, k][valid[:, k]].mean()) for k in range(L)])
    T = target.shape[2]
    logits = stage.lm(stage.flatten(cond, target)[:, :-1])[:, -L * T:].reshape(1, T, L, -1)
    per = torch.stack([logits[:, :, i, o:o + K] for i, o in enumerate(stage.target_offsets.tolist())], 2)
    return F.cross_entropy(per.reshape(-1, K), target.transpose(1, 2).reshape(-1),
                           reduction="none").reshape(T, L).mean(0).numpy()


@torch.inference_mode()
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("bundles", nargs="+")
    p.add_argument("--speakers", type=int, default=10)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    real = real_voices(default_heldout_dir(), 16000, a.speakers)
    for bundle in a.bundles:
        model = AudioLM.from_pretrained(bundle)
        stage, frames = model.coarse_stage, round(a.seconds * model.config.acoustic_rate) // 2 * 2
        rows = []
        for speaker in real.speakers:
            semantic, acoustic = model.tokenize(model.aligned(real.test[speaker][0]))
            frames_here = min(frames, acoustic.shape[2], stage.config.window_frames) // 2 * 2
            rows.append(per_level_ce(stage, semantic[:, None, :frames_here // 2],
                                     acoustic[:, :model.config.num_coarse, :frames_here]))
        ce = np.mean(rows, 0)
        print(f"{bundle} ({stage.layout}): per-level CE {' / '.join(f'{c:.2f}' for c in ce)} nats "
              f"(chance {np.log(stage.config.target_codebook):.2f}), {len(rows)} readers × {frames_here} frames")


if __name__ == "__main__":
    main()
