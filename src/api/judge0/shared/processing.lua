-- Shows a submission a worker took as Processing, unless its final result
-- is written (an instance that took it over may have finished it first).
-- KEYS: 1 its key. ARGV: 1 its view as Processing.
-- Returns 1 when shown so, 0 when it is final or unknown.
local existing = redis.call('GET', KEYS[1])
if not existing or cjson.decode(existing).status_id > 2 then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
return 1
