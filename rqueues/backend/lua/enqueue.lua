#!lua
-- Add jobs to a declared queue: write each job record, then one stream entry per
-- job, or, for a job with a due time, an entry in the scheduled set.
-- A scheduled job also adds an entry to the events stream, so idle workers learn its due time.
-- KEYS[1] config hash, KEYS[2] stream, KEYS[3] scheduled, KEYS[4] events,
-- KEYS[5..] one job hash per job
-- ARGV    per job, 5 values: job id, function, payload, options (msgpack or ''),
--         delay in ms ('' or 0 to run now)
-- Returns the stream entry ids ('' for a scheduled job), or an error: NOQUEUE (queue
--         not declared), DUPLICATE <job id> (a record with that id exists; nothing written).
-- Under OOM: refused whole before it runs (no flags): nothing new is enqueued, and the
-- caller gets RedisOutOfMemory.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('NOQUEUE')
end
for i = 5, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    return redis.error_reply('DUPLICATE ' .. ARGV[(i - 5) * 5 + 1])
  end
end
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local ids = {}
for i = 5, #KEYS do
  local a = (i - 5) * 5
  local key, job, due = KEYS[i], ARGV[a + 1], ARGV[a + 5]
  redis.call('HSET', key, 'function', ARGV[a + 2], 'payload', ARGV[a + 3], 'enqueued_at', now)
  if ARGV[a + 4] ~= '' then redis.call('HSET', key, 'options', ARGV[a + 4]) end
  if due ~= '' and tonumber(due) > 0 then
    redis.call('HSET', key, 'state', 'scheduled')
    redis.call('ZADD', KEYS[3], now + tonumber(due), job)
    redis.call('XADD', KEYS[4], 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'scheduled', job)
    ids[#ids + 1] = ''
  else
    redis.call('HSET', key, 'state', 'queued')
    ids[#ids + 1] = redis.call('XADD', KEYS[2], '*', 'job', job)
  end
end
return ids
