//! The OpenAPI 3.1 document of the REST API, generated from the handlers' `#[utoipa::path]`
//! annotations and the wire types' schemas, served at `/api/openapi.json` and committed as
//! `docs/openapi.json`. The tests below fail when the committed file drifts from the code or a
//! route of the router is missing from the document; `MISSIVE_WRITE_OPENAPI=1 cargo test --lib
//! openapi` rewrites the file.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::app::App;

/// `{"error": {code, message, retry_after_ms?}}`: every REST failure (`docs/protocol.md` §3).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    /// One of the contract's codes: `invalid`, `unauthenticated`, `invalid_credentials`,
    /// `forbidden`, `not_found`, `conflict`, `too_large`, `quota_exceeded`, `rate_limited`,
    /// `unavailable`, `internal`.
    code: String,
    message: String,
    /// Only with `rate_limited`.
    retry_after_ms: Option<u64>,
}

/// The failures every operation may answer (with the error body).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum Errors {
    #[response(status = "4XX", description = "refused; `error.code` says why")]
    Client(ErrorBody),
    #[response(status = "5XX", description = "the server cannot serve it now")]
    Server(ErrorBody),
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("the access token of a Session"))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Missive REST API",
        description = "The REST half of docs/protocol.md (Socket.IO is described there).",
        license(name = "MIT", identifier = "MIT")
    ),
    paths(
        super::healthz,
        super::readyz,
        super::metrics,
        openapi_json,
        super::accounts::register,
        super::accounts::login,
        super::accounts::refresh,
        super::accounts::logout,
        super::accounts::logout_all,
        super::accounts::me,
        super::accounts::update_me,
        super::accounts::search_users,
        super::accounts::user,
        super::rooms::list,
        super::rooms::create,
        super::rooms::direct,
        super::rooms::show,
        super::rooms::rename,
        super::rooms::add_member,
        super::rooms::set_role,
        super::rooms::remove_member,
        super::rooms::history,
        super::rooms::send,
        super::rooms::receipts,
        super::rooms::read,
        super::rooms::edit_message,
        super::rooms::delete_message,
        super::rooms::react,
        super::rooms::hide,
        super::rooms::forward,
        super::rooms::hidden,
        super::rooms::search,
        super::pushers::vapid_key,
        super::pushers::list,
        super::pushers::add,
        super::pushers::remove,
        super::pushers::mute,
        super::pushers::unmute,
        super::pushers::mutes,
        super::privacy::blocks,
        super::privacy::block,
        super::privacy::unblock,
        super::privacy::settings,
        super::privacy::update_settings,
        super::privacy::channels,
        super::privacy::list_invites,
        super::privacy::create_invite,
        super::privacy::preview,
        super::privacy::revoke,
        super::privacy::join,
        super::privacy::join_requests,
        super::privacy::approve,
        super::privacy::deny,
        super::privacy::report,
        super::admin::reports,
        super::admin::resolve,
        super::admin::ban,
        super::admin::unban,
        super::admin::delete_message,
        super::admin::audit,
        super::admin::stats,
        super::admin::users,
        super::admin::user,
        super::admin::disconnect_device,
        super::admin::logout_everywhere,
        super::admin::reset_password,
        super::admin::rooms,
        super::admin::room,
        super::admin::close_room,
        super::admin::reopen_room,
        super::admin::message_context,
        super::attachments::upload,
        super::attachments::links,
        super::attachments::download,
        super::attachments::thumbnail,
        super::attachments::set_avatar,
        super::attachments::clear_avatar,
        super::rooms::set_picture,
        super::rooms::clear_picture,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// The document, with the crate's version.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// The document as committed: pretty JSON and a final newline.
pub fn document_json() -> String {
    let mut text = document()
        .to_pretty_json()
        .expect("the document serialises");
    text.push('\n');
    text
}

pub fn router() -> Router<App> {
    Router::new().route("/api/openapi.json", get(openapi_json))
}

#[utoipa::path(get, path = "/api/openapi.json", tag = "operations", responses((status = 200, description = "this document", content_type = "application/json")))]
async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn the_committed_openapi_document_is_the_one_the_code_generates() {
        let path = root().join("docs/openapi.json");
        let generated = document_json();
        if std::env::var_os("MISSIVE_WRITE_OPENAPI").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/openapi.json differs from the code: regenerate it with \
             `MISSIVE_WRITE_OPENAPI=1 cargo test --lib openapi` and commit it"
        );
    }

    /// Every `.route(path, method(..)…)` of `src/http`, as `(METHOD, path)`.
    fn routes_in_source() -> Vec<(String, String)> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(root().join("src/http")).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for chunk in text.split(".route(").skip(1) {
                // The call ends at the parenthesis that closes `.route(`.
                let mut depth = 1;
                let end = chunk
                    .char_indices()
                    .find_map(|(i, c)| {
                        match c {
                            '(' => depth += 1,
                            ')' => depth -= 1,
                            _ => {}
                        }
                        (depth == 0).then_some(i)
                    })
                    .unwrap_or(chunk.len());
                let call = &chunk[..end];
                let Some(path) = call.split('"').nth(1) else {
                    continue;
                };
                for method in ["get", "post", "patch", "put", "delete"] {
                    if call.contains(&format!("{method}(")) {
                        out.push((method.to_uppercase(), path.to_owned()));
                    }
                }
            }
        }
        out
    }

    /// Every `$ref` of the document names a schema it defines (a dangling one makes clients
    /// and fuzzers skip that part).
    #[test]
    fn every_reference_in_the_openapi_document_resolves() {
        fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(map) => {
                    for (k, v) in map {
                        match (k.as_str(), v.as_str()) {
                            ("$ref", Some(r)) => out.push(r.to_owned()),
                            _ => refs(v, out),
                        }
                    }
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let doc = serde_json::to_value(document()).unwrap();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        for r in found {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or(&r);
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "{r} is referenced but not defined"
            );
        }
    }

    /// Operation ids are unique (OpenAPI requires it; generated clients name methods by them).
    #[test]
    fn every_operation_id_is_unique() {
        let doc = serde_json::to_value(document()).unwrap();
        let mut seen = std::collections::HashSet::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                if let Some(id) = op["operationId"].as_str() {
                    assert!(
                        seen.insert(id.to_owned()),
                        "operationId {id} is used twice: give one `operation_id = ...`"
                    );
                }
            }
        }
    }

    #[test]
    fn every_route_of_the_router_is_in_the_openapi_document() {
        let doc = serde_json::to_value(document()).unwrap();
        let routes = routes_in_source();
        assert!(routes.len() >= 20, "the route scan found {routes:?}");
        for (method, path) in routes {
            // The JSON 404 for unknown `/api/...` paths is no operation.
            if path == "/api/{*rest}" {
                continue;
            }
            assert!(
                doc["paths"][&path][method.to_lowercase()].is_object(),
                "{method} {path} is routed but not in the OpenAPI document: annotate its \
                 handler with #[utoipa::path] and list it in `ApiDoc`"
            );
        }
    }
}
