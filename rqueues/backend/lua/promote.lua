#!lua
-- Move due jobs from the scheduled set to the stream, each as a re-added entry
-- ('job' = job id: its record holds the job; see rqueues/backend/entries.py). Safe to
-- run from any worker at once: a job already moved by another call is skipped.
-- KEYS[1] scheduled, KEYS[2] stream, KEYS[3..] job hashes
-- ARGV    the job ids, in the order of their keys
-- Returns the number of jobs moved.
-- Under OOM: refused whole before it runs (no flags): due jobs wait in the scheduled set
-- until memory frees.
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local moved = 0
for i = 3, #KEYS do
  local job = ARGV[i - 2]
  local due = redis.call('ZSCORE', KEYS[1], job)
  if due and tonumber(due) <= now then
    redis.call('ZREM', KEYS[1], job)
    if redis.call('EXISTS', KEYS[i]) == 1 then
      redis.call('HSET', KEYS[i], 'state', 'queued')
      level_add(KEYS[2], option_level(redis.call('HGET', KEYS[i], 'options')), 'job', job)
      moved = moved + 1
    end
  end
end
return moved
