#!lua flags=allow-oom
-- Remove a queue's keys (not its job records, which the caller scans for), unless
-- jobs of it are running and ARGV[2] is not 1. The config goes first in the same
-- call, so no claim can take a job of the queue once this returns.
-- KEYS[1] config, KEYS[2] stream, KEYS[3] leases, KEYS[4] scheduled, KEYS[5] dead,
-- KEYS[6] events, KEYS[7] stats, KEYS[8] ids (the queued jobs with ids of their own),
-- KEYS[9] tombstones, KEYS[10..12] finished indexes, KEYS[13] unique hash, KEYS[14]
-- deferred zset, KEYS[15] notify zset, KEYS[16] starts (the rate limit's window),
-- KEYS[17] cron (the periodic schedules), KEYS[18] cron_ticks, KEYS[19] flagged
-- Derived keys: the level streams and the levels hash (levels.lua).
-- ARGV[1] group, ARGV[2] 1 to remove it even with jobs running
-- Returns {1, keys removed} when removed, {0, running} when refused because
-- `running` deliveries are held (unexpired leases or pending entries), {-1} when
-- the queue is not declared.
-- Under OOM: allowed (flags=allow-oom): it only frees memory.
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local running = redis.call('ZCOUNT', KEYS[3], now + 1, '+inf')
local streams = level_streams(KEYS[2])  -- the priority levels' streams too (levels.lua)
local held = 0
for _, stream in ipairs(streams) do
  if redis.call('EXISTS', stream) == 1 then
    local ok, pending = pcall(redis.call, 'XPENDING', stream, ARGV[1])
    if ok then held = held + pending[1] end
  end
end
if held > running then running = held end
if running > 0 and ARGV[2] ~= '1' then return {0, running} end
local removed = redis.call('DEL', unpack(KEYS))
for i = 1, #streams - 1 do removed = removed + redis.call('DEL', streams[i]) end
return {1, removed + redis.call('DEL', levels_key(KEYS[2]))}
