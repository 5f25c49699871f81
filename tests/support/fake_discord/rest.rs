//! The fake REST API under `/api/v10`: the endpoints carebot and serenity use, with Discord's
//! response shapes and error bodies, request validation on the parts Discord is strict about
//! (message limits, `allowed_mentions`, components, interaction callbacks), failure injection,
//! Discord-like rate limits when they are on (`ratelimit.rs`), and a record of every call.

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::gateway::{dispatch, dispatch_message};
use super::ratelimit::Verdict;
use super::state::{snowflake, State, INTENT_GUILDS};
use super::{Author, Failure, FakeDiscord, RecordedRequest};

/// What a route answers: status and JSON body (`None` for 204).
type Reply = (u16, Option<Value>);

fn ok(body: Value) -> Reply {
    (200, Some(body))
}

fn no_content() -> Reply {
    (204, None)
}

/// A Discord error body (`ErrorResponse`: `code` + `message`).
fn error(status: u16, code: u64, message: &str) -> Reply {
    (status, Some(json!({"code": code, "message": message})))
}

/// `Invalid Form Body` (50035) with one field error, as Discord reports validation failures.
fn invalid_form(field: &str, code: &str, message: &str) -> Reply {
    let mut errors = json!({});
    let mut cursor = &mut errors;
    for part in field.split('.') {
        cursor = &mut cursor[part];
    }
    *cursor = json!({"_errors": [{"code": code, "message": message}]});
    (
        400,
        Some(json!({"code": 50035, "message": "Invalid Form Body", "errors": errors})),
    )
}

/// The single REST entry point (axum fallback): parse, inject failures, route, record.
pub(crate) async fn rest_route(
    AxumState(fake): AxumState<FakeDiscord>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let full_path = uri.path().to_string();
    let path = full_path
        .strip_prefix("/api/v10")
        .unwrap_or(&full_path)
        .to_string();
    let query: Vec<(String, String)> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (p.to_string(), String::new()),
        })
        .collect();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let (body_json, files) = parse_body(&content_type, &body);
    let uploads = multipart_uploads(&content_type, &body);
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);

    let mut st = fake.lock();
    let line = format!("{} {}", method.as_str(), path);
    let injected = st
        .injections
        .iter_mut()
        .find(|i| i.remaining > 0 && i.matches(&line))
        .map(|i| {
            i.remaining -= 1;
            i.failure.clone()
        });
    st.injections.retain(|i| i.remaining > 0);

    let (status, reply_body, extra_headers) = if let Some(failure) = injected {
        failure_reply(&failure)
    } else if !full_path.starts_with("/api/v10/") {
        let (s, b) = error(404, 0, "404: Not Found");
        (s, b, Vec::new())
    } else {
        let verdict = st
            .rate_limits
            .as_mut()
            .map(|limits| limits.check(method.as_str(), &path, std::time::Instant::now()));
        let headers = match verdict {
            Some(Verdict::Refuse(body, headers)) => Err((429, Some(body), headers)),
            Some(Verdict::Pass(headers)) => Ok(headers),
            None => Ok(Vec::new()),
        };
        match headers {
            Err(refused) => refused,
            Ok(headers) => {
                let needs_auth = !(path.starts_with("/interactions/") || path.starts_with("/webhooks/"));
                let token_ok = |a: &str| match &st.token {
                    Some(token) => a.strip_prefix("Bot ") == Some(token.as_str()),
                    None => a.starts_with("Bot "),
                };
                let (s, b) = if needs_auth && !authorization.as_deref().is_some_and(token_ok) {
                    error(401, 0, "401: Unauthorized")
                } else {
                    match body_json {
                        Err(()) => error(400, 50109, "The request body contains invalid JSON."),
                        Ok(ref body) => match validate_uploads(body, &uploads) {
                            Err(refused) => refused,
                            Ok(()) => route(&mut st, &method, &path, &query, body, &files),
                        },
                    }
                };
                (s, b, headers)
            }
        }
    };

    st.requests.push(RecordedRequest {
        method: method.as_str().to_string(),
        path,
        query,
        body: body_json.clone().unwrap_or(Value::Null),
        files,
        uploads,
        authorization,
        status,
        response: reply_body.clone().unwrap_or(Value::Null),
    });
    drop(st);

    let mut response = match reply_body {
        Some(b) => (StatusCode::from_u16(status).expect("valid status"), axum::Json(b)).into_response(),
        None => StatusCode::from_u16(status)
            .expect("valid status")
            .into_response(),
    };
    for (name, value) in extra_headers {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_str(&value).expect("ascii header"));
    }
    response
}

/// JSON body, or multipart's `payload_json` plus the uploaded file names.
fn parse_body(content_type: &str, body: &[u8]) -> (Result<Value, ()>, Vec<String>) {
    if let Some(boundary) = content_type.strip_prefix("multipart/form-data; boundary=") {
        let text = String::from_utf8_lossy(body);
        let mut payload = Value::Null;
        let mut files = Vec::new();
        for part in text.split(&format!("--{}", boundary.trim_matches('"'))) {
            let Some((head, content)) = part.split_once("\r\n\r\n") else {
                continue;
            };
            let content = content.strip_suffix("\r\n").unwrap_or(content);
            if head.contains("name=\"payload_json\"") {
                match serde_json::from_str(content) {
                    Ok(v) => payload = v,
                    Err(_) => return (Err(()), files),
                }
            } else if let Some(start) = head.find("filename=\"") {
                let rest = &head[start + 10..];
                files.push(rest[..rest.find('"').unwrap_or(rest.len())].to_string());
            }
        }
        return (Ok(payload), files);
    }
    if body.is_empty() {
        return (Ok(Value::Null), Vec::new());
    }
    (serde_json::from_slice(body).map_err(|_| ()), Vec::new())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `name="..."` of a part's `Content-Disposition` (not the `filename`).
fn disposition_param(head: &str, key: &str) -> Option<String> {
    let start = head.find(&format!("; {key}=\""))? + key.len() + 4;
    let rest = &head[start..];
    Some(rest[..rest.find('"')?].to_string())
}

/// The file parts of a multipart body, read as bytes (a PNG is not text).
fn multipart_uploads(content_type: &str, body: &[u8]) -> Vec<super::Upload> {
    let Some(boundary) = content_type.strip_prefix("multipart/form-data; boundary=") else {
        return Vec::new();
    };
    let delimiter = format!("--{}", boundary.trim_matches('"')).into_bytes();
    let mut uploads = Vec::new();
    let mut rest = body;
    while let Some(at) = find(rest, &delimiter) {
        rest = &rest[at + delimiter.len()..];
        let end = find(rest, &delimiter).unwrap_or(rest.len());
        let part = &rest[..end];
        let Some(head_end) = find(part, b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..head_end]);
        let content = &part[head_end + 4..];
        let content = content.strip_suffix(b"\r\n").unwrap_or(content);
        let (Some(field), Some(filename)) = (
            disposition_param(&head, "name"),
            disposition_param(&head, "filename"),
        ) else {
            continue;
        };
        let content_type = head.lines().find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_string())
        });
        uploads.push(super::Upload {
            field,
            filename,
            content_type,
            bytes: content.to_vec(),
        });
    }
    uploads
}

