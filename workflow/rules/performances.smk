# Watch and listen (beyond the paper), crossmodal.performance: whole recordings through the
# trained models, and a page to watch them.
#   perform_track  results/performances/<track>.mp4: a URMP track's sound -> a generated player
#                  (S2I; performances.model), the real player's panel beside it, its own sound
#   perform_file   results/performances/<stem>.mp4: the same for a sound file in performances.inputs
#   accompany_track  results/performances/<track>_i2s.mp4: the track's panel of the ensemble video
#                  with the sound I2S draws from its pictures
#   performance_page  results/performances/index.html: each performance beside the real one
# performances.inputs empty: the first performances.test_tracks test-split tracks, one per
# instrument first, pose-model instruments first (known once the tracks checkpoint has run).
# One thread per job, as the evaluation steps (evaluation.smk says why).
import re
from pathlib import Path

from crossmodal.config import FEATURE_PARAMS

PERF = config["performances"]
PERF_DIR = f"{RESULTS}/performances"
_PERF_TRACK = re.compile(TRACK_ID_RE)
PERF_FILES = {Path(p).stem: p for p in PERF["inputs"] if not _PERF_TRACK.fullmatch(p)}
if len(PERF_FILES) != len([p for p in PERF["inputs"] if not _PERF_TRACK.fullmatch(p)]):
    raise ValueError(f"config performances.inputs: two files share a name: {PERF['inputs']}")


_PERF_FEATURES = list(dict.fromkeys([*FEATURE_PARAMS["lms"], *FEATURE_PARAMS[SOUND_ENCODER_REP]]))
PERFORM_FLAGS = (
    f"--model {PERF['model']} --window {config['dataset']['window_s']} --stride {config['dataset']['stride_s']}"
    f" --sr {config['dataset']['audio_sr']} {cli_flags(PERF, ('display_height', 'crf', 'preset', 'batch_size'))}"
    f" --seed {config['seed']}" + (f" --seconds {PERF['seconds']}" if PERF["seconds"] else "")
)
ACCOMPANY_FLAGS = (
    f"--window {config['dataset']['window_s']} --stride {config['dataset']['stride_s']}"
    f" --image-size {config['dataset']['image_size']} --panel-fit {config['dataset']['panel_fit']}"
    f" {cli_flags(PERF, ('display_height', 'crf', 'preset', 'batch_size'))} --seed {config['seed']}"
    f" --griffin-lim-iters {PERF['griffin_lim_iters']} --crossfade {PERF['crossfade_s']} --sr {config['dataset']['audio_sr']}"
    f" {cli_flags(config['features'], ('n_fft', 'hop_length', 'fmin', 'fmax', 'htk', 'mel_norm', 'ref'))}"
    + (f" --seconds {PERF['seconds']}" if PERF["seconds"] else "")
)


rule perform_track:
    input:
        piece=track_piece_summary,
        models=perform_model_files(),
        classifier=SOUND_ENCODER_MODEL,
        autoencoder=rules.sound_autoencoder.output.model if PERF["model"] == "s2i_a" else [],
    output:
        video=f"{PERF_DIR}/{{track}}.mp4",
        summary=f"{PERF_DIR}/{{track}}.json",
    log:
        f"{LOGS}/performances/{{track}}.log",
    benchmark:
        f"{BENCH}/performances/{{track}}.tsv"
    params:
        track_dir=lambda wildcards: f"{RESULTS}/tracks/{wildcards.track}",
        f0=track_f0_flag,
        gan_dir=lambda wildcards: GAN_DIR,
        autoencoder=lambda wildcards, input: f"--sound-autoencoder {input.autoencoder}" if input.autoencoder else "",
        features=cli_flags(config["features"], _PERF_FEATURES),
        flags=PERFORM_FLAGS,
        device=DEVICE,
    threads: 1
    shell:
        "crossmodal perform --track {params.track_dir} --name {wildcards.track} {params.f0} --out {output.video}"
        " --summary {output.summary} --gan-dir {params.gan_dir} --sound-classifier {input.classifier}"
        " {params.autoencoder} {params.features} {params.flags}"
        " --device {params.device} --threads {threads} 2> {log}"


rule perform_file:
    input:
        audio=lambda wildcards: PERF_FILES[wildcards.name],
        models=perform_model_files(),
        classifier=SOUND_ENCODER_MODEL,
        autoencoder=rules.sound_autoencoder.output.model if PERF["model"] == "s2i_a" else [],
    output:
        video=f"{PERF_DIR}/{{name}}.mp4",
        summary=f"{PERF_DIR}/{{name}}.json",
    log:
        f"{LOGS}/performances/{{name}}.log",
    benchmark:
        f"{BENCH}/performances/{{name}}.tsv"
    params:
        gan_dir=lambda wildcards: GAN_DIR,
        autoencoder=lambda wildcards, input: f"--sound-autoencoder {input.autoencoder}" if input.autoencoder else "",
        features=cli_flags(config["features"], _PERF_FEATURES),
        flags=PERFORM_FLAGS,
        device=DEVICE,
    threads: 1
    wildcard_constraints:
        name="|".join(re.escape(n) for n in PERF_FILES) or "(?!)",
    shell:
        "crossmodal perform --audio {input.audio} --name {wildcards.name} --out {output.video} --summary {output.summary}"
        " --gan-dir {params.gan_dir} --sound-classifier {input.classifier} {params.autoencoder}"
        " {params.features} {params.flags} --device {params.device} --threads {threads} 2> {log}"


ruleorder: perform_file > perform_track


rule accompany_track:
    input:
        video=lambda wildcards: tracks_table().loc[wildcards.track, "video_path"],
        image_classifier=rules.image_classifier.output.model,
        i2s=f"{GAN_DIR}/i2s/model.pt",
    output:
        video=f"{PERF_DIR}/{{track}}_i2s.mp4",
        summary=f"{PERF_DIR}/{{track}}_i2s.json",
    log:
        f"{LOGS}/performances/{{track}}_i2s.log",
    benchmark:
        f"{BENCH}/performances/{{track}}_i2s.tsv"
    params:
        panel=track_panel,
        flags=ACCOMPANY_FLAGS,
        device=DEVICE,
    threads: 1
    shell:
        "crossmodal accompany --video {input.video} --panel {params.panel} --name {wildcards.track} --out {output.video}"
        " --summary {output.summary} --image-classifier {input.image_classifier} --i2s {input.i2s} {params.flags}"
        " --device {params.device} --threads {threads} 2> {log}"


rule performance_page:
    input:
        summaries=performance_summaries,
        videos=lambda wildcards: [s[: -len(".json")] + ".mp4" for s in performance_summaries(wildcards)],
    output:
        report(f"{PERF_DIR}/index.html", caption="../report/performances.rst", category="Watch and listen"),
    log:
        f"{LOGS}/performances/page.log",
    benchmark:
        f"{BENCH}/performances/page.tsv"
    shell:
        "crossmodal performance-page --summaries {input.summaries} --out {output} 2> {log}"


FINAL_TARGETS["performances"] = [*rules.performance_page.output]
