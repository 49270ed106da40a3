//! TLS to a partition (`rediss://`, `rediss+sentinel://`): the certificates it trusts and the
//! one it presents, read from their files once and carried in every connection address this
//! crate builds, so the handshake is part of the connect step `node::open` bounds.
//!
//! rustls (ring) through the redis crate, never OpenSSL. Without a CA file the server's
//! certificate is checked against the system's roots (`/etc/ssl/certs`, `SSL_CERT_FILE`), which
//! is where an operator installs a private CA for every program at once; a CA file replaces
//! them. The host name checked is the one the URL names (for Sentinel, the address a sentinel
//! announces), so a server certificate needs it among its names (an IP address as an IP SAN).
//! A client certificate is presented only when both its files are given.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redis::{Client, ClientTlsConfig, ConnectionAddr, ConnectionInfo, TlsCertificates};

/// Where a partition's TLS files are; each absent one has its default (system roots, no client
/// certificate).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM bundle of the CAs that may sign the server's certificate.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain) and its private key: both or neither.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

impl TlsFiles {
    pub fn is_empty(&self) -> bool {
        self.ca_file.is_none() && self.cert_file.is_none() && self.key_file.is_none()
    }
}

/// Which file a problem is about, for the caller to name its own setting or flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFile {
    Ca,
    Cert,
    Key,
}

/// A file that cannot be used, and why (with the fix where there is one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError {
    pub file: TlsFile,
    pub message: String,
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The certificates for TLS connections, parsed once and shared by every copy.
#[derive(Clone)]
pub struct Tls(Arc<Loaded>);

struct Loaded {
    files: TlsFiles,
    /// A `TcpTls` address holding the parsed certificates (`None` for the defaults); the
    /// redis crate does not let its certificate type be named, so it travels in an address
    /// and is copied into each real one.
    template: ConnectionAddr,
}

impl Tls {
    /// The system's roots, no client certificate.
    pub fn system_roots() -> Tls {
        Tls(Arc::new(Loaded {
            files: TlsFiles::default(),
            template: ConnectionAddr::TcpTls {
                host: String::new(),
                port: 0,
                insecure: false,
                tls_params: None,
            },
        }))
    }

    /// Reads and parses `files`; the error names the file and what to give instead.
    pub fn load(files: &TlsFiles) -> Result<Tls, TlsError> {
        let root_cert = match &files.ca_file {
            Some(path) => Some(read_pem(
                TlsFile::Ca,
                path,
                "CERTIFICATE",
                "a CA certificate",
            )?),
            None => None,
        };
        let client_tls = match (&files.cert_file, &files.key_file) {
            (Some(cert), Some(key)) => Some(ClientTlsConfig {
                client_cert: read_pem(TlsFile::Cert, cert, "CERTIFICATE", "a certificate")?,
                client_key: read_pem(TlsFile::Key, key, "PRIVATE KEY", "a private key")?,
            }),
            (Some(_), None) => {
                return Err(TlsError {
                    file: TlsFile::Key,
                    message: "missing: a client certificate needs its private key file too \
                              (or give neither)"
                        .into(),
                })
            }
            (None, Some(_)) => {
                return Err(TlsError {
                    file: TlsFile::Cert,
                    message: "missing: a client private key needs its certificate file too \
                              (or give neither)"
                        .into(),
                })
            }
            (None, None) => None,
        };
        // Parsed in two steps so a failure is laid at the right file's door.
        build(None, root_cert.clone()).map_err(|e| TlsError {
            file: TlsFile::Ca,
            message: format!("{}: {e}", shown(files.ca_file.as_deref())),
        })?;
        let template = build(client_tls, root_cert).map_err(|e| {
            let file = if e.contains("private key") {
                TlsFile::Key
            } else {
                TlsFile::Cert
            };
            let path = match file {
                TlsFile::Key => files.key_file.as_deref(),
                _ => files.cert_file.as_deref(),
            };
            TlsError {
                file,
                message: format!("{}: {e}", shown(path)),
            }
        })?;
        Ok(Tls(Arc::new(Loaded {
            files: files.clone(),
            template,
        })))
    }

    /// The files these certificates came from.
    pub fn files(&self) -> &TlsFiles {
        &self.0.files
    }

    /// A TLS address of `host:port` with these certificates.
    pub fn addr(&self, host: &str, port: u16) -> ConnectionAddr {
        let ConnectionAddr::TcpTls { tls_params, .. } = &self.0.template else {
            return ConnectionAddr::Tcp(host.to_string(), port);
        };
        ConnectionAddr::TcpTls {
            host: host.to_string(),
            port,
            insecure: false,
            tls_params: tls_params.clone(),
        }
    }

    /// `info` with these certificates if it is a TLS address (`rediss://`); `None` if it is not,
    /// since certificates for a plain connection would be silently unused.
    pub fn apply(&self, mut info: ConnectionInfo) -> Option<ConnectionInfo> {
        let ConnectionAddr::TcpTls { host, port, .. } = &info.addr else {
            return None;
        };
        info.addr = self.addr(host, *port);
        Some(info)
    }
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls").field("files", self.files()).finish()
    }
}

/// Same files, same certificates (they are read once, at start).
impl PartialEq for Tls {
    fn eq(&self, other: &Tls) -> bool {
        self.files() == other.files()
    }
}

impl Eq for Tls {}