/// A multipart message body as the OpenAPI describes it (`MessageCreateRequest` with
/// `files[0]`..`files[9]`): at most ten files, each part named `files[n]` with a filename of
/// 1-1024 characters, and `payload_json.attachments` listing each part's `n` as an `id`
/// (with the same filename when it gives one).
fn validate_uploads(body: &Value, uploads: &[super::Upload]) -> Result<(), Reply> {
    if uploads.is_empty() {
        return Ok(());
    }
    if uploads.len() > 10 {
        return Err(invalid_form(
            "files",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 10 or fewer in length.",
        ));
    }
    let attachments = body
        .get("attachments")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for upload in uploads {
        let n = upload
            .field
            .strip_prefix("files[")
            .and_then(|r| r.strip_suffix(']'))
            .and_then(|n| n.parse::<u64>().ok())
            .filter(|n| *n < 10);
        let Some(n) = n else {
            return Err(invalid_form(
                "files",
                "FILE_UPLOAD_INVALID_FIELD",
                &format!("Unknown file field {}.", upload.field),
            ));
        };
        if !(1..=1024).contains(&upload.filename.chars().count()) {
            return Err(invalid_form(
                &format!("files.{n}"),
                "BASE_TYPE_BAD_LENGTH",
                "Filename must be 1-1024 in length.",
            ));
        }
        let id_of = |a: &Value| {
            a["id"]
                .as_u64()
                .or_else(|| a["id"].as_str().and_then(|s| s.parse().ok()))
        };
        let Some(listed) = attachments.iter().find(|a| id_of(a) == Some(n)) else {
            return Err(invalid_form(
                "attachments",
                "ATTACHMENT_NOT_FOUND",
                &format!("No attachment with id {n} for the file part {}.", upload.field),
            ));
        };
        if let Some(name) = listed["filename"].as_str() {
            if name != upload.filename {
                return Err(invalid_form(
                    &format!("attachments.{n}.filename"),
                    "ATTACHMENT_FILENAME_MISMATCH",
                    "The attachment's filename does not match its file part.",
                ));
            }
        }
    }
    Ok(())
}

fn failure_reply(failure: &Failure) -> (u16, Option<Value>, Vec<(&'static str, String)>) {
    match failure {
        Failure::RateLimited { retry_after } => {
            let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
            let headers = vec![
                ("retry-after", format!("{}", retry_after.ceil() as u64)),
                ("x-ratelimit-limit", "5".to_string()),
                ("x-ratelimit-remaining", "0".to_string()),
                ("x-ratelimit-reset", format!("{:.3}", now + retry_after)),
                ("x-ratelimit-reset-after", format!("{retry_after:.3}")),
                ("x-ratelimit-bucket", "fake0bucket0hash".to_string()),
                ("x-ratelimit-scope", "user".to_string()),
            ];
            let body = json!({"message": "You are being rate limited.", "retry_after": retry_after, "global": false});
            (429, Some(body), headers)
        }
        Failure::Status(status) => {
            let reason = StatusCode::from_u16(*status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Error");
            (
                *status,
                Some(json!({"message": format!("{status}: {reason}"), "code": 0})),
                Vec::new(),
            )
        }
    }
}

fn route(
    st: &mut State,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    body: &Value,
    files: &[String],
) -> Reply {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let app = st.application_id().to_string();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["gateway"]) => ok(json!({"url": st.ws_url()})),
        ("GET", ["gateway", "bot"]) => ok(json!({
            "url": st.ws_url(),
            "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
        })),
        ("GET", ["users", "@me"]) => {
            let mut user = st.user(st.bot_user_id);
            user["verified"] = json!(true);
            user["mfa_enabled"] = json!(false);
            user["email"] = Value::Null;
            user["locale"] = json!("en-US");
            ok(user)
        }
        ("GET", ["oauth2", "applications", "@me"]) | ("GET", ["applications", "@me"]) => {
            ok(application_info(st))
        }
        (m, ["applications", a, "commands"]) if *a == app => commands(st, m, None, body),
        (m, ["applications", a, "guilds", g, "commands"]) if *a == app => match snowflake(g) {
            Some(g) if g == st.guild_id => commands(st, m, Some(g), body),
            _ => error(403, 50001, "Missing Access"),
        },
        ("GET", ["guilds", g]) => with_guild(st, g, |st| ok(st.guild_rest_json())),
        ("GET", ["guilds", g, "roles"]) => {
            with_guild(st, g, |st| ok(Value::Array(st.roles.values().cloned().collect())))
        }
        // Channels, not threads (as Discord lists them).
        ("GET", ["guilds", g, "channels"]) => with_guild(st, g, |st| {
            let channels = st
                .channels
                .iter()
                .filter(|(id, _)| !st.is_thread(**id))
                .map(|(_, c)| c.clone())
                .collect();
            ok(Value::Array(channels))
        }),
        ("GET", ["guilds", g, "members", u]) => with_guild(st, g, |st| {
            match snowflake(u).filter(|u| st.members.contains_key(u)) {
                Some(u) => ok(st.member(u, false)),
                None => error(404, 10007, "Unknown Member"),
            }
        }),
        ("GET", ["channels", c]) => with_channel(st, c, |st, c| ok(st.channels[&c].clone())),
        ("POST", ["channels", c, "typing"]) => with_channel(st, c, |_, _| no_content()),
        ("POST", ["channels", c, "messages"]) => {
            with_channel(st, c, |st, c| create_message(st, c, body, files))
        }
        ("GET", ["channels", c, "messages"]) => with_channel(st, c, |st, c| list_messages(st, c, query)),
        ("GET", ["channels", c, "messages", m]) => with_channel(st, c, |st, c| {
            match snowflake(m).and_then(|m| st.messages[&c].get(&m).cloned()) {
                Some(msg) => ok(msg),
                None => error(404, 10008, "Unknown Message"),
            }
        }),
        ("PATCH", ["channels", c, "messages", m]) => {
            with_channel(st, c, |st, c| edit_message(st, c, m, body))
        }
        ("DELETE", ["channels", c, "messages", m]) => with_channel(st, c, |st, c| {
            let Some(m) = snowflake(m).filter(|m| st.messages[&c].contains_key(m)) else {
                return error(404, 10008, "Unknown Message");
            };
            st.messages.get_mut(&c).expect("channel exists").remove(&m);
            let guild_id = st.guild_id.to_string();
            dispatch(st, "MESSAGE_DELETE", |_| {
                Some(json!({"id": m.to_string(), "channel_id": c.to_string(), "guild_id": guild_id}))
            });
            no_content()
        }),
        ("POST", ["channels", c, "messages", m, "threads"]) => {
            with_channel(st, c, |st, c| thread_from_message(st, c, m, body))
        }
        ("POST", ["channels", c, "threads"]) => {
            with_channel(st, c, |st, c| thread_without_message(st, c, body))
        }
        ("POST", ["interactions", id, token, "callback"]) => interaction_callback(st, id, token, body),
        (m, ["webhooks", a, token, rest @ ..]) if *a == app => interaction_webhook(st, m, token, rest, body),
        _ => error(404, 0, "404: Not Found"),
    }
}

