"""A speaker classifier independent of the models under test: MFCC and pitch statistics of the
voiced frames, standardised, into a logistic regression (scikit-learn)."""
from __future__ import annotations

import librosa
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def speaker_features(wav: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    mfcc = librosa.feature.mfcc(y=wav, sr=sample_rate, n_mfcc=20, n_fft=512, hop_length=160)
    energy = librosa.feature.rms(y=wav, frame_length=512, hop_length=160)[0][:mfcc.shape[1]]
    voiced = energy > energy.max() * 0.05 if energy.max() > 0 else np.ones_like(energy, bool)
    m = mfcc[:, voiced] if voiced.sum() > 5 else mfcc
    delta = librosa.feature.delta(m) if m.shape[1] >= 9 else np.zeros_like(m)
    f0 = librosa.yin(wav, fmin=50, fmax=500, sr=sample_rate, frame_length=1024, hop_length=160)[:len(energy)]
    f0 = np.log(f0[voiced[:len(f0)]] if voiced[:len(f0)].sum() > 5 else f0)
    return np.concatenate([m.mean(1), m.std(1), delta.std(1), [f0.mean(), f0.std(), np.median(f0)]])


class SpeakerClassifier:
    def __init__(self, sample_rate: int = 16000):
        self.sample_rate = sample_rate
        self.model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, C=1.0))

    def features(self, waves: list[np.ndarray]) -> np.ndarray:
        return np.stack([speaker_features(np.asarray(w, np.float32), self.sample_rate) for w in waves])

    def fit(self, waves: list[np.ndarray], speakers: list[int]) -> "SpeakerClassifier":
        self.model.fit(self.features(waves), speakers)
        return self

    def predict(self, waves: list[np.ndarray]) -> np.ndarray:
        return self.model.predict(self.features(waves))

    def accuracy(self, waves: list[np.ndarray], speakers: list[int]) -> float:
        return float((self.predict(waves) == np.asarray(speakers)).mean())
