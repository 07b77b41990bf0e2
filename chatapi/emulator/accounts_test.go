package emulator_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAccountAPIs(t *testing.T) {
	h := setup(t, nil)
	long := strings.Repeat("x", 33)
	h.ok("im_open_login_svc/account_import", `{"UserID":"u1"}`)
	h.ok("im_open_login_svc/account_import", `{"UserID":"u1","Nick":"again"}`) // idempotent

	got := h.ok("im_open_login_svc/multiaccount_import", fmt.Sprintf(`{"Accounts":["u2","u3",%q]}`, long))
	if diff := cmp.Diff([]any{long}, got["FailAccounts"]); diff != "" {
		t.Errorf("FailAccounts, old form (-want +got):\n%s", diff)
	}
	got = h.ok("im_open_login_svc/multiaccount_import", `{"AccountList":[{"UserID":"u4","Nick":"n"},{"UserID":""}]}`)
	if diff := cmp.Diff([]any{""}, got["FailAccounts"]); diff != "" {
		t.Errorf("FailAccounts, new form (-want +got):\n%s", diff)
	}

	got = h.ok("im_open_login_svc/account_check", fmt.Sprintf(`{"CheckItem":[{"UserID":"u1"},{"UserID":"u4"},{"UserID":"nobody"},{"UserID":%q},{"UserID":%q}]}`, testAdmin, long))
	want := decode(t, fmt.Sprintf(`{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,"ResultItem":[
		{"UserID":"u1","ResultCode":0,"ResultInfo":"","AccountStatus":"Imported"},
		{"UserID":"u4","ResultCode":0,"ResultInfo":"","AccountStatus":"Imported"},
		{"UserID":"nobody","ResultCode":0,"ResultInfo":"","AccountStatus":"NotImported"},
		{"UserID":%q,"ResultCode":0,"ResultInfo":"","AccountStatus":"Imported"},
		{"UserID":%q,"ResultCode":70402,"ResultInfo":"invalid UserID","AccountStatus":"NotImported"}]}`, testAdmin, long))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("account_check (-want +got):\n%s", diff)
	}

	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf("%q", fmt.Sprint("m", i))
	}
	tests := []struct {
		name, api, body string
		want            int
	}{
		{"import: UserID missing", "im_open_login_svc/account_import", `{"Nick":"n"}`, 70402},
		{"import: UserID too long", "im_open_login_svc/account_import", fmt.Sprintf(`{"UserID":%q}`, long), 70402},
		{"import: UserID number", "im_open_login_svc/account_import", `{"UserID":1}`, 70402},
		{"import: Nick number", "im_open_login_svc/account_import", `{"UserID":"u9","Nick":1}`, 70402},
		{"multi: nothing", "im_open_login_svc/multiaccount_import", `{}`, 70402},
		{"multi: empty", "im_open_login_svc/multiaccount_import", `{"Accounts":[]}`, 70206},
		{"multi: 101", "im_open_login_svc/multiaccount_import", `{"Accounts":[` + strings.Join(many, ",") + `]}`, 70206},
		{"check: missing", "im_open_login_svc/account_check", `{}`, 70402},
		{"check: empty", "im_open_login_svc/account_check", `{"CheckItem":[]}`, 70206},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.code(tt.api, tt.body); got != tt.want {
				t.Errorf("ErrorCode = %d, want %d", got, tt.want)
			}
		})
	}
}
