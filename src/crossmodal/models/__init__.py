"""Neural networks of the paper, one module per section: ``sound`` (Sec. 3.3 and 5.1 sound
encoders), ``image`` (Sec. 3.4 image encoder and judge Gamma), ``gan`` (Sec. 3.1 GAN-CLS
networks). Each module also holds the function that loads its trained nets from a model file;
the evaluation reads models only through these."""

#: Size of every sound and image encoding the GANs are conditioned on (the paper's 128-unit
#: FC layers; the sound autoencoder's FC output has the same size).
ENCODING_DIM = 128
#: Side of the images the S2I networks generate and judge (Sec. 3.1: 64x64x3); the pairs'
#: images (config dataset.image_size) must have it.
S2I_IMAGE_SIZE = 64
