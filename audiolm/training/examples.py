"""Held-out prompts for the Space (``python -m audiolm train examples``): each domain's writer picks
clips of its held-out split and describes them; ``replace_section`` files them under the domain's
heading in ``examples/README.md``."""
from __future__ import annotations

from pathlib import Path


def _write(path: Path, wav, sample_rate: int) -> Path:
    import soundfile as sf
    sf.write(path, wav, sample_rate, subtype="PCM_16")
    return path


def speech_examples(corpus, folder: Path, count: int, seconds: float) -> tuple[list[Path], list[str], str]:
    """The last utterance (from the evaluation's test half) of each of the first ``count`` held-out speakers."""
    sr, written, lines = corpus.config.sample_rate, [], []
    by_speaker: dict[int, list[dict]] = {}
    for record in corpus.split("heldout"):
        by_speaker.setdefault(record["speaker"], []).append(record)
    for speaker in sorted(by_speaker)[:count]:
        record = by_speaker[speaker][-1]
        path = _write(folder / f"speech-heldout-{speaker}.wav", corpus.audio(record)[: int(seconds * sr)], sr)
        written.append(path)
        lines.append(f"- `{path.name}`: voice `{record['voice']}`, \"{record['text']}\" (first {seconds:g} s)")
    real = real_example(folder, seconds, sr)
    if real:
        written.append(real[0])
        lines.append(real[1])
    intro = "Held-out prompts of the speech corpus (speakers and sentences never seen in training), 16 kHz mono"
    return written, lines, intro


def real_example(folder: Path, seconds: float, sample_rate: int) -> tuple[Path, str] | None:
    """A real voice no training step hears: the longest utterance of the first LibriSpeech test-other reader's
    test half (the evaluation's), or None where ``../shared/data`` is not there."""
    from ..data.heldout import default_heldout_dir
    from ..evaluation.voices import read_speaker_folders
    root = default_heldout_dir()
    if root is None or not Path(root).is_dir():
        return None
    speaker, waves = next(iter(read_speaker_folders(root, sample_rate, max_speakers=1).items()))
    longest = max(waves[len(waves) // 2:], key=len)
    path = _write(folder / f"speech-real-{speaker}.wav", longest[: int(seconds * sample_rate)], sample_rate)
    return path, (f"- `{path.name}`: a real voice, LibriSpeech test-other reader {speaker} (Panayotov et al., 2015; "
                  f"CC BY 4.0), held out from every training step (first {seconds:g} s)")


def piano_examples(corpus, folder: Path, count: int, seconds: float) -> tuple[list[Path], list[str], str]:
    """``seconds`` from 2 s into (past the first downbeat, as the evaluation's prompts) each of the last
    ``count`` held-out pieces (the evaluation's prompts come from the front)."""
    sr, written, lines, offset = corpus.config.sample_rate, [], [], 2.0
    for record in corpus.split("heldout")[-count:]:
        start = int(offset * sr)
        path = _write(folder / f"piano-heldout-{record['id'].split('-')[-1]}.wav",
                      corpus.audio(record)[start:start + int(seconds * sr)], sr)
        written.append(path)
        piano = ("the Salamander Grand Piano" if record.get("instrument") == "salamander"
                 else f"GM program {record['program']}")
        room = ", in a room" if record.get("room") else ""
        lines.append(f"- `{path.name}`: {record['key']}, {record['meter']}, {record['tempo']:g} BPM, "
                     f"{record['style']} accompaniment, {piano}{room} ({seconds:g} s from {offset:g} s)")
    return written, lines, "Held-out pieces of the piano corpus (never seen in training), 16 kHz mono"


def replace_section(readme: Path, name: str, section: str) -> None:
    """Put ``section`` (which starts with ``## name``) into ``readme`` in place of the old one."""
    text = readme.read_text() if readme.is_file() else "# Examples\n\n"
    parts = text.split("\n## ")
    head, sections = parts[0], {p.split("\n", 1)[0].strip(): "## " + p for p in parts[1:]}
    sections[name] = section
    body = "\n\n".join(text.rstrip("\n") for _, text in sorted(sections.items()))
    readme.write_text(head.rstrip("\n") + "\n\n" + body + "\n")
