-- Not a script: unique jobs and dependencies (rqueues/backend/dependencies.py). The
-- loader puts these functions, after the constants, into the scripts that admit a job
-- (enqueue.lua, requeue.lua) or see one reach a final state (complete.lua, cancel.lua,
-- deadletter.lua, giveback.lua, purge.lua, resolve.lua).
-- Derived keys: flow_base(k) is 'PREFIX:{q:NAME}' of any key k of a queue, so
--   base .. ':unique'    hash, unique key -> the job holding it
--   base .. ':deferred'  zset, the jobs waiting for their parents
--   base .. ':notify'    zset, the finished jobs whose dependents are not yet told
-- share the queue's hash tag (its slot).
-- A job's unique key is in its options blob ('unique_key'), in its fresh entry and in its
-- record alike: a claim copies the options to the record, so no script writes it apart.
-- A job has dependents when its record has 'dependents' (depend.lua appends them).
local function flow_base(key)
  return string.match(key, '^(.-{q:[^}]*})')
end

local function flow_unique_of(options)
  -- The unique key in an options blob, or nil.
  if not options or options == '' then return nil end
  local ok, o = pcall(cmsgpack.unpack, options)
  if ok and type(o) == 'table' and type(o['unique_key']) == 'string' then return o['unique_key'] end
  return nil
end

local flow_unique_live = nil  -- whether the queue holds unique keys: read once per call

local function flow_release(base, job, options)
  -- Release the unique key in `options` when `job` still holds it.
  local hash = base .. ':unique'
  if flow_unique_live == nil then flow_unique_live = redis.call('EXISTS', hash) == 1 end
  if not flow_unique_live then return end
  local unique = flow_unique_of(options)
  if unique and redis.call('HGET', hash, unique) == job then redis.call('HDEL', hash, unique) end
end

local function flow_final(base, key, job, now, has_dependents)
  -- The job of record `key` reached a final state: its unique key is released, and when
  -- it has dependents (nil: look) it is noted for the notifier. True when noted.
  if flow_unique_live == nil then flow_unique_live = redis.call('EXISTS', base .. ':unique') == 1 end
  if flow_unique_live then flow_release(base, job, redis.call('HGET', key, 'options')) end
  if has_dependents == nil then has_dependents = redis.call('HEXISTS', key, 'dependents') == 1 end
  if has_dependents then redis.call('ZADD', base .. ':notify', 'NX', now, job) end
  return has_dependents
end

local function flow_holder(base, unique)
  -- The job holding `unique` ('' or nil: none asked), or nil.
  if not unique or unique == '' then return nil end
  local holder = redis.call('HGET', base .. ':unique', unique)
  return holder or nil
end

local function flow_take(base, unique, job)
  if unique and unique ~= '' then
    redis.call('HSET', base .. ':unique', unique, job)
    flow_unique_live = true
  end
end

local function flow_defer(base, key, job, now, deps)
  -- A dependent waits for its parents (deps: JSON {parents = [[queue, id], ...],
  -- allow_failure = bool}) in its record, state 'deferred', and in the deferred zset.
  local d = cjson.decode(deps)
  redis.call('HSET', key, 'state', 'deferred', 'parents', cjson.encode(d['parents']),
    'waiting', #d['parents'])
  if d['allow_failure'] == true then redis.call('HSET', key, 'allow_failure', 1) end
  redis.call('ZADD', base .. ':deferred', now, job)
end
