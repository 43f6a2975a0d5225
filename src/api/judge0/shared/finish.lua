-- Writes a submission's final result, unless one is already written: the
-- first final result wins (a submission run again after a claim may
-- finish twice). Either way its stream entry is acknowledged and removed.
-- KEYS: 1 its key, 2 held, 3 total bytes, 4 finished, 5 finished bytes,
-- 6 stream.
-- ARGV: 1 token, 2 view, 3 bytes, 4 keep (ms), 5 group, 6 entry id.
-- Returns 1 when this result was written, 0 when another was first.
local sub, held, total, finished, finished_total, stream = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local token, view, size, keep, group, id = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]

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
redis.call('SET', sub, view, 'PX', keep)
local before = tonumber(redis.call('HGET', held, token) or '0')
redis.call('HSET', held, token, size)
redis.call('INCRBY', total, size - before)
redis.call('ZADD', finished, now, token)
redis.call('INCRBY', finished_total, size)
done()
return 1
