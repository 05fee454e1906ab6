# Stage 3, the paper's Sec. 3.3-3.4 and 5.1: the 128-d encodings the GANs are conditioned on.
# Sound: the Table 1 classifier on the LMS with 4 conv layers (S2I-C) and the stacked
# autoencoder (S2I-A). Image: the image classifier (six 3x3 conv + three FC layers), its
# train/test accuracy, and the 128-d image encoding of every window (I2S's condition). The image
# classifier is also the judge Gamma that evaluates generated images (Sec. 5.2.2):
# crossmodal.models.image.load_image_classifier(f"{IMAGE_CLASSIFIER_DIR}/model.pt").
# Device and AMP are params Snakemake does not record (DEVICE, AMP: common.smk), so moving to a
# GPU does not invalidate a model trained on CPU; checkpoint.pt beside the outputs lets a killed
# job resume.
from crossmodal.config import AUTOENCODER_PARAMS, IMAGE_CLASSIFIER_PARAMS, cli_flags

SOUND_ENCODER_REP = config["audio_classifier"]["encoder_representation"]
SOUND_ENCODER_LAYERS = config["audio_classifier"]["encoder_conv_layers"]
SOUND_ENCODER_SEED = config["audio_classifier"]["seeds"][0]
SOUND_ENCODER_MODEL = (
    f"{RESULTS}/audio_classifiers/{SOUND_ENCODER_REP}_{SOUND_ENCODER_LAYERS}/seed_{SOUND_ENCODER_SEED}/model.pt"
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
    params:
        device=DEVICE,
    threads: 1
    priority: SOUND_CHAIN_PRIORITY
    shell:
        "crossmodal encode-sound --kind classifier --model {input.model} --windows {input.windows}"
        " --features {input.features} --out {output.encodings} --summary {output.summary}"
        " --device {params.device} --threads {threads} 2> {log}"


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
        device=DEVICE,
        amp=AMP,
    threads: 1
    priority: SOUND_CHAIN_PRIORITY
    shell:
        "crossmodal sound-autoencoder --windows {input.windows} --features {input.features}"
        " --out-dir $(dirname {output.model}) --seed {params.seed} {params.flags}"
        " --device {params.device} --amp {params.amp} --threads {threads} 2> {log}"


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
    params:
        device=DEVICE,
    threads: 1
    priority: SOUND_CHAIN_PRIORITY
    shell:
        "crossmodal encode-sound --kind autoencoder --model {input.model} --windows {input.windows}"
        " --features {input.features} --out {output.encodings} --summary {output.summary}"
        " --device {params.device} --threads {threads} 2> {log}"


FINAL_TARGETS.setdefault("encoders", []).extend(
    [*rules.encode_sound_classifier.output, *rules.encode_sound_autoencoder.output]
)


IMAGE_CLASSIFIER_DIR = f"{RESULTS}/image_classifier"


rule image_classifier:
    input:
        windows=rules.windows.output[0],
    output:
        model=f"{IMAGE_CLASSIFIER_DIR}/model.pt",
        metrics=f"{IMAGE_CLASSIFIER_DIR}/metrics.csv",
        accuracy=f"{IMAGE_CLASSIFIER_DIR}/accuracy.csv",
        encodings=f"{RESULTS}/embeddings/image_classifier.npy",
    log:
        f"{LOGS}/image_classifier.log",
    benchmark:
        f"{BENCH}/image_classifier.tsv"
    params:
        flags=cli_flags(config["image_classifier"], IMAGE_CLASSIFIER_PARAMS),
        seed=config["seed"],
        device=DEVICE,
        amp=AMP,
    # One thread, as every job of the DAG's chains: Snakemake starts a two-thread job only when
    # both cores are free at once, so beside one-thread jobs it waited until the end of the run.
    threads: 1
    priority: GAMMA_CHAIN_PRIORITY
    shell:
        "crossmodal image-encoder --windows {input.windows} --model {output.model} --embeddings {output.encodings}"
        " --accuracy {output.accuracy} {params.flags} --seed {params.seed}"
        " --device {params.device} --amp {params.amp} --threads {threads} 2> {log}"


FINAL_TARGETS.setdefault("encoders", []).extend(rules.image_classifier.output)
