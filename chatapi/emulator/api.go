package emulator

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// maxBody bounds a REST request body.
const maxBody = 1 << 20

// envelope is the part of every REST answer.
type envelope struct {
	ActionStatus string `json:"ActionStatus"`
	ErrorInfo    string `json:"ErrorInfo"`
	ErrorCode    int    `json:"ErrorCode"`
}

func ok() envelope { return envelope{ActionStatus: "OK"} }

// apiError is a Chat error answer.
type apiError struct {
	code int
	info string
}

func fail(code int, format string, args ...any) *apiError {
	return &apiError{code: code, info: fmt.Sprintf(format, args...)}
}

// call is one REST call on its way through an endpoint handler.
type call struct {
	api        string
	identifier string // the calling admin
	now        time.Time
	obj        object
}

// endpoint describes one REST API.
type endpoint struct {
	parseCode int // ErrorCode for a body that is not a JSON object
	handle    func(*Emulator, *call) (any, *apiError)
}

// lookup returns the endpoint for "svc/cmd".
func lookup(api string) (endpoint, bool) {
	const login, openim = 60003, 90001
	switch api {
	case "im_open_login_svc/account_import":
		return endpoint{login, (*Emulator).accountImport}, true
	case "im_open_login_svc/multiaccount_import":
		return endpoint{login, (*Emulator).multiAccountImport}, true
	case "im_open_login_svc/account_check":
		return endpoint{login, (*Emulator).accountCheck}, true
	case "openim/sendmsg":
		return endpoint{openim, (*Emulator).sendMsg}, true
	case "openim/admin_getroammsg":
		return endpoint{openim, (*Emulator).getRoamMsg}, true
	case "openim/admin_msgwithdraw":
		return endpoint{openim, (*Emulator).msgWithdraw}, true
	case "openim/admin_set_msg_read":
		return endpoint{openim, (*Emulator).setMsgRead}, true
	case "openim/get_c2c_unread_msg_num":
		return endpoint{openim, (*Emulator).getUnread}, true
	case "openim/c2c_msg_read_receipt":
		return endpoint{openim, (*Emulator).readReceipt}, true
	}
	return endpoint{}, false
}

// statusClientClosed records a call dropped because its client went away during an injected
// latency (nginx's convention); nothing is written.
const statusClientClosed = 499

// outcome is what the emulator answers to one REST request.
type outcome struct {
	status  int // HTTP status
	code    int
	payload any // JSON answer when status is 200
}

func failed(err *apiError) outcome {
	return outcome{status: http.StatusOK, code: err.code,
		payload: envelope{ActionStatus: "FAIL", ErrorInfo: err.info, ErrorCode: err.code}}
}

// serveAPI answers every request outside /emulator/ as Chat would. The rate limit counts a call
// at its arrival, before its body is read.
func (e *Emulator) serveAPI(w http.ResponseWriter, r *http.Request) {
	arrived := e.now()
	api := strings.TrimPrefix(r.URL.Path, "/v4/")
	body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	out := e.process(r, api, arrived, body, readErr)
	e.rec.record(Request{Time: arrived, API: api, Body: rawBody(body),
		ErrorCode: out.code, HTTPStatus: out.status})
	e.log.Debug("chat api call", "api", api, "code", out.code, "status", out.status)
	switch out.status {
	case statusClientClosed:
		return
	case http.StatusOK:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out.payload)
	default:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(out.status)
		fmt.Fprintf(w, "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%[1]d %[2]s</h1></center>\r\n</body>\r\n</html>\r\n",
			out.status, http.StatusText(out.status))
	}
}

// process runs the checks, the rate limit, faults and the API logic, in that order.
// Handlers queue their callbacks while they hold the state lock, so that the callbacks of one
// conversation go out in the order of its changes.
func (e *Emulator) process(r *http.Request, api string, arrived time.Time, body []byte, readErr error) outcome {
	ep, known := lookup(api)
	if !known || !strings.HasPrefix(r.URL.Path, "/v4/") {
		return failed(fail(60009, "resource %q not found, check the URL", r.URL.Path))
	}
	if r.Method != http.MethodPost {
		return failed(fail(60002, "HTTP method %s not allowed, use POST", r.Method))
	}
	identifier, aerr := e.authenticate(r.URL.Query())
	if aerr != nil {
		return failed(aerr)
	}
	if !e.limiter.allow(api, arrived) {
		return failed(fail(60007, "REST API call frequency over the limit of %s", api))
	}
	if out, faulted := e.injectFault(r, api); faulted {
		return out
	}
	if readErr != nil {
		return failed(fail(60002, "request body: %v", readErr))
	}
	obj, err := parseObject(body)
	if err != nil {
		return failed(fail(ep.parseCode, "Fail to Parse json data of body, Please check it: %v", err))
	}
	c := &call{api: api, identifier: identifier, now: e.now(), obj: obj}
	resp, aerr := ep.handle(e, c)
	if aerr != nil {
		return failed(aerr)
	}
	return outcome{status: http.StatusOK, payload: resp}
}

// rawBody turns a request body into something Requests can hold: the JSON itself when valid,
// otherwise a JSON string of the bytes, and nil when empty.
func rawBody(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	if json.Valid(b) {
		return json.RawMessage(b)
	}
	s, _ := json.Marshal(string(b))
	return s
}
