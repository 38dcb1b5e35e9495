"""What the tests share besides fixtures, one module per concern:

* ``processes``: a free port on 127.0.0.1, the one wait-until-ready loop, servers run as subprocesses (uvicorn,
  ``python -m demo_app``) and stopped by their PIDs;
* ``dynamodb_local``: AWS's DynamoDB Local, started and stopped by PID, and its pytest fixtures;
* ``environment``: the AWS environment scrubber, for the test process and for the processes it starts;
* ``recorder``: the DynamoDB operations a boto3 Session's clients send;
* ``faults``: DynamoDB errors injected on purpose through a client's event system;
* ``memory_store``: a ``SessionStore`` in a dict, which the middleware and lifecycle tests run on.
"""
