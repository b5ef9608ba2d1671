"""Benchmarks of dagstore against physical references and peers (DVC, ClearML, Quilt3).

Run ``python3 -m benchmarks.run --help`` from the repository root.
"""
