"""The built-in demo URMP: a small generated tree with URMP's layout, for running without the data.

Modules by concern: ``melody`` (what each player plays), ``audio`` (SoundFont rendering, WAVs),
``annotations`` (Notes, F0s, score), ``figure`` (drawing a posed player), ``video`` (frames and
encoding), ``build`` (the tree and the ``crossmodal demo`` step).
"""
