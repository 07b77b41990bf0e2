package tasks

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
)

// newTestTracing returns a TracerProvider that records every span in the
// returned exporter as the span ends.
func newTestTracing(tb testing.TB) (*sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	tb.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	tb.Cleanup(func() { tp.Shutdown(context.Background()) })
	return tp, exp
}

// spansNamed returns the ended spans called name.
func spansNamed(exp *tracetest.InMemoryExporter, name string) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, s := range exp.GetSpans() {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// TestTraceCoalescedLinks: inputs that coalesce into one Chat call, each
// accepted under a request span of its own while no worker runs, give one
// call span under the task's run span, with one link per input's request
// span up to MaxTraceLinks; the run span continues the trace of the input
// that queued the task. Once the call succeeded no link is left in Redis.
func TestTraceCoalescedLinks(t *testing.T) {
	for _, n := range []int{5, MaxTraceLinks + 8} {
		t.Run(fmt.Sprint(n, " inputs"), func(t *testing.T) {
			e := setup(t, emulator.Config{})
			e.emu.ImportAccounts("reader", "writer")
			tp, exp := newTestTracing(t)
			in, err := NewIntake(IntakeConfig{Redis: e.rdb, Enqueuer: e.client, TracerProvider: tp})
			if err != nil {
				t.Fatal(err)
			}
			keys := sendMsgs(t, e.chat(t, nil), "reader", []string{"writer"}, n)["writer"]
			base := time.Now().Unix() - 100
			var taskIDs []string
			for i := range n {
				ctx, req := tp.Tracer("test").Start(context.Background(), "request")
				x := readInput(fmt.Sprint("ev", i), "reader", "writer", base+int64(i))
				x.Receipt = &ReadReceipt{Account: "reader", Peer: "writer", MsgKeys: keys[i : i+1]}
				acc, err := in.Accept(ctx, x)
				req.End()
				if err != nil {
					t.Fatal(err)
				}
				taskIDs = acc.TaskIDs
			}
			requests := spansNamed(exp, "request")
			if len(requests) != n {
				t.Fatalf("%d request spans, want %d", len(requests), n)
			}

			w := e.worker(t, Config{ReceiptBatchMax: MaxReceiptBatch, TracerProvider: tp,
				Chat: chatClient(t, e, tp)})
			e.serve(t, w, 2)
			for _, id := range taskIDs {
				e.finished(t, QueueRead, id, 10*time.Second)
			}
			wantLinks := min(n, MaxTraceLinks)
			for _, api := range []string{chatapi.APISetMsgRead, chatapi.APIReadReceipt} {
				waitFor(t, 5*time.Second, api+" span", func() bool { return len(spansNamed(exp, "chat "+api)) > 0 })
				calls := spansNamed(exp, "chat "+api)
				if len(calls) != 1 {
					t.Fatalf("%s: %d call spans, want 1", api, len(calls))
				}
				call := calls[0]
				var linked []trace.SpanID
				for _, l := range call.Links {
					linked = append(linked, l.SpanContext.SpanID())
				}
				var want []trace.SpanID
				for _, a := range requests[:wantLinks] {
					want = append(want, a.SpanContext.SpanID())
				}
				// Inputs accepted in the same millisecond come back in any order.
				byID := func(a, b trace.SpanID) int { return bytes.Compare(a[:], b[:]) }
				slices.SortFunc(want, byID)
				slices.SortFunc(linked, byID)
				if diff := cmp.Diff(want, linked); diff != "" {
					t.Errorf("%s: links (-want +got):\n%s", api, diff)
				}
				run := parentOf(t, exp, call)
				if run.Name != "task "+typeOf(api) {
					t.Errorf("%s: call's parent is %q, want the task run", api, run.Name)
				}
				if run.Parent.SpanID() != requests[0].SpanContext.SpanID() {
					t.Errorf("%s: the run's parent is not the request span of the input that queued it", api)
				}
			}
			waitFor(t, 5*time.Second, "links cleared", func() bool {
				n, err := e.rdb.Exists(context.Background(), readLinksKey("reader", "writer"),
					rcptLinksKey("reader", "writer")).Result()
				return err == nil && n == 0
			})
		})
	}
}

func typeOf(api string) string {
	if api == chatapi.APISetMsgRead {
		return TypeSetRead
	}
	return TypeReadReceipt
}

func chatClient(tb testing.TB, e *env, tp trace.TracerProvider) *chatapi.Client {
	tb.Helper()
	c, err := chatapi.New(chatapi.Config{SDKAppID: testAppID, SecretKey: testSecret, Admin: emulator.DefaultAdmin,
		BaseURL: e.emuURL, TracerProvider: tp})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func parentOf(tb testing.TB, exp *tracetest.InMemoryExporter, s tracetest.SpanStub) tracetest.SpanStub {
	tb.Helper()
	for _, p := range exp.GetSpans() {
		if p.SpanContext.SpanID() == s.Parent.SpanID() {
			return p
		}
	}
	tb.Fatalf("span %q has no recorded parent", s.Name)
	return tracetest.SpanStub{}
}

// TestTraceOff: without a TracerProvider the intake puts no trace context
// on tasks and no link in Redis, even when the caller's context carries a
// sampled span.
func TestTraceOff(t *testing.T) {
	e := setup(t, emulator.Config{})
	in := e.intake(t)
	tp, _ := newTestTracing(t)
	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	defer span.End()
	x := readInput("ev", "reader", "writer", time.Now().Unix())
	x.Receipt = &ReadReceipt{Account: "reader", Peer: "writer", MsgKeys: []string{"k1"}}
	x.Unread = &Unread{Account: "reader", Peers: []string{"writer"}}
	if _, err := in.Accept(ctx, x); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Accept(ctx, Input{ID: "cb", Account: "reader", Window: time.Minute,
		Unread: &Unread{Account: "reader", Peers: []string{"writer"}}}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, q := range []string{QueueRead, QueueUnread} {
		infos, err := e.insp.ListPendingTasks(q)
		if err != nil {
			t.Fatal(err)
		}
		for _, info := range infos {
			n++
			if len(info.Headers) != 0 {
				t.Errorf("%s task has headers %v, want none", info.Type, info.Headers)
			}
		}
	}
	if n != 4 {
		t.Fatalf("%d tasks, want 4", n)
	}
	links, err := e.rdb.Keys(context.Background(), "chatsync:*links*").Result()
	if err != nil || len(links) != 0 {
		t.Errorf("link keys %v (%v), want none", links, err)
	}

	// The same with tracing on: the check above can fail.
	tin, err := NewIntake(IntakeConfig{Redis: e.rdb, Enqueuer: e.client, TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := tin.Accept(ctx, Input{ID: "cb2", Account: "carol", Window: time.Minute,
		Unread: &Unread{Account: "carol"}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := e.insp.GetTaskInfo(QueueUnread, acc.TaskIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	if tp := info.Headers["traceparent"]; len(tp) != 55 {
		t.Errorf("traced task's traceparent %q, want a W3C traceparent", tp)
	}
}

// TestUnsampledInputIsNotTraced: the tasks of an input whose span was not
// sampled carry no trace header, and a task without one runs without a
// span; a sampled input's tasks carry it and run in a span.
func TestUnsampledInputIsNotTraced(t *testing.T) {
	unsampled := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}})
	if h := (Builder{}).withTrace(unsampled).traceHeaders(); h != nil {
		t.Errorf("an unsampled input's task headers: %v, want none", h)
	}
	sampled := (Builder{}).withTrace(unsampled.WithTraceFlags(trace.FlagsSampled)).traceHeaders()
	if sampled["traceparent"] == "" {
		t.Fatalf("a sampled input's task headers: %v, want a traceparent", sampled)
	}

	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	w := &Worker{tracer: tp.Tracer("test")}
	runs := 0
	h := w.traceTask(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { runs++; return nil }))
	if err := h.ProcessTask(context.Background(), asynq.NewTask(TypeSetRead, nil)); err != nil {
		t.Fatal(err)
	}
	if n := len(exp.GetSpans()); n != 0 || runs != 1 {
		t.Errorf("a task without a trace header: %d spans, %d runs; want 0 spans, 1 run", n, runs)
	}
	if err := h.ProcessTask(context.Background(), asynq.NewTaskWithHeaders(TypeSetRead, nil, sampled)); err != nil {
		t.Fatal(err)
	}
	if n := len(exp.GetSpans()); n != 1 || runs != 2 {
		t.Errorf("a task with a sampled trace header: %d spans, %d runs; want 1 span, 2 runs", n, runs)
	}
}
