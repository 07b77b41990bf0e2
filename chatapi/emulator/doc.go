// Package emulator is an in-memory Tencent Cloud Chat REST server for tests and local development.
//
// An [Emulator] serves the Chat REST surface at POST /v4/{servicename}/{command} and checks every
// request the way Chat does: the sdkappid, identifier (an App admin), usersig (verified with
// tencentyun.VerifyUserSig against Config.SecretKey), random and contenttype query parameters,
// the JSON body and the type of every field. Every answer is HTTP 200 with the Chat envelope
// {"ActionStatus":"OK"|"FAIL","ErrorInfo":"…","ErrorCode":N} plus the API's fields, except for
// injected HTTP-status faults. State (accounts, messages, read watermarks) lives in memory.
//
// # APIs
//
//   - im_open_login_svc/account_import, multiaccount_import, account_check
//   - openim/sendmsg, admin_getroammsg, admin_msgwithdraw
//   - openim/admin_set_msg_read, get_c2c_unread_msg_num, c2c_msg_read_receipt
//
// Unread for (user, peer) counts the messages peer→user that were not sent with
// SendMsgControl "NoUnread", are not withdrawn, and have MsgTime greater than the user's read
// watermark for that peer. admin_set_msg_read moves the watermark to max(old, MsgReadTime);
// c2c_msg_read_receipt sets IsPeerRead on messages and leaves unread counts alone.
//
// # Checks and error codes
//
// Checks run in this order; the first failure answers:
//
//	path not a known API                 60009
//	method other than POST               60002
//	sdkappid missing / wrong             60012 / 60006
//	identifier not an admin              60010
//	usersig missing                      70002
//	usersig undecodable                  70003
//	usersig sdkappid / identifier        70014 / 70013
//	usersig expired                      70001
//	usersig HMAC (or userbuf) mismatch   70009
//	random not a uint32                  60002
//	contenttype not json                 60002
//	over the rate limit                  60007
//	injected fault                       the fault's code or HTTP status
//	body empty or not a JSON object      90001 (openim), 60003 (im_open_login_svc)
//
// Where Chat's documentation leaves the code open, the emulator answers:
//
//   - sendmsg: To_Account missing or not a String 90003, not imported 90012; From_Account of
//     the wrong type or not imported 90008 (absent = the calling admin); MsgRandom 90005;
//     MsgBody not an Array 90007, empty or malformed elements 90002, larger than 12 KB 93000;
//     MsgLifeTime not an Integer 90044, outside 0..604800 90026; SyncOtherMachine 90031;
//     other wrong field types 90001. The 120 s de-dup key is From_Account, To_Account,
//     MsgSeq, MsgRandom and the CRC32 of MsgBody; calls without MsgSeq (which get a random one)
//     are never de-duplicated.
//   - admin_set_msg_read: Report_Account (the reader, the "To" side) missing or not imported
//     90003; Peer_Account (the sender, the "From" side) 90008; MsgReadTime (a String or a
//     Number of unix seconds, "" = now) not a non-negative integer 90001.
//   - get_c2c_unread_msg_num: To_Account 90003; Peer_Account not an Array of String, or more
//     than 10 entries, 90001; unknown peers are listed in ErrorList with 70107. An empty
//     Peer_Account array is treated as absent and answers AllC2CUnreadMsgNum.
//   - c2c_msg_read_receipt: invalid JSON 90001; a missing field, a wrong type, an empty
//     C2CMsgInfo, From_Account≠Peer_Account, To_Account≠Operator_Account or an unknown MsgKey
//     20001; Operator_Account or Peer_Account not imported 20003. The call is all or nothing.
//     Assumption: C2CMsgInfo holds at most Config.MaxReceiptMsgs items (default
//     chatapi.MaxReceiptMsgs, 100); more answer 20001. Chat documents no maximum.
//   - admin_getroammsg: Operator_Account 90008, Peer_Account 90003 (the older
//     From_Account/To_Account form is accepted too); MaxCnt < 1, MinTime > MaxTime or other
//     wrong fields 90001.
//   - admin_msgwithdraw: From_Account 90008, To_Account 90003, MsgKey missing 90054, not found
//     20022, already withdrawn 20023.
//   - account APIs: a bad UserID or field 70402; more than 100 items in multiaccount_import or
//     account_check 70206. Admins are always imported.
//
// # Rate limit and faults
//
// Each API has its own strict sliding one-second window: a call is accepted only if fewer than
// the limit calls of that API were accepted in the preceding second by Config.Now (the window
// is (now−1s, now], measured when the request arrives); rejected calls answer 60007 and do not
// count. A client that paces itself by send time to exactly the limit can still see 60007 when
// network delays bunch its calls up; it needs a small margin. Faults (see [Fault]) apply
// after authentication and the rate limit and before the API logic, so a faulted call changes
// no state.
//
// # Callbacks
//
// When a callback URL is set, sendmsg fires C2C.CallbackAfterSendMsg (unless
// ForbidAfterSendMsgCallback), admin_set_msg_read fires C2C.CallbackAfterMsgReport,
// c2c_msg_read_receipt fires C2C.CallbackAfterMsgReadReceipt and admin_msgwithdraw fires
// C2C.CallbackAfterMsgWithDraw. They are posted asynchronously, in order per conversation, with
// the query SdkAppid, CallbackCommand, contenttype=json, ClientIP=127.0.0.1,
// OptPlatform=RESTAPI and, with a token, Sign and RequestTime (see [github.com/chatsync/chatsync/chatapi.CallbackSign]). A callback
// succeeds on HTTP 200 with a JSON body whose ActionStatus is "OK"; it is never retried.
//
// With Config.BeforeSendMsgCallback, sendmsg first posts C2C.CallbackBeforeSendMsg and waits
// for the reply (unless ForbidBeforeSendMsgCallback): ErrorCode 0 delivers, with the reply's
// MsgBody and CloudCustomData when given; 1 answers 20006; 2 drops the message but answers
// success; 120001–130000 answer that code and the reply's ErrorInfo. A failed or timed-out
// callback delivers the message unchanged.
//
// # Inspection surface
//
// Outside /v4/ the handler serves JSON for tests and tools. It needs no authentication.
//
//	GET    /emulator/stats                      Stats
//	GET    /emulator/requests?api=A&limit=N     recent Requests, oldest first (api and limit optional)
//	GET    /emulator/unread?user=X              {"User":X,"Total":n,"PerPeer":{peer:n}}
//	GET    /emulator/faults                     current faults by API
//	PUT    /emulator/faults/{svc}/{cmd}         set a Fault from its JSON; Latency is a Go
//	                                            duration string ("50ms") or a number of milliseconds
//	DELETE /emulator/faults/{svc}/{cmd}         remove one API's fault
//	DELETE /emulator/faults                     remove every fault
//	PUT    /emulator/ratelimit                  {"PerSecond":N} (0 = 200, <0 = unlimited)
//	POST   /emulator/accounts                   {"UserIDs":["a","b"]} imports accounts
//	PUT    /emulator/callback                   {"URL":"http://…"} sets the callback URL ("" = none)
//
// Mutations answer 204; bad input answers 400, and an unknown API or endpoint 404, with
// {"error":"…"}.
//
// # Not modelled
//
// Online state and online-only delivery (MsgLifeTime is validated, every message is stored and
// OnlineOnlyFlag is 0), roaming retention, SyncOtherMachine (both sides see the same history),
// NoLastMsg, offline push, content moderation, retries of after-event callbacks,
// Alert.RequestOverLimit, group chat, friendship and blacklists, account deletion, the other
// REST APIs (batchsendmsg, importmsg, modify_c2c_msg, …), per-edition feature gates, the daily
// message quota of trial editions and per-API default limits (one limit applies to every API).
// Recalled messages keep their MsgBody in admin_getroammsg.
package emulator
