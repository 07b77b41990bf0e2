package webhook

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/chatsync/chatsync/tasks"
)

// accepted is the 202 answer of POST /v1/events: for each event, in event
// order, the ID of the task that applies it, whether new, joined or already
// there; "" for a read point that was already applied (it needs no call).
type accepted struct {
	TaskIDs []string `json:"task_ids"`
}

// postEvents serves POST /v1/events: it checks the Standard Webhooks
// signature, decodes and validates every event, and answers 202 once all of
// their tasks are in Redis. A batch with one invalid event enqueues
// nothing. The webhook-id is the idempotency key: task IDs derive from it
// and the event's index, so a redelivery answers 202 again and adds no task.
// The events metric is recorded here, once per event that got a result.
func (s *Server) postEvents(c echo.Context) error {
	r := c.Request()
	// The headers first: a request that cannot be signed right costs no
	// body buffer.
	if _, err := s.events.checkHeaders(r.Header, s.now()); err != nil {
		return statusError(http.StatusUnauthorized, "%s", err.Error())
	}
	bd, err := s.readBody(r)
	if err != nil {
		return err
	}
	defer s.release(bd)
	id, err := s.events.verify(bd.b, r.Header, s.now())
	if err != nil {
		return statusError(http.StatusUnauthorized, "%s", err.Error())
	}
	events, problems, err := decodeEvents(bd.b, s.now())
	if err != nil {
		return badRequest(err.Error(), nil)
	}
	ids, results, err := s.acceptEvents(r, id, events, problems)
	for i, ev := range events {
		if results[i] != "" {
			s.m.event(ev.Type, results[i])
		}
	}
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusAccepted, accepted{TaskIDs: ids})
}

// acceptEvents takes the decoded events of delivery id into Redis, unless
// problems or a payload's rules make the batch invalid. It returns each
// event's task ID and its result for the metric ("" for none), and the
// error to answer with.
func (s *Server) acceptEvents(r *http.Request, id string, events []Event, problems []FieldError) (
	ids, results []string, err error) {
	results = make([]string, len(events))
	if len(problems) > 0 {
		fill(results, resultInvalid)
		return nil, results, &httpError{status: http.StatusBadRequest, msg: "invalid events", details: problems}
	}
	xs := make([]tasks.Input, len(events))
	for i, ev := range events {
		if ev.Type == EventConversationRead && ev.ReadTime == 0 {
			// "Read now" means now, when the event is accepted, not when a
			// (possibly retried) task runs: a retry must not mark messages
			// that arrived since as read.
			ev.ReadTime = s.now().Unix()
		}
		xs[i] = eventInput(ev, id, i)
		if err := xs[i].Validate(); err != nil {
			results[i] = resultInvalid
			return nil, results, &httpError{status: http.StatusBadRequest, msg: "invalid events",
				details: []FieldError{inputProblem(i, err)}}
		}
	}
	res, err := s.acceptAll(r.Context(), xs)
	if err != nil {
		fill(results, resultUnavailable)
		return nil, results, unavailable(err)
	}
	ids = make([]string, len(events))
	for i := range res {
		if len(res[i].TaskIDs) > 0 {
			ids[i] = res[i].TaskIDs[0]
		}
		results[i] = resultEnqueued
		if res[i].Duplicate {
			results[i] = resultDuplicate
		}
	}
	return ids, results, nil
}

// inputProblem is the problem of the index-th event, whose input is
// invalid (err): the payload's field when err names one, else the event.
func inputProblem(index int, err error) FieldError {
	if fe := (*tasks.FieldError)(nil); errors.As(err, &fe) {
		return FieldError{Index: index, Field: fe.Field, Message: fe.Problem}
	}
	return FieldError{Index: index, Field: "event", Message: err.Error()}
}

func fill(s []string, v string) {
	for i := range s {
		s[i] = v
	}
}

// eventWindow is how long an event's redelivery is recognised: its
// webhook-timestamp is accepted EventTolerance either side of now.
const eventWindow = 2 * EventTolerance

// eventInput returns the input of the index-th event of delivery id.
func eventInput(ev Event, id string, index int) tasks.Input {
	x := tasks.Input{ID: tasks.ID("event", id, strconv.Itoa(index)), Account: ev.Account, Window: eventWindow}
	switch ev.Type {
	case EventConversationRead:
		sr := ev.setRead()
		x.SetRead = &sr
	case EventMessagesRead:
		rr := ev.readReceipt()
		x.Receipt = &rr
	default: // EventUnreadRefresh; decodeEvents admits no other type
		u := ev.unread()
		x.Unread = &u
	}
	return x
}

// source is the Source of the task an event makes.
func (ev Event) source() string { return "event:" + ev.Type }

// Payloads of the tasks an event makes.
func (ev Event) setRead() tasks.SetRead {
	return tasks.SetRead{Account: ev.Account, Peer: ev.Peer, ReadTime: ev.ReadTime, Source: ev.source()}
}

func (ev Event) readReceipt() tasks.ReadReceipt {
	return tasks.ReadReceipt{Account: ev.Account, Peer: ev.Peer, MsgKeys: ev.MsgKeys, Source: ev.source()}
}

func (ev Event) unread() tasks.Unread {
	return tasks.Unread{Account: ev.Account, Peers: ev.Peers, RefreshTotal: len(ev.Peers) == 0, Source: ev.source()}
}
