"""``python -m audiolm eval``: held-out metrics of a bundle, as JSON and a markdown table."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m audiolm eval", description=__doc__)
    p.add_argument("--bundle", default="checkpoints/speech")
    p.add_argument("--data", default=None, help="corpus folder with a held-out split (default data/DOMAIN, "
                   "the bundle's domain)")
    p.add_argument("--out", default=None, help="write the figures as JSON here")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--prompts", type=int, default=None,
                   help="continuation prompts: per held-out speaker (speech, default 4) or pieces (piano, default 24)")
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv=None) -> int:
    from ..pipeline import AudioLM
    from ..provenance import measurement_context
    from .report import markdown

    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    model = AudioLM.from_pretrained(args.bundle)
    context = measurement_context(str(model.device))  # the code and machine as the measurement starts
    domain = model.config.domain
    data = args.data or f"data/{domain}"
    if domain == "piano":
        from ..data.piano_corpus import PianoCorpus
        from .music import MusicEvalConfig, evaluate_music
        config = MusicEvalConfig(seed=args.seed, **({"prompts": args.prompts} if args.prompts else {}))
        results = evaluate_music(model, PianoCorpus(data), config)
    else:
        from ..data.speech_corpus import SpeechCorpus
        from .speech import SpeechEvalConfig, evaluate_speech
        config = SpeechEvalConfig(seed=args.seed, **({"prompts": args.prompts} if args.prompts else {}))
        results = evaluate_speech(model, SpeechCorpus(data), config)
    results["bundle"] = str(args.bundle)
    results["context"] = context
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2))
    print(markdown(results))
    return 0
