#!lua
-- Add jobs to a declared queue. A job to run now is one fresh stream entry and nothing
-- else: 'j' = msgpack [function, payload, options or nil, job id or nil] (see
-- rqueues/backend/entries.py); its id is the entry id unless the caller chose one,
-- which the ids hash then maps to the entry until a claim starts the job. A job with a
-- due time gets a record (state 'scheduled') and an entry in the scheduled set, and an
-- entry in the events stream, so idle workers learn its due time.
-- KEYS[1] config hash, KEYS[2] stream, KEYS[3] scheduled, KEYS[4] events, KEYS[5] ids
-- ARGV[1] job key prefix (rqueues:{q:NAME}:job:); then per job 3 values: job id ('' to
--         take the entry id), entry value (msgpack), delay in ms ('' or 0 to run now)
-- Derived keys: ARGV[1] .. job id, the record of a scheduled job and of a chosen id
--         (checked: it must not exist).
-- Returns the stream entry ids ('' for a scheduled job), or an error: NOQUEUE (queue
--         not declared), DUPLICATE <job id> (a job with that id is queued or has a
--         record; nothing written).
-- Under OOM: refused whole before it runs (no flags): nothing new is enqueued, and the
-- caller gets RedisOutOfMemory.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('NOQUEUE')
end
local prefix = ARGV[1]
for a = 2, #ARGV, 3 do
  local job = ARGV[a]
  if job ~= '' and (redis.call('HEXISTS', KEYS[5], job) == 1
      or redis.call('EXISTS', prefix .. job) == 1) then
    return redis.error_reply('DUPLICATE ' .. job)
  end
end
local now = nil
local ids = {}
for a = 2, #ARGV, 3 do
  local job, blob, due = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2]) or 0
  if due > 0 then
    if not now then
      local t = redis.call('TIME')
      now = t[1] * 1000 + math.floor(t[2] / 1000)
    end
    local v = cmsgpack.unpack(blob)
    local key = prefix .. job
    redis.call('HSET', key, 'function', v[1], 'payload', v[2], 'enqueued_at', now, 'state', 'scheduled')
    if v[3] then redis.call('HSET', key, 'options', v[3]) end
    redis.call('ZADD', KEYS[3], now + due, job)
    redis.call('XADD', KEYS[4], 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'scheduled', job)
    ids[#ids + 1] = ''
  else
    local entry = redis.call('XADD', KEYS[2], '*', 'j', blob)
    if job ~= '' then redis.call('HSET', KEYS[5], job, entry) end
    ids[#ids + 1] = entry
  end
end
return ids
