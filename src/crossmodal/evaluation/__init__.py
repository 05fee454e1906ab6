"""Evaluation of the generated images and sounds (the paper's Sec. 5).

Pure building blocks (``metrics``, ``figures``, ``human_eval``) take arrays and
return arrays or tables; the step modules read the trained models and write the tables and
figures at the edge.
"""
