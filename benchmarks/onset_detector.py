"""Which onset detector follows the score? Detected onsets per second against the MIDI's note-on
rate on held-out corpus pieces (2-12 s of each): librosa's default spectral flux and SuperFlux
(``audiolm.evaluation.music.onset_rate``). Prints the mean ratio and the correlation.

Run from the repo root after ``python -m audiolm train corpus --recipe piano``:
``python benchmarks/onset_detector.py``.
"""
import sys
from pathlib import Path

import librosa
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audiolm.data.piano_corpus import PianoCorpus  # noqa: E402
from audiolm.evaluation.music import onset_rate  # noqa: E402


def main(pieces: int = 24, start: float = 2.0, stop: float = 12.0):
    corpus = PianoCorpus("data/piano")
    sr = corpus.config.sample_rate
    rows = []
    for record in corpus.split("heldout")[:pieces]:
        wav = corpus.audio(record)[int(start * sr):int(stop * sr)]
        score = len([t for t in record["onsets"] if start <= t < stop]) / (stop - start)
        flux = len(librosa.onset.onset_detect(y=wav, sr=sr, units="time")) / (stop - start)
        rows.append((score, flux, onset_rate(wav, sr)))
    rows = np.array(rows)
    for column, name in ((1, "spectral flux (librosa default)"), (2, "SuperFlux (onset_rate)")):
        print(f"{name}: {np.mean(rows[:, column] / rows[:, 0]):.2f}x the score's rate, "
              f"correlation {np.corrcoef(rows[:, 0], rows[:, column])[0, 1]:.2f} ({len(rows)} pieces)")


if __name__ == "__main__":
    main()
