"""AudioLM Space: one tab per inference mode. The logic lives in ``audiolm/`` (see
``audiolm.space``); this file only lays out the page and wires events to it.

    python app.py [--port 7860] [--share] [--bundle FOLDER_OR_REPO_ID] [--device cpu|cuda]

``AUDIOLM_BUNDLE`` (and ``AUDIOLM_REVISION``) give the bundle as a Space's settings would.
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import tempfile
from pathlib import Path

import gradio as gr

from audiolm.errors import AudioLMError, BundleError
from audiolm.sampling import SEED_MAX, parse_seed, shorten
from audiolm.space import (MAX_SAMPLES, MAX_SECONDS, MAX_TEMPERATURE, MAX_TOP_K, BundleSource, BundleStore,
                           OutputFolder, Request, run)

ROOT = Path(__file__).resolve().parent
EXAMPLES = ROOT / "examples"
# bundle name -> Hub repo used when checkpoints/<name> is absent (revision pinned here)
HUB_BUNDLES = {"speech": ("audiolm-open/audiolm-speech", "main"), "piano": ("audiolm-open/audiolm-piano", "main")}
MAX_UPLOAD_MB = 100
KEEP_FILES_SECONDS = 1800
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


def checked_slider(*args, **kwargs) -> gr.Slider:
    """A ``gr.Slider`` whose value from a raw API call is checked with a message naming the control
    (Gradio's own check fails on a string with a bare TypeError). Wrapped, not subclassed: a Gradio
    component subclass writes a ``.pyi`` stub beside this file."""
    slider = gr.Slider(*args, **kwargs)
    preprocess = slider.preprocess

    def checked(payload):
        if isinstance(payload, bool) or not isinstance(payload, (int, float)) or not math.isfinite(payload):
            raise gr.Error(f"{slider.label} must be a number from {slider.minimum:g} to {slider.maximum:g}, "
                           f"got {shorten(payload)}.")
        return preprocess(payload)

    slider.preprocess = checked
    return slider


def generate(store: BundleStore, outputs: OutputFolder, make_request, progress: gr.Progress):
    """Build and run one request; bad settings and library errors become a gr.Error that says what to do."""
    try:
        response = run(store, make_request(), out_dir=outputs.new(),
                       progress=lambda fraction, stage: progress(fraction, desc=stage))
    except (AudioLMError, ValueError) as exc:
        raise gr.Error(str(exc)) from exc
    except Exception as exc:  # never a stack trace in the browser; the log keeps it
        log.exception("generation failed")
        raise gr.Error(f"Generation failed ({type(exc).__name__}). Try other settings or another file.") from exc
    for notice in response.notices:
        gr.Warning(notice)
    return response.audio, response.files, response.spectrogram, response.info


def seed_value(text) -> int | None:
    """Blank means a random seed; anything else must be a seed in the library's range."""
    text = "" if text is None else str(text).strip()
    return parse_seed(text) if text else None


def sampling_controls(with_seconds: bool):
    seconds = checked_slider(1, MAX_SECONDS, value=5, step=0.5, label="Seconds of new audio", visible=with_seconds)
    with gr.Row():
        temperatures = [checked_slider(0, MAX_TEMPERATURE, value=v, step=0.05, label=f"{name} temperature")
                        for name, v in (("Semantic", 0.6), ("Coarse", 0.8), ("Fine", 0.6))]
    with gr.Row():
        top_k = checked_slider(0, MAX_TOP_K, value=0, step=1, label="Top-k (0 = off)")
        seed = gr.Textbox(value="", label="Seed", info=f"blank = random; a whole number from 0 to {SEED_MAX}",
                          max_lines=1)
        samples = checked_slider(1, MAX_SAMPLES, value=1, step=1, label="Number of samples")
    return [seconds, *temperatures, top_k, seed, samples]


def result_outputs(tab: str):
    """Labels name the outputs for ``gradio_client`` (``view_api()``): audio, files, spectrogram, info."""
    audio = gr.Audio(label="Audio", type="numpy", interactive=False, elem_id=f"{tab}-result")
    files = gr.File(label="Files", file_count="multiple")
    picture = gr.Image(label="Spectrogram", type="numpy", interactive=False)
    info = gr.Markdown(label="Info")
    gr.Markdown("*Audio* plays the first sample; *Files* holds every sample; the spectrogram's white line "
                "marks the end of the prompt.")
    return [audio, files, picture, info]


def build_app(store: BundleStore, outputs: OutputFolder, max_upload_mb: int = MAX_UPLOAD_MB,
              keep_files_seconds: int = KEEP_FILES_SECONDS) -> gr.Blocks:
    default = store.names[0]

    # view_api() marks the arguments with defaults optional: all but the input audio / prompt.
    def unconditional(bundle=default, seconds=5.0, t_sem=0.6, t_coarse=0.8, t_fine=0.6, top_k=0, seed="",
                      samples=1, progress=gr.Progress()):
        return generate(store, outputs, lambda: Request(bundle, "unconditional", None, None, seconds,
                                                        (t_sem, t_coarse, t_fine), top_k, seed_value(seed),
                                                        samples), progress)

    def acoustic_generation(audio, voice=None, bundle=default, t_sem=0.6, t_coarse=0.8, t_fine=0.6, top_k=0,
                            seed="", samples=1, progress=gr.Progress()):
        return generate(store, outputs, lambda: Request(bundle, "acoustic_generation", audio, voice, 5.0,
                                                        (t_sem, t_coarse, t_fine), top_k, seed_value(seed),
                                                        samples), progress)

    def continuation(audio, bundle=default, seconds=5.0, t_sem=0.6, t_coarse=0.8, t_fine=0.6, top_k=0,
                     seed="", samples=1, progress=gr.Progress()):
        return generate(store, outputs, lambda: Request(bundle, "continuation", audio, None, seconds,
                                                        (t_sem, t_coarse, t_fine), top_k, seed_value(seed),
                                                        samples), progress)

    with gr.Blocks(title="AudioLM", delete_cache=(max(1, keep_files_seconds // 4), keep_files_seconds)) as app:
        gr.Markdown("# AudioLM\nSemantic tokens carry the content, acoustic tokens the voice and recording: "
                    "generate from scratch, re-voice a recording, or continue a prompt.\n\n"
                    f"Uploads: wav, flac, mp3 or ogg up to **{max_upload_mb} MB**; only their first "
                    f"{MAX_SECONDS:g} s are used. Uploads and results are deleted after "
                    f"{keep_files_seconds / 60:g} minutes.")
        bundle = gr.Dropdown(store.names, value=default, label="Model")
        examples = examples_for(store.names)
        with gr.Tab("Unconditional"):
            seconds, *controls = sampling_controls(with_seconds=True)
            button = gr.Button("Generate", variant="primary", elem_id="unconditional-button")
            outputs_ = result_outputs("unconditional")
            button.click(unconditional, [bundle, seconds, *controls], outputs_, api_name="unconditional")
        with gr.Tab("Acoustic generation"):
            gr.Markdown("Keeps what is said in the input; the voice is new, or the voice prompt's.")
            with gr.Row():
                audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Input recording",
                                 elem_id="acoustic-input")
                voice = gr.Audio(sources=["upload", "microphone"], type="filepath",
                                 label="Voice prompt (optional: speaker conversion)")
            _, *controls = sampling_controls(with_seconds=False)
            button = gr.Button("Generate", variant="primary", elem_id="acoustic-button")
            outputs_ = result_outputs("acoustic")
            if examples:
                gr.Examples(examples, [audio, bundle], cache_examples=False)
            button.click(acoustic_generation, [audio, voice, bundle, *controls], outputs_,
                         api_name="acoustic_generation")
        with gr.Tab("Continuation"):
            audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Prompt",
                             elem_id="continuation-prompt")
            seconds, *controls = sampling_controls(with_seconds=True)
            button = gr.Button("Continue", variant="primary", elem_id="continuation-button")
            outputs_ = result_outputs("continuation")
            if examples:
                gr.Examples(examples, [audio, bundle], cache_examples=False)
            button.click(continuation, [audio, bundle, seconds, *controls], outputs_, api_name="continuation")
    return app


def stop(signum, frame):
    """SIGTERM as Ctrl-C: Gradio then shuts down cleanly and deletes this run's uploads and results."""
    raise KeyboardInterrupt


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
    parser.add_argument("--max-upload-mb", type=int, default=MAX_UPLOAD_MB, help="larger uploads are refused")
    parser.add_argument("--keep-files", type=int, default=KEEP_FILES_SECONDS, metavar="SECONDS",
                        help="uploads and results are deleted this long after they were written")
    parser.add_argument("--outputs", default=None,
                        help="folder for the sample files (emptied at start; default: one in the temp folder)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    store = BundleStore(bundle_sources(args.bundle, args.revision), args.device)
    try:  # load and check every bundle now: a broken one stops the server, not each request
        store.load_all()
    except BundleError as exc:
        parser.exit(1, f"error: {exc}\nThe server was not started.\n")
    outputs = OutputFolder(args.outputs or Path(tempfile.gettempdir()) / f"audiolm-outputs-{args.port}")
    app = build_app(store, outputs, args.max_upload_mb, args.keep_files)
    app.queue(default_concurrency_limit=args.concurrency, max_size=32)
    signal.signal(signal.SIGTERM, stop)
    try:
        # show_error: calls that Gradio itself refuses (a missing argument, a malformed file) get its message
        # too; everything this app raises is already a gr.Error with no internals in it
        app.launch(server_name=args.host, server_port=args.port, share=args.share, show_error=True,
                   max_file_size=f"{args.max_upload_mb}mb")
    finally:
        outputs.close()


if __name__ == "__main__":
    main()
