#!lua flags=allow-oom
-- Ask the worker running a job to stop it; its heartbeat reads the flag, and
-- complete.lua reads it too, so a job that ends first is still stored as cancelled.
-- The job joins the flagged set, so complete.lua reads its record.
-- KEYS[1] job hash, KEYS[2] flagged (the queue's set of jobs with a flag complete.lua reads)
-- ARGV[1] job id
-- Returns {1, worker} when the request was recorded, {0, state} when the job is not
-- running, {-1} when missing.
-- Under OOM: allowed (flags=allow-oom): a running job can still be stopped.
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {-1} end
if state ~= 'running' then return {0, state} end
redis.call('HSET', KEYS[1], 'stop', 1)
redis.call('SADD', KEYS[2], ARGV[1])
return {1, redis.call('HGET', KEYS[1], 'worker') or ''}
