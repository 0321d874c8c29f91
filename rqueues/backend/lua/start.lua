#!lua
-- Mark claimed jobs as running and return what is needed to run them.
-- KEYS[1..] job hashes
-- ARGV[1] worker id
-- Returns per job 6 values: status, function, payload, attempts, options, enqueued at (ms)
--   status 'run'     the job was queued and is now running
--          'missing' no record (expired or deleted): the caller dead-letters the entry
--          <state>   any other state (e.g. cancelled): the caller acknowledges without running
-- Under OOM: refused whole before it runs (no flags): it starts new work. Claims are
-- refused first; a delivery claimed just before memory ran out is handed back by its worker.
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local out = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local v = redis.call('HMGET', key, 'state', 'function', 'payload', 'options', 'enqueued_at',
    'attempts', 'stop')
  if v[1] == 'queued' then
    local attempts = tonumber(v[6] or '0') + 1
    redis.call('HSET', key, 'state', 'running', 'started_at', now, 'worker', ARGV[1],
      'attempts', attempts)
    if v[7] then redis.call('HDEL', key, 'stop') end
    out[#out + 1] = 'run'
    out[#out + 1] = v[2]
    out[#out + 1] = v[3]
    out[#out + 1] = attempts
    out[#out + 1] = v[4] or ''
    out[#out + 1] = v[5] or ''
  else
    out[#out + 1] = v[1] or 'missing'
    for _ = 1, 5 do out[#out + 1] = '' end
  end
end
return out
