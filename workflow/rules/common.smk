# Helpers every stage uses: config validation, paths, the track list from the checkpoint.
import functools
import os
import sys

import pandas as pd

from crossmodal import manifests
from crossmodal.config import Untracked, validate_config
from crossmodal.dataset.suburmp import TRACK_ID_RE as SUBURMP_TRACK_ID_RE
from crossmodal.urmp import TRACK_ID_RE

validate_config(config)

RESULTS = config["paths"]["results"]
RESOURCES = config["paths"]["resources"]
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"
# The interpreter running Snakemake is the project's venv; every job runs its `crossmodal`
# command (a job on a cluster node reads this file again, so it finds the same one).
shell.prefix(f'PATH="{os.path.dirname(sys.executable)}:$PATH"; ')
CLI = f"{sys.executable} -m crossmodal"
# Where a job runs, passed as params that Snakemake does not record: moving to a GPU (or
# switching mixed precision) does not rerun what was trained on the CPU.
DEVICE = Untracked(config["training"]["device"])
AMP = Untracked(config["training"]["amp"])


wildcard_constraints:
    track=f"(?:{TRACK_ID_RE})|(?:{SUBURMP_TRACK_ID_RE})",


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
