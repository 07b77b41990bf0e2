package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
)

// doJSON sends body (if any) as JSON and decodes a 2xx answer into out (if any).
func doJSON(ctx context.Context, method, url string, header http.Header, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body) // maps of strings and ints
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	maps.Copy(req.Header, header)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		defer resp.Body.Close()
		var data []byte
		data, err = io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		switch {
		case err == nil && resp.StatusCode/100 != 2:
			err = fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(data))
		case err == nil && out != nil:
			err = json.Unmarshal(data, out)
		}
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, req.URL.Path, err)
	}
	return nil
}

func getJSON(ctx context.Context, url string, out any) error {
	return doJSON(ctx, http.MethodGet, url, nil, nil, out)
}

// emulatorClient reads and steers the Chat emulator through its /emulator/ surface.
type emulatorClient struct{ base string }

func (e *emulatorClient) stats(ctx context.Context) (st emulator.Stats, err error) {
	return st, getJSON(ctx, e.base+"/emulator/stats", &st)
}

// requests returns the last limit recorded calls of api, oldest first.
func (e *emulatorClient) requests(ctx context.Context, api string, limit int) (reqs []emulator.Request, err error) {
	q := url.Values{"api": {api}, "limit": {strconv.Itoa(limit)}}
	return reqs, getJSON(ctx, e.base+"/emulator/requests?"+q.Encode(), &reqs)
}

// unread returns a user's unread counts as the emulator holds them.
func (e *emulatorClient) unread(ctx context.Context, user string) (u struct {
	Total   int
	PerPeer map[string]int
}, err error) {
	return u, getJSON(ctx, e.base+"/emulator/unread?user="+url.QueryEscape(user), &u)
}

// setRateLimit sets the per-API calls per second (< 0: unlimited).
func (e *emulatorClient) setRateLimit(ctx context.Context, perSecond int) error {
	return doJSON(ctx, http.MethodPut, e.base+"/emulator/ratelimit", nil, map[string]int{"PerSecond": perSecond}, nil)
}

// importAccounts imports ids, 500 a request.
func (e *emulatorClient) importAccounts(ctx context.Context, ids []string) error {
	for i := 0; i < len(ids); i += 500 {
		err := doJSON(ctx, http.MethodPost, e.base+"/emulator/accounts", nil, map[string][]string{"UserIDs": ids[i:min(i+500, len(ids))]}, nil)
		if err != nil {
			return err
		}
	}
	return nil
}

// session is the emulator, a Chat client of it, and chatsync's Redis.
type session struct {
	*options
	em   *emulatorClient
	chat *chatapi.Client
	aq   *asynq.Inspector
	rdb  *redis.Client
}

// parseOpen parses args and opens a session; close it when done.
func (o *options) parseOpen(fs *flag.FlagSet, args []string) (*session, error) {
	if err := o.parse(fs, args); err != nil {
		return nil, err
	}
	return o.open()
}

func (o *options) open() (*session, error) {
	if o.redisURL == "" || o.secretKey == "" {
		return nil, fmt.Errorf("$REDIS_URL and $CHAT_SECRET_KEY are required")
	}
	opt, err := o.redis()
	if err != nil {
		return nil, err
	}
	chat, err := chatapi.New(chatapi.Config{SDKAppID: o.appID, SecretKey: o.secretKey, Admin: o.admin, BaseURL: o.emulator})
	if err != nil {
		return nil, err
	}
	rdb := redis.NewClient(opt)
	return &session{options: o, em: &emulatorClient{o.emulator}, chat: chat, rdb: rdb,
		aq: asynq.NewInspectorFromRedisClient(rdb)}, nil
}

func (s *session) close() { s.rdb.Close() }

