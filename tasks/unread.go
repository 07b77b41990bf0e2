package tasks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/hibiken/asynq"

	"github.com/chatsync/chatsync/chatapi"
)

// Refresh is the payload of a TypeRefresh task: measure the unread counts
// gathered for Account. Token ties the task to the refresh it was scheduled
// for; a task whose token no longer owns the refresh does nothing.
type Refresh struct {
	Account string `json:"account"`
	Token   string `json:"token"`
}

// Validate reports the first problem with p, or nil.
func (p Refresh) Validate() error {
	if err := userID("account", p.Account); err != nil {
		return err
	}
	if p.Token == "" {
		return fmt.Errorf("token is empty")
	}
	return nil
}

// Refresh returns a TypeRefresh task whose ID derives from idParts. Unlike
// the ingest tasks it is not retained after completion: its ID is unique
// anyway, and a busy system runs many refreshes.
func (b Builder) Refresh(p Refresh, idParts ...string) (*asynq.Task, error) {
	return dropID(b.build(TypeRefresh, QueueUnread, p, p.Validate(), false, idParts))
}

// newToken returns a random token naming one scheduled task.
func newToken() string {
	var b [8]byte
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	return hex.EncodeToString(b[:])
}

// staleClaim is how long a scheduled refresh or notification may go
// without running before the next request presumes it lost and schedules
// another.
func (w *Worker) staleClaim() time.Duration { return max(10*time.Minute, 20*w.maxDelay) }

// claimTimes returns the claim parameters of the running task. Its token
// derives from the asynq task ID, so a task that runs again after a crash
// (or after Redis failed it) recognises the claim it left and schedules
// again, instead of waiting for the claim to go stale.
func (w *Worker) claimTimes(ctx context.Context) claimTimes {
	token := newToken()
	if id, ok := asynq.GetTaskID(ctx); ok {
		token = claimToken(id)
	}
	return claimTimes{now: w.now().UnixMilli(), token: token, stale: w.staleClaim()}
}

// claimToken is the token with which the task of ID taskID claims a user's
// next refresh or sink notification. It is the same every time the task
// runs, so a task that claimed and then crashed before it scheduled the
// refresh finds its own claim when asynq runs it again.
func claimToken(taskID string) string {
	sum := sha256.Sum256([]byte(taskID))
	return hex.EncodeToString(sum[:8])
}

// handleUnread records an unread change: a total from a callback is stored
// when it is newer than the snapshot, and peers (or the total) to measure
// are added to the user's next refresh, which is scheduled if it is not
// already. It makes no Chat call.
func (w *Worker) handleUnread(ctx context.Context, t *asynq.Task) error {
	p, err := decode[Unread](t)
	if err != nil {
		return err
	}
	c := unreadChange{claimTimes: w.claimTimes(ctx), sink: w.sink != nil, p: p}
	if p.Total != nil && p.TotalAt == 0 {
		c.p.TotalAt = c.now // a total of unknown time counts as measured now
	}
	res, err := w.store.change(ctx, c)
	if err != nil {
		return err
	}
	if res.applied {
		w.metrics.snapshotAge(SourceCallback, time.Duration(c.now-c.p.TotalAt)*time.Millisecond)
	}
	return w.schedule(ctx, p.Account, c.token, res.schedule, res.notify)
}

// schedule enqueues the refresh and the sink notification the store asked
// for. When an enqueue fails it releases that claim, so that the retry of
// the calling task claims it again, and returns the (first) error.
func (w *Worker) schedule(ctx context.Context, account, token string, refresh, notify bool) error {
	var first error
	if refresh {
		if err := w.enqueueRefresh(ctx, account, token, "", w.debounce); err != nil {
			first = w.release(ctx, userKey(account, "refresh"), token, err)
		}
	}
	if notify {
		if err := w.enqueueNotify(ctx, account, token); err != nil {
			err = w.release(ctx, userKey(account, "sink"), token, err)
			if first == nil {
				first = err
			}
		}
	}
	return first
}

func (w *Worker) release(ctx context.Context, key, token string, cause error) error {
	if err := w.store.unclaim(ctx, key, token); err != nil {
		return fmt.Errorf("%w (and %v)", cause, err)
	}
	return cause
}

// enqueueRefresh schedules the refresh task of token. The first one's ID
// derives from the token (nonce ""), so a task that runs again and
// schedules again finds it already there; a refresh postponing itself
// passes a fresh nonce, since its own ID is still taken.
func (w *Worker) enqueueRefresh(ctx context.Context, account, token, nonce string, in time.Duration) error {
	t, err := w.builder(ctx).Refresh(Refresh{Account: account, Token: token}, account, token, nonce)
	if err != nil {
		return err
	}
	if _, err := w.enq.EnqueueContext(ctx, t, w.processAt(in)); err != nil && !IsDuplicate(err) {
		return fmt.Errorf("enqueue unread refresh: %w", err)
	}
	return nil
}

