# Stage 5, the paper's Sec. 5: judge what the GANs generate.
#   Table 5 / Fig. 9   the image classifier Gamma on images from train- and test-split sounds
#   I2S accuracy       the sound classifier on generated LMS, Fig. 11, Griffin-Lim WAVs
#   Fig. 1, Fig. 10    generated images per instrument; pose generations for a sound sequence
#   human evaluation   a blinded page (results/human_eval/index.html; the key that unblinds it is
#                      results/human_eval_key.csv, outside the folder); when raters' score files
#                      are in evaluation.human_scores_dir, Table 4 and Fig. 8 from them
# The steps read the GANs' model.pt; Fig. 9 also reads the checkpoints/ kept beside it.
# One thread each: the steps are many independent jobs at the end of the DAG; claiming two
# threads on a 2-core machine ran them one at a time for the last 7 minutes of the demo's `all`
# (one core idle), one thread runs two side by side. The SLURM profile sets its own. Each runs
# as soon as its models exist (EVAL_PRIORITY, common.smk), before Table 1's leaf classifiers.
import glob

from crossmodal.config import LMS_INVERSION_PARAMS, cli_flags

EVAL = config["evaluation"]
FIGURES = f"{RESULTS}/figures"
HUMAN_EVAL = f"{RESULTS}/human_eval"
HUMAN_SCORES = EVAL["human_scores_dir"] or f"{RESOURCES}/human_scores"
S2I_MODELS = {"S2I-C": "s2i_c", "S2I-A": "s2i_a", "S2I-N": "s2i_n"}
S2I_ENCODINGS = {name: S2I_VARIANTS[folder]["encodings"] for name, folder in S2I_MODELS.items()}
EVAL_RUNTIME = f"--batch-size {EVAL['batch_size']} --seed {config['seed']}"


# --gan NAME MODEL ENCODINGS per S2I model, the files they read, and the features' LMS
# definition for Griffin-Lim.
S2I_GAN_FLAGS = {n: f"--gan {n} {GAN_DIR}/{S2I_MODELS[n]}/model.pt {S2I_ENCODINGS[n]}" for n in S2I_MODELS}
S2I_INPUTS = [f"{GAN_DIR}/{folder}/model.pt" for folder in S2I_MODELS.values()] + sorted(set(S2I_ENCODINGS.values()))
INVERSION_FLAGS = f"--sr {config['dataset']['audio_sr']} {cli_flags(config['features'], LMS_INVERSION_PARAMS)}"


rule eval_table5:
    input:
        S2I_INPUTS,
        windows=rules.windows.output[0],
        judge=rules.image_classifier.output.model,
    output:
        report(f"{RESULTS}/table5.csv", caption="../report/table5.rst", category="Evaluation"),
    log:
        f"{LOGS}/eval_table5.log",
    benchmark:
        f"{BENCH}/eval_table5.tsv"
    params:
        gans=" ".join(S2I_GAN_FLAGS.values()),
        max_windows=EVAL["max_windows"],
        runtime=EVAL_RUNTIME,
        device=DEVICE,
    threads: 1
    priority: EVAL_PRIORITY
    shell:
        "crossmodal eval-table5 --windows {input.windows} --judge {input.judge} {params.gans}"
        " --max-windows {params.max_windows} {params.runtime} --out {output}"
        " --device {params.device} --threads {threads} 2> {log}"


rule eval_evolution:
    input:
        windows=rules.windows.output[0],
        judge=rules.image_classifier.output.model,
        model=f"{GAN_DIR}/s2i_c/model.pt",
        encodings=S2I_ENCODINGS["S2I-C"],
    output:
        history=f"{FIGURES}/fig9_accuracy_evolution.csv",
        figure=report(f"{FIGURES}/fig9_accuracy_evolution.png", caption="../report/fig9.rst", category="Evaluation"),
        best=report(
            f"{RESULTS}/best_checkpoint_s2i_c.csv", caption="../report/best_checkpoint.rst", category="Evaluation"
        ),
    log:
        f"{LOGS}/eval_evolution.log",
    benchmark:
        f"{BENCH}/eval_evolution.tsv"
    params:
        max_windows=EVAL["evolution_max_windows"],
        sample_epochs=" ".join(str(e) for e in EVAL["fig9_sample_epochs"]),
        samples=EVAL["fig9_samples"],
        runtime=EVAL_RUNTIME,
        device=DEVICE,
    threads: 1
    priority: EVAL_PRIORITY
    shell:
        "crossmodal eval-evolution --windows {input.windows} --judge {input.judge} --name S2I-C --model {input.model}"
        " --encodings {input.encodings} --max-windows {params.max_windows} --samples {params.samples}"
        " --sample-epochs {params.sample_epochs} {params.runtime} --history {output.history}"
        " --figure {output.figure} --best {output.best} --device {params.device} --threads {threads} 2> {log}"


