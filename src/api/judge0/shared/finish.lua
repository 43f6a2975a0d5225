-- Writes a submission's final result, unless one is already written: the
-- first final result wins (a submission run again after a claim may
-- finish twice). Either way its stream entry is acknowledged and removed.
-- A result without an entry (a wait=true run's, readable by its token
-- afterwards) is written only when the store has room for it, as the
-- embedded store keeps one.
-- KEYS: 1 its key, 2 held, 3 total bytes, 4 finished, 5 finished bytes,
-- 6 stream.
-- ARGV: 1 token, 2 view, 3 bytes, 4 keep (ms), 5 group, 6 entry id (or ''),
-- 7 most records, 8 most bytes.
-- Returns 1 when this result was written, 0 when another was first (or
-- there was no room).
local sub, held, total, finished, finished_total, stream = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local token, view, size, keep, group, id = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], ARGV[6]
local most_records, most_bytes = tonumber(ARGV[7]), tonumber(ARGV[8])

local function done()
  if id ~= '' then
    redis.call('XACK', stream, group, id)
    redis.call('XDEL', stream, id)
  end
end

local existing = redis.call('GET', sub)
if existing and cjson.decode(existing).status_id > 2 then
  done()
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local before = tonumber(redis.call('HGET', held, token) or '0')
if id == '' and before == 0 then
  -- Results past their keep time are gone (their keys expired by TTL).
  for _, old in ipairs(redis.call('ZRANGEBYSCORE', finished, '-inf', now - keep)) do
    local b = tonumber(redis.call('HGET', held, old) or '0')
    redis.call('HDEL', held, old)
    redis.call('ZREM', finished, old)
    redis.call('DECRBY', total, b)
    redis.call('DECRBY', finished_total, b)
  end
  local bytes = tonumber(redis.call('GET', total) or '0')
  if redis.call('HLEN', held) + 1 > most_records or bytes + size > most_bytes then
    return 0
  end
end
redis.call('SET', sub, view, 'PX', keep)
redis.call('HSET', held, token, size)
redis.call('INCRBY', total, size - before)
redis.call('ZADD', finished, now, token)
redis.call('INCRBY', finished_total, size)
done()
return 1
