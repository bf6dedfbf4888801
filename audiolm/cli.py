"""Command line: ``python -m audiolm {generate,resynthesize,tokenize,bench,results,random-bundle,train,eval}``.

``train`` and ``eval`` have their own options: ``python -m audiolm train --help``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

DEFAULT_BUNDLE = "checkpoints/speech"


def seed_arg(text: str) -> int:
    """``--seed``: the library's seed range, refused by argparse (usage, exit 2) otherwise."""
    from .errors import SettingsError
    from .sampling import parse_seed

    try:
        return parse_seed(text)
    except SettingsError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m audiolm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--bundle", default=DEFAULT_BUNDLE, help="bundle folder or Hub repo id")
        p.add_argument("--revision", default=None, help="Hub revision (branch, tag or commit)")
        p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])

    g = sub.add_parser("generate", help="generate audio in one of the three modes")
    common(g)
    g.add_argument("--mode", required=True, choices=["unconditional", "acoustic", "continuation"])
    g.add_argument("--input", help="input recording (acoustic) or prompt (continuation)")
    g.add_argument("--voice", help="voice prompt for acoustic generation (speaker conversion)")
    g.add_argument("--seconds", type=float, default=5.0, help="seconds of new audio")
    g.add_argument("--seed", type=seed_arg, default=0, help="0 to 4294967295; sample i of a seed is the same "
                                                          "whatever --num-samples")
    g.add_argument("--num-samples", type=int, default=1, help="N outputs: OUT, or OUT-0 ... OUT-(N-1)")
    g.add_argument("--temperature", type=float, nargs=3, metavar=("SEMANTIC", "COARSE", "FINE"),
                   default=None, help="default: the bundle's own (generation_config.json; the paper's 0.6 0.8 0.6 "
                                      "where it has none)")
    g.add_argument("--top-k", type=int, default=None)
    g.add_argument("--top-p", type=float, default=None)
    g.add_argument("--guidance", type=float, default=None,
                   help="coarse-stage classifier-free guidance weight (1 = off; default: the bundle's own)")
    g.add_argument("--voice-prior", type=float, default=None,
                   help="voice prior weight (continuation, and acoustic generation with --voice): draws the codes "
                        "toward the prompt's frames that say the same thing (0 = off; default: the bundle's own)")
    g.add_argument("--prompt-adaptation", type=int, default=None, metavar="STEPS",
                   help="continuation: steps of the semantic stage's adaptation to the prompt, which keeps more of "
                        "its voice and sounds less natural; the plan then repeats none of the prompt's 4-grams of "
                        "semantic ids (0 = off; default: the bundle's own)")
    g.add_argument("--semantic-plans", type=int, default=None, metavar="K",
                   help="continuation: of K semantic plans per sample, the one whose ids change most, which keeps "
                        "more of the prompt's voice and sounds less natural (1 = one; default: the bundle's own)")
    g.add_argument("--out", required=True, help="wav, flac, ogg, mp3 or aiff (by its suffix)")

    r = sub.add_parser("resynthesize", help="codec round trip: encode then decode")
    common(r)
    r.add_argument("--input", required=True)
    r.add_argument("--levels", type=int, default=None, help="decode from the first N levels only")
    r.add_argument("--out", required=True, help="wav, flac, ogg, mp3 or aiff (by its suffix)")

    t = sub.add_parser("tokenize", help="write semantic and acoustic ids as safetensors")
    common(t)
    t.add_argument("--input", required=True)
    t.add_argument("--out", required=True)

    b = sub.add_parser("bench", help="real-time factors per stage and mode, tokens/s, peak memory, load time; "
                                     "lucidrains' stages side by side")
    b.add_argument("--bundle", default=DEFAULT_BUNDLE, help="bundle folder or Hub repo id")
    b.add_argument("--revision", default=None, help="Hub revision (branch, tag or commit)")
    b.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="auto: the CPU, then CUDA too when present")
    b.add_argument("--random", choices=["tiny", "default"], default=None,
                   help="time a randomly initialised bundle of this size instead of --bundle")
    b.add_argument("--fine-layout", choices=["parallel", "autoregressive"], default="parallel",
                   help="fine-stage layout of a --random bundle")
    b.add_argument("--coarse-layout", choices=["autoregressive", "interleaved", "delay"], default="autoregressive",
                   help="coarse-stage layout of a --random bundle (delay: MusicGen's pattern, all levels per step)")
    b.add_argument("--seconds", type=float, default=10.0)
    b.add_argument("--batch", type=int, default=1)
    b.add_argument("--gpu-batch", type=int, default=8, help="on CUDA, also time this batch size")
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--repeats", type=int, default=1, help="report the best of N timed runs (after a warm-up)")
    b.add_argument("--peer", default="auto",
                   help="python with lucidrains' audiolm-pytorch to time its stages alongside: auto "
                        "($AUDIOLM_PEER_PYTHON, or this python if it has the package), off, or a path")
    b.add_argument("--peer-seconds", type=float, default=4.0,
                   help="audio length of the side-by-side timing (lucidrains' fine stage slows down "
                        "steeply with length; our stages are timed again at this length beside it)")
    b.add_argument("--json", default=None, help="also write the figures here")

    r = sub.add_parser("results", help="regenerate the README's Results section from eval / bench JSON")
    r.add_argument("--eval", nargs="*", default=None,
                   help="eval JSON files (default: benchmarks/results/*-eval.json)")
    r.add_argument("--bench", nargs="*", default=None,
                   help="bench JSON files (default: benchmarks/results/bench-*.json)")
    r.add_argument("--readme", default="README.md")
    r.add_argument("--check", action="store_true", help="exit 1 if the README is not up to date; change nothing")
    r.add_argument("--cards", action="store_true",
                   help="also the Metrics section of each evaluated bundle's model card (BUNDLE/README.md)")

    n = sub.add_parser("random-bundle", help="write a randomly initialised bundle (until trained weights exist)")
    n.add_argument("--out", required=True)
    n.add_argument("--size", choices=["tiny", "default"], default="tiny")
    n.add_argument("--fine-layout", choices=["parallel", "autoregressive"], default="parallel")
    n.add_argument("--coarse-layout", choices=["autoregressive", "interleaved", "delay"], default="autoregressive")
    n.add_argument("--seed", type=int, default=0)
    return parser


