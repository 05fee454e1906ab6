# Stage 1, the paper's Sec. 4: a URMP tree -> tracks -> per-track windows -> Sub-URMP pairs.
# (Its input and params functions are in common.smk.)


rule demo_urmp:
    output:
        directory(f"{RESOURCES}/demo/Dataset"),
    log:
        f"{LOGS}/demo_urmp.log",
    benchmark:
        f"{BENCH}/demo_urmp.tsv"
    params:
        pieces=" ".join(config["demo"]["pieces"]),
        duration=config["demo"]["duration_s"],
        panel_width=config["demo"]["panel_width"],
        height=config["demo"]["height"],
        fps=config["demo"]["fps"],
        soundfont=f"--soundfont {config['demo']['soundfont']}" if config["demo"]["soundfont"] else "",
        pitches=config["demo"]["pitches"],
        seed=config["seed"],
    shell:
        "crossmodal demo --out {output} --pieces {params.pieces} --duration {params.duration}"
        " --panel-width {params.panel_width} --height {params.height} --fps {params.fps}"
        " {params.soundfont} --pitches {params.pitches} --seed {params.seed} 2> {log}"


rule download_urmp:
    output:
        directory(f"{RESOURCES}/urmp/Dataset"),
    log:
        f"{LOGS}/download_urmp.log",
    benchmark:
        f"{BENCH}/download_urmp.tsv"
    params:
        url=config["data"]["download"]["url"],
        mode=config["data"]["download"]["mode"],
        archive=config["data"]["download"]["archive_name"],
        sha256=f"--sha256 {config['data']['download']['sha256']}" if config["data"]["download"]["sha256"] else "",
        pieces=" ".join(f"--piece {p}" for p in config["data"]["pieces"]),
        cache=f"{RESOURCES}/urmp/download",
    shell:
        "crossmodal download --url {params.url} --mode {params.mode} --archive-name {params.archive}"
        " {params.sha256} {params.pieces} --cache {params.cache} --out {output} 2> {log}"


# Scans the data source into the tracks manifest: `tracks` for a URMP tree (demo, local,
# download), `suburmp-tracks` for the released Sub-URMP (one track per recording).
checkpoint tracks:
    input:
        root=urmp_root(),
        split_file=[config["split"]["file"]] if config["split"]["file"] else [],
    output:
        f"{RESULTS}/manifests/tracks.parquet",
    log:
        f"{LOGS}/tracks.log",
    benchmark:
        f"{BENCH}/tracks.tsv"
    params:
        step="suburmp-tracks" if config["data"]["source"] == "suburmp" else "tracks",
        instruments=" ".join(config["instruments"]),
        dedupe="--dedupe-takes" if config["data"]["dedupe_takes"] else "",
        flags=tracks_flags(),
    priority: DATA_PRIORITY
    shell:
        "crossmodal {params.step} --root {input.root} --out {output} --instruments {params.instruments}"
        " {params.dedupe} {params.flags} 2> {log}"


# One job per piece: the ensemble video is decoded once and every kept player's frames, audio
# and windows are written to results/tracks/<track>/ (frames.npy, audio.npy, windows.parquet,
# each track all or none); the summary (boxes, fit, window counts) is written last.
rule extract_piece:
    input:
        video=piece_field("video_path"),
        audio=lambda wildcards: list(piece_tracks(wildcards)["audio_path"]),
    output:
        summary=f"{RESULTS}/manifests/pieces/{{piece}}.csv",
    log:
        f"{LOGS}/extract/{{piece}}.log",
    benchmark:
        f"{BENCH}/extract/{{piece}}.tsv"
    params:
        tracks=lambda wildcards: " ".join(
            f"--track {row.track_id} {row.part} {row.audio_path}" for row in piece_tracks(wildcards).itertuples()
        ),
        n_parts=piece_field("n_parts"),
        boxes=piece_boxes,
        probed=piece_probed,
        panel_fit=config["dataset"]["panel_fit"],
        window=config["dataset"]["window_s"],
        stride=config["dataset"]["stride_s"],
        sr=config["dataset"]["audio_sr"],
        image_size=config["dataset"]["image_size"],
        out_root=f"{RESULTS}/tracks",
    # One thread: a demo piece keeps ffmpeg at about one core either way, so on a 2-core machine two
    # pieces at once extract the demo in 19 s instead of 27 s (same bytes); the SLURM profile gives 4.
    threads: 1
    resources:  # from the video's size and length; a retry (cluster profile) asks for more
        mem_mb=lambda wildcards, threads, attempt: piece_job(wildcards, threads)["mem_mb"] * attempt,
        runtime=lambda wildcards, threads, attempt: piece_job(wildcards, threads)["runtime"] * attempt,
    wildcard_constraints:
        piece=r"\d{2}_[A-Za-z0-9]+(_[a-z]+)+",
    priority: DATA_PRIORITY
    shell:
        "crossmodal extract --piece {wildcards.piece} --video {input.video} --panels {params.n_parts}"
        " {params.tracks} {params.boxes} {params.probed} --panel-fit {params.panel_fit} --window {params.window}"
        " --stride {params.stride} --sr {params.sr} --image-size {params.image_size}"
        " --threads {threads} --out-root {params.out_root} --summary {output.summary} 2> {log}"


