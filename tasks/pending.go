package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/chatsync/chatsync/chatapi"
)

// Coalescing. Chat grants each REST API about 200 calls/s for the whole
// fleet, so set-read and read-receipt calls follow conversations, not
// events. An accepted event does not become a task of its own: it is merged
// into its conversation's pending state, and one task per conversation at a
// time waits to apply all of it:
//
//	chatsync:{<account>}:read:<peer>    HASH  set-read of (account, peer):
//	                                          want  read point to apply (unix s)
//	                                          done  highest read point applied
//	                                          gen   token of the task queued for it
//	chatsync:{<account>}:rcpt:<peer>    ZSET  MsgKeys account has read and not yet
//	                                          receipted, by acceptance time (ms)
//	chatsync:{<account>}:rcptgen:<peer> STRING token of the receipt task queued
//	chatsync:seen:<token>               STRING an accepted input, for the
//	                                          de-duplication window: its
//	                                          conversation and tasks (JSON)
//
// An event finds its conversation's task by the gen token: if one is queued
// the event joins it (and enqueues it again by its deterministic ID, which
// asynq answers with a conflict: cheap, and it repairs a task lost between
// a crashed intake's state write and its enqueue); otherwise its own token
// becomes the gen and it enqueues the task. When the task starts it
// releases the gen, so that an event arriving while the call is in flight
// queues exactly one more task, and takes the pending work, which stays
// pending until the call succeeds: a crash or failure leaves it for the
// retry. Read points only rise (max), and one already applied costs no call.

// Defaults for the pending state.
const (
	// DefaultReceiptBatchMax is how many MsgKeys one c2c_msg_read_receipt
	// call carries at most by default. Chat does not document the array's
	// maximum; 20 is well inside the limits Chat documents for its other
	// array parameters and is already a 20-fold saving.
	DefaultReceiptBatchMax = 20
	// MaxReceiptBatch is the largest RECEIPT_BATCH_MAX accepted: the array
	// size chatsync assumes Chat takes (the emulator enforces it).
	MaxReceiptBatch = chatapi.MaxReceiptMsgs
	// PendingTTL bounds how long unapplied work is kept for its task
	// (asynq's retries, or an operator's replay of an archived task).
	PendingTTL = 7 * 24 * time.Hour
	// AppliedTTL is how long the applied read point of a conversation is
	// remembered once nothing is pending: an older read point arriving
	// within it (a late or reordered event) costs no call.
	AppliedTTL = 10 * time.Minute
	// DefaultConversationInterval is the least time between two calls of
	// one API for one conversation by default. The first call of a quiet
	// conversation leaves at once; events arriving within the interval
	// after a call gather for the next one. BENCHMARKS.md ("Overload")
	// measures what it saves: without it a conversation read 50 times in a
	// second costs about as many calls as the limiter grants.
	DefaultConversationInterval = time.Second
)

func readKey(account, peer string) string { return userKey(account, "read:"+peer) }
func spacingKey(account, api, peer string) string {
	return userKey(account, "spacing:"+api+":"+peer)
}
func rcptKey(account, peer string) string    { return userKey(account, "rcpt:"+peer) }
func rcptGenKey(account, peer string) string { return userKey(account, "rcptgen:"+peer) }

// seenKey is not tagged with an account: an input's identity alone makes
// it a duplicate, whatever its body says (chatsync refuses Redis Cluster,
// so the intake script may touch keys of several slots).
func seenKey(token string) string { return "chatsync:seen:" + token }

// pending is the payload of set-read and read-receipt tasks: apply what is
// pending for the conversation of Account with Peer. Gen is the token the
// task was queued as. ReadTime and MsgKeys are set only in tasks of the
// per-event form (Builder.SetRead, Builder.ReadReceipt, and tasks queued by
// chatsync before coalescing): the task then merges them first.
type pending struct {
	Account  string   `json:"account"`
	Peer     string   `json:"peer"`
	Gen      string   `json:"gen,omitempty"`
	ReadTime int64    `json:"read_time,omitempty"`
	MsgKeys  []string `json:"msg_keys,omitempty"`
}