/// The one guild; any other id is unknown, and a guild the bot left refuses access.
fn with_guild(st: &mut State, g: &str, f: impl FnOnce(&mut State) -> Reply) -> Reply {
    match snowflake(g) {
        Some(g) if g == st.guild_id && st.members.contains_key(&st.bot_user_id) => f(st),
        Some(g) if g == st.guild_id => error(403, 50001, "Missing Access"),
        _ => error(404, 10004, "Unknown Guild"),
    }
}

fn with_channel(st: &mut State, c: &str, f: impl FnOnce(&mut State, u64) -> Reply) -> Reply {
    match snowflake(c).filter(|c| st.channels.contains_key(c)) {
        Some(c) => f(st, c),
        None => error(404, 10003, "Unknown Channel"),
    }
}

fn application_info(st: &State) -> Value {
    let id = st.application_id().to_string();
    json!({
        "id": id,
        "name": "carebot",
        "icon": null,
        "description": "",
        "summary": "",
        "type": null,
        "bot": st.user(st.bot_user_id),
        "bot_public": false,
        "bot_require_code_grant": false,
        "verify_key": "0".repeat(64),
        "flags": st.app_flags,
        "flags_new": st.app_flags.to_string(),
        "owner": st.user(st.owner_id),
        "team": null,
        "rpc_origins": [],
        "tags": [],
        "redirect_uris": [],
        "interactions_endpoint_url": null,
        "role_connections_verification_url": null,
        "approximate_guild_count": 1,
        "integration_types_config": {"0": {}},
    })
}

/// Application commands: bulk overwrite (PUT), create one (POST), list (GET).
fn commands(st: &mut State, method: &str, guild: Option<u64>, body: &Value) -> Reply {
    let echo = |st: &mut State, cmd: &Value| -> Result<Value, Reply> {
        let Some(name) = cmd["name"]
            .as_str()
            .filter(|n| (1..=32).contains(&n.chars().count()))
        else {
            return Err(invalid_form(
                "name",
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 32 in length.",
            ));
        };
        let kind = cmd["type"].as_u64().unwrap_or(1);
        let description = cmd["description"].as_str().unwrap_or("");
        if kind == 1 && !(1..=100).contains(&description.chars().count()) {
            return Err(invalid_form(
                "description",
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            ));
        }
        let existing = st
            .commands
            .iter()
            .find(|(g, c)| *g == guild && c["name"] == name)
            .map(|(_, c)| c["id"].clone());
        let id = match existing {
            Some(id) => id,
            None => json!(st.next_id().to_string()),
        };
        let mut out = json!({
            "id": id,
            "application_id": st.application_id().to_string(),
            "version": st.next_id().to_string(),
            "default_member_permissions": cmd.get("default_member_permissions").cloned().unwrap_or(Value::Null),
            "type": kind,
            "name": name,
            "name_localizations": cmd.get("name_localizations").cloned().unwrap_or(Value::Null),
            "description": description,
            "description_localizations": cmd.get("description_localizations").cloned().unwrap_or(Value::Null),
            "options": cmd.get("options").cloned().unwrap_or(json!([])),
            "nsfw": cmd["nsfw"].as_bool().unwrap_or(false),
            "integration_types": cmd.get("integration_types").cloned().unwrap_or(json!([0])),
            "contexts": cmd.get("contexts").cloned().unwrap_or(Value::Null),
        });
        if let Some(g) = guild {
            out["guild_id"] = json!(g.to_string());
        } else {
            out["dm_permission"] = json!(cmd["dm_permission"].as_bool().unwrap_or(true));
        }
        Ok(out)
    };
    match method {
        "GET" => ok(Value::Array(
            st.commands
                .iter()
                .filter(|(g, _)| *g == guild)
                .map(|(_, c)| c.clone())
                .collect(),
        )),
        "PUT" => {
            let Some(list) = body.as_array() else {
                return invalid_form("_root", "ARRAY_TYPE_CONVERT", "Must be an array.");
            };
            let mut out = Vec::new();
            for cmd in list {
                match echo(st, cmd) {
                    Ok(c) => out.push(c),
                    Err(reply) => return reply,
                }
            }
            st.commands.retain(|(g, _)| *g != guild);
            st.commands.extend(out.iter().map(|c| (guild, c.clone())));
            ok(Value::Array(out))
        }
        "POST" => match echo(st, body) {
            Ok(c) => {
                st.commands
                    .retain(|(g, old)| !(*g == guild && old["name"] == c["name"]));
                st.commands.push((guild, c.clone()));
                (201, Some(c))
            }
            Err(reply) => reply,
        },
        _ => error(405, 0, "405: Method Not Allowed"),
    }
}

