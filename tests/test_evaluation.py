"""Evaluation: metric definitions on constructed cases, the speaker classifier, the eval command."""
import json
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest

from audiolm.testing import synthetic_voice
from audiolm.data.speech_corpus import SpeechCorpus
from audiolm.evaluation.metrics import (MEL_RESOLUTIONS, chance_agreement, copied_ngrams, degeneracy, distinct_ngrams,
                                       mel_distance, pairwise_ngram_overlap, pesq_wb, phone_purity, pnmi, stoi)
from audiolm.evaluation.speaker import SpeakerClassifier
from audiolm.results import BEGIN, END
from test_training import needs_espeak


def test_purity_and_pnmi_bounds():
    phones = list("aabbccaabbcc")
    assert phone_purity(phones, np.array([0, 0, 1, 1, 2, 2] * 2)) == 1.0
    assert pnmi(phones, np.array([0, 0, 1, 1, 2, 2] * 2)) == pytest.approx(1.0)
    one_cluster = np.zeros(12, int)
    assert phone_purity(phones, one_cluster) == pytest.approx(4 / 12)
    assert pnmi(phones, one_cluster) == pytest.approx(0.0)
    finer = np.array([0, 1, 2, 3, 4, 5] * 2)  # a split of each phone: still pure, still informative
    assert phone_purity(phones, finer) == 1.0 and pnmi(phones, finer) == pytest.approx(1.0)


def test_chance_agreement():
    assert chance_agreement(np.array([3, 3, 3])) == 1.0
    assert chance_agreement(np.arange(100)) == pytest.approx(0.01)


def test_signal_metrics_rank_degradation():
    clean = synthetic_voice(3.0, 16000, seed=1).astype(np.float32)
    noise = np.random.default_rng(0).normal(size=clean.shape).astype(np.float32)
    slight, heavy = clean + 0.01 * noise, clean + 0.2 * noise
    assert pesq_wb(clean, clean) > 4.4
    assert pesq_wb(clean, slight) > pesq_wb(clean, heavy)
    assert stoi(clean, slight) > stoi(clean, heavy)
    assert mel_distance(clean, clean) == 0.0 < mel_distance(clean, slight) < mel_distance(clean, heavy)


def test_speaker_classifier_tells_voices_apart():
    def voice(f0, seed):
        return synthetic_voice(2.0, 16000, seed=seed, f0=f0).astype(np.float32)
    train = [voice(f0, s) for f0 in (100, 180, 260) for s in range(4)]
    labels = [k for k in range(3) for _ in range(4)]
    clf = SpeakerClassifier().fit(train, labels)
    assert clf.accuracy([voice(f0, 10 + s) for f0 in (100, 180, 260) for s in range(2)],
                        [k for k in range(3) for _ in range(2)]) == 1.0


def test_distinct_ngrams_and_overlap():
    assert distinct_ngrams([[1, 2, 3, 4]], 1) == 1.0
    assert distinct_ngrams([[1, 1, 1, 1]], 1) == 0.25
    assert distinct_ngrams([[1, 2, 3], [1, 2, 3]], 2) == 0.5  # two seeds, same output
    assert pairwise_ngram_overlap([[1, 2, 3, 4], [1, 2, 3, 4]], 3) == 1.0
    assert pairwise_ngram_overlap([[1, 2, 3, 4], [5, 6, 7, 8]], 3) == 0.0


def test_copied_ngrams_counts_the_continuation_grams_found_in_the_prompt():
    prompt = [1, 2, 3, 4, 5, 6]
    assert copied_ngrams(prompt, [3, 4, 5, 6, 1]) == 0.5  # (3, 4, 5, 6) is the prompt's, (4, 5, 6, 1) is not
    assert copied_ngrams(prompt, prompt) == 1.0
    assert copied_ngrams(prompt, [6, 5, 4, 3, 2, 1]) == 0.0  # the same ids in another order replay nothing
    assert math.isnan(copied_ngrams(prompt, [1, 2, 3]))  # no 4-gram to count
    assert copied_ngrams(prompt, [1, 2, 3], n=2) == 1.0


def test_degeneracy_flags_silence_loops_and_nan():
    rng = np.random.default_rng(0)
    speech_like, varied = synthetic_voice(2.0, 16000), rng.integers(0, 100, 50)
    assert degeneracy(speech_like, varied) is None
    assert degeneracy(speech_like * 1e-4, varied) == "silent"
    assert degeneracy(speech_like, np.tile([3, 7], 25)) == "loop"
    assert degeneracy(speech_like, np.r_[np.zeros(30, int), varied[:20]]) == "loop"  # one id fills 60 %
    bad = speech_like.copy()
    bad[5] = np.nan
    assert degeneracy(bad, varied) == "non-finite"


def test_mel_distance_is_multi_resolution():
    x = synthetic_voice(1.0, 16000)
    assert mel_distance(x, x) == 0.0
    single = [mel_distance(x, 0.5 * x, resolutions=[r]) for r in MEL_RESOLUTIONS]
    assert mel_distance(x, 0.5 * x) == pytest.approx(np.mean(single))


