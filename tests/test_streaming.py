"""Streaming gives the non-streamed result: the same tokens, and audio whose chunks put together are the
whole decode's (codec chunks decoded with ``decode_context`` frames either side, cropped)."""
import numpy as np
import pytest
import torch

from audiolm import AudioLM
from audiolm.codec import NeuralCodec, NeuralCodecConfig, RVQConfig
from audiolm.pipeline import GenerationSettings
from audiolm.sampling import SamplingConfig
from audiolm.streaming import stream_continuation, stream_unconditional, time_to_first_audio
from audiolm.testing import synthetic_voice
from app_server import ROOT

# float64 synthesis: bit-identical where the BLAS's rounding does not depend on the sequence length (the
# tests' runs at 2 threads); 1e-8 where it does (seen at 1 thread), far below a 16-bit step (3e-5)
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def speech():
    """The bundled speech model: Griffin-Lim synthesis, the one whose chunks need the widest context."""
    return AudioLM.from_pretrained(ROOT / "checkpoints" / "speech")


def chunks_and_result(stream):
    chunks = [chunk.copy() for chunk in stream]
    return chunks, stream.result


@pytest.mark.parametrize("synthesis", ["griffin_lim", "istft"])
def test_codec_chunks_with_context_are_the_whole_decode(synthesis):
    torch.manual_seed(0)
    codec = NeuralCodec(NeuralCodecConfig(dim=32, decoder_blocks=2, synthesis=synthesis, encoder_blocks=1,
                                          rvq=RVQConfig(dim=8, num_quantizers=3, codebook_size=16))).eval()
    ids = torch.randint(0, 16, (1, 3, 300))
    whole, hop, context = codec.decode(ids), codec.hop_length, codec.decode_context
    assert context == (3 * 3 + (33 * 3 + 1) // 2 if synthesis == "griffin_lim" else 3 * 3 + 4)
    for start, end in ((0, 40), (97, 161), (140, 300)):
        lo, hi = max(0, start - context), min(300, end + context)
        part = codec.decode(ids[:, :, lo:hi])[:, (start - lo) * hop:(end - lo) * hop]
        assert torch.allclose(part, whole[:, start * hop:end * hop], rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("mode", ["continuation", "unconditional"])
def test_stream_equals_the_non_streamed_result(speech, mode):
    settings = GenerationSettings(coarse=SamplingConfig(temperature=0.8, top_k=50))
    if mode == "continuation":
        prompt = synthetic_voice(2.0, 16000)
        stream = stream_continuation(speech, prompt, 4.0, num_samples=2, seed=7, settings=settings)
        whole = speech.continuation(prompt, 4.0, num_samples=2, seed=7, settings=settings)
    else:
        stream = stream_unconditional(speech, 5.0, num_samples=2, seed=7, settings=settings)
        whole = speech.unconditional(5.0, num_samples=2, seed=7, settings=settings)
    chunks, result = chunks_and_result(stream)
    assert len(chunks) >= 2  # audio before the end
    assert torch.equal(result.semantic_ids, whole.semantic_ids)
    assert torch.equal(result.acoustic_ids, whole.acoustic_ids)
    audio = np.concatenate(chunks, 1)
    assert audio.shape == whole.audio.shape and np.array_equal(audio, result.audio)
    assert np.abs(audio - whole.audio).max() <= TOLERANCE
    assert result.prompt_samples == whole.prompt_samples and result.seed == 7
    if mode == "continuation":  # the prompt's first part comes before anything is generated
        assert chunks[0].shape[1] <= whole.prompt_samples


@pytest.mark.parametrize("fine", ["parallel", "autoregressive"])
def test_stream_equals_the_non_streamed_result_with_either_fine_layout(request, fine):
    model = request.getfixturevalue("tiny_model" if fine == "parallel" else "tiny_model_ar")
    prompt = synthetic_voice(1.0, 16000)
    chunks, result = chunks_and_result(stream_continuation(model, prompt, 3.0, seed=3))
    whole = model.continuation(prompt, 3.0, seed=3)
    assert torch.equal(result.acoustic_ids, whole.acoustic_ids)
    assert np.abs(np.concatenate(chunks, 1) - whole.audio).max() <= TOLERANCE


def test_greedy_and_progress(tiny_model):
    greedy = GenerationSettings(*(SamplingConfig(temperature=0) for _ in range(3)))
    seen = []
    _, result = chunks_and_result(stream_unconditional(tiny_model, 2.0, seed=1, settings=greedy,
                                                       progress=lambda stage, f: seen.append(stage)))
    assert torch.equal(result.acoustic_ids, tiny_model.unconditional(2.0, seed=1, settings=greedy).acoustic_ids)
    assert {"semantic", "coarse", "fine", "decode"} <= set(seen)


def test_time_to_first_audio(tiny_model):
    times = time_to_first_audio(lambda: stream_continuation(tiny_model, synthetic_voice(1.0, 16000), 2.0))
    assert 0 < times["first_audio_s"] <= times["first_new_audio_s"] <= times["total_s"]
    assert times["audio_s"] == pytest.approx(3.0, abs=0.05)


def test_the_app_streams_the_files_audio_and_the_named_endpoints(tmp_path):
    """Through app.py's functions: the wav pieces the streaming player gets are the first file's samples, and
    within one 16-bit step of what the non-streamed /continuation endpoint gives for the same seed."""
    import io

    import soundfile

    import app
    from audiolm.space import BundleSource, BundleStore, OutputFolder, Request

    store = BundleStore([BundleSource("speech", ROOT / "checkpoints" / "speech")])
    outputs = OutputFolder(tmp_path / "out")
    example = str(ROOT / "examples" / "speech-heldout-48.wav")
    make = lambda: Request("speech", "continuation", example, None, 2.0, (0.6, 0.8, 0.6), None, 11, 1)  # noqa: E731
    updates = list(app.generate_streamed(store, outputs, make, lambda *a, **k: None))
    pieces = [soundfile.read(io.BytesIO(update[0]), dtype="int16")[0] for update in updates[:-1]]
    assert len(pieces) >= 4 and all(len(p) <= 8000 for p in pieces)  # half-second pieces
    _, audio, files, picture, info = updates[-1]
    streamed = np.concatenate(pieces)
    assert np.array_equal(streamed, audio[1]) and np.array_equal(streamed, soundfile.read(files[0], dtype="int16")[0])
    assert picture.ndim == 3 and "Seed: **11**" in info
    named, *_ = app.generate(store, outputs, make, lambda *a, **k: None)
    assert named[1].shape == streamed.shape
    assert np.abs(named[1].astype(int) - streamed).max() <= 1
