"""Core: the middleware, the session lifecycle and its rules, in-process and fast, on the in-memory store (a few flows
are checked once more on the DynamoDB backends through the ``store`` fixture)."""