@needs_espeak
def test_eval_command_writes_every_figure(tiny_recipe_run, tmp_path):
    work, data, bundle, _ = tiny_recipe_run
    out = tmp_path / "eval.json"
    real = tmp_path / "real"  # stands in for LibriSpeech test-other: SPEAKER/*.wav
    for record in SpeechCorpus(data).split("heldout"):
        path = real / f"reader{record['speaker']}" / f"{record['id']}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(data / record["path"], path)
    proc = subprocess.run([sys.executable, "-m", "audiolm", "eval", "--bundle", str(bundle), "--data", str(data),
                           "--prompts", "1", "--threads", "1", "--real-voices", str(real), "--out", str(out)],
                          check=True, capture_output=True, text=True, timeout=900)
    results = json.loads(out.read_text())
    # eval v2: codecs side by side, real voices judged by the independent encoder, token invariance
    for clips in ("synthetic", "real"):
        rows = {row["codec"]: row for row in results["codec_side_by_side"][clips]}
        assert {"ours, Q=4 levels", "ours, Q'=2 levels", "Opus 6 kbps", "Opus 8 kbps", "Codec2 3.2 kbps"} <= set(rows)
        for row in rows.values():
            assert "skipped" in row or 0 <= row["stoi"] <= 1
    assert results["codec_side_by_side"]["real"][0]["mel_distance"] == 0.0  # the uncoded original leads
    r = results["real_voices"]
    # 2 readers x 2 test utterances: 1 prompt each, and 2 acoustic inputs each (one of them the prompt's)
    assert r["speakers"] == 2 and r["continuation"]["prompts"] == 2 and r["acoustic_generation"]["inputs"] == 4
    assert 0 <= r["continuation"]["copied_4grams"] <= 1
    if r["similarity_judge"] == "resemblyzer GE2E":
        assert -1 <= r["continuation"]["sim_continuation"] <= 1
        assert r["reference"]["sim_same_speaker"] > r["reference"]["sim_other_speakers"]
    t = r["tokens_speaker_id"]
    assert t["chance"] == 0.5 and 0 <= t["from_semantic_ids"] <= 1 and 0 <= t["from_codec_level_1_ids"] <= 1
    inv = results["token_invariance"]
    assert 0 <= inv["same_sentence"] <= 1 and inv["pairs_same"] == inv["sentences"] * 1  # 2 voices: 1 pair each
    assert set(results["seconds"]) >= {"codec", "voices", "real voices", "real codec"}
    assert "| Opus 8 kbps | 8 |" in proc.stdout and "real held-out readers" in proc.stdout
    assert set(results["codec"]) == {"levels_4", "levels_2", "griffin_lim_ceiling"}
    for codec in results["codec"].values():
        assert -0.5 <= codec["pesq_wb"] <= 4.65 and 0 <= codec["stoi"] <= 1
    assert results["codec"]["griffin_lim_ceiling"]["pesq_wb"] > results["codec"]["levels_4"]["pesq_wb"]
    assert 0 <= results["semantic_tokens"]["pnmi"] <= 1
    assert results["continuation"]["prompts"] == 2  # 1 prompt x 2 held-out speakers
    assert results["acoustic_generation"]["inputs"] == 4  # as for the real readers below
    assert results["speed"]["continuation_marginal_rtf"] > 0
    u = results["unconditional"]
    assert u["samples"] == 16 and u["semantic_frames"] == 100  # 16 seeds (the v2 bar), 4 s at 25 Hz
    for figures in (u["generated"], u["heldout_speech"]):
        assert all(0 <= v <= 1 for v in figures.values())
    assert u["heldout_speech_degenerate_rate"] == 0  # real speech never counts as degenerate
    assert u["degenerate_rate"] == sum(u["degenerate_reasons"].values()) / 8
    assert results["context"]["threads"] == 1 and results["context"]["date"]
    assert "| continuation, 3 s prompts | speaker-ID = prompt speaker |" in proc.stdout
    # the README's results section renders it, with where and when it was measured
    readme = tmp_path / "README.md"
    readme.write_text(f"{BEGIN}\n{END}\n")
    subprocess.run([sys.executable, "-m", "audiolm", "results", "--eval", str(out), "--bench", "--readme", str(readme)],
                   check=True, capture_output=True, timeout=120)
    section = readme.read_text()
    assert results["context"]["date"] in section and "| continuation, 3 s prompts |" in section
    # the model card of a re-exported bundle carries the table
    (work / "metrics.json").write_text(json.dumps(results))
    card_dir = tmp_path / "carded"
    subprocess.run([sys.executable, "-m", "audiolm", "train", "bundle", "--work", str(work), "--data", str(data),
                    "--out", str(card_dir)], check=True, capture_output=True, timeout=600)
    card = (card_dir / "README.md").read_text()
    assert "| continuation, 3 s prompts | speaker-ID = prompt speaker |" in card
    assert "license: mit" in card and "Not measured yet" not in card
