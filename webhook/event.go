package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// App event types accepted on POST /v1/events.
const (
	EventConversationRead = "conversation.read" // → set-read
	EventMessagesRead     = "messages.read"     // → read-receipt
	EventUnreadRefresh    = "unread.refresh"    // → unread
)

// Limits on one app event.
const (
	MaxEventMsgKeys = 100 // msg_keys per messages.read
	MaxEventPeers   = 100 // peers per unread.refresh
	MaxMsgKeyLen    = 128 // bytes; Chat's MsgKeys are about 30
	// maxReadTimeAhead is how far read_time may be in the future: more is
	// most likely milliseconds given for seconds.
	maxReadTimeAhead = 24 * time.Hour
)

// Event is one app event. POST /v1/events takes one event object or
// {"events":[…]} with at most MaxEvents of them; unknown fields, and fields
// of another type, are rejected.
//
//	{"type":"conversation.read","account":"a","peer":"b","read_time":1700000000}
//	{"type":"messages.read","account":"a","peer":"b","msg_keys":["1_2_3"]}
//	{"type":"unread.refresh","account":"a","peers":["b"]}
type Event struct {
	Type     string   `json:"type"`
	Account  string   `json:"account"`             // the user who reads, or whose counts change
	Peer     string   `json:"peer,omitempty"`      // conversation.read, messages.read
	ReadTime int64    `json:"read_time,omitempty"` // conversation.read; unix seconds, 0 = when accepted
	MsgKeys  []string `json:"msg_keys,omitempty"`  // messages.read; messages Peer sent to Account
	Peers    []string `json:"peers,omitempty"`     // unread.refresh; none = refresh the total
}

// eventKeys are the keys of Event's JSON and what each value must be.
var eventKeys = map[string]string{"type": "a string", "account": "a string", "peer": "a string",
	"read_time": "an integer (unix seconds)", "msg_keys": "an array of strings", "peers": "an array of strings"}

// eventTypes are the fields of each event type besides "type".
var eventTypes = map[string]struct{ required, optional []string }{
	EventConversationRead: {required: []string{"account", "peer"}, optional: []string{"read_time"}},
	EventMessagesRead:     {required: []string{"account", "peer", "msg_keys"}},
	EventUnreadRefresh:    {required: []string{"account"}, optional: []string{"peers"}},
}

// decodeEvents decodes and validates the body of POST /v1/events. err is a
// problem with the body as a whole (not JSON, too many events); otherwise
// problems lists the bad fields of every event, and events is valid only
// when problems is empty.
func decodeEvents(body []byte, now time.Time) (events []Event, problems []FieldError, err error) {
	if err := checkJSON(body); err != nil {
		return nil, nil, err
	}
	top, err := decodeObject(body)
	if err != nil {
		return nil, nil, err
	}
	if !slices.ContainsFunc(top, func(m member) bool { return m.key == "events" }) {
		ev, p := decodeEvent(body, top, now)
		return []Event{ev}, p, nil
	}
	if len(top) != 1 {
		return nil, nil, errors.New(`a batch has only the field "events"`)
	}
	var raws []json.RawMessage
	if json.Unmarshal(top[0].value, &raws) != nil {
		return nil, nil, errors.New("events is not an array")
	}
	switch {
	case len(raws) == 0:
		return nil, nil, errors.New("events is empty")
	case len(raws) > MaxEvents:
		return nil, nil, fmt.Errorf("events has %d entries, more than %d", len(raws), MaxEvents)
	}
	events = make([]Event, len(raws))
	for i, raw := range raws {
		p := fieldErrors{{Field: "event", Message: "is not a JSON object"}}
		if obj, err := decodeObject(raw); err == nil {
			events[i], p = decodeEvent(raw, obj, now)
		}
		for _, fe := range p {
			problems = append(problems, FieldError{Index: i, Field: fe.Field, Message: fe.Message})
		}
	}
	return events, problems, nil
}

// decodeEvent decodes one event object, raw with members obj, and reports
// its bad fields (Index 0) in stages, each only if the ones before found
// nothing: those of decodeKeys; the first field of another type, or else
// the type's missing fields; the bad values. (FuzzEventsDecode checks that
// these are at least as strict as the task payloads' Validate.)
func decodeEvent(raw json.RawMessage, obj []member, now time.Time) (Event, fieldErrors) {
	ev, p := decodeKeys(raw, obj)
	if len(p) > 0 {
		return ev, p
	}
	t := eventTypes[ev.Type]
	for _, m := range obj {
		if m.key != "type" && !slices.Contains(t.required, m.key) && !slices.Contains(t.optional, m.key) {
			return ev, fieldErrors{{Field: m.key, Message: "is not a field of " + ev.Type}}
		}
	}
	for _, f := range t.required {
		if !slices.ContainsFunc(obj, func(m member) bool { return m.key == f }) {
			p.add(f, "is missing")
		}
	}
	if len(p) > 0 {
		return ev, p
	}
	if len(ev.Peers) == 0 {
		ev.Peers = nil // [] and absent mean the same
	}
	return ev, ev.problems(now)
}

// decodeKeys decodes an event object (raw, with members obj) into an Event
// and reports every problem its keys and JSON types show: keys repeated,
// unknown or case-folded and nulls (which encoding/json would let
// through), values of the wrong JSON type (the first, as encoding/json
// reports one), and a type that is missing or unknown.
func decodeKeys(raw json.RawMessage, obj []member) (ev Event, p fieldErrors) {
	seen := make(map[string]bool, len(obj))
	for _, m := range obj {
		kind, known := eventKeys[m.key]
		switch {
		case seen[m.key]:
			p.add(shortKey(m.key), "is given twice")
		case !known:
			p.add(shortKey(m.key), "is unknown")
		case hasNull(m.value):
			p.add(m.key, "is not "+kind)
		}
		seen[m.key] = true
	}
	var te *json.UnmarshalTypeError
	if err := json.Unmarshal(raw, &ev); errors.As(err, &te) && !p.has(te.Field) {
		p.add(te.Field, "is not "+eventKeys[te.Field])
	}
	switch _, known := eventTypes[ev.Type]; {
	case !seen["type"]:
		p.add("type", "is missing")
	case !known && !p.has("type"):
		p.add("type", "is not one of "+EventConversationRead+", "+EventMessagesRead+", "+EventUnreadRefresh)
	}
	return ev, p
}

// problems lists the bad values of an event whose fields are its type's.
func (ev Event) problems(now time.Time) (p fieldErrors) {
	p.userID("account", ev.Account)
	if ev.Type != EventUnreadRefresh {
		p.userID("peer", ev.Peer)
	}
	switch {
	case ev.ReadTime < 0:
		p.add("read_time", "is negative")
	case ev.ReadTime > now.Add(maxReadTimeAhead).Unix():
		p.add("read_time", "is more than a day in the future (unix seconds, not milliseconds)")
	}
	if ev.Type == EventMessagesRead {
		p.count("msg_keys", len(ev.MsgKeys), MaxEventMsgKeys)
	}
	for i, k := range ev.MsgKeys {
		switch {
		case k == "":
			p.add(fmt.Sprintf("msg_keys[%d]", i), "is empty")
		case len(k) > MaxMsgKeyLen:
			p.add(fmt.Sprintf("msg_keys[%d]", i), fmt.Sprintf("is longer than %d bytes", MaxMsgKeyLen))
		}
	}
	if len(ev.Peers) > 0 {
		p.count("peers", len(ev.Peers), MaxEventPeers)
	}
	for i, peer := range ev.Peers {
		p.userID(fmt.Sprintf("peers[%d]", i), peer)
	}
	return p
}
