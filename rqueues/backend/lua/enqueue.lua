#!lua
-- Add jobs to a declared queue. A job to run now is one fresh stream entry and nothing
-- else: 'j' = msgpack [function, payload, options or nil, job id or nil] (see
-- rqueues/backend/entries.py); its id is the entry id unless the caller chose one,
-- which the ids hash then maps to the entry until a claim starts the job. A job with a
-- due time gets a record (state 'scheduled') and an entry in the scheduled set, and an
-- entry in the events stream, so idle workers learn its due time. A job with parents
-- gets a record (state 'deferred') and an entry in the deferred zset (flow_defer,
-- flow.lua). A job with a unique key that another job holds is not added: its reply is
-- '!' .. the holder's id; otherwise it takes the key (flow_take).
-- KEYS[1] config hash, KEYS[2] stream, KEYS[3] scheduled, KEYS[4] events, KEYS[5] ids
-- ARGV[1] job key prefix (rqueues:{q:NAME}:job:), ARGV[2] the prefix of generated job ids
--         (NAME:); then per job 6 values: job id ('' to take the entry id), entry value
--         (msgpack), delay in ms ('' or 0 to run now), unique key ('' for none, else
--         '=' .. key to reply the holder, '!' .. key to refuse the whole call while the
--         key is held), parents ('' or JSON, see flow_defer), priority level ('' or 0..9:
--         a job to run now at a level > 0 goes to that level's stream, level_add)
-- Derived keys: the level streams and the levels hash (levels.lua); ARGV[1] .. job id, the record of a scheduled or deferred job and of a
--         chosen id (checked: it must not exist); the unique hash and the deferred zset
--         (flow.lua).
-- Returns the stream entry ids ('' for a scheduled or deferred job, '!' .. job id for a
--         job whose unique key that job holds), or an error: NOQUEUE (queue
--         not declared), DUPLICATE <job id> (a job with that id is queued or has a
--         record; nothing written), UNIQUE <holder id> <key> (a '!' key is held; nothing
--         written).
-- Under OOM: refused whole before it runs (no flags): nothing new is enqueued, and the
-- caller gets RedisOutOfMemory.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('NOQUEUE')
end
local prefix, STRIDE = ARGV[1], 6
local base = flow_base(KEYS[1])
for a = 3, #ARGV, STRIDE do
  local job = ARGV[a]
  if job ~= '' and (redis.call('HEXISTS', KEYS[5], job) == 1
      or redis.call('EXISTS', prefix .. job) == 1) then
    return redis.error_reply('DUPLICATE ' .. job)
  end
  if string.sub(ARGV[a + 3], 1, 1) == '!' then
    local key = string.sub(ARGV[a + 3], 2)
    local holder = flow_holder(base, key)
    if holder then return redis.error_reply('UNIQUE ' .. holder .. ' ' .. key) end
  end
end
local now = nil
local ids = {}
for a = 3, #ARGV, STRIDE do
  local job, blob, due = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2]) or 0
  local unique, deps = string.sub(ARGV[a + 3], 2), ARGV[a + 4]
  local holder = flow_holder(base, unique)
  if holder then
    ids[#ids + 1] = '!' .. holder
  elseif due > 0 or deps ~= '' then
    if not now then
      local t = redis.call('TIME')
      now = t[1] * 1000 + math.floor(t[2] / 1000)
    end
    local v = cmsgpack.unpack(blob)
    local key = prefix .. job
    redis.call('HSET', key, 'function', v[1], 'payload', v[2], 'enqueued_at', now, 'state', 'scheduled')
    if v[3] then redis.call('HSET', key, 'options', v[3]) end
    if deps ~= '' then
      flow_defer(base, key, job, now, deps)
    else
      redis.call('ZADD', KEYS[3], now + due, job)
      redis.call('XADD', KEYS[4], 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'scheduled', job)
    end
    flow_take(base, unique, job)
    ids[#ids + 1] = ''
  else
    local level = tonumber(ARGV[a + 5]) or 0
    if level < 0 or level > 9 or level ~= math.floor(level) then level = 0 end
    local entry = level_add(KEYS[2], level, 'j', blob)
    if job ~= '' then redis.call('HSET', KEYS[5], job, entry) end
    flow_take(base, unique, job ~= '' and job or ARGV[2] .. entry)
    ids[#ids + 1] = entry
  end
end
return ids
