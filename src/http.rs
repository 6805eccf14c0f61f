//! The axum router: POST /graphql, GET /graphql (GraphiQL, its assets under /graphiql/),
//! GET /health, downloads; with a body size limit, a request timeout, CORS for the
//! configured origins, a server-made request id on every request, and one log line per
//! request.
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql_axum::rejection::GraphQLRejection;
use async_graphql_axum::{GraphQLBatchRequest, GraphQLResponse};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use async_graphql::parser::types::OperationType;

use crate::auth::Actor;
use crate::cache::{DoNotCache, Key, Reads};
use crate::error::{AppError, AppResult};
use crate::graphql::support::add_error_codes;
use crate::graphql::AppSchema;
use crate::limits;
use crate::loaders::Loaders;
use crate::AppState;

#[derive(Clone)]
struct Http {
    state: AppState,
    /// Executes requests; has no extension (graphql/schema.rs).
    schema: AppSchema,
    /// Checks requests before they run: limits and error codes per stage (limits.rs).
    checker: AppSchema,
    /// Runs subscriptions over WebSocket (/graphql/ws), with the depth and complexity limits.
    ws: AppSchema,
}

pub fn router(state: AppState, schema: AppSchema, checker: AppSchema, ws: AppSchema) -> Router {
    let limits = state.config.limits.clone();
    let graphiql = state.config.graphiql && !state.config.production;
    let mut graphql = axum::routing::post(graphql_handler);
    let mut app = Router::new();
    if graphiql {
        graphql = graphql.get(graphiql_page);
        app = app.route("/graphiql/{file}", get(graphiql_asset));
    }
    let largest = limits.body_bytes.max(limits.document_bytes + (1 << 20));
    let cors = cors_layer(&state.config.cors_origins);
    let h = Http { state, schema, checker, ws };
    app.route("/graphql", graphql)
        .route("/graphql/ws", get(graphql_ws))
        .route("/health", get(health))
        .route("/documents/{id}", get(download_document))
        .route("/referral-documents/{id}", get(download_referral_document))
        .route("/referrals/{id}/{file}", get(referral_csv))
        .route("/policies/{id}/{file}", get(policy_synthesis))
        .route("/policy-documents/{id}", get(download_policy_document))
        .route("/meetings/{id}/calendar.ics", get(meeting_calendar))
        .route("/calendar/{token}", get(calendar_feed))
        .route("/receipts/{id}/{signature}", get(receipt_page).post(receipt_confirm))
        .layer(axum::middleware::from_fn_with_state(h.clone(), limit_non_multipart))
        .with_state(h)
        .layer(ServiceBuilder::new().option_layer(cors))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &Request<_>| {
                            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
                            let correlation =
                                req.extensions().get::<ClientRequestId>().map(|c| c.0.as_str()).unwrap_or("-");
                            // A calendar feed's path is its secret, a receipt's is signed: never logged.
                            let path = req.uri().path();
                            let path = if path.starts_with("/calendar/") {
                                "/calendar/(secret)"
                            } else if path.starts_with("/receipts/") {
                                "/receipts/(signed)"
                            } else {
                                path
                            };
                            tracing::info_span!(
                                "request",
                                method = %req.method(),
                                path = %path,
                                request_id = %id,
                                correlation_id = %correlation
                            )
                        })
                        // One line per request, when its response is ready.
                        .on_request(())
                        .on_response(LogResponse)
                        .on_failure(()),
                )
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(RequestBodyLimitLayer::new(largest))
                .layer(CatchPanicLayer::custom(|_| {
                    tracing::error!("handler panicked");
                    error_response(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error")
                }))
                .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, limits.request_timeout)),
        )
        // Outermost: the request id is always the server's; a client's x-request-id is
        // kept apart, as a correlation id in the log span only.
        .layer(axum::middleware::from_fn(take_client_request_id))
}

