-- Extend the leases a live worker holds. Only existing leases are extended:
-- a lease that already expired is not brought back.
-- KEYS[1] leases
-- ARGV[1] lease ms, ARGV[2..] job ids
-- Returns the job ids whose lease was missing.
local t = redis.call('TIME')
local expiry = t[1] * 1000 + math.floor(t[2] / 1000) + tonumber(ARGV[1])
local lost = {}
for i = 2, #ARGV do
  if redis.call('ZADD', KEYS[1], 'XX', 'CH', expiry, ARGV[i]) == 0
      and not redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
