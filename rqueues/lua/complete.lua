-- Store the outcome of finished jobs, then acknowledge them and release their leases.
-- The outcome is written before the acknowledgement, in one atomic call, so a
-- job is never acknowledged without its outcome.
-- KEYS[1] stream, KEYS[2] leases, KEYS[3] events, KEYS[4] config, KEYS[5..] job hashes
-- ARGV[1] group; then per job 5 values: entry id, job id, state, outcome blob, result ttl (s)
--   state '' leaves the record's state as it is (a cancelled tombstone being consumed).
--   The blob goes to field 'result' when the state is 'succeeded', else to 'error'.
-- Returns the number of jobs completed.
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local capped = tonumber(redis.call('HGET', KEYS[4], 'concurrency') or '0') > 0
for i = 5, #KEYS do
  local a = (i - 5) * 5 + 1
  local entry, job, state, blob, ttl = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], tonumber(ARGV[a + 5])
  local key = KEYS[i]
  local watched = false
  if redis.call('EXISTS', key) == 1 then
    if state ~= '' then
      local field = (state == 'succeeded') and 'result' or 'error'
      redis.call('HSET', key, 'state', state, 'finished_at', now, field, blob)
    end
    if ttl > 0 then redis.call('EXPIRE', key, ttl) end
    watched = redis.call('HEXISTS', key, 'watched') == 1
  end
  redis.call('XACK', KEYS[1], ARGV[1], entry)
  redis.call('XDEL', KEYS[1], entry)
  redis.call('ZREM', KEYS[2], job)
  if watched or capped then
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', 1000, '*', 'job', job)
  end
end
return #KEYS - 4
