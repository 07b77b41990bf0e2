package emulator

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// routes builds the handler: the Chat surface for every path outside /emulator/, and the
// inspection surface under it.
func (e *Emulator) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/", e.serveAPI)
	mux.HandleFunc("GET /emulator/stats", e.handleStats)
	mux.HandleFunc("GET /emulator/requests", e.handleRequests)
	mux.HandleFunc("GET /emulator/unread", e.handleUnread)
	mux.HandleFunc("GET /emulator/faults", e.handleFaults)
	mux.HandleFunc("PUT /emulator/faults/{svc}/{cmd}", e.handleSetFault)
	mux.HandleFunc("DELETE /emulator/faults/{svc}/{cmd}", e.handleClearFault)
	mux.HandleFunc("DELETE /emulator/faults", e.handleClearFaults)
	mux.HandleFunc("PUT /emulator/ratelimit", e.handleRateLimit)
	mux.HandleFunc("POST /emulator/accounts", e.handleAccounts)
	mux.HandleFunc("PUT /emulator/callback", e.handleCallbackURL)
	mux.HandleFunc("/emulator/", func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, http.StatusNotFound, fmt.Errorf("no inspection endpoint %s %s", r.Method, r.URL.Path))
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeJSONError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// decodeJSON reads a small JSON request body into v.
func decodeJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func (e *Emulator) handleStats(w http.ResponseWriter, _ *http.Request) { writeJSON(w, e.Stats()) }

func (e *Emulator) handleRequests(w http.ResponseWriter, r *http.Request) {
	reqs := e.Requests(r.URL.Query().Get("api"))
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeJSONError(w, http.StatusBadRequest, fmt.Errorf("limit %q must be a non-negative integer", s))
			return
		}
		reqs = reqs[max(len(reqs)-n, 0):]
	}
	writeJSON(w, reqs)
}

func (e *Emulator) handleUnread(w http.ResponseWriter, r *http.Request) {
	user := r.URL.Query().Get("user")
	if user == "" {
		writeJSONError(w, http.StatusBadRequest, fmt.Errorf("user is required"))
		return
	}
	total, perPeer := e.Unread(user)
	writeJSON(w, struct {
		User    string
		Total   int
		PerPeer map[string]int
	}{user, total, perPeer})
}

func (e *Emulator) handleFaults(w http.ResponseWriter, _ *http.Request) { writeJSON(w, e.Faults()) }

func (e *Emulator) handleSetFault(w http.ResponseWriter, r *http.Request) {
	api := r.PathValue("svc") + "/" + r.PathValue("cmd")
	if _, ok := lookup(api); !ok {
		writeJSONError(w, http.StatusNotFound, fmt.Errorf("unknown API %q", api))
		return
	}
	var f Fault
	if err := decodeJSON(r, &f); err != nil {
		writeJSONError(w, http.StatusBadRequest, fmt.Errorf("fault: %w", err))
		return
	}
	if err := f.validate(); err != nil {
		writeJSONError(w, http.StatusBadRequest, fmt.Errorf("fault: %w", err))
		return
	}
	e.SetFault(api, f)
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) handleClearFault(w http.ResponseWriter, r *http.Request) {
	e.faults.clear(r.PathValue("svc") + "/" + r.PathValue("cmd"))
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) handleClearFaults(w http.ResponseWriter, _ *http.Request) {
	e.ClearFaults()
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) handleRateLimit(w http.ResponseWriter, r *http.Request) {
	var body struct{ PerSecond *int }
	if err := decodeJSON(r, &body); err != nil || body.PerSecond == nil {
		writeJSONError(w, http.StatusBadRequest, fmt.Errorf(`want {"PerSecond":N}`))
		return
	}
	e.SetRateLimit(*body.PerSecond)
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) handleAccounts(w http.ResponseWriter, r *http.Request) {
	var body struct{ UserIDs []string }
	if err := decodeJSON(r, &body); err != nil || len(body.UserIDs) == 0 {
		writeJSONError(w, http.StatusBadRequest, fmt.Errorf(`want {"UserIDs":["a","b"]}`))
		return
	}
	for _, id := range body.UserIDs {
		if !validUserID(id) {
			writeJSONError(w, http.StatusBadRequest, fmt.Errorf("UserID %q must be 1 to %d bytes", id, maxUserIDLen))
			return
		}
	}
	e.ImportAccounts(body.UserIDs...)
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) handleCallbackURL(w http.ResponseWriter, r *http.Request) {
	var body struct{ URL *string }
	if err := decodeJSON(r, &body); err != nil || body.URL == nil {
		writeJSONError(w, http.StatusBadRequest, fmt.Errorf(`want {"URL":"http://…"}`))
		return
	}
	if *body.URL != "" {
		if err := checkCallbackURL(*body.URL); err != nil {
			writeJSONError(w, http.StatusBadRequest, err)
			return
		}
	}
	e.SetCallbackURL(*body.URL)
	w.WriteHeader(http.StatusNoContent)
}