/// Checks a message body the way Discord does; `require_content` for creates.
fn validate_message(body: &Value, require_content: bool, files: &[String]) -> Result<(), Reply> {
    if !body.is_object() {
        return Err(invalid_form(
            "_root",
            "DICT_TYPE_CONVERT",
            "Only dictionaries may be used in a DictType",
        ));
    }
    let content = body.get("content").and_then(Value::as_str).unwrap_or("");
    if content.chars().count() > 2000 {
        return Err(invalid_form(
            "content",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 2000 or fewer in length.",
        ));
    }
    let embeds = body
        .get("embeds")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if embeds.len() > 10 {
        return Err(invalid_form(
            "embeds",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 10 or fewer in length.",
        ));
    }
    let mut total = 0;
    for (i, e) in embeds.iter().enumerate() {
        let len = |k: &str| e.get(k).and_then(Value::as_str).map_or(0, |s| s.chars().count());
        for (key, max) in [("title", 256), ("description", 4096)] {
            if len(key) > max {
                return Err(invalid_form(
                    &format!("embeds.{i}.{key}"),
                    "BASE_TYPE_MAX_LENGTH",
                    &format!("Must be {max} or fewer in length."),
                ));
            }
            total += len(key);
        }
        let fields = e
            .get("fields")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if fields.len() > 25 {
            return Err(invalid_form(
                &format!("embeds.{i}.fields"),
                "BASE_TYPE_MAX_LENGTH",
                "Must be 25 or fewer in length.",
            ));
        }
        for (j, f) in fields.iter().enumerate() {
            let name = f["name"].as_str().map_or(0, |s| s.chars().count());
            let value = f["value"].as_str().map_or(0, |s| s.chars().count());
            if name == 0 || name > 256 || value == 0 || value > 1024 {
                return Err(invalid_form(
                    &format!("embeds.{i}.fields.{j}"),
                    "BASE_TYPE_BAD_LENGTH",
                    "Field name must be 1-256 and value 1-1024 in length.",
                ));
            }
            total += name + value;
        }
    }
    if total > 6000 {
        return Err(invalid_form(
            "embeds",
            "MAX_EMBED_SIZE_EXCEEDED",
            "Embed size exceeds maximum size of 6000",
        ));
    }
    if let Some(am) = body.get("allowed_mentions").filter(|v| !v.is_null()) {
        validate_allowed_mentions(am)?;
    }
    if let Some(components) = body.get("components").filter(|v| !v.is_null()) {
        validate_components(components)?;
    }
    let has_components = body
        .get("components")
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty());
    let has_sticker = body
        .get("sticker_ids")
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty());
    if require_content
        && content.is_empty()
        && embeds.is_empty()
        && !has_components
        && files.is_empty()
        && !has_sticker
        && body.get("poll").is_none()
    {
        return Err(error(400, 50006, "Cannot send an empty message"));
    }
    Ok(())
}

/// `MessageAllowedMentionsRequest`: `parse` from {users, roles, everyone}; `users`/`roles`
/// lists of snowflakes (max 100) that must not be combined with the same `parse` entry.
fn validate_allowed_mentions(am: &Value) -> Result<(), Reply> {
    let Some(obj) = am.as_object() else {
        return Err(invalid_form(
            "allowed_mentions",
            "DICT_TYPE_CONVERT",
            "Only dictionaries may be used in a DictType",
        ));
    };
    let mut parse = Vec::new();
    if let Some(p) = obj.get("parse").filter(|v| !v.is_null()) {
        let Some(items) = p.as_array() else {
            return Err(invalid_form(
                "allowed_mentions.parse",
                "LIST_TYPE_CONVERT",
                "Only iterables may be used in a ListType",
            ));
        };
        for (i, item) in items.iter().enumerate() {
            match item.as_str() {
                Some(s @ ("users" | "roles" | "everyone")) => parse.push(s),
                _ => {
                    return Err(invalid_form(
                        &format!("allowed_mentions.parse.{i}"),
                        "BASE_TYPE_CHOICES",
                        "Value must be one of {'users', 'roles', 'everyone'}.",
                    ))
                }
            }
        }
    }
    for key in ["users", "roles"] {
        if let Some(list) = obj.get(key).filter(|v| !v.is_null()) {
            let Some(items) = list.as_array() else {
                return Err(invalid_form(
                    &format!("allowed_mentions.{key}"),
                    "LIST_TYPE_CONVERT",
                    "Only iterables may be used in a ListType",
                ));
            };
            if items.len() > 100 || items.iter().any(|i| i.as_str().and_then(snowflake).is_none()) {
                return Err(invalid_form(
                    &format!("allowed_mentions.{key}"),
                    "SNOWFLAKE_TYPE_INVALID",
                    "Must be up to 100 snowflakes.",
                ));
            }
            if !items.is_empty() && parse.contains(&key) {
                return Err(invalid_form(
                    "allowed_mentions",
                    "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                    &format!("parse:[\"{key}\"] and {key}: [ids...] are mutually exclusive."),
                ));
            }
        }
    }
    for key in obj.keys() {
        if !matches!(key.as_str(), "parse" | "users" | "roles" | "replied_user") {
            return Err(invalid_form(
                &format!("allowed_mentions.{key}"),
                "UNKNOWN_FIELD",
                "Unknown field.",
            ));
        }
    }
    Ok(())
}