/// GET /graphql/ws: GraphQL subscriptions over WebSocket, speaking graphql-transport-ws
/// (and the older graphql-ws, subscriptions-transport-ws). The client signs in with
/// `connection_init` and its bearer token (`{"token": "..."}` or `{"Authorization":
/// "Bearer ..."}`); a missing or invalid one, or an account with too many connections
/// open, closes the socket (code 1002, async-graphql's). Only subscriptions run here; messages are at most
/// `ws_message_bytes`; the server pings every `ws_keepalive` and closes a connection
/// that does not answer.
async fn graphql_ws(
    State(h): State<Http>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    protocol: async_graphql_axum::GraphQLProtocol,
    upgrade: axum::extract::ws::WebSocketUpgrade,
) -> Response {
    let limits = h.state.config.limits.clone();
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let client = client_address(addr.ip(), forwarded, &h.state.config.trusted_proxies).to_string();
    let executor = WsExecutor { h: h.clone(), open: Arc::default() };
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(limits.ws_message_bytes)
        .max_frame_size(limits.ws_message_bytes)
        // tungstenite's default 128 KiB read buffer per connection made 2,000 idle
        // connections cost 256 MiB (BENCHMARKS.md); messages are small.
        .read_buffer_size(8 << 10)
        .write_buffer_size(8 << 10)
        .max_write_buffer_size(limits.ws_message_bytes * 16)
        .on_upgrade(move |socket| {
            let state = h.state.clone();
            async_graphql_axum::GraphQLWebSocket::new(socket, executor, protocol)
                .on_connection_init(move |payload| ws_connection_init(state, payload, client))
                .keepalive_timeout(limits.ws_keepalive)
                .serve()
        })
}

/// Signs a WebSocket connection in from its `connection_init` payload.
async fn ws_connection_init(
    state: AppState,
    payload: serde_json::Value,
    client: String,
) -> async_graphql::Result<async_graphql::Data> {
    let raw = ["token", "Authorization", "authorization"]
        .iter()
        .find_map(|k| payload.get(*k).and_then(|v| v.as_str()))
        .unwrap_or("");
    let token = raw.strip_prefix("Bearer ").or_else(|| raw.strip_prefix("bearer ")).unwrap_or(raw).trim().to_string();
    let (actor, _) = crate::auth::service::resolve_actor(&state, Some(&token), "websocket".into(), Some(client))
        .await
        .map_err(|e| {
            tracing::error!(error = ?e, "resolving a WebSocket's actor failed");
            async_graphql::Error::new("internal error")
        })?;
    let Some(p) = actor.principal.as_ref() else {
        return Err(async_graphql::Error::new("authentication required: send the bearer token in connection_init"));
    };
    let most = state.config.limits.ws_connections_per_account;
    let Some(guard) = state.live.connect(p.account_id, most) else {
        return Err(async_graphql::Error::new(format!("at most {most} live connections per account")));
    };
    let mut data = async_graphql::Data::default();
    data.insert(actor);
    data.insert(crate::graphql::subscription::WsSession(token));
    data.insert(Arc::new(guard));
    Ok(data)
}

/// Runs the subscriptions of one WebSocket connection: each checked as a request over
/// HTTP is (nesting, shape, inputs) and given its own loaders; at most
/// `ws_subscriptions` at once; anything but a subscription is refused.
#[derive(Clone)]
struct WsExecutor {
    h: Http,
    open: Arc<std::sync::atomic::AtomicUsize>,
}

