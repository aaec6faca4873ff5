"""Curated per-collaboration kernel releases: publish, validate, promote, retire."""
