//! The backend URL grammar: what a partition's `backend` may say, checked before anything
//! connects, and how it is shown in logs (never with a password).
//!
//! - `redis://[user:pass@]host[:port][/db]`, `unix:///path.sock[?db=N]`: one server, read by the
//!   redis client as is; `rediss://` the same over TLS (certificates: `crate::tls`).
//! - `redis+sentinel://[user:pass@]s1[:port],s2[:port].../<master>[/db]
//!   [?sentinel_username=u&sentinel_password=p]`: the master Sentinel names `<master>`. The
//!   userinfo is the data nodes' (master and replicas); the sentinels' own credentials, when
//!   they have any, are the query's, since a deployment often protects the two differently.
//!   Sentinels default to port 26379. `rediss+sentinel://` speaks TLS to the sentinels and the
//!   data nodes alike, as a deployment with `tls-replication` runs.
//! - `redis+cluster://[user:pass@]seed1[:port],seed2[:port]...`: a Redis Cluster, found from
//!   any seed that answers (`tradestate_backend::cluster`). A cluster has database 0 only, so
//!   no database may be named. Seeds default to port 6379.

use redis::{ConnectionAddr, ConnectionInfo, RedisConnectionInfo};

use crate::tls::Tls;

/// A partition's backend, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// One server: the URL as the redis client reads it.
    Direct(String),
    /// A master found through Sentinel.
    Sentinel(SentinelAddress),
    /// A Redis Cluster, from its seeds.
    Cluster(ClusterAddress),
}

/// A Redis Cluster and how to reach its nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterAddress {
    /// Nodes asked for the slot map, in the URL's order.
    pub seeds: Vec<(String, u16)>,
    /// Credentials for every node.
    pub username: Option<String>,
    pub password: Option<String>,
}

impl ClusterAddress {
    /// How to connect to node `host:port`.
    pub fn node(&self, host: &str, port: u16) -> ConnectionInfo {
        info(
            ConnectionAddr::Tcp(host.to_string(), port),
            0,
            &self.username,
            &self.password,
        )
    }
}

/// A Sentinel-managed master and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelAddress {
    /// The sentinels, in the URL's order.
    pub sentinels: Vec<(String, u16)>,
    /// The name the sentinels monitor the master under.
    pub master: String,
    pub db: i64,
    /// Credentials for the master and replicas.
    pub username: Option<String>,
    pub password: Option<String>,
    /// Credentials for the sentinels themselves.
    pub sentinel_username: Option<String>,
    pub sentinel_password: Option<String>,
    /// `rediss+sentinel://`: TLS to sentinels and data nodes, with these certificates.
    pub tls: Option<Tls>,
}

impl SentinelAddress {
    /// How to connect to a data node Sentinel named (`ip`, `port`).
    pub fn data_node(&self, ip: &str, port: u16) -> ConnectionInfo {
        info(self.addr(ip, port), self.db, &self.username, &self.password)
    }

    /// How to connect to sentinel `i`.
    pub fn sentinel(&self, i: usize) -> ConnectionInfo {
        let (host, port) = &self.sentinels[i];
        info(
            self.addr(host, *port),
            0,
            &self.sentinel_username,
            &self.sentinel_password,
        )
    }

    /// `host:port`, over TLS when the address says so.
    fn addr(&self, host: &str, port: u16) -> ConnectionAddr {
        match &self.tls {
            Some(tls) => tls.addr(host, port),
            None => ConnectionAddr::Tcp(host.to_string(), port),
        }
    }

    /// The address over TLS, checked against the system's roots until [`Self::with_tls`].
    fn over_tls(mut self) -> SentinelAddress {
        self.tls = Some(Tls::system_roots());
        self
    }

    /// A TLS address with `tls`'s certificates; `None` for a plain one (whose certificates
    /// would go unused).
    pub fn with_tls(mut self, tls: &Tls) -> Option<SentinelAddress> {
        self.tls.as_ref()?;
        self.tls = Some(tls.clone());
        Some(self)
    }

    /// The sentinels as `host:port,host:port`, for messages.
    pub fn sentinel_list(&self) -> String {
        let names: Vec<String> = self
            .sentinels
            .iter()
            .map(|(h, p)| format!("{h}:{p}"))
            .collect();
        names.join(",")
    }
}

