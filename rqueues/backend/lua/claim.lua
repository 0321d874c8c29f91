#!lua
-- Take up to N new entries from a queue together with their leases, atomically.
-- The lease semaphore is the zset KEYS[2], one member per delivery (the stream entry
-- id, never the job id: a renewal, completion or give-back names the delivery it
-- acts on). An entry is delivered only when its lease is added in this same call,
-- after expired leases are pruned and the declared limit is checked. Never blocks:
-- waiting happens outside Lua.
-- KEYS[1] stream, KEYS[2] leases, KEYS[3] config, KEYS[4] events, KEYS[5] dead,
-- KEYS[6] scheduled
-- ARGV[1] group, ARGV[2] consumer, ARGV[3] how many wanted, ARGV[4] lease ms,
-- ARGV[5] the config version the caller routed by ('' to skip the check)
-- Returns {kind, now, due, stream id, events id, entry id, job id, ...} where kind is
--   0  entries claimed, each with a lease (ids '')
--   1  nothing waiting: block on the stream and the events stream after those ids
--   2  limit reached: block on the events stream after its id (stream id '')
--   3  the queue is no longer declared
--   4  the queue's config is newer than ARGV[5]: re-read it (its tags may exclude the caller)
-- now is the server time (ms); due is when the queue's earliest scheduled job is due (ms), or -1.
-- Under OOM: refused whole before it runs (no flags): nothing new is claimed, and no
-- running job's expired-looking lease is pruned.
local function last_id(key)
  local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
  return last[1] and last[1][1] or '0-0'
end

local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local config = redis.call('HMGET', KEYS[3], 'concurrency', 'version')
if not config[1] then return {3, now, -1, '', ''} end
if ARGV[5] ~= '' and tonumber(config[2] or '0') > tonumber(ARGV[5]) then
  return {4, now, -1, '', ''}
end
local limit = tonumber(config[1])
local first = redis.call('ZRANGE', KEYS[6], 0, 0, 'WITHSCORES')
local due = first[2] and tonumber(first[2]) or -1
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local want = tonumber(ARGV[3])
if limit > 0 then
  local free = limit - redis.call('ZCARD', KEYS[2])
  if free <= 0 then
    return {2, now, due, '', last_id(KEYS[4])}
  end
  if free < want then want = free end
end
local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', want,
  'STREAMS', KEYS[1], '>')
if not r or not r[1] or #r[1][2] == 0 then
  return {1, now, due, last_id(KEYS[1]), last_id(KEYS[4])}
end
local expiry = now + tonumber(ARGV[4])
local out = {0, now, due, '', ''}
local leases = {}
for _, entry in ipairs(r[1][2]) do
  local id, fields = entry[1], entry[2]
  if fields and #fields == 2 and fields[1] == 'job' then
    leases[#leases + 1] = expiry
    leases[#leases + 1] = id
    out[#out + 1] = id
    out[#out + 1] = fields[2]
  else
    -- Not an entry rqueues wrote: keep it for inspection, never run it.
    local raw = cjson.encode(fields or {})
    redis.call('XADD', KEYS[5], '*', 'job', '', 'entry', id, 'at', now,
      'reason', 'malformed stream entry: expected one field "job", got ' .. raw)
    redis.call('XACK', KEYS[1], ARGV[1], id)
    redis.call('XDEL', KEYS[1], id)
  end
end
for i = 1, #leases, 1000 do  -- slices stay below Lua's unpack limit
  redis.call('ZADD', KEYS[2], unpack(leases, i, math.min(i + 999, #leases)))
end
return out
