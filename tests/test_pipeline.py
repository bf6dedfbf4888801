from dataclasses import replace
import numpy as np
import pytest
import torch

from audiolm import AudioLM
from audiolm.testing import synthetic_voice
from audiolm.errors import AudioInputError, BundleError, SettingsError
from audiolm.factory import random_audiolm, tiny_bundle_config
from audiolm.pipeline import GENERATION_CONFIG, GenerationSettings
from audiolm.sampling import SamplingConfig, sample_seed
from audiolm.stages import FlatStage


@pytest.fixture(params=["parallel", "autoregressive"])
def model(request, tiny_model, tiny_model_ar):
    return tiny_model if request.param == "parallel" else tiny_model_ar


def test_unconditional_length_batch_and_seeds(model):
    a = model.unconditional(1.3, num_samples=2, seed=7)
    assert a.audio.shape == (2, round(1.3 * 16000)) and a.audio.dtype == np.float32
    assert a.acoustic_ids.shape == (2, 4, 65) and a.semantic_ids.shape == (2, 33)
    assert np.isfinite(a.audio).all() and a.prompt_samples == 0
    assert not np.array_equal(a.audio[0], a.audio[1])  # N samples differ
    b = model.unconditional(1.3, num_samples=2, seed=7)
    c = model.unconditional(1.3, num_samples=2, seed=8)
    assert np.array_equal(a.audio, b.audio)
    assert not np.array_equal(a.audio, c.audio)


