#!lua flags=allow-oom
-- Cancel a queued or scheduled job. A queued job's stream entry stays as a
-- tombstone (XDEL would make the group's lag unknown); the claim that takes it
-- acknowledges it unrun and gives the record its result TTL then (claim.lua), so
-- the record is there to recognise the tombstone by. A job that waits in a fresh
-- entry alone (rqueues/backend/entries.py) gets that record here: state
-- 'cancelled' with the entry's function, payload and options, and its chosen id
-- leaves the ids hash. A scheduled job leaves the scheduled set: nothing will
-- consume it, so its record gets the result TTL here (the job's own result_ttl
-- option, else the queue's, else ARGV[2]).
-- KEYS[1] job hash, KEYS[2] events, KEYS[3] scheduled, KEYS[4] config hash,
-- KEYS[5] stream, KEYS[6] ids, KEYS[7] tombstones (a queued job cancelled here joins it:
-- the claim checks fresh entries against it while it is not empty)
-- KEYS[8] cancelled finished index (the job enters it: index_finished, finished_index.lua)
-- ARGV[1] job id, ARGV[2] default result TTL (s), ARGV[3] the entry id a generated job id
-- names ('' for a chosen id: the ids hash maps it to its entry)
-- A deferred job (waiting for its parents) leaves the deferred zset and, like a scheduled
-- one, gets its result TTL here. A cancelled job releases its unique key and, with
-- dependents, is noted for the notifier (flow_final, flow.lua), which the caller runs.
-- Derived keys: the queue's unique hash, deferred and notify zsets (flow.lua).
-- Returns {1} when cancelled, {0, state} when the job is not queued, {-1} when missing.
-- Under OOM: allowed (flags=allow-oom): it only withdraws work.
local function ttl_of(value)
  -- An integer number of seconds EXPIRE takes as written (Lua prints larger numbers
  -- in exponent form), else nil.
  local n = tonumber(value)
  if n and n >= 1 and n < 2147483648 and n == math.floor(n) then return n end
  return nil
end

local function waiting_fresh(job)
  -- The fresh entry a job waits in alone: its id and its decoded value, or nil.
  local entry = ARGV[3]
  if entry == '' then
    entry = redis.call('HGET', KEYS[6], job)
    if not entry then return nil end
  end
  local found = redis.call('XRANGE', stream_of(KEYS[5], entry), entry, entry)  -- its level's
  if not found[1] or found[1][2][1] ~= 'j' then return nil end
  local ok, v = pcall(cmsgpack.unpack, found[1][2][2])
  -- A generated id names an entry without a chosen id; a chosen id is the 4th item.
  if not ok or type(v) ~= 'table' or (ARGV[3] == '') ~= (v[4] == job) then return nil end
  return entry, v
end

local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local v = redis.call('HMGET', KEYS[1], 'state', 'options')
local state = v[1]
if not state then
  local entry, job = waiting_fresh(ARGV[1])
  if not entry then return {-1} end
  redis.call('HSET', KEYS[1], 'state', 'cancelled', 'finished_at', now, 'function', job[1],
    'payload', job[2], 'enqueued_at', string.match(entry, '^(%d+)'))
  if job[3] then redis.call('HSET', KEYS[1], 'options', job[3]) end
  redis.call('HDEL', KEYS[6], ARGV[1])
  redis.call('SADD', KEYS[7], ARGV[1])
  index_finished(KEYS[8], now, ttl_of(redis.call('HGET', KEYS[4], 'result_ttl')) or ttl_of(ARGV[2]), {ARGV[1]})
  flow_final(flow_base(KEYS[1]), KEYS[1], ARGV[1], now, false)
  return {1}
end
if state ~= 'queued' and state ~= 'scheduled' and state ~= 'deferred' then return {0, state} end
local ttl = nil
if state ~= 'queued' then
  if v[2] then
    local ok, options = pcall(cmsgpack.unpack, v[2])
    if ok and type(options) == 'table' then ttl = ttl_of(options['result_ttl']) end
  end
  ttl = ttl or ttl_of(redis.call('HGET', KEYS[4], 'result_ttl')) or ttl_of(ARGV[2])
end
redis.call('ZREM', KEYS[3], ARGV[1])
if state == 'deferred' then redis.call('ZREM', flow_base(KEYS[1]) .. ':deferred', ARGV[1]) end
if state == 'queued' then
  redis.call('HDEL', KEYS[6], ARGV[1])  -- a watched fresh job's record says 'queued' too
  redis.call('SADD', KEYS[7], ARGV[1])
end
redis.call('HSET', KEYS[1], 'state', 'cancelled', 'finished_at', now)
if ttl then redis.call('EXPIRE', KEYS[1], ttl) end
flow_final(flow_base(KEYS[1]), KEYS[1], ARGV[1], now)
index_finished(KEYS[8], now, ttl_of(redis.call('HGET', KEYS[4], 'result_ttl')) or ttl_of(ARGV[2]), {ARGV[1]})
if redis.call('HEXISTS', KEYS[1], 'watched') == 1 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'job', ARGV[1])
end
return {1}
