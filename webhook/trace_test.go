package webhook

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/chatsync/chatsync/tasks"
)

const (
	testTraceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	testParentSpan  = "00f067aa0ba902b7"
	testTraceparent = "00-" + testTraceID + "-" + testParentSpan + "-01"
)

// TestTraceRequests: with a TracerProvider a callback is a server span,
// the child of the request's traceparent, with the intake's span under it
// and the trace context on the tasks; health checks are not traced; a 503
// is an error span. Without one, a traceparent goes nowhere.
func TestTraceRequests(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("testdata", "callbacks", "C2C.CallbackAfterSendMsg.json"))
	if err != nil {
		t.Fatal(err)
	}
	post := func(e *testEnv) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/callback?"+signedQuery(cmdAfterSendMsg).Encode(),
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
		if len(spans) != 2 {
			t.Fatalf("%d spans, want the request's and the intake's: %v", len(spans), spans)
		}
		acc, req := spans[0], spans[1]
		if req.Name != "POST /callback" || req.Parent.SpanID().String() != testParentSpan ||
			req.SpanContext.TraceID().String() != testTraceID || !req.Parent.IsRemote() {
			t.Errorf("request span %q, parent %v: want POST /callback under the traceparent", req.Name, req.Parent)
		}
		attrs := map[string]string{}
		for _, kv := range req.Attributes {
			attrs[string(kv.Key)] = kv.Value.Emit()
		}
		for k, v := range map[string]string{"http.route": "/callback", "http.response.status_code": "200",
			"chatsync.callback_command": cmdAfterSendMsg, "http.request.method": "POST"} {
			if attrs[k] != v {
				t.Errorf("request span %s = %q, want %q", k, attrs[k], v)
			}
		}
		if acc.Name != "accept" || acc.Parent.SpanID() != req.SpanContext.SpanID() {
			t.Errorf("span %q under %v, want accept under the request", acc.Name, acc.Parent)
		}
		queued := e.tasks(t)
		if len(queued) != 3 {
			t.Fatalf("%d tasks, want set-read, read-receipt and unread", len(queued))
		}
		for _, task := range queued {
			info, err := e.insp.GetTaskInfo(task.Queue, task.ID)
			if err != nil {
				t.Fatal(err)
			}
			if h := info.Headers["traceparent"]; !strings.Contains(h, testTraceID) {
				t.Errorf("%s task's traceparent %q, want the trace %s", info.Type, h, testTraceID)
			}
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
		ts := e.tasks(t)
		if len(ts) == 0 {
			t.Fatal("no task")
		}
		for _, task := range ts {
			info, err := e.insp.GetTaskInfo(task.Queue, task.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(info.Headers) != 0 {
				t.Errorf("%s task has headers %v with tracing off", info.Type, info.Headers)
			}
		}
	})
}