rule windows:
    input:
        tracks=rules.tracks.output[0],
        pieces=piece_summaries,
    output:
        f"{RESULTS}/manifests/windows.parquet",
    log:
        f"{LOGS}/windows.log",
    benchmark:
        f"{BENCH}/windows.tsv"
    params:
        track_windows=lambda wildcards: expand(f"{RESULTS}/tracks/{{track}}/windows.parquet", track=track_ids()),
    priority: DATA_PRIORITY
    shell:
        "crossmodal windows --tracks {input.tracks} --out {output} {params.track_windows} 2> {log}"


rule dataset_report:
    input:
        rules.windows.output[0],
    output:
        table2=report(f"{RESULTS}/table2.csv", caption="../report/table2.rst", category="Dataset"),
        fig6=report(
            f"{RESULTS}/figures/fig6_dataset_examples.png",
            caption="../report/fig6.rst",
            category="Dataset",
        ),
    log:
        f"{LOGS}/dataset_report.log",
    benchmark:
        f"{BENCH}/dataset_report.tsv"
    shell:
        "crossmodal dataset-report --windows {input} --table2 {output.table2} --fig6 {output.fig6} 2> {log}"


FINAL_TARGETS["data"] = rules.dataset_report.output


# One crop per track on one page (its first voiced window), to check every panel at a glance.
rule panels_sheet:
    input:
        rules.windows.output[0],
    output:
        report(f"{RESULTS}/figures/panels.png", caption="../report/panels.rst", category="Dataset"),
    log:
        f"{LOGS}/panels_sheet.log",
    benchmark:
        f"{BENCH}/panels_sheet.tsv"
    shell:
        "crossmodal panels-sheet --windows {input} --out {output} 2> {log}"


FINAL_TARGETS["panels"] = rules.panels_sheet.output


# Opt-in (not in `all`): the ingested pairs in the released Sub-URMP layout, a file per window.
rule export_suburmp:
    input:
        rules.windows.output[0],
    output:
        directory(f"{RESULTS}/suburmp"),
    log:
        f"{LOGS}/export_suburmp.log",
    benchmark:
        f"{BENCH}/export_suburmp.tsv"
    params:
        window=config["dataset"]["window_s"],
        sr=config["dataset"]["audio_sr"],
    shell:
        "crossmodal export-suburmp --windows {input} --out {output} --window {params.window} --sr {params.sr} 2> {log}"


# One job per Sub-URMP recording: its images and chunks -> the URMP path's per-track arrays;
# its summary row sits where the URMP path writes each piece's (a recording is its own piece).
rule ingest_suburmp:
    input:
        images=track_field("video_path"),
        chunks=track_field("audio_path"),
    output:
        frames=f"{RESULTS}/tracks/{{track}}/frames.npy",
        audio=f"{RESULTS}/tracks/{{track}}/audio.npy",
        windows=f"{RESULTS}/tracks/{{track}}/windows.parquet",
        summary=f"{RESULTS}/manifests/pieces/{{track}}.csv",
    log:
        f"{LOGS}/ingest/{{track}}.log",
    benchmark:
        f"{BENCH}/ingest/{{track}}.tsv"
    params:
        number=track_field("piece_number"),
        window=config["dataset"]["window_s"],
        sr=config["dataset"]["audio_sr"],
        image_size=config["dataset"]["image_size"],
        panel_fit=config["dataset"]["panel_fit"],
        unpaired=config["data"]["suburmp_unpaired"],
    wildcard_constraints:
        track=SUBURMP_TRACK_ID_RE,
    priority: DATA_PRIORITY
    shell:
        "crossmodal ingest-suburmp --track-id {wildcards.track} --images {input.images} --chunks {input.chunks}"
        " --number {params.number} --window {params.window} --sr {params.sr} --image-size {params.image_size}"
        " --panel-fit {params.panel_fit} --unpaired {params.unpaired}"
        " --out-dir $(dirname {output.frames}) --summary {output.summary} 2> {log}"


rule suburmp_summary:
    input:
        lambda wildcards: expand(f"{RESULTS}/manifests/pieces/{{track}}.csv", track=track_ids()),
    output:
        f"{RESULTS}/suburmp_ingest.csv",
    log:
        f"{LOGS}/suburmp_summary.log",
    benchmark:
        f"{BENCH}/suburmp_summary.tsv"
    shell:
        "crossmodal suburmp-summary --out {output} {input} 2> {log}"


if config["data"]["source"] == "suburmp":
    FINAL_TARGETS["suburmp"] = rules.suburmp_summary.output
