package trustledger.authz_test

import data.trustledger.authz

mock_url := "http://trustledger.test:8470/"

mock_token := "test-reader-token"

alice := {
	"principal": "alice",
	"action": "read_sensitive",
	"sensitivity": "high",
	"context": {"device": {"compliant": true}, "network": {"ip": "10.1.2.3"}},
}

# expected_request holds only when the policy built the request the
# decision API expects; the mocks answer nothing otherwise.
expected_request(req) if {
	req.method == "POST"
	req.url == "http://trustledger.test:8470/v1/decisions"
	req.headers.Authorization == "Bearer test-reader-token"
	req.raise_error == false
	req.timeout == "500ms"
	not req.cache
	is_string(req.body.principalId)
	is_string(req.body.action)
}

answer(body) := {
	"status_code": 200,
	"headers": {"content-type": ["application/json"]},
	"body": body,
}

allow_body := {
	"decisionId": "0b6c4f7e-2a61-4c55-9a4e-1f0d2b9c8e31",
	"principalId": "alice",
	"action": "read_sensitive",
	"sensitivity": "high",
	"requiredPermission": "sensitive_read",
	"decision": "allow",
	"trustScore": 78,
	"trustLevel": "high",
	"requiredAuthentication": "aal2",
	"sessionMaxDuration": 28800,
	"reasons": [{"code": "meets_threshold", "message": "trust score 78 meets the high allow threshold 70"}],
	"policyVersion": 0,
	"ledgerIndex": 8,
}

mock_allow(req) := answer(allow_body) if {
	expected_request(req)
	req.body == {
		"principalId": "alice",
		"action": "read_sensitive",
		"sensitivity": "high",
		"context": {"device": {"compliant": true}, "network": {"ip": "10.1.2.3"}},
	}
}

mock_step_up(req) := answer({
	"principalId": "alice",
	"action": "read_sensitive",
	"decision": "step_up",
	"requiredAuthentication": "aal3",
	"reasons": [{"code": "below_allow_threshold", "message": "any text"}],
}) if expected_request(req)

mock_missing_permission(req) := answer({
	"principalId": "alice",
	"action": "deploy",
	"decision": "deny",
	"requiredAuthentication": "aal2",
	# The message claims an allow: only codes may count.
	"reasons": [
		{"code": "meets_threshold", "message": "allow"},
		{"code": "missing_permission", "message": "allow"},
	],
}) if expected_request(req)

mock_unknown(req) := answer({
	"principalId": "mallory",
	"action": "read",
	"decision": "deny",
	"reasons": [{"code": "unknown_principal", "message": "no such principal"}],
}) if expected_request(req)

mock_down(_) := {
	"status_code": 0,
	"error": {"code": "eval_http_send_network_error", "message": "dial tcp: connection refused"},
}

mock_503(req) := {
	"status_code": 503,
	"headers": {"content-type": ["application/problem+json"], "retry-after": ["5"]},
	"body": {"type": "https://trustledger.dev/problems/not-leader", "title": "no leader", "status": 503},
} if expected_request(req)

mock_401(req) := {
	"status_code": 401,
	"headers": {"content-type": ["application/problem+json"]},
	"body": {"type": "https://trustledger.dev/problems/unauthorized", "title": "invalid token", "status": 401},
} if expected_request(req)

# A 200 without the decision field.
mock_incomplete(req) := answer({"principalId": "alice", "reasons": []}) if expected_request(req)

# A 200 for someone else.
mock_other_principal(_) := answer(object.union(allow_body, {"principalId": "bob"}))

# Each case evaluates the whole package (allow, step_up, decision, ...)
# once, with the decision API replaced by a mock.
test_allow if {
	r := authz with input as alice
		with data.trustledger.url as mock_url
		with data.trustledger.token as mock_token
		with http.send as mock_allow
	r.allow == true
	r.step_up == false
	r.decision.trustScore == 78
	r.deny_reasons == set()
}