/// The address template the redis crate makes of `certificates`.
fn build(
    client_tls: Option<ClientTlsConfig>,
    root_cert: Option<Vec<u8>>,
) -> Result<ConnectionAddr, String> {
    let info = ConnectionInfo {
        addr: ConnectionAddr::TcpTls {
            host: "localhost".into(),
            port: 0,
            insecure: false,
            tls_params: None,
        },
        redis: Default::default(),
    };
    let certificates = TlsCertificates {
        client_tls,
        root_cert,
    };
    Client::build_with_tls(info, certificates)
        .map(|client| client.get_connection_info().addr.clone())
        .map_err(|e| e.to_string())
}

/// The file at `path`, which must hold at least one PEM block whose label ends in `label`.
fn read_pem(file: TlsFile, path: &Path, label: &str, what: &str) -> Result<Vec<u8>, TlsError> {
    let fail = |message: String| TlsError { file, message };
    let bytes = std::fs::read(path).map_err(|e| {
        fail(format!(
            "cannot read {:?}: {}",
            path.display(),
            io_reason(&e)
        ))
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let has_block = text.lines().any(|line| {
        line.strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
            .is_some_and(|block| block.ends_with(label))
    });
    if !has_block {
        return Err(fail(format!(
            "{:?} holds no PEM \"{label}\" block; give {what} in PEM form \
             (-----BEGIN {label}-----)",
            path.display()
        )));
    }
    Ok(bytes)
}

fn shown(path: Option<&Path>) -> String {
    path.map_or_else(String::new, |p| format!("{:?}", p.display()))
}

/// An I/O error's reason without the `(os error N)` suffix, for messages read by people.
fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// The reason a TLS connection failed, with the setting to look at, when `error` (a connect
/// error's text) is a certificate or handshake problem; `None` for anything else.
pub fn explain(error: &str) -> Option<String> {
    let lower = error.to_ascii_lowercase();
    let hint = if lower.contains("unknownissuer") || lower.contains("unknown issuer") {
        "the server's certificate is not signed by a trusted CA: give the CA that signed it in \
         the CA file (tls_ca_file / --tls-ca-file)"
    } else if lower.contains("notvalidforname") || lower.contains("not valid for name") {
        "the server's certificate does not name the host the URL gives: connect by a name or IP \
         address the certificate lists, or reissue it with that name"
    } else if lower.contains("expired") || lower.contains("not valid yet") {
        "the server's certificate is outside its validity period"
    } else if lower.contains("certificate required") || lower.contains("certificaterequired") {
        "the server requires a client certificate: give tls_cert_file and tls_key_file \
         (--tls-cert-file, --tls-key-file)"
    } else if lower.contains("invalid peer certificate")
        || lower.contains("bad certificate")
        || lower.contains("badcertificate")
        || lower.contains("unknown ca")
        || lower.contains("unknownca")
    {
        "a certificate was refused"
    } else if lower.contains("corrupt message")
        || lower.contains("invalidcontenttype")
        || lower.contains("invalid content type")
    {
        "no TLS handshake: is the server listening for TLS on this port (tls-port)?"
    } else {
        return None;
    };
    Some(format!("TLS: {error} ({hint})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tradestate-tls-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, text).expect("temp file");
        path
    }

    fn err(files: TlsFiles) -> TlsError {
        Tls::load(&files).expect_err("refused")
    }

    #[test]
    fn files_that_cannot_be_used_are_named_with_the_fix() {
        let missing = err(TlsFiles {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsFiles::default()
        });
        assert_eq!(missing.file, TlsFile::Ca);
        assert_eq!(
            missing.message,
            r#"cannot read "/nonexistent/ca.pem": No such file or directory"#
        );

        let not_pem = temp_file("not-pem", "hello\n");
        let e = err(TlsFiles {
            ca_file: Some(not_pem.clone()),
            ..TlsFiles::default()
        });
        assert_eq!(e.file, TlsFile::Ca);
        assert!(
            e.message.contains("holds no PEM \"CERTIFICATE\" block"),
            "{e}"
        );

        let e = err(TlsFiles {
            cert_file: Some(not_pem.clone()),
            ..TlsFiles::default()
        });
        assert_eq!(e.file, TlsFile::Key);
        assert!(e.message.contains("needs its private key file too"), "{e}");
        let e = err(TlsFiles {
            key_file: Some(not_pem.clone()),
            ..TlsFiles::default()
        });
        assert_eq!(e.file, TlsFile::Cert);

        let garbled = temp_file(
            "garbled.pem",
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        );
        let e = err(TlsFiles {
            ca_file: Some(garbled),
            ..TlsFiles::default()
        });
        assert_eq!(e.file, TlsFile::Ca);
    }

    #[test]
    fn the_defaults_need_no_files_and_only_tls_addresses_take_certificates() {
        let tls = Tls::load(&TlsFiles::default()).expect("defaults");
        assert!(tls.files().is_empty());
        let info = redis::IntoConnectionInfo::into_connection_info("rediss://h:6380/2").unwrap();
        let applied = tls.apply(info).expect("a TLS address");
        assert!(matches!(
            applied.addr,
            ConnectionAddr::TcpTls { ref host, port: 6380, insecure: false, .. } if host == "h"
        ));
        assert_eq!(applied.redis.db, 2);
        let plain = redis::IntoConnectionInfo::into_connection_info("redis://h:6379").unwrap();
        assert!(tls.apply(plain).is_none());
        assert_eq!(Tls::system_roots(), tls);
    }

    #[test]
    fn handshake_failures_are_explained() {
        let e = "invalid peer certificate: UnknownIssuer";
        assert!(explain(e).unwrap().contains("not signed by a trusted CA"));
        assert!(explain("invalid peer certificate: NotValidForName")
            .unwrap()
            .contains("does not name the host"));
        assert!(explain("Connection refused").is_none());
    }
}
