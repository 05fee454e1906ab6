# Stage 4, the paper's Sec. 3.1-3.2 and 5.1: the cross-modal GANs, one job and one target each.
#   s2i_c   sound-classifier encoding -> image, wrong pairs of another instrument (Eq. 5)
#   s2i_n   the same encoding, no wrong pairs
#   s2i_a   sound-autoencoder encoding -> image, Eq. 5
#   pose_s2i_<instrument>  one instrument's pairs, wrong pairs of the same instrument (Eq. 6);
#           the target `pose_s2i` trains every one in gan.pose_instruments
#   i2s     image encoding -> LMS, wrong pairs of another instrument's sound (Eq. 7)
# Each writes results/models/gan/<name>/: model.pt (load with crossmodal.models.gan.load_gan),
# metrics.csv, and, not declared (a rerun must not delete them), checkpoint.pt (resume) and
# checkpoints/epoch_XXXX.pt + samples/epoch_XXXX.png every gan.keep_every epochs and after the
# last (Fig. 9 reads them beside model.pt).
# One thread each: at the demo's widths a GAN step is many small convolutions that a second
# thread speeds up by only 1.35x (S2I-C epoch 14 s on two threads, 19 s on one: 27% less CPU in
# all), so on a few cores two GANs side by side finish sooner. The SLURM profile sets its own.
from crossmodal.config import gan_flags
from crossmodal.urmp import INSTRUMENT_NAMES

GAN = config["gan"]
GAN_DIR = f"{RESULTS}/models/gan"
GAN_MODELS = ["s2i_c", "s2i_n", "s2i_a", *(f"pose_s2i_{i}" for i in GAN["pose_instruments"]), "i2s"]
# The three instrument-oriented S2I models differ only in their condition and wrong pairs.
S2I_VARIANTS = {
    "s2i_c": {"encodings": f"{RESULTS}/embeddings/sound_classifier.npy", "wrong": "other_instrument"},
    "s2i_n": {"encodings": f"{RESULTS}/embeddings/sound_classifier.npy", "wrong": "none"},
    "s2i_a": {"encodings": f"{RESULTS}/embeddings/sound_autoencoder.npy", "wrong": "other_instrument"},
}

_not_kept = sorted(set(GAN["pose_instruments"]) - set(config["instruments"]))
if _not_kept:
    raise ValueError(f"config gan.pose_instruments: {_not_kept} are not in config instruments")


wildcard_constraints:
    pose_instrument="|".join(INSTRUMENT_NAMES),


# One rule per variant, named after it (s2i_c, s2i_n, s2i_a: the profiles set their resources).
for s2i_name, s2i in S2I_VARIANTS.items():

    rule:
        name:
            s2i_name
        input:
            windows=rules.windows.output[0],
            encodings=s2i["encodings"],
        output:
            model=f"{GAN_DIR}/{s2i_name}/model.pt",
            metrics=f"{GAN_DIR}/{s2i_name}/metrics.csv",
        log:
            f"{LOGS}/gan/{s2i_name}.log",
        benchmark:
            f"{BENCH}/gan/{s2i_name}.tsv"
        params:
            wrong=s2i["wrong"],
            flags=gan_flags(GAN, "s2i"),
            seed=config["seed"],
            device=DEVICE,
            amp=AMP,
        threads: 1
        priority: SOUND_CHAIN_PRIORITY
        shell:
            "crossmodal train-gan --kind s2i --wrong {params.wrong} --windows {input.windows}"
            " --encodings {input.encodings} --out {output.model} {params.flags} --seed {params.seed}"
            " --device {params.device} --amp {params.amp} --threads {threads} 2> {log}"


rule pose_s2i_instrument:
    input:
        windows=rules.windows.output[0],
        encodings=f"{RESULTS}/embeddings/sound_classifier.npy",
    output:
        model=f"{GAN_DIR}/pose_s2i_{{pose_instrument}}/model.pt",
        metrics=f"{GAN_DIR}/pose_s2i_{{pose_instrument}}/metrics.csv",
    log:
        f"{LOGS}/gan/pose_s2i_{{pose_instrument}}.log",
    benchmark:
        f"{BENCH}/gan/pose_s2i_{{pose_instrument}}.tsv"
    params:
        flags=gan_flags(GAN, "s2i", "pose"),
        seed=config["seed"],
        device=DEVICE,
        amp=AMP,
    threads: 1
    priority: SOUND_CHAIN_PRIORITY
    shell:
        "crossmodal train-gan --kind s2i --wrong same_instrument --instrument {wildcards.pose_instrument}"
        " --windows {input.windows} --encodings {input.encodings} --out {output.model} {params.flags}"
        " --seed {params.seed} --device {params.device} --amp {params.amp} --threads {threads} 2> {log}"


rule pose_s2i:
    input:
        expand(f"{GAN_DIR}/pose_s2i_{{pose_instrument}}/model.pt", pose_instrument=GAN["pose_instruments"]),


rule i2s:
    input:
        windows=rules.windows.output[0],
        encodings=f"{RESULTS}/embeddings/image_classifier.npy",
        lms=f"{RESULTS}/features/lms.npy",
    output:
        model=f"{GAN_DIR}/i2s/model.pt",
        metrics=f"{GAN_DIR}/i2s/metrics.csv",
    log:
        f"{LOGS}/gan/i2s.log",
    benchmark:
        f"{BENCH}/gan/i2s.tsv"
    params:
        flags=gan_flags(GAN, "i2s"),
        seed=config["seed"],
        device=DEVICE,
        amp=AMP,
    threads: 1
    priority: GAMMA_CHAIN_PRIORITY
    shell:
        "crossmodal train-gan --kind i2s --wrong other_instrument --windows {input.windows} --encodings {input.encodings}"
        " --lms {input.lms} --out {output.model} {params.flags} --seed {params.seed}"
        " --device {params.device} --amp {params.amp} --threads {threads} 2> {log}"


rule gans:
    input:
        [f"{GAN_DIR}/{name}/model.pt" for name in GAN_MODELS],


FINAL_TARGETS["gans"] = [f"{GAN_DIR}/{name}/{f}" for name in GAN_MODELS for f in ("model.pt", "metrics.csv")]