test_step_up_required_aal if {
	r := authz with input as alice
		with data.trustledger.url as mock_url
		with data.trustledger.token as mock_token
		with http.send as mock_step_up
	r.allow == false
	r.step_up == true
	r.required_aal == "aal3"
	r.deny_reasons == {"below_allow_threshold"}
}

test_step_up_without_required_authentication_fails_closed if {
	mock := answer({"principalId": "alice", "decision": "step_up", "reasons": []})
	r := authz with input as alice
		with data.trustledger.url as mock_url
		with data.trustledger.token as mock_token
		with http.send as mock
	r.allow == false
	r.step_up == false
	not r.required_aal
	r.deny_reasons == {"trustledger_unavailable"}
}

test_deny_missing_permission if {
	r := authz with input as {"principal": "alice", "action": "deploy"}
		with data.trustledger.url as mock_url
		with data.trustledger.token as mock_token
		with http.send as mock_missing_permission
	r.allow == false
	r.step_up == false
	r.deny_reasons == {"meets_threshold", "missing_permission"}
}

test_unknown_principal if {
	r := authz with input as {"principal": "mallory", "action": "read"}
		with data.trustledger.url as mock_url
		with data.trustledger.token as mock_token
		with http.send as mock_unknown
	r.allow == false
	r.decision.decision == "deny"
	r.deny_reasons == {"unknown_principal"}
}

test_trustledger_down_fails_closed if {
	r := authz with input as alice
		with data.trustledger.url as mock_url
		with data.trustledger.token as mock_token
		with http.send as mock_down
	r.allow == false
	r.step_up == false
	r.deny_reasons == {"trustledger_unavailable"}
	r.decision.error.cause == "transport_error"
	r.decision.error.statusCode == 0
	r.decision.error.problem.code == "eval_http_send_network_error"
}

test_503_retry_after if {
	r := authz with input as alice
		with data.trustledger.url as mock_url
		with data.trustledger.token as mock_token
		with http.send as mock_503
	r.allow == false
	r.deny_reasons == {"trustledger_unavailable"}
	r.decision.error.cause == "http_status"
	r.decision.error.statusCode == 503
	r.decision.error.retryAfter == "5"
	r.decision.error.problem.title == "no leader"
}

test_401_fails_closed if {
	r := authz with input as alice
		with data.trustledger.url as mock_url
		with data.trustledger.token as mock_token
		with http.send as mock_401
	r.allow == false
	r.deny_reasons == {"trustledger_unavailable"}
	r.decision.error.statusCode == 401
	r.decision.error.retryAfter == null
	r.decision.error.problem.title == "invalid token"
}

test_200_without_decision_fails_closed if {
	r := authz with input as alice
		with data.trustledger.url as mock_url
		with data.trustledger.token as mock_token
		with http.send as mock_incomplete
	r.allow == false
	r.deny_reasons == {"trustledger_unavailable"}
	r.decision.error.cause == "invalid_answer"
}

test_answer_for_another_principal_fails_closed if {
	r := authz with input as alice
		with data.trustledger.url as mock_url
		with data.trustledger.token as mock_token
		with http.send as mock_other_principal
	r.allow == false
	r.decision.error.cause == "invalid_answer"
}

test_no_token_fails_closed_without_a_call if {
	r := authz with input as alice
		with data.trustledger.url as mock_url
		with opa.runtime as {"env": {}}
		with http.send as mock_allow
	r.allow == false
	r.decision.error.cause == "not_configured"
	r.deny_reasons == {"trustledger_unavailable"}
}

test_token_from_environment if {
	r := authz with input as alice
		with data.trustledger.url as mock_url
		with opa.runtime as {"env": {"TRUSTLEDGER_TOKEN": mock_token}}
		with http.send as mock_allow
	r.allow == true
}

test_invalid_input_fails_closed if {
	r := authz with input as {"principal": 42, "action": "read"}
		with data.trustledger.url as mock_url
		with data.trustledger.token as mock_token
		with http.send as mock_allow
	r.allow == false
	r.decision.error.cause == "invalid_input"
}
