"""Upstream adapters: one protocol, one file per kind of vendor API."""
