-- Admits submissions to the shared queue, all or none, under the bounds
-- every instance shares; atomic, as Redis runs a script. Every check is
-- made before the first write, so a refusal changes nothing.
-- KEYS: 1 stream, 2 held (token -> bytes), 3 total bytes, 4 finished
-- (token -> when, ms), 5 finished bytes, then each submission's key.
-- ARGV: 1 capacity, 2 most records, 3 most bytes, 4 keep (ms), 5 the
-- prefix of a submission's key, 6 the deadline (ms, Redis's clock), then
-- per submission: token, job, view, bytes.
-- (A finished result forgotten to make room is named from ARGV[5]: one
-- Redis, not a cluster.)
-- Returns {1, entry ids...}, or {0, "late"} past the deadline (the
-- instance that asked has answered its client already), {0, "queue"} /
-- {0, "store"} when full.
-- (accounts.lua comes first: held, total, finished, finished_total, num,
-- forget, now_ms.)
local stream = KEYS[1]
local capacity, most_records, most_bytes, keep =
  tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local sub_prefix, deadline = ARGV[5], tonumber(ARGV[6])
local FIRST = 6
local count = #KEYS - 5
local now = now_ms()
if now > deadline then
  return {0, 'late'}
end

-- Entries leave the stream when their result is written: its length is
-- what waits or runs.
if redis.call('XLEN', stream) + count > capacity then
  return {0, 'queue'}
end
local need = 0
for i = 1, count do
  need = need + tonumber(ARGV[FIRST + (i - 1) * 4 + 4])
end
-- Results past their keep time are gone (their keys expired by TTL); what
-- the pending hold cannot be forgotten, so forgetting every finished
-- result must make room, or nothing is written.
local expired = redis.call('ZRANGEBYSCORE', finished, '-inf', now - keep)
local pending = redis.call('HLEN', held) - redis.call('ZCARD', finished)
if pending + count > most_records or num(total) - num(finished_total) + need > most_bytes then
  return {0, 'store'}
end

for _, token in ipairs(expired) do
  forget(token)
end
local function fits()
  return redis.call('HLEN', held) + count <= most_records and num(total) + need <= most_bytes
end
while not fits() do
  local oldest = redis.call('ZRANGE', finished, 0, 0)[1]
  if not oldest then break end -- cannot happen with the accounts right
  redis.call('DEL', sub_prefix .. oldest)
  forget(oldest)
end

local ids = {1}
for i = 1, count do
  local base = FIRST + (i - 1) * 4
  local token, job, view, size = ARGV[base + 1], ARGV[base + 2], ARGV[base + 3], ARGV[base + 4]
  redis.call('SET', KEYS[5 + i], view)
  redis.call('HSET', held, token, size)
  redis.call('INCRBY', total, size)
  ids[#ids + 1] = redis.call('XADD', stream, '*', 'token', token, 'job', job)
end
return ids
