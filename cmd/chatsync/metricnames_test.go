package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metricsql"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/chatsync/chatsync/chatapi"
)

// The files whose PromQL TestDeployedMetricsExist checks, relative to this
// package.
const (
	rulesFile      = rulesDir + "/chatsync.rules.yml"
	dashboardsGlob = "../../deploy/grafana/*.json"
)

// TestDeployedMetricsExist keeps the alerting rules and the dashboards
// honest: every metric name in their PromQL (parsed with Prometheus's own
// parser) is one that a real serve or work process exposes once a little
// traffic has gone through, or one that a recording rule produces. It runs
// redis-server, the emulator, serve and one work process; alice's message to
// bob, bob's conversation.read event (whose set-read call Chat refuses with
// a permanent code), an Alert.RequestOverLimit callback and an unsigned
// callback make every counter appear.
func TestDeployedMetricsExist(t *testing.T) {
	t.Parallel()
	used, recorded := deployedMetrics(t)
	redisURL := startRedis(t)
	common := map[string]string{"REDIS_URL": redisURL, "CHAT_SDKAPPID": e2eSDKAppID}
	serve := startProc(t, "serve", with(common,
		"HTTP_ADDR", "127.0.0.1:0", "ADMIN_ADDR", "127.0.0.1:0", "CHAT_CALLBACK_TOKEN", e2eToken,
		"EVENTS_SECRET", testWhsec), "serve")
	serveURL, serveAdmin := serve.url("serving", "addr"), serve.url("serving", "admin_addr")
	emu := startProc(t, "emulator", map[string]string{
		"EMULATOR_ADDR": "127.0.0.1:0", "CHAT_SDKAPPID": e2eSDKAppID, "CHAT_SECRET_KEY": e2eSecret,
		"CHAT_CALLBACK_TOKEN": e2eToken, "EMULATOR_CALLBACK_URL": serveURL + "/callback",
		"EMULATOR_ACCOUNTS": "alice,bob",
	}, "emulator")
	emuURL := emu.url("chat emulator listening", "addr")
	work := startProc(t, "work", with(common, "CHAT_SECRET_KEY", e2eSecret, "CHAT_BASE_URL", emuURL,
		"ADMIN_ADDR", "127.0.0.1:0", "UNREAD_DEBOUNCE", "50ms"), "work")
	workAdmin := work.url("working", "admin_addr")
	for _, u := range []string{serveAdmin, workAdmin} {
		waitReady(t, u)
	}

	send := startProc(t, "send", map[string]string{"CHAT_SDKAPPID": e2eSDKAppID, "CHAT_SECRET_KEY": e2eSecret,
		"CHAT_BASE_URL": emuURL}, "send", "-from", "alice", "-to", "bob", "-text", "hello bob")
	send.wait()
	put(t, emuURL+"/emulator/faults/"+chatapi.APISetMsgRead, `{"Codes":[90001],"Count":1}`)
	event := startProc(t, "event", map[string]string{"EVENTS_SECRET": testWhsec},
		"event", "conversation.read", "-url", serveURL+"/v1/events", "-account", "bob", "-peer", "alice")
	event.wait()
	postCallback(t, serveURL, "Alert.RequestOverLimit", true,
		`{"CallbackCommand":"Alert.RequestOverLimit","ServiceName":"openim","Command":"admin_set_msg_read","Request":170,"Limit":200}`)
	postCallback(t, serveURL, "C2C.CallbackAfterSendMsg", false, `{}`)

	var missing []string
	poll(t, 20*time.Second, "every metric the rules and dashboards use is exposed", func() (bool, error) {
		exposed := map[string]bool{}
		for _, u := range []string{serveAdmin, workAdmin} {
			for name := range scrapeNames(t, u+"/metrics") {
				exposed[name] = true
			}
		}
		missing = missing[:0]
		for name := range used {
			if !exposed[name] && !recorded[name] {
				missing = append(missing, name+" (in "+strings.Join(used[name], "; ")+")")
			}
		}
		slices.Sort(missing)
		return len(missing) == 0, retryable(fmt.Errorf("not exposed: %s", strings.Join(missing, ", ")))
	})
	if len(used) < 15 {
		t.Errorf("only %d metric names found in the rules and dashboards: %v", len(used), used)
	}
	serve.stop(10 * time.Second)
	work.stop(30 * time.Second)
	emu.stop(10 * time.Second)
}

