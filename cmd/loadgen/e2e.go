package main

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
)

// E2EResult is what -e2e measured behind the acknowledgements.
type E2EResult struct {
	Label   string           `json:"label,omitempty"`
	Rate    float64          `json:"rate"` // target events per second
	Seconds float64          `json:"seconds"`
	Events  int64            `json:"events"` // acknowledged requests
	Kinds   map[string]int64 `json:"kinds"`
	Ack     Latency          `json:"ack"`
	// Probes were auto-read AfterSendMsg callbacks; Matched of them were
	// seen to cause their admin_set_msg_read, CallbackToAPI after that long.
	Probes        int     `json:"probes"`
	Matched       int     `json:"matched"`
	CallbackToAPI Latency `json:"callback_to_api"`
	// Calls are the Chat API calls chatsync made during the run and the
	// drain (loadgen's own sendmsg calls left out), by API; Codes their
	// answers by ErrorCode.
	Calls            map[string]int64            `json:"calls"`
	Codes            map[string]map[string]int64 `json:"codes,omitempty"`
	CallsPerEvent    map[string]float64          `json:"calls_per_event"`
	UnreadPerSendMsg float64                     `json:"unread_per_sendmsg"`
	RateLimited      int64                       `json:"rate_limited"` // 60007 answers
	Drained          bool                        `json:"drained"`
	DrainSeconds     float64                     `json:"drain_seconds"`
}

// e2eState is an -e2e measurement under way.
type e2eState struct {
	em       *Inspector
	aq       *asynq.Inspector
	chat     *chatapi.Client
	probes   *Probes
	before   emulator.Stats
	stopPoll context.CancelFunc
	polled   chan struct{}
}

// startE2E imports the mix's accounts into the emulator, takes its
// counters and starts watching for the probes' API calls.
func (f *fireFlags) startE2E(ctx context.Context, mix Mix) (*e2eState, error) {
	s := &e2eState{em: NewInspector(f.chat.emulator, newHTTPClient(4)), probes: NewProbes(), polled: make(chan struct{})}
	ids := make([]string, 0, mix.Users+len(mix.AutoReadAccounts))
	for i := range mix.Users {
		ids = append(ids, User(i))
	}
	ids = append(ids, mix.AutoReadAccounts...)
	if err := s.em.ImportAccounts(ctx, ids); err != nil {
		return nil, err
	}
	var err error
	s.chat, err = chatapi.New(chatapi.Config{SDKAppID: f.target.appID, SecretKey: f.chat.secretKey,
		Admin: f.chat.admin, BaseURL: f.chat.emulator})
	if err != nil {
		return nil, fmt.Errorf("chat client: %w", err)
	}
	if s.aq, err = newAsynqInspector(f.redisURL); err != nil {
		return nil, err
	}
	if s.before, err = s.em.Stats(ctx); err != nil {
		s.aq.Close()
		return nil, err
	}
	pollCtx, stop := context.WithCancel(ctx)
	s.stopPoll = stop
	go func() {
		defer close(s.polled)
		s.probes.Poll(pollCtx, s.em, 100*time.Millisecond)
	}()
	return s, nil
}

func newAsynqInspector(redisURL string) (*asynq.Inspector, error) {
	opt, err := loopbackRedis(redisURL)
	if err != nil {
		return nil, err
	}
	return asynq.NewInspector(asynq.RedisClientOpt{Addr: opt.Addr, Username: opt.Username,
		Password: opt.Password, DB: opt.DB}), nil
}

// prepare turns an auto-read probe into a real message: the emulator
// stores it (without firing its own callback), so that the read receipt
// chatsync sends for it names a MsgKey the emulator knows.
func (s *e2eState) prepare(ctx context.Context, r *Request) error {
	sent, err := s.chat.SendMsg(ctx, chatapi.SendMsgRequest{
		FromAccount: r.From, ToAccount: r.To, MsgSeq: r.MsgSeq, MsgRandom: r.MsgRandom,
		ForbidCallbackControl: []string{"ForbidAfterSendMsgCallback"},
		MsgBody:               []chatapi.MsgElem{chatapi.TextElem(text)},
	})
	if err != nil {
		return err
	}
	r.MsgTime, r.MsgKey = sent.MsgTime, sent.MsgKey
	return nil
}

func (s *e2eState) close() {
	s.stopPoll()
	<-s.polled
	s.aq.Close()
}

// finish waits for chatsync to finish the run's work and sums it up.
func (s *e2eState) finish(ctx context.Context, f *fireFlags, lr LoadResult) (E2EResult, error) {
	drained, took, err := WaitDrained(ctx, s.aq, s.em, 2*time.Second, f.drainTimeout)
	if err != nil {
		return E2EResult{}, err
	}
	s.stopPoll()
	<-s.polled
	if reqs, err := s.em.Requests(ctx, apiSetMsgRead, 1000); err == nil {
		s.probes.Observe(reqs)
	}
	after, err := s.em.Stats(ctx)
	if err != nil {
		return E2EResult{}, err
	}
	calls, codes := CallsDiff(s.before, after)
	delete(calls, chatapi.APISendMsg) // loadgen's own probe messages
	delete(codes, chatapi.APISendMsg)
	lat, probes := s.probes.Result()
	r := E2EResult{
		Label: f.label, Rate: f.load.Rate, Seconds: lr.Seconds, Events: lr.OK, Kinds: lr.Kinds, Ack: lr.Latency,
		Probes: probes, Matched: lat.N, CallbackToAPI: lat,
		Calls: calls, Codes: codes, CallsPerEvent: make(map[string]float64),
		Drained: drained, DrainSeconds: took.Seconds(),
	}
	for api, n := range calls {
		if r.Events > 0 {
			r.CallsPerEvent[api] = float64(n) / float64(r.Events)
		}
		r.RateLimited += codes[api]["60007"]
	}
	sends := lr.Kinds[KindSendMsg.String()] + lr.Kinds[KindSendAutoRead.String()]
	if sends > 0 {
		r.UnreadPerSendMsg = float64(calls[chatapi.APIUnread]) / float64(sends)
	}
	return r, nil
}
