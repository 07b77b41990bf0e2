package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
	"github.com/chatsync/chatsync/tasks"
)

// Scenarios of the overload phase (the Chat-API budget).
const (
	scReads     = "reads"     // 2,000 conversation.read over 40 conversations within 1 s
	scReceipts  = "receipts"  // 1,000 auto-read AfterSendMsg from 10 senders
	scSustained = "sustained" // 2,000 events/s for 60 s over 1,000 conversations
	scBelow     = "below"     // 50 events/s on distinct conversations, and the per-event path
	scMemory    = "memory"    // Redis memory under 1,000 callbacks/s
)

// OverloadResult is what one overload scenario measured.
type OverloadResult struct {
	Scenario string  `json:"scenario"`
	Path     string  `json:"path,omitempty"` // below: "chatsync" or "per-event"
	Events   int64   `json:"events"`         // acknowledged (or enqueued, per-event)
	Failed   int64   `json:"failed"`
	Seconds  float64 `json:"seconds"` // posting
	Rate     float64 `json:"rate"`    // target events per second
	// Calls are the Chat calls made for the scenario by API, RateLimited
	// the 60007 answers among them.
	Calls       map[string]int64 `json:"calls"`
	RateLimited int64            `json:"rate_limited"`
	// PeakPerSecond is the most calls of an API in one second, from the
	// emulator's counters sampled every second.
	PeakPerSecond map[string]int64 `json:"peak_per_second,omitempty"`
	// AppliedAfterLast is how long after the last event every effect (read
	// point, receipt) was seen at the emulator; -1 if not within the wait.
	AppliedAfterLast float64 `json:"applied_after_last_s"`
	EventToCall      Latency `json:"event_to_call"`
	// Depth samples the tasks left in chatsync's queues every second, and
	// SetReadPerSecond the admin_set_msg_read calls made in that second.
	Depth            []int   `json:"depth,omitempty"`
	SetReadPerSecond []int64 `json:"set_read_per_second,omitempty"`
	// Memory (scMemory): Redis used_memory sampled every 5 s, and the
	// growth over the baseline once the windows are full.
	MemoryBaseline int64   `json:"memory_baseline,omitempty"`
	MemorySamples  []int64 `json:"memory_samples,omitempty"`
	MemoryGrowth   int64   `json:"memory_growth,omitempty"`
	BytesPerRate   float64 `json:"bytes_per_callback_per_s,omitempty"`
}

func cmdOverload(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("overload", flag.ContinueOnError)
	target := addTargetFlags(fs)
	chat := addChatFlags(fs)
	scenario := fs.String("scenario", scReads, "reads, receipts, sustained, below or memory")
	duration := fs.Duration("duration", 60*time.Second, "sustained and memory: how long to post")
	memRate := fs.Float64("rate", 1000, "memory: callbacks per second")
	autoRead := fs.String("auto-read", "bot000", "receipts: an account in chatsync's AUTO_READ_ACCOUNTS")
	redisURL := fs.String("redis", envOr("REDIS_URL", ""), "chatsync's Redis (default $REDIS_URL)")
	out := fs.String("out", "", "append the results to this JSON-lines file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := errors.Join(target.check(), chat.check()); err != nil {
		return err
	}
	if *duration <= 0 || *duration > 30*time.Minute {
		return fmt.Errorf("-duration %v is not from 1ns to 30m", *duration)
	}
	opt, err := loopbackRedis(*redisURL)
	if err != nil {
		return err
	}
	o, err := newOverload(target, chat, opt)
	if err != nil {
		return err
	}
	defer o.close()
	var rs []OverloadResult
	switch *scenario {
	case scReads:
		rs, err = o.reads(ctx)
	case scReceipts:
		rs, err = o.receipts(ctx, *autoRead)
	case scSustained:
		rs, err = o.sustained(ctx, *duration)
	case scBelow:
		rs, err = o.below(ctx)
	case scMemory:
		if *memRate <= 0 || *memRate > 10000 {
			return fmt.Errorf("-rate %v is not from 1 to 10000", *memRate)
		}
		rs, err = o.memory(ctx, *duration, *memRate)
	default:
		return fmt.Errorf("-scenario %q is not reads, receipts, sustained, below or memory", *scenario)
	}
	if err != nil {
		return err
	}
	for _, r := range rs {
		fmt.Fprintf(stdout, "overload %s %s: %d events in %.1f s (%d failed); calls %v, 60007 %d, peak/s %v; applied %.2f s after the last; event→call p50 %.0f p99 %.0f max %.0f ms (n %d)\n",
			r.Scenario, r.Path, r.Events, r.Seconds, r.Failed, r.Calls, r.RateLimited, r.PeakPerSecond,
			r.AppliedAfterLast, r.EventToCall.P50, r.EventToCall.P99, r.EventToCall.Max, r.EventToCall.N)
		if r.Scenario == scMemory {
			fmt.Fprintf(stdout, "overload memory: baseline %d B, growth %d B, %.0f B per callback/s\n",
				r.MemoryBaseline, r.MemoryGrowth, r.BytesPerRate)
		}
		if err := appendRecord(*out, recOverload, r); err != nil {
			return err
		}
	}
	return nil
}

