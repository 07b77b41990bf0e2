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
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/chatsync/chatsync/tasks"
	"github.com/chatsync/chatsync/webhook"
)

// Systems the sweep measures.
const (
	systemChatsync = "chatsync"
	systemRaw      = "asynq"   // loadgen raw: an asynq.Client, no HTTP
	systemHandler  = "handler" // loadgen handler: net/http + asynq.Client
	systemTraced   = "chatsync+tracing"
)

// rawTasks returns the tasks a hand-written callback handler enqueues for
// r with tasks.Builder, one per event and API, as chatsync did before it
// coalesced: the unread tasks are chatsync's own (types, payloads, IDs),
// while set-read and read-receipt tasks carry their event's read point or
// MsgKeys, where chatsync merges them into their conversation's pending
// state. Requests chatsync answers without a task give none.
func rawTasks(r request, autoRead map[string]bool) ([]*asynq.Task, error) {
	var b tasks.Builder
	total := &r.unread
	switch src := "callback:" + cmdAfterSendMsg; r.kind {
	case kindSendMsg, kindSendAutoRead:
		u, err := b.Unread(tasks.Unread{Account: r.to, Peers: []string{r.from}, Total: total, TotalAt: r.msgTime * 1000,
			Source: src}, tasks.ID(cmdAfterSendMsg, r.from, r.to, r.msgKey))
		if err != nil || !autoRead[r.to] {
			return []*asynq.Task{u}, err
		}
		s, err1 := b.SetRead(tasks.SetRead{Account: r.to, Peer: r.from, ReadTime: r.msgTime, Source: src}, r.from, r.to, r.msgKey)
		rr, err2 := b.ReadReceipt(tasks.ReadReceipt{Account: r.to, Peer: r.from, MsgKeys: []string{r.msgKey}, Source: src},
			r.from, r.to, r.msgKey)
		return []*asynq.Task{u, s, rr}, errors.Join(err1, err2)
	case kindMsgReport:
		return one(b.Unread(tasks.Unread{Account: r.to, Peers: []string{r.from}, Total: total, TotalAt: r.eventTime,
			Source: "callback:" + cmdAfterMsgReport}, tasks.ID(cmdAfterMsgReport, r.to, r.from, strconv.FormatInt(r.msgTime, 10))))
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

// enqueue enqueues ts one after another, as chatsync does; a duplicate
// counts as success.
func enqueue(ctx context.Context, c *asynq.Client, ts []*asynq.Task) (int, error) {
	for i, t := range ts {
		if _, err := c.EnqueueContext(ctx, t); err != nil && !tasks.IsDuplicate(err) {
			return i, err
		}
	}
	return len(ts), nil
}

func autoReadSet(accounts []string) map[string]bool {
	m := map[string]bool{}
	for _, a := range accounts {
		m[a] = true
	}
	return m
}

// rawClient returns the asynq.Client of the raw baseline, one for all
// workers as an application would have, on database -db.
func (f *fireCommand) rawClient() (*asynq.Client, error) {
	opt, err := f.redis()
	if err != nil {
		return nil, err
	}
	return asynq.NewClient(asynq.RedisClientOpt{Addr: opt.Addr, Username: opt.Username, Password: opt.Password,
		DB: f.db, PoolSize: f.loop.concurrency + 10}), nil
}

// rawOp returns an op of the raw baseline: the tasks chatsync would make
// for gen's requests, enqueued by client without an HTTP hop.
func (f *fireCommand) rawOp(client *asynq.Client, gen *generator) op {
	autoRead := autoReadSet(f.autoRead)
	return func(ctx context.Context, _ int64) outcome {
		r := gen.next()
		ts, err := rawTasks(r, autoRead)
		n, err2 := enqueue(ctx, client, ts)
		f.tasks.Add(int64(n))
		if err != nil || err2 != nil {
			return outcome{kind: r.kind, label: "enqueue"}
		}
		return outcome{kind: r.kind, label: outcomeOK}
	}
}

// handler is the second baseline: the callback target a user would write
// by hand with net/http and an asynq.Client. It checks the Sign and the
// event signatures, decodes the body, enqueues rawTasks and answers; no
// framework, metrics, logging or validation beyond that. Comparing chatsync
// with it separates chatsync's own cost from the HTTP hop's.
type handler struct {
	appID, token string
	events       *standardwebhooks.Webhook // nil: app events are refused
	client       *asynq.Client
	autoRead     map[string]bool
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
	if _, err := enqueue(r.Context(), h.client, ts); err != nil {
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
		h.token != "" && subtle.ConstantTimeCompare([]byte(q.Get("Sign")), []byte(callbackSign(h.token, rt))) != 1 {
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
	case cmd == cmdAfterSendMsg && f.Result != nil && *f.Result == 0:
		return request{kind: kindSendMsg, from: f.From, to: f.To, msgTime: f.MsgTime, msgKey: f.MsgKey, unread: f.UnreadMsgNum}, nil
	case cmd == cmdAfterMsgReport:
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

// cmdHandler serves the hand-written baseline on a loopback address,
// enqueueing into database -db, until it is stopped or -for has passed.
func cmdHandler(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("handler", flag.ContinueOnError)
	o := addOptions(fs)
	addr := fs.String("addr", "127.0.0.1:8090", "listen address (loopback only)")
	db := fs.Int("db", 3, "the database to enqueue into (keep it apart from chatsync's)")
	lifetime := fs.Duration("for", 30*time.Minute, "stop after this long")
	if err := o.parse(fs, args); err != nil {
		return err
	}
	opt, err := o.redis()
	if err != nil {
		return err
	}
	opt.DB = *db
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	h := &handler{appID: strconv.FormatUint(o.appID, 10), token: o.token, client: asynq.NewClientFromRedisClient(rdb),
		autoRead: autoReadSet(o.autoRead)}
	if o.eventsSecret != "" {
		if h.events, err = standardwebhooks.NewWebhook(o.eventsSecret); err != nil {
			return fmt.Errorf("events secret: %w", err)
		}
	}
	return serveLoopback(ctx, *addr, h, *lifetime, stdout)
}

// serveLoopback serves h on addr, a loopback address, until ctx is done or
// lifetime has passed.
func serveLoopback(ctx context.Context, addr string, h http.Handler, lifetime time.Duration, stdout io.Writer) error {
	host, _, err := net.SplitHostPort(addr)
	if err == nil {
		err = checkLoopback(host)
	}
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)}
	ctx, cancel := context.WithTimeout(ctx, min(lifetime, maxDuration))
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
