//! Releases of the `surveyor` binary, as the service stores them and the
//! nodes install them: what is signed, how it is checked, and which version
//! a running binary is.
//!
//! - A release is signed with an Ed25519 key ([`SigningKey`], made by
//!   `surveyor releases keygen`, kept by the administrator, never sent to the
//!   service). The signature covers the version and the binary's SHA-256
//!   ([`signed_message`]), so a binary cannot be relabelled as another version.
//! - The service learns the public half at the first publish, and hands it
//!   to each node (registration, or the first heartbeat reply it sees); a node
//!   keeps it in its `node.json` and refuses any release it does not verify.
//! - [`check_executable`] refuses what is not an ELF executable for this
//!   platform, before anything is stored or replaced.
//! - [`running_version`] is the version this binary reports: its crate
//!   version, unless the release tooling stamped another into
//!   [`VERSION_STAMP`] (the tests stamp copies of one build to get two
//!   versions of the same code).

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{0}")]
    Invalid(String),
    #[error("the signature does not verify: {0}")]
    BadSignature(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReleaseError + '_ {
    move |e| ReleaseError::Io { path: path.display().to_string(), source: e }
}

/// The bytes a release's signature covers.
pub fn signed_message(version: &str, sha256: &str) -> Vec<u8> {
    format!("surveyor-release\n{version}\n{sha256}\n").into_bytes()
}

/// An administrator's release signing key (PKCS#8, base64, in a 0600 file).
pub struct SigningKey(Ed25519KeyPair);

impl SigningKey {
    pub fn generate() -> Result<SigningKey, ReleaseError> {
        Ed25519KeyPair::generate()
            .map(SigningKey)
            .map_err(|_| ReleaseError::Invalid("cannot generate an Ed25519 key".into()))
    }

    /// Writes the key to `path` (0600); an existing file is not overwritten.
    pub fn save(&self, path: &Path) -> Result<(), ReleaseError> {
        if path.exists() {
            return Err(ReleaseError::Invalid(format!(
                "{} exists: a key that signed releases must not be lost; choose another path",
                path.display()
            )));
        }
        let der = self.0.to_pkcs8().map_err(|_| ReleaseError::Invalid("cannot encode the key".into()))?;
        let text = format!("{}\n", B64.encode(der.as_ref()));
        super::crypto::write_private(path, text.as_bytes()).map_err(io(path))
    }

    pub fn load(path: &Path) -> Result<SigningKey, ReleaseError> {
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        let der = B64.decode(text.trim()).map_err(|e| {
            ReleaseError::Invalid(format!("{}: not a key of `surveyor releases keygen` ({e})", path.display()))
        })?;
        Ed25519KeyPair::from_pkcs8(&der).map(SigningKey).map_err(|e| {
            ReleaseError::Invalid(format!("{}: not an Ed25519 key of `surveyor releases keygen` ({e})", path.display()))
        })
    }

    /// The public half, base64 (32 bytes).
    pub fn public_key(&self) -> String {
        B64.encode(self.0.public_key().as_ref())
    }

    /// The signature (base64) of a release.
    pub fn sign(&self, version: &str, sha256: &str) -> String {
        B64.encode(self.0.sign(&signed_message(version, sha256)).as_ref())
    }
}

/// Checks a release's signature with the trusted public key (both base64).
pub fn verify(public_key: &str, version: &str, sha256: &str, signature: &str) -> Result<(), ReleaseError> {
    let key = B64.decode(public_key.trim()).map_err(|e| ReleaseError::Invalid(format!("public key: {e}")))?;
    if key.len() != 32 {
        return Err(ReleaseError::Invalid(format!("public key: {} bytes, an Ed25519 key has 32", key.len())));
    }
    let signature =
        B64.decode(signature.trim()).map_err(|e| ReleaseError::BadSignature(format!("not base64 ({e})")))?;
    UnparsedPublicKey::new(&ED25519, &key).verify(&signed_message(version, sha256), &signature).map_err(|_| {
        ReleaseError::BadSignature(format!(
            "release {version} (sha256 {sha256}) was not signed by the trusted key {}",
            fingerprint(public_key)
        ))
    })
}

/// A short name for a public key, for messages: its first 12 base64 characters.
pub fn fingerprint(public_key: &str) -> String {
    public_key.chars().take(12).collect()
}

/// SHA-256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, ReleaseError> {
    let mut file = std::fs::File::open(path).map_err(io(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(super::crypto::hex(&hasher.finalize()))
}

/// This machine's platform, as releases name it: `x86_64-linux`, `aarch64-linux`.
pub fn platform() -> String {
    format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS)
}