// Validate reports the first problem with p, or nil.
func (p pending) Validate() error {
	return firstErr(userID("account", p.Account), userID("peer", p.Peer), nonNegative("read_time", p.ReadTime))
}

// conversationTask returns the task that applies the pending work of
// (account, peer) of type typ, queued as gen, and its ID.
func (b Builder) conversationTask(typ, account, peer, gen string) (*asynq.Task, string, error) {
	return b.build(typ, QueueRead, pending{Account: account, Peer: peer, Gen: gen}, nil, true, []string{account, peer, gen})
}

// handleSetRead applies the pending read point of a conversation with one
// admin_set_msg_read call. It waits for the rate limiter before it takes
// the read point, so that events arriving meanwhile join this call.
func (w *Worker) handleSetRead(ctx context.Context, t *asynq.Task) error {
	p, err := decode[pending](t)
	if err != nil {
		return err
	}
	key := readKey(p.Account, p.Peer)
	if p.Gen == "" && p.ReadTime == 0 {
		p.ReadTime = w.now().Unix() // a per-event task's 0 means "when the task runs"
	}
	spacing := spacingKey(p.Account, "sr", p.Peer)
	pend, wait, err := w.readPending(ctx, key, spacing)
	if err != nil {
		return err
	}
	if !pend && p.ReadTime == 0 {
		// Nothing to do without a call, unless an event came since.
		if done, err := w.idle(ctx, idleReadScript, []string{key}, p.Gen); err != nil || done {
			return err
		}
	} else if wait > 0 {
		return &RateLimitError{API: chatapi.APISetMsgRead, RetryAfter: wait, Conversation: true}
	}
	if ctx, err = w.lim.reserve(ctx, chatapi.APISetMsgRead); err != nil {
		return err // a *RateLimitError, or Redis's: retried either way
	}
	want, links, err := w.takeRead(ctx, p, []string{key, spacing}, p.Gen, p.ReadTime, PendingTTL.Milliseconds(),
		w.interval.Milliseconds())
	if err != nil {
		return fmt.Errorf("take read point of %s/%s: %w", p.Account, p.Peer, err)
	}
	if want == 0 {
		return nil
	}
	err = w.chat.SetMsgRead(w.linkCall(ctx, links), chatapi.SetMsgReadRequest{ReportAccount: p.Account, PeerAccount: p.Peer, MsgReadTime: want})
	if err != nil {
		return w.chatError(err)
	}
	if err := w.commitRead(ctx, p, want, links); err != nil {
		return fmt.Errorf("commit read point of %s/%s: %w", p.Account, p.Peer, err)
	}
	return nil
}

// idle ends a conversation task that found nothing pending: script
// releases the task's generation if that is still so, atomically. Without
// this an event could join a task that has ended (its ID taken by the
// completed task), and wait for a call that never comes. It returns false
// when work arrived meanwhile: the task must run.
func (w *Worker) idle(ctx context.Context, script *redis.Script, keys []string, gen string) (bool, error) {
	n, err := script.Run(ctx, w.rdb, keys, gen).Int()
	if err != nil {
		return false, fmt.Errorf("end idle task: %w", err)
	}
	return n == 1, nil
}

// readPending reports whether a read point above the applied one waits,
// and how long the conversation's call interval still runs.
func (w *Worker) readPending(ctx context.Context, key, spacing string) (bool, time.Duration, error) {
	var v *redis.SliceCmd
	var ttl *redis.DurationCmd
	_, err := w.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		v = p.HMGet(ctx, key, "want", "done")
		ttl = p.PTTL(ctx, spacing)
		return nil
	})
	if err != nil {
		return false, 0, fmt.Errorf("read pending read point: %w", err)
	}
	want, _ := strconv.ParseInt(str(v.Val()[0]), 10, 64)
	done, _ := strconv.ParseInt(str(v.Val()[1]), 10, 64)
	return want > done, max(ttl.Val(), 0), nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// handleReadReceipt sends the pending read receipts of a conversation:
