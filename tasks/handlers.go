package tasks

import (
	"context"

	"github.com/hibiken/asynq"

	"github.com/chatsync/chatsync/chatapi"
)

// handleSetRead marks a conversation read with admin_set_msg_read.
func (w *Worker) handleSetRead(ctx context.Context, t *asynq.Task) error {
	p, err := decode[SetRead](t)
	if err != nil {
		return err
	}
	return w.chatError(w.chat.SetMsgRead(ctx, chatapi.SetMsgReadRequest{
		ReportAccount: p.Account,
		PeerAccount:   p.Peer,
		MsgReadTime:   p.ReadTime,
	}))
}

// handleReadReceipt sends read receipts with c2c_msg_read_receipt.
func (w *Worker) handleReadReceipt(ctx context.Context, t *asynq.Task) error {
	p, err := decode[ReadReceipt](t)
	if err != nil {
		return err
	}
	msgs := make([]chatapi.MsgRef, len(p.MsgKeys))
	for i, k := range p.MsgKeys {
		msgs[i] = chatapi.MsgRef{FromAccount: p.Peer, ToAccount: p.Account, MsgKey: k}
	}
	return w.chatError(w.chat.SendReadReceipt(ctx, chatapi.ReadReceiptRequest{
		OperatorAccount: p.Account,
		PeerAccount:     p.Peer,
		Messages:        msgs,
	}))
}
