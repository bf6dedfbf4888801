"""The markdown table of an evaluation's JSON (model cards and the README use it): the results' domain
(``results["kind"]``, speech when absent) renders them; ``speech_markdown`` is speech's."""
from __future__ import annotations

from .tables import ceiling_row, codec_table, fmt, pct, speed_row, table


def markdown(results: dict) -> str:
    from ..domains import get_domain
    return get_domain(results.get("kind", "speech")).report(results)



def speech_markdown(results: dict) -> str:
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
    rows.append(speed_row(results["speed"], "bar (speech v2): ≤ 0.4"))
    rows += token_rows(results)
    return "\n\n".join([table(rows), voices_table(results), codec_table(results.get("codec_side_by_side", {})),
                        mos_table(results)])


def _skipped(section: dict) -> str | None:
    return section.get("skipped") if isinstance(section, dict) else None


def token_rows(results: dict) -> list[tuple[str, ...]]:
    """Do the semantic tokens carry the speaker: real readers' bags of ids, same sentence across voices."""
    rows = []
    real = results.get("real_voices", {})
    t = real.get("tokens_speaker_id")
    if t:
        rows.append((f"semantic tokens, {t['speakers']} real held-out readers",
                     "speaker-ID from bags of ids, leave one utterance out (lower: fewer speaker cues)",
                     f"{pct(t['from_semantic_ids'])} (chance {pct(t['chance'])}; bags of level-1 codec ids "
                     f"{pct(t['from_codec_level_1_ids'])})", "bar (speech v2): ≤ 2× chance"))
    inv = results.get("token_invariance")
    if inv and not _skipped(inv):
        rows.append((f"semantic tokens, {inv['sentences']} sentences × {inv['voices']} held-out synthetic voices",
                     "normalized edit distance of deduplicated ids across voices: same sentence / different sentences",
                     f"{inv['same_sentence']:.3f} / {inv['different_sentences']:.3f}", "lower same-sentence: more invariant"))
    elif inv:
        rows.append(("semantic tokens across voices", "edit distance", inv["skipped"], "—"))
    return rows


VOICE_ROWS = (  # (what, SIM key, nearest key, what "nearest" means, paper / bar)
    ("another utterance of the same speaker", "reference.sim_same_speaker", "reference.nearest_is_own",
     "own speaker", "what the same voice scores"),
    ("… against other speakers' centroids", "reference.sim_other_speakers", None, "", "what another voice scores"),
    ("codec round trip (Q levels)", "reference.round_trip_sim_same_speaker", "reference.round_trip_nearest_is_own",
     "own speaker", "—"),
    ("continuation (3 s prompt → 4 s)", "continuation.sim_continuation", "continuation.nearest_is_prompt_speaker",
     "prompt's speaker", "paper 92.6 % (classifier); bar (speech v2, real) ≥ 0.75 and ≥ 60 %"),
    ("acoustic generation, no voice prompt", "acoustic_generation.sim_input_speaker_no_prompt",
     "acoustic_generation.nearest_is_input_speaker_no_prompt", "input's speaker",
     "paper 3.2 % (classifier): the voice changes"),
    ("acoustic generation, voice prompt of another speaker", "acoustic_generation.sim_prompt_speaker_with_prompt",
     "acoustic_generation.nearest_is_prompt_speaker_with_prompt", "prompt's speaker",
     "bar (speech v2, real) ≥ 75 % nearest"),
    ("… the same outputs against the content's speaker", "acoustic_generation.sim_content_speaker_with_prompt",
     "acoustic_generation.nearest_is_content_speaker_with_prompt", "content's speaker", "—"),
)
CLASSIFIER_ROWS = (
    ("continuation", "continuation.speaker_id_accuracy", "prompt's speaker"),
    ("acoustic generation, no voice prompt", "acoustic_generation.speaker_id_input_speaker_no_prompt", "input's speaker"),
    ("acoustic generation, voice prompt", "acoustic_generation.speaker_id_prompt_speaker_with_prompt",
     "prompt's speaker"),
)


def _get(figures: dict, path: str):
    for part in path.split("."):
        figures = (figures or {}).get(part)
    return figures


def voices_table(results: dict) -> str:
    """Speaker similarity (independent encoder) and the MFCC classifier, synthetic beside real voices."""
    sets = [("synthetic held-out voices", results)]
    real = results.get("real_voices", {})
    sets.append(("real held-out readers", real if not _skipped(real) else None))
    header = ("what", "judge") + tuple(name for name, _ in sets) + ("paper / bar",)
    rows = [header]
    judge = results.get("similarity_judge", "resemblyzer GE2E")
    for what, sim_key, nearest_key, who, reference in VOICE_ROWS:
        cells = []
        for _, figures in sets:
            sim, near = _get(figures, sim_key), _get(figures, nearest_key) if nearest_key else None
            cells.append("—" if sim is None else f"SIM {sim:.2f}" + (f"; nearest = {who} {pct(near)}"
                                                                      if near is not None else ""))
        rows.append((what, judge) + tuple(cells) + (reference,))
    for what, key, who in CLASSIFIER_ROWS:
        cells = tuple(fmt(_get(figures, key), "{:.1%}").replace("%", " %") for _, figures in sets)
        rows.append((what, f"MFCC classifier: = {who}") + cells + ("—",))
    cells = []
    for _, figures in sets:
        copied, real_next = _get(figures, "continuation.copied_4grams"), _get(figures, "continuation.real_next_copied_4grams")
        cells.append(pct(copied) + (f" (real next 4 s: {pct(real_next)})" if real_next is not None else "")
                     if copied is not None else "—")
    rows.append(("continuation: its semantic 4-grams found in the prompt", "semantic ids", *cells,
                 "lower: less of the prompt replayed"))
    counts = "; ".join(f"{name}: {f['speakers']} speakers, {f['continuation']['prompts']} prompts, "
                       f"{f['acoustic_generation']['inputs']} acoustic-generation inputs"
                       for name, f in sets if f)
    note = f"Speaker similarity: cosine of utterance embeddings to speaker centroids built from enrollment " \
           f"utterances never used as prompts or inputs ({counts})."
    if _skipped(real):
        note += f" Real voices {real['skipped']}."
    return note + "\n\n" + table(rows)


def mos_table(results: dict) -> str:
    """Predicted MOS (DistillMOS) of real references and of what the models make from them."""
    mos = results.get("real_voices", {}).get("mos")
    if not mos:
        return ""
    if "skipped" in mos:
        return f"Predicted MOS: {mos['skipped']}."
    labels = {"reference": "real held-out utterances (the prompts)", "continuation": "continuations (4 s)",
              "acoustic_generation": "acoustic generation, no voice prompt",
              "acoustic_generation_with_voice_prompt": "acoustic generation, voice prompt"}
    rows = [("real held-out readers", "predicted MOS (DistillMOS, 1–5)")]
    rows += [(labels[k], fmt(v)) for k, v in mos.items()]
    return "Predicted MOS (codec round trips are in the codec table):\n\n" + table(rows)
