"""Helpers the tests share: stores, processes, recorders and faults."""
