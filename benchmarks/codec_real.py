"""Codec round trips on the real held-out readers, beside Opus: the codec's own figure without a
whole evaluation (the same clips as ``python -m audiolm eval``'s real codec table).

    python benchmarks/codec_real.py CODEC_FOLDER [CODEC_FOLDER ...] [--clips-per-speaker 4] [--opus]

A codec folder is a bundle's ``codec/`` or a training run's ``codec/model``. Prints PESQ-WB, STOI
and mel distance at Q levels (and Q' with ``--levels``), one row per codec, and Opus at 6 and 8
kbps with ``--opus``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from audiolm.codec import load_codec  # noqa: E402
from audiolm.data.heldout import default_heldout_dir  # noqa: E402
from audiolm.evaluation.anchors import Opus, RoundTrip, side_by_side  # noqa: E402
from audiolm.evaluation.speech import SpeechEvalConfig  # noqa: E402
from audiolm.evaluation.voices import real_voices  # noqa: E402


class CodecOnly(RoundTrip):
    """A codec folder's round trip at ``levels`` levels (no bundle needed)."""

    def __init__(self, folder: str, levels: int | None):
        self.codec = load_codec(folder).eval()
        self.levels = levels
        self.name = f"{folder} @ {levels or 'Q'}"
        self.kbps = 0.0

    @torch.inference_mode()
    def __call__(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        x = torch.from_numpy(wav)[None]
        ids = self.codec.encode(x)
        if self.levels:
            ids = ids[:, :self.levels]
        return self.codec.decode(ids)[0].numpy()[: len(wav)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("codecs", nargs="+")
    p.add_argument("--real-voices", default=None, help="SPEAKER/*.flac (default: LibriSpeech test-other)")
    p.add_argument("--clips-per-speaker", type=int, default=SpeechEvalConfig().codec_utterances)
    p.add_argument("--levels", type=int, default=None)
    p.add_argument("--opus", action="store_true")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    real = real_voices(a.real_voices or default_heldout_dir(), 16000, SpeechEvalConfig().real_speakers)
    waves = [w for s in real.speakers for w in real.test[s][:a.clips_per_speaker]]
    codecs = [CodecOnly(c, a.levels) for c in a.codecs] + ([Opus(6.0), Opus(8.0)] if a.opus else [])
    rows = side_by_side(codecs, waves, 16000)
    for row in rows:
        print(f"{row['codec']}: PESQ-WB {row.get('pesq_wb', float('nan')):.3f}  STOI {row.get('stoi', float('nan')):.3f}"
              f"  mel {row.get('mel_distance', float('nan')):.3f}  ({len(waves)} clips)")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