def load_model(args):
    from .pipeline import AudioLM

    return AudioLM.from_pretrained(args.bundle, revision=args.revision, device=args.device)


def check_out(path) -> Path:
    """``--out`` checked before any work (a bad one used to throw a finished generation away)."""
    from .audio import check_output_path
    from .errors import AudioInputError, SettingsError

    try:
        return check_output_path(path)
    except AudioInputError as exc:
        raise SettingsError(f"--out: {exc}") from exc


def load_input(model, path, flag: str = "--input"):
    """``load_audio`` with the flag named in its errors (which of --input / --voice is at fault)."""
    from .audio import load_audio
    from .errors import AudioInputError

    try:
        return load_audio(path, model.config.sample_rate, model.limits)
    except AudioInputError as exc:
        raise AudioInputError(f"{flag}: {exc}") from exc


def tqdm_progress():
    """A progress callback that shows one tqdm bar per stage."""
    from tqdm import tqdm

    bars = {}

    def progress(stage: str, fraction: float):
        bar = bars.get(stage)
        if bar is None:
            for other in bars.values():
                other.close()
            bar = bars[stage] = tqdm(total=100, desc=stage, unit="%", leave=False)
        bar.update(round(100 * fraction) - bar.n)

    return progress


def cmd_generate(args):
    from .audio import save_audio
    from .errors import SettingsError
    from .pipeline import GenerationSettings
    from .sampling import sample_seed

    # everything that can be checked before generating is: a bad setting or --out loses no work
    GenerationSettings().with_overrides(args.temperature, args.top_k, args.top_p, args.guidance, args.voice_prior,
                                        args.prompt_adaptation, args.semantic_plans)
    if args.mode != "unconditional" and not args.input:
        raise SettingsError(f"--mode {args.mode} needs --input")
    out = Path(args.out)
    paths = [out] if args.num_samples == 1 else [out.with_name(f"{out.stem}-{i}{out.suffix}")
                                                 for i in range(max(args.num_samples, 0))]
    for path in paths or [out]:
        check_out(path)
    model = load_model(args)
    settings = model.default_settings.with_overrides(args.temperature, args.top_k, args.top_p, args.guidance,
                                                     args.voice_prior, args.prompt_adaptation, args.semantic_plans)
    kwargs = dict(num_samples=args.num_samples, seed=args.seed, settings=settings, progress=tqdm_progress())
    if args.mode == "unconditional":
        result = model.unconditional(args.seconds, **kwargs)
    else:
        wav = load_input(model, args.input)
        if args.mode == "acoustic":
            voice = load_input(model, args.voice, "--voice") if args.voice else None
            result = model.acoustic_generation(wav, voice, **kwargs)
        else:
            result = model.continuation(wav, args.seconds, **kwargs)
    for i, (path, audio) in enumerate(zip(paths, result.audio)):
        save_audio(path, audio, result.sample_rate)  # sample i alone: --seed sample_seed(seed, i)
        print(f"wrote {path} ({len(audio) / result.sample_rate:.2f} s, seed {sample_seed(result.seed, i)})")