/// Counts one open subscription of a connection while its stream lives.
struct Open(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl WsExecutor {
    fn check(&self, req: &mut async_graphql::Request) -> Result<(), async_graphql::ServerError> {
        let limits = &self.h.state.config.limits;
        limits::check_before_parsing(req, limits.max_nesting)?;
        let name = req.operation_name.clone();
        let doc = req.parsed_query().map_err(|e| limits::coded(e, limits::GRAPHQL_PARSE))?;
        let op = limits::selected_operation(doc, name.as_deref())?;
        if op.node.ty != OperationType::Subscription {
            return Err(limits::error(
                "BAD_REQUEST",
                "only subscriptions run over /graphql/ws: send queries and mutations to POST /graphql",
            ));
        }
        limits::check_shape(doc, limits.max_fields, limits.max_aliases)?;
        crate::platform::input::check_request(req, &self.h.schema)
    }
}

impl async_graphql::Executor for WsExecutor {
    async fn execute(&self, _request: async_graphql::Request) -> async_graphql::Response {
        async_graphql::Response::from_errors(vec![limits::error(
            "BAD_REQUEST",
            "only subscriptions run over /graphql/ws: send queries and mutations to POST /graphql",
        )])
    }

    fn execute_stream(
        &self,
        mut request: async_graphql::Request,
        session_data: Option<Arc<async_graphql::Data>>,
    ) -> futures_util::stream::BoxStream<'static, async_graphql::Response> {
        use futures_util::StreamExt;
        let refuse = |e: async_graphql::ServerError| {
            futures_util::stream::once(async move { async_graphql::Response::from_errors(vec![e]) }).boxed()
        };
        if let Err(e) = self.check(&mut request) {
            return refuse(e);
        }
        let most = self.h.state.config.limits.ws_subscriptions;
        if self.open.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= most {
            self.open.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            return refuse(limits::error(limits::QUERY_LIMIT, format!("at most {most} subscriptions per connection")));
        }
        let open = Open(self.open.clone());
        let request = request.data(Loaders::new(&self.h.state.db, self.h.state.config.dataloader_delay));
        async_graphql::Executor::execute_stream(&self.h.ws, request, session_data)
            .map(move |mut resp| {
                let _open = &open;
                limits::code_execution_errors(&mut resp);
                add_error_codes(&mut resp);
                resp
            })
            .boxed()
    }
}

/// A small HTML page of the read receipt (nothing loaded, no script).
fn receipt_html(status: StatusCode, body: &str) -> Response {
    let page = format!(
        "<!DOCTYPE html><html lang=\"fr\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta name=\"robots\" content=\"noindex\"><title>Accusé de lecture — entente</title></head><body>{body}</body></html>"
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'; form-action 'self'"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        page,
    )
        .into_response()
}

fn receipt_signed(h: &Http, id: &str, signature: &str) -> Option<i32> {
    let id: i32 = id.parse().ok().filter(|i| *i > 0)?;
    crate::platform::mail::receipt::verify(&h.state.receipt_key, id, signature).then_some(id)
}

/// GET /receipts/{id}/{signature}: the read-receipt link of a convocation's e-mail. It
/// asks for a click to confirm (a POST): mail scanners open links, members confirm.
async fn receipt_page(
    State(h): State<Http>,
    axum::extract::Path((id, signature)): axum::extract::Path<(String, String)>,
) -> Response {
    if receipt_signed(&h, &id, &signature).is_none() {
        return receipt_html(StatusCode::NOT_FOUND, "<p>Ce lien d'accusé de lecture n'est pas valide.</p>");
    }
    receipt_html(
        StatusCode::OK,
        "<h1>Accusé de lecture</h1><p>Confirmez que vous avez pris connaissance de votre convocation.</p><form method=\"post\"><button type=\"submit\">Je confirme la lecture de ma convocation</button></form>",
    )
}

