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

// Probes measures the time from an auto-read AfterSendMsg callback to the
// admin_set_msg_read call it causes at the emulator. A probe and its call
// are matched on (Report_Account, Peer_Account, MsgReadTime) = (To_Account,
// From_Account, MsgTime), in whichever order loadgen learns of them. It is
// safe for concurrent use.
type Probes struct {
	mu    sync.Mutex
	sent  map[string]time.Time // probe key → when the callback was posted
	calls map[string]time.Time // probe key → first successful call
	lat   []time.Duration
}

// NewProbes returns an empty Probes.
func NewProbes() *Probes {
	return &Probes{sent: make(map[string]time.Time), calls: make(map[string]time.Time)}
}

func probeKey(account, peer string, readTime int64) string {
	return account + "\n" + peer + "\n" + strconv.FormatInt(readTime, 10)
}

// Sent records that probe r was posted at at.
func (p *Probes) Sent(r Request, at time.Time) {
	k := probeKey(r.To, r.From, r.MsgTime)
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, dup := p.sent[k]; dup {
		return
	}
	p.sent[k] = at
	if c, ok := p.calls[k]; ok {
		p.lat = append(p.lat, c.Sub(at))
	}
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
// returns how many probes they completed.
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
		k := probeKey(b.Report, b.Peer, rt)
		if _, seen := p.calls[k]; seen {
			continue
		}
		p.calls[k] = rq.Time
		if s, ok := p.sent[k]; ok {
			p.lat = append(p.lat, rq.Time.Sub(s))
			n++
		}
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

// Result returns the latencies of the matched probes, and how many probes
// were sent.
func (p *Probes) Result() (Latency, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Summarize(append([]time.Duration(nil), p.lat...)), len(p.sent)
}