/// A connection to `addr` with these credentials.
fn info(
    addr: ConnectionAddr,
    db: i64,
    username: &Option<String>,
    password: &Option<String>,
) -> ConnectionInfo {
    ConnectionInfo {
        addr,
        redis: RedisConnectionInfo {
            db,
            username: username.clone(),
            password: password.clone(),
            ..Default::default()
        },
    }
}

const EXPECTED_URL: &str = r#"(expected redis://host:port, rediss://host:port, unix:///path, redis+sentinel://s1:26379,s2:26379/<master>, redis+cluster://n1:7000,n2:7001 or "embedded")"#;

/// Sentinel's own port, when a sentinel in the list names none.
pub const SENTINEL_PORT: u16 = 26379;

/// Parses `url`; the error names what is wrong and the form expected, never the password.
pub fn parse(url: &str) -> Result<Address, String> {
    let shown = redact(url);
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("cannot parse {shown:?} as a URL {EXPECTED_URL}"));
    };
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "redis" => check_tcp_url(&shown, rest).map(|()| Address::Direct(url.to_string())),
        "unix" | "redis+unix" => {
            check_unix_url(&shown, rest).map(|()| Address::Direct(url.to_string()))
        }
        "redis+sentinel" | "sentinel" => parse_sentinel(&shown, rest).map(Address::Sentinel),
        "redis+cluster" | "cluster" => parse_cluster(&shown, rest).map(Address::Cluster),
        "rediss" => check_tls_url(&shown, rest).map(|()| Address::Direct(url.to_string())),
        "rediss+sentinel" => parse_sentinel(&shown, rest).map(|a| Address::Sentinel(a.over_tls())),
        _ => Err(format!(
            "unsupported scheme {scheme:?} in {shown:?} {EXPECTED_URL}"
        )),
    }
}

fn check_tcp_url(shown: &str, rest: &str) -> Result<(), String> {
    let rest = rest.split_once('?').map_or(rest, |(before, _)| before);
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    if host_port.contains(',') {
        return Err(format!(
            "{shown:?} lists several hosts: for a Sentinel-managed master write \
             redis+sentinel://s1:26379,s2:26379/<master name>, for a Redis Cluster \
             redis+cluster://n1:7000,n2:7001; otherwise point the partition at the master's \
             redis:// URL"
        ));
    }
    host_and_port(shown, host_port)?;
    if !path.is_empty() && path.parse::<u32>().is_err() {
        return Err(format!(
            "{shown:?}: database {path:?} is not a number; expected redis://host:port/<db number>"
        ));
    }
    Ok(())
}

/// `host[:port]` or `[v6][:port]`, checked; the port is `None` when not given.
fn host_and_port<'a>(shown: &str, host_port: &'a str) -> Result<(&'a str, Option<u16>), String> {
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else {
            return Err(format!("{shown:?}: unclosed '[' in an IPv6 host"));
        };
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("{shown:?}: [{addr}] is not an IPv6 address"));
        }
        match after.strip_prefix(':') {
            Some(port) => (addr, Some(port)),
            None if after.is_empty() => (addr, None),
            None => return Err(format!("{shown:?}: expected :port after the IPv6 host")),
        }
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err(format!(
            "{shown:?} has no host; expected redis://host:port, e.g. redis://10.0.0.5:6379/0"
        ));
    }
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
    {
        return Err(format!("{shown:?}: {host:?} is not a host name or address"));
    }
    let port = match port {
        None => None,
        Some(port) => match port.parse::<u16>() {
            Ok(p) if p > 0 => Some(p),
            _ => {
                return Err(format!(
                    "{shown:?}: port {port:?} is not a number from 1 to 65535"
                ))
            }
        },
    };
    Ok((host, port))
}

/// `rediss://`: as `redis://`, without the client's `#insecure` (no certificate check), which
/// this build leaves out on purpose.
fn check_tls_url(shown: &str, rest: &str) -> Result<(), String> {
    if rest.contains('#') {
        return Err(format!(
            "{shown:?}: a URL fragment (#insecure) is not accepted: certificates are always \
             checked; give the server's CA in tls_ca_file"
        ));
    }
    check_tcp_url(shown, rest)
}

impl Address {
    /// Whether connections to this address use TLS (`rediss://`, `rediss+sentinel://`).
    pub fn uses_tls(&self) -> bool {
        match self {
            Address::Direct(url) => url
                .split_once("://")
                .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("rediss")),
            Address::Sentinel(a) => a.tls.is_some(),
            Address::Cluster(_) => false,
        }
    }
}

