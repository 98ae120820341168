"""Resilience: retry policies, fallback ladder, breakers, budgets, checkpoints, heartbeats."""
