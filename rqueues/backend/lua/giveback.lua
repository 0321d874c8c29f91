#!lua flags=allow-oom
-- Give jobs a worker no longer runs back to their queue as new stream entries, in
-- one atomic step per delivery: acknowledge it, release its lease (the entry id), add
-- a new entry. Used for the jobs of dead workers (counted as reclaims; past the limit
-- the job is dead-lettered) and for a stopping worker's hand-back (not counted).
-- Only a job whose record is 'running' or 'queued' comes back: the leftover delivery
-- of a cancelled or finished job is acknowledged and dropped. Only a delivery that
-- started ('running') counts a reclaim and records the interrupted attempt's error,
-- under that attempt's number and never over an error already recorded there; one
-- delivered but never started goes back as it was: a 'queued' record, or a fresh
-- entry with no record (read by something other than claim.lua, which starts what
-- it takes), whose job gets its record here (state 'queued', from the entry).
-- The new entry is always the re-added shape, 'job' = job id (see
-- rqueues/backend/entries.py): the record holds the job. It goes to the RETURNED level's
-- stream (levels.lua), which every claim reads first: a job given back keeps its place
-- ahead of the jobs enqueued after it, whatever their priority.
-- Derived keys: the level streams and the levels hash (levels.lua).
-- KEYS[1] stream, KEYS[2] leases, KEYS[3] dead, KEYS[4] events, KEYS[5] config,
-- KEYS[6] ids, KEYS[7] tombstones (a cancelled job's leftover leaves it), KEYS[8..] job hashes
-- ARGV[1] group, ARGV[2] 1 to count a reclaim, 0 for a hand-back, ARGV[3] max reclaims,
-- ARGV[4] reason, ARGV[5] the error recorded for the interrupted attempt (msgpack);
-- then per job 2 values: entry id, job id
-- A job dead-lettered here releases its unique key and, with dependents, is noted for
-- the notifier (flow_final, flow.lua); a job given back keeps both.
-- Derived keys: the queue's unique hash and notify zset (flow.lua).
-- Returns per job: 'queued', 'dead', 'dropped' (the job was no longer running or
-- queued), or 'gone' (the delivery was no longer pending, or the job is nowhere: no
-- record, and no fresh entry to read it from).
-- Under OOM: allowed (flags=allow-oom): it releases leases; a stopping worker must be
-- able to hand its jobs back.
local function record_fresh(key, entry, job)
  -- A fresh entry delivered but never started holds its job: the record is written from it.
  local found = redis.call('XRANGE', stream_of(KEYS[1], entry), entry, entry)
  if not found[1] or found[1][2][1] ~= 'j' then return end
  local ok, v = pcall(cmsgpack.unpack, found[1][2][2])
  -- The job is the 4th item's, else its id was generated from the entry (NAME:ENTRY).
  local generated = string.sub(job, -(#entry + 1)) == ':' .. entry
  if not ok or type(v) ~= 'table' or type(v[1]) ~= 'string' or type(v[2]) ~= 'string'
      or (v[4] == nil) ~= generated or (v[4] ~= nil and v[4] ~= job) then
    return
  end
  redis.call('HSET', key, 'state', 'queued', 'function', v[1], 'payload', v[2],
    'enqueued_at', string.match(entry, '^(%d+)'))
  if type(v[3]) == 'string' then redis.call('HSET', key, 'options', v[3]) end
  if v[4] then redis.call('HDEL', KEYS[6], v[4]) end  -- no longer waiting under its own id
end

local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local count, max = ARGV[2] == '1', tonumber(ARGV[3])
local capped = tonumber(redis.call('HGET', KEYS[5], 'concurrency') or '0') > 0
local out = {}
for i = 8, #KEYS do
  local a = (i - 8) * 2 + 5
  local entry, job = ARGV[a + 1], ARGV[a + 2]
  local key = KEYS[i]
  local stream = stream_of(KEYS[1], entry)  -- the queue's or a priority level's
  if redis.call('XACK', stream, ARGV[1], entry) == 0 then
    out[#out + 1] = 'gone'
  else
    if redis.call('EXISTS', key) == 0 then record_fresh(key, entry, job) end
    redis.call('XDEL', stream, entry)
    redis.call('ZREM', KEYS[2], entry)
    local v = redis.call('HMGET', key, 'state', 'attempts')
    local state = v[1]
    local reclaims = 0
    if state == 'running' and count then
      reclaims = redis.call('HINCRBY', key, 'reclaims', 1)
      redis.call('HSETNX', key, 'error.' .. (v[2] or '0'), ARGV[5])
    end
    if not state then
      out[#out + 1] = 'gone'
    elseif state ~= 'running' and state ~= 'queued' then
      if state == 'cancelled' then redis.call('SREM', KEYS[7], job) end
      out[#out + 1] = 'dropped'
    elseif reclaims > max then
      local reason = ARGV[4] .. '; reclaimed ' .. reclaims .. ' times (max_reclaims ' .. max .. ')'
      local dead = redis.call('XADD', KEYS[3], '*', 'job', job, 'entry', entry, 'at', now, 'reason', reason)
      redis.call('HSET', key, 'state', 'dead', 'finished_at', now, 'reason', reason, 'dead_entry', dead)
      flow_final(flow_base(KEYS[1]), key, job, now)
      if redis.call('HEXISTS', key, 'watched') == 1 then
        redis.call('XADD', KEYS[4], 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'job', job)
      end
      out[#out + 1] = 'dead'
    else
      redis.call('HSET', key, 'state', 'queued')
      level_add(KEYS[1], RETURNED, 'job', job)  -- ahead of every job waiting
      out[#out + 1] = 'queued'
    end
    if capped then
      redis.call('XADD', KEYS[4], 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'released', job)
    end
  end
end
return out
