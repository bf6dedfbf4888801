"""The recipes: every step's configuration, for speech (``SpeechRecipe``) or piano (``PianoRecipe``);
``recipe.json`` in a work folder pins one (and which it is). ``TrainingRun`` (``run.py``) runs the steps.

A new recipe is a ``Recipe`` subclass (its defaults, and ``tiny_corpus``) and one entry in ``RECIPES``.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import ClassVar

from ..bundle import BundleConfig
from ..codec import NeuralCodecConfig, RVQConfig
from ..codec.voice_decoder import VoiceDecoderConfig
from ..data.mixed_corpus import MixedCorpusConfig
from ..data.piano_corpus import PianoCorpusConfig
from ..data.speech_corpus import SpeechCorpusConfig
from ..pipeline import GenerationSettings
from ..sampling import SamplingConfig
from ..semantic import BuiltinEncoderConfig
from ..serialization import config_from_dict
from ..stages import StageSize
from ..transformer import TransformerConfig
from .loop import TrainConfig

STEPS = ("corpus", "codec", "voice-decoder", "semantic-encoder", "kmeans", "tokenize", "semantic", "coarse", "fine", "bundle")
DEFAULT_RECIPE = "speech"  # what ``python -m audiolm train`` runs without --recipe
EXTRA_STEPS = ("examples",)  # not part of ``all``: writes held-out prompts into examples/
# the steps whose component a recipe may take from a bundle (voice-decoder: its codec, voice decoder included)
REUSABLE = ("codec", "voice-decoder", "semantic", "coarse", "fine")


def _size(d_model: int, n_layers: int, n_heads: int, window_frames: int) -> StageSize:
    return StageSize(d_model=d_model, n_layers=n_layers, n_heads=n_heads, window_frames=window_frames)


@dataclass(kw_only=True)
class Recipe:
    """The configuration of every step. The defaults are the speech recipe's; other recipes override them."""
    kind: str = "speech"  # the name in ``RECIPES`` (and the domain's, unless ``domain_name`` says otherwise)
    domain_name: ClassVar[str | None] = None  # the domain (``audiolm.domains``) when it is not ``kind``
    heldout_split: ClassVar[str] = "heldout"  # the corpus split the tokenize step also caches
    eval_data: ClassVar[str] = ""  # the corpus `python -m audiolm eval --data` takes; "" = data/DOMAIN
    corpus: SpeechCorpusConfig = field(default_factory=SpeechCorpusConfig)
    bundle: BundleConfig = field(default_factory=BundleConfig)
    codec: NeuralCodecConfig = field(default_factory=lambda: NeuralCodecConfig(
        encoder_input_kernel=1, synthesis="griffin_lim", encoder_input="log_magnitude"))
    # the codec and the encoder train in float32: bfloat16 autocast (``TrainConfig.precision``, 0.51x the time of
    # a transformer stage's step here) is measured for the stages only
    codec_train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=5000, batch_size=16, lr=1e-3,
                                                                         warmup=200, precision="float32"))
    # a second decoder that renders the first levels in a reference's voice (``audiolm.codec.voice_decoder``),
    # trained by the voice-decoder step with the codec frozen; None: the step does nothing
    voice_decoder: VoiceDecoderConfig | None = None
    voice_decoder_train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=2000, batch_size=16, lr=3e-4, warmup=50, min_lr_ratio=0.0, precision="float32"))
    encoder: BuiltinEncoderConfig = field(default_factory=lambda: BuiltinEncoderConfig(
        transformer=TransformerConfig(d_model=192, n_layers=6, n_heads=4, causal=False, max_seq_len=1024)))
    encoder_train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=3000, batch_size=16, lr=5e-4,
                                                                           warmup=200, precision="float32"))
    # Measured on the trained encoder (k-means 100, held-out speech): PNMI 0.42 at block 1,
    # falling to 0.34 at block 4 and 0.31 at block 6; speaker-ID from token histograms 95-100 %
    # at every block. The deeper blocks of a short HuBERT-iteration-1 run add no phone content.
    semantic_layer: int = 1
    encoder_targets: str = "mfcc"  # features clustered into the encoder's training targets
    # ContentVec's idea: the encoder hears every utterance in a pseudo-speaker's voice, its targets come
    # from the original (``train_semantic_encoder``)
    encoder_pseudo_speakers: bool = False
    encoder_hours: float = 0.0  # of training audio the encoder step reads (a random subset); 0 = all
    # a bundle folder whose semantic tokenizer is reused as is (skips semantic-encoder and kmeans)
    semantic_tokenizer_from: str = ""
    # a bundle folder whose components named in ``reuse`` (of ``REUSABLE``) are copied as they are instead of
    # trained: one stage of a shipped bundle retrained, the rest kept
    reuse_from: str = ""
    reuse: tuple[str, ...] = ()
    kmeans_utterances: int = 600
    semantic_size: StageSize = field(default_factory=lambda: _size(192, 4, 4, 250))
    coarse_size: StageSize = field(default_factory=lambda: _size(256, 4, 4, 150))
    fine_size: StageSize = field(default_factory=lambda: _size(128, 4, 4, 150))
    semantic_train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=1200, batch_size=16, lr=1e-3))
    coarse_train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=1800, batch_size=8, lr=1e-3))
    fine_train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=1200, batch_size=16, lr=1e-3))
    # seconds cut from the end of every training stream before the stages see it (``TokenCache.streams``):
    # the stages do not know where in a piece they are, and a continuation should not play its ending
    stage_tail_seconds: float = 0.0
    weights_dtype: str = "float16"  # of the bundle: float16 or int8 (per-row scales, half the size)
    # the bundle's own default sampling (its generation_config.json): the paper's unless a recipe measured better
    sampling: GenerationSettings = field(default_factory=GenerationSettings)

    def __post_init__(self):
        unknown = sorted(set(self.reuse) - set(REUSABLE))
        if unknown:
            raise ValueError(f"reuse: {unknown} cannot be reused; one of {', '.join(REUSABLE)}")
        if self.reuse and not self.reuse_from:
            raise ValueError("reuse needs reuse_from: the bundle folder the components come from")

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> "Recipe":
        data = json.loads(path.read_text())
        return config_from_dict(RECIPES[data.get("kind", "speech")], data)

    @property
    def domain(self):
        from ..domains import get_domain
        return get_domain(self.domain_name or self.kind)

    def open_corpus(self, root: str | Path):
        """The training corpus' reader (the domain's, unless the recipe trains on another kind of corpus)."""
        return self.domain.corpus(root)

    def build_corpus(self, root: str | Path) -> None:
        self.domain.build_corpus(root, self.corpus)

    def card_data(self, manifest: dict | None = None) -> list[str]:
        """The model card's title, description and data lines."""
        return self.domain.card_data(self.corpus)

    def card_license(self) -> tuple[str, ...]:
        return self.domain.license

    @classmethod
    def tiny_corpus(cls):
        """Minutes of audio: the corpus config of ``tiny_recipe``."""
        return SpeechCorpusConfig(hours=0.02, train_speakers=4, heldout_speakers=2, heldout_utterances=3)


