"""Neural networks of the paper, one module per section: ``sound`` (Sec. 3.3 and 5.1 sound
encoders); other modules hold the image encoder and the GAN-CLS networks."""
