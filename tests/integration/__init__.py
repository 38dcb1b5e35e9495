"""Integration: uvicorn and other processes, the browser, outages, the demo app, the benchmarks, the packages, and
other frameworks (FastAPI, Litestar, Starlette's own session tests)."""
