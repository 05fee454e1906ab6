"""Watch and listen (beyond the paper): whole recordings through the trained models.

``perform`` turns a recording into a video of a generated player, one frame per window at the
dataset's stride, under the recording's own sound; ``accompany`` gives a silent clip the sound
that I2S draws from its pictures; ``performance-page`` shows both beside the real performances.
render.py holds the pieces they share (decoding, windows, ffmpeg encoding, crossfades).
"""
