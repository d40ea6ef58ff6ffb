"""The pure core: strategy → steps, the rollout state machine, the dependency order, the judge.

Nothing under ``lambdashift.core`` does I/O, reads a clock, sleeps, draws random numbers or
imports boto3: it is tested with plain values. The engine (``lambdashift.rollout``) supplies
time and side effects.
"""
