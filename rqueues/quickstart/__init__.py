"""The quick start: an embedded Redis, demo queues, worker processes and a summary.

``plan`` holds what it runs, ``summary`` the pure progress and summary views,
``session`` the run itself, ``embedded`` the private server.
"""
