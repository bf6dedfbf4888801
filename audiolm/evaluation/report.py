"""The markdown table of an evaluation's JSON (model cards and the README use it)."""
from __future__ import annotations


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def table(rows: list[tuple[str, ...]]) -> str:
    """A markdown table: the first row is the header."""
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows[1:]])


def ceiling_row(codec: dict) -> tuple[str, ...]:
    """The Griffin-Lim ceiling (``results["codec"]["griffin_lim_ceiling"]``) as a table row."""
    return ("Griffin-Lim from true magnitudes (the synthesis' ceiling)", "PESQ-WB / STOI",
            f"{codec['pesq_wb']:.2f} / {codec['stoi']:.3f}", "—")


def speed_row(speed: dict, reference: str) -> tuple[str, ...]:
    return (f"continuation speed ({speed['threads']} CPU threads)", "marginal RTF ((t10 s − t2 s) / 8)",
            f"{speed['continuation_marginal_rtf']:.3f}", reference)


def markdown(results: dict) -> str:
    if results.get("kind") == "piano":
        from .music import markdown as music_markdown
        return music_markdown(results)
    rows = [("what", "metric", "ours", "paper / bar")]
    for key, codec in results["codec"].items():
        if key == "griffin_lim_ceiling":
            rows.append(ceiling_row(codec))
            continue
        q = f"{codec['name']}={codec['levels']}"
        rows.append((f"codec, {q} levels", "PESQ-WB / STOI / mel distance",
                     f"{codec['pesq_wb']:.2f} / {codec['stoi']:.3f} / {codec['mel_distance']:.3f}",
                     "bar at Q: PESQ ≥ 3.0, STOI ≥ 0.90" if codec["name"] == "Q" else "—"))
    s = results["semantic_tokens"]
    rows.append(("semantic tokens", "phone purity / PNMI", f"{s['phone_purity']:.3f} / {s['pnmi']:.3f}", "—"))
    rows.append(("semantic tokens", "speaker-ID from token histograms (lower: fewer speaker cues)",
                 f"{pct(s['speaker_id_from_tokens'])} (chance {pct(s['speaker_id_chance'])})", "—"))
    rows.append((f"speaker classifier (trained on {results['speaker_classifier_trained_on']})",
                 "accuracy on held-out utterances: real / codec round trip",
                 f"{pct(results['speaker_classifier_on_real'])} / {pct(results['speaker_classifier_on_resynthesis'])}",
                 "—"))
    c = results["continuation"]
    rows.append((f"continuation, {c['prompt_seconds']:g} s prompts", "speaker-ID = prompt speaker",
                 pct(c["speaker_id_accuracy"]), "92.6 % (paper); bar ≥ 80 %"))
    a = results["acoustic_generation"]
    rows.append(("acoustic generation", "re-tokenized semantic ids agree with input",
                 f"{pct(a['semantic_agreement'])} (chance {pct(a['semantic_agreement_chance'])}, codec round trip "
                 f"{pct(a['semantic_agreement_codec_round_trip'])}); with voice prompt "
                 f"{pct(a['semantic_agreement_with_voice_prompt'])}", "well above chance"))
    rows.append(("acoustic generation, no voice prompt", "speaker-ID = input speaker",
                 pct(a["speaker_id_input_speaker_no_prompt"]), "3.2 % (paper)"))
    rows.append(("acoustic generation, voice prompt", "speaker-ID = prompt speaker",
                 pct(a["speaker_id_prompt_speaker_with_prompt"]), "—"))
    u = results.get("unconditional")
    if u:
        g, r = u["generated"], u["heldout_speech"]
        rows.append((f"unconditional, {u['samples']} seeds × {u['seconds']:g} s",
                     "distinct semantic 1/2/3-grams across seeds; pairwise 3-gram overlap",
                     f"{g['distinct_1']:.2f} / {g['distinct_2']:.2f} / {g['distinct_3']:.2f}; "
                     f"{g['pairwise_3gram_overlap']:.3f} (held-out speech: {r['distinct_1']:.2f} / "
                     f"{r['distinct_2']:.2f} / {r['distinct_3']:.2f}; {r['pairwise_3gram_overlap']:.3f})", "—"))
        reasons = ", ".join(f"{k} {v}" for k, v in u["degenerate_reasons"].items() if v) or "none"
        rows.append(("unconditional", "silent or degenerate outputs (−50 dBFS; token loops)",
                     f"{pct(u['degenerate_rate'])} ({reasons}; held-out speech "
                     f"{pct(u['heldout_speech_degenerate_rate'])})", "—"))
    rows.append(speed_row(results["speed"], "bar ≤ 0.5"))
    return table(rows)