/// ELF machine numbers of the platforms Surveyor builds for.
fn elf_machine(arch: &str) -> Option<u16> {
    match arch {
        "x86_64" => Some(62),
        "aarch64" => Some(183),
        "riscv64" => Some(243),
        _ => None,
    }
}

fn elf_machine_name(machine: u16) -> String {
    match machine {
        3 => "x86 (32-bit)".into(),
        40 => "arm (32-bit)".into(),
        62 => "x86_64".into(),
        183 => "aarch64".into(),
        243 => "riscv64".into(),
        m => format!("machine {m}"),
    }
}

/// Refuses what is not an executable for this platform, from the file's
/// first 64 bytes (its ELF header): a script, a Windows or macOS binary, a
/// library or a binary for another CPU. `what` names it in the message.
pub fn check_executable(head: &[u8], what: &str) -> Result<(), ReleaseError> {
    let bad = |why: String| ReleaseError::Invalid(format!("{what} is not a surveyor binary for {}: {why}", platform()));
    if head.len() < 20 || &head[..4] != b"\x7fELF" {
        let kind = if head.starts_with(b"#!") {
            "a script"
        } else if head.starts_with(b"MZ") {
            "a Windows executable"
        } else if head.starts_with(&[0xcf, 0xfa, 0xed, 0xfe]) || head.starts_with(&[0xca, 0xfe, 0xba, 0xbe]) {
            "a macOS executable"
        } else {
            "no ELF header"
        };
        return Err(bad(kind.into()));
    }
    if std::env::consts::OS != "linux" {
        return Err(bad(format!("releases are ELF binaries; this is {}", std::env::consts::OS)));
    }
    let class64 = head[4] == 2;
    if class64 != cfg!(target_pointer_width = "64") {
        return Err(bad(format!("a {}-bit binary", if class64 { 64 } else { 32 })));
    }
    if head[5] != 1 {
        return Err(bad("a big-endian binary".into()));
    }
    let e_type = u16::from_le_bytes([head[16], head[17]]);
    if e_type != 2 && e_type != 3 {
        return Err(bad(format!("ELF type {e_type}, not an executable (a relocatable object or a core file)")));
    }
    let machine = u16::from_le_bytes([head[18], head[19]]);
    if Some(machine) != elf_machine(std::env::consts::ARCH) {
        return Err(bad(format!("built for {}", elf_machine_name(machine))));
    }
    Ok(())
}

/// [`check_executable`] on a file.
pub fn check_executable_file(path: &Path) -> Result<(), ReleaseError> {
    let mut head = Vec::with_capacity(64);
    std::fs::File::open(path).map_err(io(path))?.take(64).read_to_end(&mut head).map_err(io(path))?;
    check_executable(&head, &path.display().to_string())
}

/// A release version: semantic versioning (`1.4.0`, `1.5.0-rc.1`).
pub fn parse_version(v: &str) -> Result<semver::Version, ReleaseError> {
    semver::Version::parse(v.trim())
        .map_err(|e| ReleaseError::Invalid(format!("version '{v}' is not a semantic version like 1.4.0: {e}")))
}

/// Orders two versions; one that does not parse is older than any that does.
pub fn newer(a: &str, b: &str) -> bool {
    match (semver::Version::parse(a), semver::Version::parse(b)) {
        (Ok(a), Ok(b)) => a > b,
        (Ok(_), Err(_)) => true,
        _ => false,
    }
}

/// Where release tooling may stamp a version into a built binary: the
/// marker, then up to 32 bytes of version, NUL-padded. All NULs: not stamped.
/// (A stamped copy of a build is that build, code for code, with another version.)
#[used]
pub static VERSION_STAMP: [u8; 56] =
    *b"SURVEYOR-VERSION-STAMP::\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

/// Length of the marker that precedes the stamp's 32 bytes. (The marker is
/// read from the static itself: a second copy of it in the binary would make
/// the stamp ambiguous.)
const MARKER_LEN: usize = 24;

/// The version this binary reports (heartbeats, `surveyor version`).
pub fn running_version() -> String {
    // Read through a volatile pointer: the compiler must not fold the
    // all-NUL initial value, since the file may have been stamped since.
    // SAFETY: a reference to a static is valid and aligned for its whole life.
    let stamp: [u8; 56] = unsafe { std::ptr::read_volatile(&VERSION_STAMP) };
    let value = &stamp[MARKER_LEN..];
    let end = value.iter().position(|b| *b == 0).unwrap_or(value.len());
    match std::str::from_utf8(&value[..end]) {
        Ok(v) if !v.is_empty() => v.to_string(),
        _ => surveyor_engine::VERSION.to_string(),
    }
}

