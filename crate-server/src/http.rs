//! Routing of one HTTP request: WebSocket endpoints by path, files for everything else.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use ferrosocket_wire::endpoints;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};

use crate::config::Config;
use crate::{echo, static_files, upgrade};

/// The body type of every response this server writes.
pub(crate) type Body = Full<Bytes>;

pub(crate) async fn route(
    req: Request<Incoming>,
    config: Arc<Config>,
    peer: SocketAddr,
) -> Result<Response<Body>, Infallible> {
    let response = match req.uri().path() {
        endpoints::ECHO => match echo::EchoOptions::from_query(req.uri().query()) {
            Ok(options) => upgrade::accept(
                req,
                &config,
                peer,
                endpoints::ECHO_SUBPROTOCOLS,
                move |socket, _protocol| echo::serve(socket, options),
            ),
            Err(problem) => text(StatusCode::BAD_REQUEST, format!("{problem}\n")),
        },
        _ => static_files::serve(&config.www, &req).await,
    };
    Ok(response)
}

/// A plain-text response with `status`.
pub(crate) fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(body.into())))
        .expect("static headers are valid")
}
