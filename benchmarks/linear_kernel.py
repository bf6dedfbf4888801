"""Which kernel the sampling steps' linear layers run on (``AUDIOLM_LINEAR_KERNEL``, ``audiolm.transformer``):
a bundle's continuation marginal RTF (the bench's and the evaluation's speed figure: ``(t(10 s) - t(2 s)) / 8``)
with each kernel, in fresh processes taken in turn (A B A B ...) so that the host's drift hits both alike, and
whether both give the same codec ids.

Run from the repo root: ``python benchmarks/linear_kernel.py [--bundle checkpoints/speech] [--rounds 3]``.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

KERNELS = ("onednn", "aten")

# one process: load, then marginal RTFs of a 3 s synthetic prompt continued by 2 s and 10 s, as the evaluation
# times them (``audiolm.evaluation.speech.continuation_rtf``), and the codec ids of the last 10 s continuation
ONE_RUN = """
import hashlib, json, sys, torch
from audiolm.evaluation.speech import continuation_rtf
from audiolm.pipeline import AudioLM
from audiolm.testing import synthetic_voice
torch.set_num_threads(2)
model = AudioLM.from_pretrained(sys.argv[1])
prompt = synthetic_voice(3.0, model.config.sample_rate, seed=1)
rtfs = [continuation_rtf(model, prompt, repeats=1)["continuation_marginal_rtf"] for _ in range(int(sys.argv[2]))]
ids = model.continuation(prompt, 10.0).acoustic_ids
print(json.dumps({"rtf": rtfs, "ids": hashlib.sha1(ids.numpy().tobytes()).hexdigest()}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", default="checkpoints/speech")
    parser.add_argument("--rounds", type=int, default=3, help="processes per kernel, taken in turn")
    parser.add_argument("--per-process", type=int, default=2, help="marginal RTFs measured in each process")
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    runs = {kernel: [] for kernel in KERNELS}
    ids = {}
    for round_ in range(args.rounds):
        for kernel in KERNELS:
            env = dict(os.environ, AUDIOLM_LINEAR_KERNEL=kernel, PYTHONPATH=root)
            out = subprocess.run([sys.executable, "-c", ONE_RUN, args.bundle, str(args.per_process)], env=env,
                                 cwd=root, capture_output=True, text=True, check=True).stdout
            figures = json.loads(out.strip().splitlines()[-1])
            runs[kernel] += figures["rtf"]
            ids[kernel] = figures["ids"]
            print(f"round {round_ + 1} {kernel}: marginal RTF " + " ".join(f"{r:.3f}" for r in figures["rtf"]),
                  flush=True)
    for kernel in KERNELS:
        print(f"{kernel}: median marginal RTF {statistics.median(runs[kernel]):.3f} "
              f"(min {min(runs[kernel]):.3f}, max {max(runs[kernel]):.3f}, {len(runs[kernel])} runs)")
    print("same codec ids with both kernels:", len(set(ids.values())) == 1)


if __name__ == "__main__":
    main()