@dataclass(kw_only=True)
class SpeechRecipe(Recipe):
    """Synthetic espeak-ng speech: ``Recipe``'s defaults."""


@dataclass(kw_only=True)
class MixedSpeechRecipe(Recipe):
    """Real voices: the mixed corpus (LibriSpeech train-clean and speechocean762 readers, espeak-ng and
    flite, pseudo-speakers, rooms, noise, EQ and band limits; ``data/mixed_corpus.py``), a
    speaker-invariant encoder (pseudo-speaker inputs, per-band normalised log-mel, per-utterance
    normalised MFCC targets), codec, coarse and fine stages warm-started from the shipped speech bundle."""
    kind: str = "speech-mixed"
    domain_name: ClassVar[str] = "speech"
    heldout_split: ClassVar[str] = "heldout_synthetic"
    corpus: MixedCorpusConfig = field(default_factory=lambda: MixedCorpusConfig(hours=8.0, heldout_minutes=5.0))
    # on the real held-out readers (benchmarks/codec_real.py): PESQ-WB / STOI 1.74 / 0.856 at the warm start,
    # 2.23 / 0.888 after 750 steps, 2.53 / 0.901 after 3000, 2.62 / 0.904 after 5000 (Opus 6 kbps: 2.03 / 0.881)
    codec_train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=5000, batch_size=16, lr=5e-4, warmup=100, init_from="checkpoints/speech/codec", precision="float32"))
    encoder: BuiltinEncoderConfig = field(default_factory=lambda: BuiltinEncoderConfig(
        normalization="band",
        transformer=TransformerConfig(d_model=192, n_layers=6, n_heads=4, causal=False, max_seq_len=1024)))
    encoder_targets: str = "mfcc-cmvn"
    # measured by ``layer_choice`` on the trained encoder (PNMI against espeak phones / speaker-ID from
    # bags of ids on 20 speechocean762 readers, chance 5 %): k-means 512 gives 0.592 / 10.0 % at block 1,
    # 0.577 / 9.2 % at block 2, 0.559 / 5.8 % at block 3, falling to 0.478 at block 6; k-means 1024 gives
    # 0.657 / 0.0 %, 0.643 / 4.2 %, 0.625 / 1.7 % at blocks 1-3 (256: 0.53 / 10.8 % at block 1). Block 1 with
    # 1024 clusters (the paper's count) is best on both. The evaluation agrees (PNMI on the held-out espeak speakers
    # 0.611 at block 1 against 0.596 at block 2; speaker-ID from bags of ids on the 10 real held-out readers
    # 4 % against 17 %, chance 10 %). Block 2 was shipped until 2026-12-04.
    semantic_layer: int = 1
    encoder_pseudo_speakers: bool = True
    encoder_hours: float = 3.0
    kmeans_utterances: int = 1200
    # the coarse stage with a 6 s window (issue 14's bar; the paper's is 10 s), semantic and acoustic tokens
    # interleaved in time (as the piano recipe), warm-started from the shipped bundle's (the flat 3 s stage's
    # positions copied where they overlap). Against that flat 3 s stage, in the full evaluation on 10 real
    # held-out readers: continuation's reader nearest 90 % (85 %), a voice prompt's reader nearest 100 % (90 %),
    # acoustic generation's semantic agreement 45.8 % (36.1 %); marginal RTF 0.56 (0.42): twice the positions
    # (1352). The delay layout (MusicGen's pattern, a 6 s window in a third of the flat one's positions) read
    # its cond under teacher forcing but lost the content when free-running: 1.2-2 % semantic agreement on 5
    # real readers (benchmarks/acoustic_levels.py) after 2500 steps, the flat stage 8-12 % after 2800
    # (benchmarks/results/speech-mixed-progress.json).
    # input_loudness: the 5th and 95th percentile of 1000 training utterances' loudness (LUFS;
    # ``python benchmarks/input_loudness.py --gains``), where inputs outside it are brought (``audiolm.loudness``)
    bundle: BundleConfig = field(default_factory=lambda: BundleConfig(semantic_vocab=1024, coarse_layout="interleaved",
                                                                      input_loudness=(-31.8, -16.5)))
    # 10 % of its training windows without their cond, for classifier-free guidance at sampling. 2 key/value heads
    # (grouped-query attention), warm-started from the 4-head stage with its heads pooled: continuation marginal
    # RTF 0.53-0.55 against 0.65-0.66, held-out CE 4.770 against 4.750 nats, the voice and content of the
    # 4-head stage (1 key/value head: as fast, CE 4.809; progress JSON, grouped_query_coarse_2026_12_06)
    coarse_size: StageSize = field(default_factory=lambda: replace(_size(256, 4, 4, 300), cond_dropout=0.1,
                                                                   n_kv_heads=2))
    semantic_train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=1500, batch_size=16, lr=1e-3))
    # about 2.8 s a step on 2 CPU cores (the flat 3 s stage: 1.9). The 6 s stage: 2200 steps from the
    # flat 3 s stage (itself 4000 steps; see the progress JSON), loss 4.59 -> 4.33 on 6 s windows, on the block-2
    # ids; that stage with its semantic-id rows remapped to the block-1 ids (``remap``: the warm start reads a
    # bundle trained on another tokenizer), then 600 steps at a lower lr (warmup 20). The shipped one: that
    # stage with 2 key/value heads, 600 more steps
    coarse_train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=600, batch_size=8, lr=3e-4, warmup=30, init_from="checkpoints/speech/coarse"))
    # the warm start barely helps the fine stage (its first loss is above chance: the codec's codebooks moved)
    fine_train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=1500, batch_size=16, lr=5e-4, warmup=50, init_from="checkpoints/speech/fine"))
    # a continuation's coarse levels rendered in its prompt's voice (``audiolm.codec.voice_decoder``) instead of decoded
    # with the fine levels by example: 24 continuations of the real held-out readers +0.010 +- 0.005 SIM paired
    # (``python benchmarks/voice_decoder.py``); with a voice prompt it took that voice less often (``voice_decoder_2026_12_06``)
    voice_decoder: VoiceDecoderConfig | None = field(default_factory=VoiceDecoderConfig)
    # int8 costs the codec nothing measurable on the real readers (PESQ-WB 2.62 / STOI 0.904 for both)
    weights_dtype: str = "int8"
    # the semantic stage (1024 ids) loops at the paper's T 0.6: 11 / 3 / 1 / 0 of 16 unconditional samples at
    # T 0.6 / 0.8 / 0.95 / 1.0 (one-off, progress JSON). The coarse stage's guidance: benchmarks/acoustic_levels.py.
    # The voice prior (audiolm.voice_prior), 10 real held-out readers (benchmarks/sampling_sweep.py --voice-prior):
    # weight 0 / 8 / 12 / 16: continuation's reader nearest 20 / 60 / 70 / 70 %, a voice prompt's reader nearest
    # 20 / 70 / 90 / 90 %, whose semantic agreement falls 39 / 29 / 23 / 19 %. The semantic stage adapted to the prompt
    # (audiolm.prompt_adaptation) stays off: it keeps more of the voice and costs predicted MOS (prompt_adaptation_2026_12_07)
    sampling: GenerationSettings = field(default_factory=lambda: GenerationSettings(
        semantic=SamplingConfig(temperature=1.0), coarse=SamplingConfig(temperature=0.8, guidance=4.0),
        voice_prior=12.0, fine_by_example=4, voice_decoder=True))

    @classmethod
    def tiny_corpus(cls):
        """Seconds of espeak-ng and flite speech, one pseudo-speaker each (no real folders, no held-out engine)."""
        return MixedCorpusConfig(hours=0.01, train_sources=("espeak", "flite"), heldout_sources=(),
                                 pseudo_speakers=1, session_utterances=2)

    def open_corpus(self, root: str | Path):
        from ..data.mixed_corpus import MixedCorpus
        return MixedCorpus(root)

    def build_corpus(self, root: str | Path) -> None:
        from ..data.mixed_corpus import build_mixed_corpus
        build_mixed_corpus(root, self.corpus)

    def card_data(self, manifest: dict | None = None) -> list[str]:
        from .model_card import mixed_speech_data
        return mixed_speech_data(self.corpus, manifest)

    def card_license(self) -> tuple[str, ...]:
        return (
            "MIT, like the code. Training audio and its licences (the weights contain none of these tools' code):",
            "",
            "- LibriSpeech train-clean (Panayotov et al., 2015): CC BY 4.0;",
            "- speechocean762 (Zhang et al., 2021): Apache-2.0;",
            "- background noise from Google Speech Commands' `_background_noise_`: CC BY 4.0;",
            "- room impulse responses from OpenAIR (openairlib.net): CC BY 3.0 / CC BY-SA 3.0 (see "
            "`../shared/data/rir/CREDITS.md`), the seminar-room clap CC0; simulated rooms by pyroomacoustics (MIT);",
            "- speech synthesized with espeak-ng (GPL-3.0) and flite (BSD-style), pseudo-speakers by Praat through "
            "praat-parselmouth (GPL-3.0).",
            "",
            "The real held-out readers used for evaluation only are LibriSpeech test-other (CC BY 4.0).")


