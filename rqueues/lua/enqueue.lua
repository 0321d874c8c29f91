-- Add jobs to a declared queue: write each job record, then one stream entry per job.
-- KEYS[1] config hash, KEYS[2] stream, KEYS[3..] one job hash per job
-- ARGV    per job, 5 values: job id, function, payload, timeout (s or ''), result ttl (s or '')
-- Returns the stream entry ids, or an error: NOQUEUE (queue not declared),
--         DUPLICATE <job id> (a record with that id exists; nothing was written).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('NOQUEUE')
end
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    return redis.error_reply('DUPLICATE ' .. ARGV[(i - 3) * 5 + 1])
  end
end
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local ids = {}
for i = 3, #KEYS do
  local a = (i - 3) * 5
  local key = KEYS[i]
  redis.call('HSET', key, 'function', ARGV[a + 2], 'payload', ARGV[a + 3],
    'state', 'queued', 'enqueued_at', now)
  if ARGV[a + 4] ~= '' then redis.call('HSET', key, 'timeout', ARGV[a + 4]) end
  if ARGV[a + 5] ~= '' then redis.call('HSET', key, 'result_ttl', ARGV[a + 5]) end
  ids[#ids + 1] = redis.call('XADD', KEYS[2], '*', 'job', ARGV[a + 1])
end
return ids
