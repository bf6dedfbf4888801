"""AudioLM Space: one tab per inference mode. The logic lives in ``audiolm/`` (see
``audiolm.space``); this file only lays out the page and wires events to it.

    python app.py [--port 7860] [--share] [--bundle FOLDER_OR_REPO_ID] [--device cpu|cuda]

``AUDIOLM_BUNDLE`` (and ``AUDIOLM_REVISION``) give the bundle as a Space's settings would.
"""
from __future__ import annotations

import argparse
import io
import logging
import math
import os
import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path

import gradio as gr
import numpy as np
import soundfile

from audiolm.errors import AudioLMError, BundleError
from audiolm.pipeline import GenerationSettings
from audiolm.sampling import SEED_MAX, parse_seed, shorten
from audiolm.space import (ABOUT, MAX_GUIDANCE, MAX_PROMPT_ADAPTATION, MAX_SAMPLES, MAX_SECONDS, MAX_SEMANTIC_PLANS,
                           MAX_TEMPERATURE, MAX_TOP_K, MAX_VOICE_PRIOR,
                           BundleSource, BundleStore, OutputFolder, Request, Response, model_card_summary, run, run_streamed)

ROOT = Path(__file__).resolve().parent
EXAMPLES = ROOT / "examples"
# bundle name -> Hub repo used when checkpoints/<name> is absent (revision pinned here)
HUB_BUNDLES = {"speech": ("audiolm-open/audiolm-speech", "main"), "piano": ("audiolm-open/audiolm-piano", "main")}
MAX_UPLOAD_MB = 100
KEEP_FILES_SECONDS = 1800
STREAM_PIECE_SECONDS = 0.5
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


def example_label(path: str) -> str:
    """``speech-heldout-48.wav`` -> "speech · held-out 48"; ``speech-real-1688.wav`` -> "speech · real voice 1688"."""
    model, kind, name = (Path(path).stem.split("-", 2) + ["", ""])[:3]
    return f"{model} · {'real voice' if kind == 'real' else 'held-out'} {name}"


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
    with errors_as_messages():
        response = run(store, make_request(), out_dir=outputs.new(),
                       progress=lambda fraction, stage: progress(fraction, desc=stage))
    for notice in response.notices:
        gr.Warning(notice)
    return response.audio, response.files, response.spectrogram, response.info