// overload runs the scenarios against a running serve, work and emulator.
type overload struct {
	target *targetFlags
	sign   *Signer
	em     *Inspector
	aq     *asynq.Inspector
	rdb    *redis.Client
	chat   *chatapi.Client
	nonce  string // keeps the accounts of two runs apart
}

func newOverload(target *targetFlags, chat *chatFlags, opt *redis.Options) (*overload, error) {
	sign, err := NewSigner(target.url, target.appID, target.token, target.secret)
	if err != nil {
		return nil, err
	}
	cc, err := chatapi.New(chatapi.Config{SDKAppID: target.appID, SecretKey: chat.secretKey, Admin: chat.admin,
		BaseURL: chat.emulator})
	if err != nil {
		return nil, fmt.Errorf("chat client: %w", err)
	}
	return &overload{target: target, sign: sign, em: NewInspector(chat.emulator, newHTTPClient(4)),
		aq:  asynq.NewInspector(asynq.RedisClientOpt{Addr: opt.Addr, Username: opt.Username, Password: opt.Password, DB: opt.DB}),
		rdb: redis.NewClient(opt), chat: cc, nonce: strconv.FormatInt(time.Now().UnixNano()%46656, 36)}, nil
}

func (o *overload) close() {
	o.aq.Close()
	o.rdb.Close()
}

// accounts imports n readers and n peers (conversation i is reader i with
// peer i) and returns their IDs.
func (o *overload) accounts(ctx context.Context, tag string, n int) (readers, peers []string, err error) {
	for i := range n {
		readers = append(readers, fmt.Sprintf("o%s%s_r%d", o.nonce, tag, i))
		peers = append(peers, fmt.Sprintf("o%s%s_p%d", o.nonce, tag, i))
	}
	all := append(append([]string(nil), readers...), peers...)
	for i := 0; i < len(all); i += 500 {
		if err := o.em.ImportAccounts(ctx, all[i:min(i+500, len(all))]); err != nil {
			return nil, nil, err
		}
	}
	return readers, peers, nil
}

// conversations imports n conversations (accounts) and returns them with
// the emulator's counters before the scenario.
func (o *overload) conversations(ctx context.Context, tag string, n int) (readers, peers []string, before emulator.Stats, err error) {
	if readers, peers, err = o.accounts(ctx, tag, n); err != nil {
		return nil, nil, before, err
	}
	before, err = o.em.Stats(ctx)
	return readers, peers, before, err
}

// watch samples, every second until stop is closed, the calls per API
// (for the per-second peak) and the queue depth.
type watch struct {
	stop    chan struct{}
	done    chan struct{}
	peak    map[string]int64
	depth   []int
	setRead []int64
}

