//! The Host and Origin checks of idem's three small HTTP ports: `idem demo`, the proxy's
//! `--control` port and the broker's `--http` port. Pure functions over the request head
//! and the address the listener is bound to; each server calls [`check_request`] once per
//! request, before it routes, and answers a [`Refusal`] with its [`Refusal::status_line`].
//!
//! Two browser attacks are refused:
//!
//! - **DNS rebinding.** A page at `http://rebind.evil.example:PORT/` whose name is made to
//!   resolve to 127.0.0.1 is, to the browser, same-origin with the local port: it can read
//!   every answer. Its requests still carry `Host: rebind.evil.example:PORT`, so the port
//!   answers only Host values that name it: its bound IP (with its port or none),
//!   `localhost` (with its port or none). A port bound to an unspecified address
//!   (`0.0.0.0`, `::`) answers any IP-literal Host (an IP literal cannot be rebound: the
//!   browser connects to exactly that IP), but still no DNS name other than `localhost`; so
//!   from other machines such a port is reached by its IP address, not by a host name.
//! - **Cross-site requests.** Any page may send a "simple" POST (`text/plain`, a form) to
//!   any address without a CORS preflight; the browser only hides the answer. So a request
//!   that changes state (any method but GET, HEAD, OPTIONS) must come from the port's own
//!   origin: an `Origin` header, when present, must be `http://` plus an allowed Host with
//!   exactly the bound port; with no `Origin`, `Sec-Fetch-Site` must not be `cross-site` or
//!   `same-site` (another port or subdomain is another origin). Browsers send `Origin` on
//!   every cross-origin POST; curl and idem's own tools send neither header and go on.
//!
//! A missing Host on HTTP/1.1 is malformed (RFC 9112 §3.2): 400.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why a request is refused. Messages are short and never echo the request (they are the
/// plain-text body of the answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// HTTP/1.1 without a Host header.
    #[error("a Host header is required")]
    MissingHost,
    /// More than one Host header (RFC 9112 §3.2: 400).
    #[error("more than one Host header")]
    DuplicateHost,
    /// A Host that is not this port's address or localhost: DNS rebinding, or a name the
    /// port does not answer to.
    #[error("this port answers only its own address or localhost in the Host header")]
    ForeignHost,
    /// A state-changing request from another origin.
    #[error("cross-origin requests are refused")]
    CrossOrigin,
    /// A state-changing request the browser marks as sent by another site.
    #[error("cross-site requests are refused")]
    CrossSite,
}

impl Refusal {
    /// The HTTP status code of the answer.
    pub fn status(self) -> u16 {
        match self {
            Refusal::MissingHost | Refusal::DuplicateHost => 400,
            Refusal::ForeignHost | Refusal::CrossOrigin | Refusal::CrossSite => 403,
        }
    }

    /// Status code and reason phrase, as in a status line: `403 Forbidden`.
    pub fn status_line(self) -> &'static str {
        match self.status() {
            400 => "400 Bad Request",
            _ => "403 Forbidden",
        }
    }

    /// The plain-text body of the answer: the message and a newline.
    pub fn body(self) -> String {
        format!("{self}\n")
    }
}

/// Checks one request head (the request line and the header lines, as received; anything
/// after the empty line that ends the head is ignored) against the address the listener is
/// bound to: [`check_host`], then [`check_origin`].
pub fn check_request(head: &str, bound: SocketAddr) -> Result<(), Refusal> {
    let mut lines = head.lines().take_while(|l| !l.is_empty());
    let mut request_line = lines.next().unwrap_or_default().split_whitespace();
    let method = request_line.next().unwrap_or_default();
    let version = request_line.nth(1).unwrap_or_default();
    let mut host = None;
    let mut origin = None;
    let mut origins = 0;
    let mut fetch_site = None;
    for (name, value) in lines.filter_map(|l| l.split_once(':')) {
        let name = name.trim();
        if name.eq_ignore_ascii_case("host") {
            if host.is_some() {
                return Err(Refusal::DuplicateHost);
            }
            host = Some(value.trim());
        } else if name.eq_ignore_ascii_case("origin") {
            origins += 1;
            origin = Some(value.trim());
        } else if name.eq_ignore_ascii_case("sec-fetch-site") {
            fetch_site = Some(value.trim());
        }
    }
    // An HTTP/1.0 request may omit Host; no browser sends one, so it is no rebinding.
    if host.is_some() || version != "HTTP/1.0" {
        check_host(host, bound)?;
    }
    if origins > 1 && !is_safe(method) {
        // Which one would the browser mean? Neither is trusted.
        return Err(Refusal::CrossOrigin);
    }
    check_origin(method, origin, fetch_site, bound)
}

