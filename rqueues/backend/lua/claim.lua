#!lua
-- Take up to N new entries from a queue together with their leases, and start their
-- jobs, atomically. The lease semaphore is the zset KEYS[2], one member per delivery
-- (the stream entry id, never the job id: a renewal, completion or give-back names the
-- delivery it acts on). An entry is delivered only when its lease is added in this same
-- call, after expired leases are pruned and the declared limit is checked. Never blocks:
-- waiting happens outside Lua.
-- Each entry taken (its two shapes: rqueues/backend/entries.py):
--   fresh 'j' = msgpack [function, payload, options or nil, job id or nil]: the job id is
--     the 4th item, else ARGV[8] .. the entry id. Its record is written here (state
--     'running'), and a chosen id leaves the ids hash.
--   re-added 'job' = job id: its record (state 'queued') is marked running here.
--   A record that says 'cancelled' is a tombstone: the entry is acknowledged and deleted
--   unrun, no lease taken, the job leaves the tombstones set, and the record gets its
--   result TTL (the job's result_ttl option, else the queue's, else ARGV[7]). A fresh
--   entry's record is looked up only while the tombstones set is not empty (cancel.lua
--   adds every job it cancels while queued): otherwise its record, if any, was written
--   by watch.lua ('queued') and is simply completed. A re-added entry's record in any
--   other state but 'queued' means a stray entry: acknowledged and deleted unrun, the
--   record left as it is.
--   A re-added entry whose record is missing is delivered with its lease as 'missing':
--   the worker dead-letters it (and names a job id that is not UTF-8).
--   Anything else is malformed: moved to the dead letters with the reason.
-- Priority: the level streams (levels.lua) are read first, highest level first, in this
-- same call; a lease's member is the entry id, which names its level.
-- Derived keys: the level streams and the levels hash (levels.lua).
-- KEYS[1] stream, KEYS[2] leases, KEYS[3] config, KEYS[4] events, KEYS[5] dead,
-- KEYS[6] scheduled, KEYS[7] ids, KEYS[8] tombstones
-- ARGV[1] group, ARGV[2] consumer (the worker id, written to each record), ARGV[3] how
-- many wanted, ARGV[4] lease ms, ARGV[5] the config version the caller routed by ('' to
-- skip the check), ARGV[6] job key prefix (rqueues:{q:NAME}:job:), ARGV[7] default
-- result TTL (s), ARGV[8] the prefix of generated job ids (NAME:)
-- Derived keys: ARGV[6] .. job id, the record of each job taken (same hash tag).
-- Flow control, checked before anything is read: a queue whose config says paused=1
-- starts nothing; one with rate_limit N > 0 per rate_window W ms starts at most N jobs in
-- any W ms, over all workers: a sliding-window log, the zset starts (member = entry id,
-- score = start time), trimmed here to the last W ms, so it never holds more than N.
-- Derived keys: starts = KEYS[3] without its 'config' suffix .. 'starts' (same hash tag).
-- Returns {kind, now, due, stream id, events id, then per delivery 8 values: status,
-- entry id, job id, function, payload, attempts, options, enqueued at (ms)} where kind is
--   0  entries claimed (ids ''); status 'run' (started) or 'missing' (no record)
--   1  nothing waiting: block on the stream and the events stream after those ids
--   2  limit reached: block on the events stream after its id (stream id '')
--   3  the queue is no longer declared
--   4  the queue's config is newer than ARGV[5]: re-read it (its tags may exclude the caller)
--   5  paused: block on the events stream after its id (resume adds to it)
--   6  rate limit reached: block on the events stream after its id until the next permit,
--      whose time (ms) follows events id
-- now is the server time (ms); due is when the queue's earliest scheduled job is due (ms), or -1.
-- Under OOM: refused whole before it runs (no flags): nothing new is claimed or started,
-- and no running job's expired-looking lease is pruned.
local function last_id(key)
  local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
  return last[1] and last[1][1] or '0-0'
end

