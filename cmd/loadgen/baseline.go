package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/tasks"
	"github.com/chatsync/chatsync/webhook"
)

// Systems the sweep measures: chatsync, the raw asynq.Client (no HTTP) and net/http + asynq.Client.
const (
	systemChatsync = "chatsync"
	systemRaw      = "asynq"
	systemHandler  = "handler"
	systemTraced   = "chatsync+tracing"
	systemSampled  = "chatsync+tracing@0.1" // parentbased_traceidratio, 10 % of the requests sampled
)

// rawTasks returns the tasks a hand-written handler enqueues for r, one per event and API.
func rawTasks(r request, autoRead []string) ([]*asynq.Task, error) {
	var b tasks.Builder
	total := &r.unread
	switch src := "callback:" + chatapi.CommandAfterSendMsg; r.kind {
	case kindSendMsg, kindSendAutoRead:
		u, err := b.Unread(tasks.Unread{Account: r.to, Peers: []string{r.from}, Total: total, TotalAt: r.msgTime * 1000,
			Source: src}, tasks.ID(chatapi.CommandAfterSendMsg, r.from, r.to, r.msgKey))
		if err != nil || !slices.Contains(autoRead, r.to) {
			return []*asynq.Task{u}, err
		}
		s, err1 := b.SetRead(tasks.SetRead{Account: r.to, Peer: r.from, ReadTime: r.msgTime, Source: src}, r.from, r.to, r.msgKey)
		rr, err2 := b.ReadReceipt(tasks.ReadReceipt{Account: r.to, Peer: r.from, MsgKeys: []string{r.msgKey}, Source: src},
			r.from, r.to, r.msgKey)
		return []*asynq.Task{u, s, rr}, errors.Join(err1, err2)
	case kindMsgReport:
		return one(b.Unread(tasks.Unread{Account: r.to, Peers: []string{r.from}, Total: total, TotalAt: r.eventTime,
			Source: "callback:" + chatapi.CommandAfterMsgReport}, tasks.ID(chatapi.CommandAfterMsgReport, r.to, r.from, strconv.FormatInt(r.msgTime, 10))))
	case kindConversationRead:
		return one(b.SetRead(tasks.SetRead{Account: r.to, Peer: r.from, ReadTime: r.msgTime, Source: "event:conversation.read"}, r.id, "0"))
	case kindMessagesRead:
		return one(b.ReadReceipt(tasks.ReadReceipt{Account: r.to, Peer: r.from, MsgKeys: r.msgKeys, Source: "event:messages.read"}, r.id, "0"))
	case kindUnreadRefresh:
		return one(b.Unread(tasks.Unread{Account: r.to, Peers: r.peers, RefreshTotal: len(r.peers) == 0,
			Source: "event:unread.refresh"}, tasks.ID("event", r.id, "0")))
	}
	return nil, nil
}

func one(t *asynq.Task, err error) ([]*asynq.Task, error) { return []*asynq.Task{t}, err }

// enqueue enqueues ts in turn, as chatsync does; a duplicate counts as success.
func enqueue(ctx context.Context, c *asynq.Client, ts []*asynq.Task) error {
	for _, t := range ts {
		if _, err := c.EnqueueContext(ctx, t); err != nil && !tasks.IsDuplicate(err) {
			return err
		}
	}
	return nil
}

// rawClient returns the raw baseline's asynq.Client, one for all workers.
func (f *fireCommand) rawClient() (*asynq.Client, error) {
	opt, err := f.redis()
	if err != nil {
		return nil, err
	}
	return asynq.NewClient(asynq.RedisClientOpt{Addr: opt.Addr, Username: opt.Username, Password: opt.Password,
		DB: opt.DB, PoolSize: f.loop.concurrency + 10}), nil
}

// rawOp returns an op of the raw baseline: gen's requests' tasks, enqueued without an HTTP hop.
func (f *fireCommand) rawOp(client *asynq.Client, gen *generator) op {
	return func(ctx context.Context, _ int64) outcome {
		ts, err := rawTasks(gen.next(), f.autoRead)
		if err2 := enqueue(ctx, client, ts); err != nil || err2 != nil {
			return outcome{label: "enqueue"}
		}
		return outcome{label: outcomeOK}
	}
}

