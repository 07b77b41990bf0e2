package tasks

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/chatsync/chatsync/chatapi"
)

// Tracing. With a TracerProvider in IntakeConfig and Config:
//
//   - the W3C trace context of Intake.Accept's caller (the span of the HTTP
//     request, or of one event of a batch) goes into the headers of the
//     tasks the input enqueues (traceparent, tracestate);
//   - a sampled input that joins a conversation's pending set-read or
//     receipts also leaves its traceparent beside that work in Redis, in a
//     sorted set of at most MaxTraceLinks per conversation and API, taken
//     with the work and cleared when the call that applied it succeeds;
//   - every task run is a consumer span ("task <type>") whose parent is the
//     context in the task's headers, and the Chat calls it makes are its
//     children (see chatapi), linked to every input whose work they carry.
//
// Nothing of this runs without a TracerProvider: no span, no header, no
// extra key or argument in Redis. Spans carry no user ID, MsgKey, message
// or error text (which may quote user IDs): conversations are named by
// task IDs, which are hashes.

// MaxTraceLinks is the most inputs a conversation's pending work keeps a
// span link for, per API: a call that applies more links to the first
// MaxTraceLinks of them.
const MaxTraceLinks = 32

// tracerName is the instrumentation scope of the package's spans.
const tracerName = "github.com/chatsync/chatsync/tasks"

// Span attribute keys of the package's spans.
const (
	AttrTaskType = attribute.Key("asynq.task.type")
	AttrTaskID   = attribute.Key("asynq.task.id")
	AttrQueue    = attribute.Key("asynq.queue")
	AttrRetry    = attribute.Key("asynq.retry")      // the run's retry count: 0 on the first run
	AttrOutcome  = attribute.Key("chatsync.outcome") // ok, retried, archived, rate_limited
	AttrLinks    = attribute.Key("chatsync.links")   // inputs linked by a call
)

func readLinksKey(account, peer string) string { return userKey(account, "readlinks:"+peer) }
func rcptLinksKey(account, peer string) string { return userKey(account, "rcptlinks:"+peer) }

var traceContext propagation.TraceContext

func newTracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer(tracerName)
}

// traceHeaders returns the task headers of b: nil unless b carries a trace
// context.
func (b Builder) traceHeaders() map[string]string {
	if b.traceparent == "" {
		return nil
	}
	h := map[string]string{"traceparent": b.traceparent}
	if b.tracestate != "" {
		h["tracestate"] = b.tracestate
	}
	return h
}

// builder returns the Builder for the tasks of the input accepted in ctx:
// with tracing, its tasks carry ctx's trace context.
func (in *Intake) builder(ctx context.Context) Builder {
	if !in.traced {
		return in.tasks
	}
	return in.tasks.withTrace(trace.SpanContextFromContext(ctx))
}

// builder is Intake.builder for tasks a task run schedules (refreshes,
// sink notifications, the next batch of receipts).
func (w *Worker) builder(ctx context.Context) Builder {
	if w.tracer == nil {
		return w.tasks
	}
	return w.tasks.withTrace(trace.SpanContextFromContext(ctx))
}

// withTrace returns b for tasks that continue sc's trace. Only a sampled
// trace is carried on: the tasks of an input that was not sampled carry no
// header and run untraced, which saves each of them the header's encoding.
func (b Builder) withTrace(sc trace.SpanContext) Builder {
	if sc.IsSampled() {
		b.traceparent, b.tracestate = traceparent(sc), sc.TraceState().String()
	}
	return b
}

// traceparent is propagation.TraceContext's header for sc, without its
// map and context.
func traceparent(sc trace.SpanContext) string {
	var b [55]byte
	tid, sid := sc.TraceID(), sc.SpanID()
	copy(b[:3], "00-")
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	hex.Encode(b[53:], []byte{byte(sc.TraceFlags() & trace.FlagsSampled)})
	return string(b[:])
}

// traceArgs adds to the intake script's keys and arguments the link keys,
// the cap and the traceparent of ctx's span, when tracing and the span is
// sampled (a link to a span that is not recorded leads nowhere).
func (in *Intake) traceArgs(ctx context.Context, x Input, peer string, keys []string, args []any) ([]string, []any) {
	if !in.traced {
		return keys, args
	}
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsSampled() {
		return keys, args
	}
	keys = append(keys, readLinksKey(x.Account, peer), rcptLinksKey(x.Account, peer))
	return keys, append(args, MaxTraceLinks, traceparent(sc))
}

// traceTask is asynq middleware: a consumer span per task run, a child of
// the trace context in the task's headers. A task without one (its input
// was not sampled, or it was enqueued without tracing) runs untraced.
func (w *Worker) traceTask(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		ctx = traceContext.Extract(ctx, propagation.MapCarrier(t.Headers()))
		if !trace.SpanContextFromContext(ctx).IsSampled() {
			return next.ProcessTask(ctx, t)
		}
		id, _ := asynq.GetTaskID(ctx)
		queue, _ := asynq.GetQueueName(ctx)
		retry, _ := asynq.GetRetryCount(ctx)
		ctx, span := w.tracer.Start(ctx, "task "+t.Type(), trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(AttrTaskType.String(t.Type()), AttrTaskID.String(id), AttrQueue.String(queue),
				AttrRetry.Int(retry)))
		defer span.End()
		ctx = chatapi.WithCallTrace(ctx, chatapi.CallTrace{Attempt: retry})
		err := next.ProcessTask(ctx, t)
		o := outcome(ctx, err)
		span.SetAttributes(AttrOutcome.String(o))
		if err != nil && o != OutcomeRateLimited {
			span.SetStatus(codes.Error, taskStatus(err))
		}
		return err
	})
}

