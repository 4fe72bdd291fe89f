//! `--tls-cert`/`--tls-key`: https and wss with a certificate the test makes, and the
//! errors a bad certificate file gets.

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