/// POST /receipts/{id}/{signature}: records the read receipt (once; later ones answer the
/// first time).
async fn receipt_confirm(
    State(h): State<Http>,
    axum::extract::Path((id, signature)): axum::extract::Path<(String, String)>,
) -> Response {
    let Some(id) = receipt_signed(&h, &id, &signature) else {
        return receipt_html(StatusCode::NOT_FOUND, "<p>Ce lien d'accusé de lecture n'est pas valide.</p>");
    };
    match crate::meetings::service::acknowledge_by_link(&h.state, id).await {
        Ok(Some(at)) => receipt_html(
            StatusCode::OK,
            &format!("<h1>Accusé de lecture</h1><p>Lecture enregistrée le {}.</p>", crate::time::fr_datetime(at)),
        ),
        Ok(None) => receipt_html(
            StatusCode::NOT_FOUND,
            "<p>Cette convocation a été remplacée : la nouvelle vous a été adressée.</p>",
        ),
        Err(e) => {
            tracing::error!(error = ?e, "recording a read receipt failed");
            receipt_html(StatusCode::INTERNAL_SERVER_ERROR, "<p>Une erreur est survenue ; réessayez plus tard.</p>")
        }
    }
}

/// The line logged for each request, within its span (method, path, request id).
#[derive(Clone, Copy)]
struct LogResponse;

impl<B> tower_http::trace::OnResponse<B> for LogResponse {
    fn on_response(self, resp: &axum::http::Response<B>, latency: Duration, _: &tracing::Span) {
        let latency_ms = (latency.as_secs_f64() * 10_000.0).round() / 10.0;
        tracing::info!(status = resp.status().as_u16(), latency_ms, "request");
    }
}

/// CORS for the configured origins (none: no CORS headers at all, as before).
fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o.trim()).ok()).collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static("x-request-id")])
            .expose_headers([HeaderName::from_static("x-request-id"), header::RETRY_AFTER])
            .max_age(Duration::from_secs(600)),
    )
}

/// A client's own x-request-id, kept as a correlation id for the logs.
#[derive(Clone)]
struct ClientRequestId(String);

async fn take_client_request_id(mut req: Request<axum::body::Body>, next: axum::middleware::Next) -> Response {
    if let Some(v) = req.headers_mut().remove("x-request-id") {
        let v: String = v.to_str().unwrap_or("").chars().filter(|c| c.is_ascii_graphic()).take(128).collect();
        if !v.is_empty() {
            req.extensions_mut().insert(ClientRequestId(v));
        }
    }
    next.run(req).await
}

/// The server's request id (set by the layer above every handler).
fn request_id(headers: &HeaderMap) -> String {
    headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-").to_string()
}

/// The actor resolved before a multipart body was read, handed to the GraphQL handler.
#[derive(Clone)]
struct ResolvedActor(Arc<Mutex<Option<ActorAndVersions>>>);

/// An actor, and the data versions their cached answers are keyed by.
type ActorAndVersions = (Actor, Option<crate::cache::Versions>);

impl ResolvedActor {
    fn take(&self) -> Option<ActorAndVersions> {
        self.0.lock().ok().and_then(|mut found| found.take())
    }
}