// the oldest ReceiptBatchMax MsgKeys in one c2c_msg_read_receipt call. When
// more are pending it queues the conversation's next task behind the other
// conversations' tasks, so that a hot conversation takes one batch per turn.
func (w *Worker) handleReadReceipt(ctx context.Context, t *asynq.Task) error {
	p, err := decode[pending](t)
	if err != nil {
		return err
	}
	keys := []string{rcptKey(p.Account, p.Peer), rcptGenKey(p.Account, p.Peer), spacingKey(p.Account, "rr", p.Peer)}
	n, wait, err := w.receiptsPending(ctx, keys[0], keys[2])
	if err != nil {
		return err
	}
	if n == 0 && len(p.MsgKeys) == 0 {
		if done, err := w.idle(ctx, idleReceiptsScript, keys[:2], p.Gen); err != nil || done {
			return err
		}
	} else if wait > 0 && n+len(p.MsgKeys) < w.receiptMax {
		// A full batch goes at once: waiting would not make it larger.
		return &RateLimitError{API: chatapi.APIReadReceipt, RetryAfter: wait, Conversation: true}
	}
	if ctx, err = w.lim.reserve(ctx, chatapi.APIReadReceipt); err != nil {
		return err // a *RateLimitError, or Redis's: retried either way
	}
	args := []any{p.Gen, w.receiptMax, w.now().UnixMilli(), PendingTTL.Milliseconds(), w.interval.Milliseconds()}
	for _, k := range p.MsgKeys {
		args = append(args, k)
	}
	batch, links, err := w.takeReceipts(ctx, p, keys, args...)
	if err != nil {
		return fmt.Errorf("take receipts of %s/%s: %w", p.Account, p.Peer, err)
	}
	if len(batch) == 0 {
		return nil
	}
	rejected, err := w.sendReceipts(w.linkCall(ctx, links), p, batch)
	if err != nil {
		return err
	}
	if err := w.pruneReceiptLinks(ctx, p); err != nil {
		return err
	}
	if err := w.nextReceipts(ctx, p); err != nil {
		return err
	}
	if rejected != nil {
		return permanent(rejected)
	}
	return nil
}

// receiptsPending returns how many MsgKeys are pending and how long the
// conversation's call interval still runs.
func (w *Worker) receiptsPending(ctx context.Context, set, spacing string) (int, time.Duration, error) {
	var n *redis.IntCmd
	var ttl *redis.DurationCmd
	_, err := w.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		n = p.ZCard(ctx, set)
		ttl = p.PTTL(ctx, spacing)
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("read pending receipts: %w", err)
	}
	return int(n.Val()), max(ttl.Val(), 0), nil
}

// sendReceipts sends batch and strikes what Chat took from the pending set.
// Chat answers for a whole call, so when it rejects a batch of several
// MsgKeys as an invalid packet (20001: one unknown MsgKey fails them all)
// the batch is halved until each rejected MsgKey stands alone: those are
// dropped, and the returned rejection names how many; the others are sent.
// Any other failure is returned as it is (mapped by chatError), leaving the
// batch pending.
func (w *Worker) sendReceipts(ctx context.Context, p pending, batch []string) (rejected error, err error) {
	msgs := make([]chatapi.MsgRef, len(batch))
	for i, k := range batch {
		msgs[i] = chatapi.MsgRef{FromAccount: p.Peer, ToAccount: p.Account, MsgKey: k}
	}
	err = w.chat.SendReadReceipt(ctx, chatapi.ReadReceiptRequest{OperatorAccount: p.Account, PeerAccount: p.Peer, Messages: msgs})
	if err != nil {
		if chatapi.CodeOf(err) != chatapi.CodeInvalidPacket {
			// Transient, rate limited, or permanent for the whole call
			// (an account that does not exist): the MsgKeys stay pending,
			// for the retry or an operator's replay of the archived task.
			return nil, w.chatError(err)
		}
		err = w.chatError(err)
		if len(batch) > 1 {
			half := len(batch) / 2
			r1, err := w.sendReceipts(ctx, p, batch[:half])
			if err != nil {
				return nil, err
			}
			r2, err := w.sendReceipts(ctx, p, batch[half:])
			if err != nil {
				return nil, err
			}
			return joinRejections(r1, r2), nil
		}
		rejected = &rejection{n: 1, err: err}
	}
	args := make([]any, len(batch))
	for i, k := range batch {
		args[i] = k
	}
	if err := w.rdb.ZRem(ctx, rcptKey(p.Account, p.Peer), args...).Err(); err != nil {
		return nil, fmt.Errorf("commit receipts of %s/%s: %w", p.Account, p.Peer, err)
	}
	return rejected, nil
}

