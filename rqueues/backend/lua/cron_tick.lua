#!lua
-- Enqueue one tick of a periodic schedule, at most once however many workers call it:
-- only when the schedule still exists as the caller read it (same id) and the tick is
-- later than the last tick enqueued, which this call then records. The job is a fresh
-- stream entry like enqueue.lua's, with a chosen id (one per schedule and tick) that
-- the ids hash maps to it; a tick whose job id exists already is recorded, not re-added.
-- KEYS[1] cron (schedules), KEYS[2] cron_ticks (last tick per schedule), KEYS[3] config,
-- KEYS[4] stream, KEYS[5] ids
-- ARGV[1] schedule name, ARGV[2] schedule id, ARGV[3] tick (ms), ARGV[4] job id, ARGV[5]
-- entry value (msgpack, rqueues/backend/entries.py), ARGV[6] job key prefix
-- Derived keys: ARGV[6] .. job id, the tick's job record (checked: it must not exist).
-- Returns 1 when the tick was enqueued, 0 when it was not (done already, or the schedule
-- was removed or replaced), or an error: NOQUEUE (the queue is not declared).
-- Under OOM: refused whole before it runs (no flags): no tick is enqueued or recorded,
-- and the ticker retries it on its next pass.
if redis.call('EXISTS', KEYS[3]) == 0 then
  return redis.error_reply('NOQUEUE')
end
local blob = redis.call('HGET', KEYS[1], ARGV[1])
if not blob then return 0 end
local ok, s = pcall(cmsgpack.unpack, blob)
if not ok or type(s) ~= 'table' or s['id'] ~= ARGV[2] then return 0 end
local tick = tonumber(ARGV[3])
if tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') >= tick then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local job = ARGV[4]
if redis.call('HEXISTS', KEYS[5], job) == 1 or redis.call('EXISTS', ARGV[6] .. job) == 1 then
  return 0
end
local entry = redis.call('XADD', KEYS[4], '*', 'j', ARGV[5])
redis.call('HSET', KEYS[5], job, entry)
return 1
