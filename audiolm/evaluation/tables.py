"""Markdown tables and rows shared by every domain's report (speech, piano)."""
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


def fmt(x, spec: str = "{:.2f}") -> str:
    return "—" if x is None else spec.format(x)


def codec_table(side_by_side: dict) -> str:
    """Our codec beside Opus and Codec2 on the same clips, per held-out set."""
    if not side_by_side:
        return ""
    sets = list(side_by_side)
    longest = max(side_by_side.values(), key=len)  # its order first (the uncoded original leads)
    names = list(dict.fromkeys(row["codec"] for rows in [longest, *side_by_side.values()] for row in rows))
    has_mos = any("mos" in row for rows in side_by_side.values() for row in rows)
    header = ("codec", "kbps") + tuple(f"{s}: PESQ-WB / STOI / mel" for s in sets) + (("real: predicted MOS",)
                                                                                       if has_mos else ())
    rows = [header]
    for name in names:
        by_set = {s: next((r for r in side_by_side[s] if r["codec"] == name), None) for s in sets}
        any_row = next(r for r in by_set.values() if r)
        cells = []
        for s in sets:
            r = by_set[s]
            cells.append("—" if r is None else r.get("skipped") or
                         f"{r['pesq_wb']:.2f} / {r['stoi']:.3f} / {r['mel_distance']:.3f}")
        mos = (by_set.get("real") or {}).get("mos")
        rows.append((name, f"{any_row['kbps']:g}") + tuple(cells) + ((fmt(mos),) if has_mos else ()))
    clips = ", ".join(f"{s} {next((r['clips'] for r in side_by_side[s] if 'clips' in r), 0)} clips" for s in sets)
    return f"Codecs side by side, same clips, same run ({clips}; Opus with opusenc's default VBR at the target " \
           f"bitrate; mel: multi-resolution log-mel distance, lower is better):\n\n" + table(rows)
