package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chatsync/chatsync/chatapi/emulator"
)

// apiSetMsgRead is the API an auto-read callback causes first.
const apiSetMsgRead = "openim/admin_set_msg_read"

// Probes measures the time from an auto-read AfterSendMsg callback (or a
// conversation.read event) to the admin_set_msg_read call that applies it
// at the emulator. chatsync coalesces, so that call is the first successful
// one on the probe's conversation (Report_Account, Peer_Account) =
// (To_Account, From_Account) whose MsgReadTime is at or above the probe's
// read point and that arrived after the probe was posted; a call that
// covered the read point before it was posted applied it already (latency
// 0: chatsync makes no call for it). Probes and calls are matched whenever
// loadgen has learnt of both, in whichever order. It is safe for concurrent
// use.
type Probes struct {
	mu    sync.Mutex
	sent  map[string]map[int64]time.Time // conversation → read point → when posted
	calls map[string][]probeCall         // conversation → successful calls, as seen
	seen  map[string]bool                // calls already recorded (polls overlap)
	n     int                            // probes posted
}

type probeCall struct {
	at       time.Time
	readTime int64
}

// NewProbes returns an empty Probes.
func NewProbes() *Probes {
	return &Probes{sent: make(map[string]map[int64]time.Time), calls: make(map[string][]probeCall),
		seen: make(map[string]bool)}
}

func probeConv(account, peer string) string { return account + "\n" + peer }

// Sent records that probe r was posted at at. A second probe of the same
// conversation and read point counts once.
func (p *Probes) Sent(r Request, at time.Time) {
	conv := probeConv(r.To, r.From)
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.sent[conv]
	if m == nil {
		m = make(map[int64]time.Time)
		p.sent[conv] = m
	}
	if _, dup := m[r.MsgTime]; dup {
		return
	}
	m[r.MsgTime] = at
	p.n++
}

// setReadBody is the part of an admin_set_msg_read body probes match on.
// MsgReadTime is documented as a String; a Number is accepted too.
type setReadBody struct {
	Report      string          `json:"Report_Account"`
	Peer        string          `json:"Peer_Account"`
	MsgReadTime json.RawMessage `json:"MsgReadTime"`
}

func (b setReadBody) readTime() (int64, bool) {
	s := strings.Trim(string(b.MsgReadTime), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// Observe records the successful admin_set_msg_read calls among reqs and
// returns how many it had not seen before.
func (p *Probes) Observe(reqs []emulator.Request) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, rq := range reqs {
		if rq.API != apiSetMsgRead || rq.ErrorCode != 0 || rq.HTTPStatus != 200 {
			continue
		}
		var b setReadBody
		if json.Unmarshal(rq.Body, &b) != nil {
			continue
		}
		rt, ok := b.readTime()
		if !ok {
			continue
		}
		conv := probeConv(b.Report, b.Peer)
		k := conv + "\n" + strconv.FormatInt(rt, 10) + "\n" + rq.Time.Format(time.RFC3339Nano)
		if p.seen[k] {
			continue
		}
		p.seen[k] = true
		p.calls[conv] = append(p.calls[conv], probeCall{at: rq.Time, readTime: rt})
		n++
	}
	return n
}

// Poll reads the emulator's recent admin_set_msg_read calls every interval
// until ctx is done. The emulator keeps a bounded ring of requests, so the
// interval must be shorter than the time it takes to fill it.
func (p *Probes) Poll(ctx context.Context, in *Inspector, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if reqs, err := in.Requests(ctx, apiSetMsgRead, 1000); err == nil {
			p.Observe(reqs)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// covered reports whether, for every conversation in want, a call at or
// above its read point was seen.
func (p *Probes) covered(want map[string]int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for conv, rt := range want {
		ok := false
		for _, c := range p.calls[conv] {
			if c.readTime >= rt {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// Result returns the latencies of the matched probes, and how many probes
// were sent.
func (p *Probes) Result() (Latency, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var lat []time.Duration
	for conv, probes := range p.sent {
		calls := p.calls[conv]
		for rt, at := range probes {
			if d, ok := applied(calls, rt, at); ok {
				lat = append(lat, d)
			}
		}
	}
	return Summarize(lat), p.n
}

// applied returns how long after at the read point rt was applied by
// calls: by the first call at or after at that covers it, else 0 when an
// earlier call covered it already.
func applied(calls []probeCall, rt int64, at time.Time) (time.Duration, bool) {
	var best time.Duration = -1
	earlier := false
	for _, c := range calls {
		if c.readTime < rt {
			continue
		}
		if d := c.at.Sub(at); d >= 0 && (best < 0 || d < best) {
			best = d
		} else if d < 0 {
			earlier = true
		}
	}
	switch {
	case best >= 0:
		return best, true
	case earlier:
		return 0, true
	}
	return 0, false
}