// taskStatus describes a failed run for its span without the error's
// text, which may quote user IDs or Chat's ErrorInfo.
func taskStatus(err error) string {
	var ce *chatapi.Error
	if errors.As(err, &ce) {
		switch {
		case ce.Code != 0:
			return fmt.Sprintf("chat %s: ErrorCode %d", ce.API, ce.Code)
		case ce.HTTPStatus != 0:
			return fmt.Sprintf("chat %s: HTTP %d", ce.API, ce.HTTPStatus)
		}
		return "chat " + ce.API + ": " + ce.Class().String()
	}
	if errors.Is(err, asynq.SkipRetry) {
		return "failed for good"
	}
	return "failed"
}

// linkCall returns ctx for a Chat call that applies the work of the inputs
// whose traceparents are links: its span links to each.
func (w *Worker) linkCall(ctx context.Context, links []string) context.Context {
	if w.tracer == nil {
		return ctx
	}
	retry, _ := asynq.GetRetryCount(ctx)
	ct := chatapi.CallTrace{Attempt: retry}
	for _, l := range links {
		sc := trace.SpanContextFromContext(traceContext.Extract(context.Background(),
			propagation.MapCarrier{"traceparent": l}))
		if sc.IsValid() {
			ct.Links = append(ct.Links, trace.Link{SpanContext: sc})
		}
	}
	trace.SpanFromContext(ctx).SetAttributes(AttrLinks.Int(len(ct.Links)))
	return chatapi.WithCallTrace(ctx, ct)
}

// takeRead runs takeReadScript on a set-read's keys; with tracing it also
// returns the traceparents of the inputs whose read points it takes.
func (w *Worker) takeRead(ctx context.Context, p pending, keys []string, args ...any) (int64, []string, error) {
	if w.tracer == nil {
		want, err := takeReadScript.Run(ctx, w.rdb, keys, args...).Int64()
		return want, nil, err
	}
	keys = append(keys, readLinksKey(p.Account, p.Peer))
	v, err := takeReadScript.Run(ctx, w.rdb, keys, args...).Result()
	if err != nil {
		return 0, nil, err
	}
	if r, ok := v.([]any); ok && len(r) == 2 {
		want, _ := r[0].(int64)
		return want, strs(r[1]), nil
	}
	want, _ := v.(int64)
	return want, nil, nil
}

// commitRead runs commitReadScript; with tracing it also drops the links
// the call carried (all of them once nothing is pending).
func (w *Worker) commitRead(ctx context.Context, p pending, sent int64, links []string) error {
	keys, args := []string{readKey(p.Account, p.Peer)}, []any{sent, AppliedTTL.Milliseconds()}
	if w.tracer != nil {
		keys = append(keys, readLinksKey(p.Account, p.Peer))
		for _, l := range links {
			args = append(args, l)
		}
	}
	return commitReadScript.Run(ctx, w.rdb, keys, args...).Err()
}

// takeReceipts runs takeReceiptsScript; with tracing it also returns the
// traceparents of the inputs the batch's MsgKeys came with.
func (w *Worker) takeReceipts(ctx context.Context, p pending, keys []string, args ...any) ([]string, []string, error) {
	if w.tracer == nil {
		batch, err := takeReceiptsScript.Run(ctx, w.rdb, keys, args...).StringSlice()
		return batch, nil, err
	}
	keys = append(keys, rcptLinksKey(p.Account, p.Peer))
	v, err := takeReceiptsScript.Run(ctx, w.rdb, keys, args...).Slice()
	if err != nil || len(v) != 2 {
		return nil, nil, err
	}
	return strs(v[0]), strs(v[1]), nil
}

// pruneReceiptLinks drops, with tracing, the links of inputs none of whose
// MsgKeys are pending any more.
func (w *Worker) pruneReceiptLinks(ctx context.Context, p pending) error {
	if w.tracer == nil {
		return nil
	}
	err := pruneReceiptLinksScript.Run(ctx, w.rdb, []string{rcptKey(p.Account, p.Peer), rcptLinksKey(p.Account, p.Peer)}).Err()
	if err != nil {
		return fmt.Errorf("prune receipt links: %w", err)
	}
	return nil
}

// pruneReceiptLinksScript keeps the links scored (accepted) at or after the
// oldest pending MsgKey, and none when nothing is pending.
// KEYS: receipt set, receipt links.
var pruneReceiptLinksScript = redis.NewScript(`
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #first == 0 then redis.call('DEL', KEYS[2]) return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. first[2])
return 0
`)

func strs(v any) []string {
	a, _ := v.([]any)
	out := make([]string, 0, len(a))
	for _, x := range a {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