@dataclass(kw_only=True)
class PianoRecipe(Recipe):
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
                                                                         warmup=200, precision="float32"))
    encoder: BuiltinEncoderConfig = field(default_factory=lambda: BuiltinEncoderConfig(
        n_fft=1024, transformer=TransformerConfig(d_model=128, n_layers=4, n_heads=4, causal=False,
                                                  max_seq_len=1024)))
    encoder_train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=1500, batch_size=16, lr=5e-4,
                                                                           warmup=200, precision="float32"))
    encoder_targets: str = "mfcc+chroma"
    semantic_layer: int = 1
    kmeans_utterances: int = 200
    semantic_size: StageSize = field(default_factory=lambda: _size(128, 3, 4, 250))
    coarse_size: StageSize = field(default_factory=lambda: _size(128, 4, 4, 150))
    fine_size: StageSize = field(default_factory=lambda: _size(64, 3, 4, 150))
    semantic_train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=1200, batch_size=16, lr=1e-3))
    coarse_train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=1500, batch_size=8, lr=1e-3))
    fine_train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=1000, batch_size=16, lr=1e-3))
    weights_dtype: str = "int8"

    @classmethod
    def tiny_corpus(cls):
        return PianoCorpusConfig(hours=0.03, heldout_pieces=3, min_seconds=8, max_seconds=12)


