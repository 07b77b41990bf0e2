package emulator

import (
	"errors"
	"time"
)

// maxBatch bounds multiaccount_import and account_check.
const maxBatch = 100

// state is everything the REST APIs change. It is guarded by Emulator.mu.
type state struct {
	users  map[string]*user
	dedup  map[dedupKey]dedupEntry
	dedupQ []dedupRef // oldest first, for expiry
	ids    uint64     // message numbers handed out, for order and MsgId
}

// user is an imported account and its C2C inboxes.
type user struct {
	id      string
	nick    string
	faceURL string
	inbox   map[string]*inbox // by sender
	unread  int               // sum of inbox unread
}

func newState() state {
	return state{users: make(map[string]*user), dedup: make(map[dedupKey]dedupEntry)}
}

// importAccount imports id, or updates its profile when nick or faceURL is given.
func (s *state) importAccount(id, nick, faceURL string) {
	u := s.users[id]
	if u == nil {
		u = &user{id: id, inbox: make(map[string]*inbox)}
		s.users[id] = u
	}
	if nick != "" {
		u.nick = nick
	}
	if faceURL != "" {
		u.faceURL = faceURL
	}
}

// ImportAccounts imports the given UserIDs, as account_import does. IDs that are empty or
// longer than 32 bytes are skipped. Importing an existing account does nothing.
func (e *Emulator) ImportAccounts(ids ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, id := range ids {
		if validUserID(id) {
			e.st.importAccount(id, "", "")
		}
	}
}

// accountFields reads {UserID, Nick?, FaceUrl?}.
func accountFields(o object) (id, nick, face string, err error) {
	if id, err = o.str("UserID"); err != nil {
		return "", "", "", errors.New("UserID " + err.Error())
	}
	if !validUserID(id) {
		return "", "", "", errors.New("UserID must be 1 to 32 bytes")
	}
	if nick, _, err = o.optStr("Nick"); err != nil {
		return "", "", "", errors.New("Nick " + err.Error())
	}
	if face, _, err = o.optStr("FaceUrl"); err != nil {
		return "", "", "", errors.New("FaceUrl " + err.Error())
	}
	return id, nick, face, nil
}

// accountImport serves im_open_login_svc/account_import.
func (e *Emulator) accountImport(c *call) (any, *apiError) {
	id, nick, face, err := accountFields(c.obj)
	if err != nil {
		return nil, fail(70402, "invalid parameter: %v", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.st.importAccount(id, nick, face)
	return ok(), nil
}

type multiImportResponse struct {
	envelope
	FailAccounts []string `json:"FailAccounts"`
}

// importEntry is one account of multiaccount_import.
type importEntry struct {
	id, nick, face string
	bad            bool // a bad UserID, Nick or FaceUrl
}

// multiAccountImport serves im_open_login_svc/multiaccount_import in its old form
// {"Accounts":[...]} and its new form {"AccountList":[{"UserID",...}]}. Invalid UserIDs are
// reported in FailAccounts.
func (e *Emulator) multiAccountImport(c *call) (any, *apiError) {
	entries, aerr := importEntries(c.obj)
	if aerr != nil {
		return nil, aerr
	}
	if n := len(entries); n == 0 || n > maxBatch {
		return nil, fail(70206, "invalid batch size %d, want 1 to %d accounts", n, maxBatch)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	failed := []string{}
	for _, en := range entries {
		if en.bad || !validUserID(en.id) {
			failed = append(failed, en.id)
			continue
		}
		e.st.importAccount(en.id, en.nick, en.face)
	}
	return multiImportResponse{envelope: ok(), FailAccounts: failed}, nil
}

// importEntries reads the accounts of either form; bad entries are kept, marked, so that they
// end up in FailAccounts.
func importEntries(o object) ([]importEntry, *apiError) {
	ids, hasOld, err := o.optStrList("Accounts")
	if err != nil {
		return nil, fail(70402, "invalid parameter: Accounts %v", err)
	}
	list, hasNew, err := o.optList("AccountList")
	if err != nil {
		return nil, fail(70402, "invalid parameter: AccountList %v", err)
	}
	var entries []importEntry
	switch {
	case hasOld && hasNew:
		return nil, fail(70402, "invalid parameter: give Accounts or AccountList, not both")
	case hasOld:
		for _, id := range ids {
			entries = append(entries, importEntry{id: id})
		}
	case hasNew:
		objs, err := objects(list)
		if err != nil {
			return nil, fail(70402, "invalid parameter: AccountList %v", err)
		}
		for _, o := range objs {
			id, nick, face, err := accountFields(o)
			if err != nil {
				id, _, _ = o.optStr("UserID")
			}
			entries = append(entries, importEntry{id, nick, face, err != nil})
		}
	default:
		return nil, fail(70402, "invalid parameter: Accounts or AccountList is required")
	}
	return entries, nil
}

type checkResult struct {
	UserID        string `json:"UserID"`
	ResultCode    int    `json:"ResultCode"`
	ResultInfo    string `json:"ResultInfo"`
	AccountStatus string `json:"AccountStatus"`
}

type checkResponse struct {
	envelope
	ResultItem []checkResult `json:"ResultItem"`
}

// accountCheck serves im_open_login_svc/account_check.
func (e *Emulator) accountCheck(c *call) (any, *apiError) {
	list, present, err := c.obj.optList("CheckItem")
	if !present {
		err = errMissing
	}
	if err != nil {
		return nil, fail(70402, "invalid parameter: CheckItem %v", err)
	}
	if len(list) == 0 || len(list) > maxBatch {
		return nil, fail(70206, "invalid batch size %d, want 1 to %d items", len(list), maxBatch)
	}
	objs, err := objects(list)
	if err != nil {
		return nil, fail(70402, "invalid parameter: CheckItem %v", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out := checkResponse{envelope: ok(), ResultItem: make([]checkResult, len(objs))}
	for i, o := range objs {
		id, err := o.str("UserID")
		r := checkResult{UserID: id, AccountStatus: "NotImported"}
		switch {
		case err != nil || !validUserID(id):
			r.ResultCode, r.ResultInfo = 70402, "invalid UserID"
		case e.st.users[id] != nil:
			r.AccountStatus = "Imported"
		}
		out.ResultItem[i] = r
	}
	return out, nil
}

// accountExists reports whether id is imported. The caller holds e.mu.
func (e *Emulator) accountExists(id string) bool { return e.st.users[id] != nil }

// eventTime is a callback EventTime: unix milliseconds.
func eventTime(t time.Time) int64 { return t.UnixMilli() }

// ref returns a pointer to a copy of v, for the optional fields of
// callback bodies.
func ref[T any](v T) *T { return &v }
