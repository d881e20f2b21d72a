// An OpenID Shared Signals Framework 1.0 receiver written from the
// specifications alone, with the jose library verifying every Security
// Event Token: none of trustledger's code is involved on this side.
// e2e.TestSSFJoseReceiver runs it against a real trustd.
//
//   node receiver.mjs WELL_KNOWN_URL PRINCIPAL_ID
//
// Environment:
//   SSF_TOKEN         the bearer token (role receiver) it manages streams with
//   TRUSTLEDGER_JOSE  the directory whose node_modules holds jose
//   SSF_TIMEOUT_MS    how long it waits in all (default 90000)
//
// It discovers the transmitter (SSF §7), checks its metadata, creates a
// push stream (RFC 8935) to an HTTP server of its own on 127.0.0.1 and a
// poll stream (RFC 8936), waits until jwks_uri offers RS256 and ES256 keys
// (the transmitter publishes them once it has a stream), runs the
// verification flow on both streams (SSF §8.1.4) and then waits for a
// CAEP risk-level-change and a trust-assessment about PRINCIPAL_ID on both
// streams. Every SET is verified with jose's jwtVerify against the remote
// JWKS: RS256 or ES256, typ secevent+jwt, iss the metadata's issuer, aud
// the stream's; then its jti, iat, sub_id and its one event are checked.
// Every push must carry the authorization header it gave the stream, and
// is answered 202 (or, when it fails a check, 400 with an RFC 8935 error).
// Polls acknowledge what they received; an acknowledged SET offered again
// is a failure.
//
// It prints one JSON object a line on stdout: "discovered", "stream" (one
// per stream), "keys", "set" (one per SET received), "negative-checks" (jose
// refused a tampered SET, a wrong audience, a wrong issuer and a
// disallowed algorithm, so the checks are live), "ready" (both streams
// verified: the test may now cause events), then "done", and exits 0.
// On any failed check or when the time is up it prints "error" and exits 1.
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { randomBytes, webcrypto } from "node:crypto";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

// Node 18 (Debian 12's nodejs) has WebCrypto, but not as a global.
globalThis.crypto ??= webcrypto;

const PUSH = "urn:ietf:rfc:8935";
const POLL = "urn:ietf:rfc:8936";
const SSF = "https://schemas.openid.net/secevent/ssf/event-type/";
const VERIFICATION = SSF + "verification";
const STREAM_UPDATED = SSF + "stream-updated";
const RISK_LEVEL_CHANGE = "https://schemas.openid.net/secevent/caep/event-type/risk-level-change";
const TRUST_ASSESSMENT = "https://trustledger.dev/secevent/trust-assessment";
const REQUESTED = [RISK_LEVEL_CHANGE, TRUST_ASSESSMENT];
const ALGORITHMS = ["RS256", "ES256"];
const CAEP_LEVELS = ["LOW", "MEDIUM", "HIGH"];

let finished = false;

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

// fail reports a failed check and exits 1; the first failure wins.
function fail(msg) {
  if (finished) return;
  finished = true;
  emit({ event: "error", error: String(msg) });
  process.stderr.write("receiver: " + msg + "\n");
  process.exit(1);
}

process.on("unhandledRejection", (e) => fail("unhandled: " + (e?.stack ?? e)));
process.on("uncaughtException", (e) => fail("uncaught: " + (e?.stack ?? e)));

const [wellKnown, principal] = process.argv.slice(2);
const token = process.env.SSF_TOKEN;
const joseDir = process.env.TRUSTLEDGER_JOSE;
const timeoutMs = Number(process.env.SSF_TIMEOUT_MS || 90000);
if (!wellKnown || !principal || !token || !joseDir) {
  fail("usage: SSF_TOKEN=… TRUSTLEDGER_JOSE=DIR node receiver.mjs WELL_KNOWN_URL PRINCIPAL_ID");
}

