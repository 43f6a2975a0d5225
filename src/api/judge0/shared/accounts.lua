-- What both scripts keep the bounds with, put before each of them.
-- KEYS 2 to 5 of both: held (token -> bytes), total bytes, finished
-- (token -> when, ms), finished bytes.
local held, total, finished, finished_total = KEYS[2], KEYS[3], KEYS[4], KEYS[5]

local function num(key) return tonumber(redis.call('GET', key) or '0') end

-- Forgets a finished token's bytes (its key is deleted, or expired).
local function forget(token)
  local bytes = tonumber(redis.call('HGET', held, token) or '0')
  redis.call('HDEL', held, token)
  redis.call('ZREM', finished, token)
  redis.call('DECRBY', total, bytes)
  redis.call('DECRBY', finished_total, bytes)
end

-- Redis's clock, in ms.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
