"""Transports: how the store's coroutines reach DynamoDB (the aiohttp sender, SigV4, the fast serializer and parser,
the session's handlers) and what they do with hostile answers."""