/// The Host header (its value, if any) names this port: the bound IP or `localhost`, with
/// the bound port or none; any IP literal if bound to an unspecified address.
pub fn check_host(host: Option<&str>, bound: SocketAddr) -> Result<(), Refusal> {
    let host = host.ok_or(Refusal::MissingHost)?;
    if names_this_port(host, bound, false) {
        Ok(())
    } else {
        Err(Refusal::ForeignHost)
    }
}

/// A request that may change state (any method but GET, HEAD, OPTIONS) comes from this
/// port's own origin: `Origin`, if present, is `http://` plus an allowed host and exactly the
/// bound port (none only on port 80, the default); without `Origin`, `Sec-Fetch-Site` is
/// absent, `same-origin` or `none` (typed by the user).
pub fn check_origin(
    method: &str,
    origin: Option<&str>,
    sec_fetch_site: Option<&str>,
    bound: SocketAddr,
) -> Result<(), Refusal> {
    if is_safe(method) {
        return Ok(());
    }
    match origin {
        Some(o) => {
            let o = o.trim();
            // Browsers serialise the scheme in lower case; `null` (sandboxed frames, file
            // pages), https (this port does not speak TLS) and paths are someone else.
            match o.strip_prefix("http://") {
                Some(host) if !host.contains('/') && names_this_port(host, bound, true) => Ok(()),
                _ => Err(Refusal::CrossOrigin),
            }
        }
        None => match sec_fetch_site.map(str::trim) {
            Some(s)
                if s.eq_ignore_ascii_case("cross-site") || s.eq_ignore_ascii_case("same-site") =>
            {
                Err(Refusal::CrossSite)
            }
            _ => Ok(()),
        },
    }
}

/// The media type is `application/json` (parameters such as `charset` allowed).
pub fn is_json(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        ct.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .eq_ignore_ascii_case("application/json")
    })
}

