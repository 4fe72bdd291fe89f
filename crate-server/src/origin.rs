//! The Origin check at the handshake, against Cross-Site WebSocket Hijacking: a page from
//! another site must not open a socket here with the user's cookies.

use hyper::header::{self, HeaderMap};

/// Which page origins may open WebSockets: the server's own, plus `--allow-origin`.
#[derive(Debug, Clone, Default)]
pub struct OriginPolicy {
    allowed: Vec<String>,
    any: bool,
}

impl OriginPolicy {
    /// The server's own origin plus `allowed` (`*` allows any).
    pub fn new(allowed: &[String]) -> OriginPolicy {
        OriginPolicy {
            any: allowed.iter().any(|origin| origin == "*"),
            allowed: allowed
                .iter()
                .map(|origin| origin.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
        }
    }

    /// Whether the request's `Origin` may connect. No `Origin` header means the client
    /// is not a browser, and CSWSH does not apply; `null` (sandboxed frames, files) is
    /// refused unless `*` is allowed.
    pub fn allows(&self, headers: &HeaderMap, tls: bool) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        if self.any {
            return true;
        }
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = origin.to_ascii_lowercase();
        let own = headers
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
            .map(|host| {
                format!(
                    "{}://{}",
                    if tls { "https" } else { "http" },
                    host.to_ascii_lowercase()
                )
            });
        own.as_deref() == Some(origin.as_str()) || self.allowed.contains(&origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(host: &'static str, origin: Option<&'static str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static(host));
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_static(origin));
        }
        headers
    }

    #[test]
    fn only_the_own_origin_by_default() {
        let policy = OriginPolicy::new(&[]);
        assert!(policy.allows(
            &headers("127.0.0.1:8080", Some("http://127.0.0.1:8080")),
            false
        ));
        assert!(policy.allows(&headers("Example.COM", Some("https://example.com")), true));
        assert!(!policy.allows(
            &headers("127.0.0.1:8080", Some("http://evil.example")),
            false
        ));
        assert!(!policy.allows(
            &headers("127.0.0.1:8080", Some("http://127.0.0.1:9999")),
            false
        ));
        assert!(
            !policy.allows(&headers("example.com", Some("http://example.com")), true),
            "scheme matters"
        );
        assert!(!policy.allows(&headers("127.0.0.1:8080", Some("null")), false));
        assert!(
            policy.allows(&headers("127.0.0.1:8080", None), false),
            "non-browser clients"
        );
    }

    #[test]
    fn allow_origin_adds_origins_and_star_allows_all() {
        let policy = OriginPolicy::new(&["https://app.example/".into()]);
        assert!(policy.allows(&headers("api.example", Some("https://app.example")), false));
        assert!(!policy.allows(
            &headers("api.example", Some("https://other.example")),
            false
        ));
        let any = OriginPolicy::new(&["*".into()]);
        assert!(any.allows(&headers("api.example", Some("null")), false));
    }
}
