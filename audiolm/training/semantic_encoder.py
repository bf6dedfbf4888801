"""The built-in speech encoder, HuBERT's first iteration: k-means classes of MFCC frames are
the targets of a masked-prediction loss; the trained encoder's features are then clustered
again (``kmeans.py``) into the semantic tokens."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import librosa
import numpy as np
import torch
from tqdm.auto import tqdm

from ..semantic import BuiltinEncoderConfig, BuiltinSpeechEncoder
from .loop import TrainConfig, Trainer, seeded


def mfcc_frames(wav: np.ndarray, config: BuiltinEncoderConfig) -> np.ndarray:
    """MFCC + deltas at the mel rate, averaged over ``stack`` frames: ``(ceil(L/hop), 39)``."""
    c = config
    mfcc = librosa.feature.mfcc(y=wav, sr=c.sample_rate, n_mfcc=13, n_fft=c.n_fft, hop_length=c.mel_hop,
                                n_mels=c.n_mels)
    feats = np.concatenate([mfcc, librosa.feature.delta(mfcc), librosa.feature.delta(mfcc, order=2)]).T
    return _stacked(feats, len(wav), config)


def _stacked(feats: np.ndarray, samples: int, config: BuiltinEncoderConfig) -> np.ndarray:
    """Mel-rate frames ``(N, D)`` of a ``samples``-long clip -> encoder frames: cut or edge-padded to
    whole groups of ``stack``, each group averaged: ``(ceil(samples/hop), D)``."""
    frames = -(-samples // config.hop_length)
    need = frames * config.stack
    feats = np.pad(feats[:need], ((0, max(0, need - len(feats))), (0, 0)), mode="edge")
    return feats.reshape(frames, config.stack, -1).mean(1).astype(np.float32)


class AlignedAudio:
    """Utterances padded to whole encoder frames and concatenated, with one target per frame."""

    def __init__(self, waves: list[np.ndarray], hop: int):
        padded = [np.pad(w, (0, -len(w) % hop)) for w in waves]
        self.hop = hop
        self.audio = torch.from_numpy(np.concatenate(padded).astype(np.float32))
        self.num_frames = len(self.audio) // hop

    def batch(self, targets: torch.Tensor, batch_size: int, frames: int, generator: torch.Generator):
        starts = torch.randint(0, self.num_frames - frames, (batch_size,), generator=generator)
        frame_index = starts[:, None] + torch.arange(frames)[None]
        sample_index = (starts * self.hop)[:, None] + torch.arange(frames * self.hop)[None]
        return self.audio[sample_index], targets[frame_index]


def chroma_frames(wav: np.ndarray, config: BuiltinEncoderConfig) -> np.ndarray:
    """12 pitch-class energies at the mel rate, averaged over ``stack`` frames: ``(ceil(L/hop), 12)``."""
    c = config
    chroma = librosa.feature.chroma_stft(y=wav, sr=c.sample_rate, n_fft=max(c.n_fft, 2048), hop_length=c.mel_hop).T
    return _stacked(chroma, len(wav), c)


def _standardised(feats: np.ndarray) -> np.ndarray:
    return (feats - feats.mean(0)) / (feats.std(0) + 1e-5)


def mfcc_targets(waves: list[np.ndarray], config: BuiltinEncoderConfig, seed: int = 0,
                 fit_frames: int = 200_000, features: str = "mfcc") -> torch.Tensor:
    """k-means (``config.num_targets`` classes) of standardised frame features, for every frame.

    ``features``: ``mfcc`` (MFCC + deltas: HuBERT's first iteration, for speech) or
    ``mfcc+chroma`` (the same plus 12 chroma bins weighted to carry as much variance as the
    39 MFCC dimensions, so the classes follow pitch classes too: for music).
    """
    from sklearn.cluster import MiniBatchKMeans

    padded = [np.pad(w, (0, -len(w) % config.hop_length)) for w in waves]
    feats = _standardised(np.concatenate([mfcc_frames(w, config) for w in tqdm(padded, desc="MFCC", leave=False)]))
    if features == "mfcc+chroma":
        chroma = _standardised(np.concatenate([chroma_frames(w, config)
                                               for w in tqdm(padded, desc="chroma", leave=False)]))
        feats = np.concatenate([feats, chroma * np.sqrt(feats.shape[1] / chroma.shape[1])], 1)
    elif features != "mfcc":
        raise ValueError(f"unknown target features {features!r}: mfcc or mfcc+chroma")
    rng = np.random.default_rng(seed)
    subset = feats[rng.permutation(len(feats))[:fit_frames]]
    kmeans = MiniBatchKMeans(config.num_targets, batch_size=4096, random_state=seed, n_init=3).fit(subset)
    return torch.from_numpy(kmeans.predict(feats)).long()


def train_semantic_encoder(waves: list[np.ndarray], run_dir: str | Path, config: BuiltinEncoderConfig,
                           train: TrainConfig, crop_frames: int = 100, target_features: str = "mfcc"
                           ) -> BuiltinSpeechEncoder:
    with seeded(train.seed):
        encoder = BuiltinSpeechEncoder(config)
        save = lambda folder: _save_encoder(encoder, folder)  # noqa: E731
        trainer = Trainer(encoder, run_dir, train, export=save, description="semantic encoder")
        if trainer.step < train.steps:
            targets_path = Path(run_dir) / "mfcc_targets.npy"
            if targets_path.is_file():  # resumed runs reuse the same targets
                targets = torch.from_numpy(np.load(targets_path))
            else:
                targets = mfcc_targets(waves, config, train.seed, features=target_features)
                np.save(targets_path, targets.numpy())
            data = AlignedAudio(waves, config.hop_length)
            assert len(targets) == data.num_frames, (len(targets), data.num_frames)

            def step(_, generator):
                wav, target = data.batch(targets, train.batch_size, crop_frames, generator)
                loss = encoder.masked_prediction_loss(wav.to(trainer.device), target.to(trainer.device), generator)
                return loss, {}

            trainer.run(step)
    return encoder


def _save_encoder(encoder: BuiltinSpeechEncoder, folder: Path) -> None:
    from ..serialization import save_module
    save_module(encoder, encoder.config, folder, "builtin_encoder")


def load_encoder(folder: str | Path) -> BuiltinSpeechEncoder:
    from ..serialization import config_from_dict, load_weights, read_config
    return load_weights(BuiltinSpeechEncoder(config_from_dict(BuiltinEncoderConfig, read_config(folder))), folder)


def truncate_encoder(encoder: BuiltinSpeechEncoder, layers: int) -> BuiltinSpeechEncoder:
    """The first ``layers`` blocks only: all that a tokenizer reading block ``layers`` runs."""
    config = replace(encoder.config, transformer=replace(encoder.config.transformer, n_layers=layers))
    small = BuiltinSpeechEncoder(config)
    missing, _ = small.load_state_dict(encoder.state_dict(), strict=False)
    if missing:
        raise ValueError(f"cannot truncate the encoder: missing {missing[:3]}")
    return small.eval()
