//! HTTPS for the test API server: certificates made by the `openssl` CLI (a CA, a server
//! certificate for 127.0.0.1, a client certificate), and a TLS front that terminates TLS with
//! rustls (optionally requiring a client certificate) and relays bytes to the plain server.
//! Like the plain front (see `front`), one request per connection.

use super::front::HeadEditor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// PEM files made for one server.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub ca_crt: PathBuf,
    pub server_crt: PathBuf,
    pub server_key: PathBuf,
    pub client_crt: PathBuf,
    pub client_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes a CA, a server certificate (SAN IP 127.0.0.1, localhost) and a client certificate.
pub fn make_certs(dir: &Path) -> TlsFiles {
    make_certs_for(dir, "IP:127.0.0.1,DNS:localhost")
}

/// Like [`make_certs`], with the server certificate valid only for `san` (openssl
/// `subjectAltName` syntax, e.g. `DNS:kubernetes.internal`).
pub fn make_certs_for(dir: &Path, san: &str) -> TlsFiles {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
    ]);
    openssl(dir, &ca);
    for (who, cn, ext) in [
        (
            "server",
            "/CN=mlcanary-test-server",
            &*format!(
                "subjectAltName={san}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
            ),
        ),
        (
            "client",
            "/CN=mlcanary/O=system:masters",
            "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
        ),
    ] {
        std::fs::write(dir.join(format!("{who}.ext")), ext).unwrap();
        let (key, csr, crt, extf) = (
            format!("{who}.key"),
            format!("{who}.csr"),
            format!("{who}.crt"),
            format!("{who}.ext"),
        );
        let mut req = vec!["req"];
        req.extend(ec);
        req.extend(["-keyout", &key, "-out", &csr, "-subj", cn]);
        openssl(dir, &req);
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &crt,
                "-days",
                "2",
                "-extfile",
                &extf,
            ],
        );
    }
    TlsFiles {
        ca_crt: dir.join("ca.crt"),
        server_crt: dir.join("server.crt"),
        server_key: dir.join("server.key"),
        client_crt: dir.join("client.crt"),
        client_key: dir.join("client.key"),
    }
}

/// A running TLS front; dropping it stops accepting.
pub struct TlsFront {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Listens on 127.0.0.1:0 and relays decrypted bytes to `backend`.
pub fn start_front(
    files: &TlsFiles,
    require_client_cert: bool,
    backend: std::net::SocketAddr,
) -> TlsFront {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.server_crt)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(&files.server_key).unwrap();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&files.ca_crt).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = Arc::new(builder.with_single_cert(certs, key).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        while !flag.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((tcp, _)) => {
                    let config = config.clone();
                    std::thread::spawn(move || relay(tcp, config, backend));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(_) => break,
            }
        }
    });
    TlsFront { port, stop }
}

fn idle(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Pumps bytes both ways with rustls' low-level API (no `Stream` helper: its reads and writes
/// mix socket I/O, which breaks under read timeouts). Socket reads poll with a short timeout;
/// writes block.
fn relay(mut tcp: TcpStream, config: Arc<rustls::ServerConfig>, backend: std::net::SocketAddr) {
    let tick = Some(Duration::from_millis(2));
    let (Ok(()), Ok(mut plain)) = (tcp.set_nonblocking(false), TcpStream::connect(backend)) else {
        return;
    };
    let _ = tcp.set_read_timeout(tick);
    let _ = plain.set_read_timeout(tick);
    let Ok(mut conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut buf = [0u8; 16 * 1024];
    let (mut request_head, mut response_head) = (HeadEditor::default(), HeadEditor::default());
    loop {
        match conn.read_tls(&mut tcp) {
            Ok(0) => return,
            Ok(_) => {
                if conn.process_new_packets().is_err() {
                    // Handshake failure (e.g. no client certificate): send the alert, then close.
                    let _ = conn.write_tls(&mut tcp);
                    return;
                }
            }
            Err(e) if idle(&e) => {}
            Err(_) => return,
        }
        loop {
            match conn.reader().read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    if plain.write_all(&request_head.feed(&buf[..n])).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => return,
            }
        }
        match plain.read(&mut buf) {
            Ok(0) => {
                conn.send_close_notify();
                while conn.wants_write() && conn.write_tls(&mut tcp).is_ok() {}
                return;
            }
            Ok(n) => {
                if conn
                    .writer()
                    .write_all(&response_head.feed(&buf[..n]))
                    .is_err()
                {
                    return;
                }
            }
            Err(e) if idle(&e) => {}
            Err(_) => return,
        }
        while conn.wants_write() {
            if conn.write_tls(&mut tcp).is_err() {
                return;
            }
        }
    }
}
