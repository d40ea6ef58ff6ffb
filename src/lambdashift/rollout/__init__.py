"""Rollouts: the engine that drives them, deploys in waves and groups, and what a step runs
(analysis, bake, hooks, pre-warm, the candidate gate). Their state is kept by ``store/``."""
