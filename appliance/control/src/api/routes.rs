//! Every route of the API with who may call it: the router, the OpenAPI document and the
//! role-matrix test all read this one table, so a route cannot be added without saying
//! which role it needs.

use serde_json::{json, Map, Value};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: sign-in, first-admin setup, health, the login page's branding, this document.
    Public,
    /// Any signed-in user or token, about themselves.
    Signed,
    /// `Can<READ>`: every role.
    Read,
    /// `Can<OPERATE>`: Admin and Técnico.
    Operate,
    /// `Can<ADMIN>`: Admin.
    Admin,
}

#[derive(Debug, Clone, Copy)]
pub struct RouteDoc {
    pub method: &'static str,
    /// axum syntax (`{id}`), which is also OpenAPI's.
    pub path: &'static str,
    pub access: Access,
    pub summary: &'static str,
}

const fn r(
    method: &'static str,
    path: &'static str,
    access: Access,
    summary: &'static str,
) -> RouteDoc {
    RouteDoc {
        method,
        path,
        access,
        summary,
    }
}

use Access::*;

pub const ROUTES: &[RouteDoc] = &[
    r("GET", "/healthz", Public, "Liveness: 200 \"ok\""),
    r("GET", "/api/v1/openapi.json", Public, "This document"),
    r("GET", "/api/v1/branding", Public, "Product name and colour for the login page"),
    r("GET", "/api/v1/branding/logo", Public, "The customer's logo (404 when none)"),
    r("GET", "/hls/{key}/{file}", Public, "HLS of a pull_hls output ({key}: the output's key; {file}: index.m3u8 with optional _HLS_msn/_HLS_part blocking reload, init, segments and parts as the playlist names them). Unknown key and expired file: the same 404; input not live: 503 with Retry-After; segments immutable (cache a year), playlist max-age=1; ETag/304, single byte Range (206/416); CORS from [hls] allowed_origins"),
    r("HEAD", "/hls/{key}/{file}", Public, "The GET's headers without the body"),
    r("OPTIONS", "/hls/{key}/{file}", Public, "CORS preflight (204)"),
    r("POST", "/api/v1/setup", Public, "Create the first admin with the one-time setup token printed at start"),
    r("POST", "/api/v1/auth/login", Public, "Sign in: email, password and TOTP code when 2FA is on; returns an access and a refresh token"),
    r("POST", "/api/v1/auth/refresh", Public, "Exchange a refresh token for a new pair (rotation; a reused token revokes its family)"),
    r("POST", "/api/v1/auth/logout", Public, "Revoke a refresh token's family"),
    r("GET", "/api/v1/me", Signed, "The signed-in user"),
    r("POST", "/api/v1/me/password", Signed, "Change one's password (current password required)"),
    r("POST", "/api/v1/me/totp/begin", Signed, "Start 2FA enrolment (current password required): secret, otpauth URI and QR code (SVG)"),
    r("POST", "/api/v1/me/totp/confirm", Signed, "Finish 2FA enrolment with a code; returns one-time recovery codes"),
    r("POST", "/api/v1/me/totp/disable", Signed, "Turn one's 2FA off (password required; refused when an admin requires it)"),
    r("GET", "/metrics", Read, "Prometheus text format"),
    r("GET", "/api/v1/status", Read, "Live state of every input and output (per input: the main feed's figures, backup, on_air, on_air_since, last_switch, codecs; per output: compat)"),
    r("GET", "/api/v1/events", Read, "Without an upgrade: past events, newest first (filters: input, output ('' = the input's own), kind (repeatable or comma-separated; a prefix ending in '.' like publisher.), severity (at least: info | warning | error), from, to (RFC 3339); page with before_id and limit (1-500, default 100); answer {events, next_before_id}; format=csv downloads the page, X-Next-Before-Id names the next). As a WebSocket: a snapshot every second, state changes, and feed messages when an input's feed on air changes ({\"type\": \"feed\", input, from, to, reason, at}) (token in the Authorization header of the upgrade, or the panel's cookie; at most 16 sockets per user or token, then 429 too_many_sockets; client messages over 4 KiB close the socket)"),
    r("GET", "/api/v1/history/{input}", Read, "An input's history ({input}: its name, percent-encoded): from, to (RFC 3339; default the last hour; at most 31 days, else 400 range_too_wide), step (1s within the last hour, 1m, 10m, 30m, 1h; default the finest giving at most 1500 points), format=csv. Points: at, secs_live/waiting/failing/stopped/meant, bitrate_avg/min/max, bytes, reconnects, dropped, srt_rtt_ms, srt_packets/lost/retransmitted, srt_loss_pct, peers_max. 404 unknown_flow when not configured and no history"),
    r("GET", "/api/v1/history/{input}/{output}", Read, "An output's history (same parameters and points)"),
    r("GET", "/api/v1/availability/{input}", Read, "An input's availability over from..to (default the last 24 h): live_secs, meant_secs (enabled), ratio (null when never meant to run)"),
    r("GET", "/api/v1/availability/{input}/{output}", Read, "An output's availability (meant: enabled while its input was live)"),
    r("GET", "/api/v1/inputs", Read, "Inputs with their outputs (secrets masked for Visor)"),
    r("POST", "/api/v1/inputs", Operate, "Create an input"),
    r("GET", "/api/v1/inputs/{id}", Read, "One input with its outputs"),
    r("PUT", "/api/v1/inputs/{id}", Operate, "Replace an input's settings"),
    r("DELETE", "/api/v1/inputs/{id}", Operate, "Delete an input and its outputs"),
    r("POST", "/api/v1/inputs/{id}/start", Operate, "Enable an input"),
    r("POST", "/api/v1/inputs/{id}/stop", Operate, "Disable an input"),
    r("GET", "/api/v1/inputs/{id}/status", Read, "An input's live state: the main feed's publisher, link and bit rate; backup (the backup feed's), on_air (main | backup | null), on_air_since, last_switch {from, to, reason: failover | revert | manual, at}, codecs; per output compat problems"),
    r("POST", "/api/v1/inputs/{id}/switch", Operate, "Put the main or the backup feed on air by hand (body {\"feed\": \"main\" | \"backup\"}; at its next keyframe; audited input.switch). 409 no_backup, 409 feed_not_live"),
    r("POST", "/api/v1/feeds/{input}", Operate, "The same switch for an input by name (percent-encoded), inputs of the configuration file included (they have no id)"),
    r("POST", "/api/v1/inputs/{id}/outputs", Operate, "Add an output to an input"),
    r("GET", "/api/v1/outputs/{id}", Read, "One output"),
    r("PUT", "/api/v1/outputs/{id}", Operate, "Replace an output's settings"),
    r("DELETE", "/api/v1/outputs/{id}", Operate, "Delete an output"),
    r("POST", "/api/v1/outputs/{id}/start", Operate, "Enable an output"),
    r("POST", "/api/v1/outputs/{id}/stop", Operate, "Disable an output"),
    r("GET", "/api/v1/recordings", Read, "Recordings' disk use: used_bytes (every recorded file), free_bytes and total_bytes of their filesystem, floor_bytes (recording stops rather than leave less free)"),
    r("GET", "/api/v1/recordings/{input}", Read, "An input's recorded files, newest first ({input}: the input's name, percent-encoded, or its folder): output, file, format, start, duration_s, size_bytes, codecs, recording (being written), url"),
    r("GET", "/api/v1/recordings/{input}/{output}/{file}", Read, "Download a recorded file (Range requests: 206 with Content-Range, 416 past the end; If-Range with the ETag)"),
    r("DELETE", "/api/v1/recordings/{input}/{output}/{file}", Operate, "Delete a recorded file (audited; 409 while it is being written)"),
    r("GET", "/api/v1/audit", Read, "The audit log, newest first (filters: actor, action, target_kind, since, until; page with before_id, limit)"),
    r("GET", "/api/v1/users", Admin, "Users"),
    r("POST", "/api/v1/users", Admin, "Create a user"),
    r("GET", "/api/v1/users/{id}", Admin, "One user"),
    r("PATCH", "/api/v1/users/{id}", Admin, "Change role, disable, require 2FA"),
    r("DELETE", "/api/v1/users/{id}", Admin, "Delete a user"),
    r("POST", "/api/v1/users/{id}/password", Admin, "Set a user's password"),
    r("POST", "/api/v1/users/{id}/totp/reset", Admin, "Remove a user's 2FA (lost phone)"),
    r("GET", "/api/v1/tokens", Admin, "API tokens"),
    r("POST", "/api/v1/tokens", Admin, "Create an API token (shown once)"),
    r("DELETE", "/api/v1/tokens/{id}", Admin, "Revoke an API token"),
    r("GET", "/api/v1/settings", Admin, "Branding settings and allow_private_destinations"),
    r("PATCH", "/api/v1/settings", Admin, "Change product name, main colour, or allow_private_destinations (whether API flows may push to or pull from loopback, private and link-local addresses; default false)"),
    r("PUT", "/api/v1/settings/logo", Admin, "Upload the logo (body: the image; Content-Type image/png, image/svg+xml, image/jpeg or image/webp)"),
    r("DELETE", "/api/v1/settings/logo", Admin, "Remove the logo"),
    r("GET", "/api/v1/alerts/rules", Admin, "Alert rules"),
    r("POST", "/api/v1/alerts/rules", Admin, "Create an alert rule: name, condition (input_down | output_failing | low_bitrate | srt_loss | disk_low | cert_expiry), input and output (names; absent: every flow), threshold (low_bitrate kbit/s 1-1000000, srt_loss % 0.1-100, disk_low % free 1-99, cert_expiry days 1-365; none for the others), for_secs (0-86400), enabled"),
    r("GET", "/api/v1/alerts/rules/{id}", Admin, "One alert rule"),
    r("PUT", "/api/v1/alerts/rules/{id}", Admin, "Replace an alert rule"),
    r("DELETE", "/api/v1/alerts/rules/{id}", Admin, "Delete an alert rule"),
    r("GET", "/api/v1/alerts/channels", Admin, "Alert channels (secrets masked: secret, a Slack URL, password)"),
    r("POST", "/api/v1/alerts/channels", Admin, "Create an alert channel: name, kind (webhook: url, secret for an HMAC-SHA256 X-Relevo-Signature header | slack: an incoming webhook url, Slack or Teams | email: host, port, security none | starttls | tls, username, password, from, to [addresses]), enabled, lang (es | en)"),
    r("GET", "/api/v1/alerts/channels/{id}", Admin, "One alert channel (secrets masked)"),
    r("PUT", "/api/v1/alerts/channels/{id}", Admin, "Replace an alert channel (a secret sent back masked is kept)"),
    r("DELETE", "/api/v1/alerts/channels/{id}", Admin, "Delete an alert channel"),
    r("POST", "/api/v1/alerts/channels/{id}/test", Admin, "Send a test message now: 200 {\"ok\": true}, or 502 delivery_failed with the reason"),
    r("GET", "/api/v1/alerts/settings", Admin, "Alert settings: repeat_minutes (a flapping flow sends at most one message per this many minutes, default 15), panel_url (the panel's address for the link in messages; null: no link)"),
    r("PATCH", "/api/v1/alerts/settings", Admin, "Change repeat_minutes (1-1440) or panel_url (http(s) URL, or null)"),
    r("GET", "/api/v1/alerts/deliveries", Admin, "Alert messages per channel, newest first: state (pending, sent, failed), attempts, next_attempt_at, last_error, the payload sent (no secret); ?limit= (1-500, default 100) &before_id= (paging, next_before_id)"),
    r("GET", "/api/v1/config/export", Admin, "Export inputs, outputs, settings and alerts (rules, channels, alert settings) as JSON (secrets included: a backup)"),
    r("POST", "/api/v1/config/import", Admin, "Import an export (?mode=empty refuses a non-empty database, ?mode=replace replaces every API flow; alerts in the document replace the alerts, a document without them leaves them)"),
];

