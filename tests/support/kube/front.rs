//! The plain-HTTP front of the test API server: one request per connection.
//!
//! tiny_http parks a pool thread on every idle keep-alive connection and can queue a new
//! connection behind them, so kubectl's parallel discovery sometimes stalls for its 32 s timeout.
//! The fronts add `Connection: close` to each request and response head: tiny_http then closes
//! after every exchange and its pool stays free. Clients see a server that closes connections,
//! which HTTP allows and real clients handle.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};

/// Adds `Connection: close` after the first line of a message head.
#[derive(Default)]
pub struct HeadEditor {
    done: bool,
    buf: Vec<u8>,
}

impl HeadEditor {
    pub fn feed(&mut self, data: &[u8]) -> Vec<u8> {
        if self.done {
            return data.to_vec();
        }
        self.buf.extend_from_slice(data);
        let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") else {
            return Vec::new();
        };
        self.done = true;
        let mut out = self.buf[..i + 2].to_vec();
        out.extend_from_slice(b"Connection: close\r\n");
        out.extend_from_slice(&self.buf[i + 2..]);
        self.buf.clear();
        out
    }
}

/// Listens on 127.0.0.1:0 and relays to `backend`; returns the port.
pub fn start_plain(backend: SocketAddr) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("a local address").port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(client) = conn else { return };
            std::thread::spawn(move || relay(client, backend));
        }
    });
    port
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut head = HeadEditor::default();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&head.feed(&buf[..n])).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn relay(client: TcpStream, backend: SocketAddr) {
    let Ok(server) = TcpStream::connect(backend) else {
        return;
    };
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || pump(c2, s2));
    pump(server, client);
    let _ = up.join();
}