// jose is an ES module: resolve its entry in TRUSTLEDGER_JOSE/node_modules
// (import resolution does not read NODE_PATH) and import it by path.
const joseRequire = createRequire(resolve(joseDir) + "/");
const jose = await import(pathToFileURL(joseRequire.resolve("jose")).href);
const joseVersion = JSON.parse(readFileSync(join(resolve(joseDir), "node_modules", "jose", "package.json"), "utf8")).version;
const { jwtVerify, createRemoteJWKSet, decodeProtectedHeader } = jose;

const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms; still waiting for: ${missing().join("; ")}`), timeoutMs);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

// call sends a JSON request and returns the parsed answer; any status but
// expect fails.
async function call(method, url, body, expect, bearer = token) {
  const headers = { accept: "application/json" };
  if (bearer) headers.authorization = "Bearer " + bearer;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(url, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(20000),
  });
  const text = await res.text();
  if (res.status !== expect) {
    throw new Error(`${method} ${url}: status ${res.status}, want ${expect}: ${text.slice(0, 500)}`);
  }
  return text ? JSON.parse(text) : undefined;
}

// ---- Discovery (SSF §7) ----------------------------------------------------

const meta = await call("GET", wellKnown, undefined, 200, null);
if (meta.spec_version !== "1_0") fail(`spec_version ${JSON.stringify(meta.spec_version)}, want "1_0"`);
const issuer = meta.issuer;
if (typeof issuer !== "string" || issuer === "") fail(`issuer ${JSON.stringify(issuer)}`);
{
  // §7.2: the metadata is at the issuer with /.well-known/ssf-configuration
  // inserted between its host and path; §7.2.1: the issuer it names is that
  // issuer, exactly.
  const u = new URL(issuer);
  const path = u.pathname === "/" ? "" : u.pathname;
  const expected = u.origin + "/.well-known/ssf-configuration" + path;
  if (new URL(wellKnown).href !== new URL(expected).href) {
    fail(`the metadata at ${wellKnown} names issuer ${issuer}, whose metadata is at ${expected}`);
  }
}
for (const k of ["jwks_uri", "configuration_endpoint", "verification_endpoint"]) {
  if (typeof meta[k] !== "string") fail(`metadata: ${k} ${JSON.stringify(meta[k])}`);
  new URL(meta[k]); // throws on a bad URL
}
for (const m of [PUSH, POLL]) {
  if (!Array.isArray(meta.delivery_methods_supported) || !meta.delivery_methods_supported.includes(m)) {
    fail(`metadata: delivery_methods_supported ${JSON.stringify(meta.delivery_methods_supported)} lacks ${m}`);
  }
}
if (!Array.isArray(meta.authorization_schemes) || !meta.authorization_schemes.some((s) => s?.spec_urn === "urn:ietf:rfc:6750")) {
  fail(`metadata: authorization_schemes ${JSON.stringify(meta.authorization_schemes)} lacks bearer tokens (urn:ietf:rfc:6750)`);
}
emit({ event: "discovered", issuer, jose: joseVersion, node: process.version });

// ---- SET verification ------------------------------------------------------

let JWKS; // jose's remote key set, made once jwks_uri lists the keys

// A SETError is a SET that failed a check, with its RFC 8935 §2.4 code.
class SETError extends Error {
  constructor(code, msg) {
    super(msg);
    this.err = code;
  }
}

function setErrorOf(e) {
  if (e instanceof SETError) return e;
  switch (e?.code) {
    case "ERR_JWT_CLAIM_VALIDATION_FAILED":
      if (e.claim === "iss") return new SETError("invalid_issuer", e.message);
      if (e.claim === "aud") return new SETError("invalid_audience", e.message);
      return new SETError("invalid_request", `${e.message} (claim ${e.claim})`);
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
    case "ERR_JWKS_NO_MATCHING_KEY":
    case "ERR_JWKS_MULTIPLE_MATCHING_KEYS":
    case "ERR_JOSE_ALG_NOT_ALLOWED":
      return new SETError("invalid_key", `${e.code}: ${e.message}`);
  }
  return new SETError("invalid_request", `${e?.code ?? "error"}: ${e?.message ?? e}`);
}

const verifyOptions = (stream) => ({
  algorithms: ALGORITHMS, issuer, audience: stream.aud, typ: "secevent+jwt",
  requiredClaims: ["iss", "aud", "jti", "iat"],
});

// verifySET verifies a compact SET for stream and returns what it carries;
// it throws a SETError.
async function verifySET(compact, stream) {
  if (typeof compact !== "string") throw new SETError("invalid_request", `a SET that is not a string: ${typeof compact}`);
  let header;
  try {
    header = decodeProtectedHeader(compact);
  } catch (e) {
    throw setErrorOf(e);
  }
  // RFC 8417 §2.3: typ secevent+jwt; jwtVerify checks it too, leniently
  // (case, an application/ prefix): the transmitter must send it exactly.
  if (header.typ !== "secevent+jwt") throw new SETError("invalid_request", `header typ ${JSON.stringify(header.typ)}`);
  if (typeof header.kid !== "string" || header.kid === "") throw new SETError("invalid_key", "header without kid");
  let payload, protectedHeader;
  try {
    ({ payload, protectedHeader } = await jwtVerify(compact, JWKS, verifyOptions(stream)));
  } catch (e) {
    throw setErrorOf(e);
  }
  const bad = (msg) => new SETError("invalid_request", msg);
  if (typeof payload.jti !== "string" || payload.jti === "") throw bad(`jti ${JSON.stringify(payload.jti)}`);
  if (!Number.isInteger(payload.iat)) throw bad(`iat ${JSON.stringify(payload.iat)}`);
  const now = Math.floor(Date.now() / 1000);
  if (payload.iat > now + 60 || payload.iat < now - 3600) throw bad(`iat ${payload.iat}, ${payload.iat - now} s from now`);
  const sub = payload.sub_id;
  if (!isObject(sub) || typeof sub.format !== "string") throw bad(`sub_id ${JSON.stringify(sub)}`);
  if (sub.format === "opaque" && (typeof sub.id !== "string" || sub.id === "")) throw bad(`opaque sub_id ${JSON.stringify(sub)}`);
  if (!isObject(payload.events)) throw bad(`events ${JSON.stringify(payload.events)}`);
  const types = Object.keys(payload.events);
  if (types.length !== 1) throw bad(`${types.length} events in one SET: ${types.join(", ")}`);
  const type = types[0];
  const ev = payload.events[type];
  if (!isObject(ev)) throw bad(`event ${type}: ${JSON.stringify(ev)}`);
  switch (type) {
    case VERIFICATION:
      if (sub.format !== "opaque" || sub.id !== stream.stream_id) throw bad(`verification sub_id ${JSON.stringify(sub)}, want the stream ${stream.stream_id}`);
      if (stream.state === undefined || ev.state !== stream.state) {
        throw bad(`verification state ${JSON.stringify(ev.state)}, want ${JSON.stringify(stream.state)}`);
      }
      break;
    case STREAM_UPDATED:
      break;
    case RISK_LEVEL_CHANGE:
      if (!CAEP_LEVELS.includes(ev.current_level)) throw bad(`risk-level-change current_level ${JSON.stringify(ev.current_level)}`);
      if (ev.previous_level !== undefined && !CAEP_LEVELS.includes(ev.previous_level)) throw bad(`previous_level ${JSON.stringify(ev.previous_level)}`);
      if (typeof ev.principal !== "string") throw bad(`risk-level-change principal ${JSON.stringify(ev.principal)}`);
      break;
    case TRUST_ASSESSMENT:
      if (typeof ev.score !== "number" || ev.score < 0 || ev.score > 100) throw bad(`trust-assessment score ${JSON.stringify(ev.score)}`);
      if (typeof ev.level !== "string" || typeof ev.validUntil !== "number" || !isObject(ev.components) ||
        !Object.values(ev.components).every((v) => typeof v === "number")) {
        throw bad(`trust-assessment ${JSON.stringify(ev)}`);
      }
      break;
    default:
      throw bad(`event type ${type}, which the stream did not request`);
  }
  if (type !== VERIFICATION && type !== STREAM_UPDATED && !stream.events_delivered.includes(type)) {
    throw bad(`event type ${type} is not among the stream's events_delivered`);
  }
  return { jti: payload.jti, iat: payload.iat, iss: payload.iss, aud: payload.aud, type, sub_id: sub, payload: ev,
    alg: protectedHeader.alg, kid: protectedHeader.kid };
}