rule eval_i2s:
    input:
        windows=rules.windows.output[0],
        judge=SOUND_ENCODER_MODEL,
        model=f"{GAN_DIR}/i2s/model.pt",
        encodings=rules.image_classifier.output.encodings,
        lms=f"{RESULTS}/features/lms.npy",
    output:
        accuracy=report(f"{RESULTS}/i2s_accuracy.csv", caption="../report/i2s_accuracy.rst", category="Evaluation"),
        fig11=report(f"{FIGURES}/fig11_i2s_spectrograms.png", caption="../report/fig11.rst", category="Evaluation"),
        audio=directory(f"{RESULTS}/i2s_audio"),
    log:
        f"{LOGS}/eval_i2s.log",
    benchmark:
        f"{BENCH}/eval_i2s.tsv"
    params:
        max_windows=EVAL["max_windows"],
        examples=EVAL["fig11_examples"],
        clips=EVAL["wav_clips"],
        iters=EVAL["griffin_lim_iters"],
        inversion=INVERSION_FLAGS,
        runtime=EVAL_RUNTIME,
        device=DEVICE,
    threads: 1
    priority: EVAL_PRIORITY
    shell:
        "crossmodal eval-i2s --windows {input.windows} --judge {input.judge} --model {input.model}"
        " --encodings {input.encodings} --lms {input.lms} --max-windows {params.max_windows}"
        " --examples {params.examples} --clips {params.clips} --griffin-lim-iters {params.iters}"
        " {params.inversion} {params.runtime} --accuracy {output.accuracy} --fig11 {output.fig11}"
        " --audio-dir {output.audio} --device {params.device} --threads {threads} 2> {log}"


rule eval_pose:
    input:
        expand(f"{GAN_DIR}/pose_s2i_{{pose_instrument}}/model.pt", pose_instrument=GAN["pose_instruments"]),
        windows=rules.windows.output[0],
        encodings=S2I_ENCODINGS["S2I-C"],
        pitch=f"{RESULTS}/manifests/pitch.parquet",
        judge=f"{RESULTS}/models/pitch_judges/image/model.pt",
    output:
        report(f"{FIGURES}/fig10_pose.png", caption="../report/fig10.rst", category="Evaluation"),
    log:
        f"{LOGS}/eval_pose.log",
    benchmark:
        f"{BENCH}/eval_pose.tsv"
    params:
        gans=" ".join(f"--gan {i} {GAN_DIR}/pose_s2i_{i}/model.pt" for i in GAN["pose_instruments"]),
        length=EVAL["pose_length"],
        step=EVAL["pose_step"],
        runtime=EVAL_RUNTIME,
        device=DEVICE,
    threads: 1
    priority: EVAL_PRIORITY
    shell:
        "crossmodal eval-pose --windows {input.windows} --encodings {input.encodings} --pitch {input.pitch} {params.gans}"
        " --pitch-judge {input.judge}"
        " --length {params.length} --step {params.step} {params.runtime} --out {output}"
        " --device {params.device} --threads {threads} 2> {log}"


# Beyond the paper: the pitch of every window, pitch judges, and how well generated outputs keep
# the pitch of their input (results/pitch_agreement.csv; crossmodal.pitch).
PITCH = config["pitch"]
PITCH_DIR = f"{RESULTS}/models/pitch_judges"
PITCH_JUDGE_FLAGS = (
    f"--epochs {PITCH['judge_epochs']} --batch-size {PITCH['judge_batch_size']}"
    f" --learning-rate {PITCH['judge_learning_rate']} --width {PITCH['judge_width']}"
    f" --min-voiced {PITCH['min_voiced_fraction']} --seed {config['seed']}"
)


rule window_pitch:
    input:
        windows=rules.windows.output[0],
        tracks=rules.tracks.output[0],
    output:
        f"{RESULTS}/manifests/pitch.parquet",
    log:
        f"{LOGS}/window_pitch.log",
    benchmark:
        f"{BENCH}/window_pitch.tsv"
    params:
        sr=config["dataset"]["audio_sr"],
    shell:
        "crossmodal window-pitch --windows {input.windows} --tracks {input.tracks} --sr {params.sr} --out {output} 2> {log}"


