//! The local HTTP server (local mode): hyper over [`handle_request`].

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tracing::debug;

use crate::rest::{HttpRequest, HttpResponse, MAX_REQUEST_BODY_BYTES, handle_request};
use crate::searcher::SearchService;

/// Serves the REST API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    service: Arc<SearchService>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => return Ok(()),
        };
        let service = service.clone();
        tokio::spawn(async move {
            let handler = service_fn(move |request| {
                let service = service.clone();
                async move { Ok::<_, Infallible>(answer(&service, request).await) }
            });
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), handler)
                .await
            {
                debug!(%error, "connection ended with an error");
            }
        });
    }
}

async fn answer(service: &SearchService, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_REQUEST_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return to_hyper(HttpResponse::error(
                413,
                format!("the request body is larger than {MAX_REQUEST_BODY_BYTES} bytes"),
            ));
        }
    };
    let response = handle_request(
        service,
        HttpRequest {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query_string: parts.uri.query(),
            body: &body,
        },
    )
    .await;
    to_hyper(response)
}

fn to_hyper(response: HttpResponse) -> Response<Full<Bytes>> {
    let mut hyper_response = Response::new(Full::new(Bytes::from(response.body)));
    *hyper_response.status_mut() =
        StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    hyper_response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    hyper_response
}
