"""Helpers that start real servers on loopback for tests and benchmarks.

PostgreSQL, an S3-API server (moto) and nginx are started in temp dirs on
free ports and stopped afterwards. Nothing here is imported by the service.
"""
