# Stage 1, the paper's Sec. 4: a URMP tree -> tracks -> per-track windows -> Sub-URMP pairs.


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
        seed=config["seed"],
    shell:
        "{CLI} demo --out {output} --pieces {params.pieces} --duration {params.duration}"
        " --panel-width {params.panel_width} --height {params.height} --fps {params.fps}"
        " {params.soundfont} --seed {params.seed} 2> {log}"


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
        "{CLI} download --url {params.url} --mode {params.mode} --archive-name {params.archive}"
        " {params.sha256} {params.pieces} --cache {params.cache} --out {output} 2> {log}"


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
        instruments=" ".join(config["instruments"]),
        pieces=" ".join(f"--piece {p}" for p in config["data"]["pieces"]),
        on_incomplete=config["data"]["on_incomplete_piece"],
        train_fraction=config["split"]["train_fraction"],
        split_file=f"--split-file {config['split']['file']}" if config["split"]["file"] else "",
        seed=config["seed"],
    shell:
        "{CLI} tracks --root {input.root} --out {output} --instruments {params.instruments}"
        " {params.pieces} --on-incomplete {params.on_incomplete}"
        " --train-fraction {params.train_fraction} {params.split_file} --seed {params.seed} 2> {log}"


rule extract_track:
    input:
        video=track_field("video_path"),
        audio=track_field("audio_path"),
    output:
        frames=f"{RESULTS}/tracks/{{track}}/frames.npy",
        audio=f"{RESULTS}/tracks/{{track}}/audio.npy",
        windows=f"{RESULTS}/tracks/{{track}}/windows.parquet",
    log:
        f"{LOGS}/extract/{{track}}.log",
    benchmark:
        f"{BENCH}/extract/{{track}}.tsv"
    params:
        part=track_field("part"),
        n_parts=track_field("n_parts"),
        window=config["dataset"]["window_s"],
        stride=config["dataset"]["stride_s"],
        sr=config["dataset"]["audio_sr"],
        image_size=config["dataset"]["image_size"],
    threads: 2
    shell:
        "{CLI} extract --track-id {wildcards.track} --video {input.video} --audio {input.audio}"
        " --panel {params.part} --panels {params.n_parts} --window {params.window}"
        " --stride {params.stride} --sr {params.sr} --image-size {params.image_size}"
        " --threads {threads} --out-dir $(dirname {output.frames}) 2> {log}"


rule windows:
    input:
        tracks=rules.tracks.output[0],
        track_windows=lambda wildcards: expand(
            f"{RESULTS}/tracks/{{track}}/windows.parquet", track=track_ids()
        ),
    output:
        f"{RESULTS}/manifests/windows.parquet",
    log:
        f"{LOGS}/windows.log",
    benchmark:
        f"{BENCH}/windows.tsv"
    shell:
        "{CLI} windows --tracks {input.tracks} --out {output} {input.track_windows} 2> {log}"


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
        "{CLI} dataset-report --windows {input} --table2 {output.table2} --fig6 {output.fig6} 2> {log}"


FINAL_TARGETS["data"] = rules.dataset_report.output
