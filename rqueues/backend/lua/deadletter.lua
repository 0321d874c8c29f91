#!lua flags=allow-oom
-- Move claimed entries to the dead letters with a reason, acknowledge them and
-- release their leases (the entry ids). Only deliveries still pending are moved.
-- Every release wakes waiters: on a capped queue, and for a watched job, the events
-- stream gets an entry, as complete.lua adds one.
-- KEYS[1] stream, KEYS[2] leases, KEYS[3] dead, KEYS[4] events, KEYS[5] config,
-- KEYS[6..] job hashes
-- ARGV[1] group; then per job 3 values: entry id, job id, reason
-- A dead job releases its unique key and, with dependents, is noted for the notifier
-- (flow_final, flow.lua; the reaper's sweep tells them).
-- Derived keys: the queue's unique hash and notify zset (flow.lua).
-- Returns the number of entries dead-lettered.
-- Under OOM: allowed (flags=allow-oom): it settles work already taken and frees its lease.
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local capped = tonumber(redis.call('HGET', KEYS[5], 'concurrency') or '0') > 0
local done = 0
for i = 6, #KEYS do
  local a = (i - 6) * 3 + 1
  local entry, job, reason = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local key = KEYS[i]
  local stream = stream_of(KEYS[1], entry)  -- the queue's or a priority level's
  if redis.call('XACK', stream, ARGV[1], entry) == 1 then
    done = done + 1
    redis.call('XDEL', stream, entry)
    redis.call('ZREM', KEYS[2], entry)
    local dead = redis.call('XADD', KEYS[3], '*', 'job', job, 'entry', entry, 'at', now, 'reason', reason)
    local watched = false
    if redis.call('EXISTS', key) == 1 then
      redis.call('HSET', key, 'state', 'dead', 'finished_at', now, 'reason', reason, 'dead_entry', dead)
      redis.call('PERSIST', key)
      flow_final(flow_base(KEYS[1]), key, job, now)
      watched = redis.call('HEXISTS', key, 'watched') == 1
    end
    if watched or capped then
      redis.call('XADD', KEYS[4], 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'job', job)
    end
  end
end
return done
