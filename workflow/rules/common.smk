# Helpers every stage uses: config validation, paths, the track list from the checkpoint.
import functools
import json
import os
import sys
from pathlib import Path

import pandas as pd

from crossmodal import manifests
from crossmodal.config import Untracked, job_shell_prefix, validate_config
from crossmodal.dataset.suburmp import TRACK_ID_RE as SUBURMP_TRACK_ID_RE
from crossmodal.scheduler_timers import coalesce_reevaluation_timers
from crossmodal.urmp import TRACK_ID_RE

validate_config(config)
# Snakemake's scheduler otherwise wakes itself once more per second for every finished job
# (about a minute of CPU in the demo's `all`); see crossmodal/scheduler_timers.py.
coalesce_reevaluation_timers()

RESULTS = config["paths"]["results"]
RESOURCES = config["paths"]["resources"]
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"
# The interpreter running Snakemake is the project's venv; every job runs its `crossmodal`
# command (a job on a cluster node reads this file again, so it finds the same one), with glibc's
# malloc told to keep freed memory (job_shell_prefix; a GLIBC_TUNABLES set by the user wins).
# Snakemake formats the prefix like a shell command: its braces are doubled.
shell.prefix(job_shell_prefix(os.path.dirname(sys.executable)).replace("{", "{{").replace("}", "}}"))
# Old spelling of `crossmodal` in shell lines, until every rule file has moved off it (the
# linter flags it: tests/test_lint.py).
CLI = f"{sys.executable} -m crossmodal"
# Where a job runs, passed as params that Snakemake does not record: moving to a GPU (or
# switching mixed precision) does not rerun what was trained on the CPU.
DEVICE = Untracked(config["training"]["device"])
AMP = Untracked(config["training"]["amp"])
# Scheduling priorities: among the jobs that are ready, Snakemake starts the higher first (no
# result depends on them). On a few cores the DAG's long chains must start early and the short
# leaf jobs (Table 1's other classifiers, the evaluation steps) fill the gaps; without them the
# data stage waited behind INIS and S2I-A's chain ran last and alone (README). INIS's rules,
# made with `use rule`, inherit their priorities.
DATA_PRIORITY = 20  # tracks, extraction, windows: every Sub-URMP job waits for them
GAMMA_CHAIN_PRIORITY = 10  # image classifier (Gamma) -> image encodings -> I2S: the longest chain
SOUND_CHAIN_PRIORITY = 5  # encoder's store -> sound classifier / autoencoder -> encodings -> S2I GANs
EVAL_PRIORITY = 1  # a model's evaluation as soon as it exists; Table 1's other classifiers (0) fill the end


wildcard_constraints:
    track=f"(?:{TRACK_ID_RE})|(?:{SUBURMP_TRACK_ID_RE})",


def sound_encoder_first(wildcards):
    """Priority of a features or audio_classifier job: the sound encoder's store and classifier
    (encoders.smk) head S2I's chains (SOUND_CHAIN_PRIORITY); Table 1's others fill the gaps."""
    encoder = (SOUND_ENCODER_REP, str(SOUND_ENCODER_LAYERS), str(SOUND_ENCODER_SEED))
    job = (wildcards.rep, wildcards.get("layers", encoder[1]), wildcards.get("seed", encoder[2]))
    return SOUND_CHAIN_PRIORITY if job == encoder else 0


def all_targets():
    """Every final output of the paper; each stage's rule file adds its own."""
    return [target for stage in FINAL_TARGETS.values() for target in stage]


FINAL_TARGETS = {}


def urmp_root():
    """The URMP Dataset/ folder the workflow reads, by data.source (or the Sub-URMP folder)."""
    source = config["data"]["source"]
    if source == "suburmp":
        return config["data"]["suburmp_root"]
    if source == "demo":
        return f"{RESOURCES}/demo/Dataset"
    if source == "download":
        return f"{RESOURCES}/urmp/Dataset"
    return config["data"]["local_root"]


@functools.cache
def _tracks_table(path, mtime):
    return manifests.read(path, "tracks").set_index("track_id", drop=False)


def tracks_table():
    """The tracks manifest; evaluated after the `tracks` checkpoint has run."""
    import os

    path = checkpoints.tracks.get().output[0]
    return _tracks_table(path, os.path.getmtime(path))


def track_ids():
    return list(tracks_table()["track_id"])


def track_field(field):
    """An input/params function returning one column of the wildcard's track."""
    return lambda wildcards: tracks_table().loc[wildcards.track, field]


# ---------------------------------------------------------------- data stage (rules/data.smk)
def tracks_flags():
    """The scan step's own flags: URMP's pieces, incomplete-piece policy and split, or
    Sub-URMP's pairing policy (its split is the release's)."""
    data = config["data"]
    if data["source"] == "suburmp":
        return f"--unpaired {data['suburmp_unpaired']}"
    flags = [f"--piece {p}" for p in data["pieces"]]
    flags += [f"--on-incomplete {data['on_incomplete_piece']}", f"--train-fraction {config['split']['train_fraction']}"]
    flags += [f"--split-file {config['split']['file']}"] if config["split"]["file"] else []
    return " ".join(flags + [f"--seed {config['seed']}"])


