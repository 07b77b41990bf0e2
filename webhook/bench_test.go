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

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/tasks"
)

// The two benchmarks compare the /callback path with its floor: the same
// number of new tasks enqueued by a bare asynq.Client, at the same
// concurrency (b.RunParallel, GOMAXPROCS goroutines), on Redis DB 1. Run:
//
//	go test -run '^$' -bench 'Callback|RawEnqueue' -benchmem -count 5 ./webhook
//
// The callback path is driven in process through ServeHTTP (no sockets),
// with metrics on and logging at Info, as in production; every request is
// an AfterSendMsg with a new MsgKey, so every one adds a task.
//
// Both also report cpu-ns/op, the CPU this process (not redis-server)
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
			body = append(strconv.AppendInt(append(body[:0], prefix...), benchSeq.Add(1), 10), suffix...)
			rd.Reset(body)
			req.Body, req.ContentLength = rc, int64(len(body))
			w.status = 0
			e.srv.ServeHTTP(w, req)
			if w.status != http.StatusOK {
				b.Errorf("status %d", w.status)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	checkBenchTasks(b, e)
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
	checkBenchTasks(b, e)
}

// checkBenchTasks checks that every operation left one pending task.
func checkBenchTasks(b *testing.B, e *testEnv) {
	b.Helper()
	info, err := e.insp.GetQueueInfo(tasks.QueueUnread)
	if err != nil {
		b.Fatal(err)
	}
	if info.Pending != b.N {
		b.Errorf("%d pending tasks after %d operations", info.Pending, b.N)
	}
}