fn check_unix_url(shown: &str, rest: &str) -> Result<(), String> {
    let path = rest.split_once('?').map_or(rest, |(before, _)| before);
    if !path.starts_with('/') || path.len() < 2 {
        return Err(format!(
            "{shown:?}: expected an absolute socket path, unix:///path/to/redis.sock"
        ));
    }
    Ok(())
}

fn parse_sentinel(shown: &str, rest: &str) -> Result<SentinelAddress, String> {
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (Some(userinfo), hosts),
        None => (None, authority),
    };
    let (username, password) = credentials(shown, userinfo)?;
    let mut sentinels = Vec::new();
    for host_port in hosts.split(',') {
        let (host, port) = host_and_port(shown, host_port)?;
        sentinels.push((host.to_string(), port.unwrap_or(SENTINEL_PORT)));
    }
    let mut parts = path.split('/');
    let master = decode(shown, parts.next().unwrap_or(""))?;
    if master.is_empty() {
        return Err(format!(
            "{shown:?} names no master; expected redis+sentinel://s1:26379,s2:26379/<master name>"
        ));
    }
    let db = match parts.next() {
        None | Some("") => 0,
        Some(db) => db.parse::<u32>().map_err(|_| {
            format!(
                "{shown:?}: database {db:?} is not a number; expected \
                 redis+sentinel://.../<master name>/<db number>"
            )
        })? as i64,
    };
    if let Some(extra) = parts.find(|p| !p.is_empty()) {
        return Err(format!(
            "{shown:?}: unexpected {extra:?} after the database number"
        ));
    }
    let mut address = SentinelAddress {
        sentinels,
        master,
        db,
        username,
        password,
        sentinel_username: None,
        sentinel_password: None,
        tls: None,
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = Some(decode(shown, value)?);
        match key {
            "sentinel_username" => address.sentinel_username = value,
            "sentinel_password" => address.sentinel_password = value,
            _ => {
                return Err(format!(
                    "{shown:?}: unknown parameter {key:?} (expected sentinel_username, \
                     sentinel_password)"
                ))
            }
        }
    }
    Ok(address)
}

fn parse_cluster(shown: &str, rest: &str) -> Result<ClusterAddress, String> {
    if rest.contains('?') {
        return Err(format!(
            "{shown:?}: a cluster URL takes no parameters; expected \
             redis+cluster://[user:pass@]n1:7000,n2:7001"
        ));
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if !path.is_empty() && path != "0" {
        return Err(format!(
            "{shown:?}: a Redis Cluster has database 0 only; drop {path:?} after the seeds"
        ));
    }
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (Some(userinfo), hosts),
        None => (None, authority),
    };
    let (username, password) = credentials(shown, userinfo)?;
    let mut seeds = Vec::new();
    for host_port in hosts.split(',') {
        let (host, port) = host_and_port(shown, host_port)?;
        seeds.push((host.to_string(), port.unwrap_or(6379)));
    }
    Ok(ClusterAddress {
        seeds,
        username,
        password,
    })
}

type Credentials = (Option<String>, Option<String>);

/// `user:pass`, `:pass` or `user`, percent-decoded; empty parts are absent.
fn credentials(shown: &str, userinfo: Option<&str>) -> Result<Credentials, String> {
    let Some(userinfo) = userinfo else {
        return Ok((None, None));
    };
    let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let present = |s: String| (!s.is_empty()).then_some(s);
    Ok((present(decode(shown, user)?), present(decode(shown, pass)?)))
}

/// Percent-decoding (`%40` is `@`), as the redis client does for `redis://` userinfo.
fn decode(shown: &str, text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            let Some(byte) = hex else {
                return Err(format!("{shown:?}: a '%' not followed by two hex digits"));
            };
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{shown:?}: percent-encoding that is not UTF-8"))
}

/// `url` with `password` for its default user, percent-encoded, unless it carries credentials
/// already (then it is returned as is).
pub fn with_password(url: &str, password: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.contains('@') {
        return url.to_string();
    }
    format!("{scheme}://:{}@{rest}", encode(password))
}

/// Percent-encoding of everything but unreserved characters, for a URL's userinfo, path or
/// query (what [`parse`] decodes).
pub fn encode(text: &str) -> String {
    let mut encoded = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    encoded
}

