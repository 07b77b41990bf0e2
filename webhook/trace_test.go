package webhook

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/tasks"
)

const (
	testTraceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	testParentSpan  = "00f067aa0ba902b7"
	testTraceparent = "00-" + testTraceID + "-" + testParentSpan + "-01"
)

// TestTraceRequests: with a TracerProvider a callback is a server span,
// the child of the request's traceparent, whose context the tasks carry;
// health checks are not traced; a 503 is an error span; each event of a
// batch has a span of its own. Without one, a traceparent goes nowhere.
func TestTraceRequests(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("testdata", "callbacks", "C2C.CallbackAfterSendMsg.json"))
	if err != nil {
		t.Fatal(err)
	}
	post := func(e *testEnv) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/callback?"+signedQuery(chatapi.CommandAfterSendMsg).Encode(),
			strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("traceparent", testTraceparent)
		return e.serve(req)
	}

	t.Run("on", func(t *testing.T) {
		exp := tracetest.NewInMemoryExporter()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
		defer tp.Shutdown(context.Background())
		e := setup(t, Config{TracerProvider: tp, AutoRead: []string{"Jonh"}})
		intake, err := tasks.NewIntake(tasks.IntakeConfig{Redis: e.rdb, Enqueuer: e.client, TracerProvider: tp})
		if err != nil {
			t.Fatal(err)
		}
		e.srv.intake = intake
		if rec := post(e); rec.Code != http.StatusOK {
			t.Fatalf("callback: %d %s", rec.Code, rec.Body)
		}
		e.serve(httptest.NewRequest(http.MethodGet, "/healthz", nil))
		spans := exp.GetSpans()
		if len(spans) != 1 {
			t.Fatalf("%d spans, want the request's: %v", len(spans), spans)
		}
		req := spans[0]
		if req.Name != "POST /callback" || req.Parent.SpanID().String() != testParentSpan ||
			req.SpanContext.TraceID().String() != testTraceID || !req.Parent.IsRemote() {
			t.Errorf("request span %q, parent %v: want POST /callback under the traceparent", req.Name, req.Parent)
		}
		attrs := map[string]string{}
		for _, kv := range req.Attributes {
			attrs[string(kv.Key)] = kv.Value.String()
		}
		for k, v := range map[string]string{"http.route": "/callback", "http.response.status_code": "200",
			"chatsync.callback_command": chatapi.CommandAfterSendMsg, "http.request.method": "POST"} {
			if attrs[k] != v {
				t.Errorf("request span %s = %q, want %q", k, attrs[k], v)
			}
		}
		queued := e.pending(t)
		if len(queued) != 3 {
			t.Fatalf("%d tasks, want set-read, read-receipt and unread", len(queued))
		}
		for _, info := range queued {
			if h := info.Headers["traceparent"]; !strings.Contains(h, testTraceID) {
				t.Errorf("%s task's traceparent %q, want the trace %s", info.Type, h, testTraceID)
			}
		}

		exp.Reset()
		batch := []byte(`{"events":[{"type":"conversation.read","account":"a","peer":"b","read_time":1669872000},` +
			`{"type":"conversation.read","account":"a","peer":"b","read_time":1669872001}]}`)
		if rec := e.postEvents(signEvents(t, testSecret, "msg_batch", testNow(), batch), batch); rec.Code != http.StatusAccepted {
			t.Fatalf("events: %d %s", rec.Code, rec.Body)
		}
		spans = exp.GetSpans()
		if len(spans) != 3 || spans[2].Name != "POST /v1/events" {
			t.Fatalf("spans %v, want two events' and the request's", spans)
		}
		for _, ev := range spans[:2] {
			if ev.Name != "event" || ev.Parent.SpanID() != spans[2].SpanContext.SpanID() {
				t.Errorf("span %q under %v, want an event under the request", ev.Name, ev.Parent)
			}
		}
		if spans[0].SpanContext.SpanID() == spans[1].SpanContext.SpanID() {
			t.Error("the events share a span")
		}

		exp.Reset()
		e.srv.intake = downIntake(t)
		if rec := post(e); rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("callback with Redis down: %d", rec.Code)
		}
		var failed bool
		for _, s := range exp.GetSpans() {
			failed = failed || (s.Name == "POST /callback" && s.Status.Code == codes.Error)
		}
		if !failed {
			t.Errorf("a 503 is not an error span: %v", exp.GetSpans())
		}
	})

	t.Run("off", func(t *testing.T) {
		e := setup(t, Config{})
		if rec := post(e); rec.Code != http.StatusOK {
			t.Fatalf("callback: %d %s", rec.Code, rec.Body)
		}
		ts := e.pending(t)
		if len(ts) == 0 {
			t.Fatal("no task")
		}
		for _, info := range ts {
			if len(info.Headers) != 0 {
				t.Errorf("%s task has headers %v with tracing off", info.Type, info.Headers)
			}
		}
	})
}

// BenchmarkCallbackTraced is BenchmarkCallback with tracing on as serve
// runs it, every request sampled and one in ten: spans batched and exported
// over OTLP/HTTP to a local receiver that answers 200. Compare its cpu-ns/op
// with BenchmarkCallback's:
//
//	go test -run '^$' -bench 'Callback' -benchmem -count 5 ./webhook
func BenchmarkCallbackTraced(b *testing.B) {
	b.Run("sampled=all", func(b *testing.B) { benchCallbackTraced(b, sdktrace.AlwaysSample()) })
	b.Run("sampled=0.1", func(b *testing.B) { benchCallbackTraced(b, sdktrace.TraceIDRatioBased(0.1)) })
}

func benchCallbackTraced(b *testing.B, sampler sdktrace.Sampler) {
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer recv.Close()
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(recv.URL+"/v1/traces"))
	if err != nil {
		b.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithSampler(sampler))
	defer tp.Shutdown(context.Background())
	e := setup(b, Config{
		Registerer:     prometheus.NewRegistry(),
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:            func() time.Time { return testNow() },
		TracerProvider: tp,
	})
	intake, err := tasks.NewIntake(tasks.IntakeConfig{Redis: e.rdb, Enqueuer: e.client, TracerProvider: tp})
	if err != nil {
		b.Fatal(err)
	}
	e.srv.intake = intake
	benchCallbacks(b, e)
}
