//! `--tls-cert`/`--tls-key`: https and wss with a certificate the test makes, the errors a
//! bad certificate file gets, the versions accepted (1.2 and 1.3; 1.0 and 1.1 refused with
//! an alert), and `--handshake-timeout` on TLS handshakes that stall.

mod common;

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;

struct TestCertificate {
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    der: rustls_pki_types::CertificateDer<'static>,
}

fn certificate(name: &str) -> TestCertificate {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = std::env::temp_dir().join(format!("ferrosocket-tls-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.key_pair.serialize_pem()).unwrap();
    TestCertificate {
        cert,
        key,
        der: generated.cert.der().clone(),
    }
}

async fn tls_connect(
    addr: std::net::SocketAddr,
    der: rustls_pki_types::CertificateDer<'static>,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = RootCertStore::empty();
    roots.add(der).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    TlsConnector::from(Arc::new(config))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .expect("a TLS handshake with the server's certificate")
}

#[tokio::test]
async fn serves_https_and_wss() {
    let certificate = certificate("ok");
    let server = common::bind_with(|config| {
        config.tls_cert = Some(certificate.cert.clone());
        config.tls_key = Some(certificate.key.clone());
    })
    .await;
    let addr = server.local_addr();
    assert_eq!(server.url(), format!("https://{addr}/"));
    tokio::spawn(server.run_until(std::future::pending()));

    let mut https = tls_connect(addr, certificate.der.clone()).await;
    https
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    https.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("ok\n"), "{response}");

    let tls = tls_connect(addr, certificate.der.clone()).await;
    let (mut wss, _) =
        tokio_tungstenite::client_async(format!("wss://localhost:{}/echo", addr.port()), tls)
            .await
            .unwrap();
    wss.send(Message::text("over TLS")).await.unwrap();
    assert_eq!(
        wss.next().await.unwrap().unwrap(),
        Message::text("over TLS")
    );

    // A browser page served over https has an https origin, which is the server's own.
    let tls = tls_connect(addr, certificate.der.clone()).await;
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "wss://localhost:{}/echo",
            addr.port()
        ))
        .unwrap();
    request.headers_mut().insert(
        "origin",
        format!("https://localhost:{}", addr.port())
            .parse()
            .unwrap(),
    );
    assert!(tokio_tungstenite::client_async(request, tls).await.is_ok());
}

#[tokio::test]
async fn bad_certificate_files_are_named_in_the_error() {
    let certificate = certificate("bad");
    let garbage = certificate.cert.with_file_name("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let config = |cert: &std::path::Path, key: &std::path::Path| ferrosocket_server::Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        tls_cert: Some(cert.to_owned()),
        tls_key: Some(key.to_owned()),
        ..Default::default()
    };
    let err = ferrosocket_server::Server::bind(config(&garbage, &certificate.key))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("garbage.pem"), "{err}");
    let missing = certificate.cert.with_file_name("missing.pem");
    let err = ferrosocket_server::Server::bind(config(&certificate.cert, &missing))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.pem"), "{err}");
}

/// A TLS server on port 0 with a fresh certificate and a plain admin port for `/metrics`.
async fn tls_server(
    name: &str,
    configure: impl FnOnce(&mut ferrosocket_server::Config),
) -> (std::net::SocketAddr, std::net::SocketAddr, TestCertificate) {
    let certificate = certificate(name);
    let server = common::bind_with(|config| {
        config.tls_cert = Some(certificate.cert.clone());
        config.tls_key = Some(certificate.key.clone());
        config.admin_addr = Some("127.0.0.1:0".parse().unwrap());
        configure(config);
    })
    .await;
    let (addr, admin) = (server.local_addr(), server.admin_addr().unwrap());
    tokio::spawn(server.run_until(std::future::pending()));
    (addr, admin, certificate)
}

