package reliability

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Finding is one log line that holds something it must not. It names the
// kind of secret, never the secret itself.
type Finding struct {
	Source string // the log file
	Line   int    // 1-based
	What   string // e.g. "CHAT_SECRET_KEY", "Sign sent", "usersig= parameter"
}

// String returns "source:line: what".
func (f Finding) String() string { return fmt.Sprintf("%s:%d: %s", f.Source, f.Line, f.What) }

// minSecretLen is the shortest value Scanner looks for: shorter ones would
// match by chance.
const minSecretLen = 8

// Scanner looks for secrets in logs. Add what must never appear, then
// Scan the logs. Literals (secrets, message markers) are found anywhere in
// a line; tokens (the many Sign and signature values sent) are found as
// substrings of the base64/hex runs of a line, which keeps a scan over
// thousands of them linear; patterns catch shapes such as "usersig=". It
// is safe for concurrent use.
type Scanner struct {
	mu       sync.Mutex
	literals map[string]string // value → what
	tokens   map[string]string // value → what
	lengths  map[int]bool      // lengths of tokens
	patterns []pattern
}

type pattern struct {
	what string
	re   *regexp.Regexp
}

// NewScanner returns a scanner that already looks for the shapes of a
// UserSig: the usersig query parameter and the long base64url strings
// TLS-sig-api v2 produces (they start "eJ" when zlib-compressed and "eAE"
// uncompressed), and for Go's data race reports.
func NewScanner() *Scanner {
	s := &Scanner{literals: map[string]string{}, tokens: map[string]string{}, lengths: map[int]bool{}}
	s.AddPattern("usersig= parameter", regexp.MustCompile(`(?i)usersig=`))
	s.AddPattern("a UserSig", regexp.MustCompile(`(eJ|eAE)[A-Za-z0-9*_\-]{60,}`))
	s.AddPattern("a data race report", regexp.MustCompile(`WARNING: DATA RACE`))
	return s
}

// AddLiteral makes value, described by what, a string that must not
// appear in any line. Values shorter than 8 bytes are ignored.
func (s *Scanner) AddLiteral(what, value string) {
	if len(value) < minSecretLen {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.literals[value] = what
}

// AddToken makes value, described by what, a token that must not appear:
// a run of hex or base64 characters such as a Sign or an HMAC. Use it for
// values sent by the thousand. Values shorter than 8 bytes are ignored.
func (s *Scanner) AddToken(what, value string) {
	if len(value) < minSecretLen {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[value] = what
	s.lengths[len(value)] = true
}

// AddPattern makes every match of re, described by what, a finding.
func (s *Scanner) AddPattern(what string, re *regexp.Regexp) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.patterns = append(s.patterns, pattern{what, re})
}

// Tokens returns the number of tokens looked for.
func (s *Scanner) Tokens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tokens)
}

// tokenRun matches the runs of characters Sign values (hex) and
// signatures (base64, base64url) are made of.
var tokenRun = regexp.MustCompile(`[A-Za-z0-9+/=_\-*]{8,}`)

// Scan reads r line by line and returns the findings, naming source. The
// error is a read error.
func (s *Scanner) Scan(r io.Reader, source string) ([]Finding, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Finding
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		line, err := br.ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if len(line) > 0 {
			for _, what := range s.scanLine(line) {
				out = append(out, Finding{Source: source, Line: n, What: what})
			}
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("scan %s: %w", source, err)
		}
	}
}

// scanLine returns what a line holds, each kind once.
func (s *Scanner) scanLine(line string) []string {
	found := map[string]bool{}
	for v, what := range s.literals {
		if strings.Contains(line, v) {
			found[what] = true
		}
	}
	for _, p := range s.patterns {
		if p.re.MatchString(line) {
			found[p.what] = true
		}
	}
	if len(s.tokens) > 0 {
		for _, run := range tokenRun.FindAllString(line, -1) {
			s.scanRun(run, found)
		}
	}
	out := make([]string, 0, len(found))
	for what := range found {
		out = append(out, what)
	}
	sort.Strings(out)
	return out
}

// scanRun looks for tokens inside one run, at every offset.
func (s *Scanner) scanRun(run string, found map[string]bool) {
	for n := range s.lengths {
		for i := 0; i+n <= len(run); i++ {
			if what, ok := s.tokens[run[i:i+n]]; ok {
				found[what] = true
			}
		}
	}
}

// ScanFiles scans every file matching the glob patterns and returns all
// findings; a file that cannot be read is an error.
func (s *Scanner) ScanFiles(globs ...string) (findings []Finding, files int, err error) {
	for _, g := range globs {
		paths, err := filepath.Glob(g)
		if err != nil {
			return findings, files, fmt.Errorf("scan %s: %w", g, err)
		}
		for _, p := range paths {
			f, err := os.Open(p)
			if err != nil {
				return findings, files, err
			}
			fs, err := s.Scan(f, p)
			f.Close()
			if err != nil {
				return findings, files, err
			}
			findings = append(findings, fs...)
			files++
		}
	}
	return findings, files, nil
}
