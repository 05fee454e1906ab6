# The paper's second dataset, INIS (Sec. 4, Table 3, Fig. 7). Pictures and songs in two folders
# of class sub-folders (the generated demo INIS unless inis.images_root / inis.audio_root name a
# user's own) are paired into the same stores as Sub-URMP under results/inis/ (inis_pairs), and
# the main workflow's rules run on them through `use rule ... as inis_...`, each with its own
# paths: the LMS store, the LMS sound classifier and its encoding (S2I-C), the sound autoencoder
# and its encoding (S2I-A), the image classifier (Gamma), S2I-C, S2I-A and their Table 5. Fig. 7
# is eval-fig1 on INIS: ground truth over S2I-A. inis.enabled: false leaves it all out of `all`.
from pathlib import Path

from crossmodal.config import AUTOENCODER_PARAMS, CLASSIFIER_PARAMS, IMAGE_CLASSIFIER_PARAMS, cli_flags, gan_flags

INIS_CONFIG = config["inis"]
INIS = f"{RESULTS}/inis"
INIS_LOGS = f"{LOGS}/inis"
INIS_BENCH = f"{BENCH}/inis"
INIS_WINDOWS = f"{INIS}/manifests/windows.parquet"
INIS_DEMO = f"{RESOURCES}/inis_demo"
INIS_GAN_DIR = f"{INIS}/models/gan"

if bool(INIS_CONFIG["images_root"]) != bool(INIS_CONFIG["audio_root"]):
    raise ValueError(
        "config inis.images_root and inis.audio_root: set both (your own folders) or neither (the demo INIS)"
    )
INIS_OWN_FOLDERS = bool(INIS_CONFIG["images_root"])


_inis_gan = inis_section("gan")
# Only the last epoch's checkpoint and samples are kept (no Fig. 9 on INIS).
INIS_GAN_FLAGS = gan_flags({**_inis_gan, "keep_every": _inis_gan["epochs"]}, "s2i")
INIS_SOUND_ENCODER_MODEL = (
    f"{INIS}/audio_classifiers/{SOUND_ENCODER_REP}_{SOUND_ENCODER_LAYERS}/seed_{SOUND_ENCODER_SEED}/model.pt"
)
INIS_ENCODINGS = {
    "S2I-C": f"{INIS}/embeddings/sound_classifier.npy",
    "S2I-A": f"{INIS}/embeddings/sound_autoencoder.npy",
}
INIS_GANS = {
    name: f"--gan {name} {INIS_GAN_DIR}/{S2I_MODELS[name]}/model.pt {INIS_ENCODINGS[name]}" for name in INIS_ENCODINGS
}


rule inis_demo:
    output:
        directory(INIS_DEMO),
    log:
        f"{INIS_LOGS}/inis_demo.log",
    benchmark:
        f"{INIS_BENCH}/inis_demo.tsv"
    params:
        images=INIS_CONFIG["demo"]["images_per_class"],
        songs=INIS_CONFIG["demo"]["songs_per_class"],
        song_s=" ".join(str(s) for s in INIS_CONFIG["demo"]["song_s"]),
        soundfont=f"--soundfont {config['demo']['soundfont']}" if config["demo"]["soundfont"] else "",
        seed=config["seed"],
    shell:
        "crossmodal inis-demo --out {output} --images-per-class {params.images} --songs-per-class {params.songs}"
        " --song-s {params.song_s} {params.soundfont} --seed {params.seed} 2> {log}"