// handler is the callback target a user would write with net/http and an asynq.Client.
type handler struct {
	appID, token string
	events       *standardwebhooks.Webhook // nil: app events are refused
	client       *asynq.Client
	autoRead     []string
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 256<<10))
	var req request
	switch {
	case err != nil || r.Method != http.MethodPost:
		err = errors.New("bad request")
	case r.URL.Path == "/callback":
		req, err = h.callback(r, body)
	case r.URL.Path == "/v1/events":
		req, err = h.event(r, body)
	default:
		err = errors.New("not found")
	}
	ts, err2 := rawTasks(req, h.autoRead)
	if err = errors.Join(err, err2); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := enqueue(r.Context(), h.client, ts); err != nil {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if req.kind.isEvent() {
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{}`)
		return
	}
	io.WriteString(w, `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`)
}

func (h *handler) callback(r *http.Request, body []byte) (request, error) {
	q := r.URL.Query()
	rt, _ := strconv.ParseInt(q.Get("RequestTime"), 10, 64)
	if q.Get("SdkAppid") != h.appID ||
		h.token != "" && subtle.ConstantTimeCompare([]byte(q.Get("Sign")), []byte(chatapi.CallbackSign(h.token, rt))) != 1 {
		return request{}, errors.New("bad SdkAppid or Sign")
	}
	var f struct {
		From         string `json:"From_Account"`
		To           string `json:"To_Account"`
		MsgTime      int64  `json:"MsgTime"`
		MsgKey       string `json:"MsgKey"`
		Result       *int   `json:"SendMsgResult"`
		UnreadMsgNum int    `json:"UnreadMsgNum"`
		Report       string `json:"Report_Account"`
		Peer         string `json:"Peer_Account"`
		LastReadTime int64  `json:"LastReadTime"`
		EventTime    int64  `json:"EventTime"`
	}
	if err := json.Unmarshal(body, &f); err != nil {
		return request{}, err
	}
	switch cmd := q.Get("CallbackCommand"); {
	case cmd == chatapi.CommandAfterSendMsg && f.Result != nil && *f.Result == 0:
		return request{kind: kindSendMsg, from: f.From, to: f.To, msgTime: f.MsgTime, msgKey: f.MsgKey, unread: f.UnreadMsgNum}, nil
	case cmd == chatapi.CommandAfterMsgReport:
		return request{kind: kindMsgReport, from: f.Peer, to: f.Report, msgTime: f.LastReadTime, eventTime: f.EventTime,
			unread: f.UnreadMsgNum}, nil
	}
	return request{kind: kindOther}, nil
}

var eventKinds = map[string]kind{
	webhook.EventConversationRead: kindConversationRead, webhook.EventMessagesRead: kindMessagesRead,
	webhook.EventUnreadRefresh: kindUnreadRefresh,
}

func (h *handler) event(r *http.Request, body []byte) (request, error) {
	if h.events == nil {
		return request{}, errors.New("no events")
	}
	var e webhook.Event
	if err := h.events.Verify(body, r.Header); err != nil {
		return request{}, err
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return request{}, err
	}
	k, ok := eventKinds[e.Type]
	if !ok {
		return request{}, fmt.Errorf("unknown event type %q", e.Type)
	}
	return request{kind: k, from: e.Peer, to: e.Account, msgTime: e.ReadTime, msgKeys: e.MsgKeys, peers: e.Peers,
		id: r.Header.Get(standardwebhooks.HeaderWebhookID)}, nil
}

// cmdHandler serves the hand-written baseline, enqueueing into $REDIS_URL (keep its database apart from chatsync's).
func cmdHandler(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("handler", flag.ContinueOnError)
	o := addOptions(fs)
	addr := fs.String("addr", "127.0.0.1:8090", "listen address (loopback only)")
	if err := o.parse(fs, args); err != nil {
		return err
	}
	opt, err := o.redis()
	if err != nil {
		return err
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	h := &handler{appID: strconv.FormatUint(o.appID, 10), token: o.token, client: asynq.NewClientFromRedisClient(rdb),
		autoRead: o.autoRead}
	if o.eventsSecret != "" {
		if h.events, err = standardwebhooks.NewWebhook(o.eventsSecret); err != nil {
			return fmt.Errorf("events secret: %w", err)
		}
	}
	return serveLoopback(ctx, *addr, h, stdout)
}

// serveLoopback serves h on a loopback addr until ctx is done or 30 minutes have passed.
func serveLoopback(ctx context.Context, addr string, h http.Handler, stdout io.Writer) error {
	if err := checkLoopbackAddr(addr); err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	go func() {
		<-ctx.Done()
		srv.Shutdown(context.WithoutCancel(ctx))
	}()
	fmt.Fprintf(stdout, "listening on %s\n", ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// otlpReceiver answers POST /v1/traces with 200 (all accepted), counting; GET /stats returns the counts.
type otlpReceiver struct{ requests, bytes atomic.Int64 }

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/traces":
		n, _ := io.Copy(io.Discard, r.Body)
		o.requests.Add(1)
		o.bytes.Add(n)
		w.Header().Set("Content-Type", "application/x-protobuf")
	case r.Method == http.MethodGet && r.URL.Path == "/stats":
		json.NewEncoder(w).Encode(map[string]int64{"requests": o.requests.Load(), "bytes": o.bytes.Load()})
	default:
		http.NotFound(w, r)
	}
}

// cmdOTLP serves an otlpReceiver until it is stopped (at most 30 minutes).
func cmdOTLP(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("otlp", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:4318", "listen address (loopback only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return serveLoopback(ctx, *addr, &otlpReceiver{}, stdout)
}
