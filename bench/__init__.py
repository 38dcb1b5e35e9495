"""The benchmark: ``scripts/bench`` (``python -m bench.run``) runs the bare app, Starlette's cookie sessions,
starsessions and this middleware on DynamoDB Local on both transports (with a raw ``GetItem`` floor over each)
side by side, and writes ``docs/benchmarks.md`` and ``docs/benchmarks.png``.

* ``bench.apps`` - the app each variant's uvicorn server serves.
* ``bench.load`` - the load generator, a process of its own.
* ``bench.processes`` - DynamoDB Local and the servers of a run, on ``harness``'s helpers (``harness.proxy`` is the
  loopback proxy in front of DynamoDB Local that counts its requests, and slows them down).
* ``bench.run`` - the run; ``bench.results`` - what it measured; ``bench.report`` - the page and the chart.
"""
