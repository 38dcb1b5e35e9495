"""What only the tests share, one module per concern (the processes, DynamoDB Local and the proxy that the tests run
are ``harness``'s, which the benchmark uses too):

* ``dynamodb_local``: the pytest fixtures on AWS's DynamoDB Local;
* ``moto_server``: moto's server mode, and the stores of each (backend, transport) pair;
* ``loopback``: tiny HTTP servers for the transport tests, and the recording proxy;
* ``demo``: ``python -m demo_app`` as a server process;
* ``environment``: the AWS environment scrubber of the test process;
* ``recorder``: the DynamoDB operations a boto3 Session's clients send;
* ``faults``: DynamoDB errors injected on purpose through a client's event system;
* ``memory_store``: a ``SessionStore`` in a dict, which the middleware and lifecycle tests run on.
"""
