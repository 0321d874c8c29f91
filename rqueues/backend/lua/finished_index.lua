-- Not a script: the loader puts this function into the scripts that store a final
-- outcome (complete.lua, cancel.lua), after the constants.
-- A finished index (keys.py QueueKeys.finished) is a zset of the job ids that ended in
-- one state, scored by finished_at (ms); `rqueues jobs --state` pages it newest first.
-- index_finished(key, now, ttl, jobs): add `jobs` (finished at `now`), then keep the
-- index bounded: members older than `ttl` seconds (the queue's result TTL: their
-- records have expired) go, at most FINISHED_TRIM more than were added per call, and
-- it never keeps more than FINISHED_MAXLEN members. ZREMRANGEBYSCORE takes no LIMIT:
-- the old members are counted (ZCOUNT, O(log n)) and the oldest removed by rank
-- (O(log n + removed)).
-- Under OOM: its ZADD grows memory, so only allow-oom scripts use it.
local function index_finished(key, now, ttl, jobs)
  if #jobs == 0 then return end
  local args = {}
  for i, job in ipairs(jobs) do
    args[2 * i - 1], args[2 * i] = now, job
  end
  for i = 1, #args, 1000 do  -- slices stay below Lua's unpack limit
    redis.call('ZADD', key, unpack(args, i, math.min(i + 999, #args)))
  end
  local expired = redis.call('ZCOUNT', key, '-inf', '(' .. (now - ttl * 1000))
  local over = redis.call('ZCARD', key) - FINISHED_MAXLEN
  local drop = math.max(math.min(expired, #jobs + FINISHED_TRIM), over)
  if drop > 0 then redis.call('ZREMRANGEBYRANK', key, 0, drop - 1) end
end