// sendMessages imports ids and sends message i from and to the accounts fromTo(i) gives through the emulator.
func (s *session) sendMessages(ctx context.Context, cfg loopConfig, ids []string, fromTo func(i int) (string, string)) (loopResult, error) {
	if err := s.em.importAccounts(ctx, ids); err != nil {
		return loopResult{}, err
	}
	return runLoop(ctx, cfg, func(int) op {
		return func(ctx context.Context, i int64) outcome {
			from, to := fromTo(int(i))
			_, err := s.chat.SendMsg(ctx, chatapi.SendMsgRequest{FromAccount: from, ToAccount: to,
				MsgBody: []chatapi.MsgElem{chatapi.TextElem(text)}})
			var ce *chatapi.Error
			switch {
			case err == nil:
				return outcome{label: outcomeOK}
			case errors.As(err, &ce):
				return outcome{label: "chat:" + strconv.Itoa(ce.Code)}
			}
			return outcome{label: "net:other"}
		}
	})
}

// apiCalls are each API's calls between two emulator Stats and their answers by ErrorCode.
type apiCalls struct {
	Calls       map[string]int64            `json:"calls"`
	Codes       map[string]map[string]int64 `json:"codes,omitempty"`
	RateLimited int64                       `json:"rate_limited"` // 60007 answers of all APIs
}

// callsBetween returns the calls between before and after, but loadgen's own sendmsg.
func callsBetween(before, after emulator.Stats) apiCalls {
	c := apiCalls{Calls: map[string]int64{}, Codes: map[string]map[string]int64{}}
	for api, a := range after.APIs {
		if api == chatapi.APISendMsg {
			continue
		}
		b := before.APIs[api]
		if n := a.Calls - b.Calls; n > 0 {
			c.Calls[api] = n
		}
		codes := map[string]int64{}
		for code, n := range a.ErrorCodes {
			if d := n - b.ErrorCodes[code]; d > 0 {
				codes[strconv.Itoa(code)] = d
			}
		}
		if len(codes) > 0 {
			c.Codes[api], c.RateLimited = codes, c.RateLimited+codes["60007"]
		}
	}
	return c
}

// queued returns the tasks still to run in every asynq queue.
func queued(in *asynq.Inspector) (int, error) {
	qs, err := in.Queues()
	n := 0
	for _, name := range qs {
		info, err := in.GetQueueInfo(name)
		if err != nil {
			return n, fmt.Errorf("queue %s: %w", name, err)
		}
		n += info.Pending + info.Active + info.Scheduled + info.Retry + info.Aggregating
	}
	return n, err
}

// sampler holds, per sample, each API's calls per second and the tasks queued.
type sampler struct {
	rates map[string][]float64
	depth []int64
}

// sample samples every interval until ctx is done or after returns false.
func (s *session) sample(ctx context.Context, interval time.Duration, after func(*sampler) bool) (*sampler, error) {
	sm := &sampler{rates: map[string][]float64{}}
	prev, err := s.em.stats(ctx)
	prevAt := time.Now()
	for err == nil && sleepUntil(ctx, time.Now().Add(interval)) {
		st, err1 := s.em.stats(ctx)
		q, err2 := queued(s.aq)
		if err1 != nil || err2 != nil {
			continue // the next sample covers this one
		}
		for api, a := range st.APIs { // an API's series starts with its first call
			sm.rates[api] = append(sm.rates[api], float64(a.Calls-prev.APIs[api].Calls)/time.Since(prevAt).Seconds())
		}
		prev, prevAt, sm.depth = st, time.Now(), append(sm.depth, int64(q))
		if after != nil && !after(sm) {
			break
		}
	}
	return sm, err
}

// drain samples until the queues and the emulator are quiet for quiet samples; it returns when the quiet began.
func (s *session) drain(ctx context.Context, interval time.Duration, quiet int, timeout time.Duration) (*sampler, bool, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start, idle, drained := time.Now(), 0, false
	sm, err := s.sample(ctx, interval, func(sm *sampler) bool {
		idle++
		for api, rates := range sm.rates {
			if api != chatapi.APISendMsg && rates[len(rates)-1] > 0 {
				idle = 0
			}
		}
		if sm.depth[len(sm.depth)-1] > 0 {
			idle = 0
		}
		drained = idle >= quiet
		return !drained
	})
	return sm, drained, time.Since(start) - time.Duration(idle)*interval, err
}
