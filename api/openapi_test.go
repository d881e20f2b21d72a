package api

import (
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"
)

// openAPI is the part of docs/openapi.yaml the tests read.
type openAPI struct {
	OpenAPI    string                               `yaml:"openapi"`
	Paths      map[string]map[string]yaml.Node      `yaml:"paths"`
	Components map[string]map[string]map[string]any `yaml:"components"`
}

type operation struct {
	Role      string   `yaml:"x-role"`
	AlsoRoles []string `yaml:"x-also-roles"`
}

func loadOpenAPI(t *testing.T) *openAPI {
	t.Helper()
	data, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPI
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("parse docs/openapi.yaml: %v", err)
	}
	return &doc
}

var httpMethods = []string{"get", "put", "post", "patch", "delete", "head", "options", "trace"}

// Every route the router serves is documented, with the role the route
// table gives it, and every documented operation is served.
func TestOpenAPICoversRouter(t *testing.T) {
	doc := loadOpenAPI(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi %q, want 3.1.x", doc.OpenAPI)
	}
	documented := map[string]operation{}
	for path, item := range doc.Paths {
		for key, node := range item {
			if !slices.Contains(httpMethods, key) {
				continue
			}
			var op operation
			if err := node.Decode(&op); err != nil {
				t.Fatalf("%s %s: %v", key, path, err)
			}
			documented[strings.ToUpper(key)+" "+path] = op
		}
	}
	s := New(Config{Registry: prometheus.NewRegistry()}, nil)
	served := map[string]bool{}
	err := chi.Walk(s.router, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		served[method+" "+route] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]Route{}
	for _, rt := range routeTable() {
		roles[rt.Method+" "+rt.Pattern] = rt
	}
	for key := range served {
		op, ok := documented[key]
		if !ok {
			t.Errorf("%s is served but not in docs/openapi.yaml", key)
			continue
		}
		rt := roles[key]
		if op.Role != rt.Role || !slices.Equal(op.AlsoRoles, rt.AlsoRoles) {
			t.Errorf("%s: documented role %q %v, route table %q %v", key, op.Role, op.AlsoRoles, rt.Role, rt.AlsoRoles)
		}
	}
	for key := range documented {
		if !served[key] {
			t.Errorf("%s is in docs/openapi.yaml but not served", key)
		}
	}
	if len(served) != len(routeTable()) {
		t.Errorf("router serves %d routes, the table has %d", len(served), len(routeTable()))
	}
}

// The problem types are the ones the code uses, and the record has its 29
// properties. (That every $ref resolves, TestOpenAPIValidates checks.)
func TestOpenAPIContents(t *testing.T) {
	doc := loadOpenAPI(t)
	schemas := doc.Components["schemas"]
	problem := schemas["Problem"]["properties"].(map[string]any)["type"].(map[string]any)["enum"].([]any)
	var documented, coded []string
	for _, p := range problem {
		documented = append(documented, p.(string))
	}
	for _, k := range ProblemKinds {
		coded = append(coded, k.URI())
	}
	sort.Strings(documented)
	sort.Strings(coded)
	if !slices.Equal(documented, coded) {
		t.Errorf("problem types documented %v, coded %v", documented, coded)
	}

	props := schemas["PrincipalTrust"]["properties"].(map[string]any)
	for _, name := range strings.Fields(`@type trustId principalId principalType trustScore trustLevel scoreComponents
		authenticationFactors behaviorMetrics complianceStatus riskIndicators positiveSignals negativeSignals trustHistory
		trustTrend baseTrustScore trustModifiers trustDecayRate trustRecoveryRate maxTrustScore minTrustScore endorsements
		federatedTrust lastAssessmentAt nextAssessmentAt assessmentFrequency trustAlerts requiresReview isActive metadata`) {
		if _, ok := props[name]; !ok {
			t.Errorf("PrincipalTrust lacks %s", name)
		}
	}
	if len(props) < 30 {
		t.Errorf("PrincipalTrust has %d properties", len(props))
	}
}

var routeRow = regexp.MustCompile("^\\| `[A-Z]+` \\| `/")

// docs/api.md documents the route table row for row.
func TestAPIDocRouteTable(t *testing.T) {
	data, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	rows := 0
	for _, line := range strings.Split(doc, "\n") {
		if routeRow.MatchString(line) {
			rows++
		}
	}
	for _, rt := range routeTable() {
		row := "| `" + rt.Method + "` | `" + rt.Pattern + "` | " + rt.Role + " | "
		if !strings.Contains(doc, row) {
			t.Errorf("docs/api.md lacks the row %q", row)
		}
	}
	if rows != len(routeTable()) {
		t.Errorf("docs/api.md has %d route rows, the table %d routes", rows, len(routeTable()))
	}
	for _, k := range ProblemKinds {
		if !strings.Contains(doc, "| `"+k.Slug+"` | "+itoa(k.Status)+" |") {
			t.Errorf("docs/api.md does not list problem %s (%d)", k.Slug, k.Status)
		}
	}
}
