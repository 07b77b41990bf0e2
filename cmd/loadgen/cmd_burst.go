package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
	"github.com/chatsync/chatsync/tasks"
)

// BurstResult is a burst of real messages to a few users: how many unread
// API calls it cost and how long chatsync's snapshots took to agree with
// the emulator.
type BurstResult struct {
	Targets     int              `json:"targets"`
	Peers       int              `json:"peers_per_target"`
	Messages    int64            `json:"messages"` // sent (sendmsg OK)
	Rate        float64          `json:"rate"`
	SendSeconds float64          `json:"send_seconds"`
	SendErrors  map[string]int64 `json:"send_errors,omitempty"`
	// Convergence is, per target, the time from the last message sent to
	// the first moment its snapshot equalled the emulator's counts (total
	// and every peer's).
	Convergence  Latency                     `json:"convergence"`
	NotConverged int                         `json:"not_converged"`
	AfterSendMsg int64                       `json:"after_sendmsg"` // callbacks the emulator sent
	Calls        map[string]int64            `json:"calls"`
	Codes        map[string]map[string]int64 `json:"codes,omitempty"`
	// UnreadPerSendMsg is get_c2c_unread_msg_num calls per AfterSendMsg.
	UnreadPerSendMsg float64 `json:"unread_per_sendmsg"`
}

func cmdBurst(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("burst", flag.ContinueOnError)
	target := addTargetFlags(fs)
	chat := addChatFlags(fs)
	load := addLoadFlags(fs, 60*time.Second)
	targets := fs.Int("targets", 20, "users receiving the burst")
	peers := fs.Int("peers", 5, "distinct senders per target")
	timeout := fs.Duration("converge-timeout", 60*time.Second, "how long to wait for the snapshots to converge")
	out := fs.String("out", "", "append the results to this JSON-lines file")
	redisURL := fs.String("redis", envOr("REDIS_URL", ""), "chatsync's Redis, to wait for its queues to drain (default $REDIS_URL)")
	drainTimeout := fs.Duration("drain-timeout", 60*time.Second, "how long to wait for the queues to drain after convergence")
	fs.Lookup("requests").DefValue = "2000"
	load.Requests = 2000
	fs.Lookup("rate").DefValue = "150"
	load.Rate = 150
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := errors.Join(target.check(), chat.check(), load.check()); err != nil {
		return err
	}
	if *redisURL == "" {
		return errors.New("-redis (or $REDIS_URL) is required to see chatsync's queues drain")
	}
	if target.apiKey == "" {
		return errors.New("-api-key (or $API_KEY) is required to read chatsync's snapshots")
	}
	if *targets < 1 || *peers < 1 || *targets**peers > 100000 {
		return fmt.Errorf("-targets %d × -peers %d must be from 1 to 100000", *targets, *peers)
	}
	b := &burst{target: target, chat: chat, targets: *targets, peers: *peers,
		em: NewInspector(chat.emulator, newHTTPClient(8)), http: newHTTPClient(8),
		nonce: strconv.FormatInt(time.Now().Unix()%46656, 36)}
	r, err := b.run(ctx, load)
	if err != nil {
		return err
	}
	r.Convergence, r.NotConverged = b.converge(ctx, *timeout)
	if err := b.settle(ctx, &r, *redisURL, *drainTimeout); err != nil {
		return err
	}
	printBurst(stdout, r)
	return appendRecord(*out, recBurst, r)
}

// burst is one burst measurement.
type burst struct {
	target         *targetFlags
	chat           *chatFlags
	targets, peers int
	em             *Inspector
	http           *http.Client
	nonce          string // keeps the accounts of two runs apart
	client         *chatapi.Client
	before         emulator.Stats
	sentAt         time.Time
}

// The burst's own accounts, fresh for every run.
func (b *burst) targetID(t int) string  { return fmt.Sprintf("bt%s_%03d", b.nonce, t) }
func (b *burst) peerID(t, p int) string { return fmt.Sprintf("bp%s_%03d_%03d", b.nonce, t, p) }

