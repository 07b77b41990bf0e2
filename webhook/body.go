package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"unicode/utf8"
)

// maxPooledBuffer is the largest body buffer kept for reuse.
const maxPooledBuffer = 64 << 10

// initialBodyBuffer is the most memory reserved for a body before its
// bytes arrive. A Content-Length is only a claim: a client that announces
// 256 KiB and sends nothing must not hold 256 KiB, so the buffer grows as
// bytes come in.
const initialBodyBuffer = 1 << 10

// body is a request body read into a pooled buffer. The pool pays for
// itself: without it BenchmarkCallback makes 2 more allocations and about
// 470 more bytes (+12 %) per callback (CPU time: within the noise of a
// shared machine).
type body struct{ b []byte }

// readBody reads r's body into a pooled buffer that grows as bytes
// arrive. It answers 413 for a body over the limit (by Content-Length, or
// by counting when the length is not given) and 400 for a body that
// cannot be read. The caller must call s.release once done with it.
func (s *Server) readBody(r *http.Request) (*body, error) {
	cl := r.ContentLength
	if cl > s.maxBody {
		return nil, s.tooLarge()
	}
	bd := s.bufs.Get().(*body)
	bd.b = bd.b[:0]
	if want := min(cl, initialBodyBuffer); int64(cap(bd.b)) < want {
		bd.b = make([]byte, 0, want)
	}
	lr := io.LimitedReader{R: r.Body, N: s.maxBody + 1}
	for {
		if cl > 0 && int64(len(bd.b)) == cl {
			return bd, nil // net/http never lets a body run past its Content-Length
		}
		if len(bd.b) == cap(bd.b) {
			bd.b = grow(bd.b, cl)
		}
		n, err := lr.Read(bd.b[len(bd.b):cap(bd.b)])
		bd.b = bd.b[:len(bd.b)+n]
		if int64(len(bd.b)) > s.maxBody {
			s.release(bd)
			return nil, s.tooLarge()
		}
		if err == io.EOF && (cl <= 0 || int64(len(bd.b)) == cl) {
			return bd, nil
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			s.release(bd)
			return nil, badRequest("cannot read body", err)
		}
	}
}

// grow doubles b's capacity (at least 512 bytes), but not past a known
// Content-Length cl.
func grow(b []byte, cl int64) []byte {
	n := max(2*cap(b), 512)
	if cl > 0 {
		n = int(min(int64(n), cl))
	}
	nb := make([]byte, len(b), n)
	copy(nb, b)
	return nb
}

func (s *Server) release(bd *body) {
	if cap(bd.b) <= maxPooledBuffer {
		s.bufs.Put(bd)
	}
}

func (s *Server) tooLarge() error {
	return statusError(http.StatusRequestEntityTooLarge, "body is larger than %d bytes", s.maxBody)
}

// Problems checkJSON reports.
var (
	errEmptyBody   = errors.New("body is empty")
	errInvalidUTF8 = errors.New("body is not valid UTF-8")
	errTooDeep     = fmt.Errorf("JSON is nested deeper than %d levels", MaxJSONDepth)
)

// checkJSON rejects, before any decoding, a body that is empty, not valid
// UTF-8 (encoding/json would silently replace such bytes) or nested deeper
// than MaxJSONDepth. It does not otherwise validate the JSON.
func checkJSON(b []byte) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return errEmptyBody
	}
	if !utf8.Valid(b) {
		return errInvalidUTF8
	}
	if jsonDepth(b, MaxJSONDepth) > MaxJSONDepth {
		return errTooDeep
	}
	return nil
}

// jsonDepth returns the deepest nesting of arrays and objects in b, up to
// limit+1: it stops counting once the limit is passed. Brackets inside
// strings do not count. It is meant for input that may not be valid JSON.
func jsonDepth(b []byte, limit int) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			if depth > deepest {
				deepest = depth
				if deepest > limit {
					return deepest
				}
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

// member is one key and raw value of a JSON object, in order.
type member struct {
	key   string
	value json.RawMessage
}

// decodeObject splits a JSON object into its members, in order, keeping
// duplicates. Anything else, or trailing data, is an error.
func decodeObject(b []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("body is not a JSON object")
	}
	var obj []member
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("malformed JSON: %w", err)
		}
		key, _ := t.(string) // Token only returns a string here
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("malformed JSON: %w", err)
		}
		obj = append(obj, member{key, bytes.TrimSpace(raw)})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("malformed JSON: data after the object")
	}
	return obj, nil
}

// hasNull reports whether a raw value is null or an array with a null
// element: encoding/json would take them as absent or "".
func hasNull(raw json.RawMessage) bool {
	var elems []json.RawMessage
	return string(raw) == "null" || raw[0] == '[' && json.Unmarshal(raw, &elems) == nil &&
		slices.ContainsFunc(elems, func(e json.RawMessage) bool { return string(e) == "null" })
}
