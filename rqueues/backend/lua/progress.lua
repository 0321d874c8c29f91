#!lua
-- Record what running deliveries report about themselves: the latest progress of each
-- job and the GPU devices it holds. Fenced (invariant 7): a row is written only while
-- its delivery still holds its lease (the member is the entry id) and is still pending
-- for this worker, and only into a record that exists; a delivery taken from the worker
-- (given back, reclaimed, finished) is skipped, whatever replaced it.
-- KEYS[1] leases, KEYS[2] stream, KEYS[3..] job hashes
-- ARGV[1] group, ARGV[2] consumer, then per job 6 values: entry id, fraction
--         ('' = no progress to write), message, age ms (how long before this call it
--         was reported), attempt, gpus (comma-separated, '' = none to write)
-- Writes progress, progress_msg, progress_at (ms, this call's TIME minus the age),
-- progress_attempt, gpus.
-- Returns the number of rows written.
-- Under OOM: refused whole (#!lua): progress is best-effort. A refused write is sent
-- again by the next flush while the job runs; the final one of a job that ends while
-- Redis refuses writes is lost, never its outcome.
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local written = 0
for i = 3, #KEYS do
  local a = (i - 3) * 6 + 2
  local entry, fraction, message = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local age, attempt, gpus = tonumber(ARGV[a + 4]), ARGV[a + 5], ARGV[a + 6]
  local key = KEYS[i]
  if redis.call('ZSCORE', KEYS[1], entry)
      and #redis.call('XPENDING', stream_of(KEYS[2], entry), ARGV[1], entry, entry, 1, ARGV[2]) == 1
      and redis.call('EXISTS', key) == 1 then
    if fraction ~= '' then
      redis.call('HSET', key, 'progress', fraction, 'progress_msg', message,
        'progress_at', now - age, 'progress_attempt', attempt)
    end
    if gpus ~= '' then redis.call('HSET', key, 'gpus', gpus) end
    written = written + 1
  end
end
return written