// deployedMetrics parses every expression of the rules file and of the
// dashboards' panels. It returns the metric names they select, each with
// where it is used, and the names the recording rules produce.
//
// The names come from MetricsQL's parser (VictoriaMetrics's, a superset of
// PromQL with four small modules; Prometheus's own promql/parser imports
// its storage package, whose tests' imports make `go mod tidy` fail on
// ambiguous Google modules). So that nothing outside PromQL slips through,
// promtool (Prometheus's parser) checks every expression too: the rules
// in TestPrometheusRules, the dashboards' here.
func deployedMetrics(t *testing.T) (used map[string][]string, recorded map[string]bool) {
	t.Helper()
	used, recorded = map[string][]string{}, map[string]bool{}
	add := func(where, expr string) {
		e, err := metricsql.Parse(expr)
		if err != nil {
			t.Errorf("%s: %v\n%s", where, err, expr)
			return
		}
		metricsql.VisitAll(e, func(e metricsql.Expr) {
			me, ok := e.(*metricsql.MetricExpr)
			if !ok {
				return
			}
			for _, lfs := range me.LabelFilterss {
				if len(lfs) == 0 || lfs[0].Label != "__name__" || lfs[0].IsRegexp || lfs[0].IsNegative {
					t.Errorf("%s: selector %s names no metric", where, me.AppendString(nil))
					continue
				}
				if name := lfs[0].Value; !slices.Contains(used[name], where) {
					used[name] = append(used[name], where)
				}
			}
		})
	}
	for _, r := range ruleExprs(t, rulesFile) {
		if r.Record != "" {
			recorded[r.Record] = true
		}
		add(filepath.Base(rulesFile)+": "+r.Record+r.Alert, r.Expr)
	}
	dashboards, err := filepath.Glob(dashboardsGlob)
	if err != nil {
		t.Fatal(err)
	}
	var panels []rule
	for _, f := range dashboards {
		for where, expr := range dashboardExprs(t, f) {
			add(filepath.Base(f)+": "+where, expr)
			panels = append(panels, rule{Record: fmt.Sprintf("panel:expr_%d:check", len(panels)), Expr: expr})
		}
	}
	checkPromQL(t, panels)
	return used, recorded
}

// checkPromQL has promtool check exprs as recording rules.
func checkPromQL(t *testing.T, exprs []rule) {
	t.Helper()
	if len(exprs) == 0 {
		return
	}
	promtool := requireTool(t, "promtool")
	type group struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	}
	b, err := yaml.Marshal(map[string][]group{"groups": {{Name: "panels", Rules: exprs}}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "panels.yml")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules on the dashboards' expressions: %v\n%s\n%s", err, out, b)
	}
}

// rule is what the test reads of a Prometheus rule.
type rule struct {
	Record string `yaml:"record,omitempty"`
	Alert  string `yaml:"alert,omitempty"`
	Expr   string `yaml:"expr"`
}

func ruleExprs(t *testing.T, file string) []rule {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []rule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var rules []rule
	for _, g := range f.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatalf("%s: no rules", file)
	}
	return rules
}

// grafanaPanel is what the test reads of a Grafana panel; rows nest panels.
type grafanaPanel struct {
	Title   string         `json:"title"`
	Panels  []grafanaPanel `json:"panels"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

// dashboardExprs returns the PromQL of every panel target of a Grafana
// dashboard by "panel title/refId", with Grafana's interval variables
// replaced by a duration so that the expressions parse.
func dashboardExprs(t *testing.T, file string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []grafanaPanel `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	vars := strings.NewReplacer("$__rate_interval", "5m", "${__rate_interval}", "5m",
		"$__interval", "1m", "${__interval}", "1m", "$__range", "1h", "${__range}", "1h")
	exprs := map[string]string{}
	var walk func([]grafanaPanel)
	walk = func(panels []grafanaPanel) {
		for _, p := range panels {
			for _, tg := range p.Targets {
				if tg.Expr == "" {
					t.Errorf("%s: panel %q target %s has no expr", file, p.Title, tg.RefID)
				}
				exprs[p.Title+"/"+tg.RefID] = vars.Replace(tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	if len(exprs) == 0 {
		t.Fatalf("%s: no panel targets", file)
	}
	return exprs
}

// scrapeNames returns the names of the samples on a /metrics page (a
// histogram's _bucket, _sum and _count included).
func scrapeNames(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	names := map[string]bool{}
	for name, f := range families {
		names[name] = true
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[name+"_sum"], names[name+"_count"] = true, true
		}
	}
	return names
}

// postCallback posts a Chat callback to serve, signed with the test's token
// or not, and expects 200 when signed.
func postCallback(t *testing.T, serveURL, command string, signed bool, body string) {
	t.Helper()
	now := time.Now().Unix()
	q := "SdkAppid=" + e2eSDKAppID + "&CallbackCommand=" + command + "&contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI"
	if signed {
		q += "&RequestTime=" + strconv.FormatInt(now, 10) + "&Sign=" + chatapi.CallbackSign(e2eToken, now)
	}
	resp, err := http.Post(serveURL+"/callback?"+q, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if signed && resp.StatusCode != http.StatusOK {
		t.Fatalf("callback %s: %d", command, resp.StatusCode)
	}
}
