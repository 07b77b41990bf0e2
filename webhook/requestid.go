package webhook

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/labstack/echo/v4"
)

// dropBadRequestID removes an incoming X-Request-Id that is too long or
// not plain printable ASCII, so that RequestID makes a fresh one and logs
// never carry a client's arbitrary bytes.
func dropBadRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header
		if id := h.Get(echo.HeaderXRequestID); id != "" && !printableASCII(id, maxRequestIDLen) {
			h.Del(echo.HeaderXRequestID)
		}
		return next(c)
	}
}

const maxRequestIDLen = 128

// requestIDs makes request IDs: a random per-process prefix and a counter.
// They are unique, not secret, and far cheaper than Echo's default of 32
// characters from crypto/rand per request.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() (*requestIDs, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("request id prefix: %w", err)
	}
	return &requestIDs{prefix: hex.EncodeToString(b[:]) + "-"}, nil
}

// next returns a new ID. Built in a stack buffer it costs one allocation
// (BenchmarkCallback: one fewer per request than prefix +
// strconv.FormatUint).
func (g *requestIDs) next() string {
	var b [40]byte
	return string(strconv.AppendUint(append(b[:0], g.prefix...), g.n.Add(1), 36))
}

// printableASCII reports whether s is at most max bytes of printable ASCII
// other than space.
func printableASCII(s string, max int) bool {
	if len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