local function ttl_of(value)
  -- An integer number of seconds EXPIRE takes as written, else nil.
  local n = tonumber(value)
  if n and n >= 1 and n < 2147483648 and n == math.floor(n) then return n end
  return nil
end

local function fresh_job(id, blob, generated)
  -- The job of a fresh entry, or nil when it is not one rqueues wrote.
  local ok, v = pcall(cmsgpack.unpack, blob)
  if not ok or type(v) ~= 'table' or type(v[1]) ~= 'string' or v[1] == ''
      or type(v[2]) ~= 'string' or (v[3] ~= nil and type(v[3]) ~= 'string')
      or (v[4] ~= nil and (type(v[4]) ~= 'string' or v[4] == '')) then
    return nil
  end
  return {job = v[4] or generated .. id, fn = v[1], payload = v[2], options = v[3], custom = v[4] ~= nil}
end

local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local config = redis.call('HMGET', KEYS[3], 'concurrency', 'version', 'result_ttl', 'paused',
  'rate_limit', 'rate_window')
if not config[1] then return {3, now, -1, '', ''} end
if ARGV[5] ~= '' and tonumber(config[2] or '0') > tonumber(ARGV[5]) then
  return {4, now, -1, '', ''}
end
local limit = tonumber(config[1])
local first = redis.call('ZRANGE', KEYS[6], 0, 0, 'WITHSCORES')
local due = first[2] and tonumber(first[2]) or -1
if config[4] == '1' then return {5, now, due, '', last_id(KEYS[4])} end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local want = tonumber(ARGV[3])
if limit > 0 then
  local free = limit - redis.call('ZCARD', KEYS[2])
  if free <= 0 then
    return {2, now, due, '', last_id(KEYS[4])}
  end
  if free < want then want = free end
end
local rate, window = tonumber(config[5] or '0') or 0, tonumber(config[6] or '0') or 0
local starts = nil
if rate > 0 and window > 0 then
  starts = string.sub(KEYS[3], 1, -7) .. 'starts'
  redis.call('ZREMRANGEBYSCORE', starts, '-inf', now - window)
  local permits = rate - redis.call('ZCARD', starts)
  if permits <= 0 then
    local oldest = redis.call('ZRANGE', starts, 0, 0, 'WITHSCORES')
    return {6, now, due, '', last_id(KEYS[4]), tonumber(oldest[2]) + window}
  end
  if permits < want then want = permits end
