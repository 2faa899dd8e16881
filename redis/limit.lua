-- One rate-limit decision for one bucket, atomically (see limiter.go and
-- package ratelimit for the algorithm).
--
-- KEYS[1]  the bucket's hash
-- ARGV[1]  window in nanoseconds (a string, compared as one)
-- ARGV[2]  index of the caller's sub-window: its time / sub-window length
-- ARGV[3]  limit
-- ARGV[4]  "1" to count the request if it fits, "0" to only look (Peek)
-- ARGV[5]  expiry of the hash in milliseconds
--
-- The hash holds "w" (the window it counts for), "n" (the newest
-- sub-window's index) and the count of sub-window j in field j mod 21.
-- Returns {admitted 0|1, newest index, 21 counts oldest first}.
local ring = 21
local key = KEYS[1]
local window = ARGV[1]
local i = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local count = ARGV[4] == "1"

local fields = {"w", "n"}
for k = 0, ring - 1 do fields[#fields + 1] = tostring(k) end
local v = redis.call("HMGET", key, unpack(fields))

-- A missing bucket, or one counted for another window (the key's limit
-- changed), starts empty.
local fresh = v[1] ~= window or not v[2]
local newest = i
local newestArg = ARGV[2]
if not fresh then
  newest = tonumber(v[2])
  newestArg = v[2]
end
-- A caller whose clock is behind counts in the newest sub-window.
local top, topArg = newest, newestArg
if i > newest then top, topArg = i, ARGV[2] end

local counts, total = {}, 0
for j = top - ring + 1, top do
  local c = 0
  if not fresh and j <= newest then c = tonumber(v[3 + j % ring]) or 0 end
  counts[#counts + 1] = c
  total = total + c
end

local admitted = total < limit
if admitted and count then
  if fresh then
    redis.call("DEL", key)
    redis.call("HSET", key, "w", window)
  else
    -- Forget the sub-windows that no longer overlap the window.
    for j = newest + 1, math.min(top, newest + ring) do
      redis.call("HDEL", key, tostring(j % ring))
    end
  end
  redis.call("HINCRBY", key, tostring(top % ring), 1)
  redis.call("HSET", key, "n", topArg)
  redis.call("PEXPIRE", key, ARGV[5])
  counts[ring] = counts[ring] + 1
end

local out = {admitted and 1 or 0, top}
for k = 1, ring do out[#out + 1] = counts[k] end
return out
