# Regenerates Chen et al. (2017), "Deep Cross-Modal Audio-Visual Generation", from raw URMP.
# A table of contents: configuration, one rule file per stage, and `all`.
# Logic lives in src/crossmodal; every rule calls `python -m crossmodal <step>`.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/encoders.smk"
include: "workflow/rules/gans.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/performances.smk"
include: "workflow/rules/inis.smk"
include: "workflow/rules/cluster.smk"


rule all:
    input:
        all_targets(),
    default_target: True