rule inis_pairs:
    input:
        inis_sources(),
    output:
        tracks=directory(f"{INIS}/tracks"),
        windows=INIS_WINDOWS,
        table3=report(f"{INIS}/table3.csv", caption="../report/inis_table3.rst", category="INIS"),
    log:
        f"{INIS_LOGS}/inis_pairs.log",
    benchmark:
        f"{INIS_BENCH}/inis_pairs.tsv"
    params:
        images=INIS_CONFIG["images_root"] or f"{INIS_DEMO}/images",
        audio=INIS_CONFIG["audio_root"] or f"{INIS_DEMO}/audio",
        window=config["dataset"]["window_s"],
        stride=INIS_CONFIG["stride_s"],
        sr=config["dataset"]["audio_sr"],
        image_size=config["dataset"]["image_size"],
        silence=INIS_CONFIG["silence_rms"],
        train_fraction=INIS_CONFIG["train_fraction"],
        on_unreadable=INIS_CONFIG["on_unreadable"],
        seed=config["seed"],
    shell:
        "crossmodal inis-pairs --images-root {params.images} --audio-root {params.audio} --tracks-dir {output.tracks}"
        " --windows {output.windows} --table3 {output.table3} --window {params.window} --stride {params.stride}"
        " --sr {params.sr} --image-size {params.image_size} --silence-rms {params.silence}"
        " --train-fraction {params.train_fraction} --on-unreadable {params.on_unreadable} --seed {params.seed} 2> {log}"


use rule features as inis_features with:
    input:
        windows=INIS_WINDOWS,
    output:
        f"{INIS}/features/{{rep}}.npy",
    log:
        f"{INIS_LOGS}/features/{{rep}}.log",
    benchmark:
        f"{INIS_BENCH}/features/{{rep}}.tsv"


use rule audio_classifier as inis_audio_classifier with:
    input:
        windows=INIS_WINDOWS,
        features=f"{INIS}/features/{{rep}}.npy",
    output:
        model=f"{INIS}/audio_classifiers/{{rep}}_{{layers}}/seed_{{seed}}/model.pt",
        result=f"{INIS}/audio_classifiers/{{rep}}_{{layers}}/seed_{{seed}}/result.json",
        confusion=f"{INIS}/audio_classifiers/{{rep}}_{{layers}}/seed_{{seed}}/confusion.csv",
        metrics=f"{INIS}/audio_classifiers/{{rep}}_{{layers}}/seed_{{seed}}/metrics.csv",
    log:
        f"{INIS_LOGS}/audio_classifiers/{{rep}}_{{layers}}_seed_{{seed}}.log",
    benchmark:
        f"{INIS_BENCH}/audio_classifiers/{{rep}}_{{layers}}_seed_{{seed}}.tsv"
    params:
        flags=cli_flags(inis_section("audio_classifier"), CLASSIFIER_PARAMS),


use rule encode_sound_classifier as inis_encode_sound_classifier with:
    input:
        windows=INIS_WINDOWS,
        features=f"{INIS}/features/{SOUND_ENCODER_REP}.npy",
        model=INIS_SOUND_ENCODER_MODEL,
    output:
        encodings=INIS_ENCODINGS["S2I-C"],
        summary=f"{INIS}/embeddings/sound_classifier.json",
    log:
        f"{INIS_LOGS}/encode_sound_classifier.log",
    benchmark:
        f"{INIS_BENCH}/encode_sound_classifier.tsv"


use rule sound_autoencoder as inis_sound_autoencoder with:
    input:
        windows=INIS_WINDOWS,
        features=f"{INIS}/features/lms.npy",
    output:
        model=f"{INIS}/sound_autoencoder/model.pt",
        metrics=f"{INIS}/sound_autoencoder/metrics.csv",
    log:
        f"{INIS_LOGS}/sound_autoencoder.log",
    benchmark:
        f"{INIS_BENCH}/sound_autoencoder.tsv"
    params:
        flags=cli_flags(inis_section("autoencoder", "epochs_per_stack"), AUTOENCODER_PARAMS),
        seed=config["seed"],


use rule encode_sound_autoencoder as inis_encode_sound_autoencoder with:
    input:
        windows=INIS_WINDOWS,
        features=f"{INIS}/features/lms.npy",
        model=f"{INIS}/sound_autoencoder/model.pt",
    output:
        encodings=INIS_ENCODINGS["S2I-A"],
        summary=f"{INIS}/embeddings/sound_autoencoder.json",
    log:
        f"{INIS_LOGS}/encode_sound_autoencoder.log",
    benchmark:
        f"{INIS_BENCH}/encode_sound_autoencoder.tsv"