/// Stamps `version` into the binary at `path` (a copy of a build).
pub fn stamp_version(path: &Path, version: &str) -> Result<(), ReleaseError> {
    if version.is_empty() || version.len() > 32 {
        return Err(ReleaseError::Invalid(format!("version '{version}': 1 to 32 bytes")));
    }
    let mut bytes = std::fs::read(path).map_err(io(path))?;
    let marker = &VERSION_STAMP[..MARKER_LEN];
    let found: Vec<usize> =
        bytes.windows(MARKER_LEN).enumerate().filter(|(_, w)| *w == marker).map(|(i, _)| i).take(2).collect();
    let at = match found[..] {
        [at] => at + MARKER_LEN,
        [] => {
            return Err(ReleaseError::Invalid(format!(
                "{}: no version stamp (not a surveyor binary?)",
                path.display()
            )));
        }
        _ => return Err(ReleaseError::Invalid(format!("{}: the version stamp's marker occurs twice", path.display()))),
    };
    let slot = &mut bytes[at..at + 32];
    slot.fill(0);
    slot[..version.len()].copy_from_slice(version.as_bytes());
    std::fs::write(path, bytes).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_covers_the_version_and_the_hash() {
        let key = SigningKey::generate().unwrap();
        let public = key.public_key();
        let sig = key.sign("1.2.0", "ab12");
        verify(&public, "1.2.0", "ab12", &sig).unwrap();
        assert!(matches!(verify(&public, "1.3.0", "ab12", &sig), Err(ReleaseError::BadSignature(_))));
        assert!(matches!(verify(&public, "1.2.0", "ab13", &sig), Err(ReleaseError::BadSignature(_))));
        let other = SigningKey::generate().unwrap();
        let e = verify(&other.public_key(), "1.2.0", "ab12", &sig).unwrap_err().to_string();
        assert!(e.contains("not signed by the trusted key"), "{e}");
    }

    #[test]
    fn a_key_file_round_trips_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("release.key");
        let key = SigningKey::generate().unwrap();
        key.save(&path).unwrap();
        assert_eq!(SigningKey::load(&path).unwrap().public_key(), key.public_key());
        assert!(key.save(&path).unwrap_err().to_string().contains("exists"));
        std::fs::write(dir.path().join("junk"), "hello").unwrap();
        assert!(SigningKey::load(&dir.path().join("junk")).is_err());
    }

    #[test]
    fn only_an_executable_for_this_platform_passes() {
        let me = std::env::current_exe().unwrap();
        check_executable_file(&me).unwrap();
        let e = check_executable(b"#!/bin/sh\necho hi\n", "x.sh").unwrap_err().to_string();
        assert!(e.contains("a script"), "{e}");
        let mut other = std::fs::read(&me).unwrap()[..64].to_vec();
        let foreign: u16 = if std::env::consts::ARCH == "aarch64" { 62 } else { 183 };
        other[18..20].copy_from_slice(&foreign.to_le_bytes());
        let e = check_executable(&other, "other").unwrap_err().to_string();
        assert!(e.contains("built for"), "{e}");
        other[16] = 1;
        assert!(check_executable(&other, "obj").unwrap_err().to_string().contains("ELF type 1"));
    }

    #[test]
    fn versions_order_semantically() {
        assert!(newer("0.10.0", "0.9.0"));
        assert!(!newer("0.9.0", "0.9.0"));
        assert!(newer("1.0.0", "1.0.0-rc.1"));
        assert!(parse_version("v1").is_err());
    }

    #[test]
    fn a_stamped_copy_reports_the_stamped_version() {
        assert_eq!(running_version(), surveyor_engine::VERSION, "a build is not stamped");
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("copy");
        std::fs::copy(std::env::current_exe().unwrap(), &copy).unwrap();
        stamp_version(&copy, "9.8.7").unwrap();
        let bytes = std::fs::read(&copy).unwrap();
        let marker = &VERSION_STAMP[..MARKER_LEN];
        let at = bytes.windows(MARKER_LEN).position(|w| w == marker).unwrap() + MARKER_LEN;
        assert_eq!(&bytes[at..at + 6], b"9.8.7\0");
    }
}
