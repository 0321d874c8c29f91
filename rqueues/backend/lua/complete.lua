#!lua flags=allow-oom
-- Store the outcome of finished jobs, then acknowledge them and release their leases.
-- The outcome is written in the same atomic call as the acknowledgement, and only
-- when this delivery is still pending: a delivery the reaper already gave back
-- (its worker was taken for dead) must not overwrite the record of a new attempt,
-- and its lease (the entry id) is not the new delivery's.
-- A stop request recorded before this call wins over the run's outcome: the job
-- ends 'cancelled' with the stopped error, even when it ended before its worker's
-- heartbeat read the request.
-- A final outcome also enters its state's finished index (index_finished, from
-- finished_index.lua), bounded by the queue's result TTL, releases its unique key and,
-- when it has dependents, is noted for the notifier (flow_final, flow.lua).
-- KEYS[1] stream, KEYS[2] leases, KEYS[3] events, KEYS[4] config, KEYS[5] scheduled,
-- KEYS[6..8] finished indexes: succeeded, failed, cancelled; KEYS[9..] job hashes
-- ARGV[1] group, ARGV[2] the error stored for a stopped job (msgpack);
--         then per job 6 values: entry id, job id, state, outcome blob,
--         result ttl (s), retry delay (ms)
--   state ''       leave the record as it is (a consumed tombstone)
--         'retry'  keep the error as this attempt's, schedule the job after the delay
--         other    final: the blob goes to 'result' when 'succeeded', else to 'error'
-- Derived keys: the queue's unique hash and notify zset (flow.lua).
-- Returns the number of deliveries that were still pending (and so completed), or, when
-- a finished job has dependents to tell, {that number, job id, ...} of those jobs.
-- Under OOM: allowed (flags=allow-oom): it settles work already taken and frees its lease.
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local cfg = redis.call('HMGET', KEYS[4], 'concurrency', 'result_ttl')
local capped = tonumber(cfg[1] or '0') > 0
local entries = {}
local finished = {succeeded = {}, failed = {}, cancelled = {}}
local base, noted = flow_base(KEYS[1]), {}
for i = 9, #KEYS do
  local a = (i - 9) * 6 + 2
  local entry, job, state, blob = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local ttl, delay = tonumber(ARGV[a + 5]), tonumber(ARGV[a + 6])
  local key = KEYS[i]
  if redis.call('XACK', KEYS[1], ARGV[1], entry) == 1 then
    entries[#entries + 1] = entry
    local v = redis.call('HMGET', key, 'state', 'attempts', 'watched', 'stop', 'dependents')
    local watched = false
    if v[1] then
      local attempts = v[2] or '0'
      if v[4] and (state == 'succeeded' or state == 'failed' or state == 'retry') then
        state, blob = 'cancelled', ARGV[2]
      end
      if state == 'retry' then
        redis.call('HSET', key, 'state', 'scheduled', 'error', blob, 'error.' .. attempts, blob)
        redis.call('ZADD', KEYS[5], now + delay, job)
        redis.call('XADD', KEYS[3], 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'scheduled', job)
      elseif state == 'succeeded' then
        redis.call('HSET', key, 'state', state, 'finished_at', now, 'result', blob)
        watched = v[3] ~= false
      elseif state ~= '' then
        redis.call('HSET', key, 'state', state, 'finished_at', now, 'error', blob, 'error.' .. attempts, blob)
        watched = v[3] ~= false
      end
      if ttl > 0 and state ~= 'retry' then redis.call('EXPIRE', key, ttl) end
      if finished[state] then
        table.insert(finished[state], job)
        if flow_final(base, key, job, now, v[5] ~= false) then noted[#noted + 1] = job end
      end
    end
    if watched or capped then
      redis.call('XADD', KEYS[3], 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'job', job)
    end
  end
end
-- One XDEL and one ZREM for the batch, in slices that stay below Lua's unpack limit.
for i = 1, #entries, 500 do
  local j = math.min(i + 499, #entries)
  redis.call('XDEL', KEYS[1], unpack(entries, i, j))
  redis.call('ZREM', KEYS[2], unpack(entries, i, j))
end
local queue_ttl = tonumber(cfg[2]) or RESULT_TTL
index_finished(KEYS[6], now, queue_ttl, finished.succeeded)
index_finished(KEYS[7], now, queue_ttl, finished.failed)
index_finished(KEYS[8], now, queue_ttl, finished.cancelled)
if #noted > 0 then return {#entries, unpack(noted)} end
return #entries
