"""Log-mel spectrogram pictures (numpy RGB): a bare one (``spectrogram_image``), and a figure with time and
frequency axes, the prompt / continuation boundary, and panels on one time scale (``spectrogram_figure``:
an input above its output). Drawn with Pillow (Gradio's dependency): no plotting library needed."""
from __future__ import annotations

import librosa
import numpy as np
from PIL import Image, ImageDraw, ImageFont

# a few anchors of the viridis colour map, interpolated
_ANCHORS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float32)
HOP = 160  # samples per column before scaling
LEFT, RIGHT, TOP, BOTTOM = 52, 14, 24, 34  # margins of a panel, pixels
INK, GRID, BACKGROUND = (40, 40, 40), (150, 150, 150), (255, 255, 255)


def colorize(values: np.ndarray) -> np.ndarray:
    """``values`` in [0, 1] -> uint8 RGB via the viridis anchors."""
    position = np.clip(values, 0, 1) * (len(_ANCHORS) - 1)
    low = np.floor(position).astype(int).clip(0, len(_ANCHORS) - 2)
    frac = (position - low)[..., None]
    return (_ANCHORS[low] * (1 - frac) + _ANCHORS[low + 1] * frac).astype(np.uint8)


def spectrogram_image(audio: np.ndarray, sample_rate: int, boundary_samples: int = 0, height: int = 160,
                      hop_length: int = HOP) -> np.ndarray:
    """``audio (samples,)`` -> ``(height, frames, 3)`` uint8, low frequencies at the bottom; a white
    line at ``boundary_samples`` (when > 0) separates the prompt from what was generated."""
    image = colorize(_db(audio, sample_rate, height, hop_length))[::-1].copy()
    if boundary_samples > 0:
        column = min(boundary_samples // hop_length, image.shape[1] - 1)
        image[:, max(column - 1, 0):column + 1] = 255
    return image


def _db(audio: np.ndarray, sample_rate: int, n_mels: int, hop_length: int) -> np.ndarray:
    """Log-mel in [0, 1] (80 dB below the peak to the peak): ``(n_mels, frames)``, low frequencies first."""
    mel = librosa.feature.melspectrogram(y=np.asarray(audio, dtype=np.float32), sr=sample_rate, n_fft=1024,
                                         hop_length=hop_length, n_mels=n_mels)
    db = librosa.power_to_db(mel, ref=np.max(mel) if mel.max() > 0 else 1.0, top_db=80.0)
    return (db + 80.0) / 80.0


def _font(size: int = 12):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: a fixed bitmap font
        return ImageFont.load_default()


def _time_step(seconds: float) -> float:
    return next(step for step in (0.5, 1, 2, 5, 10, 30) if seconds / step <= 12)


def _panel(draw: ImageDraw.ImageDraw, image: Image.Image, top: int, audio: np.ndarray, sample_rate: int,
           width_px: int, seconds: float, title: str, boundary: int, height: int) -> None:
    """One spectrogram at ``top``: the picture ``width_px`` wide for ``seconds``, axes, ticks, boundary."""
    font = _font()
    columns = colorize(_db(audio, sample_rate, height, HOP))[::-1]
    data_px = max(1, round(width_px * len(audio) / sample_rate / seconds))
    picture = Image.fromarray(np.ascontiguousarray(columns)).resize((data_px, height), Image.Resampling.BILINEAR)
    image.paste(picture, (LEFT, top))
    draw.rectangle([LEFT - 1, top - 1, LEFT + width_px, top + height], outline=INK)
    draw.text((LEFT, top - 16), title, fill=INK, font=font)
    # frequency axis: mel-spaced rows, ticks at round frequencies
    top_mel = librosa.hz_to_mel(sample_rate / 2)
    for khz in (0, 0.5, 1, 2, 4, 8, 16, 24):
        if khz * 1000 > sample_rate / 2:
            break
        y = top + height - round(height * librosa.hz_to_mel(khz * 1000) / top_mel)
        draw.line([LEFT - 4, y, LEFT - 1, y], fill=INK)
        draw.text((LEFT - 6, y), f"{khz:g}", fill=INK, font=font, anchor="rm")
    draw.text((4, top + height // 2), "kHz", fill=INK, font=font, anchor="lm")
    # time axis
    step = _time_step(seconds)
    for i in range(int(seconds / step) + 1):
        x = LEFT + round(width_px * i * step / seconds)
        draw.line([x, top + height, x, top + height + 4], fill=INK)
        draw.text((x, top + height + 6), f"{i * step:g}", fill=INK, font=font, anchor="mt")
    draw.text((LEFT + width_px, top + height + 20), "time (s)", fill=INK, font=font, anchor="rt")
    if boundary > 0:  # the prompt / continuation boundary, labelled on both sides
        x = LEFT + round(width_px * boundary / sample_rate / seconds)
        for y in range(top, top + height, 6):
            draw.line([x, y, x, min(y + 3, top + height)], fill=(255, 255, 255), width=2)
        draw.text((x - 4, top + 3), "prompt", fill=(255, 255, 255), font=font, anchor="ra")
        draw.text((x + 4, top + 3), "continuation", fill=(255, 255, 255), font=font, anchor="la")


def spectrogram_figure(panels: list[tuple[str, np.ndarray, int]], sample_rate: int, height: int = 128,
                       max_width: int = 640) -> np.ndarray:
    """``panels``: ``(title, audio, boundary_samples)`` each, drawn one above the other on one time scale
    (the longest panel's), with time (s) and frequency (kHz, mel-spaced) axes -> uint8 RGB ``(H, W, 3)``."""
    seconds = max(len(audio) for _, audio, _ in panels) / sample_rate
    width_px = int(min(max_width, max(300, seconds * 100)))
    panel_h = TOP + height + BOTTOM
    image = Image.new("RGB", (LEFT + width_px + RIGHT, panel_h * len(panels)), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for i, (title, audio, boundary) in enumerate(panels):
        _panel(draw, image, i * panel_h + TOP, audio, sample_rate, width_px, seconds, title, boundary, height)
    return np.asarray(image)
