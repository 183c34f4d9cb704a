/**
 * The Lua script behind `RedisStore.consume`: every limit of one request in one call, so the
 * check is atomic and costs one round trip. Its arithmetic repeats algorithms.ts operation
 * for operation (Lua and JavaScript numbers are both IEEE doubles), and the store contract
 * tests compare its decisions with the memory store's step by step.
 *
 * KEYS per check: the state string, then for a sliding window log its list.
 * ARGV[1]: the time in milliseconds, or '' to read the Redis server clock.
 * ARGV[2]: the checks' parameters, packed like the state (41 bytes per check): algorithm
 * code (l, c or g), then as little-endian doubles limit, windowMs, burst, cost and
 * blockForMs (0 for none). Packing saves parsing a dozen number strings per call.
 * Returns five values per check: allowed (1 or 0), remaining, resetMs, retryAfterMs,
 * blocked (1 or 0). A value that is not a whole number comes back as a string ('inf' for
 * a request that can never fit), because Redis truncates Lua numbers to integers.
 *
 * The state is one string, packed with Redis's struct library: the algorithm code and five
 * little-endian doubles. The first double is the blocked-until time. The others are the
 * cost in the log with its oldest and newest entry times and the list's expiry time (log),
 * the window start with the current and previous counts (counter), or the theoretical
 * arrival time (GCRA). Binary doubles read back exactly and need no formatting, and a string
 * takes its expiry in the same SET. The log list contains one packed (time, cost) pair per
 * admitted request, oldest first.
 *
 * Requires Redis 6.2 or later (SET … PXAT).
 */
