-- Ask the worker running a job to stop it; its heartbeat reads the flag.
-- KEYS[1] job hash
-- Returns {1, worker} when the request was recorded, {0, state} when the job is not
-- running, {-1} when missing.
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {-1} end
if state ~= 'running' then return {0, state} end
redis.call('HSET', KEYS[1], 'stop', 1)
return {1, redis.call('HGET', KEYS[1], 'worker') or ''}
