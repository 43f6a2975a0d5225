-- Stores one result in the shared cache under its byte bound; atomic, as
-- Redis runs a script, so the bound holds whichever instance stores.
-- KEYS: 1 the entry, 2 order (entry -> when it expires, ms), 3 sizes
-- (entry -> bytes counted), 4 bytes (the total counted).
-- ARGV: 1 the entry's name, 2 the body, 3 the bytes it counts, 4 its TTL
-- (ms), 5 the bound (bytes), 6 the prefix of an entry's key.
-- (An entry evicted to make room is named from ARGV[6]: one Redis, not a
-- cluster.)
-- Returns 1 when stored, 0 when it cannot fit at all.
local entry, order, sizes, total = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local name, body = ARGV[1], ARGV[2]
local cost, ttl, bound, prefix = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function forget(member)
  local bytes = tonumber(redis.call('HGET', sizes, member) or '0')
  redis.call('HDEL', sizes, member)
  redis.call('ZREM', order, member)
  redis.call('DECRBY', total, bytes)
end

-- Entries past their TTL are gone (Redis expired them): out of the count.
-- A few per call, so no call is long; the loop below takes the oldest
-- first anyway.
for _, member in ipairs(redis.call('ZRANGEBYSCORE', order, '-inf', now, 'LIMIT', 0, 100)) do
  forget(member)
end
if cost > bound then
  return 0
end
-- The same result stored again (two instances ran it at once) replaces it.
forget(name)
while tonumber(redis.call('GET', total) or '0') + cost > bound do
  local oldest = redis.call('ZRANGE', order, 0, 0)[1]
  if not oldest then
    -- Nothing is counted any more: a count left over (a key lost) is reset.
    redis.call('SET', total, 0)
    break
  end
  redis.call('DEL', prefix .. oldest)
  forget(oldest)
end
redis.call('SET', entry, body, 'PX', ttl)
redis.call('ZADD', order, now + ttl, name)
redis.call('HSET', sizes, name, cost)
redis.call('INCRBY', total, cost)
return 1