@dataclass(kw_only=True)
class MixedPianoRecipe(PianoRecipe):
    """Piano v2 (issue 16): half the pieces played with the Salamander Grand Piano's recorded notes, a
    third heard in a room; the codec, coarse and fine stages warm-started from the shipped piano bundle
    and trained longer (the shipped coarse stage's loss still fell at 1.5k steps); an interleaved coarse
    stage with a 6 s context (a 4/4 bar at 40 BPM) whose prompt stays pinned in context, trained with cond
    dropout for classifier-free guidance."""
    kind: str = "piano-mixed"
    domain_name: ClassVar[str] = "piano"
    # 24 h: the semantic stage learned 3 h by heart (below); more hours only add pieces (the 3 h corpus'
    # pieces come first), so the stages warm-started from or reused as trained on 3 h saw a part of it
    corpus: PianoCorpusConfig = field(default_factory=lambda: PianoCorpusConfig(hours=24.0, salamander_share=0.5,
                                                                                room_share=0.33))
    codec_train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=6000, batch_size=16, lr=5e-4, warmup=100, init_from="checkpoints/piano/codec", precision="float32"))
    # the interleaved layout: each semantic id just before its codec frames. The flat layout (the delay layout
    # lost the content when free-running, see MixedSpeechRecipe) at this size rendered the true semantic ids'
    # harmony at chroma 0.21 (the ids predict 0.56) and went silent in 4 of 12 clips; interleaved, warm-started
    # from it, 0.37 and none after 500 steps (benchmarks/results/piano-mixed-progress.json). The shipped stage's
    # size: a 6 s window is 1352 positions. Seconds per step of batch 8 on 2 cores (one-off): 2.0 at 128x4,
    # 4.9 at 192x6 (delay layout 192x6: 0.84; 3 s window 128x4: 0.65)
    bundle: BundleConfig = field(default_factory=lambda: BundleConfig(domain="piano", codebook_size=512,
                                                                      coarse_layout="interleaved"))
    # the style onset_rate (audiolm.styles): every window opens with its onset-rate class, at sampling the prompt's;
    # a tenth of the windows keep BOS (sampling without a prompt)
    coarse_size: StageSize = field(default_factory=lambda: replace(_size(128, 4, 4, 300), cond_dropout=0.1,
                                                                   style="onset_rate", style_dropout=0.1))
    # 192x4 (v1: 128x3). On the 3 h corpus the harmony of its continuations' ids (chroma correlation with the
    # prompt, predicted per id, 24 held-out prompts, T 1.0) was 0.36 at step 1250 and 0.20 at 3000 (train loss
    # 0.67: it learned the 3 h by heart). Its held-out CE (nats): 1.98 for that stage (step 1250); 1.60 on
    # 12 h after 4000 steps (train 1.25); 1.49 on 24 h after 6000 (train 1.31); 1.40 on 48 h after 10000 (train
    # 1.33; benchmarks/stage_ce.py). Its continuations' chroma (24 other held-out prompts x 2 seeds): 0.28,
    # 0.36, 0.44 up to 24 h. 48 h lowered the CE but not what the continuations play (24 h / 48 h, 4 seeds:
    # chroma 0.41 / 0.43, onset error 0.37 / 0.36; the eval's 24 prompts: 0.43 / 0.42, 0.33 / 0.44), so the
    # recipe stays at 24 h (benchmarks/results/piano-mixed-progress.json)
    semantic_size: StageSize = field(default_factory=lambda: _size(192, 4, 4, 250))
    semantic_train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=6000, batch_size=16, lr=1e-3))
    # the shipped stage: 3000 steps of the flat layout from checkpoints/piano/coarse, then 1000 interleaved on 3 h,
    # then 6750 more on 48 h (a corpus of `--hours 48`; 182 min): held-out CE 3.08 -> 2.14 nats at 4500 steps,
    # 2.09 at 6750; over 120 continuations, onset peakiness 5.1-5.5 -> 6.0 (real 6.5), chroma 0.41 -> 0.47, onset
    # error 0.37 -> 0.27 (before at coarse T 1.0, after at 1.1; the progress JSON). Then, with the style onset_rate,
    # 1500 steps from it on this recipe's 24 h (its onset-rate classes started as BOS, so step 0 is that stage): over
    # 48 held-out pieces x 2 seeds, paired, onset error 0.30 -> 0.24; x 4 other seeds 0.32 -> 0.26
    # (tempo_token_coarse_stage_2026_12_06)
    coarse_train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=1500, batch_size=8, lr=3e-4, warmup=50, init_from="checkpoints/piano/coarse", precision="float32"))
    fine_train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=1500, batch_size=16, lr=5e-4, warmup=50, init_from="checkpoints/piano/fine"))
    # every piece ends in its last chord's decay and 2-3 s of silence, which a continuation (6 s from 6 s into
    # a 20-40 s piece) should not play. Hygiene rather than a measured fix: the continuations that went silent
    # did so from the flat coarse stage, with semantic ids free of silence ids (the progress JSON)
    stage_tail_seconds: float = 3.0
    eval_data: ClassVar[str] = "data/piano-mixed"  # its own held-out pieces: both pianos, rooms
    # 24 held-out prompts, coarse T 0.8 -> 1.0: onset-rate error 0.89 -> 0.45, chroma 0.19 -> 0.20; guidance 2
    # lowered chroma (0.13). With the 48 h coarse stage, T 1.0 -> 1.1 (96 continuations, same seeds): onset
    # error 0.37 -> 0.31, chroma 0.44 -> 0.43, peakiness 6.3 -> 6.0; from the true semantic ids 0.36 -> 0.28.
    # Semantic T 1.0: see semantic_size. Fine levels by example from the prompt (audiolm.voice_prior), 48 held-out
    # pieces x 4 seeds, paired with the fine stage (benchmarks/piano_sweep.py --fine-by-example 0 4): chroma
    # 0.41 -> 0.47 (+0.060 +- 0.006), onset peakiness 5.96 -> 6.21 (+0.25 +- 0.01), onset error 0.32 (+0.001 +- 0.008).
    # With it, the voice prior 0 -> 2 (--voice-prior 0 2): chroma 0.47 -> 0.53 (+0.064 +- 0.014), peakiness 6.21 ->
    # 5.92 (-0.29 +- 0.06), onset error 0.32 -> 0.34 (+0.018 +- 0.023); at 3 / 6 (2 seeds) chroma 0.56 / 0.65 (the
    # real continuation: 0.59) and peakiness 5.62 / 5.39: it replays the prompt's frames
    # (the evaluation's 24 prompts: chroma 0.56 -> 0.58, onset error 0.24 -> 0.31). Left off: notes before harmony.
    # The semantic stage's kNN over the prompt (audiolm.prefix_memory) 0 -> 0.6 at similarity T 0.05 (48 x 4, paired,
    # --prefix-knn 0 0.6 0.8 --prefix-knn-temperature 0.05 --prefix-knn-stage semantic): chroma 0.47 -> 0.65 (+0.18
    # +- 0.03), onset error 0.32 (-0.006 +- 0.023), peakiness 6.21 -> 6.24; at 0.8 chroma 0.60 and onset error 0.37.
    # The coarse stage's (0.3 / 0.5 at T 0.02) took the harmony too but cost clarity (peakiness -0.5): off.
    # With the style onset_rate: coarse T 1.0 / 1.1 / 1.25 (48 x 2, paired) moves the onset rate itself (signed log2
    # ratio -0.14 / +0.03 / +0.16; onset error 0.28 / 0.24 / 0.30): 1.1 stays. Guidance by the style class
    # (style_guidance; the no-class branch is the BOS the style-dropout windows read) 1 -> 2: onset error 0.26 -> 0.23
    # (48 x 4, -0.032 +- 0.017), 0.24 -> 0.22 (48 x 2; 1.5 / 2.5 / 3.5: 0.22 / 0.21 / 0.24), chroma 0.67 -> 0.65,
    # peakiness unchanged (style_guidance_coarse_2026_12_06)
    sampling: GenerationSettings = field(default_factory=lambda: GenerationSettings(
        semantic=SamplingConfig(temperature=1.0, prefix_knn=0.6, prefix_knn_temperature=0.05),
        coarse=SamplingConfig(temperature=1.1, style_guidance=2.0), fine_by_example=4))

    def card_license(self) -> tuple[str, ...]:
        return (
            "MIT, like the code. Training audio and its licences (the weights contain none of it):",
            "",
            "- the FluidR3 GM soundfont (MIT), played by fluidsynth (LGPL-2.1);",
            "- the Salamander Grand Piano's single notes (Yamaha C5; Alexander Holm, CC BY 3.0, as kept in tambien/Piano);",
            "- room impulse responses from OpenAIR (openairlib.net): CC BY 3.0 / CC BY-SA 3.0 (see "
            "`../shared/data/rir/CREDITS.md`); simulated rooms by pyroomacoustics (MIT).")


