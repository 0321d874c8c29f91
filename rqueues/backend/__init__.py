"""The Redis backend: client factory, Redis Cluster support, key names, Lua scripts.

Everything that knows how rqueues is laid out in Redis lives here: the one
module that builds key names (``keys``), the one loader of the Lua scripts and
their typed replies (``scripts``), the client factory (``clients``, ``store``)
and the checks of a server's settings (``settings``). It imports only the
core modules at the top of the package.
"""
