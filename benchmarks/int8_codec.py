"""Does int8 storage cost codec quality? The piano codec's float32 training export against the
int8 bundle: multi-resolution mel distance and STOI at Q levels on 16 held-out pieces (first 10 s).

Run from the repo root after ``python -m audiolm train all --recipe piano``:
``python benchmarks/int8_codec.py``.
"""
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audiolm.codec import NeuralCodec  # noqa: E402
from audiolm.data.piano_corpus import PianoCorpus  # noqa: E402
from audiolm.evaluation.metrics import mel_distance, stoi  # noqa: E402


def main():
    torch.set_num_threads(2)
    corpus = PianoCorpus("data/piano")
    waves = [corpus.audio(r)[:160000] for r in corpus.split("heldout")[:16]]
    for name, folder in (("float32 (runs/piano)", "runs/piano/codec/model"), ("int8 (checkpoints/piano)",
                                                                              "checkpoints/piano/codec")):
        codec = NeuralCodec.from_folder(folder)
        scores = []
        with torch.inference_mode():
            for wav in waves:
                y = codec.decode(codec.encode(torch.from_numpy(wav)[None]))[0].numpy()[:len(wav)]
                scores.append((mel_distance(wav, y), stoi(wav, y)))
        print(f"{name}: mel distance {np.mean(scores, 0)[0]:.4f}, STOI {np.mean(scores, 0)[1]:.4f}")


if __name__ == "__main__":
    main()
