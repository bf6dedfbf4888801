"""The recipe: corpus -> codec -> semantic encoder -> k-means -> token cache -> the three
stages -> a bundle, for speech (``SpeechRecipe``) or piano (``PianoRecipe``). Each step reads
what the previous ones wrote under ``work`` and resumes from its own last checkpoint;
``recipe.json`` in ``work`` pins the configuration of a run (and which recipe it is)."""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..bundle import BundleConfig
from ..codec import NeuralCodec, NeuralCodecConfig, RVQConfig
from ..data.heldout import check_not_heldout
from ..data.piano_corpus import PianoCorpus, PianoCorpusConfig, build_piano_corpus
from ..data.speech_corpus import SpeechCorpus, SpeechCorpusConfig, build_speech_corpus
from ..semantic import BuiltinEncoderConfig, SemanticTokenizer, SemanticTokenizerConfig
from ..serialization import config_from_dict
from ..stages import StageSize, load_stage
from ..transformer import TransformerConfig
from .loop import TrainConfig

STEPS = ("corpus", "codec", "semantic-encoder", "kmeans", "tokenize", "semantic", "coarse", "fine", "bundle")
EXTRA_STEPS = ("examples",)  # not part of ``all``: writes held-out prompts into examples/


@dataclass
class SpeechRecipe:
    kind: str = "speech"
    corpus: SpeechCorpusConfig = field(default_factory=SpeechCorpusConfig)
    bundle: BundleConfig = field(default_factory=BundleConfig)
    codec: NeuralCodecConfig = field(default_factory=lambda: NeuralCodecConfig(
        encoder_input_kernel=1, synthesis="griffin_lim", encoder_input="log_magnitude"))
    codec_train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=5000, batch_size=16, lr=1e-3,
                                                                         warmup=200))
    encoder: BuiltinEncoderConfig = field(default_factory=lambda: BuiltinEncoderConfig(
        transformer=TransformerConfig(d_model=192, n_layers=6, n_heads=4, causal=False, max_seq_len=1024)))
    encoder_train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=3000, batch_size=16, lr=5e-4,
                                                                           warmup=200))
    # Measured on the trained encoder (k-means 100, held-out speech): PNMI 0.42 at block 1,
    # falling to 0.34 at block 4 and 0.31 at block 6; speaker-ID from token histograms 95-100 %
    # at every block. The deeper blocks of a short HuBERT-iteration-1 run add no phone content.
    semantic_layer: int = 1
    encoder_targets: str = "mfcc"  # features clustered into the encoder's training targets
    # a bundle folder whose semantic tokenizer is reused as is (skips semantic-encoder and kmeans)
    semantic_tokenizer_from: str = ""
    kmeans_utterances: int = 600
    semantic_size: StageSize = field(default_factory=lambda: StageSize(d_model=192, n_layers=4, n_heads=4, window_frames=250))
    coarse_size: StageSize = field(default_factory=lambda: StageSize(d_model=256, n_layers=4, n_heads=4, window_frames=150))
    fine_size: StageSize = field(default_factory=lambda: StageSize(d_model=128, n_layers=4, n_heads=4, window_frames=150))
    semantic_train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=1200, batch_size=16, lr=1e-3))
    coarse_train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=1800, batch_size=8, lr=1e-3))
    fine_train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=1200, batch_size=16, lr=1e-3))
    weights_dtype: str = "float16"  # of the bundle: float16 or int8 (per-row scales, half the size)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> "SpeechRecipe":
        data = json.loads(path.read_text())
        return config_from_dict(RECIPES[data.get("kind", "speech")], data)


@dataclass
class PianoRecipe(SpeechRecipe):
    """The same steps on the rendered piano corpus, with smaller models and int8 weights (the
    repo's size budget: the speech bundle takes 34 MB of 40 MiB), codebooks of 512, and a music
    encoder (64 ms analysis window, chroma in its training targets)."""
    kind: str = "piano"
    corpus: PianoCorpusConfig = field(default_factory=PianoCorpusConfig)
    bundle: BundleConfig = field(default_factory=lambda: BundleConfig(domain="piano", codebook_size=512))
    codec: NeuralCodecConfig = field(default_factory=lambda: NeuralCodecConfig(
        dim=128, encoder_input_kernel=1, synthesis="griffin_lim", encoder_input="log_magnitude",
        rvq=RVQConfig(dim=32, codebook_size=512)))
    codec_train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=4000, batch_size=16, lr=1e-3,
                                                                         warmup=200))
    encoder: BuiltinEncoderConfig = field(default_factory=lambda: BuiltinEncoderConfig(
        n_fft=1024, transformer=TransformerConfig(d_model=128, n_layers=4, n_heads=4, causal=False,
                                                  max_seq_len=1024)))
    encoder_train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=1500, batch_size=16, lr=5e-4,
                                                                           warmup=200))
    encoder_targets: str = "mfcc+chroma"
    semantic_layer: int = 1
    kmeans_utterances: int = 200
    semantic_size: StageSize = field(default_factory=lambda: StageSize(d_model=128, n_layers=3, n_heads=4, window_frames=250))
    coarse_size: StageSize = field(default_factory=lambda: StageSize(d_model=128, n_layers=4, n_heads=4, window_frames=150))
    fine_size: StageSize = field(default_factory=lambda: StageSize(d_model=64, n_layers=3, n_heads=4, window_frames=150))
    semantic_train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=1200, batch_size=16, lr=1e-3))
    coarse_train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=1500, batch_size=8, lr=1e-3))
    fine_train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=1000, batch_size=16, lr=1e-3))
    weights_dtype: str = "int8"


