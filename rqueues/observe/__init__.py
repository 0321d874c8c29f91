"""Observation: the cluster snapshot, stats, job listings, top, the exporter, metrics.

Reads what the worker and the backend write; never changes a job.
"""
