package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
	"github.com/chatsync/chatsync/tasks"
)

// overloadResult is what one scenario of the overload phase (the Chat-API
// budget) measured.
type overloadResult struct {
	Scenario string  `json:"scenario"`
	Path     string  `json:"path,omitempty"` // below: "chatsync" or "per-event"
	Events   int64   `json:"events"`         // acknowledged (per-event: enqueued)
	Failed   int64   `json:"failed"`
	Seconds  float64 `json:"seconds"` // posting
	Rate     float64 `json:"rate"`    // target events per second
	apiCalls
	RateLimited int64 `json:"rate_limited"`
	// PeakPerSecond is the most calls of an API in one second.
	PeakPerSecond map[string]int64 `json:"peak_per_second,omitempty"`
	// AppliedAfterLast is how long after the last event every effect (read
	// point, receipt) was seen at the emulator; -1 if not within the wait.
	AppliedAfterLast float64 `json:"applied_after_last_s"`
	EventToCall      latency `json:"event_to_call"`
	// Depth is the tasks left in chatsync's queues, SetReadPerSecond the
	// admin_set_msg_read calls, each second.
	Depth            []int   `json:"depth,omitempty"`
	SetReadPerSecond []int64 `json:"set_read_per_second,omitempty"`
	// Memory: Redis used_memory every 5 s, and the growth over the baseline
	// averaged over the last third of the run, per callback/s.
	MemoryBaseline int64   `json:"memory_baseline,omitempty"`
	MemorySamples  []int64 `json:"memory_samples,omitempty"`
	MemoryGrowth   int64   `json:"memory_growth,omitempty"`
	BytesPerRate   float64 `json:"bytes_per_callback_per_s,omitempty"`
}

// overload runs the scenarios against a running serve, work and emulator.
type overload struct {
	*session
	nonce string // keeps the accounts of two runs apart
}

func cmdOverload(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("overload", flag.ContinueOnError)
	o, opts := &overload{nonce: strconv.FormatInt(time.Now().UnixNano()%46656, 36)}, addOptions(fs)
	scenario := fs.String("scenario", "reads", "reads, receipts, sustained, below or memory")
	duration := fs.Duration("duration", time.Minute, "sustained and memory: how long to post")
	rate := fs.Float64("rate", 1000, "memory: callbacks per second")
	var err error
	if o.session, err = opts.parseOpen(fs, args); err != nil {
		return err
	}
	defer o.close()
	scenarios := map[string]func(context.Context) ([]overloadResult, error){
		"reads": o.reads, "receipts": o.receipts, "below": o.below,
		"sustained": func(ctx context.Context) ([]overloadResult, error) { return o.sustained(ctx, *duration) },
		"memory":    func(ctx context.Context) ([]overloadResult, error) { return o.memory(ctx, *duration, *rate) },
	}
	run, ok := scenarios[*scenario]
	if !ok || *rate <= 0 || *rate > 10000 || *duration > 30*time.Minute {
		return fmt.Errorf("-scenario %q, -rate %v, -duration %v: want a scenario, 1 to 10000/s, at most 30m", *scenario, *rate, *duration)
	}
	rs, err := run(ctx)
	for i := range rs {
		err = errors.Join(err, emit(stdout, o.out, record{Overload: &rs[i]}))
	}
	return err
}

// conversations imports n conversations (reader i with peer i) and returns
// them with the emulator's counters before the scenario.
func (o *overload) conversations(ctx context.Context, tag string, n int) (readers, peers []string, before emulator.Stats, err error) {
	for i := range n {
		readers = append(readers, fmt.Sprintf("o%s%s_r%d", o.nonce, tag, i))
		peers = append(peers, fmt.Sprintf("o%s%s_p%d", o.nonce, tag, i))
	}
	if err = o.em.importAccounts(ctx, append(append([]string(nil), readers...), peers...)); err == nil {
		before, err = o.em.stats(ctx)
	}
	return readers, peers, before, err
}

