package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
)

// emulatorClient reads and steers the Chat emulator through its inspection
// surface (/emulator/stats, requests, unread, ratelimit, accounts).
type emulatorClient struct {
	base   string
	client *http.Client
}

func newEmulatorClient(base string) *emulatorClient {
	return &emulatorClient{base: base, client: newHTTPClient(4)}
}

func (e *emulatorClient) stats(ctx context.Context) (st emulator.Stats, err error) {
	return st, e.do(ctx, http.MethodGet, "/emulator/stats", nil, &st)
}

// requests returns the last limit recorded calls of api, oldest first.
func (e *emulatorClient) requests(ctx context.Context, api string, limit int) (reqs []emulator.Request, err error) {
	q := url.Values{"api": {api}, "limit": {strconv.Itoa(limit)}}
	return reqs, e.do(ctx, http.MethodGet, "/emulator/requests?"+q.Encode(), nil, &reqs)
}

// emulatorUnread is a user's unread counts as the emulator holds them.
type emulatorUnread struct {
	Total   int
	PerPeer map[string]int
}

func (e *emulatorClient) unread(ctx context.Context, user string) (u emulatorUnread, err error) {
	return u, e.do(ctx, http.MethodGet, "/emulator/unread?user="+url.QueryEscape(user), nil, &u)
}

// setRateLimit sets the per-API calls per second (< 0: unlimited).
func (e *emulatorClient) setRateLimit(ctx context.Context, perSecond int) error {
	return e.do(ctx, http.MethodPut, "/emulator/ratelimit", map[string]int{"PerSecond": perSecond}, nil)
}

// importAccounts imports ids, 500 a request.
func (e *emulatorClient) importAccounts(ctx context.Context, ids []string) error {
	for i := 0; i < len(ids); i += 500 {
		err := e.do(ctx, http.MethodPost, "/emulator/accounts", map[string][]string{"UserIDs": ids[i:min(i+500, len(ids))]}, nil)
		if err != nil {
			return err
		}
	}
	return nil
}

func (e *emulatorClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body) // maps of strings and ints
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.base+path, rd)
	if err != nil {
		return fmt.Errorf("emulator %s: %w", method, err)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("emulator %s: %w", method, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	switch {
	case err != nil:
		return fmt.Errorf("emulator %s %s: %w", method, req.URL.Path, err)
	case resp.StatusCode/100 != 2:
		return fmt.Errorf("emulator %s %s: status %d: %s", method, req.URL.Path, resp.StatusCode, bytes.TrimSpace(data))
	case out != nil:
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("emulator %s %s: %w", method, req.URL.Path, err)
		}
	}
	return nil
}

// session is what the emulator-backed measurements work with: the
// emulator's inspection surface, a Chat client of it as the app admin, and
// chatsync's Redis (an asynq Inspector and a client).
type session struct {
	*options
	em   *emulatorClient
	chat *chatapi.Client
	aq   *asynq.Inspector
	rdb  *redis.Client
}

// open connects a session; close it when done.
func (o *options) open() (*session, error) {
	if o.redisURL == "" || o.secretKey == "" {
		return nil, fmt.Errorf("-redis and -secret-key (or $REDIS_URL and $CHAT_SECRET_KEY) are required")
	}
	opt, err := o.redis()
	if err != nil {
		return nil, err
	}
	chat, err := chatapi.New(chatapi.Config{SDKAppID: o.appID, SecretKey: o.secretKey, Admin: o.admin, BaseURL: o.emulator})
	if err != nil {
		return nil, err
	}
	return &session{options: o, em: newEmulatorClient(o.emulator), chat: chat, rdb: redis.NewClient(opt),
		aq: asynq.NewInspector(asynq.RedisClientOpt{Addr: opt.Addr, Username: opt.Username, Password: opt.Password, DB: opt.DB})}, nil
}

// parseOpen parses args and opens a session.
func (o *options) parseOpen(fs *flag.FlagSet, args []string) (*session, error) {
	if err := o.parse(fs, args); err != nil {
		return nil, err
	}
	return o.open()
}

func (s *session) close() {
	s.aq.Close()
	s.rdb.Close()
}

// apiCalls are the calls of each API made between two emulator Stats,
// and their answers by ErrorCode (other HTTP statuses as "http <status>").
type apiCalls struct {
	Calls map[string]int64            `json:"calls"`
	Codes map[string]map[string]int64 `json:"codes,omitempty"`
}

