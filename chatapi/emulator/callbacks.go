package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/chatsync/chatsync/chatapi"
)

// callback is one callback to send. body is one of chatapi's callback bodies.
type callback struct {
	command string
	order   string // callbacks with the same order key are sent one after another
	body    any
	url     string // set when queued
}

// conversationKey orders the callbacks of one conversation.
func conversationKey(a, b string) string {
	if a > b {
		a, b = b, a
	}
	return a + "\n" + b
}

// dispatcher posts callbacks asynchronously, in order per conversation.
type dispatcher struct {
	appID   string
	token   string
	timeout time.Duration
	client  *http.Client
	ownsCl  bool
	now     func() time.Time
	log     *slog.Logger
	rec     *recorder

	mu     sync.Mutex
	url    string
	closed bool
	queues map[string][]callback // by order key; the head is being sent
	n      int                   // queued or in flight
	idle   chan struct{}         // closed while n == 0
}

func newDispatcher(cfg Config, rec *recorder) *dispatcher {
	d := &dispatcher{
		appID:   strconv.FormatUint(cfg.SDKAppID, 10),
		token:   cfg.CallbackToken,
		timeout: cfg.CallbackTimeout,
		client:  cfg.HTTPClient,
		now:     cfg.Now,
		log:     cfg.Logger,
		rec:     rec,
		url:     cfg.CallbackURL,
		queues:  make(map[string][]callback),
		idle:    make(chan struct{}),
	}
	close(d.idle)
	if d.timeout == 0 {
		d.timeout = DefaultCallbackTimeout
	}
	if d.client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 32
		d.client = &http.Client{Transport: t}
		d.ownsCl = true
	}
	return d
}

func (d *dispatcher) setURL(u string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.url = u
}

// currentURL returns the callback URL, or "" when callbacks are off or the dispatcher closed.
func (d *dispatcher) currentURL() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ""
	}
	return d.url
}

// enqueue queues callbacks unless no URL is set or the dispatcher is closed.
func (d *dispatcher) enqueue(cbs ...callback) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.url == "" {
		return
	}
	for _, cb := range cbs {
		cb.url = d.url
		if d.n == 0 {
			d.idle = make(chan struct{})
		}
		d.n++
		q := append(d.queues[cb.order], cb)
		d.queues[cb.order] = q
		if len(q) == 1 {
			go d.drain(cb.order)
		}
	}
}

// drain sends the queue of one order key until it is empty.
func (d *dispatcher) drain(key string) {
	for {
		d.mu.Lock()
		cb := d.queues[key][0]
		d.mu.Unlock()

		err := d.send(cb)
		d.rec.callback(cb.command, err != nil)
		if err != nil {
			d.log.Warn("chat callback failed", "command", cb.command, "err", err)
		}

		d.mu.Lock()
		q := d.queues[key][1:]
		if len(q) == 0 {
			delete(d.queues, key)
		} else {
			d.queues[key] = q
		}
		d.n--
		if d.n == 0 {
			close(d.idle)
		}
		d.mu.Unlock()
		if len(q) == 0 {
			return
		}
	}
}

// send posts one callback and checks the reply.
func (d *dispatcher) send(cb callback) error {
	_, err := d.post(cb)
	return err
}

// post posts one callback and returns its reply, which must be HTTP 200 with a JSON envelope
// whose ActionStatus is "OK" or whose ErrorCode is not 0.
func (d *dispatcher) post(cb callback) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	defer cancel()
	req, err := d.request(ctx, cb)
	if err != nil {
		return nil, err
	}
	resp, err := d.client.Do(req)
	if ue, ok := err.(*url.Error); ok {
		err = ue.Err // its URL carries the Sign
	}
	if err != nil {
		return nil, fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("read reply: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reply status %d", resp.StatusCode)
	}
	var env envelope
	if err := json.Unmarshal(reply, &env); err != nil {
		return nil, fmt.Errorf("reply is not JSON: %w", err)
	}
	if env.ActionStatus != "OK" && env.ErrorCode == 0 {
		return nil, fmt.Errorf("reply ActionStatus %q", env.ActionStatus)
	}
	if env.ActionStatus != "OK" && cb.command != chatapi.CommandBeforeSendMsg {
		return nil, fmt.Errorf("reply ActionStatus %q ErrorCode %d", env.ActionStatus, env.ErrorCode)
	}
	return reply, nil
}

// request builds the POST of one callback, with Chat's query parameters.
func (d *dispatcher) request(ctx context.Context, cb callback) (*http.Request, error) {
	u, err := url.Parse(cb.url)
	if err != nil {
		return nil, fmt.Errorf("callback url: %w", err)
	}
	q := u.Query()
	q.Set("SdkAppid", d.appID)
	q.Set("CallbackCommand", cb.command)
	q.Set("contenttype", "json")
	q.Set("ClientIP", "127.0.0.1")
	q.Set("OptPlatform", "RESTAPI")
	if d.token != "" {
		rt := d.now().Unix()
		q.Set("Sign", chatapi.CallbackSign(d.token, rt))
		q.Set("RequestTime", strconv.FormatInt(rt, 10))
	}
	u.RawQuery = q.Encode()
	body, err := json.Marshal(cb.body)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", cb.command, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// wait blocks until nothing is queued or in flight.
func (d *dispatcher) wait(ctx context.Context) error {
	for {
		d.mu.Lock()
		n, idle := d.n, d.idle
		d.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// close stops new callbacks and waits for the queued ones.
func (d *dispatcher) close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	_ = d.wait(context.Background())
	if d.ownsCl {
		d.client.CloseIdleConnections()
	}
}
