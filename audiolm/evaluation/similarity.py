"""Speaker similarity with an independent pretrained encoder: resemblyzer's GE2E voice encoder
(its weights ship inside the wheel, so it runs offline). SIM is the cosine of utterance embeddings.

Nobody here trained this judge, so it measures voices the way a listener's ear does rather than
the way our own models see them.
"""
from __future__ import annotations

import numpy as np


class SpeakerEmbedder:
    """Unit-norm utterance embeddings; ``SpeakerEmbedder.unavailable()`` says why it cannot run."""
    install_hint = "skipped: install resemblyzer (pip install -r requirements-test.txt)"

    def __init__(self, sample_rate: int = 16000):
        from resemblyzer import VoiceEncoder
        self.sample_rate = sample_rate
        self.encoder = VoiceEncoder("cpu", verbose=False)

    @classmethod
    def unavailable(cls) -> str | None:
        try:
            import resemblyzer  # noqa: F401
        except ImportError:
            return cls.install_hint
        return None

    def embed(self, wav: np.ndarray) -> np.ndarray:
        from resemblyzer import preprocess_wav
        x = preprocess_wav(np.asarray(wav, np.float32), source_sr=self.sample_rate)
        if len(x) < self.sample_rate // 4:  # VAD left almost nothing (silence): embed the raw clip
            x = np.asarray(wav, np.float32)
        return self.encoder.embed_utterance(x)

    def embed_all(self, waves: list[np.ndarray]) -> np.ndarray:
        return np.stack([self.embed(w) for w in waves]) if waves else np.zeros((0, 256), np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def centroids(embeddings: dict) -> dict:
    """Speaker -> unit-norm mean of that speaker's utterance embeddings."""
    out = {}
    for speaker, e in embeddings.items():
        mean = np.mean(e, axis=0)
        out[speaker] = mean / (np.linalg.norm(mean) + 1e-12)
    return out


def nearest(embedding: np.ndarray, speaker_centroids: dict):
    """The speaker whose centroid is most similar to ``embedding``."""
    return max(speaker_centroids, key=lambda s: cosine(embedding, speaker_centroids[s]))


def _mean(values) -> float | None:
    return float(np.mean(values)) if len(values) else None


class SpeakerSimilarity:
    """SIM figures against enrollment centroids (a no-op when the embedder is missing): per key, one row per
    ``add`` (``rows``), and their means (``figures``)."""

    def __init__(self, embedder, enroll: dict):
        self.embedder = embedder
        self.centroids = centroids({s: embedder.embed_all(w) for s, w in enroll.items()}) if embedder else {}
        self.rows: dict[str, list] = {}

    def add(self, wav: np.ndarray, sim: dict, is_nearest: dict | None = None, mean_other: tuple | None = None):
        """Embed ``wav`` once and record: for each ``sim`` key its SIM to that speaker's centroid; for
        each ``is_nearest`` key whether that speaker's centroid is the nearest; for ``mean_other``
        (key, speaker) the mean SIM to every *other* speaker's centroid."""
        if not self.embedder:
            return
        e = self.embedder.embed(wav)
        for key, speaker in sim.items():
            self.rows.setdefault(key, []).append(cosine(e, self.centroids[speaker]))
        for key, speaker in (is_nearest or {}).items():
            self.rows.setdefault(key, []).append(nearest(e, self.centroids) == speaker)
        if mean_other:
            key, speaker = mean_other
            self.rows.setdefault(key, []).append(np.mean([cosine(e, c) for s, c in self.centroids.items()
                                                          if s != speaker]))

    def figures(self, *keys) -> dict:
        return {k: _mean(self.rows.get(k, [])) for k in keys}
