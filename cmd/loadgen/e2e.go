package main

import (
	"context"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
)

// e2eResult is what fire -e2e measured behind the acknowledgements.
type e2eResult struct {
	Rate    float64            `json:"rate"` // target events per second
	Seconds float64            `json:"seconds"`
	Events  int64              `json:"events"` // acknowledged requests
	Kinds   map[string]int64   `json:"kinds"`
	Ack     latency            `json:"ack"`
	CPU     map[string]float64 `json:"cpu_us_per_event,omitempty"`
	// Probes were auto-read AfterSendMsg callbacks; Matched of them were
	// seen to cause their admin_set_msg_read, CallbackToAPI after that long.
	Probes        int     `json:"probes"`
	Matched       int     `json:"matched"`
	CallbackToAPI latency `json:"callback_to_api"`
	apiCalls
	CallsPerEvent    map[string]float64 `json:"calls_per_event"`
	UnreadPerSendMsg float64            `json:"unread_per_sendmsg"`
	RateLimited      int64              `json:"rate_limited"` // 60007 answers
	Drained          bool               `json:"drained"`
	DrainSeconds     float64            `json:"drain_seconds"`
}

// e2eRun is an end-to-end measurement under way.
type e2eRun struct {
	*session
	probes   *probes
	before   emulator.Stats
	stopPoll func()
}

// startE2E imports the mix's accounts into the emulator, takes its
// counters and starts watching for the probes' API calls.
func startE2E(ctx context.Context, o *options, m mix) (*e2eRun, error) {
	s, err := o.open()
	if err != nil {
		return nil, err
	}
	e := &e2eRun{session: s, probes: newProbes()}
	ids := append([]string(nil), m.autoReadAccounts...)
	for i := range m.users {
		ids = append(ids, user(i))
	}
	if err := e.em.importAccounts(ctx, ids); err != nil {
		s.close()
		return nil, err
	}
	if e.before, err = e.em.stats(ctx); err != nil {
		s.close()
		return nil, err
	}
	e.stopPoll = e.probes.poll(ctx, e.em)
	return e, nil
}

// prepare turns an auto-read probe into a real message the emulator
// stores (without firing its own callback), so that chatsync's read
// receipt for it names a MsgKey the emulator knows.
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

func (e *e2eRun) close() {
	if e.stopPoll != nil {
		e.stopPoll()
	}
	e.session.close()
}

// finish waits for chatsync to finish the run's work and sums it up.
func (e *e2eRun) finish(ctx context.Context, f *fireCommand, lr loadResult) (e2eResult, error) {
	drained, took, err := waitDrained(ctx, e.aq, e.em, f.drainTimeout)
	if err != nil {
		return e2eResult{}, err
	}
	e.stopPoll()
	e.stopPoll = nil
	after, err := e.em.stats(ctx)
	if err != nil {
		return e2eResult{}, err
	}
	lat, n := e.probes.result()
	r := e2eResult{Rate: f.loop.rate, Seconds: lr.Seconds, Events: lr.OK, Kinds: lr.Kinds, Ack: lr.Latency, CPU: lr.CPU,
		Probes: n, Matched: lat.N, CallbackToAPI: lat, apiCalls: callsBetween(e.before, after),
		CallsPerEvent: map[string]float64{}, Drained: drained, DrainSeconds: took.Seconds()}
	for api, calls := range r.Calls {
		r.CallsPerEvent[api] = float64(calls) / float64(max(r.Events, 1))
	}
	r.RateLimited = r.rateLimited()
	sends := lr.Kinds[kindSendMsg.String()] + lr.Kinds[kindSendAutoRead.String()]
	r.UnreadPerSendMsg = float64(r.Calls[chatapi.APIUnread]) / float64(max(sends, 1))
	return r, nil
}