// rejection counts the MsgKeys Chat rejected for good, with the first
// rejection's error.
type rejection struct {
	n   int
	err error
}

func (r *rejection) Error() string {
	return fmt.Sprintf("%d MsgKey(s) rejected and dropped: %v", r.n, r.err)
}

func (r *rejection) Unwrap() error { return r.err }

func joinRejections(a, b error) error {
	ra, _ := a.(*rejection)
	rb, _ := b.(*rejection)
	switch {
	case ra == nil:
		return b
	case rb == nil:
		return a
	}
	return &rejection{n: ra.n + rb.n, err: ra.err}
}

// nextReceipts queues the conversation's next receipt task when MsgKeys
// are still pending and no task is queued for them.
func (w *Worker) nextReceipts(ctx context.Context, p pending) error {
	id, _ := asynq.GetTaskID(ctx)
	token := claimToken(id + "\x00next") // the same if this task runs again
	keys := []string{rcptKey(p.Account, p.Peer), rcptGenKey(p.Account, p.Peer)}
	gen, err := nextReceiptsScript.Run(ctx, w.rdb, keys, token, PendingTTL.Milliseconds()).Text()
	if err != nil {
		return fmt.Errorf("queue next receipts of %s/%s: %w", p.Account, p.Peer, err)
	}
	if gen == "" {
		return nil // nothing pending
	}
	next, _, err := w.builder(ctx).conversationTask(TypeReadReceipt, p.Account, p.Peer, gen)
	if err != nil {
		return err
	}
	if _, err := w.enq.EnqueueContext(ctx, next); err != nil && !IsDuplicate(err) {
		return fmt.Errorf("queue next receipts of %s/%s: %w", p.Account, p.Peer, err)
	}
	return nil
}

// Intake accepts inputs (Chat callbacks, app events) into Redis: it
// recognises redeliveries, merges read points and MsgKeys into their
// conversations' pending state, and enqueues the tasks that apply them. It
// is safe for concurrent use.
type Intake struct {
	rdb          redis.UniversalClient
	enq          Enqueuer
	tasks        Builder
	waitReplicas int
	waitTimeout  time.Duration
	replicas     onlineReplicas // with waitReplicas (see replicas.go)
	metrics      *IntakeMetrics
	traced       bool // carry the caller's trace context (see trace.go)
}

// IntakeConfig configures an Intake. Redis and Enqueuer are required.
type IntakeConfig struct {
	Redis    redis.UniversalClient
	Enqueuer Enqueuer // usually an *asynq.Client on the same Redis
	Tasks    Builder
	// WaitReplicas, when above 0, makes Accept succeed only after Redis's
	// WAIT confirms that every replica the primary has online, and at
	// least this many, have the input's writes, within WaitTimeout
	// (default 1 s): a failover to any of them then cannot lose an
	// accepted input (see replicas.go).
	WaitReplicas int
	WaitTimeout  time.Duration
	// Metrics, when set, counts accepted inputs per API and how many joined
	// a waiting call (see NewIntakeMetrics).
	Metrics *IntakeMetrics
	// TracerProvider, when set, turns tracing on: the trace context of
	// Accept's caller goes with the input to its tasks and calls (see
	// trace.go). The intake makes no span of its own. Nil: no tracing.
	TracerProvider trace.TracerProvider
}

