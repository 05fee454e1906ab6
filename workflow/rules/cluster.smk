# Execution on a cluster (workflow/profiles/slurm, docs/cluster.md): the jobs that run on the
# submitting host instead of being queued. They take seconds (so a queue wait would dwarf them),
# read or write a few small files, or need the internet, which compute nodes often lack.
# A local run is unaffected: every job is local there anyway.


localrules:
    download_urmp,  # network access: login nodes have it
    tracks,  # the checkpoint: scans the URMP tree, writes one manifest
    windows,  # gathers the per-track window tables into one manifest
    dataset_report,  # Table 2 and Fig. 6
