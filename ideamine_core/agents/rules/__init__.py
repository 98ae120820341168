"""Offline rules: one module per phase, one deterministic function per agent (no network)."""
