"""Typed output models of the agents: one module per phase, one model per agent."""