def cmd_resynthesize(args):
    import torch

    from .audio import save_audio
    from .errors import SettingsError

    check_out(args.out)
    model = load_model(args)
    levels = model.config.num_quantizers if args.levels is None else args.levels
    if not 1 <= levels <= model.config.num_quantizers:
        raise SettingsError(f"--levels must be between 1 and {model.config.num_quantizers} "
                            f"(this bundle's codec levels), got {args.levels}")
    wav = load_input(model, args.input)
    ids = model.codec.encode(torch.from_numpy(wav)[None].to(model.device))
    audio = model.codec.decode(ids[:, :levels])[0, :len(wav)].float().cpu().numpy()
    save_audio(args.out, audio, model.config.sample_rate)
    print(f"wrote {args.out} ({levels} of {ids.shape[1]} levels)")


def cmd_tokenize(args):
    from safetensors.torch import save_file

    model = load_model(args)
    semantic, acoustic = model.tokenize(load_input(model, args.input))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    save_file({"semantic": semantic[0].cpu().contiguous(), "acoustic": acoustic[0].cpu().contiguous()}, args.out,
              metadata={"semantic_rate": str(model.config.semantic_rate),
                        "acoustic_rate": str(model.config.acoustic_rate)})
    print(f"wrote {args.out}: semantic {tuple(semantic[0].shape)}, acoustic {tuple(acoustic[0].shape)}")


def cmd_bench(args):
    import json

    import torch

    from .bench import markdown, peer_interpreter, run_bench, side_by_side
    from .provenance import measurement_context

    torch.set_num_threads(args.threads)
    context = measurement_context("cuda" if args.device != "cpu" and torch.cuda.is_available() else "cpu")
    devices = [args.device] if args.device != "auto" else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    peer_python, peer_skipped = peer_interpreter(args.peer)
    log = lambda line: print(line, file=sys.stderr)  # noqa: E731
    runs = []
    for device in devices:
        start = time.perf_counter()
        if args.random:
            from .bundle import BundleConfig
            from .factory import random_audiolm

            model = random_audiolm(BundleConfig(fine_layout=args.fine_layout, coarse_layout=args.coarse_layout),
                                   args.random, device=device)
            log(f"random {args.random} bundle, default geometry, coarse layout {args.coarse_layout}, "
                f"fine layout {args.fine_layout}")
        else:
            args.device = device
            model = load_model(args)
        load = time.perf_counter() - start
        batches = [args.batch] + ([args.gpu_batch] if device == "cuda" and args.gpu_batch != args.batch else [])
        for batch in batches:
            report = run_bench(model, args.seconds, batch=batch, repeats=args.repeats,
                               load_seconds=None if args.random else load, log=log)
            report.peer = (side_by_side(peer_python, model, args.peer_seconds, batch, args.repeats, log)
                           if peer_python else {"skipped": peer_skipped})
            runs.append(report.to_dict())
            print(markdown(runs[-1]) + "\n")
        del model
    if args.json:
        out = {"context": context,
               "bundle": f"random {args.random}" if args.random else str(args.bundle), "runs": runs}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2))


