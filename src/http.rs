//! The axum router: POST /graphql, GET /graphql (GraphiQL), GET /health; with a body
//! size limit, a request timeout, a request id on every request and in every log line.
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::rejection::GraphQLRejection;
use async_graphql_axum::{GraphQLBatchRequest, GraphQLResponse};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use async_graphql::parser::types::{DocumentOperations, OperationType};

use crate::auth::Actor;
use crate::cache::{DoNotCache, Key, Reads};
use crate::error::{AppError, AppResult};
use crate::graphql::{add_error_codes, check_shape, AppSchema};
use crate::loaders::Loaders;
use crate::AppState;

#[derive(Clone)]
struct Http {
    state: AppState,
    schema: AppSchema,
}

pub fn router(state: AppState, schema: AppSchema) -> Router {
    let limits = state.config.limits.clone();
    let graphiql = state.config.graphiql && !state.config.production;
    let mut graphql = axum::routing::post(graphql_handler);
    if graphiql {
        graphql = graphql.get(graphiql_page);
    }
    let largest = limits.body_bytes.max(limits.document_bytes + (1 << 20));
    Router::new()
        .route("/graphql", graphql)
        .route("/health", get(health))
        .route("/documents/{id}", get(download_document))
        .route("/referral-documents/{id}", get(download_referral_document))
        .route("/referrals/{id}/{file}", get(referral_csv))
        .route("/meetings/{id}/calendar.ics", get(meeting_calendar))
        .route("/calendar/{token}", get(calendar_feed))
        .layer(axum::middleware::from_fn_with_state(limits.body_bytes, limit_non_multipart))
        .with_state(Http { state, schema })
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
                    // A calendar feed's path is its secret: never logged.
                    let path = req.uri().path();
                    let path = if path.starts_with("/calendar/") { "/calendar/(secret)" } else { path };
                    tracing::info_span!("request", method = %req.method(), path = %path, request_id = %id)
                }))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(RequestBodyLimitLayer::new(largest))
                .layer(CatchPanicLayer::custom(|_| {
                    tracing::error!("handler panicked");
                    error_response(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error")
                }))
                .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, limits.request_timeout)),
        )
}

/// Multipart requests (document uploads) may be as large as a document; every other
/// request stays within `body_bytes`, announced or streamed.
async fn limit_non_multipart(
    State(limit): State<usize>,
    req: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> Response {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"));
    if multipart {
        // Large bodies only from signed-in clients (the token is checked by the resolver).
        if !req.headers().contains_key(header::AUTHORIZATION) {
            return error_response(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", "authentication required");
        }
        return next.run(req).await;
    }
    let announced =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if announced.is_some_and(|n| n > limit) {
        return error_response(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", "request body too large");
    }
    let (parts, body) = req.into_parts();
    let body = axum::body::Body::new(http_body_util::Limited::new(body, limit));
    next.run(Request::from_parts(parts, body)).await
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "errors": [{ "message": message, "extensions": { "code": code } }] }))).into_response()
}

async fn graphiql_page() -> impl IntoResponse {
    Html(GraphiQLSource::build().endpoint("/graphql").title("entente").finish())
}

