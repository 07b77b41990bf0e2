// Package tasks defines chatsync's asynq tasks: their type names, payloads
// and constructors (queue, retry budget, timeout, retention and a
// deterministic TaskID), the Intake that takes callbacks and app events
// into Redis, and the handlers that turn tasks into Chat REST calls under a
// cluster-wide rate limit.
//
// Chat's budget (about 200 calls/s per API for the whole fleet) shapes the
// design: set-read and read-receipt work is merged into per-conversation
// pending state, and one task per conversation at a time applies it (see
// pending.go). The Intake recognises a redelivered input for its replay
// window by a de-duplication mark, so a callback or app event delivered
// twice adds nothing.
package tasks

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/chatsync/chatsync/chatapi"
)

// Task type names, in asynq's domain:action form.
const (
	TypeSetRead     = "chat:set_read"     // admin_set_msg_read
	TypeReadReceipt = "chat:read_receipt" // c2c_msg_read_receipt
	TypeUnread      = "chat:unread"       // record an unread change; may schedule a refresh
	TypeRefresh     = "chat:unread_refresh"
	TypeSinkNotify  = "sink:unread_updated" // POST an unread.updated event to SINK_URL
)

// Queues. Read-state writes outrank unread bookkeeping: a user waiting for a
// conversation to turn read matters more than a badge count.
const (
	QueueRead   = "chat_read"   // set-read and read-receipt
	QueueUnread = "chat_unread" // unread updates and refreshes
	QueueSink   = "sink"        // notifications to SINK_URL
)

// DefaultQueues are the queue weights used when none are configured.
func DefaultQueues() map[string]int {
	return map[string]int{QueueRead: 6, QueueUnread: 3, QueueSink: 1}
}

// Defaults for Builder's zero values.
const (
	DefaultMaxRetry = 12
	DefaultTimeout  = 30 * time.Second
	// DefaultRetention keeps a completed task a minute: enough to watch
	// recent work in the monitoring UI, while Redis memory stays bounded
	// by the rate (a completed task takes about 0.5 KB; see README,
	// "Redis memory"). Archived tasks are kept apart from it, by asynq
	// (up to 10,000 per queue, 90 days).
	DefaultRetention = time.Minute
)

// Builder makes tasks with chatsync's options. Its zero value uses the
// defaults. It is safe for concurrent use.
type Builder struct {
	MaxRetry int           // retries after the first attempt (default 12)
	Timeout  time.Duration // per attempt (default 30 s)
	// Retention keeps a completed set-read or read-receipt task (the tasks
	// that call Chat for a conversation) this long, for looking back in the
	// monitoring UI (default DefaultRetention; negative: none). Unread
	// bookkeeping tasks are not retained. Duplicates are recognised by the
	// Intake, not by retained tasks.
	Retention time.Duration

	// The W3C trace context the tasks carry in their headers, set only
	// with tracing (see trace.go).
	traceparent, tracestate string
}

// opts returns the options of a task of id in queue; unless retain, it is
// not kept after completion.
func (b Builder) opts(queue, id string, retain bool) []asynq.Option {
	maxRetry, timeout, retention := cmp.Or(b.MaxRetry, DefaultMaxRetry), b.Timeout, b.Retention
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	switch {
	case !retain || retention < 0:
		retention = 0
	case retention == 0:
		retention = DefaultRetention
	}
	return []asynq.Option{asynq.Queue(queue), asynq.MaxRetry(max(maxRetry, 0)), asynq.Timeout(timeout),
		asynq.Retention(retention), asynq.TaskID(id)}
}

// ID derives a TaskID from a task type and the parts of an event's identity.
// Parts are hashed, so any UserID or MsgKey is safe in them, and the same
// parts always give the same ID.
func ID(typ string, parts ...string) string {
	var stack [256]byte
	buf := stack[:0]
	for _, p := range parts {
		// Length-prefixed, so ("ab","c") and ("a","bc") differ.
		buf = strconv.AppendInt(buf, int64(len(p)), 10)
		buf = append(buf, ':')
		buf = append(buf, p...)
		buf = append(buf, ';')
	}
	sum := sha256.Sum256(buf)
	var digits [32]byte
	hex.Encode(digits[:], sum[:16])
	var id strings.Builder
	id.Grow(len(typ) + 1 + len(digits))
	id.WriteString(typ)
	id.WriteByte(':')
	id.Write(digits[:])
	return id.String()
}

// SetRead is the payload of a TypeSetRead task: mark Account's conversation
// with Peer read up to ReadTime.
type SetRead struct {
	Account  string `json:"account"`
	Peer     string `json:"peer"`
	ReadTime int64  `json:"read_time,omitempty"` // unix seconds; 0 = when the task runs
	Source   string `json:"source,omitempty"`    // what caused it, for operators
}

// ReadReceipt is the payload of a TypeReadReceipt task: Account sends read
// receipts for messages Peer sent to Account.
type ReadReceipt struct {
	Account string   `json:"account"`
	Peer    string   `json:"peer"`
	MsgKeys []string `json:"msg_keys"`
	Source  string   `json:"source,omitempty"`
}

