"""espeak-ng through its C library (ctypes): audio plus phoneme events with their times.

The command-line tool gives phoneme *strings*; the library's phoneme events also give each
phoneme's start in the audio, which frame-level phone labels (purity, PNMI) need.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass

import numpy as np

_SYNCHRONOUS = 2  # AUDIO_OUTPUT_SYNCHRONOUS
_PHONEME_EVENTS = 0x0001  # espeakINITIALIZE_PHONEME_EVENTS
_DONT_EXIT = 0x8000
_EVENT_PHONEME, _EVENT_END_OF_LIST = 7, 0
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass
class Utterance:
    audio: np.ndarray  # int16 at ``sample_rate``
    sample_rate: int
    phonemes: list[tuple[float, str]]  # (start in seconds, espeak phoneme mnemonic)


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker: a language voice, a variant and prosody settings."""
    language: str  # e.g. "en-us"
    variant: str  # e.g. "m3" (espeak-ng's !v/ variants)
    pitch: int  # 0..99
    pitch_range: int  # 0..99
    rate: int  # words per minute

    @property
    def name(self) -> str:
        return f"{self.language}+{self.variant}_p{self.pitch}_r{self.pitch_range}_s{self.rate}"


class Espeak:
    """One espeak-ng engine (the C library keeps global state: use one per process)."""

    def __init__(self):
        path = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            self.lib = ctypes.CDLL(path)
        except OSError as exc:
            raise RuntimeError("libespeak-ng is missing: install the Debian package espeak-ng "
                               "(apt-get install espeak-ng)") from exc
        self.sample_rate = self.lib.espeak_Initialize(_SYNCHRONOUS, 0, None, _PHONEME_EVENTS | _DONT_EXIT)
        if self.sample_rate <= 0:
            raise RuntimeError("espeak_Initialize failed")
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, str]] = []
        self._callback = _CALLBACK(self._collect)  # keep a reference: C holds the pointer
        self.lib.espeak_SetSynthCallback(self._callback)
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                          ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]

    def _collect(self, wav, num_samples, events) -> int:
        if num_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        i = 0
        while events[i].type != _EVENT_END_OF_LIST:
            event = events[i]
            if event.type == _EVENT_PHONEME:
                self._events.append((event.audio_position, bytes(event.id.string).split(b"\0")[0].decode()))
            i += 1
        return 0

    def synthesize(self, text: str, voice: Voice) -> Utterance:
        if self.lib.espeak_SetVoiceByName(f"{voice.language}+{voice.variant}".encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice.language}+{voice.variant}")
        for parameter, value in ((_RATE, voice.rate), (_PITCH, voice.pitch), (_RANGE, voice.pitch_range),
                                 (_VOLUME, 100)):
            self.lib.espeak_SetParameter(parameter, value, 0)
        self._chunks, self._events = [], []
        data = text.encode() + b"\0"
        self.lib.espeak_Synth(data, len(data), 0, 1, 0, 0, None, None)  # POS_CHARACTER, espeakCHARS_AUTO
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return Utterance(audio, self.sample_rate, [(ms / 1000, p) for ms, p in self._events])
