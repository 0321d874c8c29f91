#!lua flags=allow-oom
-- Extend the leases of the deliveries a live worker holds. A lease is extended only
-- while it exists and its delivery is still pending for this worker: a lease that
-- expired is not brought back, and a delivery that was given back (its worker was
-- taken for dead) is reported, never renewed, whatever replaced it.
-- KEYS[1] leases, KEYS[2] stream
-- ARGV[1] lease ms, ARGV[2] group, ARGV[3] consumer, ARGV[4..] entry ids
-- Returns the entry ids that are no longer this worker's (lease missing or not pending).
-- Under OOM: allowed (flags=allow-oom): it only extends existing leases, so running
-- jobs keep them while Redis refuses new work.
local t = redis.call('TIME')
local expiry = t[1] * 1000 + math.floor(t[2] / 1000) + tonumber(ARGV[1])
local lost = {}
for i = 4, #ARGV do
  local entry = ARGV[i]
  local mine = redis.call('XPENDING', stream_of(KEYS[2], entry), ARGV[2], entry, entry, 1, ARGV[3])
  if #mine == 0 or redis.call('ZADD', KEYS[1], 'XX', 'CH', expiry, entry) == 0
      and not redis.call('ZSCORE', KEYS[1], entry) then
    lost[#lost + 1] = entry
  end
end
return lost