export const CONSUME_SCRIPT = `
local call = redis.call
local tonumber = tonumber
local floor, ceil, max, fmod = math.floor, math.ceil, math.max, math.fmod
local pack, unpack = struct.pack, struct.unpack
local INF = math.huge
local STATE = '<c1ddddd'
local STATE_SIZE = 41
local LIST_EXPIRY_SLACK_MS = 60000
local PARAMS = '<c1ddddd'
local PARAMS_SIZE = 41
local ENTRY = '<dd'
local BATCH = 32

local function encode(v)
  if v == INF or v ~= floor(v) then return string.format('%.17g', v) end
  return v
end

local now
if ARGV[1] == '' then
  local t = call('TIME')
  now = tonumber(t[1]) * 1000 + floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[1])
end

-- State of each distinct key, loaded once so that a key named by two checks is counted
-- as in the memory store: both evaluate the same state and both commit.
local states = {}
local order = {}

local function load(key, logKey, algo, windowMs)
  local s = states[key]
  if s and s.algo == algo then return s end
  local raw = call('GET', key)
  local stored, blockedUntil, a, b, c, d
  if raw and #raw == STATE_SIZE then stored, blockedUntil, a, b, c, d = unpack(STATE, raw) end
  if stored ~= algo then
    -- Absent, written under another algorithm before a configuration change, or not ours:
    -- start afresh, and drop a log list that no state accounts for.
    if raw then call('DEL', key) end
    if logKey then call('DEL', logKey) end
    -- a, b, c, d: log used, oldest, newest, list expiry; counter window start, current,
    -- previous; GCRA tat.
    blockedUntil, a, b, c, d = 0, 0, 0, 0, 0
    if algo == 'c' then a = now - fmod(now, windowMs) elseif algo == 'g' then a = now end
  end
  s = { key = key, logKey = logKey, algo = algo, windowMs = windowMs, blockedUntil = blockedUntil,
    a = a, b = b, c = c, d = d, dirty = false, trimmed = false }
  states[key] = s
  order[#order + 1] = s
  return s
end

-- Sliding window log: s.a cost in the list, s.b oldest and s.c newest entry time, s.d the
-- list's expiry time.
-- Costs are positive integers (the store checks), so the list is empty exactly when s.a is 0.

-- Drops expired entries from the head of the list. The stored oldest time shows whether any
-- has expired, so most calls do not read the list.
local function trimLog(s, windowMs)
  if s.trimmed then return end
  s.trimmed = true
  local cutoff = now - windowMs
  if s.a == 0 or s.b > cutoff then return end
  local dropped, freed = 0, 0
  local oldest = false
  while not oldest do
    local batch = call('LRANGE', s.logKey, dropped, dropped + BATCH - 1)
    if #batch == 0 then break end
    for i = 1, #batch do
      local time, cost = unpack(ENTRY, batch[i])
      if time > cutoff then
        oldest = time
        break
      end
      freed = freed + cost
      dropped = dropped + 1
    end
  end
  call('LTRIM', s.logKey, dropped, -1)
  s.dirty = true
  if oldest then
    s.a = s.a - freed
    s.b = oldest
  else
    -- An empty list means no cost is in the window, whatever the state recorded.
    s.a, s.b, s.c = 0, 0, 0
  end
end

-- Walks the log from the oldest entry until enough cost has left the window to fit. Every
-- entry costs at least 1, so the first read covers the walk unless it needs more than BATCH
-- entries.
local function logRetryAfter(s, cost, limit, windowMs)
  local freed = 0
  local start = 0
  local size = max(1, math.min(BATCH, s.a + cost - limit))
  while true do
    local batch = call('LRANGE', s.logKey, start, start + size - 1)
    if #batch == 0 then return windowMs end
    for i = 1, #batch do
      local time, entryCost = unpack(ENTRY, batch[i])
      freed = freed + entryCost
      if s.a - freed + cost <= limit then return time + windowMs - now end
    end
    start = start + size
    size = BATCH
  end
end

local function evaluateLog(s, cost, limit, windowMs)
  trimLog(s, windowMs)
  local used = s.a
  if used + cost <= limit then
    -- The admitted request becomes the newest entry, so the quota is full one window later.
    return true, limit - used - cost, windowMs, 0
  end
  local retryAfter = INF
  if cost <= limit then retryAfter = logRetryAfter(s, cost, limit, windowMs) end
  local reset = 0
  if used > 0 then reset = s.c + windowMs - now end
  return false, max(0, limit - used), reset, retryAfter
end

local function commitLog(s, cost)
  -- A new list has no expiry yet, so the recorded one no longer applies.
  if call('RPUSH', s.logKey, pack(ENTRY, now, cost)) == 1 then s.d = 0 end
  if s.a == 0 then s.b = now end
  s.a = s.a + cost
  s.c = now
end

-- Sliding window counter: s.a window start, s.b current, s.c previous ---------------------

local function rollCounter(s, windowMs)
  local windowStart = now - fmod(now, windowMs)
  if windowStart == s.a then return end
  if windowStart - s.a == windowMs then
    s.c = s.b
  else
    s.c = 0
  end
  s.b = 0
  s.a = windowStart
end

-- Time until both counts have faded out: the current count fades through the next window.
local function counterResetMs(s, current, windowMs)
  if current > 0 then return s.a + 2 * windowMs - now end
  if s.c > 0 then return s.a + windowMs - now end
  return 0
end

local function counterRetryAfter(s, cost, limit, windowMs)
  if cost > limit then return INF end
  local room = limit - s.b - cost
  if room >= 0 and s.c > 0 then
    local elapsedNeeded = windowMs - (room * windowMs) / s.c
    return max(1, ceil(s.a + elapsedNeeded - now))
  end
  local nextStart = s.a + windowMs
  local elapsedNeeded = 0
  if s.b > 0 then
    elapsedNeeded = max(0, windowMs - ((limit - cost) * windowMs) / s.b)
  end
  return max(1, ceil(nextStart + elapsedNeeded - now))
end

local function evaluateCounter(s, cost, limit, windowMs)
  rollCounter(s, windowMs)
  local elapsed = now - s.a
  local weight = (windowMs - elapsed) / windowMs
  local estimate = s.c * weight + s.b
  if estimate + cost <= limit then
    local reset = counterResetMs(s, s.b + cost, windowMs)
    return true, floor(limit - estimate - cost), reset, 0
  end
  local remaining = max(0, floor(limit - estimate))
  local reset = counterResetMs(s, s.b, windowMs)
  return false, remaining, reset, counterRetryAfter(s, cost, limit, windowMs)
end

-- GCRA: s.a is the theoretical arrival time ----------------------------------------------

-- The time one unit of cost occupies, rounded up to a multiple of 1/2048 ms so that every
-- state value stays exactly representable at wall-clock magnitudes.
local function emissionInterval(windowMs, limit)
  return ceil((windowMs * 2048) / limit) / 2048
end

local function evaluateGcra(s, cost, limit, windowMs, burst)
  local interval = emissionInterval(windowMs, limit)
  local capacity = burst * interval
  local backlog = max(s.a, now) - now
  local room = (burst - cost) * interval
  if backlog <= room then
    local remaining = floor((room - backlog) / interval)
    return true, remaining, ceil(backlog + cost * interval), 0
  end
  local retryAfter = INF
  if cost <= burst then retryAfter = ceil(backlog - room) end
  local remaining = max(0, floor((capacity - backlog) / interval))
  return false, remaining, ceil(backlog), retryAfter
end

-- Consume --------------------------------------------------------------------------------

local function evaluate(s, cost, limit, windowMs, burst)
  if s.algo == 'l' then return evaluateLog(s, cost, limit, windowMs) end
  if s.algo == 'c' then return evaluateCounter(s, cost, limit, windowMs) end
  return evaluateGcra(s, cost, limit, windowMs, burst)
end

-- Writes a changed state back, to expire when its stored timestamps show that it carries no
-- more information.
local function save(s)
  local expiresAt
  if s.algo == 'l' then
    expiresAt = 0
    if s.a > 0 then expiresAt = s.c + s.windowMs end
  elseif s.algo == 'c' then
    expiresAt = s.a + 2 * s.windowMs
  else
    expiresAt = s.a
  end
  expiresAt = max(expiresAt, s.blockedUntil)
  if expiresAt <= now then
    call('DEL', s.key)
    if s.logKey then call('DEL', s.logKey) end
    return
  end
  local at = ceil(expiresAt)
  if s.logKey and s.d < at then
    -- The list must outlive its state. Setting its expiry up to a minute later than needed
    -- lets a busy key refresh it about once a minute instead of on every request, and a
    -- state that expires first finds its leftover list deleted when the key is next used.
    s.d = at + math.min(s.windowMs, LIST_EXPIRY_SLACK_MS)
    call('PEXPIREAT', s.logKey, s.d)
  end
  call('SET', s.key, pack(STATE, s.algo, s.blockedUntil, s.a, s.b, s.c, s.d), 'PXAT', at)
end

local params = ARGV[2]
local count = #params / PARAMS_SIZE
local checkStates = {}
local out = {}
local allAllowed = true
local nextKey = 1

-- First pass: evaluate every limit without consuming anything. The results go straight into
-- the reply, five values per check, and are encoded at the end.
for i = 1, count do
  local algo, limit, windowMs, burst, cost = unpack(PARAMS, params, (i - 1) * PARAMS_SIZE + 1)
  local logKey = false
  if algo == 'l' then logKey = KEYS[nextKey + 1] end
  local s = load(KEYS[nextKey], logKey, algo, windowMs)
  if logKey then nextKey = nextKey + 2 else nextKey = nextKey + 1 end

  local ok, left, full, wait
  if s.blockedUntil > now then
    ok, left, full, wait = false, 0, s.blockedUntil - now, s.blockedUntil - now
  else
    ok, left, full, wait = evaluate(s, cost, limit, windowMs, burst)
  end
  if not ok then allAllowed = false end
  checkStates[i] = s
  local o = (i - 1) * 5
  out[o + 1], out[o + 2], out[o + 3], out[o + 4] = ok and 1 or 0, left, full, wait
end

-- Second pass: consume everywhere, or block the keys that rejected.
for i = 1, count do
  local _, limit, windowMs, burst, cost, blockForMs =
    unpack(PARAMS, params, (i - 1) * PARAMS_SIZE + 1)
  local s = checkStates[i]
  local o = (i - 1) * 5
  local wasBlocked = s.blockedUntil > now
  if allAllowed then
    if s.algo == 'l' then
      commitLog(s, cost)
    elseif s.algo == 'c' then
      s.b = s.b + cost
    else
      s.a = max(s.a, now) + cost * emissionInterval(windowMs, limit)
    end
    s.dirty = true
  elseif out[o + 1] == 1 then
    -- Another limit rejected the request, so this one consumed nothing and reports its
    -- quota without the request's cost. A cost no quota admits takes the rejected branch of
    -- the algorithm, which reports exactly that.
    local _, left, full = evaluate(s, INF, limit, windowMs, burst)
    out[o + 2], out[o + 3] = left, full
  elseif not wasBlocked and blockForMs > 0 then
    s.blockedUntil = now + blockForMs
    out[o + 4] = max(out[o + 4], blockForMs)
    s.dirty = true
  end
  out[o + 2] = encode(out[o + 2])
  out[o + 3] = encode(out[o + 3])
  out[o + 4] = encode(out[o + 4])
  out[o + 5] = wasBlocked and 1 or 0
end

for _, s in ipairs(order) do
  if s.dirty then save(s) end
end

return out
`;
