"""The README's Results section: regenerated from JSON between markers, and up to date in the repo."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from audiolm.results import BEGIN, END, bench_section, update_card, update_readme

ROOT = Path(__file__).resolve().parents[1]
CONTEXT = {"date": "2026-01-02 03:04 UTC", "machine": "Test CPU, 2 cores, 24 GiB", "accelerator": None,
           "threads": 2, "python": "3.11.7", "torch": "2.13.0+cpu", "commit": "abc123def456"}


def bench_json():
    run = {"device": "cpu", "threads": 2, "batch": 1, "seconds": 10.0, "repeats": 1, "load_seconds": 1.25,
           "stages": {"coarse": {"size": "d64×2, 0.1 M", "tokens": 2000, "wall_s": 4.0, "tokens_per_s": 500.0,
                                 "ms_per_token": 2.0, "rtf": 0.4}},
           "modes": {"continuation": {"wall_s": 3.0, "audio_s": 10.0, "rtf": 0.3}},
           "peak_memory_mb": 512.0, "peak_memory_kind": "process RSS", "peer": {"skipped": "not installed"}}
    return {"context": CONTEXT, "bundle": "checkpoints/speech", "runs": [run]}


def test_bench_section_states_where_and_when():
    text = bench_section(bench_json(), "b.json")
    assert "2026-01-02 03:04 UTC" in text and "Test CPU, 2 cores" in text and "`abc123def456`" in text
    assert "| coarse | d64×2, 0.1 M | 500 | 2.00 | 0.400 |" in text
    assert "| continuation | 3.00 | 10.00 | 0.300 |" in text and "model load: 1.25 s" in text
    assert "lucidrains' audiolm-pytorch not timed: not installed" in text
    assert "Reproduce: `python -m audiolm bench --json b.json`" in text
    best_of_3 = bench_json()
    best_of_3["runs"][0]["repeats"] = 3
    assert "Reproduce: `python -m audiolm bench --repeats 3 --json b.json`" in bench_section(best_of_3, "b.json")


def test_update_replaces_only_the_marked_section(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nbefore\n\n{BEGIN}\nold figures\n{END}\n\nafter\n")
    section = f"{BEGIN}\nnew figures\n{END}"
    assert update_readme(readme, section)
    assert readme.read_text() == f"# Title\n\nbefore\n\n{section}\n\nafter\n"
    assert not update_readme(readme, section)  # idempotent
    readme.write_text("# no markers\n")
    with pytest.raises(ValueError, match="no results markers"):
        update_readme(readme, section)


def test_results_command_writes_and_checks(tmp_path):
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps(bench_json()))
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{BEGIN}\n{END}\n")
    run = lambda *a: subprocess.run([sys.executable, "-m", "audiolm", "results", "--eval", "--bench", str(bench),  # noqa: E731
                                     "--readme", str(readme), *a], capture_output=True, text=True, cwd=ROOT)
    assert run("--check").returncode == 1  # stale
    assert run().returncode == 0 and "| coarse | d64×2, 0.1 M |" in readme.read_text()
    assert run("--check").returncode == 0
    missing = subprocess.run([sys.executable, "-m", "audiolm", "results", "--bench", str(tmp_path / "none.json"),
                              "--readme", str(readme)], capture_output=True, text=True, cwd=ROOT)
    assert missing.returncode == 1 and "not found" in missing.stderr


def test_readme_results_match_the_committed_json():
    """No hand-typed figures: the README's section and the shipped model cards' metrics are exactly
    what the committed JSON renders to."""
    proc = subprocess.run([sys.executable, "-m", "audiolm", "results", "--check", "--cards"], capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_card_metrics_replace_only_their_section(tmp_path):
    card = tmp_path / "README.md"
    card.write_text("# Model\n\n## Data\nkept\n\n## Metrics (old)\n\n| old | table |\n\n## License\n\nMIT\n")
    assert update_card(card, "## Metrics (new)\n\nnew figures\n\n")
    text = card.read_text()
    assert "| old | table |" not in text and "new figures" in text
    assert text.startswith("# Model\n\n## Data\nkept\n") and text.endswith("## License\n\nMIT\n")
    assert not update_card(card, "## Metrics (new)\n\nnew figures\n\n")  # idempotent
    (tmp_path / "other.md").write_text("# no metrics here\n")
    with pytest.raises(ValueError, match="no '## Metrics' section"):
        update_card(tmp_path / "other.md", "## Metrics\n")


def test_reproduce_lines_name_the_eval_data_when_it_was_not_the_default():
    from audiolm.results import eval_command
    results = {"bundle": "checkpoints/piano"}
    assert eval_command(results, "r.json") == "python -m audiolm eval --bundle checkpoints/piano --out r.json"
    results["data"] = "data/piano-mixed"
    assert eval_command(results, "r.json") == ("python -m audiolm eval --bundle checkpoints/piano "
                                               "--data data/piano-mixed --out r.json")
