package tasks

import "github.com/redis/go-redis/v9"

// The Lua scripts behind Store. Each runs atomically on the keys of one
// user (see the layout in store.go). Times are unix milliseconds.

// luaLib holds the functions the scripts share.
const luaLib = `
-- apply_total stores total, measured at at by src, unless the stored total
-- is newer: a later measurement wins, and of two measured at the same
-- instant the larger (callbacks of one second carry the same MsgTime and
-- arrive in any order; within it unread grows through sends).
-- Returns changed (the value differs), applied, and ambiguous: the two
-- fall in the same second, differ, and exactly one of them is a whole
-- second (a callback's MsgTime, precise to the second only), so which came
-- first is unknown and the total should be measured again.
local function apply_total(snap, total, at, src)
  local old = redis.call('HMGET', snap, 'total', 'total_at')
  local ot, oat = tonumber(old[1]), tonumber(old[2]) or 0
  if not ot then
    redis.call('HSET', snap, 'total', total, 'total_at', at, 'total_src', src)
    return 1, 1, 0
  end
  local ambiguous = 0
  if total ~= ot and math.floor(at / 1000) == math.floor(oat / 1000)
      and ((at % 1000 == 0) ~= (oat % 1000 == 0)) then
    ambiguous = 1
  end
  if at > oat or (at == oat and total > ot) then
    redis.call('HSET', snap, 'total', total, 'total_at', at, 'total_src', src)
    if total ~= ot then return 1, 1, ambiguous end
    return 0, 1, ambiguous
  end
  return 0, 0, ambiguous
end

-- claim makes token the owner of the task scheduled for key unless another
-- token owns it and was set less than stale ms ago (an older one is
-- presumed lost, e.g. deleted by an operator). Returns 1 when the caller
-- must enqueue the task.
local function claim(key, token, now, stale)
  local cur = redis.call('HMGET', key, 'token', 'token_at')
  if cur[1] and cur[1] ~= token and now - (tonumber(cur[2]) or 0) < stale then return 0 end
  redis.call('HSET', key, 'token', token, 'token_at', now)
  return 1
end

-- notify marks the sink notification due when the snapshot changed and
-- claims its scheduling. Returns 1 when the caller must enqueue it.
local function notify(sink, enabled, changed, token, now, stale)
  if enabled ~= '1' then return 0 end
  if changed == 1 then redis.call('HSET', sink, 'dirty', 1) end
  if redis.call('HEXISTS', sink, 'dirty') == 0 then return 0 end
  return claim(sink, token, now, stale)
end
`

// changeScript applies a chat:unread task. A callback's total that is
// stored changes the peers it names together with it, so that the snapshot
// never shows a total that contradicts a peer's count: a total of 0 zeroes
// every peer; otherwise the named peers' counts are dropped until their
// refresh (scheduled here) measures them.
// KEYS: snap, refresh, sink.
// ARGV: now, token, stale, sink enabled, has total, total, total_at, source,
// refresh total, snapshot TTL (ms), peers...
// Returns {changed, applied, schedule refresh, schedule notification}.
var changeScript = redis.NewScript(luaLib + `
local snap, work, sink = KEYS[1], KEYS[2], KEYS[3]
local now, token, stale = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
redis.call('HSETNX', snap, 'seen', now)
local changed, applied, ambiguous = 0, 0, 0
if ARGV[5] == '1' then
  changed, applied, ambiguous = apply_total(snap, tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8])
end
if applied == 1 then
  if tonumber(ARGV[6]) == 0 then
    for _, f in ipairs(redis.call('HKEYS', snap)) do
      if string.sub(f, 1, 2) == 'p:' then
        local c = string.match(redis.call('HGET', snap, f), '^(%-?%d+)')
        if c ~= '0' then changed = 1 end
        redis.call('HSET', snap, f, '0 ' .. ARGV[7] .. ' ' .. ARGV[8])
      end
    end
  else
    for i = 11, #ARGV do
      if redis.call('HDEL', snap, 'p:' .. ARGV[i]) == 1 then changed = 1 end
    end
  end
end
redis.call('PEXPIRE', snap, ARGV[10])
local npeers = #ARGV - 10
-- The total is measured when asked for, when unknown, when a callback left
-- it in doubt, and when peers changed with no total to go with them.
local want = ARGV[9] == '1' or ambiguous == 1
  or redis.call('HEXISTS', snap, 'total') == 0
  or (ARGV[5] ~= '1' and npeers > 0)
local schedule = 0
if npeers > 0 or want then
  for i = 11, #ARGV do redis.call('HSET', work, 'p:' .. ARGV[i], 1) end
  if want then redis.call('HSET', work, 'total', 1) end
  redis.call('HSET', work, 'last', now)
  redis.call('HSETNX', work, 'first', now)
  schedule = claim(work, token, now, stale)
end
return {changed, applied, schedule, notify(sink, ARGV[4], changed, token, now, stale)}
`)

