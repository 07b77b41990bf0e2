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
	"sync"
	"time"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
)

// overloadResult is what one scenario of the overload phase (the Chat-API budget) measured.
type overloadResult struct {
	Scenario string  `json:"scenario"`
	Events   int64   `json:"events"`  // acknowledged
	Seconds  float64 `json:"seconds"` // posting
	Rate     float64 `json:"rate"`    // target events per second
	apiCalls
	PeakPerSecond    map[string]int64 `json:"peak_per_second,omitempty"` // the most calls of an API in one second
	AppliedAfterLast float64          `json:"applied_after_last_s"`      // every effect seen after the last event; -1: not in time
	EventToCall      latency          `json:"event_to_call"`
	Depth            []int64          `json:"depth,omitempty"` // tasks queued, each second
	// Memory: Redis used_memory every 5 s; growth over the last third of the run, per callback/s.
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
	d := fs.Duration("duration", time.Minute, "sustained and memory: how long to post")
	rate := fs.Float64("rate", 1000, "memory: callbacks per second")
	var err error
	if o.session, err = opts.parseOpen(fs, args); err != nil {
		return err
	}
	defer o.close()
	base := time.Now().Unix() - 3600
	scenarios := map[string]func(context.Context, *overloadResult) error{
		"reads": func(ctx context.Context, r *overloadResult) error { // 2,000 over 40 conversations, read_time rising
			return o.reads(ctx, r, 40, 2000, 10*time.Second, time.Minute, func(i int64) int64 { return base + i/40 })
		},
		"sustained": func(ctx context.Context, r *overloadResult) error { // 2,000/s over 1,000 conversations
			return o.reads(ctx, r, 1000, int64(d.Seconds()*2000), *d, 2*time.Minute, func(int64) int64 { return time.Now().Unix() })
		},
		"below": func(ctx context.Context, r *overloadResult) error { // 50/s, each on a conversation of its own
			return o.reads(ctx, r, 1000, 1000, time.Minute, 30*time.Second, func(int64) int64 { return base })
		},
		"receipts": o.receipts,
		"memory":   func(ctx context.Context, r *overloadResult) error { return o.memory(ctx, r, *d) },
	}
	rates := map[string]float64{"reads": 2000, "sustained": 2000, "below": 50, "receipts": 1000, "memory": *rate}
	run, ok := scenarios[*scenario]
	if !ok || *rate <= 0 || *rate > 10000 || *d > 30*time.Minute {
		return fmt.Errorf("-scenario %q, -rate %v, -duration %v: want a scenario, 1 to 10000/s, at most 30m", *scenario, *rate, *d)
	}
	r := overloadResult{Scenario: *scenario, Rate: rates[*scenario], AppliedAfterLast: -1}
	if err := run(ctx, &r); err != nil {
		return err
	}
	return emit(stdout, o.out, record{Overload: &r})
}

// conversations imports n conversations and returns the emulator's counters before them.
func (o *overload) conversations(ctx context.Context, tag string, n int) (readers, peers []string, before emulator.Stats, err error) {
	for i := range n {
		readers = append(readers, fmt.Sprintf("o%s%s_r%d", o.nonce, tag, i))
		peers = append(peers, fmt.Sprintf("o%s%s_p%d", o.nonce, tag, i))
	}
	if err = o.em.importAccounts(ctx, append(slices.Clone(readers), peers...)); err == nil {
		before, err = o.em.stats(ctx)
	}
	return readers, peers, before, err
}

// watch samples calls, queue depth (and used_memory) into r until stopped (once).
func (o *overload) watch(ctx context.Context, r *overloadResult) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan *sampler)
	go func() {
		s, _ := o.sample(ctx, time.Second, func(s *sampler) bool {
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
	})
}

// post fires next's requests at rate and tells p of the acknowledged ones.
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
	r.Events, r.Seconds = lr.ok(), lr.elapsed.Seconds()
	r.apiCalls = callsBetween(before, after)
	return err
}

