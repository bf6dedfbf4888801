"""AudioLM Space: one tab per inference mode. The logic lives in ``audiolm/`` (see
``audiolm.space``); this file only lays out the page and wires events to it.

    python app.py [--port 7860] [--share] [--bundle FOLDER_OR_REPO_ID] [--device cpu|cuda]

``AUDIOLM_BUNDLE`` (and ``AUDIOLM_REVISION``) give the bundle as a Space's settings would.
"""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import gradio as gr

from audiolm.errors import AudioLMError
from audiolm.space import MAX_SAMPLES, BundleSource, BundleStore, Request, run

ROOT = Path(__file__).resolve().parent
EXAMPLES = ROOT / "examples"
# bundle name -> Hub repo used when checkpoints/<name> is absent (revision pinned here)
HUB_BUNDLES = {"speech": ("audiolm-open/audiolm-speech", "main"), "piano": ("audiolm-open/audiolm-piano", "main")}
log = logging.getLogger("audiolm.app")


def bundle_sources(bundle: str | None, revision: str | None = None) -> list[BundleSource]:
    """``--bundle``/``AUDIOLM_BUNDLE`` alone if given; otherwise speech (+ piano once it exists)."""
    if bundle:
        path = Path(bundle)
        if path.is_dir():
            return [BundleSource(path.resolve().name, local=path)]
        return [BundleSource(bundle.split("/")[-1], repo_id=bundle, revision=revision)]
    sources = []
    for name, (repo_id, pinned) in HUB_BUNDLES.items():
        local = ROOT / "checkpoints" / name
        if name == "speech" or (local / "config.json").is_file():
            sources.append(BundleSource(name, local, repo_id, pinned))
    return sources


def examples_for(names: list[str]) -> list[list[str]]:
    """``[wav, model]`` rows: ``examples/<model>-*.wav`` for each offered model, so that picking
    a piano example also picks the piano model."""
    return [[str(p), name] for name in names for p in sorted(EXAMPLES.glob(f"{name}-*.wav"))]


def generate(store: BundleStore, request: Request, progress: gr.Progress):
    """Run one request; library errors become a gr.Error that says what to do."""
    try:
        response = run(store, request, progress=lambda fraction, stage: progress(fraction, desc=stage))
    except (AudioLMError, ValueError) as exc:
        raise gr.Error(str(exc)) from exc
    except Exception as exc:  # never a stack trace in the browser; the log keeps it
        log.exception("generation failed")
        raise gr.Error(f"Generation failed ({type(exc).__name__}). Try other settings or another file.") from exc
    for notice in response.notices:
        gr.Warning(notice)
    return response.audio, response.files, response.spectrogram, response.info


def parse_seed(text) -> int | None:
    """Blank means a random seed; anything else must be a whole number."""
    text = "" if text is None else str(text).strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise gr.Error(f"Seed must be a whole number or blank (random), not {text!r}.") from None


def sampling_controls(with_seconds: bool):
    seconds = gr.Slider(1, 30, value=5, step=0.5, label="Seconds of new audio", visible=with_seconds)
    with gr.Row():
        temperatures = [gr.Slider(0, 1.5, value=v, step=0.05, label=f"{name} temperature")
                        for name, v in (("Semantic", 0.6), ("Coarse", 0.8), ("Fine", 0.6))]
    with gr.Row():
        top_k = gr.Slider(0, 1024, value=0, step=1, label="Top-k (0 = off)")
        seed = gr.Textbox(value="", label="Seed (blank = random)", max_lines=1)
        samples = gr.Slider(1, MAX_SAMPLES, value=1, step=1, label="Number of samples")
    return [seconds, *temperatures, top_k, seed, samples]


def result_outputs(tab: str):
    audio = gr.Audio(label="Result (first sample)", type="numpy", interactive=False, elem_id=f"{tab}-result")
    files = gr.File(label="All samples", file_count="multiple")
    picture = gr.Image(label="Spectrogram (white line: end of the prompt)", type="numpy", interactive=False)
    info = gr.Markdown()
    return [audio, files, picture, info]