// watch samples, every second until stopped, the calls of each API and
// the queue depth into r, and for the memory scenario Redis's used_memory
// every 5 s. Stopping twice is stopping once.
func (o *overload) watch(ctx context.Context, r *overloadResult) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan *sampler)
	go func() {
		s, _ := sample(ctx, o.em, o.aq, time.Second, func(s *sampler) bool {
			if r.Scenario == "memory" && len(s.depth)%5 == 0 {
				if m, err := o.usedMemory(ctx); err == nil {
					r.MemorySamples = append(r.MemorySamples, m)
				}
			}
			return true
		})
		done <- s
	}()
	return sync.OnceFunc(func() {
		cancel()
		s := <-done
		r.Depth, r.PeakPerSecond = s.depth, map[string]int64{}
		for api, rates := range s.rates {
			r.PeakPerSecond[api] = int64(math.Round(slices.Max(rates)))
		}
		for _, v := range s.rates[chatapi.APISetMsgRead] {
			r.SetReadPerSecond = append(r.SetReadPerSecond, int64(math.Round(v)))
		}
	})
}

// post fires the requests next makes at rate until n were started or d
// passed, and tells p (if any) of the acknowledged probes.
func (o *overload) post(ctx context.Context, rate float64, n int64, d time.Duration, next func(i int64) request, p *probes) (loopResult, error) {
	return runLoop(ctx, loopConfig{concurrency: 32, rate: rate, duration: d, requests: n}, func(int) op {
		s, _ := newSigner(o.target, o.appID, o.token, o.eventsSecret) // the secret's error shows as "encode"
		f := &firer{client: newHTTPClient(1), signer: s}
		return func(ctx context.Context, i int64) outcome {
			r, at := next(i), time.Now()
			out := f.fire(ctx, r)
			if out.label == outcomeOK && p != nil {
				p.sent(r, at)
			}
			return out
		}
	})
}

// finish fills in what every scenario reports.
func (o *overload) finish(ctx context.Context, r *overloadResult, lr loopResult, before emulator.Stats) error {
	after, err := o.em.stats(ctx)
	r.Events, r.Failed, r.Seconds = lr.ok(), lr.total()-lr.ok(), lr.elapsed.Seconds()
	r.apiCalls = callsBetween(before, after)
	r.RateLimited = r.rateLimited()
	return err
}

// reads: 2,000 conversation.read events over 40 conversations within a
// second, read_time rising per conversation.
func (o *overload) reads(ctx context.Context) ([]overloadResult, error) {
	const convs, perConv = 40, 50
	r := overloadResult{Scenario: "reads", Rate: convs * perConv}
	readers, peers, before, err := o.conversations(ctx, "a", convs)
	if err != nil {
		return nil, err
	}
	base, p := time.Now().Unix()-3600, newProbes()
	defer p.poll(ctx, o.em)()
	lr, err := o.post(ctx, r.Rate, convs*perConv, 10*time.Second, func(i int64) request {
		c := int(i % convs)
		return request{kind: kindConversationRead, id: fmt.Sprintf("ov-%s-r-%d", o.nonce, i), to: readers[c], from: peers[c],
			msgTime: base + i/convs}
	}, p)
	want := map[string]int64{}
	for c := range convs {
		want[conversation(readers[c], peers[c])] = base + perConv - 1
	}
	return o.applied(ctx, &r, p, want, time.Minute, lr, before, err)
}

// applied waits until p saw the read points of want applied, and finishes
// r with how long that took and the probes' latencies.
func (o *overload) applied(ctx context.Context, r *overloadResult, p *probes, want map[string]int64, limit time.Duration,
	lr loopResult, before emulator.Stats, err error) ([]overloadResult, error) {
	if err != nil {
		return nil, err
	}
	r.AppliedAfterLast = p.waitCovered(ctx, o.em, want, limit)
	r.EventToCall, _ = p.result()
	err = o.finish(ctx, r, lr, before)
	return []overloadResult{*r}, err
}

// receipts: 1,000 AfterSendMsg callbacks to one auto-read account from 10
// senders (real messages, stored by the emulator), at 1,000/s.
func (o *overload) receipts(ctx context.Context) ([]overloadResult, error) {
	if len(o.autoRead) == 0 {
		return nil, errors.New("receipts: -auto-read (or $AUTO_READ_ACCOUNTS) is required")
	}
	r := overloadResult{Scenario: "receipts", Rate: 1000}
	reqs, err := o.receiptMessages(ctx, o.autoRead[0])
	if err != nil {
		return nil, err
	}
	before, err := o.em.stats(ctx)
	if err != nil {
		return nil, err
	}
	stop := o.watch(ctx, &r)
	lr, err := o.post(ctx, r.Rate, int64(len(reqs)), 10*time.Second, func(i int64) request { return reqs[i] }, nil)
	if err != nil {
		return nil, err
	}
	r.AppliedAfterLast = o.waitReceipts(ctx, reqs)
	stop()
	err = o.finish(ctx, &r, lr, before)
	return []overloadResult{r}, err
}

