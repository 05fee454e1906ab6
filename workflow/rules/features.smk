# Stage 2, the paper's Sec. 3.3: sound representations of every window, Table 1 and Fig. 3.
# One store per representation, each rule passed only the keys it depends on, so a changed key
# reruns only the stores (and classifiers) it touches. One job per Table 1 model.
from crossmodal.config import CLASSIFIER_PARAMS, FEATURE_PARAMS, cli_flags

REPRESENTATIONS = list(FEATURE_PARAMS)
AUDIO_CLASSIFIER = config["audio_classifier"]


wildcard_constraints:
    rep="|".join(REPRESENTATIONS),
    layers=r"\d+",
    seed=r"\d+",


rule features:
    input:
        windows=rules.windows.output[0],
    output:
        f"{RESULTS}/features/{{rep}}.npy",
    log:
        f"{LOGS}/features/{{rep}}.log",
    benchmark:
        f"{BENCH}/features/{{rep}}.tsv"
    params:
        sr=config["dataset"]["audio_sr"],
        flags=lambda wildcards: cli_flags(config["features"], FEATURE_PARAMS[wildcards.rep]),
        chunk=config["features"]["chunk_windows"],
    # One thread: the batched path is memory-bound, and the five stores run side by side.
    threads: 1
    priority: sound_encoder_first
    shell:
        "crossmodal features --windows {input.windows} --rep {wildcards.rep} --out {output} --sr {params.sr}"
        " {params.flags} --chunk {params.chunk} --threads {threads} 2> {log}"


# The device and AMP are params Snakemake does not record (DEVICE, AMP: common.smk), so moving
# to a GPU does not invalidate models trained on CPU. checkpoint.pt beside the outputs is not
# an output: a killed job rerun resumes from it. One thread: these small convolutions gain
# little from a second, and torch threads on a machine with more jobs than cores spin (a
# 2-thread job ran 5x slower than a 1-thread one beside other jobs on 2 cores).
rule audio_classifier:
    input:
        windows=rules.windows.output[0],
        features=f"{RESULTS}/features/{{rep}}.npy",
    output:
        model=f"{RESULTS}/audio_classifiers/{{rep}}_{{layers}}/seed_{{seed}}/model.pt",
        result=f"{RESULTS}/audio_classifiers/{{rep}}_{{layers}}/seed_{{seed}}/result.json",
        confusion=f"{RESULTS}/audio_classifiers/{{rep}}_{{layers}}/seed_{{seed}}/confusion.csv",
        metrics=f"{RESULTS}/audio_classifiers/{{rep}}_{{layers}}/seed_{{seed}}/metrics.csv",
    log:
        f"{LOGS}/audio_classifiers/{{rep}}_{{layers}}_seed_{{seed}}.log",
    benchmark:
        f"{BENCH}/audio_classifiers/{{rep}}_{{layers}}_seed_{{seed}}.tsv"
    params:
        flags=cli_flags(AUDIO_CLASSIFIER, CLASSIFIER_PARAMS),
        device=DEVICE,
        amp=AMP,
    threads: 1
    priority: sound_encoder_first
    shell:
        "crossmodal audio-classifier --windows {input.windows} --features {input.features} --rep {wildcards.rep}"
        " --conv-layers {wildcards.layers} --seed {wildcards.seed} --out-dir $(dirname {output.model})"
        " {params.flags} --device {params.device} --amp {params.amp} --threads {threads} 2> {log}"


rule table1:
    input:
        expand(
            f"{RESULTS}/audio_classifiers/{{rep}}_{{layers}}/seed_{{seed}}/result.json",
            rep=AUDIO_CLASSIFIER["representations"],
            layers=AUDIO_CLASSIFIER["conv_layers"],
            seed=AUDIO_CLASSIFIER["seeds"],
        ),
    output:
        table=report(f"{RESULTS}/table1.csv", caption="../report/table1.rst", category="Sound encoder"),
        per_class=f"{RESULTS}/table1_per_class.csv",
        confusions=expand(
            f"{RESULTS}/audio_classifiers/{{rep}}_{{layers}}/confusion.csv",
            rep=AUDIO_CLASSIFIER["representations"],
            layers=AUDIO_CLASSIFIER["conv_layers"],
        ),
    log:
        f"{LOGS}/table1.log",
    benchmark:
        f"{BENCH}/table1.tsv"
    params:
        # audio_classifiers/, the folder of each <rep>_<layers>/confusion.csv
        confusion_dir=lambda wildcards, output: os.path.dirname(os.path.dirname(output.confusions[0])),
    shell:
        "crossmodal table1 {input} --out {output.table} --per-class {output.per_class}"
        " --confusion-dir {params.confusion_dir} 2> {log}"


rule fig3:
    input:
        windows=rules.windows.output[0],
        stores=expand(f"{RESULTS}/features/{{rep}}.npy", rep=["stft", "ms", "cqt", "mfcc", "lms"]),
    output:
        report(
            f"{RESULTS}/figures/fig3_representations.png",
            caption="../report/fig3.rst",
            category="Sound encoder",
        ),
    log:
        f"{LOGS}/fig3.log",
    benchmark:
        f"{BENCH}/fig3.tsv"
    params:
        sr=config["dataset"]["audio_sr"],
        window=(
            f"--window-id {config['features']['fig3_window']}" if config["features"]["fig3_window"] is not None else ""
        ),
    shell:
        "crossmodal fig3 --windows {input.windows} --stft {input.stores[0]} --ms {input.stores[1]}"
        " --cqt {input.stores[2]} --mfcc {input.stores[3]} --lms {input.stores[4]} --sr {params.sr}"
        " {params.window} --out {output} 2> {log}"


FINAL_TARGETS["features"] = [rules.table1.output.table, rules.table1.output.per_class, rules.fig3.output[0]]
