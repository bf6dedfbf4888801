"""Reverberation: simulated shoebox rooms (pyroomacoustics) and measured impulse responses."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyroomacoustics as pra
import soundfile as sf
import soxr
from scipy.signal import fftconvolve

from ..shared_data import audio_files, shared_data_path
from .base import Augmentation, fit_length, power


@dataclass
class RoomConfig:
    measured_share: float = 0.2  # share of draws that use a measured response (when rir_dir has any)
    rir_dir: str = ""  # measured responses, any rate; "" = ../shared/data/rir where present
    rt60: tuple[float, float] = (0.15, 0.8)  # target reverberation time of simulated rooms (s)
    size_min: tuple[float, float, float] = (2.5, 2.5, 2.2)  # room dimensions (m)
    size_max: tuple[float, float, float] = (12.0, 9.0, 4.0)
    max_order: int = 60  # image-source order cap (cost)
    max_seconds: float = 1.5  # responses are cut (with a fade) to this length
    margin: float = 0.4  # source and microphone keep this far from the walls (m)


@dataclass(frozen=True)
class RoomParams:
    measured: str  # file name of a measured response, "" for a simulated room
    size: tuple[float, ...] = ()
    rt60: float = 0.0
    source: tuple[float, ...] = ()
    microphone: tuple[float, ...] = ()


def shortest_rt60(size) -> float:
    """The shortest reverberation time Sabine's formula allows in a shoebox of this size (walls that
    absorb everything), with a 10 % margin: ``pra.inverse_sabine`` refuses anything shorter."""
    x, y, z = size
    volume, surface = x * y * z, 2 * (x * y + y * z + x * z)
    return 1.1 * 24 * np.log(10) / pra.constants.get("c") * volume / surface


class Room(Augmentation):
    """The recording as heard in a room, at the same RMS level as the input."""
    name = "room"
    config_class = RoomConfig

    def __init__(self, config=None):
        super().__init__(config)
        folder = Path(self.config.rir_dir) if self.config.rir_dir else shared_data_path("rir")
        self.measured = {p.name: p for p in audio_files(folder)} if folder is not None and folder.is_dir() else {}
        self._responses: dict[tuple[RoomParams, int], np.ndarray] = {}  # the last few, per instance

    def sample(self, rng: np.random.Generator) -> RoomParams:
        c = self.config
        if self.measured and rng.random() < c.measured_share:
            return RoomParams(str(rng.choice(sorted(self.measured))))
        size = rng.uniform(c.size_min, c.size_max)
        source, microphone = (rng.uniform(c.margin, size - c.margin) for _ in range(2))
        rt60 = max(float(rng.uniform(*c.rt60)), shortest_rt60(size))
        return RoomParams("", tuple(np.round(size, 3).tolist()), round(rt60, 3),
                          tuple(np.round(source, 3).tolist()), tuple(np.round(microphone, 3).tolist()))

    def response(self, params: RoomParams, sample_rate: int) -> np.ndarray:
        """The impulse response (direct sound first, peak 1), cached for the last few draws."""
        key = (params, sample_rate)
        if key not in self._responses:
            rir = self._measured(params.measured, sample_rate) if params.measured else \
                self._simulated(params, sample_rate)
            rir = rir[max(int(np.argmax(np.abs(rir))) - int(0.002 * sample_rate), 0):]  # start at the direct sound
            rir = rir[:int(self.config.max_seconds * sample_rate)]
            fade = min(len(rir), int(0.05 * sample_rate))
            rir[len(rir) - fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
            if len(self._responses) >= 4:
                self._responses.pop(next(iter(self._responses)))
            self._responses[key] = (rir / np.abs(rir).max()).astype(np.float32)
        return self._responses[key]

    def _measured(self, name: str, sample_rate: int) -> np.ndarray:
        rir, rate = sf.read(self.measured[name], dtype="float32", always_2d=True)
        return soxr.resample(rir[:, 0], rate, sample_rate) if rate != sample_rate else rir[:, 0].copy()

    def _simulated(self, params: RoomParams, sample_rate: int) -> np.ndarray:
        absorption, order = pra.inverse_sabine(params.rt60, params.size)
        room = pra.ShoeBox(list(params.size), fs=sample_rate, materials=pra.Material(absorption),
                           max_order=min(order, self.config.max_order))
        room.add_source(list(params.source))
        room.add_microphone(list(params.microphone))
        room.compute_rir()
        return np.asarray(room.rir[0][0], dtype=np.float32)

    def apply(self, wav, sample_rate, params: RoomParams, rng=None) -> np.ndarray:
        wet = fit_length(fftconvolve(wav, self.response(params, sample_rate)), len(wav))
        gain = np.sqrt(power(wav) / power(wet)) if power(wet) > 0 else 1.0
        return (wet * gain).astype(np.float32)