end
-- The priority levels in use, highest first, then the stream itself: up to `want` entries
-- in all, so the cap and the rate are checked once for every level.
local read = {}
local streams = level_streams(KEYS[1])
for _, stream in ipairs(streams) do
  if #read >= want then break end
  local r
  if stream == KEYS[1] then
    r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', want - #read, 'STREAMS',
      stream, '>')
  else  -- a level stream whose group is gone is skipped, not an error
    r = redis.pcall('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', want - #read, 'STREAMS',
      stream, '>')
  end
  if type(r) == 'table' and r[1] then
    for _, entry in ipairs(r[1][2]) do read[#read + 1] = entry end
  end
end
if #read == 0 then
  return {1, now, due, last_id(KEYS[1]), last_id(KEYS[4])}
end
local expiry = now + tonumber(ARGV[4])
local prefix, worker = ARGV[6], ARGV[2]
local out = {0, now, due, '', ''}
local leases, unrun = {}, {}
local marked = redis.call('EXISTS', KEYS[8]) == 1  -- jobs were cancelled while queued

local function deliver(status, id, job, fn, payload, attempts, options, enqueued)
  leases[#leases + 1] = expiry
  leases[#leases + 1] = id
  local n = #out
  out[n + 1], out[n + 2], out[n + 3], out[n + 4] = status, id, job, fn
  out[n + 5], out[n + 6], out[n + 7], out[n + 8] = payload, attempts, options, enqueued
end

local function tombstone(id, job, key, options)
  -- Cancelled while it waited: consumed unrun, the record kept for its result TTL.
  unrun[#unrun + 1] = id
  redis.call('SREM', KEYS[8], job)
  local ttl = nil
  if options then
    local ok, o = pcall(cmsgpack.unpack, options)
    if ok and type(o) == 'table' then ttl = ttl_of(o['result_ttl']) end
  end
  ttl = ttl or ttl_of(config[3]) or ttl_of(ARGV[7])
  if ttl then redis.call('EXPIRE', key, ttl) end
end

for _, entry in ipairs(read) do
  local id, fields = entry[1], entry[2]
  local job = nil
  if fields and #fields == 2 and fields[1] == 'j' then
    job = fresh_job(id, fields[2], ARGV[8])
  elseif fields and #fields == 2 and fields[1] == 'job' then
    job = {job = fields[2]}
  end
  if not job then
    -- Not an entry rqueues wrote: keep it for inspection, never run it.
    local raw = cjson.encode(fields or {})
    redis.call('XADD', KEYS[5], '*', 'job', '', 'entry', id, 'at', now, 'reason',
      'malformed stream entry: expected one field "j" (a job) or "job" (a job id), got ' .. raw)
    unrun[#unrun + 1] = id
  elseif job.fn and not (marked and redis.call('SISMEMBER', KEYS[8], job.job) == 1) then
    -- Fresh, and not cancelled: started here (a 'queued' record was written by watch.lua).
    local key = prefix .. job.job
    local enqueued = string.match(id, '^(%d+)')
    if job.options then  -- one HSET either way
      redis.call('HSET', key, 'state', 'running', 'function', job.fn, 'payload', job.payload,
        'enqueued_at', enqueued, 'started_at', now, 'worker', worker, 'attempts', 1,
        'options', job.options)
    else
      redis.call('HSET', key, 'state', 'running', 'function', job.fn, 'payload', job.payload,
        'enqueued_at', enqueued, 'started_at', now, 'worker', worker, 'attempts', 1)
    end
    if job.custom then redis.call('HDEL', KEYS[7], job.job) end  -- no longer waiting
    deliver('run', id, job.job, job.fn, job.payload, 1, job.options or '', enqueued)
  else
    local key = prefix .. job.job
    local v = redis.call('HMGET', key, 'state', 'attempts', 'options', 'function', 'payload',
      'enqueued_at', 'stop')
    local state = v[1]
    if job.custom then redis.call('HDEL', KEYS[7], job.job) end
    if state == 'cancelled' then
      tombstone(id, job.job, key, v[3])
    elseif job.fn or (state and state ~= 'queued') then
      unrun[#unrun + 1] = id  -- a stray entry of a job that is not waiting
      redis.call('SREM', KEYS[8], job.job)
    elseif state == 'queued' then  -- re-added: the record has the job
      local attempts = tonumber(v[2] or '0') + 1
      redis.call('HSET', key, 'state', 'running', 'started_at', now, 'worker', worker,
        'attempts', attempts)
      if v[7] then redis.call('HDEL', key, 'stop') end
      deliver('run', id, job.job, v[4] or '', v[5] or '', attempts, v[3] or '', v[6] or '')
    else  -- re-added with no record: the worker dead-letters it, naming the reason
      deliver('missing', id, job.job, '', '', 0, '', '')
    end
  end
end
for _, id in ipairs(unrun) do  -- few: tombstones, strays and malformed entries
  local stream = stream_of(KEYS[1], id)
  redis.call('XACK', stream, ARGV[1], id)
  redis.call('XDEL', stream, id)
end
for i = 1, #leases, 1000 do
  redis.call('ZADD', KEYS[2], unpack(leases, i, math.min(i + 999, #leases)))
end
if starts and #leases > 0 then  -- each delivery counts against the rate, at this call's time
  local log = {}
  for i = 2, #leases, 2 do log[#log + 1] = now; log[#log + 1] = leases[i] end
  for i = 1, #log, 1000 do redis.call('ZADD', starts, unpack(log, i, math.min(i + 999, #log))) end
  redis.call('PEXPIRE', starts, window)
end
return out
