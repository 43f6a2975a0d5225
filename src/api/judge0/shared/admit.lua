-- Admits submissions to the shared queue, all or none, under the bounds
-- every instance shares; atomic, as Redis runs a script.
-- KEYS: 1 stream, 2 held (token -> bytes), 3 total bytes, 4 finished
-- (token -> when, ms), 5 finished bytes, then each submission's key.
-- ARGV: 1 capacity, 2 most records, 3 most bytes, 4 keep (ms), 5 the
-- prefix of a submission's key, then per submission: token, job, view, bytes.
-- (A finished result forgotten to make room is named from ARGV[5]: one
-- Redis, not a cluster.)
-- Returns {1, entry ids...}, or {0, "queue"} / {0, "store"} when full.
local stream, held, total, finished, finished_total = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local capacity, most_records, most_bytes, keep =
  tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local sub_prefix = ARGV[5]
local count = #KEYS - 5
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function forget(token)
  local bytes = tonumber(redis.call('HGET', held, token) or '0')
  redis.call('HDEL', held, token)
  redis.call('ZREM', finished, token)
  redis.call('DECRBY', total, bytes)
  redis.call('DECRBY', finished_total, bytes)
end

-- Results past their keep time are gone (their keys expired by TTL).
for _, token in ipairs(redis.call('ZRANGEBYSCORE', finished, '-inf', now - keep)) do
  forget(token)
end

-- Entries leave the stream when their result is written: its length is
-- what waits or runs.
if redis.call('XLEN', stream) + count > capacity then
  return {0, 'queue'}
end

local need = 0
for i = 1, count do
  need = need + tonumber(ARGV[5 + (i - 1) * 4 + 4])
end
local function records() return redis.call('HLEN', held) end
local function bytes() return tonumber(redis.call('GET', total) or '0') end
local function fits() return records() + count <= most_records and bytes() + need <= most_bytes end
-- Forgetting every finished result would not make room: no one's results
-- are thrown away for submissions that cannot be taken anyway.
local finished_bytes = tonumber(redis.call('GET', finished_total) or '0')
local pending = records() - redis.call('ZCARD', finished)
if pending + count > most_records or bytes() - finished_bytes + need > most_bytes then
  return {0, 'store'}
end
while not fits() do
  local oldest = redis.call('ZRANGE', finished, 0, 0)[1]
  redis.call('DEL', sub_prefix .. oldest)
  forget(oldest)
end

local ids = {1}
for i = 1, count do
  local base = 5 + (i - 1) * 4
  local token, job, view, size = ARGV[base + 1], ARGV[base + 2], ARGV[base + 3], ARGV[base + 4]
  redis.call('SET', KEYS[5 + i], view)
  redis.call('HSET', held, token, size)
  redis.call('INCRBY', total, size)
  ids[#ids + 1] = redis.call('XADD', stream, '*', 'token', token, 'job', job)
end
return ids
