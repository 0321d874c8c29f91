-- Move claimed entries to the dead letters with a reason, acknowledge them and
-- release their leases. Only deliveries still pending are moved.
-- KEYS[1] stream, KEYS[2] leases, KEYS[3] dead, KEYS[4] events, KEYS[5..] job hashes
-- ARGV[1] group; then per job 3 values: entry id, job id, reason
-- Returns the number of entries dead-lettered.
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local done = 0
for i = 5, #KEYS do
  local a = (i - 5) * 3 + 1
  local entry, job, reason = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local key = KEYS[i]
  if redis.call('XACK', KEYS[1], ARGV[1], entry) == 1 then
    done = done + 1
    redis.call('XDEL', KEYS[1], entry)
    redis.call('ZREM', KEYS[2], job)
    local dead = redis.call('XADD', KEYS[3], '*', 'job', job, 'entry', entry, 'at', now, 'reason', reason)
    if redis.call('EXISTS', key) == 1 then
      redis.call('HSET', key, 'state', 'dead', 'finished_at', now, 'reason', reason, 'dead_entry', dead)
      redis.call('PERSIST', key)
      if redis.call('HEXISTS', key, 'watched') == 1 then
        redis.call('XADD', KEYS[4], 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'job', job)
      end
    end
  end
end
return done
