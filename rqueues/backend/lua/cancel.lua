#!lua flags=allow-oom
-- Cancel a queued or scheduled job. A queued job's stream entry stays as a
-- tombstone (XDEL would make the group's lag unknown); the worker that claims it
-- acknowledges it unrun and gives the record its result TTL then (complete.lua),
-- so the record is there to recognise the tombstone by. A scheduled job leaves the
-- scheduled set: nothing will consume it, so its record gets the result TTL here
-- (the job's own result_ttl option, else the queue's, else ARGV[2]).
-- The job enters the cancelled finished index (index_finished, finished_index.lua).
-- KEYS[1] job hash, KEYS[2] events, KEYS[3] scheduled, KEYS[4] config hash,
-- KEYS[5] cancelled finished index
-- ARGV[1] job id, ARGV[2] default result TTL (s)
-- Returns {1} when cancelled, {0, state} when the job is not queued, {-1} when missing.
-- Under OOM: allowed (flags=allow-oom): it only withdraws work.
local function ttl_of(value)
  -- An integer number of seconds EXPIRE takes as written (Lua prints larger numbers
  -- in exponent form), else nil.
  local n = tonumber(value)
  if n and n >= 1 and n < 2147483648 and n == math.floor(n) then return n end
  return nil
end

local v = redis.call('HMGET', KEYS[1], 'state', 'options')
local state = v[1]
if not state then return {-1} end
if state ~= 'queued' and state ~= 'scheduled' then return {0, state} end
local ttl = nil
if state == 'scheduled' then
  if v[2] then
    local ok, options = pcall(cmsgpack.unpack, v[2])
    if ok and type(options) == 'table' then ttl = ttl_of(options['result_ttl']) end
  end
  ttl = ttl or ttl_of(redis.call('HGET', KEYS[4], 'result_ttl')) or ttl_of(ARGV[2])
end
redis.call('ZREM', KEYS[3], ARGV[1])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('HSET', KEYS[1], 'state', 'cancelled', 'finished_at', now)
if ttl then redis.call('EXPIRE', KEYS[1], ttl) end
index_finished(KEYS[5], now, ttl_of(redis.call('HGET', KEYS[4], 'result_ttl')) or ttl_of(ARGV[2]), {ARGV[1]})
if redis.call('HEXISTS', KEYS[1], 'watched') == 1 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'job', ARGV[1])
end
return {1}
