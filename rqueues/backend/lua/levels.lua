-- Priority levels (prepended to every script; see rqueues/backend/levels.py). Level 0 is
-- the queue's stream itself; level L in 1..9 (JobOptions.priority) is the stream
-- STREAM .. ':pL', and level 10 (RETURNED) the stream of jobs given back after their
-- worker died or stopped, read before all others. Same hash tag, so same slot. An entry
-- of a level stream is added with an explicit id whose sequence part is L * 10^18 + n
-- (19 or 20 digits; a stream's own sequences stay far below), so an entry id, and the
-- lease member and generated job id made of it, names its stream. The hash
-- STREAM without 'stream' .. 'levels' maps each level in use to the last id it added.
local RETURNED = 10

local function level_of(id)
  local seq = string.match(id, '^%d+%-(%d+)$')
  if not seq or #seq < 19 then return 0 end
  return tonumber(string.sub(seq, 1, #seq - 18)) or 0
end

local function level_stream(stream, level)
  if level == 0 then return stream end
  return stream .. ':p' .. level
end

local function stream_of(stream, id)
  return level_stream(stream, level_of(id))
end

local function levels_key(stream)
  return string.sub(stream, 1, -7) .. 'levels'
end

local function option_level(options)
  -- The priority a job's options blob (msgpack map) names, else 0.
  if not options or options == '' then return 0 end
  local ok, o = pcall(cmsgpack.unpack, options)
  if not ok or type(o) ~= 'table' then return 0 end
  local p = tonumber(o['priority'])
  if p and p >= 1 and p <= 9 and p == math.floor(p) then return p end
  return 0
end

local function level_add(stream, level, field, value)
  -- Add one entry at a level (0: the stream, id '*'); a level stream and its group are
  -- created the first time the level is used. A level other than 0 writes a wake-up to
  -- the events stream (STREAM without 'stream' .. 'events'): workers block on the base
  -- stream and the events stream only. Returns the entry id.
  if level == 0 then return redis.call('XADD', stream, '*', field, value) end
  local key, lk = level_stream(stream, level), levels_key(stream)
  local t = redis.call('TIME')
  local ms, n = t[1] * 1000 + math.floor(t[2] / 1000), 0
  local last = redis.call('HGET', lk, level)
  if last then
    local lms, lseq = string.match(last, '^(%d+)%-(%d+)$')
    lms = tonumber(lms)
    if lms >= ms then ms, n = lms, tonumber(string.sub(lseq, -18)) + 1 end
  else
    redis.pcall('XGROUP', 'CREATE', key, GROUP, '0', 'MKSTREAM')
  end
  local id = string.format('%d-%d%018d', ms, level, n)
  redis.call('XADD', key, id, field, value)
  redis.call('HSET', lk, level, id)
  redis.call('XADD', string.sub(stream, 1, -7) .. 'events', 'MAXLEN', '~', EVENTS_MAXLEN, '*',
    'queued', level)
  return id
end

local function level_streams(stream)
  -- Every stream of the queue, the one to read first first: RETURNED, 9..1, then 0.
  local levels = {}
  for _, l in ipairs(redis.call('HKEYS', levels_key(stream))) do
    local n = tonumber(l)
    if n and n > 0 then levels[#levels + 1] = n end
  end
  table.sort(levels, function(a, b) return a > b end)
  local out = {}
  for _, l in ipairs(levels) do out[#out + 1] = level_stream(stream, l) end
  out[#out + 1] = stream
  return out
end
