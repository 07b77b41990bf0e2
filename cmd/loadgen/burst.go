package main

import (
	"context"
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

// burstResult is a burst of real messages: unread calls and snapshot convergence (last message → agreement).
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
	nonce        string
}

func (b *burst) userID(u int) string    { return fmt.Sprintf("bt%s_%03d", b.nonce, u) }
func (b *burst) peerID(u, p int) string { return fmt.Sprintf("bp%s_%03d_%03d", b.nonce, u, p) }

func cmdBurst(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("burst", flag.ContinueOnError)
	b := &burst{users: 20, peers: 5, nonce: strconv.FormatInt(time.Now().Unix()%46656, 36)}
	var err error
	if b.session, err = addOptions(fs).parseOpen(fs, args); err != nil {
		return err
	}
	defer b.close()
	if b.apiKey == "" {
		return errors.New("$API_KEY is required")
	}
	before, err := b.em.stats(ctx)
	if err != nil {
		return err
	}
	r, err := b.send(ctx, loopConfig{concurrency: 8, rate: 150, duration: time.Minute, requests: 2000})
	if err != nil {
		return err
	}
	r.Convergence, r.NotConverged = b.converge(ctx, time.Now())
	if err := b.settle(ctx, &r, before); err != nil {
		return err
	}
	return emit(stdout, b.out, record{Burst: &r})
}

// send sends the messages through the emulator, which fires their callbacks at serve.
func (b *burst) send(ctx context.Context, cfg loopConfig) (burstResult, error) {
	var ids []string
	for u := range b.users {
		ids = append(ids, b.userID(u))
		for p := range b.peers {
			ids = append(ids, b.peerID(u, p))
		}
	}
	res, err := b.sendMessages(ctx, cfg, ids, func(i int) (string, string) {
		return b.peerID(i%b.users, i/b.users%b.peers), b.userID(i % b.users)
	})
	return burstResult{Users: b.users, Peers: b.peers, Messages: res.ok(), SendSeconds: res.elapsed.Seconds(),
		SendErrors: errorsOf(res.counts)}, err
}

// converge polls every user for a minute until its snapshot agrees with the emulator.
func (b *burst) converge(ctx context.Context, sentAt time.Time) (latency, int) {
	left, took := map[int]bool{}, []time.Duration{}
	for u := range b.users {
		left[u] = true
	}
	waitFor(ctx, 50*time.Millisecond, time.Minute, func() bool {
		for u := range left {
			if ok, _ := b.agrees(ctx, u); ok {
				took = append(took, time.Since(sentAt))
				delete(left, u)
			}
		}
		return len(left) == 0
	})
	return summarize(took), len(left)
}

// agrees reports whether user u's snapshot equals the emulator's counts.
func (b *burst) agrees(ctx context.Context, u int) (bool, error) {
	want, err := b.em.unread(ctx, b.userID(u))
	if err != nil {
		return false, err
	}
	snap, err := b.snapshot(ctx, b.userID(u))
	if err != nil || !snap.TotalKnown || snap.Total != want.Total {
		return false, err
	}
	for p := range b.peers {
		if snap.Peers[b.peerID(u, p)].Count != want.PerPeer[b.peerID(u, p)] {
			return false, nil
		}
	}
	return true, nil
}

// snapshot reads GET /v1/users/{id}/unread (404 while chatsync has none).
func (b *burst) snapshot(ctx context.Context, id string) (*tasks.Snapshot, error) {
	var s tasks.Snapshot
	return &s, doJSON(ctx, http.MethodGet, b.target+"/v1/users/"+url.PathEscape(id)+"/unread",
		http.Header{"Authorization": {"Bearer " + b.apiKey}}, nil, &s)
}

// settle waits for the queues to drain and counts the burst's API calls.
func (b *burst) settle(ctx context.Context, r *burstResult, before emulator.Stats) error {
	if _, _, _, err := b.drain(ctx, 250*time.Millisecond, 8, time.Minute); err != nil {
		return err
	}
	after, err := b.em.stats(ctx)
	if err != nil {
		return err
	}
	r.apiCalls = callsBetween(before, after)
	cmd := chatapi.CommandAfterSendMsg
	r.AfterSendMsg = after.Callbacks[cmd].Sent - before.Callbacks[cmd].Sent
	r.UnreadPerSendMsg = float64(r.Calls[chatapi.APIUnread]) / float64(max(r.AfterSendMsg, 1))
	return nil
}
