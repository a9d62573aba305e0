"""The chaos campaign (`make chaos`, `python -m bench.chaos`): prepare, run, judge.

`prepare` starts the hub and two operator replicas, `run` drives the churn under faults,
`verdict` reads the facts and judges them by the pure invariants of `judge`, with the bounds of
`bounds`. See bench/chaos/README.md.
"""
