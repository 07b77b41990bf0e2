package webhook

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/tasks"
)

// unread serves GET /v1/users/:id/unread: the user's last unread snapshot
// (tasks.Snapshot as JSON), for a caller presenting the API key as a bearer
// token. Unknown users get 404, a failing store 503.
func (s *Server) unread(c echo.Context) error {
	if !s.authorized(c.Request().Header.Get(echo.HeaderAuthorization)) {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="chatsync"`)
		return statusError(http.StatusUnauthorized, "missing or wrong API key")
	}
	id, err := url.PathUnescape(c.Param("id"))
	if err != nil {
		return badRequest("user id is badly escaped", nil)
	}
	if err := chatapi.CheckUserID(id); err != nil {
		return badRequest("user id "+err.Error(), nil)
	}
	snap, err := s.snapshots.Snapshot(c.Request().Context(), id)
	switch {
	case errors.Is(err, tasks.ErrNoSnapshot):
		return &httpError{status: http.StatusNotFound, msg: "no unread snapshot for this user", err: err}
	case err != nil:
		return unavailable(err)
	}
	return writeJSON(c, http.StatusOK, snap)
}

// authorized reports whether an Authorization header carries the API key
// as a bearer token. Both sides are hashed first, so the constant-time
// compare does not even leak the key's length.
func (s *Server) authorized(header string) bool {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], s.apiKeyHash[:]) == 1
}
