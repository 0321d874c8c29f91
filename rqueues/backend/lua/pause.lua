#!lua
-- Pause or resume a declared queue: set paused in its config hash (claim.lua starts no
-- job of a paused queue), and add to its events stream, where the workers that a pause
-- or the cap holds back are blocked, so a resume wakes them at once.
-- KEYS[1] config, KEYS[2] events
-- ARGV[1] 1 to pause, 0 to resume
-- Returns 1, or an error: NOQUEUE (the queue is not declared).
-- Under OOM: refused whole before it runs (no flags): a resume creates work.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('NOQUEUE')
end
redis.call('HSET', KEYS[1], 'paused', ARGV[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'paused', ARGV[1])
return 1
