"""The markdown table of an evaluation's JSON (model cards and the README use it)."""
from __future__ import annotations


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def markdown(results: dict) -> str:
    if results.get("kind") == "piano":
        from .music import markdown as music_markdown
        return music_markdown(results)
    rows = [("what", "metric", "ours", "paper / bar")]
    for key, codec in results["codec"].items():
        if key == "griffin_lim_ceiling":
            rows.append(("Griffin-Lim from true magnitudes (the synthesis' ceiling)", "PESQ-WB / STOI",
                         f"{codec['pesq_wb']:.2f} / {codec['stoi']:.3f}", "—"))
            continue
        q = f"{codec['name']}={codec['levels']}"
        rows.append((f"codec, {q} levels", "PESQ-WB / STOI / mel distance",
                     f"{codec['pesq_wb']:.2f} / {codec['stoi']:.3f} / {codec['mel_distance']:.3f}",
                     "bar at Q: PESQ ≥ 3.0, STOI ≥ 0.90" if codec["name"] == "Q" else "—"))
    s = results["semantic_tokens"]
    rows.append(("semantic tokens", "phone purity / PNMI", f"{s['phone_purity']:.3f} / {s['pnmi']:.3f}", "—"))
    rows.append(("semantic tokens", "speaker-ID from token histograms (lower: fewer speaker cues)",
                 f"{_pct(s['speaker_id_from_tokens'])} (chance {_pct(s['speaker_id_chance'])})", "—"))
    rows.append((f"speaker classifier (trained on {results['speaker_classifier_trained_on']})",
                 "accuracy on held-out utterances: real / codec round trip",
                 f"{_pct(results['speaker_classifier_on_real'])} / {_pct(results['speaker_classifier_on_resynthesis'])}",
                 "—"))
    c = results["continuation"]
    rows.append((f"continuation, {c['prompt_seconds']:g} s prompts", "speaker-ID = prompt speaker",
                 _pct(c["speaker_id_accuracy"]), "92.6 % (paper); bar ≥ 80 %"))
    a = results["acoustic_generation"]
    rows.append(("acoustic generation", "re-tokenized semantic ids agree with input",
                 f"{_pct(a['semantic_agreement'])} (chance {_pct(a['semantic_agreement_chance'])}, codec round trip "
                 f"{_pct(a['semantic_agreement_codec_round_trip'])}); with voice prompt "
                 f"{_pct(a['semantic_agreement_with_voice_prompt'])}", "well above chance"))
    rows.append(("acoustic generation, no voice prompt", "speaker-ID = input speaker",
                 _pct(a["speaker_id_input_speaker_no_prompt"]), "3.2 % (paper)"))
    rows.append(("acoustic generation, voice prompt", "speaker-ID = prompt speaker",
                 _pct(a["speaker_id_prompt_speaker_with_prompt"]), "—"))
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
                     f"{_pct(u['degenerate_rate'])} ({reasons}; held-out speech "
                     f"{_pct(u['heldout_speech_degenerate_rate'])})", "—"))
    sp = results["speed"]
    rows.append((f"continuation speed ({sp['threads']} CPU threads)", "marginal RTF ((t10 s − t2 s) / 8)",
                 f"{sp['continuation_marginal_rtf']:.3f}", "bar ≤ 0.5"))
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)
