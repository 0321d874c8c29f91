#!lua
-- Register a dependent with its parent, on the parent's queue, atomically with reading the
-- parent's state: a parent that reaches a final state after this call notes itself for the
-- notifier (flow_final, flow.lua) and so tells the dependent; one already final is
-- answered with its state and the caller tells the dependent itself.
-- A parent that waits in a fresh entry alone (rqueues/backend/entries.py) gets a record
-- here, state 'queued' from the entry, to carry its dependents (as watch.lua does for
-- the watched flag): the claim that takes the entry completes it.
-- KEYS[1] parent job hash, KEYS[2] stream, KEYS[3] ids
-- Derived keys: the queue's flagged set (complete.lua), from KEYS[1]'s hash tag.
-- ARGV[1] parent job id, ARGV[2] the entry id a generated parent id names ('' for a
-- chosen id: the ids hash maps it to its entry), ARGV[3] the dependent's queue,
-- ARGV[4] the dependent's job id
-- Returns {state}: the parent's state ('missing' when there is no such job); the dependent
-- is registered unless that state is final or 'missing'.
-- Under OOM: refused whole before it runs (no flags): it is part of an enqueue.
local function waiting_fresh(job)
  -- The fresh entry a job waits in alone: its id and its decoded value, or nil.
  local entry = ARGV[2]
  if entry == '' then
    entry = redis.call('HGET', KEYS[3], job)
    if not entry then return nil end
  end
  local found = redis.call('XRANGE', stream_of(KEYS[2], entry), entry, entry)  -- its level's
  if not found[1] or found[1][2][1] ~= 'j' then return nil end
  local ok, v = pcall(cmsgpack.unpack, found[1][2][2])
  if not ok or type(v) ~= 'table' or (ARGV[2] == '') ~= (v[4] == job) then return nil end
  return entry, v
end

local final = {succeeded = true, failed = true, cancelled = true, dead = true}
local v = redis.call('HMGET', KEYS[1], 'state', 'dependents')
local state = v[1]
if not state then
  local entry, job = waiting_fresh(ARGV[1])
  if not entry then return {'missing'} end
  state = 'queued'
  redis.call('HSET', KEYS[1], 'state', state, 'function', job[1], 'payload', job[2],
    'enqueued_at', string.match(entry, '^(%d+)'))
  if job[3] then redis.call('HSET', KEYS[1], 'options', job[3]) end
end
if final[state] then return {state} end
local dependents = v[2] and cjson.decode(v[2]) or {}
for _, d in ipairs(dependents) do
  if d[1] == ARGV[3] and d[2] == ARGV[4] then return {state} end
end
dependents[#dependents + 1] = {ARGV[3], ARGV[4]}
redis.call('HSET', KEYS[1], 'dependents', cjson.encode(dependents))
-- complete.lua reads the records of flagged jobs only: this one now has dependents to tell.
redis.call('SADD', string.match(KEYS[1], '^(.-{q:[^}]*})') .. ':flagged', ARGV[1])
return {state}
