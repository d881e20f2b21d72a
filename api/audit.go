package api

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/trustledger/trustledger/fsm"
	"github.com/trustledger/trustledger/internal/version"
)

// The audit log (docs/operations.md, "The audit log") is JSON lines in the
// Open Cybersecurity Schema Framework, OCSF 1.3.0: one API Activity event
// (class 6003) per authenticated request and per failed authentication,
// with the decision of POST /v1/decisions in it, and one Detection Finding
// (class 2004) per trust alert a committed write raised. What OCSF has no
// attribute for is in "unmapped".

const ocsfVersion = "1.3.0"

// auditLog writes audit events, one JSON object a line, whole lines at a
// time, and hands each to the live audit streams (GET /v1/audit/stream).
type auditLog struct {
	mu sync.Mutex
	w  io.Writer
	// subs are the live streams; one that falls auditStreamBuffer events
	// behind is dropped (its channel closed) rather than slow the API.
	subs map[chan []byte]struct{}
}

// auditStreamBuffer is how many events a live audit stream may lag.
const auditStreamBuffer = 256

func (a *auditLog) write(event any) {
	b, err := json.Marshal(event)
	if err != nil {
		return // every event is plain data: this does not happen
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	_, _ = a.w.Write(append(b, '\n'))
	for ch := range a.subs {
		select {
		case ch <- b:
		default:
			delete(a.subs, ch)
			close(ch)
		}
	}
}

// subscribe delivers the events written from now on until the returned
// function is called; a subscriber that falls behind has its channel
// closed.
func (a *auditLog) subscribe() (<-chan []byte, func()) {
	ch := make(chan []byte, auditStreamBuffer)
	a.mu.Lock()
	if a.subs == nil {
		a.subs = map[chan []byte]struct{}{}
	}
	a.subs[ch] = struct{}{}
	a.mu.Unlock()
	return ch, func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if _, ok := a.subs[ch]; ok {
			delete(a.subs, ch)
			close(ch)
		}
	}
}

// ocsfBase holds the attributes every OCSF event has.
type ocsfBase struct {
	// Time is the event time, Unix milliseconds.
	Time         int64        `json:"time"`
	ClassUID     int          `json:"class_uid"`
	ClassName    string       `json:"class_name"`
	CategoryUID  int          `json:"category_uid"`
	CategoryName string       `json:"category_name"`
	ActivityID   int          `json:"activity_id"`
	ActivityName string       `json:"activity_name"`
	TypeUID      int          `json:"type_uid"`
	SeverityID   int          `json:"severity_id"`
	Severity     string       `json:"severity"`
	StatusID     int          `json:"status_id"`
	Status       string       `json:"status"`
	Message      string       `json:"message,omitempty"`
	Metadata     ocsfMetadata `json:"metadata"`
}

type ocsfMetadata struct {
	Version string      `json:"version"`
	Product ocsfProduct `json:"product"`
	// LogName says which node wrote the event.
	LogName string `json:"log_name"`
}

type ocsfProduct struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
	Version    string `json:"version"`
}

type ocsfUser struct {
	UID  string `json:"uid,omitempty"`
	Type string `json:"type,omitempty"`
}

