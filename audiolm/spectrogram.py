"""A log-mel spectrogram picture (numpy RGB) with the prompt / continuation boundary marked."""
from __future__ import annotations

import librosa
import numpy as np

# a few anchors of the viridis colour map, interpolated: no plotting library needed
_ANCHORS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float32)


def colorize(values: np.ndarray) -> np.ndarray:
    """``values`` in [0, 1] -> uint8 RGB via the viridis anchors."""
    position = np.clip(values, 0, 1) * (len(_ANCHORS) - 1)
    low = np.floor(position).astype(int).clip(0, len(_ANCHORS) - 2)
    frac = (position - low)[..., None]
    return (_ANCHORS[low] * (1 - frac) + _ANCHORS[low + 1] * frac).astype(np.uint8)


def spectrogram_image(audio: np.ndarray, sample_rate: int, boundary_samples: int = 0, height: int = 160,
                      hop_length: int = 160) -> np.ndarray:
    """``audio (samples,)`` -> ``(height, frames, 3)`` uint8, low frequencies at the bottom; a white
    line at ``boundary_samples`` (when > 0) separates the prompt from what was generated."""
    mel = librosa.feature.melspectrogram(y=np.asarray(audio, dtype=np.float32), sr=sample_rate, n_fft=1024,
                                         hop_length=hop_length, n_mels=height)
    db = librosa.power_to_db(mel, ref=np.max(mel) if mel.max() > 0 else 1.0, top_db=80.0)
    image = colorize((db + 80.0) / 80.0)[::-1].copy()
    if boundary_samples > 0:
        column = min(boundary_samples // hop_length, image.shape[1] - 1)
        image[:, max(column - 1, 0):column + 1] = 255
    return image
