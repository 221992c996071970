"""SellerOps benchmarks: every figure a ratio measured side by side in one run.

``python -m bench.run [--sizes tiny|small|full] [--only B1,B2]`` (``make bench``)
prints one table and writes ``bench/results.json``. See ``bench/README.md``.
"""