# One image judge reads every pose instrument, each on its own scale (crossmodal.pitch.judges).
rule pitch_judge_image:
    input:
        windows=rules.windows.output[0],
        pitch=rules.window_pitch.output[0],
    output:
        f"{PITCH_DIR}/image/model.pt",
    log:
        f"{LOGS}/pitch_judge_image.log",
    benchmark:
        f"{BENCH}/pitch_judge_image.tsv"
    params:
        flags=PITCH_JUDGE_FLAGS,
        instruments=" ".join(GAN["pose_instruments"]),
        target=PITCH["image_target"],
        amp=AMP,
        device=DEVICE,
    threads: 1
    priority: EVAL_PRIORITY
    shell:
        "crossmodal pitch-judge --kind image --instruments {params.instruments} --target {params.target}"
        " --windows {input.windows} --pitch {input.pitch} {params.flags} --device {params.device} --amp {params.amp}"
        " --threads {threads} --out {output} 2> {log}"


rule pitch_judge_sound:
    input:
        windows=rules.windows.output[0],
        pitch=rules.window_pitch.output[0],
        lms=f"{RESULTS}/features/lms.npy",
    output:
        f"{PITCH_DIR}/sound/model.pt",
    log:
        f"{LOGS}/pitch_judge_sound.log",
    benchmark:
        f"{BENCH}/pitch_judge_sound.tsv"
    params:
        flags=PITCH_JUDGE_FLAGS,
        amp=AMP,
        device=DEVICE,
    threads: 1
    priority: EVAL_PRIORITY
    shell:
        "crossmodal pitch-judge --kind sound --target window --windows {input.windows} --pitch {input.pitch}"
        " --lms {input.lms}"
        " {params.flags} --device {params.device} --amp {params.amp} --threads {threads} --out {output} 2> {log}"


rule eval_pitch:
    input:
        expand(f"{GAN_DIR}/pose_s2i_{{pose_instrument}}/model.pt", pose_instrument=GAN["pose_instruments"]),
        windows=rules.windows.output[0],
        image_judge=rules.pitch_judge_image.output[0],
        pitch=rules.window_pitch.output[0],
        sound_encodings=S2I_ENCODINGS["S2I-C"],
        s2i_c=f"{GAN_DIR}/s2i_c/model.pt",
        i2s=f"{GAN_DIR}/i2s/model.pt",
        image_encodings=rules.image_classifier.output.encodings,
        sound_judge=rules.pitch_judge_sound.output[0],
        lms=f"{RESULTS}/features/lms.npy",
    output:
        report(f"{RESULTS}/pitch_agreement.csv", caption="../report/pitch_agreement.rst", category="Evaluation"),
    log:
        f"{LOGS}/eval_pitch.log",
    benchmark:
        f"{BENCH}/eval_pitch.tsv"
    params:
        models=" ".join(f"--pose {i} {GAN_DIR}/pose_s2i_{i}/model.pt" for i in GAN["pose_instruments"]),
        min_voiced=PITCH["min_voiced_fraction"],
        n_boot=EVAL["bootstrap"],
        runtime=EVAL_RUNTIME,
        device=DEVICE,
    threads: 1
    priority: EVAL_PRIORITY
    shell:
        "crossmodal eval-pitch --windows {input.windows} --pitch {input.pitch} --sound-encodings {input.sound_encodings}"
        " {params.models} --image-judge {input.image_judge} --s2i-c {input.s2i_c} --i2s {input.i2s}"
        " --image-encodings {input.image_encodings}"
        " --sound-judge {input.sound_judge} --lms {input.lms} --min-voiced {params.min_voiced}"
        " --n-boot {params.n_boot} {params.runtime} --out {output} --device {params.device}"
        " --threads {threads} 2> {log}"


