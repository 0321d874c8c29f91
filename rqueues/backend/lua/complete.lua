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
-- The common case costs one HSET and one EXPIRE per job, the rest once per call:
--   one XACK names every delivery; when it counts them all, all were pending. Else the
--   pending ones are those whose entry is still in the stream: every script that ends
--   a delivery (this one, giveback, deadletter, unrun, the claim's tombstones) deletes
--   its entry in the same call as its XACK.
--   no record is read while the flagged set KEYS[9] is empty: stop.lua, watch.lua and
--   depend.lua add each job they flag to it, and the caller passes the attempt's number. While it
--   is not empty each record is read (HMGET), a flagged job that ends leaves the set,
--   and a few members of jobs that ended elsewhere (cancelled, dead, expired) are
--   removed per call.
-- An entry id names its stream: the queue's, or a priority level's (levels.lua).
-- KEYS[1] stream, KEYS[2] leases, KEYS[3] events, KEYS[4] config, KEYS[5] scheduled,
-- KEYS[6..8] finished indexes: succeeded, failed, cancelled; KEYS[9] flagged
-- ARGV[1] group, ARGV[2] the error stored for a stopped job (msgpack), ARGV[3] job key
--         prefix (rqueues:{q:NAME}:job:), ARGV[4] the jobs: a msgpack list of, per job,
--         [entry id, job id, state, outcome blob, result ttl (s), retry delay (ms),
--         attempt number ('' to read it from the record)]
--   state ''       leave the record as it is (a consumed tombstone)
--         'retry'  keep the error as this attempt's, schedule the job after the delay
--         other    final: the blob goes to 'result' when 'succeeded', else to 'error'
-- Derived keys: ARGV[3] .. job id, each job's record (same hash tag); the queue's
-- unique hash and notify zset (flow.lua).
-- Returns the number of deliveries that were still pending (and so completed), or, when
-- a finished job has dependents to tell, {that number, job id, ...} of those jobs.
-- Under OOM: allowed (flags=allow-oom): it settles work already taken and frees its lease.
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local cfg = redis.call('HMGET', KEYS[4], 'concurrency', 'result_ttl')
local capped = tonumber(cfg[1] or '0') > 0
local rows = cmsgpack.unpack(ARGV[4])
local n = #rows
local ids = {}
for i = 1, n do ids[i] = rows[i][1] end
local function by_stream(list)
  -- The entry ids of each stream they belong to (priority levels, levels.lua).
  local by, order = {}, {}
  for _, id in ipairs(list) do
    local s = stream_of(KEYS[1], id)
    if not by[s] then by[s] = {}; order[#order + 1] = s end
    by[s][#by[s] + 1] = id
  end
  return by, order
end
local acked = 0
local by, order = by_stream(ids)
for _, s in ipairs(order) do
  local list = by[s]
  for i = 1, #list, 500 do  -- slices stay below Lua's unpack limit
    acked = acked + redis.call('XACK', s, ARGV[1], unpack(list, i, math.min(i + 499, #list)))
  end
end
local pending = nil  -- nil: every delivery named was pending
if acked < n then
  pending = {}
  for i = 1, n do
    pending[i] = redis.call('XRANGE', stream_of(KEYS[1], ids[i]), ids[i], ids[i])[1] ~= nil
  end
end
local flagged = redis.call('EXISTS', KEYS[9]) == 1
local entries = {}
local finished = {succeeded = {}, failed = {}, cancelled = {}}
local base, noted = flow_base(KEYS[1]), {}
for i = 1, n do
  if not pending or pending[i] then
    local row = rows[i]
    local entry, job, state, blob = row[1], row[2], row[3], row[4]
    local ttl, delay, attempts = tonumber(row[5]), tonumber(row[6]), row[7]
    local key = ARGV[3] .. job
    entries[#entries + 1] = entry
    local recorded, watched, flags, deps = true, false, false, false
    if flagged or attempts == '' then
      local v = redis.call('HMGET', key, 'state', 'attempts', 'watched', 'stop', 'dependents')
      recorded, watched, flags = v[1] ~= false, v[3] ~= false, (v[3] or v[4] or v[5]) ~= false
      deps = v[5] ~= false
      attempts = v[2] or '0'
      if v[4] and (state == 'succeeded' or state == 'failed' or state == 'retry') then
        state, blob = 'cancelled', ARGV[2]
      end
    end
    if recorded then
      if state == 'retry' then
        redis.call('HSET', key, 'state', 'scheduled', 'error', blob, 'error.' .. attempts, blob)
        redis.call('ZADD', KEYS[5], now + delay, job)
        redis.call('XADD', KEYS[3], 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'scheduled', job)
      elseif state == 'succeeded' then
        redis.call('HSET', key, 'state', state, 'finished_at', now, 'result', blob)
      elseif state ~= '' then
        redis.call('HSET', key, 'state', state, 'finished_at', now, 'error', blob, 'error.' .. attempts, blob)
      end
      if ttl > 0 and state ~= 'retry' then redis.call('EXPIRE', key, ttl) end
      if finished[state] then
        table.insert(finished[state], job)
        if flow_final(base, key, job, now, deps) then noted[#noted + 1] = job end
      end
      if flags and state ~= 'retry' then redis.call('SREM', KEYS[9], job) end
    end
    watched = watched and state ~= 'retry' and state ~= ''
    if watched or capped then
      redis.call('XADD', KEYS[3], 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'job', job)
    end
  end
end
if flagged then
  -- Jobs flagged then ended by another script (cancelled, dead-lettered) or expired.
  for _, job in ipairs(redis.call('SRANDMEMBER', KEYS[9], 5)) do
    local state = redis.call('HGET', ARGV[3] .. job, 'state')
    if not state or finished[state] or state == 'dead' then redis.call('SREM', KEYS[9], job) end
  end
end
-- One XDEL and one ZREM for the batch, in slices that stay below Lua's unpack limit.
for i = 1, #entries, 500 do
  redis.call('ZREM', KEYS[2], unpack(entries, i, math.min(i + 499, #entries)))
end
by, order = by_stream(entries)
for _, s in ipairs(order) do
  local list = by[s]
  for i = 1, #list, 500 do redis.call('XDEL', s, unpack(list, i, math.min(i + 499, #list))) end
end
local queue_ttl = tonumber(cfg[2]) or RESULT_TTL
index_finished(KEYS[6], now, queue_ttl, finished.succeeded)
index_finished(KEYS[7], now, queue_ttl, finished.failed)
index_finished(KEYS[8], now, queue_ttl, finished.cancelled)
if #noted > 0 then return {#entries, unpack(noted)} end
return #entries