/// Action rows (type 1, at most 5) of at most 5 buttons / 1 select; buttons (`disabled` or
/// not) need a `custom_id` (max 100) and no `url`, unless they are link buttons (style 5: a
/// `url` and no `custom_id`) or premium buttons (style 6).
fn validate_components(components: &Value) -> Result<(), Reply> {
    let Some(rows) = components.as_array() else {
        return Err(invalid_form(
            "components",
            "LIST_TYPE_CONVERT",
            "Only iterables may be used in a ListType",
        ));
    };
    if rows.len() > 5 {
        return Err(invalid_form(
            "components",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 5 or fewer in length.",
        ));
    }
    for (i, row) in rows.iter().enumerate() {
        if row["type"] != 1 {
            return Err(invalid_form(
                &format!("components.{i}.type"),
                "BASE_TYPE_CHOICES",
                "Top-level components must be action rows (type 1).",
            ));
        }
        let items = row["components"].as_array().cloned().unwrap_or_default();
        if items.is_empty() || items.len() > 5 {
            return Err(invalid_form(
                &format!("components.{i}.components"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 5 in length.",
            ));
        }
        for (j, c) in items.iter().enumerate() {
            let at = format!("components.{i}.components.{j}");
            let custom_id = c["custom_id"].as_str().unwrap_or("");
            match c["type"].as_u64() {
                Some(2) => {
                    let style = c["style"].as_u64().unwrap_or(0);
                    if !(1..=6).contains(&style) {
                        return Err(invalid_form(
                            &format!("{at}.style"),
                            "BASE_TYPE_CHOICES",
                            "Value must be one of (1, 2, 3, 4, 5, 6).",
                        ));
                    }
                    if c["label"].as_str().map_or(0, |l| l.chars().count()) > 80 {
                        return Err(invalid_form(
                            &format!("{at}.label"),
                            "BASE_TYPE_MAX_LENGTH",
                            "Must be 80 or fewer in length.",
                        ));
                    }
                    if style == 5 && c["url"].as_str().is_none() {
                        return Err(required(&format!("{at}.url")));
                    }
                    // A link opens its url and sends no interaction; any other button sends its
                    // custom_id and has no url. Discord refuses a button that mixes the two.
                    if style == 5 && !c["custom_id"].is_null() {
                        return Err(invalid_form(
                            &format!("{at}.custom_id"),
                            "BUTTON_COMPONENT_INVALID_FIELD",
                            "A link button (style 5) cannot have a custom_id.",
                        ));
                    }
                    if style != 5 && !c["url"].is_null() {
                        return Err(invalid_form(
                            &format!("{at}.url"),
                            "BUTTON_COMPONENT_INVALID_FIELD",
                            "Only link buttons (style 5) can have a url.",
                        ));
                    }
                    if !(c["disabled"].is_null() || c["disabled"].is_boolean()) {
                        return Err(invalid_form(
                            &format!("{at}.disabled"),
                            "BASE_TYPE_BOOLEAN",
                            "Must be either true or false.",
                        ));
                    }
                    if style != 5 && style != 6 && (custom_id.is_empty() || custom_id.chars().count() > 100) {
                        return Err(invalid_form(
                            &format!("{at}.custom_id"),
                            "BASE_TYPE_BAD_LENGTH",
                            "Must be between 1 and 100 in length.",
                        ));
                    }
                }
                Some(3 | 5..=8) => {
                    if items.len() != 1 || custom_id.is_empty() || custom_id.chars().count() > 100 {
                        return Err(invalid_form(&at, "COMPONENT_LAYOUT_WIDTH_EXCEEDED", "A select menu must be alone in its row and have a custom_id of 1-100 characters."));
                    }
                }
                _ => {
                    return Err(invalid_form(
                        &format!("{at}.type"),
                        "BASE_TYPE_CHOICES",
                        "Unsupported component type in an action row.",
                    ))
                }
            }
        }
    }
    Ok(())
}

/// `ModalInteractionCallbackRequestData`: `custom_id` (1-100), `title` (1-45) and 1-5 action
/// rows, each holding exactly one text input (`TextInputComponentForModalRequest`, the only
/// thing serenity 0.12's `CreateModal` can build). Discord also takes top-level Label (18) and
/// Text Display (10) components; the fake does not model them and says so.
fn validate_modal(data: &Value) -> Result<(), Reply> {
    if !data.is_object() {
        return Err(invalid_form(
            "data",
            "DICT_TYPE_CONVERT",
            "Only dictionaries may be used in a DictType",
        ));
    }
    check_text(data, "data", "custom_id", 1, 100, true)?;
    check_text(data, "data", "title", 1, 45, true)?;
    let Some(rows) = data.get("components").filter(|c| !c.is_null()) else {
        return Err(required("data.components"));
    };
    let Some(rows) = rows.as_array() else {
        return Err(invalid_form(
            "data.components",
            "LIST_TYPE_CONVERT",
            "Only iterables may be used in a ListType",
        ));
    };
    if rows.is_empty() || rows.len() > 5 {
        return Err(invalid_form(
            "data.components",
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 1 and 5 in length.",
        ));
    }
    for (i, row) in rows.iter().enumerate() {
        let at = format!("data.components.{i}");
        match row["type"].as_u64() {
            Some(1) => {}
            Some(10 | 18) => {
                return Err(invalid_form(
                    &format!("{at}.type"),
                    "BASE_TYPE_CHOICES",
                    "The fake Discord models only action rows (type 1) in modals; Label (18) and Text Display (10) are valid for Discord but not modelled.",
                ))
            }
            _ => {
                return Err(invalid_form(
                    &format!("{at}.type"),
                    "BASE_TYPE_CHOICES",
                    "Top-level modal components must be action rows (type 1).",
                ))
            }
        }
        check_component_id(row, &at)?;
        let inputs = row["components"].as_array().cloned().unwrap_or_default();
        if inputs.len() != 1 {
            return Err(invalid_form(
                &format!("{at}.components"),
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "An action row in a modal must hold exactly one text input.",
            ));
        }
        validate_text_input(&inputs[0], &format!("{at}.components.0"))?;
    }
    Ok(())
}

/// `TextInputComponentForModalRequest` inside an action row: type 4, `custom_id` (1-100),
/// `style` 1 or 2, `label` (1-45; optional in the schema only for inputs wrapped in a Label),
/// optional `min_length` (0-4000) <= `max_length` (1-4000), `required`, `value` (max 4000),
/// `placeholder` (max 100).
fn validate_text_input(input: &Value, at: &str) -> Result<(), Reply> {
    if input["type"] != 4 {
        return Err(invalid_form(
            &format!("{at}.type"),
            "BASE_TYPE_CHOICES",
            "A modal action row may only hold a text input (type 4).",
        ));
    }
    check_component_id(input, at)?;
    check_text(input, at, "custom_id", 1, 100, true)?;
    match input.get("style").filter(|s| !s.is_null()) {
        None => return Err(required(&format!("{at}.style"))),
        Some(style) if !matches!(style.as_u64(), Some(1 | 2)) => {
            return Err(invalid_form(
                &format!("{at}.style"),
                "BASE_TYPE_CHOICES",
                "Value must be one of (1, 2).",
            ))
        }
        Some(_) => {}
    }
    check_text(input, at, "label", 1, 45, true)?;
    check_text(input, at, "value", 0, 4000, false)?;
    check_text(input, at, "placeholder", 0, 100, false)?;
    let min = check_int(input, at, "min_length", 0, 4000)?;
    let max = check_int(input, at, "max_length", 1, 4000)?;
    if let (Some(min), Some(max)) = (min, max) {
        if min > max {
            return Err(invalid_form(
                &format!("{at}.min_length"),
                "NUMBER_TYPE_MAX",
                "min_length must not be greater than max_length.",
            ));
        }
    }
    if let Some(r) = input.get("required").filter(|r| !r.is_null()) {
        if !r.is_boolean() {
            return Err(invalid_form(
                &format!("{at}.required"),
                "BASE_TYPE_BOOLEAN",
                "Must be either true or false.",
            ));
        }
    }
    Ok(())
}

/// `This field is required` at `field`.
fn required(field: &str) -> Reply {
    invalid_form(field, "BASE_TYPE_REQUIRED", "This field is required")
}

/// A string field of `obj` with `min..=max` characters; absent or null is an error only when
/// `required_field`.
fn check_text(
    obj: &Value,
    at: &str,
    key: &str,
    min: usize,
    max: usize,
    required_field: bool,
) -> Result<(), Reply> {
    let field = format!("{at}.{key}");
    let Some(value) = obj.get(key).filter(|v| !v.is_null()) else {
        return if required_field {
            Err(required(&field))
        } else {
            Ok(())
        };
    };
    let Some(text) = value.as_str() else {
        return Err(invalid_form(
            &field,
            "STRING_TYPE_CONVERT",
            "Could not interpret the value as a string.",
        ));
    };
    let len = text.chars().count();
    if len < min || len > max {
        let message = if min == 0 {
            format!("Must be {max} or fewer in length.")
        } else {
            format!("Must be between {min} and {max} in length.")
        };
        let code = if min == 0 {
            "BASE_TYPE_MAX_LENGTH"
        } else {
            "BASE_TYPE_BAD_LENGTH"
        };
        return Err(invalid_form(&field, code, &message));
    }
    Ok(())
}

/// An optional integer field of `obj` in `min..=max`.
fn check_int(obj: &Value, at: &str, key: &str, min: u64, max: u64) -> Result<Option<u64>, Reply> {
    let Some(value) = obj.get(key).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let field = format!("{at}.{key}");
    match value.as_i64() {
        Some(n) if n < min as i64 => Err(invalid_form(
            &field,
            "NUMBER_TYPE_MIN",
            &format!("int value should be greater than or equal to {min}."),
        )),
        Some(n) if n > max as i64 => Err(invalid_form(
            &field,
            "NUMBER_TYPE_MAX",
            &format!("int value should be less than or equal to {max}."),
        )),
        Some(n) => Ok(Some(n as u64)),
        None => Err(invalid_form(
            &field,
            "NUMBER_TYPE_COERCE",
            &format!("Value {value} is not int."),
        )),
    }
}

/// A component's optional numeric `id` (a non-negative int32).
fn check_component_id(component: &Value, at: &str) -> Result<(), Reply> {
    check_int(component, at, "id", 0, i32::MAX as u64).map(|_| ())
}

fn attachments_for(st: &mut State, channel_id: u64, files: &[String]) -> Vec<Value> {
    files
        .iter()
        .map(|name| {
            let id = st.next_id();
            let url = format!("https://cdn.discordapp.com/attachments/{channel_id}/{id}/{name}");
            json!({"id": id.to_string(), "filename": name, "size": 1, "url": url, "proxy_url": url, "content_type": null})
        })
        .collect()
}

fn create_message(st: &mut State, channel_id: u64, body: &Value, files: &[String]) -> Reply {
    if let Err(reply) = validate_message(body, true, files) {
        return reply;
    }
    if let Some(reference) = body.get("message_reference").filter(|r| !r.is_null()) {
        let target = reference["message_id"].as_str().and_then(snowflake);
        if target.and_then(|t| st.find_message(t)).is_none() && reference["fail_if_not_exists"] != false {
            return invalid_form("message_reference", "REPLIES_UNKNOWN_MESSAGE", "Unknown message");
        }
    }
    // `enforce_nonce`: a message of the bot's with the same nonce in the channel (Discord:
    // within the past few minutes) is returned instead of creating another.
    let nonce = body.get("nonce").filter(|n| !n.is_null()).cloned();
    if let Some(nonce) = nonce.as_ref().filter(|_| body["enforce_nonce"] == true) {
        let me = st.author(&Author::Me).0["id"].clone();
        let existing = st.messages.get(&channel_id).and_then(|m| {
            m.values()
                .find(|m| m.get("nonce") == Some(nonce) && m["author"]["id"] == me)
                .cloned()
        });
        if let Some(existing) = existing {
            st.nonce_replays += 1;
            return ok(existing);
        }
    }
    let attachments = attachments_for(st, channel_id, files);
    let extra = nonce.map(|n| json!({ "nonce": n }));
    let message = st.store_message(channel_id, &Author::Me, body, attachments, extra);
    dispatch_message(st, "MESSAGE_CREATE", &message);
    ok(message)
}

/// Applies an edit body (content, embeds, components, flags, attachments) to a message.
fn apply_edit(st: &mut State, message: &mut Value, body: &Value) {
    for key in ["content", "components"] {
        if let Some(v) = body.get(key) {
            message[key] = if v.is_null() {
                if key == "content" {
                    json!("")
                } else {
                    json!([])
                }
            } else {
                v.clone()
            };
        }
    }
    if body.get("embeds").is_some() {
        message["embeds"] = super::state::normalise_embeds(body.get("embeds"));
    }
    if let Some(keep) = body.get("attachments").and_then(Value::as_array) {
        let keep: Vec<&Value> = keep.iter().filter_map(|a| a.get("id")).collect();
        if let Some(existing) = message["attachments"].as_array_mut() {
            // Ids may come as numbers or strings.
            let id_str = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
            existing.retain(|a| keep.iter().any(|id| id_str(&a["id"]) == id_str(id)));
        }
    }
    if let Some(flags) = body.get("flags").and_then(Value::as_u64) {
        let old = message["flags"].as_u64().unwrap_or(0);
        // Only SUPPRESS_EMBEDS (4) may be toggled on edit; other flags stay.
        message["flags"] = json!((old & !4) | (flags & 4));
    }
    let edited = st.next_id();
    message["edited_timestamp"] = json!(super::state::timestamp_of(edited));
}

fn edit_message(st: &mut State, channel_id: u64, m: &str, body: &Value) -> Reply {
    let Some((m, mut message)) =
        snowflake(m).and_then(|m| st.messages[&channel_id].get(&m).cloned().map(|msg| (m, msg)))
    else {
        return error(404, 10008, "Unknown Message");
    };
    if message["author"]["id"] != st.bot_user_id.to_string().as_str() {
        return error(403, 50005, "Cannot edit a message authored by another user");
    }
    if let Err(reply) = validate_message(body, false, &[]) {
        return reply;
    }
    apply_edit(st, &mut message, body);
    st.messages
        .get_mut(&channel_id)
        .expect("channel exists")
        .insert(m, message.clone());
    dispatch_message(st, "MESSAGE_UPDATE", &message);
    ok(message)
}

/// `GET /channels/{id}/messages`: newest first, like Discord, for `before`, `after`, `around`
/// and no anchor; `after` returns the `limit` messages right after the anchor.
fn list_messages(st: &mut State, channel_id: u64, query: &[(String, String)]) -> Reply {
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let limit = match param("limit").map(str::parse::<usize>) {
        None => 50,
        Some(Ok(l)) if (1..=100).contains(&l) => l,
        Some(_) => {
            return invalid_form(
                "limit",
                "NUMBER_TYPE_MAX",
                "int value should be between 1 and 100.",
            )
        }
    };
    let anchor = |name: &str| param(name).map(|v| snowflake(v).ok_or(()));
    let messages = &st.messages[&channel_id];
    let mut out: Vec<Value> = match (anchor("after"), anchor("before"), anchor("around")) {
        (Some(Err(())), _, _) | (_, Some(Err(())), _) | (_, _, Some(Err(()))) => {
            return invalid_form("after", "NUMBER_TYPE_COERCE", "Value is not snowflake.");
        }
        (Some(Ok(after)), _, _) => {
            let mut v: Vec<Value> = messages
                .range(after + 1..)
                .take(limit)
                .map(|(_, m)| m.clone())
                .collect();
            v.reverse();
            v
        }
        (_, Some(Ok(before)), _) => messages
            .range(..before)
            .rev()
            .take(limit)
            .map(|(_, m)| m.clone())
            .collect(),
        (_, _, Some(Ok(around))) => {
            let newer: Vec<Value> = messages
                .range(around..)
                .take(limit.div_ceil(2))
                .map(|(_, m)| m.clone())
                .collect();
            let older: Vec<Value> = messages
                .range(..around)
                .rev()
                .take(limit - newer.len().min(limit))
                .map(|(_, m)| m.clone())
                .collect();
            newer.into_iter().rev().chain(older).collect()
        }
        _ => messages.values().rev().take(limit).cloned().collect(),
    };
    out.truncate(limit);
    ok(Value::Array(out))
}

fn archive_duration(body: &Value) -> Result<u64, Reply> {
    match body.get("auto_archive_duration").and_then(Value::as_u64) {
        None => Ok(1440),
        Some(d @ (60 | 1440 | 4320 | 10080)) => Ok(d),
        Some(_) => Err(invalid_form(
            "auto_archive_duration",
            "BASE_TYPE_CHOICES",
            "Value must be one of (60, 1440, 4320, 10080).",
        )),
    }
}

fn thread_name(body: &Value) -> Result<String, Reply> {
    match body.get("name").and_then(Value::as_str) {
        Some(n) if (1..=100).contains(&n.chars().count()) => Ok(n.to_string()),
        _ => Err(invalid_form(
            "name",
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 1 and 100 in length.",
        )),
    }
}

/// `POST /channels/{id}/messages/{mid}/threads`: the thread's id is the message's id.
fn thread_from_message(st: &mut State, channel_id: u64, m: &str, body: &Value) -> Reply {
    let Some(m) = snowflake(m).filter(|m| st.messages[&channel_id].contains_key(m)) else {
        return error(404, 10008, "Unknown Message");
    };
    if st.is_thread(channel_id) {
        return error(400, 50024, "Cannot execute action on this channel type");
    }
    if st.channels.contains_key(&m) {
        return error(400, 160004, "A thread has already been created for this message");
    }
    let (name, archive) = match (thread_name(body), archive_duration(body)) {
        (Ok(n), Ok(a)) => (n, a),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let thread = st.new_thread(m, channel_id, &name, 11, archive);
    let starter = st
        .messages
        .get_mut(&channel_id)
        .and_then(|msgs| msgs.get_mut(&m))
        .expect("checked above");
    starter["thread"] = thread.clone();
    starter["flags"] = json!(starter["flags"].as_u64().unwrap_or(0) | (1 << 5));
    dispatch_thread_create(st, &thread);
    (201, Some(thread))
}

/// `POST /channels/{id}/threads` without a starter message (type 11 public or 12 private;
/// Discord's default is 12).
fn thread_without_message(st: &mut State, channel_id: u64, body: &Value) -> Reply {
    if st.is_thread(channel_id) {
        return error(400, 50024, "Cannot execute action on this channel type");
    }
    let kind = body.get("type").and_then(Value::as_u64).unwrap_or(12);
    if !matches!(kind, 10..=12) {
        return invalid_form("type", "BASE_TYPE_CHOICES", "Value must be one of (10, 11, 12).");
    }
    let (name, archive) = match (thread_name(body), archive_duration(body)) {
        (Ok(n), Ok(a)) => (n, a),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let id = st.next_id();
    let thread = st.new_thread(id, channel_id, &name, kind, archive);
    dispatch_thread_create(st, &thread);
    (201, Some(thread))
}

/// THREAD_CREATE (GUILDS intent) with `newly_created`, as the creator receives it.
fn dispatch_thread_create(st: &mut State, thread: &Value) {
    let mut d = thread.clone();
    d["newly_created"] = json!(true);
    dispatch(st, "THREAD_CREATE", |intents| {
        (intents & INTENT_GUILDS != 0).then(|| d.clone())
    });
}

fn interaction_callback(st: &mut State, id: &str, token: &str, body: &Value) -> Reply {
    let Some(record) = snowflake(id)
        .and_then(|id| st.interactions.get(&id))
        .filter(|r| r.token == token)
    else {
        return error(404, 10062, "Unknown interaction");
    };
    if record.acknowledged {
        return error(400, 40060, "Interaction has already been acknowledged.");
    }
    if record.created.elapsed() > st.interaction_deadline {
        return error(404, 10062, "Unknown interaction");
    }
    let (iid, channel_id, kind, source_message) =
        (record.id, record.channel_id, record.kind, record.message_id);
    let callback_type = body["type"].as_u64().unwrap_or(0);
    // Discord's table: MODAL (9) answers commands and components, never a modal submit;
    // (DEFERRED_)UPDATE_MESSAGE (6, 7) needs a message to update: a component's, or that of the
    // button that opened the modal (a modal opened by a slash command has none).
    let allowed: &[u64] = match (kind, source_message) {
        (2, _) => &[4, 5, 9],
        (3, _) => &[4, 5, 6, 7, 9],
        (4, _) => &[8],
        (5, Some(_)) => &[4, 5, 6, 7],
        (5, None) => &[4, 5],
        _ => &[1],
    };
    if !allowed.contains(&callback_type) {
        return invalid_form("type", "BASE_TYPE_CHOICES", &format!("Callback type {callback_type} is not valid for interaction type {kind}; expected one of {allowed:?}."));
    }
    let data = body.get("data").cloned().unwrap_or(json!({}));
    match callback_type {
        4 => {
            if let Err(reply) = validate_message(&data, true, &[]) {
                return reply;
            }
        }
        7 => {
            if let Err(reply) = validate_message(&data, false, &[]) {
                return reply;
            }
        }
        8 => {
            let choices = data["choices"].as_array();
            if choices.is_none_or(|c| c.len() > 25) {
                return invalid_form(
                    "data.choices",
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be an array of 25 or fewer choices.",
                );
            }
        }
        9 => {
            if let Err(reply) = validate_modal(&data) {
                return reply;
            }
        }
        _ => {}
    }
    let record = st.interactions.get_mut(&iid).expect("checked above");
    record.acknowledged = true;
    record.responses.push(body.clone());
    match callback_type {
        4 | 5 => {
            let ephemeral = data["flags"].as_u64().unwrap_or(0) & 64 != 0;
            let mut message_body = data.clone();
            if callback_type == 5 {
                message_body = json!({"content": "", "flags": data["flags"].as_u64().unwrap_or(0) | 128});
            }
            let app = st.application_id().to_string();
            let extra = json!({"application_id": app, "webhook_id": app, "type": 20});
            if ephemeral || callback_type == 5 {
                // Ephemeral and "thinking" messages are not in channel history.
                let mut message =
                    st.store_message(channel_id, &Author::Me, &message_body, Vec::new(), Some(extra));
                let mid: u64 = message["id"].as_str().and_then(snowflake).expect("id");
                st.messages.get_mut(&channel_id).expect("channel").remove(&mid);
                message["flags"] = json!(message_body["flags"].as_u64().unwrap_or(0));
                st.interactions.get_mut(&iid).expect("record").original = Some(message);
            } else {
                let message =
                    st.store_message(channel_id, &Author::Me, &message_body, Vec::new(), Some(extra));
                st.interactions.get_mut(&iid).expect("record").original = Some(message.clone());
                dispatch_message(st, "MESSAGE_CREATE", &message);
            }
        }
        7 => {
            if let Some(mid) = source_message {
                if let Some((cid, mut message)) = st.find_message(mid) {
                    apply_edit(st, &mut message, &data);
                    st.messages
                        .get_mut(&cid)
                        .expect("channel")
                        .insert(mid, message.clone());
                    dispatch_message(st, "MESSAGE_UPDATE", &message);
                }
            }
        }
        _ => {}
    }
    no_content()
}

/// `/webhooks/{app}/{token}[/messages/{@original|id}]`: followups and edits of interaction
/// responses.
fn interaction_webhook(st: &mut State, method: &str, token: &str, rest: &[&str], body: &Value) -> Reply {
    let Some(iid) = st.interactions.values().find(|r| r.token == token).map(|r| r.id) else {
        return error(404, 10015, "Unknown Webhook");
    };
    let channel_id = st.interactions[&iid].channel_id;
    let app = st.application_id().to_string();
    match (method, rest) {
        ("POST", []) => {
            if !st.interactions[&iid].acknowledged {
                return error(404, 10015, "Unknown Webhook");
            }
            if let Err(reply) = validate_message(body, true, &[]) {
                return reply;
            }
            let ephemeral = body["flags"].as_u64().unwrap_or(0) & 64 != 0;
            let extra = json!({"application_id": app, "webhook_id": app});
            let message = st.store_message(channel_id, &Author::Me, body, Vec::new(), Some(extra));
            let mid: u64 = message["id"].as_str().and_then(snowflake).expect("id");
            if ephemeral {
                st.messages.get_mut(&channel_id).expect("channel").remove(&mid);
            } else {
                dispatch_message(st, "MESSAGE_CREATE", &message);
            }
            let record = st.interactions.get_mut(&iid).expect("record");
            record.responses.push(body.clone());
            record.followups.insert(mid, message.clone());
            ok(message)
        }
        (m, ["messages", which]) => {
            let original = *which == "@original";
            let current = if original {
                st.interactions[&iid].original.clone()
            } else {
                snowflake(which).and_then(|id| st.interactions[&iid].followups.get(&id).cloned())
            };
            let Some(mut message) = current else {
                return error(404, 10008, "Unknown Message");
            };
            let mid: u64 = message["id"].as_str().and_then(snowflake).expect("id");
            match m {
                "GET" => ok(message),
                "DELETE" => {
                    if let Some(msgs) = st.messages.get_mut(&channel_id) {
                        msgs.remove(&mid);
                    }
                    no_content()
                }
                "PATCH" => {
                    if let Err(reply) = validate_message(body, false, &[]) {
                        return reply;
                    }
                    apply_edit(st, &mut message, body);
                    let was_loading = message["flags"].as_u64().unwrap_or(0) & 128 != 0;
                    let ephemeral = message["flags"].as_u64().unwrap_or(0) & 64 != 0;
                    if was_loading {
                        message["flags"] = json!(message["flags"].as_u64().unwrap_or(0) & !128);
                    }
                    let in_history = st
                        .messages
                        .get(&channel_id)
                        .is_some_and(|msgs| msgs.contains_key(&mid));
                    if in_history {
                        st.messages
                            .get_mut(&channel_id)
                            .expect("channel")
                            .insert(mid, message.clone());
                        dispatch_message(st, "MESSAGE_UPDATE", &message);
                    } else if was_loading && !ephemeral {
                        // A deferred response becomes a visible message when first edited.
                        st.messages
                            .get_mut(&channel_id)
                            .expect("channel")
                            .insert(mid, message.clone());
                        dispatch_message(st, "MESSAGE_CREATE", &message);
                    }
                    let record = st.interactions.get_mut(&iid).expect("record");
                    record.responses.push(body.clone());
                    if original {
                        record.original = Some(message.clone());
                    } else {
                        record.followups.insert(mid, message.clone());
                    }
                    ok(message)
                }
                _ => error(405, 0, "405: Method Not Allowed"),
            }
        }
        _ => error(404, 0, "404: Not Found"),
    }
}