// Bounds of IntakeConfig.WaitTimeout. The maximum keeps WAIT's reply
// within go-redis's default read timeout (3 s) and an acknowledgement
// within Chat's 2 s callback timeout... nearly: a WAIT that needs longer
// than about a second means a replica is in trouble.
const (
	DefaultWaitTimeout = time.Second
	MaxWaitTimeout     = 2 * time.Second
)

// ErrNotReplicated is returned by Accept when WAIT did not confirm the
// input's writes on enough replicas in time. The input may be in Redis but
// is not acknowledged; its redelivery is recognised.
var ErrNotReplicated = errors.New("redis: not confirmed by enough replicas")

// NewIntake returns an Intake for cfg, or an error naming what is missing.
func NewIntake(cfg IntakeConfig) (*Intake, error) {
	var problems []string
	if cfg.Redis == nil {
		problems = append(problems, "Redis is required")
	}
	if cfg.Enqueuer == nil {
		problems = append(problems, "Enqueuer is required")
	}
	if cfg.WaitReplicas < 0 {
		problems = append(problems, "WaitReplicas is negative")
	}
	if cfg.WaitTimeout < 0 || cfg.WaitTimeout > MaxWaitTimeout {
		problems = append(problems, fmt.Sprintf("WaitTimeout must be between 0 and %v", MaxWaitTimeout))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("intake config: %s", strings.Join(problems, "; "))
	}
	if cfg.WaitTimeout == 0 {
		cfg.WaitTimeout = DefaultWaitTimeout
	}
	return &Intake{rdb: cfg.Redis, enq: cfg.Enqueuer, tasks: cfg.Tasks, waitReplicas: cfg.WaitReplicas,
		waitTimeout: cfg.WaitTimeout, metrics: cfg.Metrics, traced: cfg.TracerProvider != nil}, nil
}

// Input is one callback or app event and the work it asks for. SetRead,
// Receipt and Unread are optional, but at least one is set; SetRead and
// Receipt must belong to Account.
type Input struct {
	// ID identifies the input: a redelivery has the same ID (e.g. Chat's
	// From_Account, To_Account and MsgKey, or a webhook-id and index).
	ID string
	// Account is the user the input is about; its keys hold the
	// de-duplication mark.
	Account string
	// Window is how long a redelivery is recognised: the input's replay
	// window (at least a second).
	Window  time.Duration
	SetRead *SetRead // ReadTime must be set (a read-now event: its acceptance time)
	Receipt *ReadReceipt
	Unread  *Unread
}

// Validate reports the first problem with x, or nil.
func (x Input) Validate() error {
	switch {
	case x.ID == "":
		return errors.New("input has no ID")
	case x.Window < time.Second:
		return errors.New("input's de-duplication window is under a second")
	case x.SetRead == nil && x.Receipt == nil && x.Unread == nil:
		return errors.New("input asks for nothing")
	}
	if err := userID("account", x.Account); err != nil {
		return err
	}
	if x.SetRead != nil {
		if err := x.SetRead.Validate(); err != nil {
			return fmt.Errorf("%s: %w", TypeSetRead, err)
		}
		if x.SetRead.ReadTime <= 0 || x.SetRead.Account != x.Account {
			return fmt.Errorf("%s: needs a read time and the input's account", TypeSetRead)
		}
	}
	if x.Receipt != nil {
		if err := x.Receipt.Validate(); err != nil {
			return fmt.Errorf("%s: %w", TypeReadReceipt, err)
		}
		if x.Receipt.Account != x.Account {
			return fmt.Errorf("%s: needs the input's account", TypeReadReceipt)
		}
	}
	if x.Unread != nil {
		if err := x.Unread.Validate(); err != nil {
			return fmt.Errorf("%s: %w", TypeUnread, err)
		}
	}
	return nil
}

