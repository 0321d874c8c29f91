"""The web dashboard: a Starlette app over the library (queues, jobs, workers, dead letters,
and the actions the CLI has), with its JSON API, its auth and CSRF rules, and the page it
serves from ``static/``. Needs the ``web`` extra; ``import rqueues`` never imports it."""