// unclaimScript drops KEYS[1]'s token if it is ARGV[1].
var unclaimScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'token', 'token_at')
end
return 0
`)

// beginScript starts (or resumes) the refresh task with a token.
// KEYS: refresh, inflight (of this token).
// ARGV: token, now, debounce, max delay, inflight TTL in seconds.
// Returns {'stale'}, {'wait', ms} or {'run', fields of the inflight hash}.
var beginScript = redis.NewScript(`
local work, inflight = KEYS[1], KEYS[2]
if redis.call('EXISTS', inflight) == 1 then
  redis.call('EXPIRE', inflight, ARGV[5])
  return {'run', redis.call('HGETALL', inflight)}
end
if redis.call('HGET', work, 'token') ~= ARGV[1] then return {'stale'} end
local now = tonumber(ARGV[2])
local v = redis.call('HMGET', work, 'first', 'last')
local first, last = tonumber(v[1]) or now, tonumber(v[2]) or now
local due = math.min(last + tonumber(ARGV[3]), first + tonumber(ARGV[4]))
if now < due then return {'wait', due - now} end
redis.call('RENAME', work, inflight)
redis.call('HDEL', inflight, 'token', 'token_at', 'last')
redis.call('EXPIRE', inflight, ARGV[5])
return {'run', redis.call('HGETALL', inflight)}
`)

// recordScript stores what one get_c2c_unread_msg_num call measured and
// strikes it from the inflight hash.
// KEYS: snap, inflight, sink.
// ARGV: now, token, stale, sink enabled, at, has total, total, n, then n
// pairs peer, count, then peers that do not exist.
// Returns {changed, ambiguous, schedule notification}.
var recordScript = redis.NewScript(luaLib + `
local snap, inflight, sink = KEYS[1], KEYS[2], KEYS[3]
local now, token, stale = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local at = tonumber(ARGV[5])
local changed, ambiguous = 0, 0
if ARGV[6] == '1' then
  local c, _, a = apply_total(snap, tonumber(ARGV[7]), at, 'api')
  changed, ambiguous = c, a
  redis.call('HDEL', inflight, 'total')
end
local n = tonumber(ARGV[8])
for i = 9, 8 + 2 * n, 2 do
  local f = 'p:' .. ARGV[i]
  local count = tonumber(ARGV[i + 1])
  local old = redis.call('HGET', snap, f)
  local oc, oat = nil, -1
  if old then
    local c, a = string.match(old, '^(%-?%d+) (%d+)')
    oc, oat = tonumber(c), tonumber(a) or -1
  end
  if at >= oat then
    redis.call('HSET', snap, f, ARGV[i + 1] .. ' ' .. ARGV[5] .. ' api')
    if oc ~= count then changed = 1 end
  end
  redis.call('HDEL', inflight, f)
end
for i = 9 + 2 * n, #ARGV do
  local f = 'p:' .. ARGV[i]
  if redis.call('HDEL', snap, f) == 1 then changed = 1 end
  redis.call('HDEL', inflight, f)
end
return {changed, ambiguous, notify(sink, ARGV[4], changed, token, now, stale)}
`)

// takeScript clears the pending sink notification if ARGV[1] owns it.
// KEYS: sink. Returns 1 if it did.
var takeScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`)
