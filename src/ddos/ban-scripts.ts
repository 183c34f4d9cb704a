/**
 * Lua scripts of the Redis ban store. Each runs atomically, takes the time from the Redis
 * server (so instance clocks need not agree), and publishes the change on the ban channel
 * so that every instance updates its in-memory copy at once.
 *
 * Keys, all under one hash tag so that a script's keys share a Redis Cluster slot:
 * - `active`: sorted set of banned subjects, scored by expiry (epoch ms);
 * - `info`: hash of subject → ban as JSON;
 * - `level:SUBJECT`: the escalation level, expiring `resetAfter` after the ban ends;
 * - `hits:EVENT:SUBJECT`: list of the latest violation times, newest first, at most `count`.
 *
 * Expired bans are pruned, up to 100 per call, by every script that changes the list.
 */

const PREAMBLE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function prune(active, info)
  local expired = redis.call('ZRANGEBYSCORE', active, '-inf', now, 'LIMIT', 0, 100)
  if #expired > 0 then
    redis.call('ZREM', active, unpack(expired))
    redis.call('HDEL', info, unpack(expired))
  end
end
local function banJson(subject, reason, source, level, expires)
  return cjson.encode({subject = subject, reason = reason, source = source, level = level,
    createdAt = now, expiresAt = expires})
end
`;

/**
 * Counts a violation and bans when the trigger fires.
 * KEYS: hits, level, active, info. ARGV: subject, count, window ms, reset-after ms, reason,
 * channel, then the durations in ms by level. Returns the ban as JSON, or nil.
 */
export const VIOLATION_SCRIPT = `${PREAMBLE}
local subject = ARGV[1]
local count = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local current = redis.call('ZSCORE', KEYS[3], subject)
if current and tonumber(current) > now then return false end

redis.call('LPUSH', KEYS[1], now)
redis.call('LTRIM', KEYS[1], 0, count - 1)
redis.call('PEXPIRE', KEYS[1], window)
if redis.call('LLEN', KEYS[1]) < count then return false end
local oldest = tonumber(redis.call('LINDEX', KEYS[1], -1))
if now - oldest >= window then return false end
redis.call('DEL', KEYS[1])

local level = (tonumber(redis.call('GET', KEYS[2])) or 0) + 1
local levels = #ARGV - 6
local duration = tonumber(ARGV[6 + math.min(level, levels)])
local expires = now + duration
redis.call('SET', KEYS[2], level, 'PX', duration + tonumber(ARGV[4]))
local ban = banJson(subject, ARGV[5], 'auto', level, expires)
prune(KEYS[3], KEYS[4])
redis.call('ZADD', KEYS[3], expires, subject)
redis.call('HSET', KEYS[4], subject, ban)
redis.call('PUBLISH', ARGV[6], 'add ' .. ban)
return ban
`;

/**
 * Adds or replaces a manual ban.
 * KEYS: active, info. ARGV: subject, duration ms, reason, channel. Returns the ban as JSON.
 */
export const ADD_SCRIPT = `${PREAMBLE}
local ban = banJson(ARGV[1], ARGV[3], 'manual', 0, now + tonumber(ARGV[2]))
prune(KEYS[1], KEYS[2])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ban)
redis.call('PUBLISH', ARGV[4], 'add ' .. ban)
return ban
`;

/**
 * Lifts a ban and resets the subject's escalation.
 * KEYS: active, info, level. ARGV: subject, channel. Returns the lifted ban as JSON, or nil
 * when none was in force.
 */
export const REMOVE_SCRIPT = `${PREAMBLE}
local expires = redis.call('ZSCORE', KEYS[1], ARGV[1])
local ban = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3])
prune(KEYS[1], KEYS[2])
if not expires or tonumber(expires) <= now then return false end
redis.call('PUBLISH', ARGV[2], 'remove ' .. ARGV[1])
return ban
`;

/**
 * Lists the bans in force, soonest expiry first.
 * KEYS: active, info. ARGV: maximum number of bans. Returns an array of JSON bans.
 */
export const LIST_SCRIPT = `${PREAMBLE}
prune(KEYS[1], KEYS[2])
local subjects = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'LIMIT', 0, tonumber(ARGV[1]))
local bans = {}
-- HMGET takes the fields in chunks: unpack of a long list would overflow the Lua stack.
for first = 1, #subjects, 1000 do
  local chunk = {}
  for index = first, math.min(first + 999, #subjects) do chunk[#chunk + 1] = subjects[index] end
  local values = redis.call('HMGET', KEYS[2], unpack(chunk))
  for index = 1, #chunk do
    if values[index] then bans[#bans + 1] = values[index] end
  end
end
return bans
`;
