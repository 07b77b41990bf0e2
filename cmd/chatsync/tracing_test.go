package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
	"github.com/chatsync/chatsync/internal/redistest"
	"github.com/chatsync/chatsync/tasks"
	"github.com/chatsync/chatsync/webhook"
)

// secretSeen collects values a test must never find in a span: the query
// parameters named (Sign, usersig) of every request through it.
type secretSeen struct {
	mu     sync.Mutex
	values map[string]map[string]bool // by parameter
}

func (s *secretSeen) wrap(h http.Handler, params ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		for _, p := range params {
			if v := r.URL.Query().Get(p); v != "" {
				if s.values[p] == nil {
					s.values[p] = map[string]bool{}
				}
				s.values[p][v] = true
			}
		}
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// tracedStack is serve in-process with an in-memory span exporter behind
// real HTTP, the emulator over HTTP (alice and bob imported) and the test
// Redis; the worker is started by the test.
type tracedStack struct {
	app              *app
	exp              *tracetest.InMemoryExporter
	seen             *secretSeen // Sign and usersig of every request
	serveURL, emuURL string
}

func newTracedStack(t *testing.T) *tracedStack {
	t.Helper()
	cfg, err := parseConfig(modeServe, lookupMap(with(validEnv(),
		"CHAT_SDKAPPID", e2eSDKAppID, "CHAT_SECRET_KEY", e2eSecret, "CHAT_CALLBACK_TOKEN", e2eToken,
		"EVENTS_SECRET", testWhsec, "API_KEY", e2eAPIKey, "AUTO_READ_ACCOUNTS", "bob", "UNREAD_DEBOUNCE", "20ms")))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Tracing.On {
		t.Fatal("tracing is on without OTEL_* variables")
	}
	cfg.Redis = &redisConfig{Single: redistest.Options(t, redisDB)}
	a, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	st := &tracedStack{app: a, exp: tracetest.NewInMemoryExporter(), seen: &secretSeen{values: map[string]map[string]bool{}}}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(st.exp))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	a.tp = tp

	public, _, closeMonitoring, err := a.newHTTP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeMonitoring() })
	serve := httptest.NewServer(st.seen.wrap(public, "Sign"))
	t.Cleanup(serve.Close)

	em, err := emulator.New(emulator.Config{SDKAppID: cfg.SDKAppID, SecretKey: e2eSecret, CallbackToken: e2eToken,
		CallbackURL: serve.URL + "/callback"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(em.Close)
	em.ImportAccounts("alice", "bob")
	emu := httptest.NewServer(st.seen.wrap(em.Handler(), "usersig"))
	t.Cleanup(emu.Close)
	st.serveURL, st.emuURL = serve.URL, emu.URL
	return st
}

// find returns the spans named name.
func (st *tracedStack) find(name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range st.exp.GetSpans() {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// TestTracingEndToEnd runs serve and work in-process with an in-memory
// span exporter, the emulator over HTTP and the test Redis: alice's
// message to the auto-read account bob makes the emulator post
// C2C.CallbackAfterSendMsg, and the spans form the tree request → task run
// → Chat call, with the call linked to the callback's request span.
// No span name, attribute, event, link or status holds a secret, a
// signature, the UserSig, the message text or a user ID.
func TestTracingEndToEnd(t *testing.T) {
	const text = "hello bob, the secret plan"
	st := newTracedStack(t)
	w, err := st.app.startWorker(st.emuURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.stop)
	exp, seen := st.exp, st.seen

	// alice writes to bob with a client of its own, outside chatsync's
	// tracing.
	sender, err := chatapi.New(chatapi.Config{SDKAppID: st.app.cfg.SDKAppID, SecretKey: e2eSecret,
		Admin: emulator.DefaultAdmin, BaseURL: st.emuURL})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := sender.SendMsg(context.Background(), chatapi.SendMsgRequest{FromAccount: "alice", ToAccount: "bob",
		MsgBody: []chatapi.MsgElem{chatapi.TextElem(text)}})
	if err != nil {
		t.Fatal(err)
	}

	find := st.find
	// A task's span ends after its call's: wait for both.
	poll(t, 10*time.Second, "the set-read and receipt calls' and tasks' spans", func() (bool, error) {
		return len(find("chat "+chatapi.APISetMsgRead)) > 0 && len(find("chat "+chatapi.APIReadReceipt)) > 0 &&
			len(find("task "+tasks.TypeSetRead)) > 0 && len(find("task "+tasks.TypeReadReceipt)) > 0, nil
	})
	byID := map[string]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		byID[s.SpanContext.SpanID().String()] = s
	}
	parent := func(s tracetest.SpanStub) tracetest.SpanStub { return byID[s.Parent.SpanID().String()] }

	var req tracetest.SpanStub
	for _, s := range find("POST /callback") {
		if attr(s.Attributes, "chatsync.callback_command") == "C2C.CallbackAfterSendMsg" {
			req = s
		}
	}
	if req.Name == "" {
		t.Fatalf("no request span of the AfterSendMsg callback among %d spans", len(exp.GetSpans()))
	}
	for api, typ := range map[string]string{chatapi.APISetMsgRead: "chat:set_read", chatapi.APIReadReceipt: "chat:read_receipt"} {
		call := find("chat " + api)[0]
		run := parent(call)
		if run.Name != "task "+typ || run.Parent.SpanID() != req.SpanContext.SpanID() {
			t.Errorf("%s: call under %q under %q, want task %s → the request", api, run.Name, parent(run).Name, typ)
		}
		if call.SpanContext.TraceID() != req.SpanContext.TraceID() {
			t.Errorf("%s: the call is not in the request's trace", api)
		}
		if len(call.Links) != 1 || call.Links[0].SpanContext.SpanID() != req.SpanContext.SpanID() {
			t.Errorf("%s: links %v, want the request span", api, call.Links)
		}
		for k, v := range map[string]string{"chat.api": api, "chat.error_code": "0", "chat.attempt": "0",
			"http.response.status_code": "200"} {
			if got := attr(call.Attributes, k); got != v {
				t.Errorf("%s: %s = %q, want %q", api, k, got, v)
			}
		}
		if got := attr(run.Attributes, "chatsync.outcome"); got != "ok" {
			t.Errorf("%s: the run's outcome %q, want ok", typ, got)
		}
	}

	secrets := []string{e2eSecret, e2eToken, e2eAPIKey, strings.TrimPrefix(testWhsec, "whsec_"), text, "hello bob",
		msg.MsgKey, "alice", "bob"}
	if k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(testWhsec, "whsec_")); err == nil {
		secrets = append(secrets, string(k))
	}
	seen.mu.Lock()
	for _, p := range []string{"Sign", "usersig"} {
		if len(seen.values[p]) == 0 {
			t.Errorf("saw no %s to look for", p)
		}
		for v := range seen.values[p] {
			secrets = append(secrets, v)
		}
	}
	seen.mu.Unlock()
	spans := exp.GetSpans()
	for _, s := range spans {
		for _, text := range spanTexts(s) {
			for _, secret := range secrets {
				if strings.Contains(text, secret) {
					t.Errorf("span %q holds %q: %q", s.Name, secret, text)
				}
			}
		}
	}
	t.Logf("%d spans checked for %d secrets", len(spans), len(secrets))
}

// TestTracingCoalescedLinks: three conversation.read events of one
// conversation, posted to serve over HTTP before any worker runs, make one
// set-read call at the emulator, and that call's span links to each
// event's request span; the task run is the child of the first event's,
// which enqueued the task the others joined.
func TestTracingCoalescedLinks(t *testing.T) {
	st := newTracedStack(t)
	const events = 3
	now := time.Now().Unix()
	for i := range events {
		sendEvent(t, st.serveURL, fmt.Sprintf("evt_coalesce_%d", i), webhook.Event{Type: webhook.EventConversationRead,
			Account: "bob", Peer: "alice", ReadTime: now - events + int64(i)})
	}
	reqs := st.find("POST /v1/events")
	if len(reqs) != events {
		t.Fatalf("%d request spans, want %d", len(reqs), events)
	}
	w, err := st.app.startWorker(st.emuURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.stop)
	call := "chat " + chatapi.APISetMsgRead
	poll(t, 10*time.Second, "the set-read call's and task's spans", func() (bool, error) {
		return len(st.find(call)) > 0 && len(st.find("task "+tasks.TypeSetRead)) > 0, nil
	})
	time.Sleep(200 * time.Millisecond) // a second call, were there one, has had time to be made

	calls, runs := st.find(call), st.find("task "+tasks.TypeSetRead)
	if len(calls) != 1 || len(runs) != 1 {
		t.Fatalf("%d set-read calls in %d task runs, want one of each", len(calls), len(runs))
	}
	var want, got []string
	for _, r := range reqs {
		want = append(want, r.SpanContext.SpanID().String())
	}
	for _, l := range calls[0].Links {
		got = append(got, l.SpanContext.SpanID().String())
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) {
		t.Errorf("the call links to %v, want the %d request spans %v", got, events, want)
	}
	if got := attr(calls[0].Attributes, "chat.error_code"); got != "0" {
		t.Errorf("the call's chat.error_code %q, want 0", got)
	}
	if p := runs[0].Parent.SpanID(); p != reqs[0].SpanContext.SpanID() {
		t.Errorf("the task run's parent is %v, want the first event's request span %v", p, reqs[0].SpanContext.SpanID())
	}
	if got := attr(runs[0].Attributes, "chatsync.links"); got != strconv.Itoa(events) {
		t.Errorf("the run's chatsync.links %q, want %d", got, events)
	}
}

// attr returns the value of key among attrs, or "".
func attr(attrs []attribute.KeyValue, key string) string {
	for _, kv := range attrs {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

// spanTexts returns every text a span exports: its name, status, and the
// keys and values of its attributes, events', links' and resource's.
func spanTexts(s tracetest.SpanStub) []string {
	out := []string{s.Name, s.Status.Description}
	kvs := func(attrs []attribute.KeyValue) {
		for _, kv := range attrs {
			out = append(out, string(kv.Key), kv.Value.String())
		}
	}
	kvs(s.Attributes)
	for _, e := range s.Events {
		out = append(out, e.Name)
		kvs(e.Attributes)
	}
	for _, l := range s.Links {
		kvs(l.Attributes)
	}
	if s.Resource != nil {
		kvs(s.Resource.Attributes())
	}
	return append(out, fmt.Sprint(s.InstrumentationScope))
}

// TestParseTracing: tracing is on with an OTLP endpoint or
// OTEL_TRACES_EXPORTER=otlp and off otherwise; what chatsync cannot do is
// a configuration problem, not silence.
func TestParseTracing(t *testing.T) {
	tests := []struct {
		env     []string
		on      bool
		problem string
	}{
		{env: nil},
		{env: []string{"OTEL_SERVICE_NAME", "chatsync-eu"}},
		{env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"}, on: true},
		{env: []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://collector/v1/traces"}, on: true},
		{env: []string{"OTEL_TRACES_EXPORTER", "otlp"}, on: true},
		{env: []string{"OTEL_TRACES_EXPORTER", "none", "OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"}},
		{env: []string{"OTEL_SDK_DISABLED", "true", "OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"}},
		{env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"}, on: true},
		{env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"},
			problem: `OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" is not supported`},
		{env: []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"},
			problem: `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json" is not supported`},
		{env: []string{"OTEL_TRACES_EXPORTER", "zipkin"}, problem: `OTEL_TRACES_EXPORTER: "zipkin" is not supported`},
		{env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"}, problem: "OTEL_EXPORTER_OTLP_ENDPOINT: not an absolute"},
		{env: []string{"OTEL_TRACES_SAMPLER", "jaeger_remote"}, problem: `OTEL_TRACES_SAMPLER: "jaeger_remote" is not one of`},
		{env: []string{"OTEL_TRACES_SAMPLER", "traceidratio", "OTEL_TRACES_SAMPLER_ARG", "2"},
			problem: `OTEL_TRACES_SAMPLER_ARG: "2" is not a ratio`},
		{env: []string{"OTEL_TRACES_SAMPLER", "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG", "0.1",
			"OTEL_TRACES_EXPORTER", "otlp"}, on: true},
	}
	for _, tt := range tests {
		cfg, err := parseConfig(modeServe, lookupMap(with(validEnv(), tt.env...)))
		switch {
		case tt.problem == "" && err != nil:
			t.Errorf("%v: %v", tt.env, err)
		case tt.problem != "" && (err == nil || !strings.Contains(err.Error(), tt.problem)):
			t.Errorf("%v: error %v, want %q", tt.env, err, tt.problem)
		case tt.problem == "" && cfg.Tracing.On != tt.on:
			t.Errorf("%v: tracing on = %v, want %v", tt.env, cfg.Tracing.On, tt.on)
		}
	}
}

// TestTracingUnsupportedProtocol: serve refuses to start with a grpc
// OTLP protocol, and says why.
func TestTracingUnsupportedProtocol(t *testing.T) {
	code, _, stderr := runMain(t, with(validEnv(), "OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317",
		"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"), "serve")
	if code != exitUsage || !strings.Contains(stderr, `OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" is not supported`) {
		t.Errorf("exit status %d, stderr %q", code, stderr)
	}
}
