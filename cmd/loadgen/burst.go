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

// burstResult is a burst of real messages to a few users: the unread API
// calls it cost and how long chatsync's snapshots took to agree with the
// emulator (per user, from the last message sent until its snapshot had
// the emulator's total and every peer's count).
type burstResult struct {
	Users        int              `json:"targets"`
	Peers        int              `json:"peers_per_target"`
	Messages     int64            `json:"messages"` // sendmsg OK
	SendSeconds  float64          `json:"send_seconds"`
	SendErrors   map[string]int64 `json:"send_errors,omitempty"`
	Convergence  latency          `json:"convergence"`
	NotConverged int              `json:"not_converged"`
	AfterSendMsg int64            `json:"after_sendmsg"` // callbacks the emulator sent
	apiCalls
	UnreadPerSendMsg float64 `json:"unread_per_sendmsg"`
}

// burst is one burst measurement, on accounts of its own.
type burst struct {
	*session
	users, peers int
	http         *http.Client
	nonce        string
}

func (b *burst) userID(u int) string    { return fmt.Sprintf("bt%s_%03d", b.nonce, u) }
func (b *burst) peerID(u, p int) string { return fmt.Sprintf("bp%s_%03d_%03d", b.nonce, u, p) }

func cmdBurst(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("burst", flag.ContinueOnError)
	o := addOptions(fs)
	b := &burst{http: newHTTPClient(8), nonce: strconv.FormatInt(time.Now().Unix()%46656, 36)}
	cfg, _ := addLoop(fs, loopConfig{concurrency: 8, rate: 150, duration: time.Minute, requests: 2000})
	fs.IntVar(&b.users, "targets", 20, "users receiving the burst")
	fs.IntVar(&b.peers, "peers", 5, "distinct senders per user")
	var err error
	if b.session, err = o.parseOpen(fs, args); err != nil {
		return err
	}
	defer b.close()
	if b.apiKey == "" {
		return errors.New("-api-key (or $API_KEY) is required")
	}
	before, err := b.em.stats(ctx)
	if err != nil {
		return err
	}
	r, err := b.send(ctx, *cfg)
	if err != nil {
		return err
	}
	r.Convergence, r.NotConverged = b.converge(ctx, time.Now())
	if err := b.settle(ctx, &r, before); err != nil {
		return err
	}
	return emit(stdout, b.out, record{Burst: &r})
}

// send imports the accounts and sends the messages through the emulator,
// which fires their AfterSendMsg callbacks at serve.
func (b *burst) send(ctx context.Context, cfg loopConfig) (burstResult, error) {
	var ids []string
	for u := range b.users {
		ids = append(ids, b.userID(u))
		for p := range b.peers {
			ids = append(ids, b.peerID(u, p))
		}
	}
	if err := b.em.importAccounts(ctx, ids); err != nil {
		return burstResult{}, err
	}
	res, err := runLoop(ctx, cfg, func(int) op {
		return func(ctx context.Context, i int64) outcome {
			u, p := int(i)%b.users, int(i)/b.users%b.peers
			return sendOutcome(b.chat.SendMsg(ctx, chatapi.SendMsgRequest{FromAccount: b.peerID(u, p), ToAccount: b.userID(u),
				MsgBody: []chatapi.MsgElem{chatapi.TextElem(text)}}))
		}
	})
	return burstResult{Users: b.users, Peers: b.peers, Messages: res.ok(), SendSeconds: res.elapsed.Seconds(),
		SendErrors: errorsOf(res.rec.counts)}, err
}

// sendOutcome labels the answer to a sendmsg by Chat's ErrorCode.
func sendOutcome(_ chatapi.SentMsg, err error) outcome {
	var ce *chatapi.Error
	switch {
	case err == nil:
		return outcome{label: outcomeOK}
	case errors.As(err, &ce):
		return outcome{label: "chat:" + strconv.Itoa(ce.Code)}
	}
	return outcome{label: "net:other"}
}

// converge polls every user for a minute until its snapshot agrees with
// the emulator, and returns the times from sentAt.
func (b *burst) converge(ctx context.Context, sentAt time.Time) (latency, int) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	left := map[int]bool{}
	for u := range b.users {
		left[u] = true
	}
	var took []time.Duration
	for len(left) > 0 && sleepUntil(ctx, time.Now().Add(50*time.Millisecond)) {
		for u := range left {
			if ok, _ := b.agrees(ctx, u); ok {
				took = append(took, time.Since(sentAt))
				delete(left, u)
			}
		}
	}
	return summarize(took), len(left)
}

// agrees reports whether user u's snapshot equals the emulator's counts.
func (b *burst) agrees(ctx context.Context, u int) (bool, error) {
	want, err := b.em.unread(ctx, b.userID(u))
	if err != nil {
		return false, err
	}
	snap, err := b.snapshot(ctx, b.userID(u))
	if err != nil || snap == nil || !snap.TotalKnown || snap.Total != want.Total {
		return false, err
	}
	for p := range b.peers {
		if snap.Peers[b.peerID(u, p)].Count != want.PerPeer[b.peerID(u, p)] {
			return false, nil
		}
	}
	return true, nil
}

// snapshot reads GET /v1/users/{id}/unread; nil while chatsync has none.
func (b *burst) snapshot(ctx context.Context, id string) (*tasks.Snapshot, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.target+"/v1/users/"+url.PathEscape(id)+"/unread", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+b.apiKey)
	resp, err := b.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var s tasks.Snapshot
	switch resp.StatusCode {
	case http.StatusOK:
		return &s, json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&s)
	case http.StatusNotFound:
		return nil, nil
	}
	return nil, fmt.Errorf("GET unread: status %d", resp.StatusCode)
}

// settle waits for chatsync's queues to drain and counts the API calls the
// burst cost.
func (b *burst) settle(ctx context.Context, r *burstResult, before emulator.Stats) error {
	if _, _, err := waitDrained(ctx, b.aq, b.em, time.Minute); err != nil {
		return err
	}
	after, err := b.em.stats(ctx)
	if err != nil {
		return err
	}
	r.apiCalls = callsBetween(before, after)
	cmd := emulator.CommandAfterSendMsg
	r.AfterSendMsg = after.Callbacks[cmd].Sent - before.Callbacks[cmd].Sent
	r.UnreadPerSendMsg = float64(r.Calls[chatapi.APIUnread]) / float64(max(r.AfterSendMsg, 1))
	return nil
}
