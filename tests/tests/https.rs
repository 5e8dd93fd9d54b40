//! Webhooks over https against a real TLS upstream whose certificate a private CA signed: trusted
//! through `extra_ca_file`, refused without it, and a bad CA file stops the start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use fallback_host::config::Config;
use fallback_tests::host::TestHost;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use reqwest::StatusCode;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};
use tokio_rustls::TlsAcceptor;

const FAILURE: &str = "The secure upstream is unreachable.";

/// A private CA and a server certificate it signed for `localhost` and `127.0.0.1`.
struct Pki {
    ca_pem: String,
    server_cert: CertificateDer<'static>,
    server_key: PrivatePkcs8KeyDer<'static>,
}

impl Pki {
    fn generate() -> Self {
        let mut ca_params = rcgen::CertificateParams::new(Vec::new()).expect("ca params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Fallback Test Private CA");
        ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().expect("ca key"))
            .expect("ca cert");

        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("server params");
        params.distinguished_name.push(rcgen::DnType::CommonName, "localhost");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = rcgen::KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &ca).expect("server cert");
        Self {
            ca_pem: ca.pem(),
            server_cert: cert.der().clone(),
            server_key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        }
    }

    fn write_ca(&self, dir: &Path) -> PathBuf {
        let path = dir.join("private-ca.pem");
        std::fs::write(&path, &self.ca_pem).expect("write ca");
        path
    }
}

/// An https upstream on 127.0.0.1:0: `/chat?input=...` answers `{"message": "secure: <input>"}`.
/// It records every request that got through TLS, and counts handshakes that did not.
struct TlsUpstream {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    failed_handshakes: Arc<AtomicUsize>,
}

impl TlsUpstream {
    async fn start(pki: &Pki) -> Self {
        let config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("protocol versions")
                .with_no_client_auth()
                .with_single_cert(
                    vec![pki.server_cert.clone()],
                    PrivateKeyDer::Pkcs8(pki.server_key.clone_key()),
                )
                .expect("server tls config");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let failed_handshakes = Arc::new(AtomicUsize::new(0));
        let (log, failures) = (Arc::clone(&requests), Arc::clone(&failed_handshakes));
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, log, failures) = (acceptor.clone(), Arc::clone(&log), Arc::clone(&failures));
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        failures.fetch_add(1, Ordering::SeqCst);
                        return;
                    };
                    let service = service_fn(move |request| {
                        let log = Arc::clone(&log);
                        async move { Ok::<_, std::convert::Infallible>(answer(&log, &request)) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(tls), service).await;
                });
            }
        });
        Self { addr, requests, failed_handshakes }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("log").clone()
    }

    fn failed_handshakes(&self) -> usize {
        self.failed_handshakes.load(Ordering::SeqCst)
    }

    /// The handshake count once it reaches `expected` (or after 2 s): the host answers as soon as
    /// its side of the handshake fails, possibly before this side has read the alert.
    async fn failed_handshakes_reaching(&self, expected: usize) -> usize {
        for _ in 0..100 {
            if self.failed_handshakes() >= expected {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        self.failed_handshakes()
    }
}

fn answer(log: &Mutex<Vec<String>>, request: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let uri = request.uri();
    log.lock().expect("log").push(uri.path_and_query().map(|pq| pq.to_string()).unwrap_or_default());
    let input = form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(name, _)| name == "input")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    let body = json!({ "message": format!("secure: {input}") }).to_string();
    Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("response")
}