async fn health(State(h): State<Http>) -> Response {
    let ping = tokio::time::timeout(Duration::from_secs(2), h.state.db.ping()).await;
    match ping {
        Ok(Ok(())) => (StatusCode::OK, Json(json!({ "status": "ok", "database": "up" }))).into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable", "database": "down" })))
            .into_response(),
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

async fn graphql_handler(
    State(h): State<Http>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    req: Result<GraphQLBatchRequest, GraphQLRejection>,
) -> Response {
    let req = match req {
        Ok(r) => r.into_inner(),
        Err(rej) => {
            let status = rej.into_response().status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                return error_response(status, "PAYLOAD_TOO_LARGE", "request body too large");
            }
            return error_response(StatusCode::BAD_REQUEST, "BAD_REQUEST", "the body is not a GraphQL request");
        }
    };
    let req = match req {
        async_graphql::BatchRequest::Single(r) => r,
        async_graphql::BatchRequest::Batch(_) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "BATCH_NOT_SUPPORTED",
                "batched requests are not supported: send one operation per request",
            )
        }
    };
    let request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let client = client_address(addr.ip(), forwarded, &h.state.config.trusted_proxies);
    let (actor, versions) =
        match crate::auth::service::resolve_actor(&h.state, bearer(&headers), request_id, Some(client.to_string()))
            .await
        {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(error = ?e, "resolving the actor failed");
                return error_response(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error");
            }
        };
    // Looked up before the document is even parsed: only a query that passed the checks
    // below was ever stored, under its exact text.
    let key = match cache_key(&h.state, &actor, versions, &req) {
        Ok(k) => k,
        Err(e) => {
            tracing::error!(error = ?e, "building the cache key failed");
            return error_response(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error");
        }
    };
    if let (Some(cache), Some(k), Some(now)) = (&h.state.responses, &key, versions) {
        match cache.lookup(&h.state.db, k, now).await {
            Ok(Some(body)) => return json_body(body),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = ?e, "checking a cached answer failed");
                return error_response(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error");
            }
        }
    }
    let limits = &h.state.config.limits;
    let mut req = req;
    if let Err(e) = check_shape(&mut req, limits.max_fields, limits.max_aliases) {
        let mut resp = async_graphql::Response::from_errors(vec![e]);
        add_error_codes(&mut resp);
        return GraphQLResponse::from(resp).into_response();
    }
    let reads_only = is_query(&mut req);
    let actor = if reads_only { actor.reading_only() } else { actor };
    // Mutations are not cached. (Queries whose answer changes without a version bump are
    // marked by their resolvers: DoNotCache.)
    let key = key.filter(|_| reads_only);
    let uncacheable = DoNotCache::default();
    // What each root field declared it reads (see cache.rs).
    let reads = Reads::default();
    let req = req
        .data(actor)
        .data(Loaders::new(&h.state.db, h.state.config.dataloader_delay))
        .data(uncacheable.clone())
        .data(reads.clone());
    let mut resp = h.schema.execute(req).await;
    add_error_codes(&mut resp);
    match (&h.state.responses, key, versions) {
        (Some(cache), Some(k), Some(before)) if resp.errors.is_empty() && !uncacheable.is_marked() => {
            match serde_json::to_vec(&resp) {
                Ok(bytes) => {
                    let body = bytes::Bytes::from(bytes);
                    cache.insert(k, reads.deps(&resp.data, before), body.clone());
                    json_body(body)
                }
                Err(_) => GraphQLResponse::from(resp).into_response(),
            }
        }
        _ => GraphQLResponse::from(resp).into_response(),
    }
}

/// The actor of a plain HTTP request (downloads, .ics), from its bearer token.
async fn http_actor(h: &Http, addr: SocketAddr, headers: &HeaderMap) -> Result<Actor, Response> {
    let request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let client = client_address(addr.ip(), forwarded, &h.state.config.trusted_proxies);
    match crate::auth::service::resolve_actor(&h.state, bearer(headers), request_id, Some(client.to_string())).await {
        Ok((actor, _)) => Ok(actor),
        Err(e) => Err(app_error_response(e)),
    }
}