use rule image_classifier as inis_image_classifier with:
    input:
        windows=INIS_WINDOWS,
    output:
        model=f"{INIS}/image_classifier/model.pt",
        metrics=f"{INIS}/image_classifier/metrics.csv",
        accuracy=f"{INIS}/image_classifier/accuracy.csv",
        encodings=f"{INIS}/embeddings/image_classifier.npy",
    log:
        f"{INIS_LOGS}/image_classifier.log",
    benchmark:
        f"{INIS_BENCH}/image_classifier.tsv"
    params:
        flags=cli_flags(inis_section("image_classifier"), IMAGE_CLASSIFIER_PARAMS),
        seed=config["seed"],


use rule s2i_c as inis_s2i_c with:
    input:
        windows=INIS_WINDOWS,
        encodings=INIS_ENCODINGS["S2I-C"],
    output:
        model=f"{INIS_GAN_DIR}/s2i_c/model.pt",
        metrics=f"{INIS_GAN_DIR}/s2i_c/metrics.csv",
    log:
        f"{INIS_LOGS}/gan/s2i_c.log",
    benchmark:
        f"{INIS_BENCH}/gan/s2i_c.tsv"
    params:
        flags=INIS_GAN_FLAGS,
        seed=config["seed"],


use rule s2i_a as inis_s2i_a with:
    input:
        windows=INIS_WINDOWS,
        encodings=INIS_ENCODINGS["S2I-A"],
    output:
        model=f"{INIS_GAN_DIR}/s2i_a/model.pt",
        metrics=f"{INIS_GAN_DIR}/s2i_a/metrics.csv",
    log:
        f"{INIS_LOGS}/gan/s2i_a.log",
    benchmark:
        f"{INIS_BENCH}/gan/s2i_a.tsv"
    params:
        flags=INIS_GAN_FLAGS,
        seed=config["seed"],


use rule eval_table5 as inis_eval_table5 with:
    input:
        [f"{INIS_GAN_DIR}/{S2I_MODELS[name]}/model.pt" for name in INIS_ENCODINGS] + list(INIS_ENCODINGS.values()),
        windows=INIS_WINDOWS,
        judge=f"{INIS}/image_classifier/model.pt",
    output:
        report(f"{INIS}/table5.csv", caption="../report/inis_table5.rst", category="INIS"),
    log:
        f"{INIS_LOGS}/eval_table5.log",
    benchmark:
        f"{INIS_BENCH}/eval_table5.tsv"
    params:
        gans=" ".join(INIS_GANS.values()),
        max_windows=EVAL["max_windows"],
        runtime=f"{EVAL_RUNTIME} --paper 0",  # the paper's Table 5 is on Sub-URMP


rule inis_fig7:
    input:
        windows=INIS_WINDOWS,
        model=f"{INIS_GAN_DIR}/s2i_a/model.pt",
        encodings=INIS_ENCODINGS["S2I-A"],
    output:
        report(f"{INIS}/figures/fig7_inis.png", caption="../report/inis_fig7.rst", category="INIS"),
    log:
        f"{INIS_LOGS}/fig7.log",
    benchmark:
        f"{INIS_BENCH}/fig7.tsv"
    params:
        per_class=INIS_CONFIG["fig7_per_class"],
        runtime=EVAL_RUNTIME,
        device=DEVICE,
    threads: 1
    shell:
        "crossmodal eval-fig1 --windows {input.windows} --gan S2I-A {input.model} {input.encodings}"
        " --per-class {params.per_class} --real-label 'Ground truth' --title 'Fig. 7: INIS'"
        " {params.runtime} --out {output} --device {params.device} --threads {threads} 2> {log}"


FINAL_TARGETS["inis"] = (
    [
        rules.inis_pairs.output.windows,
        rules.inis_pairs.output.table3,
        INIS_SOUND_ENCODER_MODEL.replace("model.pt", "result.json"),
        rules.inis_image_classifier.output.accuracy,
        *rules.inis_eval_table5.output,
        *rules.inis_fig7.output,
    ]
    if INIS_CONFIG["enabled"]
    else []
)