// processAt schedules a task to run in d, but not before: asynq stores the
// time of a scheduled task in whole seconds, truncated, and would start it
// up to a second early. Rounding up makes the delay d to d+1s (plus the
// server's DelayedTaskCheckInterval). asynq runs on the real clock, so this
// does too.
func (w *Worker) processAt(d time.Duration) asynq.Option {
	at := time.Now().Add(d)
	if t := at.Truncate(time.Second); !t.Equal(at) {
		at = t.Add(time.Second)
	}
	return asynq.ProcessAt(at)
}

// handleRefresh runs a scheduled refresh. While requests keep coming it
// only postpones itself (trailing debounce, bounded by MaxDelay); then it
// takes the gathered peers over and measures them, ten to a call, and the
// total if needed, each call under the rate limit. A failed run keeps what
// it has not measured yet and resumes it when asynq runs the task again. A
// request arriving while it runs gathers into a new refresh with a task of
// its own: nothing is lost, and one more run follows.
func (w *Worker) handleRefresh(ctx context.Context, t *asynq.Task) error {
	p, err := decode[Refresh](t)
	if err != nil {
		return err
	}
	step, err := w.store.beginRefresh(ctx, p.Account, p.Token, w.now().UnixMilli(), w.debounce, w.maxDelay, inflightTTL)
	switch {
	case err != nil:
		return err
	case step.stale:
		return nil
	case step.wait > 0:
		return w.enqueueRefresh(ctx, p.Account, p.Token, newToken(), step.wait)
	}
	for _, chunk := range chunks(step.peers, chatapi.MaxUnreadPeers, step.total) {
		if err := w.measure(ctx, p, chunk, step.first); err != nil {
			return err
		}
	}
	return w.store.finishRefresh(ctx, p.Account, p.Token)
}

// inflightTTL bounds how long the work of a failed refresh is kept for its
// task to resume (by asynq's retries or an operator's replay).
const inflightTTL = 7 * 24 * time.Hour

// chunk is one get_c2c_unread_msg_num call: the total, or up to ten peers.
type chunk struct {
	total bool
	peers []string
}

func chunks(peers []string, size int, total bool) []chunk {
	var out []chunk
	if total {
		out = append(out, chunk{total: true})
	}
	slices.Sort(peers)
	for len(peers) > 0 {
		n := min(size, len(peers))
		out = append(out, chunk{peers: peers[:n]})
		peers = peers[n:]
	}
	return out
}

// measure makes one get_c2c_unread_msg_num call and stores its answer.
func (w *Worker) measure(ctx context.Context, p Refresh, c chunk, first int64) error {
	at := w.now() // before the limiter's wait: a measurement never looks newer than it is
	u, err := w.chat.GetUnread(ctx, p.Account, c.peers...)
	if chatapi.CodeOf(err) == chatapi.CodeNoAccount {
		// The account does not exist (any more): keep nothing about it.
		if ferr := w.store.forget(ctx, p.Account); ferr != nil {
			return ferr
		}
		if ferr := w.store.finishRefresh(ctx, p.Account, p.Token); ferr != nil {
			return ferr
		}
	}
	if err != nil {
		return w.chatError(err)
	}
	m := measurement{claimTimes: w.claimTimes(ctx), sink: w.sink != nil, account: p.Account, at: at.UnixMilli(),
		peers: u.Peers, inflight: userKey(p.Account, "inflight:"+p.Token)}
	if c.total && u.HasTotal {
		total := u.Total
		m.total = &total
	}
	for peer := range u.PeerErrors {
		m.gone = append(m.gone, peer)
	}
	res, err := w.store.record(ctx, m)
	if err != nil {
		return err
	}
	if first > 0 {
		w.metrics.snapshotAge(SourceAPI, time.Duration(m.now-first)*time.Millisecond)
	}
	if err := w.schedule(ctx, p.Account, m.token, false, res.notify); err != nil {
		return err
	}
	if res.ambiguous {
		// A callback of the same second disagrees and their order is
		// unknown: measure the total once more, after the debounce.
		return w.requestTotal(ctx, p.Account)
	}
	return nil
}

// requestTotal asks for the total of account to be measured again.
func (w *Worker) requestTotal(ctx context.Context, account string) error {
	c := unreadChange{claimTimes: w.claimTimes(ctx), p: Unread{Account: account}, refreshTotal: true}
	res, err := w.store.change(ctx, c)
	if err != nil {
		return err
	}
	return w.schedule(ctx, account, c.token, res.schedule, false)
}
