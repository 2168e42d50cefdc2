//! HTTP doubles that Prometheus itself cannot play:
//! - [`Recorder`]: records each request (method, URL, headers, body), then either forwards it to a
//!   real upstream (a [`super::PromServer`]) and relays the real answer, or answers a canned
//!   response. Prometheus ignores headers, so this is how a test sees them.
//! - [`BlackHole`]: accepts TCP connections and never answers (timeouts).

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query string, e.g. `/api/v1/query?query=up`.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the recorder answers.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Forward to this base URL and relay status, content type and body.
    Forward(String),
    /// Answer this status, content type and body.
    Canned {
        status: u16,
        content_type: String,
        body: String,
    },
}

pub struct Recorder {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Recorded>>>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl Recorder {
    pub fn forwarding_to(upstream: &str) -> Recorder {
        Self::start(Answer::Forward(upstream.trim_end_matches('/').to_string()))
    }

    pub fn canned_json(status: u16, body: &str) -> Recorder {
        Self::start(Answer::Canned {
            status,
            content_type: "application/json".into(),
            body: body.into(),
        })
    }

    pub fn start(answer: Answer) -> Recorder {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("recorder bind"));
        let addr = server.server_addr().to_ip().expect("ip listener");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (server, seen) = (server.clone(), seen.clone());
            thread::spawn(move || {
                let upstream: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                for mut request in server.incoming_requests() {
                    let mut body = String::new();
                    let _ = request.as_reader().read_to_string(&mut body);
                    let recorded = Recorded {
                        method: request.method().as_str().to_string(),
                        url: request.url().to_string(),
                        headers: request
                            .headers()
                            .iter()
                            .map(|h| {
                                (
                                    h.field.as_str().as_str().to_string(),
                                    h.value.as_str().to_string(),
                                )
                            })
                            .collect(),
                        body,
                    };
                    let (status, content_type, text) = match &answer {
                        Answer::Canned {
                            status,
                            content_type,
                            body,
                        } => (*status, content_type.clone(), body.clone()),
                        Answer::Forward(base) => forward(&upstream, base, &recorded),
                    };
                    seen.lock().unwrap().push(recorded);
                    let header = format!("Content-Type: {content_type}")
                        .parse::<tiny_http::Header>()
                        .unwrap();
                    let _ = request.respond(
                        tiny_http::Response::from_string(text)
                            .with_status_code(status)
                            .with_header(header),
                    );
                }
            })
        };
        Recorder {
            addr,
            seen,
            server,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.seen.lock().unwrap().clone()
    }
}

fn forward(agent: &ureq::Agent, base: &str, req: &Recorded) -> (u16, String, String) {
    let url = format!("{base}{}", req.url);
    let result = match req.method.as_str() {
        "POST" => agent
            .post(&url)
            .header(
                "Content-Type",
                req.header("Content-Type")
                    .unwrap_or("application/x-www-form-urlencoded"),
            )
            .send(req.body.as_bytes()),
        _ => agent.get(&url).call(),
    };
    match result {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            let content_type = resp
                .headers()
                .get("Content-Type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/octet-stream")
                .to_string();
            let body = resp.body_mut().read_to_string().unwrap_or_default();
            (status, content_type, body)
        }
        Err(e) => (
            502,
            "text/plain".into(),
            format!("recorder could not forward: {e}"),
        ),
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A listening socket that never accepts: connections complete (kernel backlog) but no byte of
/// an answer ever comes, like a hung server.
pub struct BlackHole {
    listener: TcpListener,
}

impl BlackHole {
    pub fn start() -> BlackHole {
        BlackHole {
            listener: TcpListener::bind("127.0.0.1:0").expect("bind"),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.listener.local_addr().expect("addr"))
    }
}
