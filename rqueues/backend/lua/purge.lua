#!lua flags=allow-oom
-- Drop up to ARGV[2] waiting jobs (entries after the group's last delivered one)
-- and up to ARGV[2] scheduled jobs of a queue, with what they keep besides their
-- entry: a fresh entry's chosen id in the ids hash, and a record that says 'queued'
-- (a watched or re-added job), 'cancelled' (a tombstone) or 'scheduled'. The group
-- is moved past the dropped entries with its entries-read counter kept exact, and
-- only then are they deleted, so XINFO GROUPS lag stays valid (KEDA). Delivered
-- jobs (running, or pending on a dead worker) are never touched. Call it again
-- while it reports more. Deferred jobs (waiting for their parents) are dropped with the
-- scheduled ones. A dropped job releases its unique key; one with dependents keeps its
-- record, state 'cancelled' (reason 'purged'), and is noted for the notifier, so its
-- dependents hear of it (flow.lua).
-- KEYS[1] stream, KEYS[2] scheduled, KEYS[3] events, KEYS[4] ids, KEYS[5] tombstones
-- ARGV[1] group, ARGV[2] batch size, ARGV[3] job key prefix (rqueues:{q:NAME}:job:),
-- ARGV[4] the prefix of generated job ids (NAME:)
-- Derived keys: the level streams and the levels hash (levels.lua); ARGV[3] .. job id, the record of each dropped job (same hash tag); the
-- queue's unique hash, deferred and notify zsets and cancelled finished index (flow.lua).
-- Returns {waiting dropped, scheduled and deferred dropped, 1 when more may remain else 0}.
-- Under OOM: allowed (flags=allow-oom): it only frees memory, which is when an
-- operator needs it most.
local batch = tonumber(ARGV[2])
local base = flow_base(KEYS[1])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)

local function drop_record(job)
  local key = ARGV[3] .. job
  local state = redis.call('HGET', key, 'state')
  if state == 'cancelled' then redis.call('SREM', KEYS[5], job) end
  if state == 'queued' or state == 'scheduled' or state == 'cancelled' or state == 'deferred' then
    if state ~= 'cancelled' and redis.call('HEXISTS', key, 'watched') == 1 then
      redis.call('XADD', KEYS[3], 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'job', job)
    end
    if state ~= 'cancelled' and redis.call('HEXISTS', key, 'dependents') == 1 then
      redis.call('HSET', key, 'state', 'cancelled', 'finished_at', now, 'reason', 'purged')
      redis.call('EXPIRE', key, RESULT_TTL)
      flow_final(base, key, job, now, true)
      index_finished(base .. ':finished:cancelled', now, RESULT_TTL, {job})
    else
      if state ~= 'cancelled' then flow_release(base, job, redis.call('HGET', key, 'options')) end
      redis.call('DEL', key)
    end
  end
end

local function job_of(id, fields)
  -- The job id of an entry (its two shapes: rqueues/backend/entries.py), or nil.
  if #fields ~= 2 then return nil end
  if fields[1] == 'job' then return fields[2] end
  if fields[1] ~= 'j' then return nil end
  local ok, v = pcall(cmsgpack.unpack, fields[2])
  if not ok or type(v) ~= 'table' then return nil end
  local job = ARGV[4] .. id
  if type(v[4]) == 'string' then
    redis.call('HDEL', KEYS[4], v[4])
    job = v[4]
  end
  if type(v[3]) == 'string' then flow_release(base, job, v[3]) end
  return job
end

local waiting = 0
for _, stream in ipairs(level_streams(KEYS[1])) do  -- every priority level's too (levels.lua)
  local last, read = nil, nil
  local groups = redis.pcall('XINFO', 'GROUPS', stream)
  if type(groups) ~= 'table' or groups.err then groups = {} end
  for _, g in ipairs(groups) do
    local info = {}
    for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
    if info['name'] == ARGV[1] then
      last, read = info['last-delivered-id'], info['entries-read']
    end
  end
  if last and waiting < batch then
    local entries = redis.call('XRANGE', stream, '(' .. last, '+', 'COUNT', batch - waiting)
    if #entries > 0 then
      local ids = {}
      for _, entry in ipairs(entries) do
        ids[#ids + 1] = entry[1]
        local job = job_of(entry[1], entry[2])
        if job then drop_record(job) end
      end
      local newest = ids[#ids]
      if type(read) == 'number' then
        redis.call('XGROUP', 'SETID', stream, ARGV[1], newest, 'ENTRIESREAD', read + #ids)
      else
        redis.call('XGROUP', 'SETID', stream, ARGV[1], newest)
      end
      for i = 1, #ids, 1000 do  -- slices stay below Lua's unpack limit
        redis.call('XDEL', stream, unpack(ids, i, math.min(i + 999, #ids)))
      end
      waiting = waiting + #ids
    end
  end
end

local due = redis.call('ZRANGE', KEYS[2], 0, batch - 1)
for _, job in ipairs(due) do drop_record(job) end
for i = 1, #due, 1000 do
  redis.call('ZREM', KEYS[2], unpack(due, i, math.min(i + 999, #due)))
end
local deferred = redis.call('ZRANGE', base .. ':deferred', 0, batch - 1)
for _, job in ipairs(deferred) do drop_record(job) end
for i = 1, #deferred, 1000 do
  redis.call('ZREM', base .. ':deferred', unpack(deferred, i, math.min(i + 999, #deferred)))
end
local more = 0
if waiting == batch or #due == batch or #deferred == batch then more = 1 end
return {waiting, #due + #deferred, more}