def cmd_random_bundle(args):
    import torch

    from .bundle import BundleConfig
    from .factory import random_audiolm, tiny_bundle_config

    layouts = {"fine_layout": args.fine_layout, "coarse_layout": args.coarse_layout}
    config = BundleConfig(**layouts) if args.size == "default" else tiny_bundle_config(**layouts)
    model = random_audiolm(config, args.size, seed=args.seed)
    card = (f"# Random AudioLM bundle ({args.size})\n\nRandomly initialised weights for exercising the code; "
            "it generates noise, not speech.\n")
    model.save_pretrained(args.out, torch.float16, card)
    print(f"wrote random {args.size} bundle to {args.out}")


def cmd_results(args):
    from .errors import AudioLMError
    from .results import card_metrics, current_section, render, update_card, update_readme

    evals = args.eval if args.eval is not None else sorted(  # speech first, then the rest by name
        Path("benchmarks/results").glob("*-eval.json"), key=lambda p: (not p.name.startswith("speech"), p.name))
    benches = args.bench if args.bench is not None else sorted(Path("benchmarks/results").glob("bench-*.json"))
    for path in [*evals, *benches]:
        if not Path(path).is_file():
            raise AudioLMError(f"{path} not found: run `python -m audiolm eval --out {path}` / "
                               f"`python -m audiolm bench --json {path}` first")
    section = render([Path(p) for p in evals], [Path(p) for p in benches])
    readme = Path(args.readme)
    cards = [(Path(json.loads(Path(p).read_text())["bundle"]) / "README.md", p) for p in evals] if args.cards else []
    for card, source in [c for c in cards if not c[0].is_file()]:
        print(f"{source}: its bundle's model card {card} is not here (a Hub repo or a removed run): left out")
    cards = [c for c in cards if c[0].is_file()]
    if args.check:
        if current_section(readme) != section:
            raise AudioLMError(f"{readme}'s results are out of date: run `python -m audiolm results`")
        for card, source in cards:
            if card_metrics(json.loads(Path(source).read_text()), str(source)) not in card.read_text():
                raise AudioLMError(f"{card}'s metrics are out of date: run `python -m audiolm results --cards`")
        print(f"{readme}: results up to date" + (" (and the model cards)" if cards else ""))
        return
    try:
        changed = update_readme(readme, section)
        for card, source in cards:
            card_changed = update_card(card, card_metrics(json.loads(Path(source).read_text()), str(source)))
            print(f"{card}: metrics {'updated' if card_changed else 'already up to date'}")
    except ValueError as exc:
        raise AudioLMError(str(exc)) from exc
    print(f"{readme}: results {'updated' if changed else 'already up to date'}")


COMMANDS = {"generate": cmd_generate, "resynthesize": cmd_resynthesize, "tokenize": cmd_tokenize,
            "bench": cmd_bench, "random-bundle": cmd_random_bundle, "results": cmd_results}


def main(argv=None) -> int:
    """Exit 0; 2 for a bad argument (as argparse's own usage errors); 1 for an input or bundle that cannot
    be used. Either way one ``error: ...`` line, never a traceback."""
    from .errors import AudioLMError, SettingsError

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "train":  # the recipe has its own options
        from .training.cli import main as train_main
        return train_main(argv[1:])
    if argv and argv[0] == "eval":
        from .evaluation.cli import main as eval_main
        return eval_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except AudioLMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # a bad argument the library caught with a plain ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
