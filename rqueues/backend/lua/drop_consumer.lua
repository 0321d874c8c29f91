#!lua flags=allow-oom
-- Delete a consumer from the queue's group only if nothing is pending for it.
-- XGROUP DELCONSUMER drops the consumer's pending entries: checking and deleting
-- in one atomic step means a claim can never land in between and lose its delivery.
-- KEYS[1] stream
-- Derived keys: the level streams and the levels hash (levels.lua).
-- ARGV[1] group, ARGV[2] consumer
-- Returns 1 when the consumer is gone (deleted, or it did not exist), 0 when it was
-- kept because entries are pending for it, -1 when the stream or group does not exist.
-- Under OOM: allowed (flags=allow-oom): it only removes.
local streams = level_streams(KEYS[1])  -- the priority levels' groups too (levels.lua)
for _, stream in ipairs(streams) do
  local pending = redis.pcall('XPENDING', stream, ARGV[1], '-', '+', 1, ARGV[2])
  if type(pending) == 'table' and pending.err then
    if stream == KEYS[1] then return -1 end
  elseif #pending > 0 then
    return 0
  end
end
for _, stream in ipairs(streams) do
  redis.pcall('XGROUP', 'DELCONSUMER', stream, ARGV[1], ARGV[2])
end
return 1