/// The URL with any user and password replaced by `***`, the query's passwords too.
pub fn redact(url: &str) -> String {
    let (url, query) = match url.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (url, None),
    };
    let mut shown = match url.rfind('@') {
        None => url.to_string(),
        Some(at) => {
            let start = url
                .find("://")
                .map(|i| i + 3)
                .or_else(|| url.find(':').map(|i| i + 1))
                .unwrap_or(0)
                .min(at);
            format!("{}***{}", &url[..start], &url[at..])
        }
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.contains("password") => format!("{key}=***"),
                _ => pair.to_string(),
            })
            .collect();
        shown.push('?');
        shown.push_str(&pairs.join("&"));
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(url: &str) -> String {
        parse(url).unwrap_err()
    }

    #[test]
    fn accepts_the_url_forms_the_client_takes() {
        for url in [
            "redis://127.0.0.1:6379",
            "redis://localhost",
            "redis://redis.internal:6380/2",
            "redis://:secret@10.0.0.5:6379/0",
            "redis://user:secret@10.0.0.5:6379/",
            "redis://cache.example.com:6380/1?protocol=resp3",
            "redis://[::1]:6379/0",
            "redis://[fe80::1]",
            "unix:///run/redis/redis.sock",
            "unix:///run/redis/redis.sock?db=3",
        ] {
            assert_eq!(parse(url), Ok(Address::Direct(url.to_string())), "{url}");
        }
    }

    #[test]
    fn reads_a_sentinel_url() {
        let Ok(Address::Sentinel(a)) = parse(
            "redis+sentinel://app:p%40ss@s1,10.0.0.2:26380,[::1]:26381/ris/2\
             ?sentinel_username=watch&sentinel_password=s%3Acret",
        ) else {
            panic!("a sentinel address");
        };
        assert_eq!(
            a.sentinels,
            [
                ("s1".to_string(), 26379),
                ("10.0.0.2".to_string(), 26380),
                ("::1".to_string(), 26381)
            ]
        );
        assert_eq!(a.master, "ris");
        assert_eq!(a.db, 2);
        assert_eq!(a.username.as_deref(), Some("app"));
        assert_eq!(a.password.as_deref(), Some("p@ss"));
        assert_eq!(a.sentinel_username.as_deref(), Some("watch"));
        assert_eq!(a.sentinel_password.as_deref(), Some("s:cret"));
        assert_eq!(a.sentinel_list(), "s1:26379,10.0.0.2:26380,::1:26381");

        let Ok(Address::Sentinel(plain)) = parse("redis+sentinel://127.0.0.1:26379/rts") else {
            panic!("a sentinel address");
        };
        assert_eq!(
            (plain.db, plain.password, plain.sentinel_password),
            (0, None, None)
        );
    }

    #[test]
    fn reads_a_cluster_url() {
        let Ok(Address::Cluster(c)) =
            parse("redis+cluster://app:p%40ss@n1:7000,10.0.0.2,[::1]:7002")
        else {
            panic!("a cluster address");
        };
        assert_eq!(
            c.seeds,
            [
                ("n1".to_string(), 7000),
                ("10.0.0.2".to_string(), 6379),
                ("::1".to_string(), 7002)
            ]
        );
        assert_eq!(c.username.as_deref(), Some("app"));
        assert_eq!(c.password.as_deref(), Some("p@ss"));
        let Ok(Address::Cluster(plain)) = parse("redis+cluster://127.0.0.1:7000/0") else {
            panic!("a cluster address");
        };
        assert_eq!((plain.username, plain.password), (None, None));
    }

    #[test]
    fn refuses_bad_urls_with_a_fix() {
        assert_eq!(
            err("redis:/x"),
            r#"cannot parse "redis:/x" as a URL (expected redis://host:port, rediss://host:port, unix:///path, redis+sentinel://s1:26379,s2:26379/<master>, redis+cluster://n1:7000,n2:7001 or "embedded")"#
        );
        assert!(err("http://x:1").starts_with(r#"unsupported scheme "http" in "http://x:1""#));
        assert!(err("redis://:6379").contains("has no host"));
        assert!(err("rediss://h:6380#insecure").contains("certificates are always checked"));
        assert!(err("rediss://h:x").contains("port \"x\""));
        assert!(err("rediss+sentinel://s1:26379").contains("names no master"));
        assert_eq!(
            err("redis://h:99999"),
            r#""redis://h:99999": port "99999" is not a number from 1 to 65535"#
        );
        assert!(err("redis://h:0").contains("port \"0\""));
        assert!(err("redis://h:6379/db1").contains("database \"db1\" is not a number"));
        assert!(err("redis://h o:1").contains("is not a host name"));
        assert!(err("redis://[::zz]:1").contains("is not an IPv6 address"));
        assert!(err("unix://relative.sock").contains("absolute socket path"));
        assert!(err("redis+cluster://a:1/2").contains("database 0 only"));
        assert!(err("redis+cluster://a:1?x=1").contains("takes no parameters"));
        assert!(err("redis+cluster://a:1,:2").contains("has no host"));
        assert!(err("redis://a:1,b:2").contains("redis+sentinel://s1:26379,s2:26379/<master name>"));
        assert!(err("redis+sentinel://s1:26379").contains("names no master"));
        assert!(err("redis+sentinel://s1:26379/").contains("names no master"));
        assert!(err("redis+sentinel://s1:26379,/m").contains("has no host"));
        assert!(err("redis+sentinel://s1:x/m").contains("port \"x\""));
        assert!(err("redis+sentinel://s1/m/zero").contains("database \"zero\" is not a number"));
        assert!(err("redis+sentinel://s1/m/0/x").contains("unexpected \"x\""));
        assert!(err("redis+sentinel://s1/m?sentinel_pass=x").contains("unknown parameter"));
        assert!(err("redis+sentinel://s1/m%zz").contains("two hex digits"));
    }

    #[test]
    fn reads_tls_urls() {
        for url in [
            "rediss://127.0.0.1:6380",
            "rediss://:secret@redis.internal:6380/2",
            "REDISS://[::1]",
        ] {
            let address = parse(url).expect(url);
            assert_eq!(address, Address::Direct(url.to_string()));
            assert!(address.uses_tls(), "{url}");
        }
        assert!(!parse("redis://h").unwrap().uses_tls());
        assert!(!parse("unix:///r.sock").unwrap().uses_tls());

        let Ok(Address::Sentinel(a)) = parse("rediss+sentinel://s1,s2:26380/ris/1") else {
            panic!("a sentinel address");
        };
        assert!(Address::Sentinel(a.clone()).uses_tls());
        assert!(matches!(
            a.sentinel(1).addr,
            ConnectionAddr::TcpTls { ref host, port: 26380, .. } if host == "s2"
        ));
        assert!(matches!(
            a.data_node("10.0.0.7", 6379).addr,
            ConnectionAddr::TcpTls { ref host, port: 6379, .. } if host == "10.0.0.7"
        ));
        assert!(a.with_tls(&Tls::system_roots()).is_some());

        let Ok(Address::Sentinel(plain)) = parse("redis+sentinel://s1/ris") else {
            panic!("a sentinel address");
        };
        assert!(matches!(
            plain.data_node("h", 1).addr,
            ConnectionAddr::Tcp(..)
        ));
        assert!(plain.with_tls(&Tls::system_roots()).is_none());
    }

    #[test]
    fn a_password_is_added_where_none_is_given() {
        assert_eq!(
            with_password("redis://h:1/0", "ab12"),
            "redis://:ab12@h:1/0"
        );
        assert_eq!(
            with_password("redis://h:1", "p@ss:w/rd%"),
            "redis://:p%40ss%3Aw%2Frd%25@h:1"
        );
        assert_eq!(with_password("redis://u:x@h:1", "other"), "redis://u:x@h:1");
        assert_eq!(
            with_password("redis+sentinel://s1,s2/m", "pw"),
            "redis+sentinel://:pw@s1,s2/m"
        );
        let Ok(Address::Sentinel(a)) = parse(&with_password("redis+sentinel://s1/m", "p@ss"))
        else {
            panic!("a sentinel address");
        };
        assert_eq!(a.password.as_deref(), Some("p@ss"));
    }

    #[test]
    fn passwords_never_appear_in_messages() {
        for url in [
            "redis://user:hunter2@h:99999",
            "redis:/user:hunter2@h",
            "redis+sentinel://u:hunter2@s1:x/m",
            "redis+sentinel://s1:x/m?sentinel_password=hunter2",
        ] {
            let e = err(url);
            assert!(!e.contains("hunter2"), "{e}");
        }
        assert!(err("redis://user:hunter2@h:99999").contains("redis://***@h:99999"));
        assert_eq!(
            redact("redis+sentinel://u:p@s1/m?sentinel_username=w&sentinel_password=x"),
            "redis+sentinel://***@s1/m?sentinel_username=w&sentinel_password=***"
        );
    }
}
