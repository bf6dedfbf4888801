"""Measurements on held-out data: codec quality, semantic tokens, speaker identity, speed."""
