#!lua flags=allow-oom
-- Remove workers from the registry whose heartbeat is still no later than the cutoff.
-- A worker that beat after the reaper read the registry keeps its entry: the
-- condition and the removal are one atomic step.
-- KEYS[1] the workers registry (zset: worker id -> last heartbeat, ms)
-- ARGV[1] cutoff (ms): the latest heartbeat that counts as dead; ARGV[2..] worker ids
-- Returns the ids removed.
-- Under OOM: allowed (flags=allow-oom): it only removes.
local cutoff = tonumber(ARGV[1])
local removed = {}
for i = 2, #ARGV do
  local beat = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if beat and tonumber(beat) <= cutoff then
    redis.call('ZREM', KEYS[1], ARGV[i])
    removed[#removed + 1] = ARGV[i]
  end
end
return removed
