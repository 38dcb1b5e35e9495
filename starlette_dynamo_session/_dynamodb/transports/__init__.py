"""How the store's coroutines reach DynamoDB: botocore's client in worker threads, or botocore's pipeline over an
async HTTP send on the event loop."""
