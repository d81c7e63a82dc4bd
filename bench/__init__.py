"""Benchmarks that compare boxtrace with runc, crun and strace in one run."""