// receiptMessages sends the receipts scenario's messages, quickly (sendmsg
// is not what is measured) and without their callbacks, and returns the
// callbacks to post for them.
func (o *overload) receiptMessages(ctx context.Context, bot string) ([]request, error) {
	_, senders, _, err := o.conversations(ctx, "s", 10)
	if err == nil {
		err = errors.Join(o.em.importAccounts(ctx, []string{bot}), o.em.setRateLimit(ctx, -1))
	}
	defer o.em.setRateLimit(context.WithoutCancel(ctx), emulator.DefaultRateLimit)
	var reqs []request
	for i := 0; i < 100 && err == nil; i++ {
		for _, from := range senders {
			m, err := o.chat.SendMsg(ctx, chatapi.SendMsgRequest{FromAccount: from, ToAccount: bot,
				ForbidCallbackControl: []string{"ForbidAfterSendMsgCallback"}, MsgBody: []chatapi.MsgElem{chatapi.TextElem(text)}})
			if err != nil {
				return nil, fmt.Errorf("sendmsg: %w", err)
			}
			reqs = append(reqs, request{kind: kindSendAutoRead, command: cmdAfterSendMsg, from: from, to: bot,
				msgTime: m.MsgTime, msgKey: m.MsgKey, msgSeq: uint32(i + 1), unread: i + 1})
		}
	}
	return reqs, err
}

// waitReceipts waits up to a minute until every message of reqs was
// receipted, and returns how long that took (-1: not within the minute).
func (o *overload) waitReceipts(ctx context.Context, reqs []request) float64 {
	want, start := map[string]bool{}, time.Now()
	for _, r := range reqs {
		want[r.msgKey] = true
	}
	for time.Since(start) < time.Minute && sleepUntil(ctx, time.Now().Add(50*time.Millisecond)) {
		calls, err := o.em.requests(ctx, chatapi.APIReadReceipt, 1000)
		for _, c := range calls {
			var b readReceiptBody
			if err == nil && c.ErrorCode == 0 && c.HTTPStatus == 200 && json.Unmarshal(c.Body, &b) == nil {
				for _, m := range b.C2CMsgInfo {
					delete(want, m.MsgKey)
				}
			}
		}
		if len(want) == 0 {
			return time.Since(start).Seconds()
		}
	}
	return -1
}

// sustained: 2,000 conversation.read events/s over 1,000 conversations
// for d, ten times Chat's budget; every event is a probe.
func (o *overload) sustained(ctx context.Context, d time.Duration) ([]overloadResult, error) {
	const convs = 1000
	r := overloadResult{Scenario: "sustained", Rate: 2000}
	readers, peers, before, err := o.conversations(ctx, "u", convs)
	if err != nil {
		return nil, err
	}
	p, stop := newProbes(), o.watch(ctx, &r)
	defer stop()
	defer p.poll(ctx, o.em)()
	var mu sync.Mutex
	last := map[string]int64{}
	lr, err := o.post(ctx, r.Rate, int64(d.Seconds()*r.Rate), d, func(i int64) request {
		c, rt := int(i%convs), time.Now().Unix()
		mu.Lock()
		last[conversation(readers[c], peers[c])] = max(last[conversation(readers[c], peers[c])], rt)
		mu.Unlock()
		return request{kind: kindConversationRead, id: fmt.Sprintf("ov-%s-s-%d", o.nonce, i), to: readers[c], from: peers[c], msgTime: rt}
	}, p)
	if err != nil {
		return nil, err
	}
	r.AppliedAfterLast = p.waitCovered(ctx, o.em, last, 2*time.Minute)
	stop()
	r.EventToCall, _ = p.result()
	err = o.finish(ctx, &r, lr, before)
	return []overloadResult{r}, err
}

// below: 50 conversation.read events/s, each on a conversation of its own,
// for 20 s through chatsync; then the same as per-event tasks enqueued
// straight into asynq (the task form before coalescing, which workers
// still accept), for the same workers.
func (o *overload) below(ctx context.Context) ([]overloadResult, error) {
	var out []overloadResult
	for _, path := range []string{"chatsync", "per-event"} {
		r, err := o.belowPath(ctx, path)
		if err != nil {
			return nil, err
		}
		out = append(out, r...)
	}
	return out, nil
}

