"""A copy of the semantic stage adapted to a continuation's prompt before it plans the rest (test-time adaptation).

The plan of a continuation keeps less of the prompt's voice than the real next seconds' semantic ids do: the
stage's plans sit in its own mode, which its training corpus (about 2 h of distinct real sentences) sets
(progress entries ``semantic_plans_that_change_2026_12_07`` and ``real_ids_plans_and_prompt_adaptation_2026_12_07``
in ``benchmarks/results/speech-mixed-progress.json``). A few Adam steps on random crops of the prompt's own ids
move the stage toward this speaker's way of speaking; on real held-out readers its plans kept more of the voice
(resemblyzer similarity +0.005 to +0.025 over three blocks of draws at 20 steps of lr 3e-4) and sounded less natural
(DistillMOS -0.09 to -0.16; progress entry ``prompt_adaptation_2026_12_07``), so the shipped bundles leave it off.
Unchecked, the adapted stage also replays the prompt, so it is meant to plan with the prompt's n-grams forbidden
(``SamplingConfig.forbid_prefix_ngrams``, ``audiolm.forbidden_ngrams``; ``GenerationSettings.with_overrides``, the
path of the Space and the CLI, forbids ``FORBIDDEN_NGRAMS`` with the adaptation). The original stage is never
changed: each request adapts its own copy.
"""
from __future__ import annotations

import copy

import torch

from .stages import Stage

CROPS_PER_STEP = 4  # crops of the prompt in each step's batch
# n of the prompt's n-grams an adapted stage plans without where its settings forbid none, as it was measured: with
# nothing forbidden, 12 % (20 steps) and 36 % (60) of a plan's 4-grams came from the prompt, 3.5 % in real speech
FORBIDDEN_NGRAMS = 4
# the crops' seed: fixed, not the request's, so a prompt adapts the same way whatever the seed and sample i of a batch
# is the sample its own seed gives alone (``audiolm.sampling.SampleGenerators``)
CROPS_SEED = 0


def adapted_to_prefix(stage: Stage, prefix: torch.Tensor, steps: int, lr: float, seed: int = CROPS_SEED,
                      style: torch.Tensor | None = None) -> Stage:
    """A copy of ``stage`` (a stage without a cond stream) after ``steps`` Adam steps at ``lr`` on its training
    loss over random crops of ``prefix (1, L, P)``: each step ``CROPS_PER_STEP`` crops of one length drawn from
    ``[ceil(P / 2), min(P, window)]`` frames, at random starts (a generator seeded by ``seed``: the same prefix
    adapts the same way). ``style (1,)``: the prompt's style class, for a stage that reads one. The copy comes back
    in eval mode; ``stage`` itself is left as it was."""
    if stage.config.cond_levels:
        raise ValueError(f"the {stage.config.name} stage reads a cond stream; only a stage without one (the "
                         "semantic stage) adapts to its prefix alone")
    frames = prefix.shape[2]
    adapted = copy.deepcopy(stage)
    if steps == 0 or frames < 2:
        return adapted
    generator = torch.Generator().manual_seed(seed)
    shortest, longest = (frames + 1) // 2, min(frames, stage.config.window_frames)
    style = {} if style is None else {"style": style.expand(CROPS_PER_STEP)}
    with torch.inference_mode(False), torch.enable_grad():
        adapted.train()
        optimizer = torch.optim.Adam(adapted.parameters(), lr=lr)
        for _ in range(steps):
            length = int(torch.randint(shortest, longest + 1, (), generator=generator))
            starts = torch.randint(0, frames - length + 1, (CROPS_PER_STEP,), generator=generator).tolist()
            crops = torch.cat([prefix[:, :, s:s + length] for s in starts]).clone()
            loss = adapted.loss(None, crops, generator, **style)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    adapted.requires_grad_(False)
    return adapted.eval()
