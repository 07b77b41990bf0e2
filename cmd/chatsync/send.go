package main

import (
	"context"
	"fmt"
	"time"

	"github.com/chatsync/chatsync/chatapi"
)

const sendUsage = `Sends one text message from one account to another through Chat's sendmsg REST API,
with the admin credentials of the environment, and prints its MsgKey. Chat then fires
C2C.CallbackAfterSendMsg at the callback URL: a way to try chatsync end to end (e.g.
'docker compose exec work chatsync send -from alice -to bob -text hi' in the demo) and a
smoke test against real Chat. The UserSig is made in-process and never printed.

Environment (required: CHAT_SDKAPPID, CHAT_SECRET_KEY, CHAT_REGION or CHAT_BASE_URL):
  CHAT_SDKAPPID, CHAT_SECRET_KEY, CHAT_ADMIN, CHAT_REGION, CHAT_BASE_URL   as for work
`

func runSend(ctx context.Context, p *process, args []string) error {
	fs := newFlagSet("send")
	from := fs.String("from", "", "the sending `account` (default: the admin)")
	to := fs.String("to", "", "the receiving `account` (required)")
	text := fs.String("text", "hello from chatsync", "the message `text`")
	if err := p.parseNoArgs(fs, args, "send -to account [-from account] [-text text]", sendUsage); err != nil {
		return err
	}
	if *to == "" {
		return &usageError{msg: "-to is required"}
	}
	cfg, err := parseConfig(modeSend, p.lookup)
	if err != nil {
		return err
	}
	chat, err := chatapi.New(chatapi.Config{SDKAppID: cfg.SDKAppID, SecretKey: cfg.SecretKey, Admin: cfg.Admin,
		Region: cfg.Region, BaseURL: cfg.BaseURL})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sent, err := chat.SendMsg(ctx, chatapi.SendMsgRequest{FromAccount: *from, ToAccount: *to,
		MsgBody: []chatapi.MsgElem{chatapi.TextElem(*text)}})
	if err != nil {
		return err
	}
	fmt.Fprintf(p.stdout, "sent MsgKey %s MsgTime %d\n", sent.MsgKey, sent.MsgTime)
	return nil
}
