"""``python -m audiolm eval``: held-out metrics of a bundle, as JSON and a markdown table."""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
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
    p.add_argument("--real-voices", default=None, metavar="DIR",
                   help="real held-out readers, DIR/SPEAKER/*.flac (speech; default: LibriSpeech test-other in "
                   "../shared/data when present)")
    p.add_argument("--quick", action="store_true",
                   help="a small subset in a few minutes, to check a training run while it goes (the full run "
                   "stays the reference)")
    p.add_argument("--seed", type=int, default=0)
    return p


def judges():
    """The independent judges that are installed, and why the others are skipped."""
    from .mos import MOSPredictor
    from .similarity import SpeakerEmbedder
    from .speaker_figures import Judges
    embedder_skipped, mos_skipped = SpeakerEmbedder.unavailable(), MOSPredictor.unavailable()
    return Judges(embedder=None if embedder_skipped else SpeakerEmbedder(), embedder_skipped=embedder_skipped,
                  mos=None if mos_skipped else MOSPredictor(), mos_skipped=mos_skipped)


def main(argv=None) -> int:
    from ..domains import get_domain
    from ..pipeline import AudioLM
    from ..provenance import measurement_context
    from .report import markdown

    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    model = AudioLM.from_pretrained(args.bundle)
    context = measurement_context(str(model.device))  # the code and machine as the measurement starts
    domain = get_domain(model.config.domain)
    config = domain.eval_config(seed=args.seed)
    config = config.quick() if args.quick else config
    config = replace(config, prompts=args.prompts) if args.prompts else config
    corpus = domain.corpus(args.data or f"data/{domain.name}")
    results = domain.evaluate(model, corpus, config, real_voices=args.real_voices)
    results["bundle"] = str(args.bundle)
    if args.data:  # the held-out corpus, when not the domain's default (the reproduce lines name it)
        results["data"] = str(args.data)
    results["quick"] = args.quick
    results["context"] = context
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2))
    print(markdown(results))
    return 0