def test_continuation_keeps_prompt_tokens_and_length(model):
    prompt = synthetic_voice(1.5, 16000)
    semantic, acoustic = model.tokenize(prompt[: len(prompt) // 640 * 640])
    result = model.continuation(prompt, 1.0, seed=1)
    aligned = len(prompt) // 640 * 640  # the prompt is cut to whole semantic frames
    assert result.prompt_samples == aligned
    assert result.audio.shape == (1, aligned + 16000)
    assert torch.equal(result.acoustic_ids[:, :, :acoustic.shape[2]], acoustic)
    assert torch.equal(result.semantic_ids[:, :semantic.shape[1]], semantic)


def test_acoustic_generation_keeps_semantic_ids(model):
    wav = synthetic_voice(1.2, 16000)
    semantic, _ = model.tokenize(wav)
    result = model.acoustic_generation(wav, num_samples=2, seed=3)
    assert result.audio.shape == (2, len(wav))
    assert torch.equal(result.semantic_ids, semantic.expand(2, -1))
    assert result.acoustic_ids.shape == (2, 4, model.codec.num_frames(len(wav)))


def test_acoustic_generation_with_voice_prompt(model):
    wav, voice = synthetic_voice(1.2, 16000), synthetic_voice(1.0, 16000, seed=5)
    plain = model.acoustic_generation(wav, seed=3)
    prompted = model.acoustic_generation(wav, voice, seed=3)
    assert prompted.audio.shape == (1, len(wav))
    assert not np.array_equal(plain.audio, prompted.audio)


def test_progress_reports_every_stage(tiny_model):
    seen = {}
    tiny_model.continuation(synthetic_voice(1.0, 16000), 0.5, progress=lambda s, f: seen.setdefault(s, []).append(f))
    assert list(seen) == ["semantic", "coarse", "fine", "decode"]
    assert all(0 <= f <= 1 for fs in seen.values() for f in fs) and seen["coarse"][-1] == 1.0


def test_bad_seconds(tiny_model):
    with pytest.raises(ValueError, match="seconds"):
        tiny_model.unconditional(0)
    with pytest.raises(ValueError, match="seconds"):
        tiny_model.continuation(synthetic_voice(1.0, 16000), 1000)


def test_save_load_gives_identical_outputs(tmp_path, tiny_model):
    tiny_model.save_pretrained(tmp_path / "b", model_card="# tiny\n")
    back = AudioLM.from_pretrained(tmp_path / "b")
    assert (tmp_path / "b" / "README.md").read_text() == "# tiny\n"
    ids = torch.randint(0, 32, (1, 10))
    flat = tiny_model.semantic_stage.flatten(None, ids[:, None])
    assert torch.equal(tiny_model.semantic_stage.lm(flat), back.semantic_stage.lm(flat))
    a, b = tiny_model.unconditional(0.6, seed=2), back.unconditional(0.6, seed=2)
    assert np.array_equal(a.audio, b.audio)


def test_a_bundle_carries_its_own_default_sampling(tmp_path):
    model = random_audiolm(tiny_bundle_config(), "tiny", seed=0)
    assert model.default_settings == GenerationSettings()  # the paper's, when nobody says otherwise
    own = GenerationSettings(SamplingConfig(0.0), SamplingConfig(0.0, top_k=5), SamplingConfig(0.0, guidance=1.0))
    model.default_settings = own
    model.save_pretrained(tmp_path / "own")
    back = AudioLM.from_pretrained(tmp_path / "own")
    assert back.default_settings == own
    # no settings passed: the bundle's (all greedy here, so any seed gives the same audio)
    a, b = back.unconditional(0.4, seed=1), back.unconditional(0.4, seed=2)
    assert np.array_equal(a.audio, b.audio)
    assert np.array_equal(a.audio, back.unconditional(0.4, seed=3, settings=own).audio)
    assert not np.array_equal(a.audio, back.unconditional(0.4, seed=1, settings=GenerationSettings()).audio)
    # a bundle saved before bundles had them: the paper's
    (tmp_path / "own" / GENERATION_CONFIG).unlink()
    assert AudioLM.from_pretrained(tmp_path / "own").default_settings == GenerationSettings()
    (tmp_path / "own" / GENERATION_CONFIG).write_text('{"semantic": {"temperature": -1}}')
    with pytest.raises(BundleError, match="generation_config.json .*temperature must be >= 0"):
        AudioLM.from_pretrained(tmp_path / "own")


def test_overrides_change_what_the_caller_sets_and_keep_the_rest():
    own = GenerationSettings(SamplingConfig(0.9), SamplingConfig(0.8, guidance=2.0), SamplingConfig(0.5, top_p=0.9))
    assert own.with_overrides() == own
    mine = own.with_overrides((0.1, 0.2, 0.3), top_k=7)
    assert mine.temperatures == (0.1, 0.2, 0.3) and mine.coarse.guidance == 2.0
    assert mine.semantic.top_k == mine.fine.top_k == 7 and mine.fine.top_p == 0.9
    with pytest.raises(SettingsError, match="temperature"):
        own.with_overrides((0.1, -0.2, 0.3))


def test_settings_a_stage_cannot_follow_are_refused_before_any_work(tiny_model):
    guided = GenerationSettings().with_overrides(guidance=2.0)
    assert guided.coarse.guidance == 2.0 and guided.semantic.guidance == guided.fine.guidance == 1.0
    seen = []
    with pytest.raises(SettingsError, match="coarse stage .* cannot be guided"):
        tiny_model.unconditional(0.5, settings=guided, progress=lambda stage, fraction: seen.append(stage))
    assert seen == []  # not even the semantic stage ran
    with pytest.raises(SettingsError, match="semantic stage .* cannot be guided"):
        tiny_model.check_settings(GenerationSettings(semantic=SamplingConfig(0.6, guidance=2.0)))


def test_a_space_request_takes_the_bundles_settings_unless_it_sets_temperatures():
    from audiolm.space import Request

    model = random_audiolm(tiny_bundle_config(), "tiny", seed=0)
    model.default_settings = GenerationSettings(SamplingConfig(0.9), SamplingConfig(0.7, guidance=2.0))
    assert Request("tiny", "unconditional").settings_for(model) == model.default_settings
    mine = Request("tiny", "unconditional", temperatures=(0.5, 0.5, 0.5), top_p=0.8).settings_for(model)
    assert mine.temperatures == (0.5, 0.5, 0.5) and mine.coarse.guidance == 2.0 and mine.fine.top_p == 0.8
    assert Request("tiny", "unconditional", guidance=1).settings_for(model).coarse.guidance == 1.0
    with pytest.raises(SettingsError, match="Coarse guidance must be a number from 0 to 8"):
        Request("tiny", "unconditional", guidance=9)
    assert Request("tiny", "continuation", voice_prior=12).settings_for(model).voice_prior == 12.0
    assert Request("tiny", "continuation").settings_for(model).voice_prior == model.default_settings.voice_prior
    with pytest.raises(SettingsError, match="Voice matching must be a number from 0 to 30"):
        Request("tiny", "continuation", voice_prior=-1)
    adapted = Request("tiny", "continuation", prompt_adaptation=20).settings_for(model)
    assert adapted.semantic_adaptation_steps == 20 and adapted.semantic.forbid_prefix_ngrams == 4
    model.default_settings = replace(model.default_settings, semantic_adaptation_steps=10)
    assert Request("tiny", "continuation").settings_for(model).semantic_adaptation_steps == 10
    assert Request("tiny", "continuation", prompt_adaptation=0).settings_for(model).semantic_adaptation_steps == 0
    model.default_settings = replace(model.default_settings, semantic_candidates=3)
    assert Request("tiny", "continuation").settings_for(model).semantic_candidates == 3
    assert Request("tiny", "continuation", semantic_plans=16).settings_for(model).semantic_candidates == 16
    for bad in (-5, 61, 2.5):
        with pytest.raises(SettingsError, match="Prompt adaptation must be a whole number from 0 to 60"):
            Request("tiny", "continuation", prompt_adaptation=bad)
    for bad in (0, 17, 2.5):
        with pytest.raises(SettingsError, match="Semantic plans must be a whole number from 1 to 16"):
            Request("tiny", "continuation", semantic_plans=bad)


def test_fp16_bundle_loads_into_fp32(tmp_path, tiny_model):
    tiny_model.save_pretrained(tmp_path / "h", dtype=torch.float16)
    back = AudioLM.from_pretrained(tmp_path / "h")
    assert next(back.coarse_stage.parameters()).dtype == torch.float32
    assert back.unconditional(0.5).audio.shape == (1, 8000)


def test_int8_bundle_is_smaller_and_close(tmp_path, tiny_model):
    from safetensors.torch import load_file

    tiny_model.save_pretrained(tmp_path / "h", dtype=torch.float16)
    tiny_model.save_pretrained(tmp_path / "q", dtype=torch.int8)
    size = lambda f: sum(p.stat().st_size for p in f.glob("*/model.safetensors"))  # noqa: E731
    assert size(tmp_path / "q") < 0.75 * size(tmp_path / "h")
    stored = load_file(tmp_path / "q" / "coarse" / "model.safetensors")
    assert stored["lm.embed.weight"].dtype == torch.int8 and "lm.embed.weight.int8_scale" in stored
    back = AudioLM.from_pretrained(tmp_path / "q")
    for name, module in (("coarse", tiny_model.coarse_stage), ("codec", tiny_model.codec)):
        loaded = dict(getattr(back, "codec" if name == "codec" else "coarse_stage").state_dict())
        for key, value in module.state_dict().items():
            if value.is_floating_point() and value.dim() >= 2 and value.numel() >= 1024:
                row_max = value.reshape(value.shape[0], -1).abs().amax(1).reshape((-1,) + (1,) * (value.dim() - 1))
                assert ((loaded[key] - value).abs() <= row_max / 254 * 1.01 + 1e-3 * row_max).all(), key
    # the tokenizer is never int8: its features pick the tokens
    assert load_file(tmp_path / "q" / "semantic_tokenizer" / "model.safetensors")["centroids"].dtype == torch.float32
    assert back.unconditional(0.5, seed=1).audio.shape == (1, 8000)


def test_mismatched_stages_are_refused(tiny_model):
    other = random_audiolm(tiny_bundle_config(codebook_size=32), "tiny")
    with pytest.raises(BundleError, match="coarse stage target_codebook is 32"):
        AudioLM(tiny_model.config, tiny_model.codec, tiny_model.semantic_tokenizer, tiny_model.semantic_stage,
                other.coarse_stage, tiny_model.fine_stage)
    assert isinstance(other.coarse_stage, FlatStage)


def test_missing_bundle_is_a_clear_error(tmp_path):
    with pytest.raises(BundleError, match="not an AudioLM bundle"):
        AudioLM.from_pretrained(tmp_path)
    with pytest.raises(BundleError, match="not a Hub repo id"):
        AudioLM.from_pretrained(tmp_path / "missing" / "deeper")
    with pytest.raises(BundleError, match="not a valid Hub repo id"):
        AudioLM.from_pretrained("team/bad name!")


def test_random_bundles_are_seeded_without_touching_the_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = random_audiolm(tiny_bundle_config(), "tiny", seed=5)
    assert torch.equal(torch.rand(3), expected)
    b = random_audiolm(tiny_bundle_config(), "tiny", seed=5)
    c = random_audiolm(tiny_bundle_config(), "tiny", seed=6)
    weight = lambda m: m.coarse_stage.lm.head.weight  # noqa: E731
    assert torch.equal(weight(a), weight(b)) and not torch.equal(weight(a), weight(c))


@pytest.mark.parametrize("kwargs,match", [
    (dict(num_samples=0), "num_samples must be a whole number >= 1, got 0"),
    (dict(num_samples=-2), "num_samples must be"),
    (dict(num_samples=1.5), "num_samples must be"),
    (dict(seed=None), "seed must be a whole number from 0 to 4294967295, got None"),
    (dict(seed=1.5), "seed must be"),
    (dict(seed=-1), "seed must be"),
    (dict(seed=2 ** 64), "seed must be"),
    (dict(seed="3"), "seed must be"),
    (dict(seconds=0.01), r"seconds must be between 0.04 \(one frame\) and 30, got 0.01"),
    (dict(seconds=float("nan")), "seconds must be between"),
    (dict(seconds=float("inf")), "seconds must be between"),
    (dict(seconds="5"), "seconds must be between"),
])
@pytest.mark.parametrize("mode", ["unconditional", "continuation", "acoustic_generation"])
def test_library_settings_are_validated(tiny_model, mode, kwargs, match):
    if "seconds" in kwargs and mode == "acoustic_generation":
        pytest.skip("acoustic generation keeps the input's length")
    call = {"unconditional": lambda **kw: tiny_model.unconditional(kw.pop("seconds", 0.5), **kw),
            "continuation": lambda **kw: tiny_model.continuation(synthetic_voice(0.5, 16000), kw.pop("seconds", 0.5),
                                                                 **kw),
            "acoustic_generation": lambda **kw: tiny_model.acoustic_generation(synthetic_voice(0.5, 16000), **kw)}[mode]
    with pytest.raises(SettingsError, match=match):
        call(**kwargs)


def nan_wav():
    wav = synthetic_voice(0.5, 16000)
    wav[10] = np.nan
    return wav


@pytest.mark.parametrize("wav,match", [
    (synthetic_voice(0.5, 16000)[:600], "The prompt is 600 samples long; at least 640 \\(40 ms at 16000 Hz\\)"),
    (nan_wav(), "The prompt contains NaN"),
    ((synthetic_voice(0.5, 16000) * 32767).astype(np.int16), "The prompt is a int16 array; pass float samples"),
    (np.stack([synthetic_voice(0.5, 16000)] * 2), "The prompt must be mono"),
    (synthetic_voice(0.5, 16000) * 32767, "The prompt has samples beyond \\[-1, 1\\]"),
])
def test_library_audio_arrays_are_validated(tiny_model, wav, match):
    with pytest.raises(AudioInputError, match=match):
        tiny_model.continuation(wav, 0.5)


def test_acoustic_generation_names_the_bad_array(tiny_model):
    good = synthetic_voice(0.5, 16000)
    with pytest.raises(AudioInputError, match="The input audio contains NaN"):
        tiny_model.acoustic_generation(nan_wav(), good)
    with pytest.raises(AudioInputError, match="The voice prompt is 100 samples long"):
        tiny_model.acoustic_generation(good, good[:100])
    assert tiny_model.unconditional(0.04).audio.shape == (1, 640)  # one frame is enough


@pytest.mark.parametrize("mode", ["unconditional", "continuation", "acoustic_generation"])
def test_sample_i_of_a_seed_is_the_same_whatever_the_number_of_samples(model, mode):
    """Users pick the sample they liked and regenerate it alone: with N=1 and its own seed."""
    prompt = synthetic_voice(0.6, 16000)
    run = {"unconditional": lambda n, seed: model.unconditional(0.6, num_samples=n, seed=seed),
           "continuation": lambda n, seed: model.continuation(prompt, 0.4, num_samples=n, seed=seed),
           "acoustic_generation": lambda n, seed: model.acoustic_generation(prompt, num_samples=n, seed=seed)}[mode]
    one, two, three = run(1, 9), run(2, 9), run(3, 9)
    assert np.array_equal(one.audio[0], three.audio[0]) and np.array_equal(two.audio[1], three.audio[1])
    assert torch.equal(one.acoustic_ids[0], three.acoustic_ids[0])
    alone = run(1, sample_seed(9, 2))
    assert np.array_equal(alone.audio[0], three.audio[2]) and torch.equal(alone.acoustic_ids[0], three.acoustic_ids[2])
    assert not np.array_equal(three.audio[1], three.audio[2])


def broken_copy(tmp_path, model, name, breaks):
    folder = tmp_path / name
    model.save_pretrained(folder)
    breaks(folder)
    return folder


def truncate(path):
    path.write_bytes(path.read_bytes()[:100])


def widen(path):
    import json

    config = json.loads(path.read_text())
    config["transformer"]["d_model"] *= 2
    path.write_text(json.dumps(config))


@pytest.mark.parametrize("breaks,file,match", [
    (lambda f: truncate(f / "coarse" / "model.safetensors"), "coarse/model.safetensors",
     "is not a readable safetensors file .*truncated or corrupt. Download the bundle again"),
    (lambda f: (f / "fine" / "config.json").write_text('{"type": "flat",'), "fine/config.json",
     "is not valid JSON .*Download the bundle again"),
    (lambda f: (f / "config.json").write_text("[1, 2]"), "config.json", "must hold a JSON object"),
    (lambda f: widen(f / "coarse" / "config.json"), "coarse/model.safetensors",
     r"do not fit the model .*coarse/config.json describes: .* is \(\d+, 32\) in the file but \(\d+, 64\)"),
    (lambda f: (f / "codec" / "config.json").write_text('{"type": "neural", "dim": "wide"}'), "codec",
     "Could not load .*codec \\(TypeError"),
])
def test_broken_bundles_are_bundle_errors_naming_the_file(tmp_path, tiny_model, breaks, file, match):
    folder = broken_copy(tmp_path, tiny_model, "broken", breaks)
    with pytest.raises(BundleError, match=match) as err:
        AudioLM.from_pretrained(folder)
    assert str(folder / file) in str(err.value)