RECIPES = {"speech": SpeechRecipe, "piano": PianoRecipe}


def tiny_recipe(kind: str = "speech") -> SpeechRecipe:
    """Minutes-of-audio, few-step version of a recipe, for tests and smoke runs."""
    tiny_train = lambda steps, batch: TrainConfig(steps=steps, batch_size=batch, lr=1e-3, warmup=2,  # noqa: E731
                                                  save_every=2)
    corpus = (PianoCorpusConfig(hours=0.03, heldout_pieces=3, min_seconds=8, max_seconds=12) if kind == "piano"
              else SpeechCorpusConfig(hours=0.02, train_speakers=4, heldout_speakers=2, heldout_utterances=3))
    return RECIPES[kind](
        corpus=corpus,
        bundle=BundleConfig(domain=kind, num_quantizers=4, num_coarse=2, codebook_size=32, semantic_vocab=16),
        codec=NeuralCodecConfig(dim=32, encoder_blocks=1, decoder_blocks=1, encoder_input_kernel=1,
                                synthesis="griffin_lim", encoder_input="log_magnitude",
                                rvq=RVQConfig(dim=8, num_quantizers=4, codebook_size=32)),
        codec_train=tiny_train(4, 4),
        encoder=BuiltinEncoderConfig(num_targets=8, transformer=TransformerConfig(
            d_model=32, n_layers=2, n_heads=2, causal=False, max_seq_len=1024)),
        encoder_train=tiny_train(4, 4), semantic_layer=1, kmeans_utterances=20,
        semantic_size=StageSize(d_model=32, n_layers=1, n_heads=2, window_frames=24), coarse_size=StageSize(d_model=32, n_layers=1, n_heads=2, window_frames=16), fine_size=StageSize(d_model=32, n_layers=1, n_heads=2, window_frames=16),
        semantic_train=tiny_train(4, 4), coarse_train=tiny_train(4, 4), fine_train=tiny_train(4, 4))


