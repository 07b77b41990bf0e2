package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"time"
)

// DefaultRequestTimeout bounds one request: Chat gives a callback 2 s.
const DefaultRequestTimeout = 5 * time.Second

// newHTTPClient returns a client with a keep-alive pool for n workers.
func newHTTPClient(n int) *http.Client {
	t := &http.Transport{
		Proxy:               nil, // loadgen talks to 127.0.0.1 only
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        n + 16,
		MaxIdleConnsPerHost: n + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: t, Timeout: DefaultRequestTimeout}
}

// Firer sends generated requests to chatsync. Each worker owns one; it is
// not safe for concurrent use.
type Firer struct {
	Client *http.Client
	Signer *Signer
	Gen    *Generator
	// Prepare, when set, runs before an AfterSendMsg to an auto-read
	// account is sent; it may rewrite the request (e.g. into a real message
	// stored by the emulator). An error is counted as outcome "prepare".
	Prepare func(ctx context.Context, r *Request) error
	// Sent, when set, is told when an auto-read AfterSendMsg was posted and
	// acknowledged: the e2e probes.
	Sent func(r Request, at time.Time)

	buf bytes.Buffer
}

// Op returns the Firer as a loop Op.
func (f *Firer) Op() Op {
	return func(ctx context.Context, _ int64) Outcome { return f.Fire(ctx, f.Gen.Next()) }
}

// Fire sends r and classifies the answer: "ok" for an OK callback reply or
// a 202 for an app event, the status code otherwise ("200:FAIL" for a
// callback reply that is not OK), "net:…" for transport errors.
func (f *Firer) Fire(ctx context.Context, r Request) Outcome {
	o := Outcome{Kind: r.Kind}
	if r.Kind == KindSendAutoRead && f.Prepare != nil {
		if err := f.Prepare(ctx, &r); err != nil {
			o.Label = "prepare"
			return o
		}
		o.Start = time.Now()
	}
	body, err := r.Body()
	if err != nil {
		o.Label = "encode"
		return o
	}
	now := time.Now()
	var req *http.Request
	if r.Kind.IsEvent() {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, f.Signer.EventsURL(), bytes.NewReader(body))
		if err == nil {
			err = f.Signer.EventHeaders(req.Header, r.ID, body, now)
		}
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, f.Signer.CallbackURL(r.Command, now), bytes.NewReader(body))
	}
	if err != nil {
		o.Label = "encode"
		return o
	}
	req.Header.Set("Content-Type", "application/json")
	o.Label = f.send(req, r.Kind.IsEvent())
	if o.Label == outcomeOK && r.Kind == KindSendAutoRead && f.Sent != nil {
		f.Sent(r, now)
	}
	return o
}

// send posts req and labels the answer.
func (f *Firer) send(req *http.Request, event bool) string {
	resp, err := f.Client.Do(req)
	if err != nil {
		return netLabel(err)
	}
	defer resp.Body.Close()
	f.buf.Reset()
	_, err = f.buf.ReadFrom(io.LimitReader(resp.Body, 64<<10))
	switch {
	case err != nil:
		return netLabel(err)
	case event && resp.StatusCode == http.StatusAccepted:
		return outcomeOK
	case !event && resp.StatusCode == http.StatusOK:
		if bytes.Contains(f.buf.Bytes(), []byte(`"ActionStatus":"OK"`)) {
			return outcomeOK
		}
		return "200:FAIL"
	}
	return strconv.Itoa(resp.StatusCode)
}

// netLabel names a transport error without its addresses.
func netLabel(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "net:timeout"
	case errors.Is(err, context.Canceled):
		return "net:canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "net:refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "net:reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "net:no-ports"
	}
	return "net:other"
}
