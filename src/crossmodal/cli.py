"""``crossmodal <step>``: every workflow step, runnable from the shell without Snakemake.

Each step lives in its own module, which defines ``add_arguments(parser)`` and ``run(args)``
and a module docstring whose first line is the step's help. The Snakemake rules call these same
commands, so a step debugged by hand behaves exactly as it does inside the workflow.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

#: step name -> (module implementing it, one-line help). Modules are imported only when their
#: step runs, so ``crossmodal extract`` does not pay for importing torch.
STEPS: dict[str, tuple[str, str]] = {
    "demo": ("crossmodal.demo.build", "generate the demo URMP tree"),
    "download": ("crossmodal.download", "download URMP (whole archive or piece by piece)"),
    "tracks": ("crossmodal.tracks", "scan a URMP tree into the tracks manifest (takes, split)"),
    "extract": ("crossmodal.extract", "extract one track's frames, audio and windows"),
    "windows": ("crossmodal.windows", "gather every track's windows into the windows manifest"),
    "dataset-report": ("crossmodal.dataset_report", "Table 2 and Fig. 6 from the windows manifest"),
    "features": ("crossmodal.audio.compute_features", "one sound representation (STFT, MS, LMS, CQT, MFCC) of every window"),
    "audio-classifier": ("crossmodal.audio.classifier", "train and test one audio classifier of Table 1"),
    "table1": ("crossmodal.audio.table1", "Table 1 from the audio classifiers' results"),
    "fig3": ("crossmodal.audio.fig3", "Fig. 3: one sound in every representation"),
    "sound-autoencoder": ("crossmodal.audio.autoencoder", "train the stacked sound autoencoder (S2I-A)"),
    "encode-sound": ("crossmodal.audio.encode", "128-d sound encoding of every window (classifier or autoencoder)"),
    "image-encoder": ("crossmodal.image_encoder", "train the image classifier (Sec. 3.4) and encode every image"),
    "train-gan": ("crossmodal.train_gan", "train one cross-modal GAN: S2I-C, S2I-N, S2I-A, pose S2I or I2S"),
    "human-eval-report": ("crossmodal.evaluation.human_eval_report", "Table 4 scores and Fig. 8 from the raters' score files"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that step's module is imported and wired."""
    parser = argparse.ArgumentParser(prog="crossmodal", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="step", required=True, metavar="<step>")
    for name, (module_name, help_line) in STEPS.items():
        if name != only:
            sub.add_parser(name, help=help_line)
            continue
        module = importlib.import_module(module_name)
        step = sub.add_parser(name, help=help_line, description=(module.__doc__ or help_line).strip(),
                              formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(step)
        step.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(only=chosen if chosen in STEPS else None).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        args._run(args)
    except (ValueError, OSError, RuntimeError) as err:
        # Expected failures (bad input, a missing file) end with one clear line, not a traceback.
        logging.getLogger("crossmodal").error("%s", err)
        if args.verbose:
            raise
        return 1
    return 0