class PipelineRun:
    """The recipe's steps over one work folder (``runs/speech`` by default) and one corpus."""

    def __init__(self, work: str | Path, data: str | Path, recipe: SpeechRecipe | None = None,
                 device: str = "auto"):
        # every training step reads its audio from ``data``: never the real held-out voices
        self.work, self.data = Path(work), check_not_heldout(data)
        self.work.mkdir(parents=True, exist_ok=True)
        path = self.work / "recipe.json"
        if path.is_file():
            saved = SpeechRecipe.load(path)
            if recipe is not None and asdict(recipe) != asdict(saved):
                raise ValueError(f"{path} holds a different recipe; use another --work folder or delete it")
            recipe = saved
        self.recipe = recipe or SpeechRecipe()
        self.recipe.save(path)
        self.device = device

    def open_corpus(self):
        return (PianoCorpus if self.recipe.kind == "piano" else SpeechCorpus)(self.data)

    def _train(self, config: TrainConfig) -> TrainConfig:
        return TrainConfig(**{**asdict(config), "device": self.device})

    def _timed(self, name: str, fn):
        """Run an untrained step (corpus, k-means, tokenize) and add its wall time to times.json."""
        started = time.time()
        result = fn()
        times_path = self.work / "times.json"
        times = json.loads(times_path.read_text()) if times_path.is_file() else {}
        times[name] = round(times.get(name, 0) + time.time() - started, 1)
        times_path.write_text(json.dumps(times, indent=2))
        return result

    # ----- steps -----
    def corpus(self):
        build = build_piano_corpus if self.recipe.kind == "piano" else build_speech_corpus
        build(self.data, self.recipe.corpus)
        return self.open_corpus()

    def codec_step(self) -> NeuralCodec:
        from .codec import train_codec
        from .data import AudioCrops
        crops = AudioCrops.from_corpus(self.open_corpus())
        return train_codec(crops, self.work / "codec", self.recipe.codec, self._train(self.recipe.codec_train))

    def train_waves(self) -> list[np.ndarray]:
        corpus = self.open_corpus()
        return [corpus.audio(r) for r in corpus.split("train")]

    def semantic_encoder(self):
        from .semantic_encoder import train_semantic_encoder
        return train_semantic_encoder(self.train_waves(), self.work / "semantic_encoder", self.recipe.encoder,
                                      self._train(self.recipe.encoder_train),
                                      target_features=self.recipe.encoder_targets)

    def reuse_semantic_tokenizer(self) -> SemanticTokenizer:
        """Copy ``semantic_tokenizer_from``'s tokenizer into the work folder (instead of training one)."""
        source = Path(self.recipe.semantic_tokenizer_from) / "semantic_tokenizer"
        tokenizer = SemanticTokenizer.from_folder(source)
        if tokenizer.config.num_clusters != self.recipe.bundle.semantic_vocab:
            raise ValueError(f"{source} has {tokenizer.config.num_clusters} clusters; the recipe's bundle wants "
                             f"{self.recipe.bundle.semantic_vocab}")
        tokenizer.save_pretrained(self.work / "semantic_tokenizer")
        return tokenizer

    def kmeans(self) -> SemanticTokenizer:
        def run():
            tokenizer = self.encoder_tokenizer()
            corpus = self.open_corpus()
            records = corpus.split("train")
            rng = np.random.default_rng(self.recipe.encoder_train.seed)
            chosen = rng.permutation(len(records))[:self.recipe.kmeans_utterances]
            feats = np.concatenate([tokenizer.features(torch.from_numpy(corpus.audio(records[i]))[None])[0].numpy()
                                    for i in chosen])
            tokenizer.fit_kmeans(feats, seed=self.recipe.encoder_train.seed)
            tokenizer.save_pretrained(self.work / "semantic_tokenizer")
            return tokenizer
        return self._timed("kmeans", run)

    def encoder_tokenizer(self, layer: int | None = None) -> SemanticTokenizer:
        """The trained encoder wrapped as a tokenizer (centroids not fitted yet)."""
        from .semantic_encoder import load_encoder, truncate_encoder
        layer = layer or self.recipe.semantic_layer
        encoder = truncate_encoder(load_encoder(self.work / "semantic_encoder" / "model"), layer)
        config = SemanticTokenizerConfig("builtin", layer, self.recipe.bundle.semantic_vocab, encoder.config)
        return SemanticTokenizer(config, encoder).eval()

    def tokens(self, split: str = "train"):
        from .tokens import fingerprint, tokenize_corpus
        codec_dir, tok_dir = self.work / "codec" / "model", self.work / "semantic_tokenizer"
        codec = NeuralCodec.from_folder(codec_dir)
        tokenizer = SemanticTokenizer.from_folder(tok_dir)
        return tokenize_corpus(self.open_corpus(), split, codec, tokenizer, self.work / f"tokens-{split}.safetensors",
                               fingerprint(codec_dir, tok_dir))

    def stage_configs(self) -> dict:
        """The three stages' configs: each role's layout (the bundle's) at the recipe's size for it."""
        from ..stages import ROLES, layout_class, stage_specs
        b, specs = self.recipe.bundle, stage_specs(self.recipe.bundle)
        return {role: layout_class(b.stage_layout(role)).config_for(specs[role], getattr(self.recipe, f"{role}_size"))
                for role in ROLES}

    def stage(self, role: str):
        from ..stages import layout_class, stage_specs
        from .stages import train_stage
        semantic, acoustic = self.tokens("train").streams()
        spec = stage_specs(self.recipe.bundle)[role]
        return train_stage(spec, layout_class(self.recipe.bundle.stage_layout(role)), self.stage_configs()[role],
                           semantic, acoustic, self.work / role, self._train(getattr(self.recipe, f"{role}_train")))

    def bundle(self, out: str | Path) -> Path:
        """Assemble the trained components into a bundle (``weights_dtype``) with its model card; the card
        includes ``<work>/metrics.json`` (written by ``python -m audiolm eval --out``) when present."""
        from ..pipeline import AudioLM
        from .model_card import model_card
        model = AudioLM(self.recipe.bundle, NeuralCodec.from_folder(self.work / "codec" / "model"),
                        SemanticTokenizer.from_folder(self.work / "semantic_tokenizer"),
                        load_stage(self.work / "semantic" / "model"), load_stage(self.work / "coarse" / "model"),
                        load_stage(self.work / "fine" / "model"))
        times_path, metrics_path = self.work / "times.json", self.work / "metrics.json"
        from .loop import training_seconds
        times = json.loads(times_path.read_text()) if times_path.is_file() else {}
        for name, folder in (("codec", "codec"), ("semantic-encoder", "semantic_encoder"), ("semantic", "semantic"),
                             ("coarse", "coarse"), ("fine", "fine")):
            times[name] = training_seconds(self.work / folder)  # the loop's own clock, across resumes
        metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else None
        dtype = {"float16": torch.float16, "int8": torch.int8, "float32": None}[self.recipe.weights_dtype]
        return model.save_pretrained(out, dtype, model_card(self.recipe, model, times, metrics))

    def examples(self, folder: str | Path, count: int = 3, seconds: float = 5.0) -> list[Path]:
        """Held-out prompts (unseen speakers and sentences, or unseen pieces) for the Space; each
        kind rewrites its own section of ``<folder>/README.md``."""
        import soundfile as sf
        corpus = self.open_corpus()
        heldout = corpus.split("heldout")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written, lines = [], []
        if self.recipe.kind == "piano":
            offset = 2.0  # past the first downbeat, as the evaluation's prompts
            for record in heldout[-count:]:  # the evaluation's prompts come from the front
                start = int(offset * corpus.config.sample_rate)
                wav = corpus.audio(record)[start:start + int(seconds * corpus.config.sample_rate)]
                path = folder / f"piano-heldout-{record['id'].split('-')[-1]}.wav"
                sf.write(path, wav, corpus.config.sample_rate, subtype="PCM_16")
                written.append(path)
                lines.append(f"- `{path.name}`: {record['key']}, {record['meter']}, {record['tempo']:g} BPM, "
                             f"{record['style']} accompaniment, GM program {record['program']} "
                             f"({seconds:g} s from {offset:g} s)")
            intro = "Held-out pieces of the piano corpus (never seen in training), 16 kHz mono"
        else:
            by_speaker: dict[int, list[dict]] = {}
            for record in heldout:
                by_speaker.setdefault(record["speaker"], []).append(record)
            for speaker in sorted(by_speaker)[:count]:
                record = by_speaker[speaker][-1]  # from the evaluation's test half
                wav = corpus.audio(record)[: int(seconds * corpus.config.sample_rate)]
                path = folder / f"speech-heldout-{speaker}.wav"
                sf.write(path, wav, corpus.config.sample_rate, subtype="PCM_16")
                written.append(path)
                lines.append(f"- `{path.name}`: voice `{record['voice']}`, \"{record['text']}\" "
                             f"(first {seconds:g} s)")
            intro = "Held-out prompts of the speech corpus (speakers and sentences never seen in training), 16 kHz mono"
        flag = "" if self.recipe.kind == "speech" else f" --recipe {self.recipe.kind}"
        section = (f"## {self.recipe.kind}\n\n{intro},\nwritten by `python -m audiolm train examples{flag} "
                   f"--out {folder}`:\n\n" + "\n".join(lines) + "\n")
        _replace_section(folder / "README.md", self.recipe.kind, section)
        return written

    def run(self, step: str, out: str | Path | None = None):
        if step == "corpus":
            return self._timed("corpus", self.corpus)
        if step == "codec":
            return self.codec_step()
        if step in ("semantic-encoder", "kmeans") and self.recipe.semantic_tokenizer_from:
            return self.reuse_semantic_tokenizer() if step == "kmeans" else None
        if step == "semantic-encoder":
            return self.semantic_encoder()
        if step == "kmeans":
            return self.kmeans()
        if step == "tokenize":
            return self._timed("tokenize", lambda: (self.tokens("train"), self.tokens("heldout")))
        if step in ("semantic", "coarse", "fine"):
            return self.stage(step)
        if step == "bundle":
            if out is None:
                raise ValueError("the bundle step needs an output folder")
            return self.bundle(out)
        if step == "examples":
            return self.examples(out or "examples")
        raise ValueError(f"unknown step {step!r}; one of {', '.join(STEPS)}")


def _replace_section(readme: Path, name: str, section: str) -> None:
    """Put ``section`` (which starts with ``## name``) into ``readme`` in place of the old one."""
    text = readme.read_text() if readme.is_file() else "# Examples\n\n"
    parts = text.split("\n## ")
    head, sections = parts[0], {p.split("\n", 1)[0].strip(): "## " + p for p in parts[1:]}
    sections[name] = section
    body = "\n\n".join(text.rstrip("\n") for _, text in sorted(sections.items()))
    readme.write_text(head.rstrip("\n") + "\n\n" + body + "\n")