def generate_streamed(store: BundleStore, outputs: OutputFolder, make_request, progress: gr.Progress):
    """``generate`` as a stream: wav chunks for the streaming player (the previous result cleared), then the
    audio, files, picture and info, the audio being those chunks put together."""
    with errors_as_messages():
        first = True
        for item in run_streamed(store, make_request(), out_dir=outputs.new(),
                                 progress=lambda fraction, stage: progress(fraction, desc=stage)):
            if isinstance(item, Response):
                for notice in item.notices:
                    gr.Warning(notice)
                yield gr.skip(), item.audio, item.files, item.spectrogram, item.info
            else:
                sample_rate, pcm = item
                # pieces of at most STREAM_PIECE_SECONDS: Gradio's AAC encoder holds back the end of each
                # piece until the next one comes, so small pieces play sooner
                for piece in np.array_split(pcm, -(-len(pcm) // round(STREAM_PIECE_SECONDS * sample_rate))):
                    cleared = (None, None, None, "Generating...") if first else (gr.skip(),) * 4
                    first = False
                    yield wav_bytes(sample_rate, piece), *cleared


@contextmanager
def errors_as_messages():
    try:
        yield
    except (AudioLMError, ValueError) as exc:
        raise gr.Error(str(exc)) from exc
    except Exception as exc:  # never a stack trace in the browser; the log keeps it
        log.exception("generation failed")
        raise gr.Error(f"Generation failed ({type(exc).__name__}). Try other settings or another file.") from exc


def wav_bytes(sample_rate: int, pcm: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, pcm, sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def seed_value(text) -> int | None:
    """Blank means a random seed; anything else must be a seed in the library's range."""
    text = "" if text is None else str(text).strip()
    return parse_seed(text) if text else None


def advanced_controls(defaults: GenerationSettings, voice: bool, prompt: bool):
    """Per-stage temperatures (the bundle's own defaults), top-k, seed, samples (the named endpoints' order), and
    the page's own: top-p, the coarse stage's guidance, the voice prior (``voice``: the tab has a voice reference)
    and the semantic stage's adaptation to the prompt and plans to choose from (``prompt``: the tab continues one)."""
    with gr.Accordion("Advanced", open=False):
        with gr.Row():
            temperatures = [checked_slider(0, MAX_TEMPERATURE, value=v, step=0.05, label=f"{name} temperature",
                                           min_width=120)
                            for name, v in zip(("Semantic", "Coarse", "Fine"), defaults.temperatures)]
        with gr.Row():
            top_k = checked_slider(0, MAX_TOP_K, value=0, step=1, label="Top-k (0 = off)", min_width=120)
            top_p = checked_slider(0.05, 1, value=1, step=0.05, label="Top-p (1 = off)", min_width=120)
            guidance = checked_slider(0, MAX_GUIDANCE, value=defaults.coarse.guidance, step=0.5,
                                      label="Coarse guidance (1 = off)", min_width=120,
                                      info="more: follows the content more, the voice less (models trained for it)")
            voice_prior = checked_slider(0, MAX_VOICE_PRIOR, value=defaults.voice_prior, step=1,
                                         label="Voice matching (0 = off)", min_width=120, visible=voice,
                                         info="more: the prompt's voice and sound, less of the content")
            adaptation = checked_slider(0, MAX_PROMPT_ADAPTATION, value=defaults.semantic_adaptation_steps, step=5,
                                        label="Prompt adaptation (steps, 0 = off)", min_width=120, visible=prompt,
                                        info="more: the prompt's voice kept, less natural; 0.4 s per 20 steps")
            plans = checked_slider(1, MAX_SEMANTIC_PLANS, value=defaults.semantic_candidates, step=1,
                                   label="Semantic plans (1 = one)", min_width=120, visible=prompt,
                                   info="more: the plan that changes most of them; the prompt's voice kept, less natural")
        with gr.Row():
            seed = gr.Textbox(value="", label="Seed", info=f"blank = random; a whole number from 0 to {SEED_MAX}",
                              max_lines=1, min_width=120)
            samples = checked_slider(1, MAX_SAMPLES, value=1, step=1, label="Number of samples", min_width=120)
    return [*temperatures, top_k, seed, samples], [top_p, guidance, voice_prior, adaptation, plans]


def result_outputs(tab: str, streamed: bool):
    """Labels name the outputs for ``gradio_client`` (``view_api()``): audio, files, spectrogram, info; a
    streamed tab has a streaming player above them (not part of the named endpoint)."""
    live = gr.Audio(label="Listen: plays while it is generated", streaming=True, autoplay=True, interactive=False,
                    elem_id=f"{tab}-stream") if streamed else None
    audio = gr.Audio(label="Audio", type="numpy", interactive=False, elem_id=f"{tab}-result")
    picture = gr.Image(label="Spectrogram", type="numpy", interactive=False, show_label=False,
                       elem_id=f"{tab}-spectrogram")  # the picture has its own titles
    files = gr.File(label="Files", file_count="multiple", height=120)
    info = gr.Markdown(label="Info", elem_id=f"{tab}-info")
    return live, [audio, files, picture, info]


def about(store: BundleStore) -> None:
    with gr.Accordion("About", open=False, elem_id="about"):
        gr.Markdown(ABOUT)
        for name, source in store.sources.items():
            folder = source.local if source.local is not None else None
            summary = model_card_summary(folder / "README.md") if folder is not None else ""
            link = f"[model card](https://huggingface.co/{source.repo_id})" if source.repo_id else ""
            with gr.Accordion(f"The {name} model", open=False):
                gr.Markdown(f"{link}\n\n{summary}" if summary else link or "No model card.")
        gr.Markdown("The README's *Results* section has every measurement, with the commands that reproduce them.")


def build_app(store: BundleStore, outputs: OutputFolder, max_upload_mb: int = MAX_UPLOAD_MB,
              keep_files_seconds: int = KEEP_FILES_SECONDS) -> gr.Blocks:
    default = store.names[0]
    own = store.get(default).default_settings  # the default bundle's own sampling
    t_sem0, t_coarse0, t_fine0 = own.temperatures

    def request(mode, audio, voice, bundle, seconds, t_sem, t_coarse, t_fine, top_k, seed, samples, top_p=None,
                guidance=None, voice_prior=None, adaptation=None, plans=None):
        return lambda: Request(bundle, mode, audio, voice, seconds, (t_sem, t_coarse, t_fine), top_k,
                               seed_value(seed), samples, top_p, guidance, voice_prior, adaptation, plans)

    # The named endpoints (view_api() marks the arguments with defaults optional: all but the input audio / prompt)
    def unconditional(bundle=default, seconds=5.0, t_sem=t_sem0, t_coarse=t_coarse0, t_fine=t_fine0, top_k=0, seed="",
                      samples=1, progress=gr.Progress()):
        return generate(store, outputs, request("unconditional", None, None, bundle, seconds, t_sem, t_coarse,
                                                t_fine, top_k, seed, samples), progress)

    def acoustic_generation(audio, voice=None, bundle=default, t_sem=t_sem0, t_coarse=t_coarse0, t_fine=t_fine0, top_k=0,
                            seed="", samples=1, progress=gr.Progress()):
        return generate(store, outputs, request("acoustic_generation", audio, voice, bundle, 5.0, t_sem, t_coarse,
                                                t_fine, top_k, seed, samples), progress)

    def continuation(audio, bundle=default, seconds=5.0, t_sem=t_sem0, t_coarse=t_coarse0, t_fine=t_fine0, top_k=0,
                     seed="", samples=1, progress=gr.Progress()):
        return generate(store, outputs, request("continuation", audio, None, bundle, seconds, t_sem, t_coarse,
                                                t_fine, top_k, seed, samples), progress)

    # what the page's buttons call: the same plus top-p, guidance, the voice prior (off where there is no voice
    # reference), the prompt adaptation and semantic plans (hidden where there is no prompt: the bundle's own);
    # unconditional and continuation stream
    def unconditional_page(bundle, seconds, t_sem, t_coarse, t_fine, top_k, seed, samples, top_p, guidance,
                           voice_prior, adaptation, plans, progress=gr.Progress()):
        yield from generate_streamed(store, outputs, request("unconditional", None, None, bundle, seconds, t_sem,
                                                             t_coarse, t_fine, top_k, seed, samples, top_p,
                                                             guidance, voice_prior, adaptation, plans), progress)

    def acoustic_generation_page(audio, voice, bundle, t_sem, t_coarse, t_fine, top_k, seed, samples, top_p,
                                 guidance, voice_prior, adaptation, plans, progress=gr.Progress()):
        return generate(store, outputs, request("acoustic_generation", audio, voice, bundle, 5.0, t_sem, t_coarse,
                                                t_fine, top_k, seed, samples, top_p, guidance, voice_prior,
                                                adaptation, plans), progress)

    def continuation_page(audio, bundle, seconds, t_sem, t_coarse, t_fine, top_k, seed, samples, top_p, guidance,
                          voice_prior, adaptation, plans, progress=gr.Progress()):
        yield from generate_streamed(store, outputs, request("continuation", audio, None, bundle, seconds, t_sem,
                                                             t_coarse, t_fine, top_k, seed, samples, top_p,
                                                             guidance, voice_prior, adaptation, plans), progress)

    def wire(button, page_fn, api_fn, name, inputs, page_only, live, outs):
        """The visible button runs the page's version; a hidden one carries the named endpoint."""
        # streamed: the progress shows on the final audio's place, the streaming player stays in view
        button.click(page_fn, [*inputs, *page_only], ([live] if live is not None else []) + outs,
                     api_name=f"{name}_page", api_visibility="undocumented",
                     show_progress_on=outs[0] if live is not None else None)
        gr.Button(visible=False).click(api_fn, inputs, outs, api_name=name)

    def seconds_slider(tab):
        return checked_slider(1, MAX_SECONDS, value=5, step=0.5, label="Seconds of new audio", elem_id=f"{tab}-seconds")

    examples = examples_for(store.names)
    labels = [example_label(path) for path, _ in examples]
    with gr.Blocks(title="AudioLM", delete_cache=(max(1, keep_files_seconds // 4), keep_files_seconds)) as app:
        gr.Markdown("# AudioLM\nSemantic tokens carry the content, acoustic tokens the voice and recording: "
                    "generate from scratch, re-voice a recording, or continue a prompt. Trained from scratch on a "
                    "2-core CPU, on real and synthetic speech and on generated piano music: see *About* for what "
                    "to expect.")
        with gr.Row():
            bundle = gr.Dropdown(store.names, value=default, label="Model", scale=1, min_width=160,
                                 elem_id="model")
            gr.Markdown(f"Uploads: wav, flac, mp3 or ogg up to **{max_upload_mb} MB**; only their first "
                        f"{MAX_SECONDS:g} s are used. Uploads and results are deleted after "
                        f"{keep_files_seconds / 60:g} minutes.")
        # every tab's, set to a bundle's own when it is picked
        temperature_sliders, guidance_sliders, voice_sliders, adaptation_sliders, plan_sliders = [], [], [], [], []

        def tab_controls(voice: bool = True, prompt: bool = False):
            """A tab's Advanced controls, its sliders of a bundle's own settings recorded."""
            controls, page_only = advanced_controls(own, voice, prompt)
            temperature_sliders.extend(controls[:3])
            guidance_sliders.append(page_only[1])
            voice_sliders.append(page_only[2])
            adaptation_sliders.append(page_only[3])
            plan_sliders.append(page_only[4])
            return controls, page_only
        with gr.Tab("Continuation"):
            with gr.Row(equal_height=False):
                with gr.Column(min_width=320):
                    audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Prompt",
                                     elem_id="continuation-prompt")
                    seconds = seconds_slider("continuation")
                    controls, page_only = tab_controls(prompt=True)
                    button = gr.Button("Continue", variant="primary", elem_id="continuation-button")
                    if examples:
                        gr.Examples(examples, [audio, bundle], cache_examples=False, example_labels=labels,
                                    label="Examples (picking one picks its model)")
                with gr.Column(min_width=320):
                    live, outs = result_outputs("continuation", streamed=True)
            wire(button, continuation_page, continuation, "continuation", [audio, bundle, seconds, *controls],
                 page_only, live, outs)
        with gr.Tab("Acoustic generation"):
            with gr.Row(equal_height=False):
                with gr.Column(min_width=320):
                    gr.Markdown("Keeps what is said in the input; the voice is new, or the voice prompt's.")
                    audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Input recording",
                                     elem_id="acoustic-input")
                    voice = gr.Audio(sources=["upload", "microphone"], type="filepath",
                                     label="Voice prompt (optional: speaker conversion)", elem_id="acoustic-voice")
                    controls, page_only = tab_controls()
                    button = gr.Button("Generate", variant="primary", elem_id="acoustic-button")
                    if examples:
                        gr.Examples(examples, [audio, bundle], cache_examples=False, example_labels=labels,
                                    label="Examples (picking one picks its model)")
                with gr.Column(min_width=320):
                    _, outs = result_outputs("acoustic", streamed=False)
            wire(button, acoustic_generation_page, acoustic_generation, "acoustic_generation",
                 [audio, voice, bundle, *controls], page_only, None, outs)
        with gr.Tab("Unconditional"):
            with gr.Row(equal_height=False):
                with gr.Column(min_width=320):
                    seconds = seconds_slider("unconditional")
                    controls, page_only = tab_controls(voice=False)
                    button = gr.Button("Generate", variant="primary", elem_id="unconditional-button")
                with gr.Column(min_width=320):
                    live, outs = result_outputs("unconditional", streamed=True)
            wire(button, unconditional_page, unconditional, "unconditional", [bundle, seconds, *controls], page_only,
                 live, outs)

        def own_sampling(name):  # each tab's sliders, in the order tab_controls recorded them
            settings = store.get(name).default_settings
            tabs = len(guidance_sliders)
            return [*settings.temperatures * tabs, *[settings.coarse.guidance] * tabs, *[settings.voice_prior] * tabs,
                    *[settings.semantic_adaptation_steps] * tabs, *[settings.semantic_candidates] * tabs]
        bundle.change(own_sampling, bundle,
                      temperature_sliders + guidance_sliders + voice_sliders + adaptation_sliders + plan_sliders,
                      api_visibility="private")
        about(store)
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
