package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/chatsync/chatsync/chatapi/emulator"
)

// Inspector reads and steers the Chat emulator through its inspection
// surface (GET /emulator/stats, /emulator/requests, /emulator/unread; PUT
// /emulator/ratelimit; POST /emulator/accounts). It is safe for concurrent
// use.
type Inspector struct {
	base   string // http://127.0.0.1:port
	client *http.Client
}

// NewInspector returns an Inspector of the emulator at base.
func NewInspector(base string, client *http.Client) *Inspector {
	return &Inspector{base: base, client: client}
}

// Stats returns the emulator's counters.
func (in *Inspector) Stats(ctx context.Context) (emulator.Stats, error) {
	var st emulator.Stats
	return st, in.do(ctx, http.MethodGet, "/emulator/stats", nil, &st)
}

// Requests returns the last limit recorded requests of api, oldest first.
func (in *Inspector) Requests(ctx context.Context, api string, limit int) ([]emulator.Request, error) {
	var reqs []emulator.Request
	q := url.Values{"api": {api}, "limit": {strconv.Itoa(limit)}}
	return reqs, in.do(ctx, http.MethodGet, "/emulator/requests?"+q.Encode(), nil, &reqs)
}

// EmulatorUnread is a user's unread state as the emulator holds it.
type EmulatorUnread struct {
	User    string
	Total   int
	PerPeer map[string]int
}

// Unread returns user's unread counts.
func (in *Inspector) Unread(ctx context.Context, user string) (EmulatorUnread, error) {
	var u EmulatorUnread
	return u, in.do(ctx, http.MethodGet, "/emulator/unread?user="+url.QueryEscape(user), nil, &u)
}

// SetRateLimit sets the per-API calls per second (0 = 200, < 0 = unlimited).
func (in *Inspector) SetRateLimit(ctx context.Context, perSecond int) error {
	return in.do(ctx, http.MethodPut, "/emulator/ratelimit", map[string]int{"PerSecond": perSecond}, nil)
}

// ImportAccounts imports ids, 1000 a request.
func (in *Inspector) ImportAccounts(ctx context.Context, ids []string) error {
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		if err := in.do(ctx, http.MethodPost, "/emulator/accounts", map[string][]string{"UserIDs": ids[:n]}, nil); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

func (in *Inspector) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("emulator %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, in.base+path, rd)
	if err != nil {
		return fmt.Errorf("emulator %s: %w", method, err)
	}
	resp, err := in.client.Do(req)
	if err != nil {
		return fmt.Errorf("emulator %s: %w", method, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("emulator %s %s: read: %w", method, req.URL.Path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("emulator %s %s: status %d: %s", method, req.URL.Path, resp.StatusCode, bytes.TrimSpace(data))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("emulator %s %s: decode: %w", method, req.URL.Path, err)
	}
	return nil
}

// CallsDiff returns the calls of each API made between two Stats, and the
// answers by ErrorCode (HTTP statuses other than 200 as "http <status>").
func CallsDiff(before, after emulator.Stats) (calls map[string]int64, codes map[string]map[string]int64) {
	calls = make(map[string]int64)
	codes = make(map[string]map[string]int64)
	for api, a := range after.APIs {
		b := before.APIs[api]
		if n := a.Calls - b.Calls; n > 0 {
			calls[api] = n
		}
		c := make(map[string]int64)
		for code, n := range a.ErrorCodes {
			if d := n - b.ErrorCodes[code]; d > 0 {
				c[strconv.Itoa(code)] = d
			}
		}
		for status, n := range a.HTTPStatus {
			if d := n - b.HTTPStatus[status]; d > 0 {
				c["http "+strconv.Itoa(status)] = d
			}
		}
		if len(c) > 0 {
			codes[api] = c
		}
	}
	return calls, codes
}
