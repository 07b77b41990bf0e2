package tasks

import "github.com/redis/go-redis/v9"

// The Lua scripts behind coalescing (see the layout in pending.go). Each
// runs atomically on the keys of one account. Times are unix seconds for
// read points and unix milliseconds for everything else.

// intakeScript accepts one input: unless its de-duplication mark exists,
// it merges the input's read point and MsgKeys into their conversations'
// pending state, names the task that will apply each, and writes the mark
// for the window: the conversation and the tasks' names. The caller then
// enqueues the tasks; a redelivery finds the mark and enqueues the tasks
// it names again (asynq answers a conflict for a task that is there), so a
// crash between this script and the enqueue loses nothing, and a replay
// under the same identity with another body adds nothing.
// KEYS: seen, read state, receipt set, receipt generation.
// ARGV: token, now, pending TTL (ms), window (ms), account, peer, read time
// (0 = none), MsgKeys...
// With tracing (see trace.go) KEYS also has the read and receipt links and
// ARGV ends with the links' cap and the input's traceparent, added to the
// links of the work it joins.
// Returns {'dup', mark} or {'new', mark, set-read joined, receipt joined},
// the mark a JSON object {a: account, p: peer, s: set-read gen, g: receipt
// gen}: a gen is ” when no task is needed (the read point is already
// applied); joined is 1 when the input joined a task already waiting.
var intakeScript = redis.NewScript(`
local seen, read, rset, rgen = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local prev = redis.call('GET', seen)
if prev then return {'dup', prev} end
local token, now, ttl, rt = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[7])
local last, link, cap = #ARGV, nil, 0
if #KEYS > 4 then link, cap, last = ARGV[#ARGV], tonumber(ARGV[#ARGV - 1]), #ARGV - 2 end
local function addLink(key)
  if link and redis.call('ZCARD', key) < cap then
    redis.call('ZADD', key, 'NX', now, link)
    redis.call('PEXPIRE', key, ttl)
  end
end
local sgen, ggen, sjoin, gjoin = '', '', 0, 0
if rt > 0 then
  local v = redis.call('HMGET', read, 'want', 'done', 'gen')
  local want, done = tonumber(v[1]) or 0, tonumber(v[2]) or 0
  if rt > done then
    if rt > want then redis.call('HSET', read, 'want', rt) end
    if v[3] then sjoin = 1; sgen = v[3] else sgen = token; redis.call('HSET', read, 'gen', token) end
    redis.call('PEXPIRE', read, ttl)
    addLink(KEYS[5])
  end
end
if last > 7 then
  for i = 8, last do redis.call('ZADD', rset, 'NX', now, ARGV[i]) end
  addLink(KEYS[6])
  local g = redis.call('GET', rgen)
  if g then gjoin = 1; ggen = g else ggen = token; redis.call('SET', rgen, token, 'PX', ttl) end
  redis.call('PEXPIRE', rset, ttl)
end
local mark = cjson.encode({a = ARGV[5], p = ARGV[6], s = sgen, g = ggen})
redis.call('SET', seen, mark, 'PX', ARGV[4])
return {'new', mark, sjoin, gjoin}
`)

// takeReadScript starts a set-read task: it folds in the read point a task
// of the per-event form carries, releases the generation the task was
// queued as (later events then queue a new task), and returns the read
// point to apply, or 0 when nothing is pending above the applied one; then
// it starts the conversation's call interval. It takes nothing away: the
// read point stays pending until commitReadScript.
// KEYS: read state, interval mark. ARGV: gen, carried read time (0 =
// none), pending TTL, interval (ms; 0 = none). With tracing KEYS also has
// the read links, and a read point comes back as {read point, links}.
var takeReadScript = redis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'want', 'done', 'gen')
local want, done, rt = tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(ARGV[2])
if rt > done and rt > want then
  want = rt
  redis.call('HSET', KEYS[1], 'want', rt)
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
if ARGV[1] ~= '' and v[3] == ARGV[1] then redis.call('HDEL', KEYS[1], 'gen') end
if want <= done then return 0 end
if tonumber(ARGV[4]) > 0 then redis.call('SET', KEYS[2], 1, 'PX', ARGV[4]) end
if KEYS[3] then return {want, redis.call('ZRANGE', KEYS[3], 0, -1)} end
return want
`)

// commitReadScript records that read point sent was applied: it raises the
// applied mark, drops the pending point if the call covered it, and lets
// the state expire after the done TTL once nothing is pending or queued.
// KEYS: read state. ARGV: sent, done TTL (ms). With tracing KEYS also has
// the read links and ARGV the links the call carried: they are dropped, or
// all links once nothing is pending.
var commitReadScript = redis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'want', 'done', 'gen')
local done = math.max(tonumber(v[2]) or 0, tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], 'done', done)
local pending = v[1] and tonumber(v[1]) > done
if v[1] and not pending then redis.call('HDEL', KEYS[1], 'want') end
if not pending and not v[3] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if KEYS[2] and not pending then redis.call('DEL', KEYS[2])
elseif KEYS[2] and #ARGV > 2 then redis.call('ZREM', KEYS[2], unpack(ARGV, 3)) end
return 0
`)

// takeReceiptsScript starts a read-receipt task: it folds in the MsgKeys a
// task of the per-event form carries, releases the generation the task was
// queued as, and returns the oldest pending MsgKeys, at most max. They stay
// pending until the call that carries them succeeds.
// It starts the conversation's call interval when it returns MsgKeys.
// KEYS: receipt set, receipt generation, interval mark. ARGV: gen, max,
// now, pending TTL, interval (ms; 0 = none), carried MsgKeys... With
// tracing KEYS also has the receipt links, and the answer is {MsgKeys,
// links of the inputs accepted up to the newest MsgKey taken}.
var takeReceiptsScript = redis.NewScript(`
for i = 6, #ARGV do redis.call('ZADD', KEYS[1], 'NX', ARGV[3], ARGV[i]) end
if #ARGV > 5 then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
if ARGV[1] ~= '' and redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
local keys = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)
if #keys > 0 and tonumber(ARGV[5]) > 0 then redis.call('SET', KEYS[3], 1, 'PX', ARGV[5]) end
if KEYS[4] then
  if #keys == 0 then return {keys, {}} end
  return {keys, redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', redis.call('ZSCORE', KEYS[1], keys[#keys]))}
end
return keys
`)

// nextReceiptsScript names the task for the MsgKeys still pending after a
// batch: the queued one if there is one, else a new generation with token.
// KEYS: receipt set, receipt generation. ARGV: token, pending TTL (ms).
// Returns the generation, or ” when nothing is pending.
var nextReceiptsScript = redis.NewScript(`
if redis.call('ZCARD', KEYS[1]) == 0 then return '' end
local g = redis.call('GET', KEYS[2])
if g then return g end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
`)

// idleReadScript ends a set-read task that found nothing to do: if still
// no read point above the applied one is pending, it releases the
// generation the task was queued as, atomically, so that no event can join
// a task that has ended; else the task must run after all.
// KEYS: read state. ARGV: gen. Returns 1 when the task may end.
var idleReadScript = redis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'want', 'done', 'gen')
if (tonumber(v[1]) or 0) > (tonumber(v[2]) or 0) then return 0 end
if ARGV[1] ~= '' and v[3] == ARGV[1] then redis.call('HDEL', KEYS[1], 'gen') end
return 1
`)

// idleReceiptsScript is idleReadScript for receipts.
// KEYS: receipt set, receipt generation. ARGV: gen. Returns 1 when the task
// may end.
var idleReceiptsScript = redis.NewScript(`
if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
if ARGV[1] ~= '' and redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
`)
