"""Benchmarks of starlette-dynamo-session against the bare app, Starlette's cookie sessions, starsessions and raw
boto3 calls, all in one run on one machine: ``scripts/bench`` (``python -m bench.run``).

* ``bench.apps`` - the ASGI apps under test, one per variant, served by uvicorn in their own processes.
* ``bench.load`` - the load generator: a separate process driving a server over raw HTTP/1.1 keep-alive sockets
  (and the raw boto3 baseline: a thread pool calling a DynamoDB client directly).
* ``bench.run`` - the orchestrator: starts DynamoDB Local and the servers, runs the scenarios, writes the report.
* ``bench.profile`` - the hot path of one request, profiled in-process.
* ``bench.capacity`` - DynamoDB request units and cost per request, from the item sizes the store writes.
* ``bench.servers``, ``bench.stats`` - the processes the run starts, and the summaries of what it measures.

``bench.soak`` (``scripts/soak``) is the soak test, not part of the benchmark run.
"""
