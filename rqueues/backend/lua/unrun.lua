#!lua flags=allow-oom
-- Give back deliveries a worker could not run (it cannot import the job's function)
-- as if they had never started: acknowledge the delivery, release its lease, undo the
-- attempt the claim counted, record which workers refused the job, and add a new
-- stream entry (the re-added shape, 'job' = job id: the record holds the job; see
-- rqueues/backend/entries.py) so a worker that can run it takes it.
-- KEYS[1] stream, KEYS[2] leases, KEYS[3] events, KEYS[4] config, KEYS[5..] job hashes
-- ARGV[1] group; then per job 3 values: entry id, job id, refusers (JSON list of worker ids)
-- Returns per job: 'queued', or 'gone' (the delivery was no longer pending, or the
--   record is missing or no longer running: nothing is queued).
-- Under OOM: allowed (flags=allow-oom). It only moves a job back and releases its lease, which
-- must not be refused when memory is short; its one new entry replaces the one deleted.
local capped = (tonumber(redis.call('HGET', KEYS[4], 'concurrency') or '0') or 0) > 0
local out = {}
for i = 5, #KEYS do
  local a = (i - 5) * 3 + 1
  local entry, job, refusers = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local key = KEYS[i]
  local stream = stream_of(KEYS[1], entry)  -- the queue's or a priority level's
  if redis.call('XACK', stream, ARGV[1], entry) == 0 then
    out[#out + 1] = 'gone'
  else
    redis.call('XDEL', stream, entry)
    redis.call('ZREM', KEYS[2], entry)  -- the lease is the delivery's
    if redis.call('HGET', key, 'state') == 'running' then
      local attempts = tonumber(redis.call('HGET', key, 'attempts') or '1') or 1
      redis.call('HSET', key, 'state', 'queued', 'attempts', math.max(0, attempts - 1),
        'refused', refusers)
      level_add(KEYS[1], option_level(redis.call('HGET', key, 'options')), 'job', job)
      out[#out + 1] = 'queued'
    else
      out[#out + 1] = 'gone'
    end
    if capped then
      redis.call('XADD', KEYS[3], 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'released', job)
    end
  end
end
return out
