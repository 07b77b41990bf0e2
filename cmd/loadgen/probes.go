package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
)

// probes measures the time from an auto-read AfterSendMsg callback or a
// conversation.read event to the admin_set_msg_read call that applies it
// at the emulator. chatsync coalesces, so that call is the first
// successful one on the probe's conversation (Report_Account,
// Peer_Account) = (to, from) whose MsgReadTime is at or above the probe's
// read point and that came after the probe was posted; a call that covered
// the read point before applied it already (latency 0). Probes and calls
// are matched in whichever order loadgen learns of them. It is safe for
// concurrent use.
type probes struct {
	mu     sync.Mutex
	posted map[string]map[int64]time.Time // conversation → read point → when posted
	calls  map[string][]probeCall         // conversation → successful calls
	seen   map[string]bool                // calls recorded (polls overlap)
	n      int
}

type probeCall struct {
	at       time.Time
	readTime int64
}

func newProbes() *probes {
	return &probes{posted: map[string]map[int64]time.Time{}, calls: map[string][]probeCall{}, seen: map[string]bool{}}
}

func conversation(account, peer string) string { return account + "\n" + peer }

// sent records that probe r was posted at at; a repeated read point of a
// conversation counts once.
func (p *probes) sent(r request, at time.Time) {
	conv := conversation(r.to, r.from)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.posted[conv] == nil {
		p.posted[conv] = map[int64]time.Time{}
	}
	if _, dup := p.posted[conv][r.msgTime]; !dup {
		p.posted[conv][r.msgTime] = at
		p.n++
	}
}

// observe records the successful admin_set_msg_read calls among reqs and
// returns how many were new. MsgReadTime is documented as a String; a
// Number is accepted too.
func (p *probes) observe(reqs []emulator.Request) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, rq := range reqs {
		var b struct {
			Report      string          `json:"Report_Account"`
			Peer        string          `json:"Peer_Account"`
			MsgReadTime json.RawMessage `json:"MsgReadTime"`
		}
		if rq.API != chatapi.APISetMsgRead || rq.ErrorCode != 0 || rq.HTTPStatus != 200 || json.Unmarshal(rq.Body, &b) != nil {
			continue
		}
		rt, err := strconv.ParseInt(strings.Trim(string(b.MsgReadTime), `"`), 10, 64)
		conv := conversation(b.Report, b.Peer)
		key := conv + "\n" + strconv.FormatInt(rt, 10) + "\n" + rq.Time.Format(time.RFC3339Nano)
		if err == nil && !p.seen[key] {
			p.seen[key] = true
			p.calls[conv] = append(p.calls[conv], probeCall{at: rq.Time, readTime: rt})
			n++
		}
	}
	return n
}

// poll observes the emulator's recent set-read calls every 100 ms (its
// ring of requests must not fill up in between) until the returned
// function is called, which observes them once more.
func (p *probes) poll(ctx context.Context, em *emulatorClient) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	read := func(ctx context.Context) {
		if reqs, err := em.requests(ctx, chatapi.APISetMsgRead, 1000); err == nil {
			p.observe(reqs)
		}
	}
	go func() {
		defer close(done)
		for read(ctx); sleepUntil(ctx, time.Now().Add(100*time.Millisecond)); read(ctx) {
		}
	}()
	return func() {
		cancel()
		<-done
		read(context.WithoutCancel(ctx))
	}
}

// covered reports whether every conversation in want saw a call at or
// above its read point.
func (p *probes) covered(want map[string]int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for conv, rt := range want {
		if !coveredBy(p.calls[conv], rt) {
			return false
		}
	}
	return true
}

func coveredBy(calls []probeCall, rt int64) bool {
	for _, c := range calls {
		if c.readTime >= rt {
			return true
		}
	}
	return false
}

// result returns the latencies of the matched probes and how many were
// posted.
func (p *probes) result() (latency, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var lat []time.Duration
	for conv, posted := range p.posted {
		for rt, at := range posted {
			if d, ok := applied(p.calls[conv], rt, at); ok {
				lat = append(lat, d)
			}
		}
	}
	return summarize(lat), p.n
}

// applied returns how long after at the first call covering read point rt
// came, or 0 when an earlier call covered it already.
func applied(calls []probeCall, rt int64, at time.Time) (time.Duration, bool) {
	best, earlier := time.Duration(-1), false
	for _, c := range calls {
		d := c.at.Sub(at)
		switch {
		case c.readTime < rt:
		case d >= 0 && (best < 0 || d < best):
			best = d
		case d < 0:
			earlier = true
		}
	}
	if best < 0 && earlier {
		best = 0
	}
	return best, best >= 0
}

// waitCovered waits until probes saw every conversation's last read point
// in want applied, and returns how long that took (-1: not within limit).
func (p *probes) waitCovered(ctx context.Context, em *emulatorClient, want map[string]int64, limit time.Duration) float64 {
	start := time.Now()
	for time.Since(start) < limit && ctx.Err() == nil {
		if reqs, err := em.requests(ctx, chatapi.APISetMsgRead, 1000); err == nil {
			p.observe(reqs)
		}
		if p.covered(want) {
			return time.Since(start).Seconds()
		}
		sleepUntil(ctx, time.Now().Add(50*time.Millisecond))
	}
	return -1
}
