"""The session's rules, independent of any web framework and of any store: the session a request sees, its
lifecycle from load to save, tokens, lifetimes, retries, the clock and the events. Nothing here imports Starlette,
botocore, boto3 or aiohttp."""
