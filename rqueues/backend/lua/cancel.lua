#!lua flags=allow-oom
-- Cancel a queued or scheduled job. A queued job's stream entry stays as a
-- tombstone (XDEL would make the group's lag unknown); a worker that claims it
-- acknowledges it unrun. A scheduled job leaves the scheduled set.
-- KEYS[1] job hash, KEYS[2] events, KEYS[3] scheduled
-- ARGV[1] job id
-- Returns {1} when cancelled, {0, state} when the job is not queued, {-1} when missing.
-- Under OOM: allowed (flags=allow-oom): it only withdraws work.
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {-1} end
if state ~= 'queued' and state ~= 'scheduled' then return {0, state} end
redis.call('ZREM', KEYS[3], ARGV[1])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('HSET', KEYS[1], 'state', 'cancelled', 'finished_at', now)
if redis.call('HEXISTS', KEYS[1], 'watched') == 1 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'job', ARGV[1])
end
return {1}
