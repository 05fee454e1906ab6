"""Regenerates Chen et al. (2017), "Deep Cross-Modal Audio-Visual Generation", from raw URMP."""

__version__ = "0.1.0"
