package webhook

import (
	"bytes"
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

// eventType is one type's event, decoded from the struct of its fields
// (pointers for the required ones, nil when absent); problems lists the
// missing fields or else the bad values.
type eventType interface {
	problems(now time.Time) fieldErrors
}

var eventTypes = map[string]func() eventType{
	EventConversationRead: func() eventType { return new(conversationRead) },
	EventMessagesRead:     func() eventType { return new(messagesRead) },
	EventUnreadRefresh:    func() eventType { return new(unreadRefresh) },
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
	raws := []json.RawMessage{body}
	if slices.ContainsFunc(top, func(m member) bool { return m.key == "events" }) {
		if len(top) != 1 {
			return nil, nil, errors.New(`a batch has only the field "events"`)
		}
		raws = nil // not body: Unmarshal would write the first event over it
		if json.Unmarshal(top[0].value, &raws) != nil {
			return nil, nil, errors.New("events is not an array")
		}
		switch {
		case len(raws) == 0:
			return nil, nil, errors.New("events is empty")
		case len(raws) > MaxEvents:
			return nil, nil, fmt.Errorf("events has %d entries, more than %d", len(raws), MaxEvents)
		}
	}
	events = make([]Event, len(raws))
	for i, raw := range raws {
		var p []FieldError
		events[i], p = decodeEvent(raw, now)
		for _, fe := range p {
			problems = append(problems, FieldError{Index: i, Field: fe.Field, Message: fe.Message})
		}
	}
	return events, problems, nil
}

// decodeEvent decodes one event and reports its bad fields (Index 0) in
// stages, each only if the ones before found nothing: those of decodeKeys;
// a field of another type (the type's struct, decoded with
// DisallowUnknownFields); the type's problems. (FuzzEventsDecode checks
// that these are at least as strict as the task payloads' Validate.)
func decodeEvent(raw json.RawMessage, now time.Time) (Event, []FieldError) {
	ev, p := decodeKeys(raw)
	if len(p) > 0 {
		return ev, p
	}
	t := eventTypes[ev.Type]()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(t); err != nil { // nothing else is left to fail
		return ev, []FieldError{{Field: unknownField(err), Message: "is not a field of " + ev.Type}}
	}
	if len(ev.Peers) == 0 {
		ev.Peers = nil // [] and absent mean the same
	}
	return ev, t.problems(now)
}

// decodeKeys decodes an event object into an Event and reports every
// problem its keys and JSON types show: keys repeated, unknown or
// case-folded and nulls (which encoding/json would let through), values
// of the wrong JSON type (the first, as encoding/json reports one), and a
// type that is missing or unknown.
func decodeKeys(raw json.RawMessage) (Event, fieldErrors) {
	obj, err := decodeObject(raw)
	if err != nil {
		return Event{}, fieldErrors{{Field: "event", Message: "is not a JSON object"}}
	}
	var p fieldErrors
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
	var ev Event
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

// conversationRead is a conversation.read event.
type conversationRead struct {
	Type     string  `json:"type"`
	Account  *string `json:"account"`
	Peer     *string `json:"peer"`
	ReadTime int64   `json:"read_time"`
}

func (e *conversationRead) problems(now time.Time) (p fieldErrors) {
	if p.require("account", e.Account != nil).require("peer", e.Peer != nil); p != nil {
		return p
	}
	p.userID("account", *e.Account).userID("peer", *e.Peer)
	switch {
	case e.ReadTime < 0:
		p.add("read_time", "is negative")
	case e.ReadTime > now.Add(maxReadTimeAhead).Unix():
		p.add("read_time", "is more than a day in the future (unix seconds, not milliseconds)")
	}
	return p
}

// messagesRead is a messages.read event.
type messagesRead struct {
	Type    string    `json:"type"`
	Account *string   `json:"account"`
	Peer    *string   `json:"peer"`
	MsgKeys *[]string `json:"msg_keys"`
}

func (e *messagesRead) problems(time.Time) (p fieldErrors) {
	if p.require("account", e.Account != nil).require("peer", e.Peer != nil).require("msg_keys", e.MsgKeys != nil); p != nil {
		return p
	}
	p.userID("account", *e.Account).userID("peer", *e.Peer).count("msg_keys", len(*e.MsgKeys), MaxEventMsgKeys)
	for i, k := range *e.MsgKeys {
		switch {
		case k == "":
			p.add(fmt.Sprintf("msg_keys[%d]", i), "is empty")
		case len(k) > MaxMsgKeyLen:
			p.add(fmt.Sprintf("msg_keys[%d]", i), fmt.Sprintf("is longer than %d bytes", MaxMsgKeyLen))
		}
	}
	return p
}

// unreadRefresh is an unread.refresh event.
type unreadRefresh struct {
	Type    string   `json:"type"`
	Account *string  `json:"account"`
	Peers   []string `json:"peers"`
}

func (e *unreadRefresh) problems(time.Time) (p fieldErrors) {
	if p.require("account", e.Account != nil); p != nil {
		return p
	}
	p.userID("account", *e.Account)
	if len(e.Peers) > 0 {
		p.count("peers", len(e.Peers), MaxEventPeers)
	}
	for i, peer := range e.Peers {
		p.userID(fmt.Sprintf("peers[%d]", i), peer)
	}
	return p
}
