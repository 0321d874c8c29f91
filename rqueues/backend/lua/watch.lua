#!lua flags=allow-oom
-- Register interest in a job's completion and read its state, atomically, so
-- that a completion after this call always adds an entry to the events stream.
-- KEYS[1] job hash, KEYS[2] events
-- Returns {state, last events id}, or {} when the job does not exist.
-- Under OOM: allowed (flags=allow-oom): it adds one flag to an existing record, so a
-- waiter still sees the completions that go through while Redis refuses new work.
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {} end
redis.call('HSET', KEYS[1], 'watched', 1)
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
return {state, last[1] and last[1][1] or '0-0'}