def build_app(store: BundleStore) -> gr.Blocks:
    def request(mode, bundle, audio, voice, seconds, t_sem, t_coarse, t_fine, top_k, seed, samples):
        return Request(bundle, mode, audio, voice, float(seconds), (t_sem, t_coarse, t_fine),
                       int(top_k) or None, parse_seed(seed), int(samples))

    def unconditional(bundle, seconds, t_sem, t_coarse, t_fine, top_k, seed, samples, progress=gr.Progress()):
        return generate(store, request("unconditional", bundle, None, None, seconds, t_sem, t_coarse, t_fine,
                                       top_k, seed, samples), progress)

    def acoustic_generation(audio, voice, bundle, t_sem, t_coarse, t_fine, top_k, seed, samples,
                            progress=gr.Progress()):
        return generate(store, request("acoustic_generation", bundle, audio, voice, 5.0, t_sem, t_coarse, t_fine,
                                       top_k, seed, samples), progress)

    def continuation(audio, bundle, seconds, t_sem, t_coarse, t_fine, top_k, seed, samples,
                     progress=gr.Progress()):
        return generate(store, request("continuation", bundle, audio, None, seconds, t_sem, t_coarse, t_fine,
                                       top_k, seed, samples), progress)

    with gr.Blocks(title="AudioLM") as app:
        gr.Markdown("# AudioLM\nSemantic tokens carry the content, acoustic tokens the voice and recording: "
                    "generate from scratch, re-voice a recording, or continue a prompt.")
        bundle = gr.Dropdown(store.names, value=store.names[0], label="Model")
        examples = examples_for(store.names)
        with gr.Tab("Unconditional"):
            seconds, *controls = sampling_controls(with_seconds=True)
            button = gr.Button("Generate", variant="primary", elem_id="unconditional-button")
            outputs = result_outputs("unconditional")
            button.click(unconditional, [bundle, seconds, *controls], outputs, api_name="unconditional")
        with gr.Tab("Acoustic generation"):
            gr.Markdown("Keeps what is said in the input; the voice is new, or the voice prompt's.")
            with gr.Row():
                audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Input recording",
                                 elem_id="acoustic-input")
                voice = gr.Audio(sources=["upload", "microphone"], type="filepath",
                                 label="Voice prompt (optional: speaker conversion)")
            _, *controls = sampling_controls(with_seconds=False)
            button = gr.Button("Generate", variant="primary", elem_id="acoustic-button")
            outputs = result_outputs("acoustic")
            if examples:
                gr.Examples(examples, [audio, bundle], cache_examples=False)
            button.click(acoustic_generation, [audio, voice, bundle, *controls], outputs,
                         api_name="acoustic_generation")
        with gr.Tab("Continuation"):
            audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Prompt",
                             elem_id="continuation-prompt")
            seconds, *controls = sampling_controls(with_seconds=True)
            button = gr.Button("Continue", variant="primary", elem_id="continuation-button")
            outputs = result_outputs("continuation")
            if examples:
                gr.Examples(examples, [audio, bundle], cache_examples=False)
            button.click(continuation, [audio, bundle, seconds, *controls], outputs, api_name="continuation")
    return app


def main(argv=None):
    parser = argparse.ArgumentParser(description="AudioLM Space")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--share", action="store_true", help="public share link (needs the internet)")
    parser.add_argument("--bundle", default=os.environ.get("AUDIOLM_BUNDLE"),
                        help="bundle folder or Hub repo id (default: checkpoints/speech, else its Hub repo)")
    parser.add_argument("--revision", default=os.environ.get("AUDIOLM_REVISION"))
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--concurrency", type=int, default=2, help="requests generated at once (2 CPU cores)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    store = BundleStore(bundle_sources(args.bundle, args.revision), args.device)
    app = build_app(store)
    app.queue(default_concurrency_limit=args.concurrency, max_size=32)
    app.launch(server_name=args.host, server_port=args.port, share=args.share)


if __name__ == "__main__":
    main()
