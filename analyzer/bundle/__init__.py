"""Untrusted input -> members with provenance. Imports neither pandas nor typer."""
