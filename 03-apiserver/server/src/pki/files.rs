//! The PKI directory: `ca.crt`, `ca.key`, and `<name>.crt`/`<name>.key`
//! for each certificate, as kubeadm lays out `/etc/kubernetes/pki`.
//!
//! Whoever reads a key is that identity, and whoever reads `ca.key` can
//! mint any identity, `system:masters` included. So the directory is made
//! 0700 and every key 0600, at creation (never a window where the file is
//! world-readable) and again on every start (a directory someone opened up
//! is closed again).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{CertificateAuthority, Issued, PkiError};

/// The generated encryption configuration's file name in the directory.
pub const ENCRYPTION_CONFIG: &str = "encryption-config.yaml";

/// A PKI directory on disk.
#[derive(Debug, Clone)]
pub struct PkiDir {
    /// The directory, mode 0700.
    path: PathBuf,
}

impl PkiDir {
    /// Opens (or creates) `path`, mode 0700.
    pub fn open(path: &Path) -> Result<PkiDir, PkiError> {
        let failed = |source| PkiError::File {
            path: path.into(),
            source,
        };
        std::fs::create_dir_all(path).map_err(failed)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(failed)?;
        Ok(PkiDir { path: path.into() })
    }

    /// `<dir>/<file>`.
    pub fn path(&self, file: &str) -> PathBuf {
        self.path.join(file)
    }

    /// The cluster's CA: the one in `ca.crt`/`ca.key`, or a new one,
    /// written there. Kept across restarts, so credentials issued before
    /// (a user's kubeconfig) stay valid.
    pub fn ca(&self) -> Result<CertificateAuthority, PkiError> {
        let (cert, key) = (self.path("ca.crt"), self.path("ca.key"));
        if cert.exists() && key.exists() {
            let cert_pem = read(&cert)?;
            let key_pem = read(&key)?;
            private(&key)?;
            return CertificateAuthority::load(&cert_pem, &key_pem);
        }
        let ca = CertificateAuthority::generate("kubernetes")?;
        write_private(&cert, ca.cert_pem().as_bytes())?;
        write_private(&key, ca.key_pem().as_bytes())?;
        Ok(ca)
    }

    // ANCHOR: service_account_key
    /// The service account key, `sa.key` (and its public half `sa.pub`,
    /// as kubeadm names them): the one there, or a new ECDSA P-256 key.
    /// Kept across restarts, so tokens issued before stay valid. Answers
    /// the path of `sa.key`, what `--service-account-signing-key-file`
    /// names.
    pub fn service_account_key(&self) -> Result<PathBuf, PkiError> {
        let (key, public) = (self.path("sa.key"), self.path("sa.pub"));
        let failed = |source| PkiError::Certificate {
            what: "the service account key".into(),
            source,
        };
        let pem = if key.exists() {
            private(&key)?;
            read(&key)?
        } else {
            let pem = crate::authn::service_account::generate_key_pem().map_err(failed)?;
            write_private(&key, pem.as_bytes())?;
            pem
        };
        let public_pem = crate::authn::service_account::public_key_pem(&pem).map_err(failed)?;
        write_private(&public, public_pem.as_bytes())?;
        Ok(key)
    }
    // ANCHOR_END: service_account_key

    // ANCHOR: encryption_config
    /// The encryption configuration `orc server` uses when given none,
    /// `encryption-config.yaml` (0600: it holds the keys that open every
    /// Secret): the one there, or a new one with a fresh AES-256-GCM key
    /// for Secrets. Kept across restarts, so the Secrets it sealed stay
    /// readable; rotating means editing it (chapter 03). Answers its path,
    /// what `--encryption-provider-config` names.
    pub fn encryption_config(&self) -> Result<PathBuf, PkiError> {
        let path = self.path(ENCRYPTION_CONFIG);
        if path.exists() {
            private(&path)?;
        } else {
            write_private(&path, crate::encryption::config::generated().as_bytes())?;
        }
        Ok(path)
    }
    // ANCHOR_END: encryption_config

    /// Writes `issued` as `<name>.crt` and `<name>.key`, both 0600;
    /// answers their paths.
    pub fn write(&self, name: &str, issued: &Issued) -> Result<(PathBuf, PathBuf), PkiError> {
        let (cert, key) = (
            self.path(&format!("{name}.crt")),
            self.path(&format!("{name}.key")),
        );
        write_private(&cert, issued.cert_pem.as_bytes())?;
        write_private(&key, issued.key_pem.as_bytes())?;
        Ok((cert, key))
    }
}

/// Writes `bytes` to `path`, readable and writable by its owner only:
/// created 0600, and set 0600 if it existed with other bits.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), PkiError> {
    let failed = |source| PkiError::File {
        path: path.into(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(failed)?;
    private(path)?;
    file.write_all(bytes).map_err(failed)
}

/// Sets `path` to 0600.
fn private(path: &Path) -> Result<(), PkiError> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|source| {
        PkiError::File {
            path: path.into(),
            source,
        }
    })
}

fn read(path: &Path) -> Result<String, PkiError> {
    std::fs::read_to_string(path).map_err(|source| PkiError::File {
        path: path.into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_directory_is_0700_its_files_0600_and_the_ca_is_kept() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("pki");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let pki = PkiDir::open(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let ca = pki.ca().unwrap();
        assert_eq!(mode(&pki.path("ca.key")), 0o600);
        assert_eq!(mode(&pki.path("ca.crt")), 0o600);
        // A key someone opened up is closed again on the next start.
        std::fs::set_permissions(pki.path("ca.key"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let again = PkiDir::open(&dir).unwrap().ca().unwrap();
        assert_eq!(again.cert_pem(), ca.cert_pem());
        assert_eq!(mode(&pki.path("ca.key")), 0o600);
        let issued = ca
            .issue(
                &super::super::Subject::new("a"),
                &super::super::Usage::Client,
            )
            .unwrap();
        let (cert, key) = pki.write("a", &issued).unwrap();
        assert_eq!((mode(&cert), mode(&key)), (0o600, 0o600));
    }

    #[test]
    fn the_service_account_key_is_made_once_and_kept_private() {
        let temp = tempfile::tempdir().unwrap();
        let pki = PkiDir::open(&temp.path().join("pki")).unwrap();
        let key = pki.service_account_key().unwrap();
        assert_eq!(key, pki.path("sa.key"));
        assert_eq!(mode(&key), 0o600);
        let first = std::fs::read_to_string(&key).unwrap();
        let public = std::fs::read_to_string(pki.path("sa.pub")).unwrap();
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"), "{public}");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        pki.service_account_key().unwrap();
        assert_eq!(std::fs::read_to_string(&key).unwrap(), first);
        assert_eq!(mode(&key), 0o600);
    }
}
