//! The embedded engines' password. Outside development mode the engines listen on loopback
//! ports that any local process could reach; with a password there, reading or rewriting a
//! terminal's state takes the same credentials the operator has, not just a shell on the box.
//!
//! One password serves the three engines: generated once (256 random bits, hex) into
//! `<data_dir>/engine-password`, created 0600 and reused on every start, so redis-cli, loadgen
//! and scripts read it from there (`redis-cli -p 6380 -a "$(cat data/engine-password)"`). It is
//! the engines' `default` user's password (`requirepass`), which every Redis client can send
//! without knowing a user name. A partition that sets `engine.requirepass` itself keeps its own.
//!
//! A password rather than a unix socket alone: the gateway's fallback path to an engine, the
//! operator's tools and exporters all speak TCP, and a socket's permissions would shut out an
//! operator account that is not the service's while a password file can be shared deliberately.

use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::service::StartError;

/// The file under `data_dir` that holds the password.
pub const FILE_NAME: &str = "engine-password";

/// Random bytes in a generated password (64 hex characters).
const RANDOM_BYTES: usize = 32;

/// The password in `<data_dir>/engine-password`, created if missing. A file that others may
/// read is set back to 0600, with a warning that the password may have leaked.
pub fn load_or_create(data_dir: &Path) -> Result<String, StartError> {
    std::fs::create_dir_all(data_dir).map_err(|e| {
        StartError(format!(
            "cannot create the data directory {}: {e} (check data_dir)",
            data_dir.display()
        ))
    })?;
    let path = data_dir.join(FILE_NAME);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            tighten(&path)?;
            let password = text.trim().to_string();
            if password.is_empty() {
                return Err(StartError(format!(
                    "{} is empty: delete it and restart to have a new password generated",
                    path.display()
                )));
            }
            Ok(password)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(data_dir, &path),
        Err(e) => Err(StartError(format!(
            "cannot read the engines' password {}: {e} (check data_dir and the file's owner)",
            path.display()
        ))),
    }
}

fn create(data_dir: &Path, path: &Path) -> Result<String, StartError> {
    let fail = |what: &str, e: std::io::Error| {
        StartError(format!(
            "cannot {what} the engines' password {}: {e} (check data_dir)",
            path.display()
        ))
    };
    let password = random_hex().map_err(|e| fail("generate", e))?;
    // create_new: two services started on one data_dir at once must not hand out two passwords.
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return load_or_create(data_dir),
        Err(e) => return Err(fail("create", e)),
    };
    file.write_all(format!("{password}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| fail("write", e))?;
    tracing::info!(path = %path.display(), "generated the embedded engines' password");
    Ok(password)
}

/// Sets the file back to 0600 when group or others may read it.
fn tighten(path: &Path) -> Result<(), StartError> {
    let mode = std::fs::metadata(path)
        .map_err(|e| StartError(format!("cannot stat {}: {e}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 == 0 {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
        StartError(format!(
            "{} may be read by other users (mode {:o}) and cannot be set to 0600: {e}",
            path.display(),
            mode & 0o777
        ))
    })?;
    tracing::warn!(
        path = %path.display(),
        was = format!("{:o}", mode & 0o777),
        "the engines' password file was readable by other users and is now 0600; if anyone \
         else could have read it, delete it and restart to have a new one generated"
    );
    Ok(())
}

fn random_hex() -> std::io::Result<String> {
    let mut bytes = [0u8; RANDOM_BYTES];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_private_and_reused() {
        let dir = tradestate_test_support::fresh_dir("engine-password");
        let first = load_or_create(&dir).expect("created");
        assert_eq!(first.len(), RANDOM_BYTES * 2);
        assert!(first.bytes().all(|b| b.is_ascii_hexdigit()), "{first}");
        let mode = std::fs::metadata(dir.join(FILE_NAME))
            .expect("file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load_or_create(&dir).expect("reused"), first);
    }

    #[test]
    fn a_readable_file_is_made_private() {
        let dir = tradestate_test_support::fresh_dir("engine-password-open");
        let path = dir.join(FILE_NAME);
        std::fs::write(&path, "chosen-by-hand\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(load_or_create(&dir).expect("read"), "chosen-by-hand");
        let mode = std::fs::metadata(&path).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn an_empty_file_is_an_error_naming_the_fix() {
        let dir = tradestate_test_support::fresh_dir("engine-password-empty");
        std::fs::write(dir.join(FILE_NAME), "\n").expect("write");
        let e = load_or_create(&dir).expect_err("empty");
        assert!(e.0.contains("delete it and restart"), "{}", e.0);
    }
}
