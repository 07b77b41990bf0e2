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
)

// Handler is the second baseline: the callback target a user would write
// by hand with net/http and an asynq.Client. It checks the Sign and the
// event signatures, decodes the body, makes the same tasks as chatsync
// (RawTasks) and acknowledges once they are enqueued; no framework,
// metrics, logging or validation beyond that. Comparing chatsync with it
// separates chatsync's own cost from the cost of the HTTP hop. It is safe
// for concurrent use.
type Handler struct {
	AppID    string
	Token    string
	Events   *standardwebhooks.Webhook // nil: app events answer 404
	Client   *asynq.Client
	AutoRead map[string]bool
	Builder  tasks.Builder
}

// callbackFields is every field of the callbacks the handler acts on.
type callbackFields struct {
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

// okReply is Chat's OK answer to a callback.
const okReply = `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`

// ServeHTTP serves POST /callback and POST /v1/events.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 256<<10))
	if err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var req Request
	switch r.URL.Path {
	case "/callback":
		req, err = h.callback(r, body)
	case "/v1/events":
		req, err = h.event(r, body)
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ts, err := RawTasks(h.Builder, req, h.AutoRead)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, t := range ts {
		if _, err := h.Client.EnqueueContext(r.Context(), t); err != nil && !tasks.IsDuplicate(err) {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if req.Kind.IsEvent() {
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{}`)
		return
	}
	io.WriteString(w, okReply)
}

func (h *Handler) callback(r *http.Request, body []byte) (Request, error) {
	q := r.URL.Query()
	if q.Get("SdkAppid") != h.AppID {
		return Request{}, errors.New("wrong SdkAppid")
	}
	if h.Token != "" {
		rt, _ := strconv.ParseInt(q.Get("RequestTime"), 10, 64)
		if subtle.ConstantTimeCompare([]byte(q.Get("Sign")), []byte(CallbackSign(h.Token, rt))) != 1 {
			return Request{}, errors.New("bad Sign")
		}
	}
	var f callbackFields
	if err := json.Unmarshal(body, &f); err != nil {
		return Request{}, err
	}
	switch cmd := q.Get("CallbackCommand"); {
	case cmd == cmdAfterSendMsg && f.Result != nil && *f.Result == 0:
		return Request{Kind: KindSendMsg, From: f.From, To: f.To, MsgTime: f.MsgTime, MsgKey: f.MsgKey,
			UnreadMsgNum: f.UnreadMsgNum}, nil
	case cmd == cmdAfterMsgReport:
		return Request{Kind: KindMsgReport, From: f.Peer, To: f.Report, MsgTime: f.LastReadTime,
			EventTime: f.EventTime, UnreadMsgNum: f.UnreadMsgNum}, nil
	}
	return Request{Kind: KindOther}, nil
}

func (h *Handler) event(r *http.Request, body []byte) (Request, error) {
	if h.Events == nil {
		return Request{}, errors.New("no events")
	}
	if err := h.Events.Verify(body, r.Header); err != nil {
		return Request{}, err
	}
	var e eventBody
	if err := json.Unmarshal(body, &e); err != nil {
		return Request{}, err
	}
	req := Request{From: e.Peer, To: e.Account, MsgTime: e.ReadTime, MsgKeys: e.MsgKeys, Peers: e.Peers,
		ID: r.Header.Get(standardwebhooks.HeaderWebhookID)}
	switch e.Type {
	case "conversation.read":
		req.Kind = KindConversationRead
	case "messages.read":
		req.Kind = KindMessagesRead
	case "unread.refresh":
		req.Kind = KindUnreadRefresh
	default:
		return Request{}, fmt.Errorf("unknown event type %q", e.Type)
	}
	return req, nil
}

// cmdHandler serves the hand-written baseline on a loopback address until
// it is stopped or -for has passed.
func cmdHandler(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("handler", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8090", "listen address (loopback only)")
	target := addTargetFlags(fs)
	redisURL := fs.String("redis", envOr("REDIS_URL", ""), "the Redis to enqueue into (loopback only; default $REDIS_URL)")
	db := fs.Int("db", 3, "its database (keep it apart from chatsync's)")
	autoRead := fs.String("auto-read", envOr("AUTO_READ_ACCOUNTS", ""), "auto-read accounts (default $AUTO_READ_ACCOUNTS)")
	lifetime := fs.Duration("for", 30*time.Minute, "stop after this long (at most 1h)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, _, err := splitHostPort(*addr)
	if err != nil {
		return err
	}
	if err := checkLoopbackHost(host); err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	if *lifetime <= 0 || *lifetime > MaxDuration {
		return fmt.Errorf("-for %v is not from 1ns to %v", *lifetime, MaxDuration)
	}
	opt, err := loopbackRedis(*redisURL)
	if err != nil {
		return err
	}
	opt.DB = *db
	h := &Handler{AppID: strconv.FormatUint(target.appID, 10), Token: target.token, AutoRead: map[string]bool{}}
	for _, a := range splitList(*autoRead) {
		h.AutoRead[a] = true
	}
	if target.secret != "" {
		if h.Events, err = standardwebhooks.NewWebhook(target.secret); err != nil {
			return fmt.Errorf("events secret: %w", err)
		}
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	h.Client = asynq.NewClientFromRedisClient(rdb)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)}
	ctx, cancel := context.WithTimeout(ctx, *lifetime)
	defer cancel()
	go func() {
		<-ctx.Done()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		srv.Shutdown(sctx)
	}()
	fmt.Fprintf(stdout, "handler baseline on %s\n", ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return rdb.FlushDB(context.WithoutCancel(ctx)).Err()
}
