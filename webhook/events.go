package webhook

import (
	"net/http"
	"strconv"

	"github.com/hibiken/asynq"
	"github.com/labstack/echo/v4"

	"github.com/chatsync/chatsync/tasks"
)

// accepted is the 202 answer of POST /v1/events: the IDs of the events'
// tasks, in event order, whether new or already there.
type accepted struct {
	TaskIDs []string `json:"task_ids"`
}

// postEvents serves POST /v1/events: it checks the Standard Webhooks
// signature, decodes and validates every event, and answers 202 once all of
// their tasks are in Redis. A batch with one invalid event enqueues
// nothing. The webhook-id is the idempotency key: task IDs derive from it
// and the event's index, so a redelivery answers 202 again and adds no task.
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
	body := bd.b

	id, err := s.events.verify(body, r.Header, s.now())
	if err != nil {
		return statusError(http.StatusUnauthorized, "%s", err.Error())
	}
	events, problems, err := decodeEvents(body, s.now())
	if err != nil {
		return badRequest(err.Error(), nil)
	}
	if len(problems) > 0 {
		for _, ev := range events {
			s.m.event(ev.Type, resultInvalid)
		}
		return &httpError{status: http.StatusBadRequest, msg: "invalid events", details: problems}
	}

	ts := make([]*asynq.Task, len(events))
	for i, ev := range events {
		if ev.Type == EventConversationRead && ev.ReadTime == 0 {
			// "Read now" means now, when the event is accepted, not when a
			// (possibly retried) task runs: a retry must not mark messages
			// that arrived since as read.
			ev.ReadTime = s.now().Unix()
		}
		if ts[i], err = s.eventTask(ev, id, i); err != nil {
			s.m.event(ev.Type, resultInvalid)
			return &httpError{status: http.StatusBadRequest, msg: "invalid events",
				details: []FieldError{{Index: i, Field: "event", Message: err.Error()}}}
		}
	}
	added := make([]bool, len(ts))
	if err := s.enqueueBatch(r.Context(), ts, added); err != nil {
		for _, ev := range events {
			s.m.event(ev.Type, resultUnavailable)
		}
		return unavailable(err)
	}
	ids := make([]string, len(ts))
	for i, ev := range events {
		ids[i] = tasks.ID(ts[i].Type(), id, strconv.Itoa(i)) // the ID eventTask's Builder gave it
		result := resultDuplicate
		if added[i] {
			result = resultEnqueued
		}
		s.m.event(ev.Type, result)
	}
	return writeJSON(c, http.StatusAccepted, accepted{TaskIDs: ids})
}

// eventTask returns the task of the index-th event of delivery id.
func (s *Server) eventTask(ev Event, id string, index int) (*asynq.Task, error) {
	part := strconv.Itoa(index)
	switch ev.Type {
	case EventConversationRead:
		return s.tb.SetRead(ev.setRead(), id, part)
	case EventMessagesRead:
		return s.tb.ReadReceipt(ev.readReceipt(), id, part)
	default: // EventUnreadRefresh; decodeEvents admits no other type
		return s.tb.Unread(ev.unread(), id, part)
	}
}
