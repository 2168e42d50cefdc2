//! `azure_core::http::HttpClient` over a ureq agent, so `azure_identity` credentials run without
//! tokio or reqwest. ureq is blocking: the "async" call finishes before it returns, which is what
//! `futures::executor::block_on` (our only executor) expects.

use azure_core::error::{Error, ErrorKind};
use azure_core::http::headers::Headers;
use azure_core::http::{AsyncRawResponse, Body, HttpClient, Request, StatusCode, Transport};
use std::sync::Arc;

/// A ureq-backed transport. Built from [`crate::clients::http::agent`], so TLS and timeouts are the
/// same as every other outgoing request.
#[derive(Debug, Clone)]
pub struct UreqTransport {
    agent: ureq::Agent,
}

impl UreqTransport {
    pub fn new(agent: ureq::Agent) -> Self {
        UreqTransport { agent }
    }

    /// The value to put in every credential's `client_options.transport`.
    pub fn transport(agent: ureq::Agent) -> Transport {
        Transport::new(Arc::new(UreqTransport::new(agent)))
    }

    fn send(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let body = match request.body() {
            Body::Bytes(bytes) => bytes.to_vec(),
            #[allow(unreachable_patterns)]
            _ => {
                return Err(Error::with_message(
                    ErrorKind::Io,
                    "streaming request bodies are not supported by the ureq transport",
                ))
            }
        };
        let mut builder = ureq::http::Request::builder()
            .method(request.method().as_ref())
            .uri(request.url().as_str());
        for (name, value) in request.headers().iter() {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let req = builder
            .body(body)
            .map_err(|e| Error::with_message(ErrorKind::Io, format!("bad request: {e}")))?;
        let mut resp = self.agent.run(req).map_err(|e| {
            Error::with_message(
                ErrorKind::Io,
                format!("{} {}: {e}", request.method().as_ref(), request.url()),
            )
        })?;
        let status = StatusCode::from(resp.status().as_u16());
        let mut headers = Headers::new();
        for (name, value) in resp.headers() {
            if let Ok(v) = value.to_str() {
                headers.insert(name.as_str().to_string(), v.to_string());
            }
        }
        let bytes = resp
            .body_mut()
            .read_to_vec()
            .map_err(|e| Error::with_message(ErrorKind::Io, format!("reading body: {e}")))?;
        Ok(AsyncRawResponse::from_bytes(status, headers, bytes))
    }
}

#[async_trait::async_trait]
impl HttpClient for UreqTransport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        self.send(request)
    }
}