/// The OpenAPI 3.1 document, built from [`ROUTES`].
pub fn openapi() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
        let mut op = json!({
            "summary": route.summary,
            "x-relevo-access": format!("{:?}", route.access).to_lowercase(),
            "responses": {
                "default": {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            }
        });
        if route.access != Public {
            op["security"] = json!([{"bearer": []}]);
        }
        let params: Vec<Value> = route
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                // Ids are numbers; a recording's input, output and file, and an HLS key
                // and file, are names.
                let kind = if name == "id" { "integer" } else { "string" };
                json!({"name": name, "in": "path", "required": true, "schema": {"type": kind}})
            })
            .collect();
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        for (_, _, status, schema) in super::schemas::ANSWERS
            .iter()
            .filter(|(m, p, _, _)| *m == route.method && *p == route.path)
        {
            op["responses"][*status] = json!({"description": "Done", "content": {"application/json": {
                "schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
        }
        if let Some(schema) = super::schemas::body_of(route.method, route.path) {
            op["requestBody"] = json!({"required": true, "content": {"application/json": {
                "schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
        }
        if let Some(m) = entry.as_object_mut() {
            m.insert(route.method.to_lowercase(), op);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Relevo API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "SRT/RTMP relay appliance. Roles: admin (everything), tecnico (inputs, outputs, start/stop), visor (read only, secrets masked). Authenticate with `Authorization: Bearer <access token or API token>`."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": with_bodies(json!({
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}}
                }}}
            }))
        }
    })
}

/// The error schema plus every request body's ([`super::schemas`]).
fn with_bodies(mut schemas: Value) -> Value {
    if let (Some(all), Value::Object(bodies)) = (schemas.as_object_mut(), super::schemas::schemas())
    {
        all.extend(bodies);
    }
    schemas
}