// reads posts n conversation.read probes over convs conversations and waits until all applied.
func (o *overload) reads(ctx context.Context, r *overloadResult, convs int, n int64, d, limit time.Duration, readTime func(int64) int64) error {
	readers, peers, before, err := o.conversations(ctx, r.Scenario[:2], convs)
	if err != nil {
		return err
	}
	p, stop := newProbes(), o.watch(ctx, r)
	defer stop()
	defer p.poll(ctx, o.em)()
	var mu sync.Mutex
	last := map[string]int64{}
	lr, err := o.post(ctx, r.Rate, n, d, func(i int64) request {
		c, rt := int(i%int64(convs)), readTime(i)
		mu.Lock()
		last[conversation(readers[c], peers[c])] = max(last[conversation(readers[c], peers[c])], rt)
		mu.Unlock()
		return request{kind: kindConversationRead, id: fmt.Sprintf("ov-%s-%s-%d", o.nonce, r.Scenario, i),
			to: readers[c], from: peers[c], msgTime: rt}
	}, p)
	if err != nil {
		return err
	}
	r.AppliedAfterLast = waitFor(ctx, 50*time.Millisecond, limit, func() bool { return p.covered(last) })
	stop()
	r.EventToCall, _ = p.result()
	return o.finish(ctx, r, lr, before)
}

// receipts posts 1,000 AfterSendMsg of real messages to one auto-read account from 10 senders.
func (o *overload) receipts(ctx context.Context, r *overloadResult) error {
	if len(o.autoRead) == 0 {
		return errors.New("receipts: $AUTO_READ_ACCOUNTS is required")
	}
	reqs, err := o.receiptMessages(ctx, o.autoRead[0])
	if err != nil {
		return err
	}
	before, err := o.em.stats(ctx)
	if err != nil {
		return err
	}
	stop := o.watch(ctx, r)
	lr, err := o.post(ctx, r.Rate, int64(len(reqs)), 10*time.Second, func(i int64) request { return reqs[i] }, nil)
	if err != nil {
		return err
	}
	r.AppliedAfterLast = o.waitReceipts(ctx, reqs)
	stop()
	return o.finish(ctx, r, lr, before)
}

// receiptMessages sends the messages without callbacks and returns the callbacks.
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
			reqs = append(reqs, request{kind: kindSendAutoRead, command: chatapi.CommandAfterSendMsg, from: from, to: bot,
				msgTime: m.MsgTime, msgKey: m.MsgKey, msgSeq: uint32(i + 1), unread: i + 1})
		}
	}
	return reqs, err
}

// waitReceipts returns how long until every message was receipted (-1: not within a minute).
func (o *overload) waitReceipts(ctx context.Context, reqs []request) float64 {
	want := map[string]bool{}
	for _, r := range reqs {
		want[r.msgKey] = true
	}
	return waitFor(ctx, 50*time.Millisecond, time.Minute, func() bool {
		calls, err := o.em.requests(ctx, chatapi.APIReadReceipt, 1000)
		for _, c := range calls {
			var b chatapi.ReadReceiptRequest
			if err == nil && c.ErrorCode == 0 && c.HTTPStatus == 200 && json.Unmarshal(c.Body, &b) == nil {
				for _, m := range b.Messages {
					delete(want, m.MsgKey)
				}
			}
		}
		return len(want) == 0
	})
}

// memory posts AfterSendMsg over 20,000 conversations and measures Redis's used_memory.
func (o *overload) memory(ctx context.Context, r *overloadResult, d time.Duration) error {
	const users, convs = 10000, 20000
	base, err := o.usedMemory(ctx)
	before, err2 := o.em.stats(ctx)
	if err = errors.Join(err, err2); err != nil {
		return err
	}
	stop, seq := o.watch(ctx, r), uint32(time.Now().UnixNano())
	lr, err := o.post(ctx, r.Rate, int64(d.Seconds()*r.Rate), d, func(i int64) request {
		c, s, now := int(i%convs), seq+uint32(i), time.Now().Unix()
		from := c % users
		return request{kind: kindSendMsg, command: chatapi.CommandAfterSendMsg, from: user(from), to: user((from + 1 + c/users*7) % users),
			msgSeq: s, msgRandom: s, msgTime: now, msgKey: msgKey(s, s, now), unread: 1}
	}, nil)
	stop()
	if err != nil {
		return err
	}
	r.MemoryBaseline = base
	if k := len(r.MemorySamples) / 3; k > 0 {
		var sum int64
		for _, s := range r.MemorySamples[len(r.MemorySamples)-k:] {
			sum += s
		}
		r.MemoryGrowth = sum/int64(k) - base
		r.BytesPerRate = float64(r.MemoryGrowth) / r.Rate
	}
	return o.finish(ctx, r, lr, before)
}

func (o *overload) usedMemory(ctx context.Context) (int64, error) {
	info := o.rdb.InfoMap(ctx, "memory")
	if err := info.Err(); err != nil {
		return 0, fmt.Errorf("redis info: %w", err)
	}
	return strconv.ParseInt(info.Item("Memory", "used_memory"), 10, 64)
}
