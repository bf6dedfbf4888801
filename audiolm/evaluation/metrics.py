"""Metric wrappers: PESQ-WB and STOI from their packages, mel distance, phone purity / PNMI."""
from __future__ import annotations

import librosa
import numpy as np
from sklearn.metrics import mutual_info_score


def pesq_wb(reference: np.ndarray, degraded: np.ndarray, sample_rate: int = 16000) -> float:
    from pesq import pesq
    n = min(len(reference), len(degraded))
    return float(pesq(sample_rate, reference[:n], degraded[:n], "wb"))


def stoi(reference: np.ndarray, degraded: np.ndarray, sample_rate: int = 16000) -> float:
    from pystoi import stoi as _stoi
    n = min(len(reference), len(degraded))
    return float(_stoi(reference[:n], degraded[:n], sample_rate, extended=False))


def mel_distance(reference: np.ndarray, degraded: np.ndarray, sample_rate: int = 16000) -> float:
    """Mean absolute log-mel difference (80 mels, 64 ms windows), in nats."""
    n = min(len(reference), len(degraded))
    mel = lambda x: np.log(librosa.feature.melspectrogram(y=x[:n], sr=sample_rate, n_fft=1024, hop_length=256,  # noqa: E731
                                                          n_mels=80) + 1e-5)
    return float(np.abs(mel(reference) - mel(degraded)).mean())


def phone_purity(phones: list[str], clusters: np.ndarray) -> float:
    """Fraction of frames whose phone is the most frequent phone of their cluster."""
    phones = np.asarray(phones)
    total = 0
    for k in np.unique(clusters):
        _, counts = np.unique(phones[clusters == k], return_counts=True)
        total += counts.max()
    return total / len(phones)


def pnmi(phones: list[str], clusters: np.ndarray) -> float:
    """Phone-normalised mutual information I(phone; cluster) / H(phone) (HuBERT's measure)."""
    _, counts = np.unique(np.asarray(phones), return_counts=True)
    p = counts / counts.sum()
    entropy = float(-(p * np.log(p)).sum())
    return mutual_info_score(phones, clusters) / entropy if entropy > 0 else 0.0


def chance_agreement(ids: np.ndarray) -> float:
    """Agreement of two independent draws from the ids' marginal distribution: sum p_k^2."""
    _, counts = np.unique(ids, return_counts=True)
    p = counts / counts.sum()
    return float((p ** 2).sum())