// Unread is the payload of a TypeUnread task: Account's unread counts
// changed (or should be refreshed).
type Unread struct {
	Account string `json:"account"`
	// Peers whose conversation counts changed and should be refreshed.
	Peers []string `json:"peers,omitempty"`
	// Total is the account's total C2C unread count as reported by a
	// callback's UnreadMsgNum, measured at TotalAt; nil when unknown.
	Total   *int  `json:"total,omitempty"`
	TotalAt int64 `json:"total_at,omitempty"` // unix milliseconds
	// RefreshTotal asks for the total to be fetched from Chat.
	RefreshTotal bool   `json:"refresh_total,omitempty"`
	Source       string `json:"source,omitempty"`
}

// Validate reports the first problem with p as a *FieldError, or nil.
func (p SetRead) Validate() error {
	return firstErr(userID("account", p.Account), userID("peer", p.Peer), nonNegative("read_time", p.ReadTime))
}

// Validate reports the first problem with p as a *FieldError, or nil.
func (p ReadReceipt) Validate() error {
	if err := firstErr(userID("account", p.Account), userID("peer", p.Peer)); err != nil {
		return err
	}
	if len(p.MsgKeys) == 0 {
		return &FieldError{Field: "msg_keys", Problem: "is empty"}
	}
	for i, k := range p.MsgKeys {
		if k == "" {
			return &FieldError{Field: fmt.Sprintf("msg_keys[%d]", i), Problem: "is empty"}
		}
	}
	return nil
}

// Validate reports the first problem with p as a *FieldError, or nil.
func (p Unread) Validate() error {
	if err := userID("account", p.Account); err != nil {
		return err
	}
	for i, peer := range p.Peers {
		// The field's name is formatted only for a problem: every
		// callback validates an Unread (BenchmarkCallback: −1 alloc/op).
		if err := chatapi.CheckUserID(peer); err != nil {
			return &FieldError{Field: fmt.Sprintf("peers[%d]", i), Problem: err.Error()}
		}
	}
	if p.Total != nil && *p.Total < 0 {
		return &FieldError{Field: "total", Problem: "is negative"}
	}
	return nil
}

// SetRead returns a TypeSetRead task whose ID derives from idParts.
func (b Builder) SetRead(p SetRead, idParts ...string) (*asynq.Task, error) {
	return dropID(b.build(TypeSetRead, QueueRead, p, p.Validate(), true, idParts))
}

// ReadReceipt returns a TypeReadReceipt task whose ID derives from idParts.
func (b Builder) ReadReceipt(p ReadReceipt, idParts ...string) (*asynq.Task, error) {
	return dropID(b.build(TypeReadReceipt, QueueRead, p, p.Validate(), true, idParts))
}

// Unread returns a TypeUnread task whose ID derives from idParts. Like the
// refresh tasks it is not retained after completion: there is one per
// callback, it makes no Chat call, and its outcome is the snapshot (a
// failure is archived, and kept, as any other); retaining it would cost
// Redis memory in proportion to the callback rate.
func (b Builder) Unread(p Unread, idParts ...string) (*asynq.Task, error) {
	return dropID(b.unread(p, idParts...))
}

// unread is Unread, also returning the task's ID.
func (b Builder) unread(p Unread, idParts ...string) (*asynq.Task, string, error) {
	return b.build(TypeUnread, QueueUnread, p, p.Validate(), false, idParts)
}

// build returns a task of type typ for queue with payload (or the error
// invalid) and its ID, which derives from idParts. Unless retain, the task
// is not kept after completion.
func (b Builder) build(typ, queue string, payload any, invalid error, retain bool, idParts []string) (*asynq.Task, string, error) {
	if invalid != nil {
		return nil, "", fmt.Errorf("%s: %w", typ, invalid)
	}
	if len(idParts) == 0 {
		return nil, "", fmt.Errorf("%s: no identity for the task ID", typ)
	}
	data, err := json.Marshal(payload)
	if err != nil {
		return nil, "", fmt.Errorf("%s: encode payload: %w", typ, err)
	}
	id := ID(typ, idParts...)
	return asynq.NewTaskWithHeaders(typ, data, b.traceHeaders(), b.opts(queue, id, retain)...), id, nil
}

// dropID returns a task and its error, for the exported constructors.
func dropID(t *asynq.Task, _ string, err error) (*asynq.Task, error) { return t, err }

// IsDuplicate reports whether an enqueue error means the task already
// exists: the event was accepted before.
func IsDuplicate(err error) bool { return errors.Is(err, asynq.ErrTaskIDConflict) }

// FieldError is a problem with one field of a task payload: Field names
// it as in the payload's JSON ("peers[2]"), Problem says what is wrong
// ("is longer than 32 bytes"). The Validate methods return it.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + " " + e.Problem }

// userID returns a *FieldError for an id that cannot be a Chat UserID.
func userID(field, id string) error {
	if err := chatapi.CheckUserID(id); err != nil {
		return &FieldError{Field: field, Problem: err.Error()}
	}
	return nil
}

func nonNegative(field string, v int64) error {
	if v < 0 {
		return &FieldError{Field: field, Problem: "is negative"}
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
