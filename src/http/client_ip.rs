//! The client's IP address: the TCP peer, or what a trusted reverse proxy says it forwarded.

use super::error::ApiError;
use crate::app::state::AppState;
use crate::oauth::error::OAuthError;
use crate::support::net::IpNet;
use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use std::net::{IpAddr, SocketAddr};

/// The address rate limits and audit events are keyed by.
///
/// It is the TCP peer, unless the peer is in `http.trusted_proxies`: then it is the right-most
/// address in `X-Forwarded-For` (or, when that header is absent, `Forwarded`) that is not
/// itself a trusted proxy. Addresses a client wrote into those headers sit left of what the
/// proxies appended, so they are never reached while an untrusted hop comes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl<S> FromRequestParts<S> for ClientIp
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            tracing::error!("no peer address: serve with into_make_service_with_connect_info");
            return Err(OAuthError::server_error().into());
        };
        let state = AppState::from_ref(state);
        Ok(Self(client_ip(
            peer.ip(),
            &parts.headers,
            &state.trusted_proxies,
        )))
    }
}

/// Picks the client address from the peer and the forwarding headers (see [`ClientIp`]).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops = forwarded_hops(headers);
    let mut nearest = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = hop else {
            // An obfuscated or garbled hop: nothing left of it can be believed.
            return nearest;
        };
        if !is_trusted(*ip) {
            return *ip;
        }
        nearest = *ip;
    }
    nearest
}

/// The forwarded-for chain, left (client side) to right (nearest proxy); `None` for a hop
/// that is not an IP address (`unknown`, `_hidden`, garbage).
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let xff: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().unwrap_or("\u{0}"))
        .collect();
    if !xff.is_empty() {
        return xff
            .iter()
            .flat_map(|v| v.split(','))
            .map(|hop| parse_node(hop.trim()))
            .collect();
    }
    headers
        .get_all("forwarded")
        .iter()
        .map(|v| v.to_str().unwrap_or("\u{0}"))
        .flat_map(|v| v.split(','))
        .map(|element| {
            element
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                .and_then(|(_, value)| parse_node(value.trim().trim_matches('"')))
        })
        .collect()
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn parse_node(text: &str) -> Option<IpAddr> {
    let ip = text
        .parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            text.strip_prefix('[')
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse::<IpAddr>().ok())
        })?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn trusted() -> Vec<IpNet> {
        vec!["10.0.0.0/8".parse().unwrap(), "::1".parse().unwrap()]
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let h = headers(&[("x-forwarded-for", "1.1.1.1")]);
        assert_eq!(
            client_ip(ip("203.0.113.9"), &h, &trusted()),
            ip("203.0.113.9")
        );
        assert_eq!(client_ip(ip("203.0.113.9"), &h, &[]), ip("203.0.113.9"));
    }

    #[test]
    fn a_trusted_proxy_gives_the_right_most_untrusted_hop() {
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.2")]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &h, &trusted()),
            ip("198.51.100.7")
        );
        let split = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "198.51.100.7:5555"),
        ]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &split, &trusted()),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn forwarded_is_read_when_x_forwarded_for_is_absent() {
        let h = headers(&[(
            "forwarded",
            "for=6.6.6.6, for=\"[2001:db8::7]:4711\";proto=https, For=10.0.0.3",
        )]);
        assert_eq!(client_ip(ip("::1"), &h, &trusted()), ip("2001:db8::7"));
    }

    #[test]
    fn garbled_hops_stop_the_walk_at_the_last_trusted_address() {
        let h = headers(&[("forwarded", "for=6.6.6.6, for=unknown, for=10.0.0.3")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted()), ip("10.0.0.3"));
        let none = HeaderMap::new();
        assert_eq!(client_ip(ip("10.0.0.1"), &none, &trusted()), ip("10.0.0.1"));
    }

    #[test]
    fn ipv4_mapped_peers_count_as_ipv4() {
        let h = headers(&[("x-forwarded-for", "::ffff:198.51.100.7")]);
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.1"), &h, &trusted()),
            ip("198.51.100.7")
        );
    }
}
