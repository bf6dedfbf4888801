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
    """Utterances padded to whole encoder frames and concatenated, with one target per frame.

    ``inputs`` (optional): another version of every utterance, sample-aligned with it (a
    speaker-perturbed copy): crops then come from it, except a ``clean_share`` of them."""

    def __init__(self, waves: list[np.ndarray], hop: int, inputs: list[np.ndarray] | None = None):
        if inputs is not None and [len(w) for w in inputs] != [len(w) for w in waves]:
            raise ValueError("inputs must have the length of their utterances")
        self.hop = hop
        self.audio = self._concatenated(waves)
        self.inputs = None if inputs is None else self._concatenated(inputs)
        self.num_frames = len(self.audio) // hop

    def _concatenated(self, waves: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.concatenate([np.pad(w, (0, -len(w) % self.hop)) for w in waves]).astype(np.float32))

    def batch(self, targets: torch.Tensor, batch_size: int, frames: int, generator: torch.Generator,
              clean_share: float = 0.0):
        starts = torch.randint(0, self.num_frames - frames, (batch_size,), generator=generator)
        frame_index = starts[:, None] + torch.arange(frames)[None]
        sample_index = (starts * self.hop)[:, None] + torch.arange(frames * self.hop)[None]
        audio = self.audio[sample_index]
        if self.inputs is not None:
            clean = torch.rand(batch_size, 1, generator=generator) < clean_share
            audio = torch.where(clean, audio, self.inputs[sample_index])
        return audio, targets[frame_index]


def _perturb(job) -> np.ndarray:
    wav, sample_rate, seed = job
    from ..data.augment import Speaker
    speaker = Speaker()
    rng = np.random.default_rng(seed)
    return speaker.apply(wav, sample_rate, speaker.sample(rng), rng).astype(np.float32)


def pseudo_speaker_copies(waves: list[np.ndarray], sample_rate: int, seed: int = 0, workers: int = 2
                          ) -> list[np.ndarray]:
    """Every utterance in a new voice of its own (formants, pitch median and range changed with Praat's
    "Change gender", timing kept): ContentVec's student input, whose targets come from the original."""
    from multiprocessing import get_context
    jobs = [(w, sample_rate, seed * 1_000_003 + i) for i, w in enumerate(waves)]
    if workers <= 1:
        return [_perturb(j) for j in tqdm(jobs, desc="pseudo-speakers", leave=False)]
    with get_context("fork").Pool(workers) as pool:
        return list(tqdm(pool.imap(_perturb, jobs, chunksize=8), total=len(jobs), desc="pseudo-speakers",
                         leave=False))


def chroma_frames(wav: np.ndarray, config: BuiltinEncoderConfig) -> np.ndarray:
    """12 pitch-class energies at the mel rate, averaged over ``stack`` frames: ``(ceil(L/hop), 12)``."""
    c = config
    chroma = librosa.feature.chroma_stft(y=wav, sr=c.sample_rate, n_fft=max(c.n_fft, 2048), hop_length=c.mel_hop).T
    return _stacked(chroma, len(wav), c)


def _standardised(feats: np.ndarray) -> np.ndarray:
    return (feats - feats.mean(0)) / (feats.std(0) + 1e-5)


TARGET_PIECES = {
    "mfcc": mfcc_frames,  # MFCC + deltas: HuBERT's first iteration, for speech
    # the same, standardised per utterance: fewer speaker and channel cues in the classes
    "mfcc-cmvn": lambda wav, config: _standardised(mfcc_frames(wav, config)),
    "chroma": chroma_frames,  # pitch classes: for music
}


def target_frames(waves: list[np.ndarray], config: BuiltinEncoderConfig, features: str) -> np.ndarray:
    """Every frame's features for ``features``, pieces of ``TARGET_PIECES`` joined with ``+`` (e.g.
    ``mfcc+chroma``): each piece standardised over the corpus and weighted to carry as much variance as
    the first, so that k-means follows all of them."""
    pieces = features.split("+")
    unknown = [p for p in pieces if p not in TARGET_PIECES]
    if unknown:
        raise ValueError(f"unknown target features {unknown[0]!r}: {', '.join(TARGET_PIECES)}, joined with +")
    columns = []
    for piece in pieces:
        frames = [TARGET_PIECES[piece](w, config) for w in tqdm(waves, desc=piece, leave=False)]
        columns.append(_standardised(np.concatenate(frames)))
    first = columns[0].shape[1]
    return np.concatenate([c * np.sqrt(first / c.shape[1]) for c in columns], 1)


def mfcc_targets(waves: list[np.ndarray], config: BuiltinEncoderConfig, seed: int = 0,
                 fit_frames: int = 200_000, features: str = "mfcc") -> torch.Tensor:
    """k-means (``config.num_targets`` classes) of the standardised ``features`` (``target_frames``) of
    every frame."""
    from sklearn.cluster import MiniBatchKMeans

    padded = [np.pad(w, (0, -len(w) % config.hop_length)) for w in waves]
    feats = target_frames(padded, config, features)
    rng = np.random.default_rng(seed)
    subset = feats[rng.permutation(len(feats))[:fit_frames]]
    kmeans = MiniBatchKMeans(config.num_targets, batch_size=4096, random_state=seed, n_init=3).fit(subset)
    return torch.from_numpy(kmeans.predict(feats)).long()


def train_semantic_encoder(waves: list[np.ndarray], run_dir: str | Path, config: BuiltinEncoderConfig,
                           train: TrainConfig, crop_frames: int = 100, target_features: str = "mfcc",
                           pseudo_speakers: bool = False, clean_share: float = 0.25) -> BuiltinSpeechEncoder:
    """HuBERT's masked prediction of ``target_features`` classes. With ``pseudo_speakers`` (ContentVec's
    idea) the encoder hears each utterance in another voice (``pseudo_speaker_copies``; the original in a
    ``clean_share`` of the crops) while its targets come from the original: the voice no longer helps
    predict them, so the features learn to ignore it."""
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
            inputs = pseudo_speaker_copies(waves, config.sample_rate, train.seed) if pseudo_speakers else None
            data = AlignedAudio(waves, config.hop_length, inputs)
            assert len(targets) == data.num_frames, (len(targets), data.num_frames)

            def step(_, generator):
                wav, target = data.batch(targets, train.batch_size, crop_frames, generator, clean_share)
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
