# Stage 3, image side, the paper's Sec. 3.4: the image classifier (six 3x3 conv + three FC
# layers), its train/test accuracy, and the 128-d image encoding of every window (I2S's
# condition). The classifier is also the judge Gamma that evaluates generated images (Sec. 5.2.2):
# crossmodal.models.image.load_image_classifier(f"{IMAGE_CLASSIFIER_DIR}/model.pt").
# Device and AMP come from the config in the shell line (not params), so moving to a GPU does
# not invalidate a model trained on CPU; checkpoint.pt beside the outputs lets a killed job resume.
from crossmodal.audio.params import cli_flags

IMAGE_CLASSIFIER_DIR = f"{RESULTS}/image_classifier"
IMAGE_CLASSIFIER_PARAMS = (
    "epochs", "batch_size", "learning_rate", "decay", "weight_decay", "channels", "fc_units", "dropout", "pool", "augment",
)


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
    threads: 2
    shell:
        "{CLI} image-encoder --windows {input.windows} --model {output.model} --embeddings {output.encodings}"
        " --accuracy {output.accuracy} {params.flags} --seed {params.seed}"
        " --device {config[training][device]} --amp {config[training][amp]:d} --threads {threads} 2> {log}"


FINAL_TARGETS.setdefault("encoders", []).extend(rules.image_classifier.output)
