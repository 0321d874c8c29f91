#!lua
-- Put a dead-lettered or failed job back on its queue, keeping its id and history, as a
-- re-added entry ('job' = job id: its record holds the job; see rqueues/backend/entries.py).
-- KEYS[1] job hash, KEYS[2] stream, KEYS[3] dead
-- ARGV[1] job id
-- A job with a unique key takes it again (flow.lua); while another job holds it the
-- requeue is refused: {0, 'unique:' .. the holder's id}.
-- Derived keys: the queue's unique hash (flow.lua).
-- Returns {1} when requeued, {0, state} when the job is in another state, {-1} when missing.
-- Under OOM: refused whole before it runs (no flags): it queues work again.
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {-1} end
if state ~= 'dead' and state ~= 'failed' then return {0, state} end
local base = flow_base(KEYS[1])
local unique = flow_unique_of(redis.call('HGET', KEYS[1], 'options'))
local holder = flow_holder(base, unique)
if holder and holder ~= ARGV[1] then return {0, 'unique:' .. holder} end
flow_take(base, unique, ARGV[1])
local dead = redis.call('HGET', KEYS[1], 'dead_entry')
if dead then redis.call('XDEL', KEYS[3], dead) end
redis.call('HDEL', KEYS[1], 'dead_entry', 'reason', 'finished_at', 'reclaims', 'refused')
redis.call('HSET', KEYS[1], 'state', 'queued')
redis.call('PERSIST', KEYS[1])
level_add(KEYS[2], option_level(redis.call('HGET', KEYS[1], 'options')), 'job', ARGV[1])
return {1}
