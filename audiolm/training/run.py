"""A training run: the recipe's steps (corpus -> codec -> semantic encoder -> k-means -> token cache ->
the three stages -> a bundle) over one work folder and one corpus. Each step reads what the previous
ones wrote under ``work`` and resumes from its own last checkpoint."""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from ..codec import NeuralCodec
from ..data.heldout import check_not_heldout
from ..semantic import SemanticTokenizer, SemanticTokenizerConfig
from ..stages import load_stage
from .loop import TrainConfig
from .recipes import DEFAULT_RECIPE, STEPS, Recipe, SpeechRecipe


class TrainingRun:
    """The recipe's steps over one work folder (``runs/speech`` by default) and one corpus."""

    def __init__(self, work: str | Path, data: str | Path, recipe: Recipe | None = None,
                 device: str = "auto", precision: str | None = None):
        # every training step reads its audio from ``data``: never the real held-out voices
        self.work, self.data = Path(work), check_not_heldout(data)
        self.work.mkdir(parents=True, exist_ok=True)
        path = self.work / "recipe.json"
        if path.is_file():
            saved = Recipe.load(path)
            if recipe is not None and asdict(recipe) != asdict(saved):
                raise ValueError(f"{path} holds a different recipe; use another --work folder or delete it")
            recipe = saved
        self.recipe = recipe or SpeechRecipe()
        self.recipe.save(path)
        self.device, self.precision = device, precision  # precision: None keeps each TrainConfig's

    def open_corpus(self):
        return self.recipe.open_corpus(self.data)

    def _train(self, config: TrainConfig) -> TrainConfig:
        return TrainConfig(**{**asdict(config), "device": self.device, "precision": self.precision or config.precision})

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
        self.recipe.build_corpus(self.data)
        return self.open_corpus()

    def codec_step(self) -> NeuralCodec:
        from .codec import train_codec
        from .data import AudioCrops
        crops = AudioCrops.from_corpus(self.open_corpus())
        return train_codec(crops, self.work / "codec", self.recipe.codec, self._train(self.recipe.codec_train))

    def voice_decoder(self) -> NeuralCodec | None:
        """The codec with a voice decoder trained beside it (``recipe.voice_decoder``); None where the recipe has
        none."""
        if self.recipe.voice_decoder is None:
            return None
        from .voice_decoder import SessionCrops, train_voice_decoder
        return train_voice_decoder(SessionCrops.from_corpus(self.open_corpus()),
                                   NeuralCodec.from_folder(self.work / "codec" / "model"), self.recipe.voice_decoder,
                                   self.work / "voice_decoder", self._train(self.recipe.voice_decoder_train))

    @property
    def codec_folder(self) -> Path:
        """The bundle's codec: the voice-decoder step's export where the recipe has one, the codec step's otherwise."""
        return self.work / ("voice_decoder" if self.recipe.voice_decoder is not None else "codec") / "model"

    def train_waves(self, hours: float = 0.0) -> list[np.ndarray]:
        """The training split's audio: all of it, or a random subset of about ``hours``."""
        corpus = self.open_corpus()
        records = corpus.split("train")
        if hours:
            rng = np.random.default_rng(self.recipe.encoder_train.seed)
            records = [records[i] for i in rng.permutation(len(records))]
            total = np.cumsum([r["seconds"] for r in records])
            records = records[:int(np.searchsorted(total, hours * 3600)) + 1]
        return [corpus.audio(r) for r in records]

    def semantic_encoder(self):
        from .semantic_encoder import train_semantic_encoder
        r = self.recipe
        return train_semantic_encoder(self.train_waves(r.encoder_hours), self.work / "semantic_encoder", r.encoder,
                                      self._train(r.encoder_train), target_features=r.encoder_targets,
                                      pseudo_speakers=r.encoder_pseudo_speakers)

    def reuse_semantic_tokenizer(self) -> SemanticTokenizer:
        """Copy ``semantic_tokenizer_from``'s tokenizer into the work folder (instead of training one)."""
        source = Path(self.recipe.semantic_tokenizer_from) / "semantic_tokenizer"
        tokenizer = SemanticTokenizer.from_folder(source)
        if tokenizer.config.num_clusters != self.recipe.bundle.semantic_vocab:
            raise ValueError(f"{source} has {tokenizer.config.num_clusters} clusters; the recipe's bundle wants "
                             f"{self.recipe.bundle.semantic_vocab}")
        tokenizer.save_pretrained(self.work / "semantic_tokenizer")
        return tokenizer

    def reuse_component(self, name: str) -> Path:
        """Copy ``reuse_from``'s component ``name`` (codec or a stage) into the work folder as that step's
        export, ``<work>/<name>/model``, where the bundle step reads it (instead of training one)."""
        folder = name.replace("-", "_")  # voice-decoder: the bundle's codec, voice decoder included
        source = Path(self.recipe.reuse_from) / ("codec" if name == "voice-decoder" else name)
        if not (source / "config.json").is_file():
            raise FileNotFoundError(f"{source} holds no component to reuse (no config.json)")
        target = self.work / folder / "model"
        shutil.copytree(source, target, dirs_exist_ok=True)
        return target

    def kmeans(self) -> SemanticTokenizer:
        def run():
            tokenizer = self.encoder_tokenizer()
            corpus = self.open_corpus()
            feats = np.concatenate([tokenizer.features(torch.from_numpy(corpus.audio(record))[None])[0].numpy()
                                    for record in self.kmeans_records(corpus)])
            tokenizer.fit_kmeans(feats, seed=self.recipe.encoder_train.seed)
            tokenizer.save_pretrained(self.work / "semantic_tokenizer")
            return tokenizer
        return self._timed("kmeans", run)

    def kmeans_records(self, corpus) -> list[dict]:
        """The training utterances the k-means reads (``kmeans_utterances`` of them, a seeded draw)."""
        records = corpus.split("train")
        chosen = np.random.default_rng(self.recipe.encoder_train.seed).permutation(len(records))
        return [records[i] for i in chosen[:self.recipe.kmeans_utterances]]

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

    def stage_streams(self, split: str = "train"):
        """A split's semantic and acoustic token streams as the stages train on them: per speaker or piece,
        without the recipe's ``stage_tail_seconds``."""
        b, tail = self.recipe.bundle, self.recipe.stage_tail_seconds
        return self.tokens(split).streams((round(tail * b.semantic_rate), round(tail * b.acoustic_rate)))

    def stage(self, role: str):
        from ..stages import layout_class, stage_specs
        from .stages import train_stage
        semantic, acoustic = self.stage_streams("train")
        spec = stage_specs(self.recipe.bundle)[role]
        train = self.remapped_warm_start(role, self._train(getattr(self.recipe, f"{role}_train")))
        style = getattr(self.recipe, f"{role}_size").style
        events = None if style is None else self.style_streams("train", style)
        return train_stage(spec, layout_class(self.recipe.bundle.stage_layout(role)), self.stage_configs()[role],
                           semantic, acoustic, self.work / role, train, events)

    def style_streams(self, split: str, style_name: str) -> list[torch.Tensor]:
        """A style's events (``audiolm.styles``) per semantic id of a split, as ``stage_streams`` cuts the ids."""
        from ..styles import style_named
        from .tokens import style_events
        b, cache = self.recipe.bundle, self.tokens(split)
        events = style_events(self.open_corpus(), cache, style_named(style_name), b.semantic_rate,
                              self.work / f"style-{style_name}-{split}.safetensors")
        return cache.per_stream([e[None] for e in events], round(self.recipe.stage_tail_seconds * b.semantic_rate))

    def remapped_warm_start(self, role: str, train: TrainConfig) -> TrainConfig:
        """``train`` starting from ``<work>/<role>/init-remapped`` when its warm start is a bundle's stage that
        reads semantic ids of another tokenizer than this run's (the bundle's ``semantic_tokenizer`` beside
        it): its id rows remapped by co-occurrence on the training audio (``remap``); ``train`` otherwise."""
        from .remap import SEMANTIC_STREAM, cooccurrence, remap_stage, same_tokenizer, tokenize_both
        source = Path(train.init_from) if train.init_from else None
        if role not in SEMANTIC_STREAM or source is None or (self.work / role / "state.json").is_file():
            return train  # nothing to remap, or a resumed run (the warm start is only read at step 0)
        out, old_dir = self.work / role / "init-remapped", source.parent / "semantic_tokenizer"
        if not (out / "remap.json").is_file():
            if not old_dir.is_dir():
                return train
            old, new = SemanticTokenizer.from_folder(old_dir), SemanticTokenizer.from_folder(self.work / "semantic_tokenizer")
            if same_tokenizer(old, new) or old.config.num_clusters != new.config.num_clusters:
                return train  # the same ids, or another vocabulary (warm_start keeps the rows that overlap)
            corpus = self.open_corpus()
            waves = (corpus.audio(record) for record in self.kmeans_records(corpus))
            summary = remap_stage(source, SEMANTIC_STREAM[role], cooccurrence(*tokenize_both(old, new, waves),
                                                                              new.config.num_clusters), out)
            print(f"{role}: {source}'s semantic-id rows remapped to this run's tokenizer: {summary}", flush=True)
        return replace(train, init_from=str(out))

    def bundle(self, out: str | Path) -> Path:
        """Assemble the trained components into a bundle (``weights_dtype``) with its model card; the card
        includes ``<work>/metrics.json`` (written by ``python -m audiolm eval --out``) when present."""
        from ..pipeline import AudioLM
        from .model_card import model_card
        model = AudioLM(self.recipe.bundle, NeuralCodec.from_folder(self.codec_folder),
                        SemanticTokenizer.from_folder(self.work / "semantic_tokenizer"),
                        load_stage(self.work / "semantic" / "model"), load_stage(self.work / "coarse" / "model"),
                        load_stage(self.work / "fine" / "model"), default_settings=self.recipe.sampling)
        times_path, metrics_path = self.work / "times.json", self.work / "metrics.json"
        from .loop import training_seconds
        times = json.loads(times_path.read_text()) if times_path.is_file() else {}
        for name, folder in (("codec", "codec"), ("voice-decoder", "voice_decoder"),
                             ("semantic-encoder", "semantic_encoder"), ("semantic", "semantic"), ("coarse", "coarse"),
                             ("fine", "fine")):
            times[name] = training_seconds(self.work / folder)  # the loop's own clock, across resumes
        metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else None
        manifest_path = self.data / "corpus.json"
        manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else None
        dtype = {"float16": torch.float16, "int8": torch.int8, "float32": None}[self.recipe.weights_dtype]
        from .remap import SEMANTIC_STREAM
        remapped = frozenset(role for role in SEMANTIC_STREAM if (self.work / role / "init-remapped").is_dir())
        return model.save_pretrained(out, dtype, model_card(self.recipe, model, times, metrics, manifest, remapped))

    def examples(self, folder: str | Path, count: int = 3, seconds: float = 5.0) -> list[Path]:
        """Held-out prompts (unseen speakers and sentences, or unseen pieces) for the Space; each
        kind rewrites its own section of ``<folder>/README.md``."""
        from .examples import replace_section
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written, lines, intro = self.recipe.domain.examples(self.open_corpus(), folder, count, seconds)
        kind, domain = self.recipe.kind, self.recipe.domain.name  # a domain's recipes write the same files
        flag = "" if kind == DEFAULT_RECIPE else f" --recipe {kind}"
        section = (f"## {domain}\n\n{intro},\nwritten by `python -m audiolm train examples{flag} "
                   f"--out {folder}`:\n\n" + "\n".join(lines) + "\n")
        replace_section(folder / "README.md", domain, section)
        return written

    def run(self, step: str, out: str | Path | None = None):
        if step == "corpus":
            return self._timed("corpus", self.corpus)
        if step in self.recipe.reuse:
            return self.reuse_component(step)
        if step == "codec":
            return self.codec_step()
        if step == "voice-decoder":
            return self.voice_decoder()
        if step in ("semantic-encoder", "kmeans") and self.recipe.semantic_tokenizer_from:
            return self.reuse_semantic_tokenizer() if step == "kmeans" else None
        if step == "semantic-encoder":
            return self.semantic_encoder()
        if step == "kmeans":
            return self.kmeans()
        if step == "tokenize":
            splits = [split for split in ("train", self.recipe.heldout_split) if self.open_corpus().split(split)]
            return self._timed("tokenize", lambda: [self.tokens(split) for split in splits])
        if step in ("semantic", "coarse", "fine"):
            return self.stage(step)
        if step == "bundle":
            if out is None:
                raise ValueError("the bundle step needs an output folder")
            return self.bundle(out)
        if step == "examples":
            return self.examples(out or "examples")
        raise ValueError(f"unknown step {step!r}; one of {', '.join(STEPS)}")
