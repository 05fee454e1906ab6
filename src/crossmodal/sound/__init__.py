"""Steps of the sound side (Sec. 3.3, 5.1): feature stores, Table 1, Fig. 3, the sound encoders.

One module per workflow step (``feature_store``, ``classifier``, ``table1``, ``fig3``,
``autoencoder``, ``encode``); ``data`` holds what they share (manifest, stores, split).
"""
