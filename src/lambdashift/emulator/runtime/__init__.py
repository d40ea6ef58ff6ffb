"""The runtime: execution environments pooled per version (Python worker processes, and
processes behind the Runtime API for Node.js and ``provided``), and which runtimes this
machine runs.

Keep this package free of imports: a Python worker process imports it before its handler.
"""
