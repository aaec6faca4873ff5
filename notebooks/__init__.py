"""Curated notebook collections: sync from git, publish read-only, getlatest, webhook."""
