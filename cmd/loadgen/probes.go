package main

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
)

// probes matches probes to the first admin_set_msg_read on their conversation at or above their read point.
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

// sent records that probe r was posted at at.
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

// observe records the successful admin_set_msg_read calls among reqs.
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

// poll observes the set-read calls every 100 ms until the returned stop is called.
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

// covered reports whether every conversation in want saw a call at or above its read point.
func (p *probes) covered(want map[string]int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for conv, rt := range want {
		if !slices.ContainsFunc(p.calls[conv], func(c probeCall) bool { return c.readTime >= rt }) {
			return false
		}
	}
	return true
}

// result returns the matched probes' latencies and how many were posted.
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

// applied returns how long after at a call first covered rt (0 if one did before).
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

// e2eResult is what fire -e2e measured behind the acknowledgements.
type e2eResult struct {
	Load loadResult `json:"load"` // the acknowledgements
	// Probes were auto-read AfterSendMsg; Matched of them were seen to cause their admin_set_msg_read.
	Probes        int     `json:"probes"`
	Matched       int     `json:"matched"`
	CallbackToAPI latency `json:"callback_to_api"`
	apiCalls
	CallsPerEvent map[string]float64 `json:"calls_per_event"`
	Drained       bool               `json:"drained"`
	DrainSeconds  float64            `json:"drain_seconds"`
}

// e2eRun is an end-to-end measurement under way.
type e2eRun struct {
	*session
	probes   *probes
	before   emulator.Stats
	stopPoll func()
}

// startE2E imports the mix's accounts and starts watching for the probes' API calls.
func startE2E(ctx context.Context, o *options, m mix) (*e2eRun, error) {
	s, err := o.open()
	if err != nil {
		return nil, err
	}
	e := &e2eRun{session: s, probes: newProbes()}
	ids := slices.Clone(m.autoReadAccounts)
	for i := range m.users {
		ids = append(ids, user(i))
	}
	if err = e.em.importAccounts(ctx, ids); err == nil {
		e.before, err = e.em.stats(ctx)
	}
	if err != nil {
		s.close()
		return nil, err
	}
	e.stopPoll = sync.OnceFunc(e.probes.poll(ctx, e.em))
	return e, nil
}

// prepare stores an auto-read probe at the emulator as a real message (no callback) so its MsgKey is known.
func (e *e2eRun) prepare(ctx context.Context, r *request) error {
	sent, err := e.chat.SendMsg(ctx, chatapi.SendMsgRequest{
		FromAccount: r.from, ToAccount: r.to, MsgSeq: r.msgSeq, MsgRandom: r.msgRandom,
		ForbidCallbackControl: []string{"ForbidAfterSendMsgCallback"},
		MsgBody:               []chatapi.MsgElem{chatapi.TextElem(text)},
	})
	if err == nil {
		r.msgTime, r.msgKey = sent.MsgTime, sent.MsgKey
	}
	return err
}

// finish waits for chatsync to finish the run's work and sums it up.
func (e *e2eRun) finish(ctx context.Context, lr loadResult) (e2eResult, error) {
	_, drained, took, err := e.drain(ctx, 250*time.Millisecond, 8, 90*time.Second)
	if err != nil {
		return e2eResult{}, err
	}
	e.stopPoll()
	after, err := e.em.stats(ctx)
	if err != nil {
		return e2eResult{}, err
	}
	lat, n := e.probes.result()
	r := e2eResult{Load: lr, Probes: n, Matched: lat.N, CallbackToAPI: lat, apiCalls: callsBetween(e.before, after),
		CallsPerEvent: map[string]float64{}, Drained: drained, DrainSeconds: took.Seconds()}
	for api, calls := range r.Calls {
		r.CallsPerEvent[api] = float64(calls) / float64(max(lr.OK, 1))
	}
	return r, nil
}