// negativeChecks runs once, on the first SET that verified: jose must
// refuse it tampered with, for another audience or issuer, and under an
// algorithm list without its alg. A receiver whose checks pass anything
// would pass this test too; these show that they do not.
let negativeDone = false;
async function negativeChecks(compact, stream, alg) {
  if (negativeDone) return;
  negativeDone = true;
  const [h, p, s] = compact.split(".");
  const claims = JSON.parse(Buffer.from(p, "base64url").toString());
  claims.jti += "-forged";
  const forged = [h, Buffer.from(JSON.stringify(claims)).toString("base64url"), s].join(".");
  const opts = verifyOptions(stream);
  const cases = [
    ["tampered payload", forged, opts, "ERR_JWS_SIGNATURE_VERIFICATION_FAILED"],
    ["another audience", compact, { ...opts, audience: stream.stream_id + "-other" }, "ERR_JWT_CLAIM_VALIDATION_FAILED"],
    ["another issuer", compact, { ...opts, issuer: issuer + "/other" }, "ERR_JWT_CLAIM_VALIDATION_FAILED"],
    ["algorithm not allowed", compact, { ...opts, algorithms: ALGORITHMS.filter((a) => a !== alg) }, "ERR_JOSE_ALG_NOT_ALLOWED"],
  ];
  const rejected = [];
  for (const [name, jwt, o, code] of cases) {
    try {
      await jwtVerify(jwt, JWKS, o);
    } catch (e) {
      if (e?.code !== code) fail(`negative check "${name}": jose failed with ${e?.code}: ${e?.message}, want ${code}`);
      rejected.push(name);
      continue;
    }
    fail(`negative check "${name}": jose accepted the SET`);
  }
  emit({ event: "negative-checks", rejected });
}

