-- Writes a submission's final result, unless one is already written: the
-- first final result wins (a submission run again after a takeover may
-- finish twice; a token still counted as finished, its key expired or
-- not, is final). Either way its stream entry is acknowledged and removed.
-- A result without an entry (a wait=true run's, readable by its token
-- afterwards) is written when the store has room for it, the oldest
-- finished results forgotten to make it, as the embedded store keeps one.
-- KEYS: 1 its key, 2 held, 3 total bytes, 4 finished, 5 finished bytes,
-- 6 stream.
-- ARGV: 1 token, 2 view, 3 bytes, 4 keep (ms), 5 group, 6 entry id (or ''),
-- 7 most records, 8 most bytes, 9 the prefix of a submission's key.
-- Returns 1 when this result was written, 0 when another was first (or
-- there was no room).
-- (accounts.lua comes first: held, total, finished, finished_total, num,
-- forget, now_ms.)
local sub, stream = KEYS[1], KEYS[6]
local token, view, size, keep, group, id = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], ARGV[6]
local most_records, most_bytes, sub_prefix = tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9]

local function done()
  if id ~= '' then
    redis.call('XACK', stream, group, id)
    redis.call('XDEL', stream, id)
  end
end

local existing = redis.call('GET', sub)
if redis.call('ZSCORE', finished, token) or (existing and cjson.decode(existing).status_id > 2) then
  done()
  return 0
end
local now = now_ms()
local before = tonumber(redis.call('HGET', held, token) or '0')
if id == '' and before == 0 then
  local pending = redis.call('HLEN', held) - redis.call('ZCARD', finished)
  if pending + 1 > most_records or num(total) - num(finished_total) + size > most_bytes then
    return 0
  end
  for _, old in ipairs(redis.call('ZRANGEBYSCORE', finished, '-inf', now - keep)) do
    forget(old)
  end
  while redis.call('HLEN', held) + 1 > most_records or num(total) + size > most_bytes do
    local oldest = redis.call('ZRANGE', finished, 0, 0)[1]
    if not oldest then return 0 end
    redis.call('DEL', sub_prefix .. oldest)
    forget(oldest)
  end
end
redis.call('SET', sub, view, 'PX', keep)
redis.call('HSET', held, token, size)
redis.call('INCRBY', total, size - before)
redis.call('ZADD', finished, now, token)
redis.call('INCRBY', finished_total, size)
done()
return 1
