# Stage 3, the paper's Sec. 3.3-3.4 and 5.1: the 128-d encodings the GANs are conditioned on.
# Sound: the Table 1 classifier on the LMS with 4 conv layers (S2I-C) and the stacked
# autoencoder (S2I-A). The image classifier's rules live beside these.
from crossmodal.audio.params import AUTOENCODER_PARAMS

SOUND_ENCODER_REP = config["audio_classifier"]["encoder_representation"]
SOUND_ENCODER_MODEL = (
    f"{RESULTS}/audio_classifiers/{SOUND_ENCODER_REP}_{config['audio_classifier']['encoder_conv_layers']}"
    f"/seed_{config['audio_classifier']['seeds'][0]}/model.pt"
)


rule encode_sound_classifier:
    input:
        windows=rules.windows.output[0],
        features=f"{RESULTS}/features/{SOUND_ENCODER_REP}.npy",
        model=SOUND_ENCODER_MODEL,
    output:
        encodings=f"{RESULTS}/embeddings/sound_classifier.npy",
        summary=f"{RESULTS}/embeddings/sound_classifier.json",
    log:
        f"{LOGS}/encode_sound_classifier.log",
    benchmark:
        f"{BENCH}/encode_sound_classifier.tsv"
    threads: 1
    shell:
        "{CLI} encode-sound --kind classifier --model {input.model} --windows {input.windows}"
        " --features {input.features} --out {output.encodings} --summary {output.summary}"
        " --device {config[training][device]} --threads {threads} 2> {log}"


rule sound_autoencoder:
    input:
        windows=rules.windows.output[0],
        features=f"{RESULTS}/features/lms.npy",
    output:
        model=f"{RESULTS}/sound_autoencoder/model.pt",
        metrics=f"{RESULTS}/sound_autoencoder/metrics.csv",
    log:
        f"{LOGS}/sound_autoencoder.log",
    benchmark:
        f"{BENCH}/sound_autoencoder.tsv"
    params:
        flags=cli_flags(config["autoencoder"], AUTOENCODER_PARAMS),
        seed=config["seed"],
    threads: 1
    shell:
        "{CLI} sound-autoencoder --windows {input.windows} --features {input.features}"
        " --out-dir $(dirname {output.model}) --seed {params.seed} {params.flags}"
        " --device {config[training][device]} --amp {config[training][amp]:d} --threads {threads} 2> {log}"


rule encode_sound_autoencoder:
    input:
        windows=rules.windows.output[0],
        features=f"{RESULTS}/features/lms.npy",
        model=rules.sound_autoencoder.output.model,
    output:
        encodings=f"{RESULTS}/embeddings/sound_autoencoder.npy",
        summary=f"{RESULTS}/embeddings/sound_autoencoder.json",
    log:
        f"{LOGS}/encode_sound_autoencoder.log",
    benchmark:
        f"{BENCH}/encode_sound_autoencoder.tsv"
    threads: 1
    shell:
        "{CLI} encode-sound --kind autoencoder --model {input.model} --windows {input.windows}"
        " --features {input.features} --out {output.encodings} --summary {output.summary}"
        " --device {config[training][device]} --threads {threads} 2> {log}"


FINAL_TARGETS.setdefault("encoders", []).extend(
    [*rules.encode_sound_classifier.output, *rules.encode_sound_autoencoder.output]
)
