"""The Tchatator benchmark: the server against a bare asyncio TLS line server.

``python -m bench`` (``make bench``) runs everything; ``python -m bench --quick``
(``make bench-quick``, and ``tests/test_bench_quick.py``) is the short version.
See ``bench/run.py`` for what one run does and docs/benchmarks.md for results.
"""
