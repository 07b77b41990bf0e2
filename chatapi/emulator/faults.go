package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// DefaultFaultCode is the ErrorCode of a failing Fault with no Codes and no HTTPStatus:
// Chat's "internal error, retry".
const DefaultFaultCode = 20005

// Fault makes one API misbehave. It applies after authentication and the rate limit and before
// the API logic, so a faulted call changes no state. The zero Fault does nothing.
type Fault struct {
	// Codes are the ErrorCodes failing calls answer with, taken round-robin.
	// Empty means DefaultFaultCode.
	Codes []int
	// Probability (0..1) is the chance that a call fails; used only when Count is 0.
	Probability float64
	// Count fails exactly the next Count calls, then none; it takes precedence over Probability.
	// With Codes or HTTPStatus set but neither Count nor Probability, every call fails.
	Count int
	// Latency delays every call of the API while the fault is set. If the client goes away
	// meanwhile, the call is dropped unanswered and changes nothing.
	Latency time.Duration
	// HTTPStatus, when not 0, makes failing calls answer with this status and an HTML body
	// instead of an ErrorCode (like a gateway error in front of Chat).
	HTTPStatus int
}

// MarshalJSON writes Latency as a Go duration string such as "50ms".
func (f Fault) MarshalJSON() ([]byte, error) {
	type plain Fault
	return json.Marshal(struct {
		plain
		Latency string
	}{plain(f), f.Latency.String()})
}

// UnmarshalJSON reads Latency as a Go duration string ("50ms") or a number of milliseconds.
func (f *Fault) UnmarshalJSON(b []byte) error {
	type plain Fault
	var w struct {
		plain
		Latency json.RawMessage
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*f = Fault(w.plain)
	lat := bytes.TrimSpace(w.Latency)
	switch {
	case len(lat) == 0 || string(lat) == "null":
		f.Latency = 0
	case lat[0] == '"':
		var s string
		if err := json.Unmarshal(lat, &s); err != nil {
			return err
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("fault latency: %w", err)
		}
		f.Latency = d
	default:
		ms, err := strconv.ParseFloat(string(lat), 64)
		if err != nil {
			return fmt.Errorf("fault latency %s: must be a duration string or milliseconds", lat)
		}
		f.Latency = time.Duration(ms * float64(time.Millisecond))
	}
	return nil
}

func (f Fault) validate() error {
	var errs []error
	if f.Probability < 0 || f.Probability > 1 {
		errs = append(errs, errors.New("Probability must be within 0..1"))
	}
	if f.Count < 0 {
		errs = append(errs, errors.New("Count must not be negative"))
	}
	if f.Latency < 0 {
		errs = append(errs, errors.New("Latency must not be negative"))
	}
	if f.HTTPStatus != 0 && (f.HTTPStatus < 100 || f.HTTPStatus > 599 || f.HTTPStatus == http.StatusOK) {
		errs = append(errs, errors.New("HTTPStatus must be an HTTP status other than 200"))
	}
	return errors.Join(errs...)
}

// faults holds the fault of each API.
type faults struct {
	mu    sync.Mutex
	rng   *rand.Rand
	byAPI map[string]*faultState
}

type faultState struct {
	f    Fault
	left int // calls still to fail under Count
	next int // round-robin index into Codes
}

func (fs *faults) init(seed uint64) {
	fs.rng = rand.New(rand.NewPCG(seed, 1))
	fs.byAPI = make(map[string]*faultState)
}

func (fs *faults) set(api string, f Fault) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f.Count == 0 && f.Probability == 0 && (len(f.Codes) > 0 || f.HTTPStatus != 0) {
		f.Probability = 1
	}
	if f.Count == 0 && f.Probability == 0 && f.Latency == 0 {
		delete(fs.byAPI, api)
		return
	}
	f.Codes = append([]int(nil), f.Codes...)
	fs.byAPI[api] = &faultState{f: f, left: f.Count}
}

func (fs *faults) clear(api string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if api == "" {
		clear(fs.byAPI)
		return
	}
	delete(fs.byAPI, api)
}

func (fs *faults) snapshot() map[string]Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := make(map[string]Fault, len(fs.byAPI))
	for api, s := range fs.byAPI {
		f := s.f
		f.Codes = append([]int(nil), f.Codes...)
		out[api] = f
	}
	return out
}

// decision is what a fault does to one call.
type decision struct {
	latency time.Duration
	fail    bool
	code    int
	status  int
}

func (fs *faults) decide(api string) decision {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	s := fs.byAPI[api]
	if s == nil {
		return decision{}
	}
	d := decision{latency: s.f.Latency}
	switch {
	case s.f.Count > 0:
		d.fail = s.left > 0
		if d.fail {
			s.left--
		}
	case s.f.Probability > 0:
		d.fail = fs.rng.Float64() < s.f.Probability
	}
	if !d.fail {
		return d
	}
	d.status = s.f.HTTPStatus
	d.code = DefaultFaultCode
	if len(s.f.Codes) > 0 {
		d.code = s.f.Codes[s.next%len(s.f.Codes)]
		s.next++
	}
	return d
}

// SetFault sets the fault of api ("svc/cmd", e.g. "openim/admin_set_msg_read"), replacing any
// earlier one and restarting its Count. A Fault that can neither fail nor delay removes it. Invalid fields (Probability outside 0..1, negative Count or Latency) are clamped.
func (e *Emulator) SetFault(api string, f Fault) {
	f.Probability = min(max(f.Probability, 0), 1)
	f.Count = max(f.Count, 0)
	f.Latency = max(f.Latency, 0)
	e.faults.set(api, f)
}

// ClearFaults removes every fault.
func (e *Emulator) ClearFaults() { e.faults.clear("") }

// Faults returns the faults currently set, by API.
func (e *Emulator) Faults() map[string]Fault { return e.faults.snapshot() }

// injectFault applies api's fault to a call; faulted reports whether the call is answered here.
func (e *Emulator) injectFault(r *http.Request, api string) (out outcome, faulted bool) {
	d := e.faults.decide(api)
	if d.latency > 0 {
		t := time.NewTimer(d.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return outcome{status: statusClientClosed}, true
		}
	}
	switch {
	case !d.fail:
		return outcome{}, false
	case d.status != 0:
		return outcome{status: d.status}, true
	default:
		return failed(fail(d.code, "injected fault: internal error, please retry")), true
	}
}