func (o *overload) watch(ctx context.Context) *watch {
	w := &watch{stop: make(chan struct{}), done: make(chan struct{}), peak: map[string]int64{}}
	go func() {
		defer close(w.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		last, _ := o.em.Stats(ctx)
		for {
			select {
			case <-w.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if st, err := o.em.Stats(ctx); err == nil {
				for api, s := range st.APIs {
					w.peak[api] = max(w.peak[api], s.Calls-last.APIs[api].Calls)
				}
				w.setRead = append(w.setRead, st.APIs[chatapi.APISetMsgRead].Calls-last.APIs[chatapi.APISetMsgRead].Calls)
				last = st
			}
			if b, err := QueueBacklog(o.aq); err == nil {
				w.depth = append(w.depth, b.Left())
			}
		}
	}()
	return w
}

func (w *watch) end() {
	close(w.stop)
	<-w.done
}

// post fires requests made by next at rate until n were started or d
// passed, and reports the acknowledged ones to probes.
func (o *overload) post(ctx context.Context, rate float64, n int64, d time.Duration, next func(i int64) Request, probes *Probes) (LoopResult, error) {
	return RunLoop(ctx, LoopConfig{Concurrency: 32, Rate: rate, Duration: d, Requests: n}, func(int) Op {
		f := &Firer{Client: newHTTPClient(1), Signer: o.sign}
		return func(ctx context.Context, i int64) Outcome {
			r := next(i)
			at := time.Now()
			out := f.Fire(ctx, r)
			if out.Label == outcomeOK && probes != nil && (r.Kind == KindConversationRead || r.Kind == KindSendAutoRead) {
				probes.Sent(r, at)
			}
			return out
		}
	})
}

// result fills what every scenario reports.
func (o *overload) result(ctx context.Context, scenario string, rate float64, lr LoopResult, before emulator.Stats) (OverloadResult, error) {
	after, err := o.em.Stats(ctx)
	if err != nil {
		return OverloadResult{}, err
	}
	calls, codes := CallsDiff(before, after)
	delete(calls, chatapi.APISendMsg)
	r := OverloadResult{Scenario: scenario, Rate: rate, Events: lr.OK(), Failed: lr.Total() - lr.OK(),
		Seconds: lr.Elapsed.Seconds(), Calls: calls, AppliedAfterLast: -1}
	for api, c := range codes {
		if api != chatapi.APISendMsg {
			r.RateLimited += c["60007"]
		}
	}
	return r, nil
}

// readsApplied waits until probes saw every conversation's last read point
// applied, and returns how long that took from now (-1: not within limit).
func (o *overload) readsApplied(ctx context.Context, probes *Probes, want map[string]int64, limit time.Duration) float64 {
	start := time.Now()
	for time.Since(start) < limit && ctx.Err() == nil {
		if reqs, err := o.em.Requests(ctx, apiSetMsgRead, 1000); err == nil {
			probes.Observe(reqs)
		}
		if probes.covered(want) {
			return time.Since(start).Seconds()
		}
		sleepUntil(ctx, time.Now().Add(50*time.Millisecond))
	}
	return -1
}

// reads: 2,000 conversation.read events over 40 conversations posted
// within a second, read_time rising per conversation.
func (o *overload) reads(ctx context.Context) ([]OverloadResult, error) {
	const convs, perConv = 40, 50
	readers, peers, before, err := o.conversations(ctx, "a", convs)
	if err != nil {
		return nil, err
	}
	base := time.Now().Unix() - 3600
	probes := NewProbes()
	next := func(i int64) Request {
		c := int(i % convs)
		return Request{Kind: KindConversationRead, ID: fmt.Sprintf("ov-%s-r-%d", o.nonce, i), To: readers[c], From: peers[c],
			MsgTime: base + i/convs}
	}
	stopPoll := o.pollProbes(ctx, probes)
	lr, err := o.post(ctx, convs*perConv, convs*perConv, 10*time.Second, next, probes)
	if err != nil {
		return nil, err
	}
	want := map[string]int64{}
	for c := range convs {
		want[probeConv(readers[c], peers[c])] = base + perConv - 1
	}
	applied := o.readsApplied(ctx, probes, want, 60*time.Second)
	stopPoll()
	r, err := o.result(ctx, scReads, convs*perConv, lr, before)
	r.AppliedAfterLast = applied
	r.EventToCall, _ = probes.Result()
	return []OverloadResult{r}, err
}

// pollProbes observes the emulator's set-read calls every 100 ms until
// the returned function is called.
func (o *overload) pollProbes(ctx context.Context, probes *Probes) func() {
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		probes.Poll(pctx, o.em, 100*time.Millisecond)
	}()
	return func() { cancel(); <-done }
}

// receipts: 1,000 AfterSendMsg callbacks to one auto-read account from 10
// senders (real messages, stored by the emulator), at 1,000/s.
func (o *overload) receipts(ctx context.Context, bot string) ([]OverloadResult, error) {
	const senders, perSender = 10, 100
	_, from, err := o.accounts(ctx, "s", senders)
	if err != nil {
		return nil, err
	}
	if err := o.em.ImportAccounts(ctx, []string{bot}); err != nil {
		return nil, err
	}
	// The messages themselves, quickly: sendmsg is not what is measured.
	if err := o.em.SetRateLimit(ctx, -1); err != nil {
		return nil, err
	}
	reqs := make([]Request, 0, senders*perSender)
	for i := range perSender {
		for _, f := range from {
			m, err := o.chat.SendMsg(ctx, chatapi.SendMsgRequest{FromAccount: f, ToAccount: bot,
				ForbidCallbackControl: []string{"ForbidAfterSendMsgCallback"}, MsgBody: []chatapi.MsgElem{chatapi.TextElem(text)}})
			if err != nil {
				return nil, fmt.Errorf("sendmsg: %w", err)
			}
			reqs = append(reqs, Request{Kind: KindSendAutoRead, Command: cmdAfterSendMsg, From: f, To: bot,
				MsgTime: m.MsgTime, MsgKey: m.MsgKey, MsgSeq: uint32(i + 1), UnreadMsgNum: i + 1})
		}
	}
	if err := o.em.SetRateLimit(ctx, emulator.DefaultRateLimit); err != nil {
		return nil, err
	}
	before, err := o.em.Stats(ctx)
	if err != nil {
		return nil, err
	}
	w := o.watch(ctx)
	lr, err := o.post(ctx, 1000, int64(len(reqs)), 10*time.Second, func(i int64) Request { return reqs[i] }, nil)
	if err != nil {
		return nil, err
	}
	keys := map[string]bool{}
	for _, r := range reqs {
		keys[r.MsgKey] = true
	}
	start := time.Now()
	applied := -1.0
	got := map[string]bool{}
	for time.Since(start) < 60*time.Second && ctx.Err() == nil {
		rr, err := o.em.Requests(ctx, chatapi.APIReadReceipt, 1000)
		if err == nil {
			receiptKeys(rr, got)
		}
		if len(got) >= len(keys) && covers(got, keys) {
			applied = time.Since(start).Seconds()
			break
		}
		sleepUntil(ctx, time.Now().Add(50*time.Millisecond))
	}
	w.end()
	r, err := o.result(ctx, scReceipts, 1000, lr, before)
	r.AppliedAfterLast, r.PeakPerSecond, r.Depth = applied, w.peak, w.depth
	return []OverloadResult{r}, err
}

func covers(got, want map[string]bool) bool {
	for k := range want {
		if !got[k] {
			return false
		}
	}
	return true
}

// receiptKeys adds the MsgKeys of the successful receipt calls in reqs.
func receiptKeys(reqs []emulator.Request, got map[string]bool) {
	for _, r := range reqs {
		if r.ErrorCode != 0 || r.HTTPStatus != 200 {
			continue
		}
		var b readReceiptBody
		if json.Unmarshal(r.Body, &b) != nil {
			continue
		}
		for _, m := range b.C2CMsgInfo {
			got[m.MsgKey] = true
		}
	}
}

// sustained: 2,000 conversation.read events/s over 1,000 conversations
// for d: ten times Chat's budget. Every event is a probe.
func (o *overload) sustained(ctx context.Context, d time.Duration) ([]OverloadResult, error) {
	const convs, rate = 1000, 2000
	readers, peers, before, err := o.conversations(ctx, "u", convs)
	if err != nil {
		return nil, err
	}
	probes := NewProbes()
	stopPoll := o.pollProbes(ctx, probes)
	w := o.watch(ctx)
	var mu sync.Mutex
	last := map[string]int64{}
	next := func(i int64) Request {
		c := int(i % convs)
		rt := time.Now().Unix()
		mu.Lock()
		last[probeConv(readers[c], peers[c])] = max(last[probeConv(readers[c], peers[c])], rt)
		mu.Unlock()
		return Request{Kind: KindConversationRead, ID: fmt.Sprintf("ov-%s-s-%d", o.nonce, i), To: readers[c], From: peers[c], MsgTime: rt}
	}
	lr, err := o.post(ctx, rate, int64(d.Seconds()*rate), d, next, probes)
	if err != nil {
		return nil, err
	}
	applied := o.readsApplied(ctx, probes, last, 120*time.Second)
	w.end()
	stopPoll()
	r, err := o.result(ctx, scSustained, rate, lr, before)
	r.AppliedAfterLast, r.PeakPerSecond, r.Depth, r.SetReadPerSecond = applied, w.peak, w.depth, w.setRead
	r.EventToCall, _ = probes.Result()
	return []OverloadResult{r}, err
}

// below: 50 conversation.read events/s, each on a conversation of its own,
// for 20 s through chatsync; then the same through per-event tasks
// enqueued straight into asynq (the form of chatsync's tasks before it
// coalesced, which workers still accept), for the same workers.
func (o *overload) below(ctx context.Context) ([]OverloadResult, error) {
	const rate, n = 50, 1000
	var out []OverloadResult
	for _, path := range []string{"chatsync", "per-event"} {
		readers, peers, before, err := o.conversations(ctx, "b"+path[:1], n)
		if err != nil {
			return nil, err
		}
		probes := NewProbes()
		stopPoll := o.pollProbes(ctx, probes)
		rt := time.Now().Unix()
		var lr LoopResult
		if path == "chatsync" {
			lr, err = o.post(ctx, rate, n, time.Minute, func(i int64) Request {
				return Request{Kind: KindConversationRead, ID: fmt.Sprintf("ov-%s-b-%d", o.nonce, i), To: readers[i], From: peers[i], MsgTime: rt}
			}, probes)
		} else {
			lr, err = o.perEvent(ctx, rate, readers, peers, rt, probes)
		}
		if err != nil {
			stopPoll()
			return nil, err
		}
		want := map[string]int64{}
		for i := range n {
			want[probeConv(readers[i], peers[i])] = rt
		}
		applied := o.readsApplied(ctx, probes, want, 30*time.Second)
		stopPoll()
		r, err := o.result(ctx, scBelow, rate, lr, before)
		if err != nil {
			return nil, err
		}
		r.Path, r.AppliedAfterLast = path, applied
		r.EventToCall, _ = probes.Result()
		out = append(out, r)
	}
	return out, nil
}

// perEvent enqueues one per-event set-read task a conversation at rate.
func (o *overload) perEvent(ctx context.Context, rate float64, readers, peers []string, rt int64, probes *Probes) (LoopResult, error) {
	client := asynq.NewClientFromRedisClient(o.rdb)
	return RunLoop(ctx, LoopConfig{Concurrency: 8, Rate: rate, Duration: time.Minute, Requests: int64(len(readers))}, func(int) Op {
		return func(ctx context.Context, i int64) Outcome {
			at := time.Now()
			t, err := tasks.Builder{}.SetRead(tasks.SetRead{Account: readers[i], Peer: peers[i], ReadTime: rt},
				"per-event", o.nonce, strconv.FormatInt(i, 10))
			if err == nil {
				_, err = client.EnqueueContext(ctx, t)
			}
			if err != nil {
				return Outcome{Kind: KindConversationRead, Label: "enqueue"}
			}
			probes.Sent(Request{To: readers[i], From: peers[i], MsgTime: rt}, at)
			return Outcome{Kind: KindConversationRead, Label: outcomeOK}
		}
	})
}

// memory: AfterSendMsg callbacks (no auto-read) over 20,000 fixed
// conversations among 10,000 users at rate for d, sampling Redis's
// used_memory every 5 s and the queues every second. The growth is taken
// over the last third of the run, once the de-duplication window (2 min)
// and TASK_RETENTION are full; the queue depth tells whether the workers
// kept up (a growing backlog would be counted as growth too).
func (o *overload) memory(ctx context.Context, d time.Duration, rate float64) ([]OverloadResult, error) {
	const users, convs = 10000, 20000
	base, err := o.usedMemory(ctx)
	if err != nil {
		return nil, err
	}
	before, err := o.em.Stats(ctx)
	if err != nil {
		return nil, err
	}
	var samples []int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if m, err := o.usedMemory(ctx); err == nil {
					samples = append(samples, m)
				}
			}
		}
	}()
	w := o.watch(ctx)
	seq := time.Now().UnixNano()
	lr, err := o.post(ctx, rate, int64(d.Seconds()*rate), d, func(i int64) Request {
		c := int(i % convs)
		from, to := User(c%users), User((c%users+1+c/users*7)%users)
		s := uint32(seq + i)
		now := time.Now().Unix()
		return Request{Kind: KindSendMsg, Command: cmdAfterSendMsg, From: from, To: to, MsgSeq: s, MsgRandom: s,
			MsgTime: now, MsgKey: fmt.Sprintf("%d_%d_%d", s, s, now), UnreadMsgNum: 1}
	}, nil)
	close(stop)
	<-done
	w.end()
	if err != nil {
		return nil, err
	}
	r, err := o.result(ctx, scMemory, rate, lr, before)
	r.MemoryBaseline, r.MemorySamples, r.Depth = base, samples, w.depth
	if k := len(samples) / 3; k > 0 {
		var sum int64
		for _, s := range samples[len(samples)-k:] {
			sum += s
		}
		r.MemoryGrowth = sum/int64(k) - base
		r.BytesPerRate = float64(r.MemoryGrowth) / rate
	}
	return []OverloadResult{r}, err
}

func (o *overload) usedMemory(ctx context.Context) (int64, error) {
	info, err := o.rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0, fmt.Errorf("redis info: %w", err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, errors.New("redis info: no used_memory")
}