rule eval_fig1:
    input:
        S2I_INPUTS,
        windows=rules.windows.output[0],
        i2s=f"{GAN_DIR}/i2s/model.pt",
        image_encodings=rules.image_classifier.output.encodings,
        lms=f"{RESULTS}/features/lms.npy",
    output:
        report(f"{FIGURES}/fig1_generated.png", caption="../report/fig1.rst", category="Evaluation"),
    log:
        f"{LOGS}/eval_fig1.log",
    benchmark:
        f"{BENCH}/eval_fig1.tsv"
    params:
        gans=" ".join(S2I_GAN_FLAGS[n] for n in ("S2I-C", "S2I-A", "S2I-N")),
        runtime=EVAL_RUNTIME,
        device=DEVICE,
    threads: 1
    priority: EVAL_PRIORITY
    shell:
        "crossmodal eval-fig1 --windows {input.windows} {params.gans} --i2s {input.i2s} {input.image_encodings}"
        " --lms {input.lms}"
        " {params.runtime} --out {output} --device {params.device} --threads {threads} 2> {log}"


rule human_eval_page:
    input:
        S2I_INPUTS,
        windows=rules.windows.output[0],
    output:
        page=report(f"{HUMAN_EVAL}/index.html", caption="../report/human_eval_page.rst", category="Human evaluation"),
        images=directory(f"{HUMAN_EVAL}/images"),
        key=f"{HUMAN_EVAL}_key.csv",  # outside the folder sent to raters
    log:
        f"{LOGS}/human_eval_page.log",
    benchmark:
        f"{BENCH}/human_eval_page.tsv"
    params:
        gans=" ".join(S2I_GAN_FLAGS[n] for n in ("S2I-C", "S2I-N", "S2I-A")),
        sets=EVAL["human_eval_sets"],
        runtime=EVAL_RUNTIME,
        device=DEVICE,
    threads: 1
    priority: EVAL_PRIORITY
    shell:
        "crossmodal human-eval-page --windows {input.windows} {params.gans} --sets {params.sets} {params.runtime}"
        " --out-dir $(dirname {output.page}) --key {output.key} --device {params.device}"
        " --threads {threads} 2> {log}"


rule human_eval_report:
    input:
        key=rules.human_eval_page.output.key,
        scores=sorted(glob.glob(f"{HUMAN_SCORES}/*.csv")),
    output:
        table=report(f"{RESULTS}/table4_human_eval.csv", caption="../report/table4.rst", category="Human evaluation"),
        fig8=report(f"{FIGURES}/fig8_human_eval.png", caption="../report/fig8.rst", category="Human evaluation"),
    log:
        f"{LOGS}/human_eval_report.log",
    benchmark:
        f"{BENCH}/human_eval_report.tsv"
    shell:
        "crossmodal human-eval-report --key {input.key} --scores {input.scores} --table {output.table}"
        " --fig8 {output.fig8} 2> {log}"


rule scorecard:
    input:
        table1=rules.table1.output.table,
        table2=rules.dataset_report.output.table2,
        table5=rules.eval_table5.output[0],
        i2s=rules.eval_i2s.output.accuracy,
        image_accuracy=rules.image_classifier.output.accuracy,
        table4=rules.human_eval_report.output.table if glob.glob(f"{HUMAN_SCORES}/*.csv") else [],
        table3=[f"{RESULTS}/inis/table3.csv"] if config["inis"]["enabled"] else [],
    output:
        table=report(f"{RESULTS}/scorecard.csv", caption="../report/scorecard.rst", category="Evaluation"),
        markdown=f"{RESULTS}/scorecard.md",
    log:
        f"{LOGS}/scorecard.log",
    benchmark:
        f"{BENCH}/scorecard.tsv"
    params:
        source=config["data"]["source"],
        table4=lambda wildcards, input: f"--table4 {input.table4}" if input.table4 else "",
        table3=lambda wildcards, input: f"--table3 {input.table3}" if input.table3 else "",
        inis_source="INIS" if config["inis"]["images_root"] else "INIS demo",
    shell:
        "crossmodal scorecard --source {params.source} --table1 {input.table1} --table2 {input.table2}"
        " --table5 {input.table5} --i2s {input.i2s} --image-accuracy {input.image_accuracy} {params.table4}"
        " {params.table3} --inis-source {params.inis_source:q} --out {output.table} --markdown {output.markdown} 2> {log}"


FINAL_TARGETS["evaluation"] = [
    *rules.eval_table5.output,
    *rules.eval_evolution.output,
    *rules.eval_i2s.output,
    *rules.eval_pose.output,
    *rules.eval_pitch.output,
    *rules.scorecard.output,
    *rules.eval_fig1.output,
    *rules.human_eval_page.output,
    # Table 4 and Fig. 8 once raters have put score files in evaluation.human_scores_dir.
    *(rules.human_eval_report.output if glob.glob(f"{HUMAN_SCORES}/*.csv") else []),
]
