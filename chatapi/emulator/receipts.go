package emulator

import "github.com/chatsync/chatsync/chatapi"

// parseReceipt checks a c2c_msg_read_receipt body and returns the operator, the peer and the
// MsgKeys acknowledged.
func parseReceipt(o object, maxItems int) (op, peer string, keys []string, aerr *apiError) {
	var err error
	if op, err = o.str("Operator_Account"); err != nil {
		return "", "", nil, fail(20001, "invalid packet: Operator_Account %v", err)
	}
	if peer, err = o.str("Peer_Account"); err != nil {
		return "", "", nil, fail(20001, "invalid packet: Peer_Account %v", err)
	}
	items, present, err := o.optList("C2CMsgInfo")
	switch {
	case !present:
		return "", "", nil, fail(20001, "invalid packet: C2CMsgInfo is missing")
	case err != nil:
		return "", "", nil, fail(20001, "invalid packet: C2CMsgInfo %v", err)
	case len(items) == 0:
		return "", "", nil, fail(20001, "invalid packet: C2CMsgInfo is empty")
	case maxItems > 0 && len(items) > maxItems:
		return "", "", nil, fail(20001, "invalid packet: C2CMsgInfo has %d items, more than %d", len(items), maxItems)
	}
	infos, err := objects(items)
	if err != nil {
		return "", "", nil, fail(20001, "invalid packet: C2CMsgInfo %v", err)
	}
	for i, in := range infos {
		from, err1 := in.str("From_Account")
		to, err2 := in.str("To_Account")
		key, err3 := in.str("MsgKey")
		switch {
		case err1 != nil || err2 != nil || err3 != nil || key == "":
			return "", "", nil, fail(20001, "invalid packet: C2CMsgInfo item %d needs From_Account, To_Account and MsgKey Strings", i)
		case from != peer || to != op:
			return "", "", nil, fail(20001, "invalid packet: C2CMsgInfo item %d must have From_Account = Peer_Account and To_Account = Operator_Account", i)
		}
		keys = append(keys, key)
	}
	return op, peer, keys, nil
}

// readReceipt serves openim/c2c_msg_read_receipt: Operator_Account acknowledges messages that
// Peer_Account sent. It sets IsPeerRead and leaves unread counts alone. All or nothing.
func (e *Emulator) readReceipt(c *call) (any, *apiError) {
	op, peer, keys, aerr := parseReceipt(c.obj, e.maxReceipt)
	if aerr != nil {
		return nil, aerr
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.st.users[op]
	if u == nil {
		return nil, fail(20003, "Operator_Account %q is invalid or not imported", op)
	}
	if !e.accountExists(peer) {
		return nil, fail(20003, "Peer_Account %q is invalid or not imported", peer)
	}
	ib := u.inbox[peer]
	infos := make([]chatapi.ReceiptMsgInfo, len(keys))
	for i, k := range keys {
		if ib == nil || len(ib.byKey[k]) == 0 {
			return nil, fail(20001, "invalid packet: no message %s from %s to %s", k, peer, op)
		}
		infos[i] = chatapi.ReceiptMsgInfo{FromAccount: peer, ToAccount: op, MsgKey: k, MsgID: ib.byKey[k][0].id}
	}
	for _, k := range keys {
		for _, m := range ib.byKey[k] {
			m.peerRead = true
		}
	}
	e.cb.enqueue(callback{
		command: chatapi.CommandAfterMsgReadReceipt, order: conversationKey(op, peer),
		body: chatapi.AfterMsgReadReceipt{CallbackCommand: chatapi.CommandAfterMsgReadReceipt, OperatorAccount: op,
			PeerAccount: peer, C2CMsgInfo: infos, EventTime: eventTime(c.now)},
	})
	return ok(), nil
}