func (b *burst) run(ctx context.Context, load *loadFlags) (BurstResult, error) {
	r := BurstResult{Targets: b.targets, Peers: b.peers, Rate: load.Rate}
	var ids []string
	for t := range b.targets {
		ids = append(ids, b.targetID(t))
		for p := range b.peers {
			ids = append(ids, b.peerID(t, p))
		}
	}
	if err := b.em.ImportAccounts(ctx, ids); err != nil {
		return r, err
	}
	var err error
	b.client, err = chatapi.New(chatapi.Config{SDKAppID: b.target.appID, SecretKey: b.chat.secretKey,
		Admin: b.chat.admin, BaseURL: b.chat.emulator})
	if err != nil {
		return r, fmt.Errorf("chat client: %w", err)
	}
	before, err := b.em.Stats(ctx)
	if err != nil {
		return r, err
	}
	b.before = before
	res, err := RunLoop(ctx, load.LoopConfig, func(int) Op {
		return func(ctx context.Context, i int64) Outcome {
			t, p := int(i)%b.targets, int(i)/b.targets%b.peers
			_, err := b.client.SendMsg(ctx, chatapi.SendMsgRequest{FromAccount: b.peerID(t, p), ToAccount: b.targetID(t),
				MsgBody: []chatapi.MsgElem{chatapi.TextElem(text)}})
			if err != nil {
				return Outcome{Kind: KindSendMsg, Label: chatErrLabel(err)}
			}
			return Outcome{Kind: KindSendMsg, Label: outcomeOK}
		}
	})
	if err != nil {
		return r, err
	}
	b.sentAt = time.Now()
	r.Messages, r.SendSeconds, r.SendErrors = res.OK(), res.Elapsed.Seconds(), errorsOf(res.rec.counts)
	return r, nil
}

// chatErrLabel names a Chat error by its code.
func chatErrLabel(err error) string {
	var ce *chatapi.Error
	if errors.As(err, &ce) {
		return "chat:" + strconv.Itoa(ce.Code)
	}
	return "net:other"
}

// converge polls every target until its snapshot equals the emulator's
// counts, and returns the convergence times.
func (b *burst) converge(ctx context.Context, timeout time.Duration) (Latency, int) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	left := make(map[int]bool, b.targets)
	for t := range b.targets {
		left[t] = true
	}
	var took []time.Duration
	for len(left) > 0 {
		for t := range left {
			if ok, err := b.agrees(ctx, t); err == nil && ok {
				took = append(took, time.Since(b.sentAt))
				delete(left, t)
			}
		}
		if len(left) == 0 || !sleepUntil(ctx, time.Now().Add(50*time.Millisecond)) {
			break
		}
	}
	return Summarize(took), len(left)
}

// agrees reports whether target t's snapshot equals the emulator's counts.
func (b *burst) agrees(ctx context.Context, t int) (bool, error) {
	id := b.targetID(t)
	want, err := b.em.Unread(ctx, id)
	if err != nil {
		return false, err
	}
	snap, err := b.snapshot(ctx, id)
	if err != nil || snap == nil {
		return false, err
	}
	if !snap.TotalKnown || snap.Total != want.Total {
		return false, nil
	}
	for p := range b.peers {
		peer := b.peerID(t, p)
		if snap.Peers[peer].Count != want.PerPeer[peer] {
			return false, nil
		}
	}
	return true, nil
}

// snapshot reads GET /v1/users/{id}/unread; nil while chatsync has none.
func (b *burst) snapshot(ctx context.Context, id string) (*tasks.Snapshot, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.target.url+"/v1/users/"+url.PathEscape(id)+"/unread", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+b.target.apiKey)
	resp, err := b.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, nil
	default:
		return nil, fmt.Errorf("GET unread: status %d", resp.StatusCode)
	}
	var s tasks.Snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("GET unread: %w", err)
	}
	return &s, nil
}

// settle waits for chatsync's queues to drain and counts the API calls the
// burst cost.
func (b *burst) settle(ctx context.Context, r *BurstResult, redisURL string, timeout time.Duration) error {
	aq, err := newAsynqInspector(redisURL)
	if err != nil {
		return err
	}
	defer aq.Close()
	if _, _, err := WaitDrained(ctx, aq, b.em, 2*time.Second, timeout); err != nil {
		return err
	}
	after, err := b.em.Stats(ctx)
	if err != nil {
		return err
	}
	r.Calls, r.Codes = CallsDiff(b.before, after)
	delete(r.Calls, chatapi.APISendMsg) // the burst itself
	delete(r.Codes, chatapi.APISendMsg)
	cmd := emulator.CommandAfterSendMsg
	r.AfterSendMsg = after.Callbacks[cmd].Sent - b.before.Callbacks[cmd].Sent
	if r.AfterSendMsg > 0 {
		r.UnreadPerSendMsg = float64(r.Calls[chatapi.APIUnread]) / float64(r.AfterSendMsg)
	}
	return nil
}