fn client_config(
    roots: RootCertStore,
    versions: &[&'static tokio_rustls::rustls::SupportedProtocolVersion],
) -> ClientConfig {
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

async fn handshake_timeouts(admin: std::net::SocketAddr) -> u64 {
    let text = String::from_utf8(common::get(admin, "/metrics").await.body).unwrap();
    text.lines()
        .find_map(|line| {
            line.strip_prefix("ferrosocket_limit_hits_total{limit=\"handshake_timeout\"} ")?
                .parse()
                .ok()
        })
        .expect("a handshake_timeout count on /metrics")
}

#[tokio::test]
async fn tls_1_2_and_1_3_are_both_accepted() {
    use tokio_rustls::rustls::{version, ProtocolVersion};
    let (addr, _, certificate) = tls_server("versions", |_| {}).await;
    for (version, expected) in [
        (&version::TLS12, ProtocolVersion::TLSv1_2),
        (&version::TLS13, ProtocolVersion::TLSv1_3),
    ] {
        let mut roots = RootCertStore::empty();
        roots.add(certificate.der.clone()).unwrap();
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut tls = TlsConnector::from(Arc::new(client_config(roots, &[version])))
            .connect("localhost".try_into().unwrap(), tcp)
            .await
            .unwrap_or_else(|err| panic!("{expected:?} refused: {err}"));
        assert_eq!(tls.get_ref().1.protocol_version(), Some(expected));
        tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        tls.read_to_string(&mut response).await.unwrap();
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "{expected:?}: {response}"
        );
    }
}

/// A ClientHello as a TLS 1.0 or 1.1 client sends it: `version` in the record and the hello,
/// no supported_versions extension, and cipher suites both old and current.
fn old_client_hello(version: u16) -> Vec<u8> {
    let mut hello = Vec::new();
    hello.extend_from_slice(&version.to_be_bytes());
    hello.extend_from_slice(&[7; 32]); // random
    hello.push(0); // no session id
                   // TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
                   // TLS_RSA_WITH_AES_128_CBC_SHA.
    let suites = [0xc0, 0x2b, 0xc0, 0x09, 0x00, 0x2f];
    hello.extend_from_slice(&(suites.len() as u16).to_be_bytes());
    hello.extend_from_slice(&suites);
    hello.extend_from_slice(&[1, 0]); // compression: null
                                      // What a TLS 1.2 server needs for the ECDHE-ECDSA suite, so that the version is the only
                                      // reason to refuse (checked by sending the same hello as TLS 1.2).
    let extensions: &[u8] = &[
        0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x1d, 0x00, 0x17, // supported_groups
        0x00, 0x0b, 0x00, 0x02, 0x01, 0x00, // ec_point_formats: uncompressed
        0x00, 0x0d, 0x00, 0x08, 0x00, 0x06, 0x04, 0x03, 0x08, 0x04, 0x04,
        0x01, // signature_algorithms
    ];
    hello.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    hello.extend_from_slice(extensions);
    let mut handshake = vec![1]; // client_hello
    handshake.extend_from_slice(&(hello.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&hello);
    let mut record = vec![0x16];
    record.extend_from_slice(&version.to_be_bytes());
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

#[tokio::test]
async fn tls_1_0_and_1_1_are_refused_with_an_alert() {
    let (addr, _, _certificate) = tls_server("old", |_| {}).await;
    // The control: the same hello as TLS 1.2 is answered with a ServerHello.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(&old_client_hello(0x0303)).await.unwrap();
    let mut header = [0u8; 6];
    tcp.read_exact(&mut header).await.unwrap();
    assert_eq!(
        (header[0], header[5]),
        (22, 2),
        "TLS 1.2: a ServerHello, not {header:?}"
    );

    for (name, version) in [("TLS 1.0", 0x0301u16), ("TLS 1.1", 0x0302)] {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(&old_client_hello(version)).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(30),
            tcp.read_to_end(&mut answer),
        )
        .await
        .unwrap_or_else(|_| panic!("{name}: the server neither answered nor closed"))
        .ok();
        // An alert record (type 21) and nothing else: no ServerHello (type 22).
        assert_eq!(answer.first(), Some(&21), "{name}: answered {answer:?}");
        // Its description: protocol_version (70).
        assert_eq!(answer.get(6), Some(&70), "{name}: answered {answer:?}");
    }
}

#[tokio::test]
async fn a_silent_or_stalled_tls_handshake_is_dropped_after_the_handshake_timeout() {
    use std::time::{Duration, Instant};
    let timeout = Duration::from_secs(1);
    let (addr, admin, certificate) =
        tls_server("stalled", |config| config.handshake_timeout = timeout).await;
    let before = handshake_timeouts(admin).await;

    // A real client that sends its ClientHello, reads the server's answer and goes silent
    // instead of finishing.
    let mut roots = RootCertStore::empty();
    roots.add(certificate.der.clone()).unwrap();
    let config = client_config(roots, &[&tokio_rustls::rustls::version::TLS13]);
    let mut client = tokio_rustls::rustls::ClientConnection::new(
        Arc::new(config),
        "localhost".try_into().unwrap(),
    )
    .unwrap();
    let mut hello = Vec::new();
    client.write_tls(&mut hello).unwrap();
    // Each socket's timeout starts when the server accepts it, after its connect began.
    let stalled_at = Instant::now();
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled.write_all(&hello).await.unwrap();
    let mut server_hello = [0u8; 5];
    stalled.read_exact(&mut server_hello).await.unwrap();
    assert_eq!(server_hello[0], 22, "a ServerHello");

    // One that opens TCP and says nothing, one that stops in the middle of its ClientHello.
    let silent_at = Instant::now();
    let silent = TcpStream::connect(addr).await.unwrap();
    let partial_at = Instant::now();
    let mut partial = TcpStream::connect(addr).await.unwrap();
    partial.write_all(&hello[..hello.len() / 2]).await.unwrap();

    for (name, mut stream, opened) in [
        ("stalled after ServerHello", stalled, stalled_at),
        ("silent", silent, silent_at),
        ("half a ClientHello", partial, partial_at),
    ] {
        // Generous: a loaded machine may be late, but a server without the timeout never ends it.
        let mut rest = Vec::new();
        tokio::time::timeout(timeout * 20, stream.read_to_end(&mut rest))
            .await
            .unwrap_or_else(|_| panic!("{name}: still open after {:?}", timeout * 20))
            .ok();
        assert!(
            opened.elapsed() >= timeout,
            "{name}: dropped before the timeout"
        );
    }
    assert_eq!(handshake_timeouts(admin).await, before + 3);
}