/// Multipart requests (document uploads) may be as large as a document, and only from a
/// valid session: the bearer is resolved before any of the body is read (`Bearer x` is
/// refused at once). Every other request stays within `body_bytes`, announced or streamed.
async fn limit_non_multipart(
    State(h): State<Http>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    mut req: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> Response {
    let limit = h.state.config.limits.body_bytes;
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"));
    if multipart {
        let actor = match http_actor_and_version(&h, addr, req.headers()).await {
            Ok((actor, version)) if actor.principal.is_some() => {
                ResolvedActor(Arc::new(Mutex::new(Some((actor, version)))))
            }
            Ok(_) => return error_response(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", "authentication required"),
            Err(r) => return r,
        };
        req.extensions_mut().insert(actor);
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

/// A GraphQL error response with the status its codes call for: 429 with Retry-After
/// when one is RATE_LIMITED, 200 otherwise (GraphQL over HTTP).
fn graphql_response(resp: async_graphql::Response) -> Response {
    let retry = crate::limits::retry_after(&resp);
    let mut out = GraphQLResponse::from(resp).into_response();
    if let Some(secs) = retry {
        *out.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        out.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    out
}

fn graphql_error(e: async_graphql::ServerError) -> Response {
    graphql_response(async_graphql::Response::from_errors(vec![e]))
}

/// The GraphiQL page: every script and style it names is served by this server
/// (/graphiql/...), from the binary, so the IDE works offline.
const GRAPHIQL_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="robots" content="noindex">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>entente</title>
    <style>body { height: 100%; margin: 0; width: 100%; overflow: hidden; } #graphiql { height: 100vh; }</style>
    <script src="/graphiql/react.production.min.js"></script>
    <script src="/graphiql/react-dom.production.min.js"></script>
    <link rel="stylesheet" href="/graphiql/graphiql.min.css" />
  </head>
  <body>
    <div id="graphiql">Loading...</div>
    <script src="/graphiql/graphiql.min.js"></script>
    <script src="/graphiql/start.js"></script>
  </body>
</html>
"#;

/// Inline scripts would need a weaker Content-Security-Policy: the start is a file too.
const GRAPHIQL_START: &str = r#"ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, {
    fetcher: GraphiQL.createFetcher({
      url: new URL("/graphql", window.location.origin).toString(),
      subscriptionUrl: new URL("/graphql/ws", window.location.origin).toString().replace(/^http/, "ws"),
      fetch: (url, opts = {}) => fetch(url, { ...opts, credentials: "same-origin" }),
    }),
    defaultEditorToolsVisibility: true,
  })
);
"#;

async fn graphiql_page() -> impl IntoResponse {
    Html(GRAPHIQL_PAGE)
}

/// GET /graphiql/{file}: the IDE's assets (graphiql 4.1.2, react 18.3.1; their licences
/// and origin are in assets/graphiql/).
async fn graphiql_asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    const JS: &str = "text/javascript; charset=utf-8";
    let (media_type, body): (&str, &'static [u8]) = match file.as_str() {
        "react.production.min.js" => (JS, include_bytes!("../assets/graphiql/react.production.min.js")),
        "react-dom.production.min.js" => (JS, include_bytes!("../assets/graphiql/react-dom.production.min.js")),
        "graphiql.min.js" => (JS, include_bytes!("../assets/graphiql/graphiql.min.js")),
        "graphiql.min.css" => ("text/css; charset=utf-8", include_bytes!("../assets/graphiql/graphiql.min.css")),
        "start.js" => (JS, GRAPHIQL_START.as_bytes()),
        _ => return app_error_response(AppError::not_found("file")),
    };
    (
        [
            (header::CONTENT_TYPE, media_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
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
    resolved: Option<axum::Extension<ResolvedActor>>,
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
    let mut req = match req {
        async_graphql::BatchRequest::Single(r) => r,
        async_graphql::BatchRequest::Batch(_) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "BATCH_NOT_SUPPORTED",
                "batched requests are not supported: send one operation per request",
            )
        }
    };
    let limits = &h.state.config.limits;
    // Before anything parses or walks the request: nesting of the text, the variables
    // and the extensions (the parser and the value conversions recurse).
    if let Err(e) = limits::check_before_parsing(&req, limits.max_nesting) {
        return graphql_error(e);
    }
    let (actor, versions) = match resolved.and_then(|axum::Extension(r)| r.take()) {
        Some(found) => found,
        None => match http_actor_and_version(&h, addr, &headers).await {
            Ok(found) => found,
            Err(r) => return r,
        },
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
    // Parsed once, here (the request keeps the document for execution).
    let operation = req.operation_name.clone();
    let variables = std::mem::take(&mut req.variables);
    let (reads_only, introspective) = match req.parsed_query() {
        Err(e) => return graphql_error(limits::coded(e, limits::GRAPHQL_PARSE)),
        Ok(doc) => {
            let op = match limits::selected_operation(doc, operation.as_deref()) {
                Ok(op) => op,
                Err(e) => return graphql_error(e),
            };
            if let Err(e) = limits::check_required_variables(&op.node, &variables) {
                return graphql_error(e);
            }
            if let Err(e) = limits::check_shape(doc, limits.max_fields, limits.max_aliases) {
                return graphql_error(e);
            }
            (op.node.ty == OperationType::Query, limits::introspection_only(&op.node))
        }
    };
    req.variables = variables;
    // Control characters in text and dates out of range, in every input (platform::input).
    if let Err(e) = crate::platform::input::check_request(&mut req, &h.schema) {
        return graphql_error(e);
    }
    // Parsed, validated and measured by the checking schema (which never executes);
    // executed below by the schema without extensions.
    let mut check = async_graphql::Request::new(req.query.clone())
        .variables(req.variables.clone())
        .data(limits::QueryText(req.query.as_str().into()));
    if let Some(op) = &req.operation_name {
        check = check.operation_name(op.clone());
    }
    if introspective {
        check = check.data(limits::Introspective);
    }
    let mut checked = h.checker.execute(check).await;
    if !checked.errors.is_empty() {
        add_error_codes(&mut checked);
        return graphql_response(checked);
    }
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
    limits::code_execution_errors(&mut resp);
    add_error_codes(&mut resp);
    match (&h.state.responses, key, versions) {
        (Some(cache), Some(k), Some(before)) if resp.errors.is_empty() && !uncacheable.is_marked() => {
            match serde_json::to_vec(&resp) {
                Ok(bytes) => {
                    let body = bytes::Bytes::from(bytes);
                    cache.insert(k, reads.deps(&resp.data, before), body.clone());
                    json_body(body)
                }
                Err(_) => graphql_response(resp),
            }
        }
        _ => graphql_response(resp),
    }
}

/// The actor of a request from its bearer token, and the data version read with it.
async fn http_actor_and_version(
    h: &Http,
    addr: SocketAddr,
    headers: &HeaderMap,
) -> Result<(Actor, Option<crate::cache::Versions>), Response> {
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let client = client_address(addr.ip(), forwarded, &h.state.config.trusted_proxies);
    match crate::auth::service::resolve_actor(&h.state, bearer(headers), request_id(headers), Some(client.to_string()))
        .await
    {
        Ok(found) => Ok(found),
        Err(e) => {
            tracing::error!(error = ?e, "resolving the actor failed");
            Err(error_response(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error"))
        }
    }
}

/// The actor of a plain HTTP request (downloads, .ics), from its bearer token.
async fn http_actor(h: &Http, addr: SocketAddr, headers: &HeaderMap) -> Result<Actor, Response> {
    http_actor_and_version(h, addr, headers).await.map(|(actor, _)| actor)
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
        AppError::RateLimited { retry_after_secs } => {
            let mut resp = error_response(StatusCode::TOO_MANY_REQUESTS, e.code(), &e.to_string());
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from((*retry_after_secs).max(1)));
            return resp;
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
            let html = f.media_type.starts_with("text/html");
            let mut out = vec![
                (header::CONTENT_TYPE, f.media_type),
                (header::CONTENT_DISPOSITION, disposition),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
                (header::CACHE_CONTROL, "private, no-store".into()),
            ];
            if html {
                // A page we render: no script, nothing fetched, whoever opens it.
                out.push((
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox".into(),
                ));
            }
            if let Some(sha) = f.sha256 {
                out.push((header::ETAG, format!("\"{sha}\"")));
            }
            if let Some(size) = f.size {
                out.push((header::CONTENT_LENGTH, size.to_string()));
            }
            let mut resp = f.body.into_response();
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
    /// Sent as Content-Length when the body is a stream (a buffered body tells its own).
    size: Option<u64>,
    body: axum::body::Body,
}

impl From<crate::platform::documents::Download> for File {
    /// A stored document: its content streamed chunk by chunk as the client reads.
    fn from(d: crate::platform::documents::Download) -> Self {
        File {
            filename: d.meta.filename,
            media_type: d.meta.media_type,
            sha256: Some(d.meta.sha256),
            size: u64::try_from(d.meta.size_bytes).ok(),
            body: axum::body::Body::from_stream(d.body),
        }
    }
}

/// A stored document at GET `…/{id}`: its global id decoded as `kind`, then `load` (the
/// domain's download, which checks the reader before any content is read), streamed.
async fn stored<F, Fut>(
    h: &Http,
    addr: SocketAddr,
    headers: &HeaderMap,
    kind: crate::ids::Kind,
    id: String,
    load: F,
) -> Response
where
    F: FnOnce(sea_orm::DatabaseConnection, Actor, i32) -> Fut,
    Fut: std::future::Future<Output = Result<crate::platform::documents::Download, AppError>>,
{
    let db = h.state.db.clone();
    serve_file(h, addr, headers, |actor| async move {
        let id = crate::ids::decode("id", kind, &async_graphql::ID(id))?;
        Ok(load(db, actor, id).await?.into())
    })
    .await
}

/// GET /documents/{id}: the document's content, for those who may see its meeting.
async fn download_document(
    State(h): State<Http>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    stored(&h, addr, &headers, crate::ids::Kind::Document, id, |db, actor, id| async move {
        crate::meetings::service::download_document(&db, &actor, id).await
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
    stored(&h, addr, &headers, crate::ids::Kind::ReferralDocument, id, |db, actor, id| async move {
        crate::referrals::service::download_document(&db, &actor, id).await
    })
    .await
}

fn csv_file((filename, content): (String, Vec<u8>)) -> File {
    let media_type = "text/csv; charset=utf-8; header=present".into();
    File { filename, media_type, sha256: None, size: None, body: content.into() }
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

/// GET /policy-documents/{id}: a policy's document, for whoever sees the policy.
async fn download_policy_document(
    State(h): State<Http>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    stored(&h, addr, &headers, crate::ids::Kind::PolicyDocument, id, |db, actor, id| async move {
        crate::policies::service::download_document(&db, &actor, id).await
    })
    .await
}

/// GET /policies/{id}/synthesis.csv and /policies/{id}/synthesis.html, optionally
/// `?version=N`: the bilan de la concertation, for whoever sees the policy.
async fn policy_synthesis(
    State(h): State<Http>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    axum::extract::Path((id, file)): axum::extract::Path<(String, String)>,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let db = h.state.db.clone();
    serve_file(&h, addr, &headers, |actor| async move {
        let id = crate::ids::decode("id", crate::ids::Kind::Policy, &async_graphql::ID(id))?;
        let version = match query.get("version") {
            Some(v) => Some(v.parse::<i32>().map_err(|_| AppError::validation("version", "a version number"))?),
            None => None,
        };
        use crate::policies::synthesis::{to_csv_table, to_html};
        let p = crate::policies::service::access::view(&db, &actor, id).await?;
        let s = crate::policies::service::synthesis(&db, &p, version).await?;
        let name = format!("bilan-concertation-{}{}", p.id, version.map(|v| format!("-v{v}")).unwrap_or_default());
        match file.as_str() {
            "synthesis.csv" => Ok(csv_file((format!("{name}.csv"), to_csv_table(&s).map_err(AppError::internal)?))),
            "synthesis.html" => Ok(File {
                filename: format!("{name}.html"),
                media_type: "text/html; charset=utf-8".into(),
                sha256: None,
                size: None,
                body: to_html(&s).map_err(AppError::internal)?.into(),
            }),
            _ => Err(AppError::not_found("export (synthesis.csv or synthesis.html)")),
        }
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
        crate::meetings::calendar::meeting_ics(db, m.into_inner()).await
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
    use super::{app_error_response, client_address};
    use crate::error::AppError;
    use std::net::IpAddr;

    #[test]
    fn rate_limited_plain_http_answers_429_with_retry_after() {
        let resp = app_error_response(AppError::RateLimited { retry_after_secs: 7 });
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("7"));
    }

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
