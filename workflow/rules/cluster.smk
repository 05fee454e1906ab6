# Execution on a cluster (workflow/profiles/slurm, docs/cluster.md): the jobs that run on the
# submitting host instead of being queued. They take seconds (a queue wait would dwarf them),
# read and write a few small files, or need the internet, which compute nodes often lack.
# Rules without an action (all, gans, pose_s2i) are local anyway; so is every job of a local run.


localrules:
    download_urmp,  # network access: login nodes have it
    tracks,  # the checkpoint: scans the URMP tree, writes one manifest
    windows,  # gathers the per-track window tables into one manifest
    dataset_report,  # Table 2 and Fig. 6
    table1,  # gathers the classifiers' result files
    fig3,  # one window's five representations, read from the stores
    human_eval_report,  # Table 4 and Fig. 8 from the raters' score files
    scorecard,  # the paper's numbers beside ours, from the result tables
