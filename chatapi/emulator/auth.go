package emulator

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"
)

// maxCachedSigs bounds the verified-UserSig cache; it is emptied when full.
const maxCachedSigs = 4096

// authenticate checks the query of a REST call and returns the calling admin.
func (e *Emulator) authenticate(q url.Values) (string, *apiError) {
	switch appID := q.Get("sdkappid"); {
	case appID == "":
		return "", fail(60012, "sdkappid is missing")
	case appID != e.sdkAppID:
		return "", fail(60006, "sdkappid %q is invalid", appID)
	}
	identifier := q.Get("identifier")
	if !e.admins[identifier] {
		return "", fail(60010, "identifier %q is not an App admin", identifier)
	}
	if aerr := e.verifySig(identifier, q.Get("usersig")); aerr != nil {
		return "", aerr
	}
	if _, err := strconv.ParseUint(q.Get("random"), 10, 32); err != nil {
		return "", fail(60002, "random must be a 32-bit unsigned integer")
	}
	if ct := q.Get("contenttype"); ct != "json" {
		return "", fail(60002, "contenttype must be json, got %q", ct)
	}
	return identifier, nil
}

// verifySig checks the admin's UserSig. Successful verifications are cached by identifier and
// sig until the sig expires, since nothing else about a verified sig can change.
func (e *Emulator) verifySig(identifier, sig string) *apiError {
	if sig == "" {
		return fail(70002, "usersig is empty")
	}
	now := e.now()
	if expiry, ok := e.sigs.get(identifier, sig); ok {
		if now.Unix() > expiry {
			e.sigs.drop(identifier, sig)
			return fail(70001, "usersig expired")
		}
		return nil
	}
	expiry, err := sigExpiry(sig)
	if err != nil {
		return fail(70003, "usersig check failed: cannot decode it")
	}
	switch err := tencentyun.VerifyUserSig(e.appID, e.key, identifier, sig, now); {
	case err == nil:
		e.sigs.put(identifier, sig, expiry)
		return nil
	case errors.Is(err, tencentyun.ErrExpired):
		return fail(70001, "usersig expired")
	case errors.Is(err, tencentyun.ErrSdkAppIDNotMatch):
		return fail(70014, "sdkappid in url does not match the usersig's")
	case errors.Is(err, tencentyun.ErrIdentifierNotMatch):
		return fail(70013, "identifier in url does not match the usersig's")
	default: // ErrSigNotMatch, ErrUserBufTypeNotMatch, ErrUserBufNotMatch
		return fail(70009, "usersig verification failed, check the secret key and sdkappid")
	}
}

// sigExpiry decodes a UserSig far enough to learn when it expires (TLS.time + TLS.expire).
// The encoding is base64 with "*-_" for "+/=" around a zlib stream of JSON.
func sigExpiry(sig string) (int64, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.NewReplacer("*", "+", "-", "/", "_", "=").Replace(sig))
	if err != nil {
		return 0, err
	}
	zr, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		return 0, err
	}
	defer zr.Close()
	data, err := io.ReadAll(io.LimitReader(zr, 64<<10))
	if err != nil {
		return 0, err
	}
	var doc struct {
		Identifier string `json:"TLS.identifier"`
		Time       int64  `json:"TLS.time"`
		Expire     int64  `json:"TLS.expire"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return 0, err
	}
	if doc.Identifier == "" || doc.Time == 0 {
		return 0, errors.New("usersig lacks TLS.identifier or TLS.time")
	}
	return doc.Time + doc.Expire, nil
}

// sigCache remembers verified UserSigs and their expiry (unix seconds).
type sigCache struct {
	mu sync.Mutex
	m  map[string]int64
}

func sigKey(identifier, sig string) string { return identifier + "\n" + sig }

func (c *sigCache) get(identifier, sig string) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.m[sigKey(identifier, sig)]
	return exp, ok
}

func (c *sigCache) put(identifier, sig string, expiry int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedSigs {
		c.m = make(map[string]int64)
	}
	c.m[sigKey(identifier, sig)] = expiry
}

func (c *sigCache) drop(identifier, sig string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, sigKey(identifier, sig))
}