RECIPES = {"speech": SpeechRecipe, "speech-mixed": MixedSpeechRecipe, "piano": PianoRecipe,
           "piano-mixed": MixedPianoRecipe}


def tiny_recipe(kind: str = "speech") -> Recipe:
    """Minutes-of-audio, few-step version of a recipe, for tests and smoke runs."""
    tiny_train = lambda steps, batch: TrainConfig(steps=steps, batch_size=batch, lr=1e-3, warmup=2,  # noqa: E731
                                                  save_every=2)
    recipe = RECIPES[kind]
    full = recipe()
    return recipe(
        corpus=recipe.tiny_corpus(),
        bundle=BundleConfig(domain=full.domain.name, num_quantizers=4, num_coarse=2, codebook_size=32,
                            semantic_vocab=16, coarse_layout=full.bundle.coarse_layout),
        codec=NeuralCodecConfig(dim=32, encoder_blocks=1, decoder_blocks=1, encoder_input_kernel=1,
                                synthesis="griffin_lim", encoder_input="log_magnitude",
                                rvq=RVQConfig(dim=8, num_quantizers=4, codebook_size=32)),
        codec_train=tiny_train(4, 4),
        encoder=BuiltinEncoderConfig(num_targets=8, transformer=TransformerConfig(
            d_model=32, n_layers=2, n_heads=2, causal=False, max_seq_len=1024)),
        encoder_train=tiny_train(4, 4), semantic_layer=1, kmeans_utterances=20,
        # the full recipe's cond dropout kept: its default sampling may guide the coarse stage
        semantic_size=_size(32, 1, 2, 24), fine_size=_size(32, 1, 2, 16),
        coarse_size=replace(_size(32, 1, 2, 16), cond_dropout=full.coarse_size.cond_dropout),
        semantic_train=tiny_train(4, 4), coarse_train=tiny_train(4, 4), fine_train=tiny_train(4, 4),
        voice_decoder=None if full.voice_decoder is None else VoiceDecoderConfig(levels=2, attention=(0,),
                                                                                  reference_blocks=1, heads=2),
        voice_decoder_train=tiny_train(4, 4))