def piece_tracks(wildcards):
    """The tracks manifest's rows of the wildcard's piece, in part order."""
    tracks = tracks_table()
    return tracks[tracks["piece"] == wildcards.piece].sort_values("part")


def piece_field(field):
    """An input/params function returning one column of the wildcard's piece (same for all its tracks)."""
    return lambda wildcards: piece_tracks(wildcards)[field].iloc[0]


def piece_boxes(wildcards):
    """--boxes LEFT,RIGHT ... of the piece's data.panels override (ints stay pixels, floats fractions)."""
    boxes = config["data"]["panels"].get(wildcards.piece)
    return "--boxes " + " ".join(f"{json.dumps(l)},{json.dumps(r)}" for l, r in boxes) if boxes else ""


def piece_probed(wildcards):
    """--probed WIDTH HEIGHT FPS DURATION_S of the piece's video as the tracks checkpoint probed it
    (floats by repr, so they arrive exact), saving extraction a second ffprobe. Not recorded
    (Untracked): the values follow from the video, an input, so adding them reruns nothing."""
    first = piece_tracks(wildcards).iloc[0]
    sizes = f"{int(first['video_width'])} {int(first['video_height'])}"
    return Untracked(f"--probed {sizes} {float(first['fps'])!r} {float(first['video_duration_s'])!r}")


def piece_job(wildcards, threads):
    """Memory (MB) and runtime (min) of the piece's extraction job, from its video and tracks."""
    from crossmodal.dataset.extract import job_size

    tracks, ds = piece_tracks(wildcards), config["dataset"]
    first = tracks.iloc[0]
    return job_size(
        int(first["video_width"]),
        int(first["video_height"]),
        float(first["video_duration_s"]),
        len(tracks),
        ds["audio_sr"],
        ds["image_size"],
        ds["stride_s"],
        threads,
    )


def piece_summaries(wildcards):
    """One extraction summary per piece of the tracks manifest (the per-piece jobs' outputs)."""
    pieces = tracks_table()["piece"].unique()
    return expand(f"{RESULTS}/manifests/pieces/{{piece}}.csv", piece=pieces)


# ---------------------------------------------------------------- INIS (rules/inis.smk)
def inis_sources():
    """The demo INIS folder, or every file under the user's two roots: adding, changing or
    removing a picture or song reruns the pairing (a missing root is named by inis-pairs)."""
    if not INIS_OWN_FOLDERS:
        return rules.inis_demo.output
    roots = (INIS_CONFIG["images_root"], INIS_CONFIG["audio_root"])
    return sorted(str(p) for root in roots for p in Path(root).glob("*/*") if p.is_file())


def inis_section(section, key="epochs"):
    """A training section of the config with INIS's epochs (inis.epochs.<section>, else its own)."""
    epochs = INIS_CONFIG["epochs"][section]
    return {**config[section], key: epochs} if epochs is not None else config[section]


# ---- performances (rules/performances.smk): which recordings are rendered, and their inputs
def perform_model_files():
    """The model files performances.model may use (auto: S2I-C and every pose model)."""
    model = PERF["model"]
    if model == "auto":
        names = ["s2i_c", *(f"pose_s2i_{i}" for i in GAN["pose_instruments"])]
    elif model.startswith("pose:"):
        names = [f"pose_s2i_{model.split(':', 1)[1]}"]
    else:
        names = [model]
    return [f"{GAN_DIR}/{name}/model.pt" for name in names]


def performance_tracks():
    """Track ids rendered: those in performances.inputs, else a few of the test split."""
    if PERF["inputs"]:
        return [p for p in PERF["inputs"] if _PERF_TRACK.fullmatch(p)]
    table = tracks_table()
    test = table[table["split"] == "test"].reset_index(drop=True)
    test["plain"] = ~test["instrument"].isin(GAN["pose_instruments"])
    test = test.sort_values(["plain", "track_id"])
    first = test.drop_duplicates("instrument")["track_id"].tolist()
    rest = [t for t in test["track_id"] if t not in first]
    return (first + rest)[: PERF["test_tracks"]]


def track_piece_summary(wildcards):
    """The extraction summary of the track's piece (written after its frames.npy and audio.npy)."""
    return f"{RESULTS}/manifests/pieces/{tracks_table().loc[wildcards.track, 'piece']}.csv"


def track_f0_flag(wildcards):
    f0 = tracks_table().loc[wildcards.track, "f0_path"]
    return f"--f0 {f0}" if isinstance(f0, str) and f0 else ""


def track_panel(wildcards):
    row = tracks_table().loc[wildcards.track]
    return f"{row['part']}/{row['n_parts']}"


def performance_summaries(wildcards):
    """Every performance's JSON record (its video beside it): perform of each track and file,
    accompany of each track."""
    tracks = performance_tracks()
    with_video = tracks if config["data"]["source"] != "suburmp" else []  # Sub-URMP has no videos
    names = [*tracks, *PERF_FILES, *(f"{t}_i2s" for t in with_video)]
    return [f"{PERF_DIR}/{name}.json" for name in names]