// ---- What has been received -------------------------------------------------

const streams = {}; // "push", "poll" → the stream's configuration and what it got

function record(via, set) {
  const st = streams[via];
  if (st.jtis.has(set.jti)) {
    emit({ event: "set", via, duplicate: true, stream_id: st.stream_id, jti: set.jti, type: set.type });
    return;
  }
  st.jtis.add(set.jti);
  emit({ event: "set", via, stream_id: st.stream_id, ...set });
  if (set.type === VERIFICATION) st.verified = true;
  if (set.sub_id.format === "opaque" && set.sub_id.id === principal) st.got.add(set.type);
  if (!readyEmitted && streams.push?.verified && streams.poll?.verified) {
    readyEmitted = true;
    emit({ event: "ready", push: streams.push.stream_id, poll: streams.poll.stream_id });
  }
}
let readyEmitted = false;

function missing() {
  const out = [];
  for (const via of ["push", "poll"]) {
    const st = streams[via];
    if (!st) {
      out.push(`the ${via} stream`);
      continue;
    }
    if (!st.verified) out.push(`the ${via} stream's verification event`);
    for (const t of REQUESTED) if (!st.got.has(t)) out.push(`${t} for ${principal} on the ${via} stream`);
  }
  return out;
}

// ---- Push delivery (RFC 8935) ----------------------------------------------

