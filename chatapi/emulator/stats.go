package emulator

import (
	"encoding/json"
	"maps"
	"sync"
	"time"
)

// Request is one REST request as the emulator saw it.
type Request struct {
	// Time is when it arrived, by Config.Now.
	Time time.Time
	// API is "svc/cmd", or the path without "/v4/" for unknown paths.
	API string
	// Body is the request body: its JSON, a JSON string of it when it is not valid JSON, or
	// null when empty.
	Body json.RawMessage
	// ErrorCode is the ErrorCode answered (0 on success and on HTTP-status faults).
	ErrorCode int
	// HTTPStatus is the status answered; 499 means the client went away during an injected
	// latency and got no answer.
	HTTPStatus int
}

// Stats counts what the emulator has done since it was created.
type Stats struct {
	// APIs is keyed by API ("svc/cmd", or the path for unknown paths).
	APIs map[string]APIStats
	// Callbacks is keyed by CallbackCommand.
	Callbacks map[string]CallbackStats
}

// APIStats counts the calls of one API.
type APIStats struct {
	// Calls counts every request.
	Calls int64
	// ErrorCodes counts the HTTP 200 answers by ErrorCode; 0 is success.
	ErrorCodes map[int]int64
	// HTTPStatus counts the answers with a status other than 200 (injected faults, and 499 for
	// clients that went away).
	HTTPStatus map[int]int64
}

// CallbackStats counts the callbacks of one command.
type CallbackStats struct {
	// Sent counts the callbacks posted (or attempted).
	Sent int64
	// Failed counts those that did not get HTTP 200 with ActionStatus "OK".
	Failed int64
}

// recorder keeps Stats and a ring of recent Requests.
type recorder struct {
	mu        sync.Mutex
	ring      []Request
	next      int // where the next Request goes once the ring is full
	keep      int
	apis      map[string]*APIStats
	callbacks map[string]*CallbackStats
}

func (r *recorder) init(keep int) {
	r.keep = keep
	r.apis = make(map[string]*APIStats)
	r.callbacks = make(map[string]*CallbackStats)
}

func (r *recorder) record(req Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.apis[req.API]
	if s == nil {
		s = &APIStats{ErrorCodes: map[int]int64{}, HTTPStatus: map[int]int64{}}
		r.apis[req.API] = s
	}
	s.Calls++
	if req.HTTPStatus == 200 {
		s.ErrorCodes[req.ErrorCode]++
	} else {
		s.HTTPStatus[req.HTTPStatus]++
	}
	switch {
	case r.keep == 0:
	case len(r.ring) < r.keep:
		r.ring = append(r.ring, req)
	default:
		r.ring[r.next] = req
		r.next = (r.next + 1) % r.keep
	}
}

func (r *recorder) callback(command string, failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.callbacks[command]
	if s == nil {
		s = &CallbackStats{}
		r.callbacks[command] = s
	}
	s.Sent++
	if failed {
		s.Failed++
	}
}

// Stats returns a copy of the counters.
func (e *Emulator) Stats() Stats {
	r := &e.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	st := Stats{APIs: make(map[string]APIStats, len(r.apis)), Callbacks: make(map[string]CallbackStats, len(r.callbacks))}
	for api, s := range r.apis {
		st.APIs[api] = APIStats{Calls: s.Calls, ErrorCodes: maps.Clone(s.ErrorCodes), HTTPStatus: maps.Clone(s.HTTPStatus)}
	}
	for cmd, s := range r.callbacks {
		st.Callbacks[cmd] = *s
	}
	return st
}

// Requests returns the recent requests of api ("" = every API), oldest first. At most
// Config.KeepRequests requests are kept over all APIs together.
func (e *Emulator) Requests(api string) []Request {
	r := &e.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Request, 0, len(r.ring))
	for i := range r.ring {
		req := r.ring[(r.next+i)%len(r.ring)]
		if api == "" || req.API == api {
			out = append(out, req)
		}
	}
	return out
}
