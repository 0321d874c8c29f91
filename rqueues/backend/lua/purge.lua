#!lua flags=allow-oom
-- Drop up to ARGV[2] waiting jobs (entries after the group's last delivered one)
-- and up to ARGV[2] scheduled jobs of a queue, with their records. The group is
-- moved past the dropped entries with its entries-read counter kept exact, and
-- only then are they deleted, so XINFO GROUPS lag stays valid (KEDA). Delivered
-- jobs (running, or pending on a dead worker) are never touched. Call it again
-- while it reports more.
-- KEYS[1] stream, KEYS[2] scheduled, KEYS[3] events
-- ARGV[1] group, ARGV[2] batch size, ARGV[3] job key prefix (rqueues:{q:NAME}:job:)
-- Derived keys: ARGV[3] .. job id, the record of each dropped job (same hash tag).
-- Returns {waiting dropped, scheduled dropped, 1 when more may remain else 0}.
-- Under OOM: allowed (flags=allow-oom): it only frees memory, which is when an
-- operator needs it most.
local batch = tonumber(ARGV[2])

local function drop_record(job)
  local key = ARGV[3] .. job
  local state = redis.call('HGET', key, 'state')
  if state == 'queued' or state == 'scheduled' then
    if redis.call('HEXISTS', key, 'watched') == 1 then
      redis.call('XADD', KEYS[3], 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'job', job)
    end
    redis.call('DEL', key)
  end
end

local waiting = 0
local last, read = nil, nil
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  if info['name'] == ARGV[1] then
    last, read = info['last-delivered-id'], info['entries-read']
  end
end
if last then
  local entries = redis.call('XRANGE', KEYS[1], '(' .. last, '+', 'COUNT', batch)
  if #entries > 0 then
    local ids = {}
    for _, entry in ipairs(entries) do
      ids[#ids + 1] = entry[1]
      local fields = entry[2]
      for i = 1, #fields, 2 do
        if fields[i] == 'job' then drop_record(fields[i + 1]) end
      end
    end
    local newest = ids[#ids]
    if type(read) == 'number' then
      redis.call('XGROUP', 'SETID', KEYS[1], ARGV[1], newest, 'ENTRIESREAD', read + #ids)
    else
      redis.call('XGROUP', 'SETID', KEYS[1], ARGV[1], newest)
    end
    for i = 1, #ids, 1000 do  -- slices stay below Lua's unpack limit
      redis.call('XDEL', KEYS[1], unpack(ids, i, math.min(i + 999, #ids)))
    end
    waiting = #ids
  end
end

local due = redis.call('ZRANGE', KEYS[2], 0, batch - 1)
for _, job in ipairs(due) do drop_record(job) end
for i = 1, #due, 1000 do
  redis.call('ZREM', KEYS[2], unpack(due, i, math.min(i + 999, #due)))
end
local more = 0
if waiting == batch or #due == batch then more = 1 end
return {waiting, #due, more}
