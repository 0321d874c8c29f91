#!lua flags=allow-oom
-- Register interest in a job's completion and read its state, atomically, so
-- that a completion after this call always adds an entry to the events stream.
-- A job that waits in a fresh entry alone (rqueues/backend/entries.py) has no
-- record to carry the flag: it gets one here, state 'queued' with the entry's
-- function, payload and options, which the claim that takes the entry then
-- completes (claim.lua runs a fresh entry whose record says 'queued').
-- A job not finished yet joins the flagged set, so complete.lua reads its record.
-- KEYS[1] job hash, KEYS[2] events, KEYS[3] stream, KEYS[4] ids, KEYS[5] flagged
-- ARGV[1] job id, ARGV[2] the entry id a generated job id names ('' for a chosen id:
-- the ids hash maps it to its entry)
-- Returns {state, last events id}, or {} when the job does not exist.
-- Under OOM: allowed (flags=allow-oom): it adds one flag to a record (or a small record
-- for a job that waits in its entry alone), so a waiter still sees the completions that
-- go through while Redis refuses new work.
local function waiting_fresh(job)
  -- The fresh entry a job waits in alone: its id and its decoded value, or nil.
  local entry = ARGV[2]
  if entry == '' then
    entry = redis.call('HGET', KEYS[4], job)
    if not entry then return nil end
  end
  local found = redis.call('XRANGE', stream_of(KEYS[3], entry), entry, entry)  -- its level's
  if not found[1] or found[1][2][1] ~= 'j' then return nil end
  local ok, v = pcall(cmsgpack.unpack, found[1][2][2])
  -- A generated id names an entry without a chosen id; a chosen id is the 4th item.
  if not ok or type(v) ~= 'table' or (ARGV[2] == '') ~= (v[4] == job) then return nil end
  return entry, v
end

local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  local entry, job = waiting_fresh(ARGV[1])
  if not entry then return {} end
  state = 'queued'
  redis.call('HSET', KEYS[1], 'state', state, 'function', job[1], 'payload', job[2],
    'enqueued_at', string.match(entry, '^(%d+)'))
  if job[3] then redis.call('HSET', KEYS[1], 'options', job[3]) end
end
redis.call('HSET', KEYS[1], 'watched', 1)
if state == 'queued' or state == 'running' or state == 'scheduled' then
  redis.call('SADD', KEYS[5], ARGV[1])
end
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
return {state, last[1] and last[1][1] or '0-0'}