const pushAuth = "Bearer " + randomBytes(24).toString("base64url");
// A push is verified once the streams are made and the keys known.
let setupDone;
const setup = new Promise((r) => { setupDone = r; });

function refusePush(res, code, msg) {
  res.writeHead(400, { "content-type": "application/json" });
  res.end(JSON.stringify({ err: code, description: msg }), () => fail(`push: ${code}: ${msg}`));
}

const server = createServer((req, res) => {
  if (finished) {
    res.writeHead(503).end();
    return;
  }
  if (req.method !== "POST" || req.url !== "/ssf/push") {
    res.writeHead(404).end(() => fail(`unexpected request ${req.method} ${req.url}`));
    return;
  }
  // Every push must carry the header the stream was created with.
  if (req.headers.authorization !== pushAuth) {
    res.writeHead(401, { "content-type": "application/json" });
    res.end(JSON.stringify({ err: "authentication_failed", description: "wrong or missing authorization" }),
      () => fail(`push with authorization ${JSON.stringify(req.headers.authorization ?? null)}, not the stream's`));
    return;
  }
  const ctype = (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
  if (ctype !== "application/secevent+jwt") {
    refusePush(res, "invalid_request", `content-type ${JSON.stringify(req.headers["content-type"])}, want application/secevent+jwt`);
    return;
  }
  const chunks = [];
  let size = 0;
  req.on("data", (c) => {
    size += c.length;
    if (size <= 1 << 20) chunks.push(c);
  });
  req.on("end", async () => {
    if (size > 1 << 20) {
      refusePush(res, "invalid_request", `a SET of ${size} bytes`);
      return;
    }
    const compact = Buffer.concat(chunks).toString("utf8").trim();
    await setup;
    const stream = streams.push;
    let set;
    try {
      set = await verifySET(compact, stream);
      await negativeChecks(compact, stream, set.alg);
    } catch (e) {
      const se = setErrorOf(e);
      refusePush(res, se.err, se.message);
      return;
    }
    record("push", set);
    res.writeHead(202).end();
  });
});
await new Promise((ok, bad) => {
  server.once("error", bad);
  server.listen(0, "127.0.0.1", ok);
});
const pushURL = `http://127.0.0.1:${server.address().port}/ssf/push`;

// ---- Streams (SSF §8.1.1) ----------------------------------------------------

async function createStream(via, delivery) {
  const cfg = await call("POST", meta.configuration_endpoint,
    { delivery, events_requested: REQUESTED, description: `jose ${joseVersion} e2e receiver (${via})` }, 201);
  const bad = (msg) => fail(`created ${via} stream: ${msg}: ${JSON.stringify(cfg)}`);
  if (typeof cfg?.stream_id !== "string" || cfg.stream_id === "") bad("no stream_id");
  if (cfg.iss !== issuer) bad(`iss ${JSON.stringify(cfg.iss)}, want ${issuer}`);
  const auds = Array.isArray(cfg.aud) ? cfg.aud : [cfg.aud];
  if (auds.length === 0 || !auds.every((a) => typeof a === "string" && a !== "")) bad(`aud ${JSON.stringify(cfg.aud)}`);
  if (!isObject(cfg.delivery) || cfg.delivery.method !== delivery.method) bad("delivery.method");
  if ("authorization_header" in cfg.delivery) bad("the configuration shows the authorization header");
  for (const t of REQUESTED) {
    if (!cfg.events_supported?.includes(t)) bad(`events_supported lacks ${t}`);
    if (!cfg.events_requested?.includes(t)) bad(`events_requested lacks ${t}`);
    if (!cfg.events_delivered?.includes(t)) bad(`events_delivered lacks ${t}`);
  }
  if (via === "push" && cfg.delivery.endpoint_url !== pushURL) bad(`endpoint_url ${cfg.delivery.endpoint_url}, want ${pushURL}`);
  if (via === "poll") new URL(cfg.delivery.endpoint_url); // the transmitter supplies it
  streams[via] = { ...cfg, jtis: new Set(), got: new Set(), verified: false };
  emit({ event: "stream", via, stream_id: cfg.stream_id, aud: cfg.aud, endpoint_url: cfg.delivery.endpoint_url });
  return streams[via];
}

await createStream("push", { method: PUSH, endpoint_url: pushURL, authorization_header: pushAuth });
await createStream("poll", { method: POLL });

// ---- Keys ---------------------------------------------------------------------

// The leader publishes its keys once there is a stream, before it signs
// anything: wait for them, and check that the set holds public keys only.
let jwks;
for (;;) {
  jwks = await call("GET", meta.jwks_uri, undefined, 200, null);
  if (!Array.isArray(jwks?.keys)) fail(`jwks_uri: no keys array: ${JSON.stringify(jwks).slice(0, 300)}`);
  const algs = new Set(jwks.keys.map((k) => k.alg));
  if (ALGORITHMS.every((a) => algs.has(a))) break;
  await sleep(100);
}
for (const k of jwks.keys) {
  if (typeof k.kid !== "string" || k.kid === "") fail(`a JWKS key has no kid: ${JSON.stringify(k)}`);
  for (const priv of ["d", "p", "q", "dp", "dq", "qi", "k"]) {
    if (priv in k) fail(`JWKS key ${k.kid} carries the private member ${priv}`);
  }
}
// The SETs are verified with the keys jose itself fetches from jwks_uri.
JWKS = createRemoteJWKSet(new URL(meta.jwks_uri));
emit({ event: "keys", keys: jwks.keys.map((k) => ({ kid: k.kid, alg: k.alg, kty: k.kty })) });
setupDone();

// ---- Verification (SSF §8.1.4) ------------------------------------------------

for (const via of ["push", "poll"]) {
  const st = streams[via];
  st.state = randomBytes(16).toString("base64url");
  await call("POST", meta.verification_endpoint, { stream_id: st.stream_id, state: st.state }, 204);
}

// ---- Poll delivery (RFC 8936), until everything is in -------------------------

const acked = new Set();
async function poll(body) {
  const out = await call("POST", streams.poll.delivery.endpoint_url, body, 200);
  for (const j of body.ack ?? []) acked.add(j);
  if (!isObject(out?.sets) || typeof out.moreAvailable !== "boolean") fail(`poll answer ${JSON.stringify(out).slice(0, 300)}`);
  const jtis = [];
  for (const [jti, compact] of Object.entries(out.sets)) {
    if (acked.has(jti)) fail(`poll: SET ${jti} offered again after it was acknowledged`);
    let set;
    try {
      set = await verifySET(compact, streams.poll);
      await negativeChecks(compact, streams.poll, set.alg);
    } catch (e) {
      const se = setErrorOf(e);
      fail(`poll: SET ${jti}: ${se.err}: ${se.message}`);
    }
    if (set.jti !== jti) fail(`poll: the SET under ${jti} has jti ${set.jti}`);
    record("poll", set);
    jtis.push(jti);
  }
  return { jtis, more: out.moreAvailable };
}

let acks = [];
while (!finished) {
  if (missing().length === 0) break;
  const { jtis, more } = await poll({ ack: acks, returnImmediately: true });
  acks = jtis;
  if (jtis.length === 0 && !more) await sleep(200);
}
// Acknowledge the last SETs without asking for more (maxEvents 0), then
// poll once more: nothing acknowledged may be offered again (poll fails
// then).
await poll({ ack: acks, maxEvents: 0, returnImmediately: true });
await poll({ ack: [], returnImmediately: true });

clearTimeout(timer);
finished = true;
emit({ event: "done", push: streams.push.jtis.size, poll: streams.poll.jtis.size, acknowledged: acked.size });
server.close();
server.closeAllConnections?.();
process.exit(0);
