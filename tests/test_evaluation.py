"""Evaluation: metric definitions on constructed cases, the speaker classifier, the eval command."""
import json
import subprocess
import sys

import numpy as np
import pytest

from audiolm.bench import synthetic_voice
from audiolm.evaluation.metrics import chance_agreement, mel_distance, pesq_wb, phone_purity, pnmi, stoi
from audiolm.evaluation.speaker import SpeakerClassifier
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


@needs_espeak
def test_eval_command_writes_every_figure(tiny_recipe_run, tmp_path):
    work, data, bundle, _ = tiny_recipe_run
    out = tmp_path / "eval.json"
    proc = subprocess.run([sys.executable, "-m", "audiolm", "eval", "--bundle", str(bundle), "--data", str(data),
                           "--prompts", "1", "--threads", "1", "--out", str(out)],
                          check=True, capture_output=True, text=True, timeout=600)
    results = json.loads(out.read_text())
    assert set(results["codec"]) == {"levels_4", "levels_2", "griffin_lim_ceiling"}
    for codec in results["codec"].values():
        assert -0.5 <= codec["pesq_wb"] <= 4.65 and 0 <= codec["stoi"] <= 1
    assert results["codec"]["griffin_lim_ceiling"]["pesq_wb"] > results["codec"]["levels_4"]["pesq_wb"]
    assert 0 <= results["semantic_tokens"]["pnmi"] <= 1
    assert results["continuation"]["prompts"] == 2  # 1 prompt x 2 held-out speakers
    assert results["acoustic_generation"]["inputs"] == 2
    assert results["speed"]["continuation_marginal_rtf"] > 0
    assert "| continuation, 3 s prompts | speaker-ID = prompt speaker |" in proc.stdout
    # the model card of a re-exported bundle carries the table
    (work / "metrics.json").write_text(json.dumps(results))
    card_dir = tmp_path / "carded"
    subprocess.run([sys.executable, "-m", "audiolm", "train", "bundle", "--work", str(work), "--data", str(data),
                    "--out", str(card_dir)], check=True, capture_output=True, timeout=600)
    card = (card_dir / "README.md").read_text()
    assert "| continuation, 3 s prompts | speaker-ID = prompt speaker |" in card
    assert "license: mit" in card and "Not measured yet" not in card
