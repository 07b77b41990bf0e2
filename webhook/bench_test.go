package webhook

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/tasks"
)

// BenchmarkCallback and BenchmarkRawEnqueue compare the /callback path with
// its floor: the same number of new tasks enqueued by a bare asynq.Client,
// at the same concurrency (b.RunParallel, GOMAXPROCS goroutines), on Redis
// DB 1. Run:
//
//	go test -run '^$' -bench 'Callback|RawEnqueue' -benchmem -count 5 ./webhook
//
// The callback path is driven in process through ServeHTTP (no sockets),
// with metrics on and logging at Info, as in production; every request is
// an AfterSendMsg with a new MsgKey, so every one adds a task.
// BenchmarkEvent does the same for POST /v1/events.
//
// All also report cpu-ns/op, the CPU this process (not redis-server)
// spent per operation: on a shared machine it varies far less than ns/op,
// which is mostly waiting for Redis.

var benchSeq atomic.Int64 // unique MsgKeys and task IDs across runs

// discardWriter is a reusable http.ResponseWriter that keeps the status.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }

func BenchmarkCallback(b *testing.B) {
	e := setup(b, Config{
		Registerer: prometheus.NewRegistry(),
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:        func() time.Time { return testNow() },
	})
	benchCallbacks(b, e)
}

// benchCallbacks posts signed AfterSendMsg callbacks with unique MsgKeys to
// e's server in parallel, and reports cpu-ns/op.
func benchCallbacks(b *testing.B, e *testEnv) {
	target := "/callback?" + signedQuery(chatapi.CommandAfterSendMsg).Encode()
	prefix := []byte(`{"CallbackCommand":"C2C.CallbackAfterSendMsg","From_Account":"jared","To_Account":"Jonh",` +
		`"MsgSeq":48374,"MsgRandom":2837546,"MsgTime":1557481126,"MsgKey":"48374_2837546_`)
	suffix := []byte(`","MsgId":"144115233406643804-1727580296-4026038328","OnlineOnlyFlag":1,` +
		`"SendMsgResult":0,"ErrorInfo":"send msg succeed","UnreadMsgNum":7,` +
		`"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"red packet"}}],"CloudCustomData":"your cloud custom data"}`)
	benchPosts(b, e, target, http.StatusOK, func(_ http.Header, body []byte, seq int64) []byte {
		return append(strconv.AppendInt(append(body, prefix...), seq, 10), suffix...)
	})
	checkBenchTasks(b, e, tasks.QueueUnread)
}

// BenchmarkEvent is BenchmarkCallback for POST /v1/events: every request
// is a signed conversation.read with a new webhook-id and peer, so every
// one adds a task.
//
//	go test -run '^$' -bench 'Event' -benchmem -count 5 ./webhook
func BenchmarkEvent(b *testing.B) {
	e := setup(b, Config{
		Registerer: prometheus.NewRegistry(),
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:        func() time.Time { return testNow() },
	})
	wh, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		b.Fatal(err)
	}
	benchPosts(b, e, "/v1/events", http.StatusAccepted, func(h http.Header, body []byte, seq int64) []byte {
		body = strconv.AppendInt(append(body, `{"type":"conversation.read","account":"a","peer":"p`...), seq, 10)
		body = append(body, `","read_time":1669872000}`...)
		id := "msg_bench" + strconv.FormatInt(seq, 10)
		sig, err := wh.Sign(id, testNow(), body)
		if err != nil {
			b.Error(err)
		}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", strconv.FormatInt(testNow().Unix(), 10))
		h.Set("webhook-signature", sig)
		return body
	})
	checkBenchTasks(b, e, tasks.QueueRead)
}

// benchPosts posts to target on e's server in parallel, each request with
// the body and headers next makes for a new sequence number (next appends
// the body to the empty slice it is given), checks that every one is
// answered with status, and reports cpu-ns/op.
func benchPosts(b *testing.B, e *testEnv, target string, status int, next func(h http.Header, body []byte, seq int64) []byte) {
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		req, err := http.NewRequest(http.MethodPost, target, nil)
		if err != nil {
			b.Error(err)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		var body []byte
		rd := bytes.NewReader(nil)
		rc := io.NopCloser(rd)
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			body = next(req.Header, body[:0], benchSeq.Add(1))
			rd.Reset(body)
			req.Body, req.ContentLength = rc, int64(len(body))
			w.status = 0
			e.srv.ServeHTTP(w, req)
			if w.status != status {
				b.Errorf("status %d, want %d", w.status, status)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
}

func BenchmarkRawEnqueue(b *testing.B) {
	e := setup(b, Config{})
	payload := []byte(`{"account":"Jonh","peers":["jared"],"total":7,"total_at":1557481126000,` +
		`"source":"callback:C2C.CallbackAfterSendMsg"}`)
	opts := []asynq.Option{asynq.Queue(tasks.QueueUnread), asynq.MaxRetry(tasks.DefaultMaxRetry),
		asynq.Timeout(tasks.DefaultTimeout), asynq.Retention(tasks.DefaultRetention)}

	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			id := "chat:unread:bench" + strconv.FormatInt(benchSeq.Add(1), 10)
			t := asynq.NewTask(tasks.TypeUnread, payload, append(opts, asynq.TaskID(id))...)
			if _, err := e.client.EnqueueContext(ctx, t); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	checkBenchTasks(b, e, tasks.QueueUnread)
}

// checkBenchTasks checks that every operation left one pending task in
// queue.
func checkBenchTasks(b *testing.B, e *testEnv, queue string) {
	b.Helper()
	info, err := e.insp.GetQueueInfo(queue)
	if err != nil {
		b.Fatal(err)
	}
	if info.Pending != b.N {
		b.Errorf("%d pending tasks after %d operations", info.Pending, b.N)
	}
}