/// The value of the first header called `name` in a request head, trimmed.
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .take_while(|l| !l.is_empty())
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// GET, HEAD and OPTIONS change nothing (and cross-origin reads of their answers are
/// already hidden by the browser: these ports send no CORS headers).
fn is_safe(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// `host[:port]` (IPv6 in brackets) names this port. With `origin`, the port must be the
/// bound one exactly (an absent port means 80: another port is another origin); in a Host
/// header an absent port is fine (the request did reach this port).
fn names_this_port(value: &str, bound: SocketAddr, origin: bool) -> bool {
    let Some((host, port)) = split_host_port(value.trim()) else {
        return false;
    };
    let port_ok = match port {
        Some(p) => p == bound.port(),
        None => !origin || bound.port() == 80,
    };
    port_ok
        && match host {
            Host::Localhost => true,
            Host::Ip(ip) => {
                bound.ip().is_unspecified() || ip.to_canonical() == bound.ip().to_canonical()
            }
        }
}

enum Host {
    Localhost,
    Ip(IpAddr),
}

/// Splits `localhost`, `1.2.3.4`, `[::1]`, each with an optional `:port`. Anything else
/// (a DNS name, a bare IPv6 address, an empty or non-numeric port) is `None`.
fn split_host_port(value: &str) -> Option<(Host, Option<u16>)> {
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (Host::Ip(IpAddr::V6(ip.parse::<Ipv6Addr>().ok()?)), port)
    } else {
        let (name, port) = match value.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (value, None),
        };
        let host = if name.eq_ignore_ascii_case("localhost") {
            Host::Localhost
        } else {
            // Strict dotted quad: no `127.1`, no octal (browsers normalise those anyway).
            Host::Ip(IpAddr::V4(name.parse::<Ipv4Addr>().ok()?))
        };
        (host, port)
    };
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => Some(p.parse().ok()?),
        Some(_) => return None,
    };
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("socket address")
    }

    #[test]
    fn host_names_the_bound_address_or_localhost() {
        let b = addr("127.0.0.1:8080");
        for ok in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "localhost:8080",
            "localhost",
            "LocalHost:8080",
            " 127.0.0.1:8080 ",
            "[::ffff:127.0.0.1]:8080",
        ] {
            assert_eq!(check_host(Some(ok), b), Ok(()), "{ok}");
        }
        for bad in [
            "rebind.evil.example",
            "rebind.evil.example:8080",
            "localhost.evil.example:8080",
            "localhost.:8080",
            "127.0.0.1.nip.io:8080",
            "127.0.0.1:8081",
            "localhost:8081",
            "127.0.0.2:8080",
            "10.0.0.1",
            "[::1]:8080",
            "127.1:8080",
            "127.0.0.1:",
            "127.0.0.1:80x",
            "127.0.0.1:99999",
            "::1",
            "",
            "evil@127.0.0.1",
        ] {
            assert_eq!(check_host(Some(bad), b), Err(Refusal::ForeignHost), "{bad}");
        }
        assert_eq!(check_host(None, b), Err(Refusal::MissingHost));
    }

    #[test]
    fn ipv6_and_unspecified_bindings() {
        let v6 = addr("[::1]:9000");
        for ok in [
            "[::1]:9000",
            "[::1]",
            "[0:0:0:0:0:0:0:1]:9000",
            "localhost:9000",
        ] {
            assert_eq!(check_host(Some(ok), v6), Ok(()), "{ok}");
        }
        for bad in [
            "127.0.0.1:9000",
            "[::2]:9000",
            "[::1]9000",
            "[::1",
            "[evil.example]:9000",
        ] {
            assert_eq!(
                check_host(Some(bad), v6),
                Err(Refusal::ForeignHost),
                "{bad}"
            );
        }
        // Bound to every address: any IP literal (it cannot be rebound), still no DNS names.
        for b in [addr("0.0.0.0:8080"), addr("[::]:8080")] {
            for ok in [
                "192.168.1.20:8080",
                "10.0.0.1",
                "[fe80::1]:8080",
                "localhost",
            ] {
                assert_eq!(check_host(Some(ok), b), Ok(()), "{ok} on {b}");
            }
            for bad in [
                "myhost.lan:8080",
                "rebind.evil.example",
                "192.168.1.20:8081",
            ] {
                assert_eq!(
                    check_host(Some(bad), b),
                    Err(Refusal::ForeignHost),
                    "{bad} on {b}"
                );
            }
        }
    }

    #[test]
    fn state_changing_requests_need_the_own_origin() {
        let b = addr("127.0.0.1:8080");
        let post = |origin, site| check_origin("POST", origin, site, b);
        assert_eq!(post(Some("http://127.0.0.1:8080"), None), Ok(()));
        assert_eq!(
            post(Some("http://localhost:8080"), Some("same-origin")),
            Ok(())
        );
        assert_eq!(post(None, None), Ok(()), "curl");
        assert_eq!(post(None, Some("same-origin")), Ok(()));
        assert_eq!(post(None, Some("none")), Ok(()));
        for bad in [
            "http://evil.example",
            "http://127.0.0.1:8081",
            "http://127.0.0.1",
            "https://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "http://rebind.evil.example:8080",
            "null",
            "",
        ] {
            assert_eq!(post(Some(bad), None), Err(Refusal::CrossOrigin), "{bad}");
        }
        // An Origin that is ours wins over a Sec-Fetch-Site; without one, the site decides.
        assert_eq!(post(None, Some("cross-site")), Err(Refusal::CrossSite));
        assert_eq!(post(None, Some("same-site")), Err(Refusal::CrossSite));
        for m in ["PUT", "DELETE", "PATCH", "post"] {
            assert_eq!(
                check_origin(m, Some("http://evil.example"), None, b),
                Err(Refusal::CrossOrigin),
                "{m}"
            );
        }
        for m in ["GET", "HEAD", "OPTIONS"] {
            assert_eq!(
                check_origin(m, Some("http://evil.example"), Some("cross-site"), b),
                Ok(())
            );
        }
        // On port 80 a browser leaves the port out of the Origin.
        let b80 = addr("127.0.0.1:80");
        assert_eq!(
            check_origin("POST", Some("http://127.0.0.1"), None, b80),
            Ok(())
        );
        assert_eq!(
            check_origin("POST", Some("http://localhost:80"), None, b80),
            Ok(())
        );
    }

    #[test]
    fn whole_request_heads() {
        let b = addr("127.0.0.1:8080");
        let head = |s: &str| check_request(s, b);
        assert_eq!(
            head("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"),
            Ok(())
        );
        assert_eq!(
            head("GET /metrics HTTP/1.1\r\nhost:localhost\r\n\r\n"),
            Ok(())
        );
        assert_eq!(
            head("GET /metrics HTTP/1.0\r\n\r\n"),
            Ok(()),
            "1.0 may omit Host"
        );
        assert_eq!(
            head("GET /metrics HTTP/1.0\r\nHost: rebind.evil.example\r\n\r\n"),
            Err(Refusal::ForeignHost)
        );
        assert_eq!(head("GET / HTTP/1.1\r\n\r\n"), Err(Refusal::MissingHost));
        assert_eq!(
            head("POST / HTTP/1.1\r\nHost: localhost\r\n\r\nHost: evil.example\r\nOrigin: null"),
            Ok(()),
            "the body is not the head"
        );
        assert_eq!(head("GET /\r\n\r\n"), Err(Refusal::MissingHost));
        assert_eq!(
            head("GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nHost: evil.example\r\n\r\n"),
            Err(Refusal::DuplicateHost)
        );
        assert_eq!(
            head("POST /api/send HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nOrigin: http://evil.example\r\nContent-Type: text/plain\r\n\r\n"),
            Err(Refusal::CrossOrigin)
        );
        assert_eq!(
            head("POST /api/send HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nOrigin: http://127.0.0.1:8080\r\n\r\n"),
            Ok(())
        );
        assert_eq!(
            head("POST /x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nOrigin: http://127.0.0.1:8080\r\nOrigin: http://evil.example\r\n\r\n"),
            Err(Refusal::CrossOrigin)
        );
        assert_eq!(
            head("POST /x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nSec-Fetch-Site: cross-site\r\n\r\n"),
            Err(Refusal::CrossSite)
        );
        // The Host check comes first: a rebound page's same-origin POST is a foreign Host.
        assert_eq!(
            head("POST /x HTTP/1.1\r\nHost: rebind.evil.example:8080\r\nOrigin: http://rebind.evil.example:8080\r\n\r\n"),
            Err(Refusal::ForeignHost)
        );
        assert_eq!(Refusal::ForeignHost.status_line(), "403 Forbidden");
        assert_eq!(Refusal::MissingHost.status(), 400);
        assert!(Refusal::CrossSite.body().ends_with('\n'));
    }

    #[test]
    fn json_content_types_and_headers() {
        assert!(is_json(Some("application/json")));
        assert!(is_json(Some("Application/JSON; charset=utf-8")));
        for bad in [
            None,
            Some("text/plain"),
            Some("application/jsonx"),
            Some(""),
        ] {
            assert!(!is_json(bad), "{bad:?}");
        }
        let h = "POST / HTTP/1.1\r\nContent-Type:  application/json \r\nX: y\r\n\r\n";
        assert_eq!(header(h, "content-type"), Some("application/json"));
        assert_eq!(header(h, "origin"), None);
        assert_eq!(header("GET / HTTP/1.1\r\n\r\nOrigin: x", "origin"), None);
    }
}
