"""analysis: instruments that measure models, and the chapter's experiments.

Works on any pure ``loss(params, batch)`` and any pytree of parameters. ``ch6jax`` never
imports this package; this package builds on ``ch6jax``.
"""
