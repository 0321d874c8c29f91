#!lua flags=allow-oom
-- Record a worker's heartbeat, stamped with the server's clock: the reaper ages
-- heartbeats by that clock, so a worker whose own clock runs behind never looks dead.
-- KEYS[1] the workers registry (zset)
-- ARGV[1] worker id
-- Returns the stamp (ms).
-- Under OOM: allowed (flags=allow-oom): a live worker must not look dead because
-- Redis refuses new work.
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
return now
