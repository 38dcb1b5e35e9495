"""What the tests and the benchmark both run, one module per job (``tests/`` and ``bench/`` never import each other;
each imports this instead):

* ``processes``: the repository root, 127.0.0.1, a free port there, the one wait-until-ready loop, servers run as
  subprocesses in process groups of their own and stopped by their PIDs, and a process's CPU time;
* ``environment``: an environment in which nothing reaches real AWS, for the processes they start;
* ``dynamodb_local``: AWS's DynamoDB Local, installed by ``scripts/dynamodb-local``, started on 127.0.0.1 only and
  stopped by its PID;
* ``loop_thread``: an asyncio event loop in a thread of its own, driven from synchronous code;
* ``proxy``: the loopback proxy in front of a DynamoDB that lists and counts its requests by operation, and can delay
  them or answer some itself.
"""