type ocsfEndpoint struct {
	IP       string `json:"ip,omitempty"`
	Port     int    `json:"port,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	SvcName  string `json:"svc_name,omitempty"`
}

// apiActivity is an OCSF API Activity event (class 6003).
type apiActivity struct {
	ocsfBase
	Actor struct {
		User ocsfUser `json:"user"`
	} `json:"actor"`
	API struct {
		Operation string `json:"operation"`
		Service   struct {
			Name string `json:"name"`
		} `json:"service"`
		Response struct {
			Code int `json:"code"`
		} `json:"response"`
	} `json:"api"`
	HTTPRequest struct {
		HTTPMethod string `json:"http_method"`
		URL        struct {
			Path string `json:"path"`
		} `json:"url"`
		XForwardedFor string `json:"x_forwarded_for,omitempty"`
	} `json:"http_request"`
	SrcEndpoint ocsfEndpoint   `json:"src_endpoint"`
	DstEndpoint ocsfEndpoint   `json:"dst_endpoint"`
	Duration    int64          `json:"duration"`
	Unmapped    map[string]any `json:"unmapped,omitempty"`
}

// detectionFinding is an OCSF Detection Finding event (class 2004).
type detectionFinding struct {
	ocsfBase
	FindingInfo struct {
		UID         string   `json:"uid"`
		Title       string   `json:"title"`
		Desc        string   `json:"desc"`
		Types       []string `json:"types"`
		CreatedTime int64    `json:"created_time"`
	} `json:"finding_info"`
	Resources []struct {
		UID  string `json:"uid"`
		Type string `json:"type"`
	} `json:"resources"`
	Unmapped map[string]any `json:"unmapped,omitempty"`
}

func (s *Server) ocsfBase(classUID int, className string, categoryUID int, categoryName string, activityID int, activityName string) ocsfBase {
	v, _, _ := version.Info()
	return ocsfBase{Time: s.cfg.Now().UnixMilli(), ClassUID: classUID, ClassName: className, CategoryUID: categoryUID,
		CategoryName: categoryName, ActivityID: activityID, ActivityName: activityName, TypeUID: classUID*100 + activityID,
		SeverityID: 1, Severity: "Informational", StatusID: 1, Status: "Success",
		Metadata: ocsfMetadata{Version: ocsfVersion, Product: ocsfProduct{Name: "trustledger", VendorName: "trustledger", Version: v},
			LogName: s.node.NodeID()}}
}

// apiActivities maps request methods to OCSF API Activity activities.
var apiActivities = map[string]struct {
	id   int
	name string
}{
	http.MethodPost: {1, "Create"}, http.MethodGet: {2, "Read"}, http.MethodHead: {2, "Read"},
	http.MethodPut: {3, "Update"}, http.MethodPatch: {3, "Update"}, http.MethodDelete: {4, "Delete"},
}

// auditRequest writes the API Activity event of an authenticated request
// (or a failed authentication): who (token and role), what (route, path,
// method), from where, the outcome and, when known, the principal
// concerned, the ledger index a write committed at and the decision made.
// The leader audits a forwarded request, once.
func (s *Server) auditRequest(r *http.Request, info *requestInfo, status int, d time.Duration) {
	if info.forwarded || !info.authed && status != http.StatusUnauthorized {
		return
	}
	act, ok := apiActivities[r.Method]
	if !ok {
		act.id, act.name = 99, "Other"
	}
	e := apiActivity{ocsfBase: s.ocsfBase(6003, "API Activity", 6, "Application Activity", act.id, act.name)}
	switch {
	case !info.authed:
		e.StatusID, e.Status, e.SeverityID, e.Severity, e.Message = 2, "Failure", 3, "Medium", "authentication failed"
	case status >= 400:
		e.StatusID, e.Status, e.Message = 2, "Failure", http.StatusText(status)
	}
	e.Actor.User = ocsfUser{UID: info.token.ID, Type: info.token.Role}
	e.API.Operation = r.Method + " " + info.route.Pattern
	e.API.Service.Name = "trustledger"
	e.API.Response.Code = status
	e.HTTPRequest.HTTPMethod, e.HTTPRequest.URL.Path = r.Method, r.URL.Path
	e.SrcEndpoint = endpointOf(r.RemoteAddr)
	e.DstEndpoint = ocsfEndpoint{Hostname: s.node.NodeID(), SvcName: "trustledger"}
	e.Duration = d.Milliseconds()
	u := map[string]any{}
	if info.principal != "" {
		u["principal"] = info.principal
	}
	if info.index != 0 {
		u["index"] = info.index
	}
	if info.decision != nil {
		u["decision"] = decisionLog(info.decision, info.decisionContext)
	}
	if by := r.Header.Get(HeaderForwardedBy); by != "" {
		u["forwardedBy"] = by
		e.HTTPRequest.XForwardedFor = r.Header.Get("X-Forwarded-For")
	}
	if len(u) > 0 {
		e.Unmapped = u
	}
	s.audit.write(&e)
}

func endpointOf(addr string) ocsfEndpoint {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ocsfEndpoint{IP: addr}
	}
	p, _ := strconv.Atoi(port)
	return ocsfEndpoint{IP: host, Port: p}
}

// alertSeverities maps alert severities to OCSF severity ids.
var alertSeverities = map[string]struct {
	id   int
	name string
}{"low": {2, "Low"}, "medium": {3, "Medium"}, "high": {4, "High"}, "critical": {5, "Critical"}}

// auditAlerts writes a Detection Finding per trust alert a committed write
// raised, for SIEM: the node whose API proposed the write (the leader)
// writes it, once.
func (s *Server) auditAlerts(res *fsm.Result) {
	if len(res.Alerts) == 0 {
		return
	}
	l := s.ledger()
	for _, r := range res.Alerts {
		for _, a := range l.Alerts("", r.PrincipalID) {
			if a.AlertID != r.ID {
				continue
			}
			e := detectionFinding{ocsfBase: s.ocsfBase(2004, "Detection Finding", 2, "Findings", 1, "Create")}
			if sev, ok := alertSeverities[a.Severity]; ok {
				e.SeverityID, e.Severity = sev.id, sev.name
			}
			e.StatusID, e.Status, e.Message = 1, "New", a.Message
			e.FindingInfo.UID, e.FindingInfo.Title, e.FindingInfo.Desc = a.AlertID, a.Type, a.Message
			e.FindingInfo.Types = []string{a.Type}
			if t, err := time.Parse(time.RFC3339Nano, a.RaisedAt); err == nil {
				e.FindingInfo.CreatedTime = t.UnixMilli()
			}
			e.Resources = append(e.Resources, struct {
				UID  string `json:"uid"`
				Type string `json:"type"`
			}{a.PrincipalID, "principal"})
			e.Unmapped = map[string]any{"index": res.Index, "principal": a.PrincipalID}
			s.audit.write(&e)
		}
	}
}
