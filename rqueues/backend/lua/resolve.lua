#!lua flags=allow-oom
-- Tell a deferred job the final outcome of one of its parents, on the dependent's queue.
-- Idempotent per parent (the notifier delivers at least once): a parent already heard of
-- ('parent.N' set), a job that is no longer deferred, or a parent it does not have,
-- changes nothing. A parent that succeeded (or any outcome, with allow_failure) counts
-- down 'waiting'; at zero the job leaves the deferred zset and becomes runnable, a
-- re-added stream entry ('job' = job id, state 'queued'). Any other outcome cancels the
-- job with the reason: it enters the cancelled finished index, gets its result TTL,
-- releases its unique key and, with dependents of its own, is noted for the notifier.
-- KEYS[1] dependent job hash, KEYS[2] stream, KEYS[3] events, KEYS[4] config,
-- KEYS[5] cancelled finished index
-- ARGV[1] job id, ARGV[2] parent queue, ARGV[3] parent job id, ARGV[4] parent state,
-- ARGV[5] default result TTL (s), ARGV[6] the reason a failed parent cancels with,
-- ARGV[7] the error stored then (msgpack)
-- Derived keys: the queue's unique hash, deferred and notify zsets (flow.lua).
-- Returns {status, noted}: status 'ignored', 'waiting', 'queued' or 'cancelled'; noted 1
-- when the cancelled job has dependents to tell.
-- Under OOM: allowed (flags=allow-oom): a cancel only settles work, and a dependent made
-- runnable is one entry, as a give-back is.
local function ttl_of(value)
  local n = tonumber(value)
  if n and n >= 1 and n < 2147483648 and n == math.floor(n) then return n end
  return nil
end

local key, job = KEYS[1], ARGV[1]
local v = redis.call('HMGET', key, 'state', 'parents', 'allow_failure', 'options')
if v[1] ~= 'deferred' or not v[2] then return {'ignored', 0} end
local index = nil
for i, p in ipairs(cjson.decode(v[2])) do
  if p[1] == ARGV[2] and p[2] == ARGV[3] then index = i end
end
if not index or redis.call('HSETNX', key, 'parent.' .. index, ARGV[4]) == 0 then
  return {'ignored', 0}
end
local base = flow_base(KEYS[1])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
if ARGV[4] == 'succeeded' or v[3] then
  if redis.call('HINCRBY', key, 'waiting', -1) > 0 then return {'waiting', 0} end
  redis.call('ZREM', base .. ':deferred', job)
  redis.call('HSET', key, 'state', 'queued')
  level_add(KEYS[2], option_level(redis.call('HGET', key, 'options')), 'job', job)
  return {'queued', 0}
end
redis.call('ZREM', base .. ':deferred', job)
redis.call('HSET', key, 'state', 'cancelled', 'finished_at', now, 'reason', ARGV[6], 'error', ARGV[7])
local ttl = nil
if v[4] then
  local ok, o = pcall(cmsgpack.unpack, v[4])
  if ok and type(o) == 'table' then ttl = ttl_of(o['result_ttl']) end
end
local queue_ttl = ttl_of(redis.call('HGET', KEYS[4], 'result_ttl')) or ttl_of(ARGV[5])
redis.call('EXPIRE', key, ttl or queue_ttl)
index_finished(KEYS[5], now, queue_ttl, {job})
if redis.call('HEXISTS', key, 'watched') == 1 then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'job', job)
end
return {'cancelled', flow_final(base, key, job, now) and 1 or 0}