fn app_error_response(e: AppError) -> Response {
    let status = match &e {
        AppError::Unauthenticated | AppError::BadCredentials => StatusCode::UNAUTHORIZED,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::Validation { .. } => StatusCode::BAD_REQUEST,
        AppError::Internal(detail) => {
            tracing::error!(error = %detail, "internal error");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::CONFLICT,
    };
    error_response(status, e.code(), &e.to_string())
}

/// Runs `load` for the bearer's actor and answers with its file, or with the error.
async fn serve_file<F, Fut>(h: &Http, addr: SocketAddr, headers: &HeaderMap, load: F) -> Response
where
    F: FnOnce(Actor) -> Fut,
    Fut: std::future::Future<Output = Result<File, AppError>>,
{
    let actor = match http_actor(h, addr, headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    match load(actor).await {
        Ok(f) => {
            let disposition = format!("attachment; filename*=UTF-8''{}", percent_encode(&f.filename));
            let mut out = vec![
                (header::CONTENT_TYPE, f.media_type),
                (header::CONTENT_DISPOSITION, disposition),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
                (header::CACHE_CONTROL, "private, no-store".into()),
            ];
            if let Some(sha) = f.sha256 {
                out.push((header::ETAG, format!("\"{sha}\"")));
            }
            let mut resp = f.content.into_response();
            for (k, v) in out {
                if let Ok(v) = header::HeaderValue::from_str(&v) {
                    resp.headers_mut().insert(k, v);
                }
            }
            resp
        }
        Err(e) => app_error_response(e),
    }
}

struct File {
    filename: String,
    media_type: String,
    sha256: Option<String>,
    content: Vec<u8>,
}

/// GET /documents/{id}: the document's content, for those who may see its meeting.
async fn download_document(
    State(h): State<Http>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let db = h.state.db.clone();
    serve_file(&h, addr, &headers, |actor| async move {
        use sea_orm::EntityTrait;
        let id = crate::ids::decode("id", crate::ids::Kind::Document, &async_graphql::ID(id))?;
        let d = crate::meetings::model::document::Entity::find_by_id(id)
            .one(&db)
            .await?
            .ok_or_else(|| AppError::not_found("document"))?;
        crate::meetings::service::visible(&db, &actor, d.meeting_id).await?;
        Ok(File { filename: d.filename, media_type: d.media_type, sha256: Some(d.sha256), content: d.content })
    })
    .await
}

/// GET /referral-documents/{id}: a referral's document or a commune's attachment.
async fn download_referral_document(
    State(h): State<Http>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let db = h.state.db.clone();
    serve_file(&h, addr, &headers, |actor| async move {
        let id = crate::ids::decode("id", crate::ids::Kind::ReferralDocument, &async_graphql::ID(id))?;
        let d = crate::referrals::service::document_for(&db, &actor, id).await?;
        Ok(File { filename: d.filename, media_type: d.media_type, sha256: Some(d.sha256), content: d.content })
    })
    .await
}

fn csv_file((filename, content): (String, Vec<u8>)) -> File {
    File { filename, media_type: "text/csv; charset=utf-8; header=present".into(), sha256: None, content }
}

/// GET /referrals/{id}/responses.csv (the responses the bearer may see) and
/// /referrals/{id}/dataset.csv (a data collection's dataset): RFC 4180, UTF-8.
async fn referral_csv(
    State(h): State<Http>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    axum::extract::Path((id, file)): axum::extract::Path<(String, String)>,
) -> Response {
    let db = h.state.db.clone();
    serve_file(&h, addr, &headers, |actor| async move {
        let id = crate::ids::decode("id", crate::ids::Kind::Referral, &async_graphql::ID(id))?;
        let csv = match file.as_str() {
            "responses.csv" => crate::referrals::service::responses_csv(&db, &actor, id).await?,
            "dataset.csv" => crate::referrals::service::dataset_csv(&db, &actor, id).await?,
            _ => return Err(AppError::not_found("export (responses.csv or dataset.csv)")),
        };
        Ok(csv_file(csv))
    })
    .await
}

/// RFC 5987 encoding of a file name for Content-Disposition.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn ics_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/calendar; charset=utf-8")], body).into_response()
}

/// GET /meetings/{id}/calendar.ics with the bearer token.
async fn meeting_calendar(
    State(h): State<Http>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let actor = match http_actor(&h, addr, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let db = &h.state.db;
    let result = async {
        let id = crate::ids::decode("id", crate::ids::Kind::Meeting, &async_graphql::ID(id))?;
        let m = crate::meetings::service::visible(db, &actor, id).await?;
        crate::meetings::calendar::meeting_ics(db, m).await
    }
    .await;
    match result {
        Ok(body) => ics_response(body),
        Err(e) => app_error_response(e),
    }
}

/// GET /calendar/{token}.ics: a person's secret feed (no bearer: calendar clients cannot send one).
async fn calendar_feed(State(h): State<Http>, axum::extract::Path(token): axum::extract::Path<String>) -> Response {
    let token = token.strip_suffix(".ics").unwrap_or(&token);
    match crate::meetings::calendar::feed(&h.state.db, token).await {
        Ok(Some(body)) => ics_response(body),
        Ok(None) => app_error_response(AppError::not_found("calendar")),
        Err(e) => app_error_response(e),
    }
}

/// The client's address: the peer's, unless the peer is a trusted reverse proxy; then the
/// rightmost X-Forwarded-For address that is not itself a trusted proxy. Without trusted
/// proxies the header is ignored, so a client cannot choose its own address (and escape
/// the per-address sign-in limit).
pub fn client_address(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    forwarded_for
        .into_iter()
        .flat_map(|h| h.rsplit(','))
        .map_while(|a| a.trim().parse::<IpAddr>().ok())
        .find(|a| !trusted.contains(a))
        .unwrap_or(peer)
}

fn json_body(body: bytes::Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Whether the request runs a query (which writes nothing), not a mutation; a document
/// that does not parse, or names no operation among several, counts as not.
fn is_query(req: &mut async_graphql::Request) -> bool {
    let operation = req.operation_name.clone();
    match req.parsed_query() {
        Ok(doc) => match (&doc.operations, operation.as_deref()) {
            (DocumentOperations::Single(op), _) => op.node.ty == OperationType::Query,
            (DocumentOperations::Multiple(ops), Some(name)) => {
                ops.get(name).is_some_and(|op| op.node.ty == OperationType::Query)
            }
            (DocumentOperations::Multiple(_), None) => false,
        },
        Err(_) => false,
    }
}

/// The cache key of a signed-in actor's request (None for anonymous requests, or when
/// the cache is off). `versions` were read with the session, before the query runs; an
/// entry holds them, with what its answer read, beside its key (cache.rs).
fn cache_key(
    state: &AppState,
    actor: &Actor,
    versions: Option<crate::cache::Versions>,
    req: &async_graphql::Request,
) -> AppResult<Option<Key>> {
    let (Some(_), Some(p), Some(_)) = (&state.responses, &actor.principal, versions) else { return Ok(None) };
    let operation = req.operation_name.clone();
    Ok(Some(Key {
        account: p.account_id,
        day: crate::time::today_paris(),
        query: req.query.clone(),
        variables: serde_json::to_string(&req.variables).map_err(AppError::internal)?,
        operation,
    }))
}

#[cfg(test)]
mod tests {
    use super::client_address;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let proxy = ip("10.0.0.2");
        let trusted = [proxy];
        // No trusted proxy: the header is ignored.
        assert_eq!(client_address(ip("203.0.113.9"), Some("198.51.100.1"), &[]), ip("203.0.113.9"));
        // From an untrusted peer: ignored too.
        assert_eq!(client_address(ip("203.0.113.9"), Some("198.51.100.1"), &trusted), ip("203.0.113.9"));
        // From the proxy: the rightmost address it did not add itself.
        assert_eq!(client_address(proxy, Some("198.51.100.1, 203.0.113.7"), &trusted), ip("203.0.113.7"));
        assert_eq!(client_address(proxy, Some("198.51.100.1, 10.0.0.2"), &trusted), ip("198.51.100.1"));
        // A garbled header falls back to the peer.
        assert_eq!(client_address(proxy, Some("not an address"), &trusted), proxy);
        assert_eq!(client_address(proxy, None, &trusted), proxy);
    }
}
