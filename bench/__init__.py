"""Benchmarks: each module measures one figure against a floor or a peer measured in the same run."""