/// A project whose fallback is `GET {base}/chat?input={latest_message}`.
async fn secure_project(host: &TestHost, id: &str, base: &str) -> String {
    let key = host.create_project(id).await;
    let spec = json!({
        "method": "GET",
        "url": format!("{base}/chat?input={{latest_message}}"),
        "timeout_ms": 3000,
        "retries": 0,
        "response": {"extract": {"reply": "$.message"}, "success": "{reply}", "failure": FAILURE}
    });
    let (status, body) =
        host.call("PUT", &format!("/v1/projects/{id}/webhooks/secure"), Some(&key), Some(spec)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = host
        .call("PUT", &format!("/v1/projects/{id}/fallback"), Some(&key), Some(json!({"webhook": "secure"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    key
}

async fn console(host: &TestHost, project: &str, key: &str, message: &str) -> Value {
    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/projects/{project}/webhooks/secure/test"),
            Some(key),
            Some(json!({"latest_message": message, "send_id": "console"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Lets the host reach the upstream however `localhost` resolves here (127.0.0.1 or ::1).
fn allow_localhost(config: &mut Config) {
    config.allow_networks.push("localhost".to_string());
}

#[tokio::test]
async fn a_private_ca_in_extra_ca_file_makes_https_webhooks_work() {
    let pki = Pki::generate();
    let upstream = TlsUpstream::start(&pki).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = pki.write_ca(dir.path());
    let host = TestHost::start_on(&dir.path().join("data"), |config| {
        config.extra_ca_file = Some(ca);
        allow_localhost(config);
    })
    .await;
    let port = upstream.addr.port();

    let key = secure_project(&host, "tls", &format!("https://localhost:{port}")).await;
    let answer = host.chat("tls", &key, "conv-1", "hello over tls").await;
    assert_eq!(answer["outcome"], "success", "{answer}");
    assert_eq!(answer["replies"][0]["text"], "secure: hello over tls");
    assert_eq!(upstream.requests(), vec!["/chat?input=hello%20over%20tls".to_string()]);

    // The certificate also names the IP, so an IP-literal URL verifies too.
    let key = secure_project(&host, "tls-ip", &format!("https://127.0.0.1:{port}")).await;
    let trace = console(&host, "tls-ip", &key, "by address").await;
    assert_eq!(trace["outcome"], "success", "{trace}");
    assert_eq!(upstream.requests().len(), 2);
    assert_eq!(upstream.failed_handshakes(), 0);
    host.stop().await;
}

#[tokio::test]
async fn without_the_ca_the_upstream_is_refused_with_a_tls_error() {
    let pki = Pki::generate();
    let upstream = TlsUpstream::start(&pki).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let host = TestHost::start_on(dir.path(), allow_localhost).await;

    let key =
        secure_project(&host, "untrusted", &format!("https://localhost:{}", upstream.addr.port())).await;
    let answer = host.chat("untrusted", &key, "conv-1", "hello?").await;
    assert_eq!(answer["outcome"], "failure", "{answer}");
    assert_eq!(answer["replies"][0]["text"], FAILURE);

    let trace = console(&host, "untrusted", &key, "hello?").await;
    assert_eq!(trace["outcome"], "failure", "{trace}");
    assert_eq!(trace["error"]["code"], "tls", "{trace}");
    assert!(upstream.requests().is_empty(), "no request may cross an unverified connection");
    // One refused handshake per call: the client does not retry TLS failures.
    assert_eq!(upstream.failed_handshakes_reaching(2).await, 2);
    host.stop().await;
}

#[tokio::test]
async fn a_missing_ca_file_stops_the_host_before_it_touches_the_data_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-ca.pem");
    let data_dir = dir.path().join("data");
    let config =
        Config { data_dir: data_dir.clone(), extra_ca_file: Some(missing.clone()), ..Config::default() };
    let Err(error) = fallback_host::server::Host::build(config).await else {
        panic!("the host started with a missing CA file");
    };
    let message = format!("{:#}", anyhow::Error::from(error));
    assert!(message.contains(&missing.display().to_string()), "{message}");
    assert!(!data_dir.exists(), "nothing was created before the CA file was checked");
}

#[test]
fn serve_refuses_a_ca_file_that_is_not_pem_and_names_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let garbage = dir.path().join("ca.pem");
    std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n")
        .expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_fallback-host-cli"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("FALLBACK_EXTRA_CA_FILE", &garbage)
        .env("NO_COLOR", "1")
        .output()
        .expect("serve runs");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&garbage.display().to_string()), "{stderr}");
    assert!(stderr.contains("not a readable PEM file"), "{stderr}");
}
