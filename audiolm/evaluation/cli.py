"""``python -m audiolm eval``: held-out metrics of a bundle, as JSON and a markdown table."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m audiolm eval", description=__doc__)
    p.add_argument("--bundle", default="checkpoints/speech")
    p.add_argument("--data", default="data/speech", help="corpus folder with a held-out split")
    p.add_argument("--out", default=None, help="write the figures as JSON here")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--prompts", type=int, default=4, help="continuation prompts per held-out speaker")
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv=None) -> int:
    from ..data.speech_corpus import SpeechCorpus
    from ..pipeline import AudioLM
    from ..provenance import measurement_context
    from .report import markdown
    from .speech import SpeechEvalConfig, evaluate_speech

    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    model = AudioLM.from_pretrained(args.bundle)
    results = evaluate_speech(model, SpeechCorpus(args.data), SpeechEvalConfig(prompts=args.prompts, seed=args.seed))
    results["bundle"] = str(args.bundle)
    results["context"] = measurement_context(str(model.device))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2))
    print(markdown(results))
    return 0