func (o *overload) belowPath(ctx context.Context, path string) ([]overloadResult, error) {
	const n = 1000
	r := overloadResult{Scenario: "below", Path: path, Rate: 50}
	readers, peers, before, err := o.conversations(ctx, "b"+path[:1], n)
	if err != nil {
		return nil, err
	}
	p, rt := newProbes(), time.Now().Unix()
	defer p.poll(ctx, o.em)()
	var lr loopResult
	if path == "chatsync" {
		lr, err = o.post(ctx, r.Rate, n, time.Minute, func(i int64) request {
			return request{kind: kindConversationRead, id: fmt.Sprintf("ov-%s-b-%d", o.nonce, i), to: readers[i], from: peers[i], msgTime: rt}
		}, p)
	} else {
		lr, err = o.perEvent(ctx, r.Rate, readers, peers, rt, p)
	}
	want := map[string]int64{}
	for i := range n {
		want[conversation(readers[i], peers[i])] = rt
	}
	return o.applied(ctx, &r, p, want, 30*time.Second, lr, before, err)
}

// perEvent enqueues one per-event set-read task a conversation at rate.
func (o *overload) perEvent(ctx context.Context, rate float64, readers, peers []string, rt int64, p *probes) (loopResult, error) {
	client := asynq.NewClientFromRedisClient(o.rdb)
	cfg := loopConfig{concurrency: 8, rate: rate, duration: time.Minute, requests: int64(len(readers))}
	return runLoop(ctx, cfg, func(int) op {
		return func(ctx context.Context, i int64) outcome {
			at := time.Now()
			t, err := tasks.Builder{}.SetRead(tasks.SetRead{Account: readers[i], Peer: peers[i], ReadTime: rt},
				"per-event", o.nonce, strconv.FormatInt(i, 10))
			if err == nil {
				_, err = client.EnqueueContext(ctx, t)
			}
			if err != nil {
				return outcome{kind: kindConversationRead, label: "enqueue"}
			}
			p.sent(request{to: readers[i], from: peers[i], msgTime: rt}, at)
			return outcome{kind: kindConversationRead, label: outcomeOK}
		}
	})
}

// memory: AfterSendMsg callbacks (no auto-read) over 20,000 fixed
// conversations among 10,000 users at rate for d, with Redis's used_memory
// every 5 s and the queues every second. The growth is taken over the last
// third of the run, once the de-duplication window (2 min) and
// TASK_RETENTION are full; a growing queue means the workers did not keep
// up (its tasks count as growth too).
func (o *overload) memory(ctx context.Context, d time.Duration, rate float64) ([]overloadResult, error) {
	const users, convs = 10000, 20000
	r := overloadResult{Scenario: "memory", Rate: rate, AppliedAfterLast: -1}
	base, err := o.usedMemory(ctx)
	before, err2 := o.em.stats(ctx)
	if err = errors.Join(err, err2); err != nil {
		return nil, err
	}
	stop, seq := o.watch(ctx, &r), uint32(time.Now().UnixNano())
	lr, err := o.post(ctx, rate, int64(d.Seconds()*rate), d, func(i int64) request {
		c, s, now := int(i%convs), seq+uint32(i), time.Now().Unix()
		from := c % users
		return request{kind: kindSendMsg, command: cmdAfterSendMsg, from: user(from), to: user((from + 1 + c/users*7) % users),
			msgSeq: s, msgRandom: s, msgTime: now, msgKey: msgKey(s, s, now), unread: 1}
	}, nil)
	stop()
	if err != nil {
		return nil, err
	}
	r.MemoryBaseline = base
	if k := len(r.MemorySamples) / 3; k > 0 {
		var sum int64
		for _, s := range r.MemorySamples[len(r.MemorySamples)-k:] {
			sum += s
		}
		r.MemoryGrowth = sum/int64(k) - base
		r.BytesPerRate = float64(r.MemoryGrowth) / rate
	}
	err = o.finish(ctx, &r, lr, before)
	return []overloadResult{r}, err
}

func (o *overload) usedMemory(ctx context.Context) (int64, error) {
	info, err := o.rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0, fmt.Errorf("redis info: %w", err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, errors.New("redis info: no used_memory")
}