// Accepted says what Accept did with an input.
type Accepted struct {
	// Duplicate is true when the input was accepted before, within its
	// window; nothing was added.
	Duplicate bool
	// TaskIDs are the IDs of the tasks that apply the input: its
	// conversations' queued tasks and its unread task. A read point that
	// is already applied needs none.
	TaskIDs []string
}

// Accept takes x into Redis and returns once everything it asks for is
// there (and, with WaitReplicas, on the replicas): then x may be
// acknowledged. An invalid x is an error that wraps ErrInvalidInput;
// ErrNotReplicated and Redis's errors mean x must not be acknowledged. A
// redelivery of x within its window is a duplicate: it adds nothing, and
// completes whatever a failed earlier call left undone (it enqueues the
// same tasks again, which asynq takes as conflicts when they are there).
func (in *Intake) Accept(ctx context.Context, x Input) (Accepted, error) {
	if err := x.Validate(); err != nil {
		return Accepted{}, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	token := claimToken(x.ID)
	if x.SetRead == nil && x.Receipt == nil {
		return in.acceptUnread(ctx, x, token)
	}
	dup, m, err := in.merge(ctx, x, token)
	if err != nil {
		return Accepted{}, err
	}
	ts, ids, err := in.taskList(in.builder(ctx), x, m)
	if err != nil {
		return Accepted{}, err
	}
	// A duplicate enqueues the tasks its mark names again: if the first
	// acceptance died between the merge and its enqueue, this completes it;
	// otherwise each enqueue is a conflict, answered without a write.
	for _, t := range ts {
		if _, err := in.enq.EnqueueContext(ctx, t); err != nil && !IsDuplicate(err) {
			return Accepted{}, fmt.Errorf("enqueue %s: %w", t.Type(), err)
		}
	}
	if err := in.confirm(ctx, seenKey(token), m.raw, 0); err != nil {
		return Accepted{}, err
	}
	return Accepted{Duplicate: dup, TaskIDs: ids}, nil
}

// acceptUnread takes in an input that only changes unread counts (most
// callbacks): there is no conversation state to merge, and its one task is
// idempotent (a total applied again changes nothing; a peer measured again
// costs at most one call), so the task's own ID recognises a redelivery
// while the task exists, and one Redis round trip does. A de-duplication
// mark would add a round trip, and a redelivery finding it would enqueue
// the task again anyway.
func (in *Intake) acceptUnread(ctx context.Context, x Input, token string) (Accepted, error) {
	t, id, err := in.builder(ctx).unread(*x.Unread, x.ID)
	if err != nil {
		return Accepted{}, err
	}
	_, err = in.enq.EnqueueContext(ctx, t)
	dup := IsDuplicate(err)
	if err != nil && !dup {
		return Accepted{}, fmt.Errorf("enqueue %s: %w", t.Type(), err)
	}
	if err := in.confirm(ctx, seenKey(token), "", x.Window); err != nil {
		return Accepted{}, err
	}
	return Accepted{Duplicate: dup, TaskIDs: []string{id}}, nil
}

// mark is an input's de-duplication mark: its conversation and the gens of
// its conversation tasks ("" where none is needed), as first accepted.
type mark struct {
	Account string `json:"a"`
	Peer    string `json:"p"`
	SetRead string `json:"s"`
	Receipt string `json:"g"`
	raw     string
}

// ErrInvalidInput marks an Input that can never be accepted.
var ErrInvalidInput = errors.New("invalid input")

// merge runs the intake script. It returns whether x is a duplicate, and
// its mark.
func (in *Intake) merge(ctx context.Context, x Input, token string) (bool, mark, error) {
	peer := ""
	args := []any{token, time.Now().UnixMilli(), PendingTTL.Milliseconds(), x.Window.Milliseconds(), x.Account, "", 0}
	if x.SetRead != nil {
		peer, args[6] = x.SetRead.Peer, x.SetRead.ReadTime
	}
	if x.Receipt != nil {
		peer = x.Receipt.Peer
		for _, k := range x.Receipt.MsgKeys {
			args = append(args, k)
		}
	}
	args[5] = peer
	keys := []string{seenKey(token), readKey(x.Account, peer), rcptKey(x.Account, peer), rcptGenKey(x.Account, peer)}
	keys, args = in.traceArgs(ctx, x, peer, keys, args)
	v, err := intakeScript.Run(ctx, in.rdb, keys, args...).Slice()
	if err != nil {
		return false, mark{}, fmt.Errorf("accept input: %w", err)
	}
	m := mark{raw: str(v[1])}
	if err := json.Unmarshal([]byte(m.raw), &m); err != nil {
		return false, mark{}, fmt.Errorf("accept input: de-duplication mark: %w", err)
	}
	dup := v[0] == "dup"
	if !dup && x.SetRead != nil {
		in.metrics.accepted(chatapi.APISetMsgRead, v[2] == int64(1), m.SetRead == "")
	}
	if !dup && x.Receipt != nil {
		in.metrics.accepted(chatapi.APIReadReceipt, v[3] == int64(1), false)
	}
	return dup, m, nil
}

// taskList returns the tasks of x that m names, and their IDs.
func (in *Intake) taskList(b Builder, x Input, m mark) ([]*asynq.Task, []string, error) {
	var ts []*asynq.Task
	var ids []string
	add := func(t *asynq.Task, id string, err error) error {
		if err == nil {
			ts, ids = append(ts, t), append(ids, id)
		}
		return err
	}
	if m.SetRead != "" {
		if err := add(b.conversationTask(TypeSetRead, m.Account, m.Peer, m.SetRead)); err != nil {
			return nil, nil, err
		}
	}
	if m.Receipt != "" {
		if err := add(b.conversationTask(TypeReadReceipt, m.Account, m.Peer, m.Receipt)); err != nil {
			return nil, nil, err
		}
	}
	if x.Unread != nil {
		if err := add(b.unread(*x.Unread, x.ID)); err != nil {
			return nil, nil, err
		}
	}
	return ts, ids, nil
}

// confirm makes sure, with WaitReplicas, that the replicas online (at
// least WaitReplicas of them; see replicasToWait) have the input: it writes its de-duplication mark (value for window; with window
// 0 it rewrites the mark as it is) and WAITs on the same connection. Redis
// replicates in order, so the replicas then have every earlier write of the
// input too, its tasks included (enqueued on other connections, but
// before). Without WaitReplicas it does nothing.
func (in *Intake) confirm(ctx context.Context, key, value string, window time.Duration) error {
	if in.waitReplicas == 0 {
		return nil
	}
	need := in.replicasToWait(ctx)
	var wait *redis.Cmd
	_, err := in.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if window > 0 {
			p.Set(ctx, key, value, window)
		} else {
			p.SetArgs(ctx, key, value, redis.SetArgs{Mode: "XX", KeepTTL: true})
		}
		// Pipeliner lacks Wait. The reply comes within the connection's
		// read timeout (3 s by default), which MaxWaitTimeout stays below.
		wait = p.Do(ctx, "wait", need, in.waitTimeout.Milliseconds())
		return nil
	})
	if err != nil {
		in.replicas.at.Store(0) // perhaps a failover: count the new primary's
		return fmt.Errorf("accept input: %w", err)
	}
	if n, _ := wait.Int64(); n < int64(need) {
		in.replicas.at.Store(0) // a replica may have gone: count again
		return fmt.Errorf("%w (%d of %d within %v)", ErrNotReplicated, n, need, in.waitTimeout)
	}
	return nil
}
