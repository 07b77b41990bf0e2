package main

import (
	"context"
	"strconv"

	"github.com/hibiken/asynq"

	"github.com/chatsync/chatsync/tasks"
)

// RawTasks returns the tasks a hand-written callback handler would enqueue
// for r with tasks.Builder, one per event and API, as chatsync did before it
// coalesced: the unread tasks are chatsync's own (types, payloads, IDs),
// while set-read and read-receipt tasks carry their event's read point or
// MsgKeys themselves, where chatsync merges them into their conversation's
// pending state. Requests chatsync answers without a task give none.
func RawTasks(b tasks.Builder, r Request, autoRead map[string]bool) ([]*asynq.Task, error) {
	total := func(n int) *int { return &n }
	var ts []*asynq.Task
	add := func(t *asynq.Task, err error) error {
		if err == nil {
			ts = append(ts, t)
		}
		return err
	}
	var err error
	switch r.Kind {
	case KindSendMsg, KindSendAutoRead:
		src := "callback:" + cmdAfterSendMsg
		err = add(b.Unread(tasks.Unread{Account: r.To, Peers: []string{r.From}, Total: total(r.UnreadMsgNum),
			TotalAt: r.MsgTime * 1000, Source: src}, tasks.ID(cmdAfterSendMsg, r.From, r.To, r.MsgKey)))
		if err == nil && autoRead[r.To] {
			err = add(b.SetRead(tasks.SetRead{Account: r.To, Peer: r.From, ReadTime: r.MsgTime, Source: src},
				r.From, r.To, r.MsgKey))
			if err == nil {
				err = add(b.ReadReceipt(tasks.ReadReceipt{Account: r.To, Peer: r.From, MsgKeys: []string{r.MsgKey},
					Source: src}, r.From, r.To, r.MsgKey))
			}
		}
	case KindMsgReport:
		err = add(b.Unread(tasks.Unread{Account: r.To, Peers: []string{r.From}, Total: total(r.UnreadMsgNum),
			TotalAt: r.EventTime, Source: "callback:" + cmdAfterMsgReport},
			tasks.ID(cmdAfterMsgReport, r.To, r.From, strconv.FormatInt(r.MsgTime, 10))))
	case KindConversationRead:
		err = add(b.SetRead(tasks.SetRead{Account: r.To, Peer: r.From, ReadTime: r.MsgTime,
			Source: "event:conversation.read"}, r.ID, "0"))
	case KindMessagesRead:
		err = add(b.ReadReceipt(tasks.ReadReceipt{Account: r.To, Peer: r.From, MsgKeys: r.MsgKeys,
			Source: "event:messages.read"}, r.ID, "0"))
	case KindUnreadRefresh:
		err = add(b.Unread(tasks.Unread{Account: r.To, Peers: r.Peers, RefreshTotal: len(r.Peers) == 0,
			Source: "event:unread.refresh"}, tasks.ID("event", r.ID, "0")))
	}
	return ts, err
}

// RawOp returns a loop Op that enqueues the tasks of gen's requests with
// enq, one after another as chatsync does, and counts them in *tasksDone.
// A duplicate counts as success, as in chatsync.
func RawOp(enq *asynq.Client, b tasks.Builder, gen *Generator, autoRead map[string]bool, tasksDone *int64) Op {
	return func(ctx context.Context, _ int64) Outcome {
		r := gen.Next()
		o := Outcome{Kind: r.Kind, Label: outcomeOK}
		ts, err := RawTasks(b, r, autoRead)
		if err != nil {
			o.Label = "encode"
			return o
		}
		for _, t := range ts {
			if _, err := enq.EnqueueContext(ctx, t); err != nil && !tasks.IsDuplicate(err) {
				o.Label = "enqueue"
				return o
			}
			*tasksDone++
		}
		return o
	}
}