// callsBetween returns the calls between before and after, leaving out
// sendmsg (loadgen's own).
func callsBetween(before, after emulator.Stats) apiCalls {
	c := apiCalls{Calls: map[string]int64{}, Codes: map[string]map[string]int64{}}
	for api, a := range after.APIs {
		b := before.APIs[api]
		if n := a.Calls - b.Calls; n > 0 && api != chatapi.APISendMsg {
			c.Calls[api] = n
		}
		codes := map[string]int64{}
		for code, n := range a.ErrorCodes {
			if d := n - b.ErrorCodes[code]; d > 0 {
				codes[strconv.Itoa(code)] = d
			}
		}
		for status, n := range a.HTTPStatus {
			if d := n - b.HTTPStatus[status]; d > 0 {
				codes["http "+strconv.Itoa(status)] = d
			}
		}
		if len(codes) > 0 && api != chatapi.APISendMsg {
			c.Codes[api] = codes
		}
	}
	return c
}

// rateLimited returns the 60007 answers of all APIs.
func (c apiCalls) rateLimited() (n int64) {
	for _, codes := range c.Codes {
		n += codes["60007"]
	}
	return n
}

// queued is the work left in chatsync's queues.
type queued struct {
	Pending, Active, Scheduled, Retry, Aggregating, Archived int
}

// left returns the tasks still to run (archived ones failed for good).
func (q queued) left() int { return q.Pending + q.Active + q.Scheduled + q.Retry + q.Aggregating }

func (q queued) String() string {
	return fmt.Sprintf("pending %d, active %d, scheduled %d, retry %d, archived %d",
		q.Pending, q.Active, q.Scheduled, q.Retry, q.Archived)
}

// queueState sums the state of every asynq queue.
func queueState(in *asynq.Inspector) (queued, error) {
	qs, err := in.Queues()
	var q queued
	for _, name := range qs {
		info, err := in.GetQueueInfo(name)
		if err != nil {
			return q, fmt.Errorf("queue %s: %w", name, err)
		}
		q.Pending, q.Active, q.Scheduled = q.Pending+info.Pending, q.Active+info.Active, q.Scheduled+info.Scheduled
		q.Retry, q.Aggregating, q.Archived = q.Retry+info.Retry, q.Aggregating+info.Aggregating, q.Archived+info.Archived
	}
	return q, err
}

// waitDrained polls until no task is left and the emulator saw no new call
// for 2 s, or until timeout; it reports whether they drained and how long
// after its start they were done.
func waitDrained(ctx context.Context, aq *asynq.Inspector, em *emulatorClient, timeout time.Duration) (bool, time.Duration, error) {
	start, last, quietSince := time.Now(), int64(-1), time.Time{}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for sleepUntil(ctx, time.Now().Add(100*time.Millisecond)) {
		q, err := queueState(aq)
		if err != nil {
			return false, time.Since(start), err
		}
		calls := int64(-1)
		if st, err := em.stats(ctx); err == nil {
			calls = 0
			for _, a := range st.APIs {
				calls += a.Calls
			}
		}
		switch {
		case q.left() > 0 || calls != last:
			quietSince = time.Time{}
		case quietSince.IsZero():
			quietSince = time.Now()
		case time.Since(quietSince) >= 2*time.Second:
			return true, quietSince.Sub(start), nil
		}
		last = calls
	}
	return false, time.Since(start), nil
}

// sampler holds, per sample, each API's calls per second since the
// previous one and the tasks left in chatsync's queues.
type sampler struct {
	rates map[string][]float64
	depth []int
}

// sample samples every interval until ctx is done or after, which sees
// each new sample, returns false.
func sample(ctx context.Context, em *emulatorClient, aq *asynq.Inspector, interval time.Duration, after func(*sampler) bool) (*sampler, error) {
	s := &sampler{rates: map[string][]float64{}}
	prev, err := em.stats(ctx)
	prevAt := time.Now()
	for n := 0; err == nil && sleepUntil(ctx, time.Now().Add(interval)); n++ {
		st, err1 := em.stats(ctx)
		q, err2 := queueState(aq)
		if err1 != nil || err2 != nil {
			continue // the next sample covers this one
		}
		for api, a := range st.APIs {
			series := s.rates[api]
			for len(series) < n {
				series = append(series, 0)
			}
			s.rates[api] = append(series, float64(a.Calls-prev.APIs[api].Calls)/time.Since(prevAt).Seconds())
		}
		prev, prevAt, s.depth = st, time.Now(), append(s.depth, q.left())
		if after != nil && !after(s) {
			break
		}
	}
	return s, err
}
