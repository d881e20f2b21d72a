# METADATA
# title: trustledger access decisions
# description: |
#   Asks a trustledger node (POST /v1/decisions) whether input.principal may
#   do input.action, and fails closed: no usable answer means no access.
package trustledger.authz

# The node to ask; data.trustledger.url overrides it.
default url := "http://127.0.0.1:8470"

url := data.trustledger.url if is_string(data.trustledger.url)

# A gateway (or reader) token: data.trustledger.token, else the TRUSTLEDGER_TOKEN
# environment variable of the OPA process.
token := t if {
	t := data.trustledger.token
	is_string(t)
	t != ""
} else := t if {
	t := opa.runtime().env.TRUSTLEDGER_TOKEN
	is_string(t)
	t != ""
}

default allow := false

# allow: trustledger answered 200 with decision "allow".
allow if {
	answer_ok
	response.body.decision == "allow"
}

default step_up := false

# step_up: trustledger answered 200 with decision "step_up"; the caller
# must authenticate at required_aal (aal1, aal2 or aal3) and ask again.
step_up if {
	answer_ok
	response.body.decision == "step_up"
}

required_aal := response.body.requiredAuthentication if step_up

# decision: trustledger's answer, or a synthetic deny when there is none.
decision := response.body if {
	answer_ok
} else := failure

# deny_reasons: the reason codes when access is not allowed (codes are
# stable; messages are for people and may change).
deny_reasons contains code if {
	not allow
	some reason in decision.reasons
	code := reason.code
}

# The request to trustledger, made only for a well-formed input and when a
# token is configured.
input_ok if {
	is_string(input.principal)
	input.principal != ""
	is_string(input.action)
	input.action != ""
}

request_body := object.union(
	{"principalId": input.principal, "action": input.action},
	optional_fields,
) if input_ok

optional_fields[k] := input.sensitivity if {
	k := "sensitivity"
	is_string(input.sensitivity)
}

optional_fields[k] := input.context if {
	k := "context"
	is_object(input.context)
}

# No cache: a decision depends on the principal's current record (a
# compromise or a revoked permission must take effect at once), so every
# query asks again. raise_error false turns transport errors into
# status_code 0, which fails closed below.
response := http.send({
	"method": "POST",
	"url": concat("", [trim_right(url, "/"), "/v1/decisions"]),
	"headers": {
		"Authorization": concat(" ", ["Bearer", token]),
		"Content-Type": "application/json",
		"Accept": "application/json",
	},
	"body": request_body,
	"timeout": "500ms",
	"raise_error": false,
	"cache": false,
})

# answer_ok: a 200 with every field the rules above rely on.
answer_ok if {
	response.status_code == 200
	body := response.body
	is_object(body)
	body.principalId == input.principal
	body.decision in {"allow", "step_up", "deny"}
	is_array(body.reasons)
	every reason in body.reasons {
		is_string(reason.code)
	}
	step_up_complete(body)
}

step_up_complete(body) if body.decision != "step_up"

step_up_complete(body) if is_string(body.requiredAuthentication)

# failure: the deny given when trustledger gave no usable answer.
failure := {
	"decision": "deny",
	"reasons": [{
		"code": "trustledger_unavailable",
		"message": sprintf("no usable decision from trustledger: %s", [failure_cause]),
	}],
	"error": {
		"cause": failure_cause,
		"statusCode": status_code,
		"retryAfter": retry_after,
		"problem": problem,
	},
}

failure_cause := "invalid_input" if {
	not input_ok
} else := "not_configured" if {
	not token
} else := "no_response" if {
	not response.status_code
} else := "transport_error" if {
	response.status_code == 0
} else := "http_status" if {
	response.status_code != 200
} else := "invalid_answer"

default status_code := null

status_code := response.status_code

# retry_after: the Retry-After of a 503 or 429, in seconds as sent.
default retry_after := null

retry_after := response.headers["retry-after"][0]

# problem: the RFC 7807 document of a non-200 answer (its type, title and
# code), or the transport error of status_code 0.
default problem := null

problem := response.body if {
	response.status_code != 200
	is_object(response.body)
} else := response.error if {
	response.status_code == 0
}
