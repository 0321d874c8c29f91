"""The quick start: an embedded Redis, demo queues, worker processes and a summary."""
