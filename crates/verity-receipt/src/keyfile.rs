//! Key files: one line, `0x` + 64 hex digits of the secret scalar, mode 0600.
//!
//! A new key is written to a temporary file in the target directory, flushed, then published
//! with a hard link, which (unlike rename) fails if the key file appeared meanwhile: two
//! processes starting together both end up with the one key that won, never with a key that
//! was silently overwritten. A crash leaves either no key file or a complete one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use k256::elliptic_curve::zeroize::Zeroizing;

use crate::error::KeyError;
use crate::keys::Signer;

/// A key file is 67 bytes; anything much larger is the wrong file, not worth reading whole.
const MAX_KEY_FILE_LEN: u64 = 4096;

fn file_err(path: &Path, reason: impl Into<String>) -> KeyError {
    KeyError::File { path: path.to_path_buf(), reason: reason.into() }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> KeyError + '_ {
    move |source| KeyError::Io { path: path.to_path_buf(), source }
}

impl Signer {
    /// Reads an existing key file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        let path = path.as_ref();
        match read_key_file(path)? {
            Some(text) => parse_key_file(path, &text),
            None => Err(file_err(path, "does not exist")),
        }
    }

    /// Reads the key file at `path`, or creates it with a new random key if it does not exist
    /// (creating missing parent directories, mode 0700 on unix). Returns whether it was created.
    pub fn load_or_create(path: impl AsRef<Path>) -> Result<(Self, bool), KeyError> {
        let path = path.as_ref();
        if let Some(text) = read_key_file(path)? {
            return parse_key_file(path, &text).map(|s| (s, false));
        }
        let signer = Signer::generate()?;
        if publish_new_key(path, &signer)? {
            Ok((signer, true))
        } else {
            Signer::load(path).map(|s| (s, false))
        }
    }
}

/// `None` if the file does not exist.
fn read_key_file(path: &Path) -> Result<Option<Zeroizing<String>>, KeyError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    if file.metadata().map_err(io_err(path))?.is_dir() {
        return Err(file_err(path, "is a directory, not a key file"));
    }
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_KEY_FILE_LEN + 1).read_to_end(&mut bytes).map_err(io_err(path))?;
    if bytes.len() as u64 > MAX_KEY_FILE_LEN {
        return Err(file_err(path, format!("is larger than {MAX_KEY_FILE_LEN} bytes, not a key file")));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| file_err(path, "is not text; expected 0x and 64 hex digits"))?;
    Ok(Some(Zeroizing::new(text.to_owned())))
}

fn parse_key_file(path: &Path, text: &str) -> Result<Signer, KeyError> {
    if text.trim().is_empty() {
        return Err(file_err(path, "is empty; expected 0x and 64 hex digits (delete it to generate a new key)"));
    }
    Signer::from_hex(text).map_err(|e| file_err(path, e.to_string()))
}

/// Removes the temporary file on every exit path except a successful rename.
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Writes the key to `path` unless a file appeared there meanwhile; `Ok(false)` in that case.
fn publish_new_key(path: &Path, signer: &Signer) -> Result<bool, KeyError> {
    let name = path.file_name().ok_or_else(|| file_err(path, "is not a file path"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    create_private_dir(dir).map_err(io_err(dir))?;

    let (mut file, mut temp) = create_temp(dir, &name.to_string_lossy())?;
    let contents = Zeroizing::new(format!("{}\n", *signer.secret_hex()));
    file.write_all(contents.as_bytes()).and_then(|()| file.sync_all()).map_err(io_err(&temp.path))?;
    drop(file);

    let created = match fs::hard_link(&temp.path, path) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
        // Filesystems without hard links: rename is still atomic, only not exclusive.
        Err(_) => {
            fs::rename(&temp.path, path).map_err(io_err(path))?;
            temp.keep = true;
            true
        }
    };
    if created {
        // Best effort: make the new directory entry durable; not all filesystems allow it.
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(created)
}

fn create_temp(dir: &Path, name: &str) -> Result<(File, TempFile), KeyError> {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    for attempt in 0..16u32 {
        let path = dir.join(format!(".{name}.{}.{nanos}.{attempt}.tmp", std::process::id()));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(file) => return Ok((file, TempFile { path, keep: false })),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err(&path)(e)),
        }
    }
    Err(file_err(dir, "could not create a temporary key file (names kept colliding)"))
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_then_loads_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/deeper/executor.key");
        let (a, created) = Signer::load_or_create(&path).unwrap();
        assert!(created);
        let (b, created) = Signer::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(a.address(), b.address());
        assert_eq!(Signer::load(&path).unwrap().address(), a.address());

        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("0x") && text.ends_with('\n') && text.len() == 67, "{text:?}");
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, ["executor.key"], "temporary files left behind");
    }

    #[cfg(unix)]
    #[test]
    fn new_key_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/executor.key");
        Signer::load_or_create(&path).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o077, 0);
    }

    #[test]
    fn reads_hand_written_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        fs::write(&path, "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318").unwrap();
        let (signer, created) = Signer::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(hex::encode(signer.address()), "2c7536e3605d9c16a7a3d7b1898e529396a65c23");
    }

    #[test]
    fn bad_key_files_give_clear_errors_and_are_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&str, &[u8], &str); 5] = [
            ("empty", b"", "is empty"),
            ("short", b"0x1234\n", "expected 64 hex digits"),
            ("binary", &[0xff, 0xfe, 0x00], "is not text"),
            ("zero", b"0x0000000000000000000000000000000000000000000000000000000000000000", "zero or not below"),
            ("nonhex", b"0xgg00000000000000000000000000000000000000000000000000000000000000", "not a hex digit"),
        ];
        for (name, contents, expected) in cases {
            let path = dir.path().join(name);
            fs::write(&path, contents).unwrap();
            let msg = Signer::load_or_create(&path).unwrap_err().to_string();
            assert!(msg.contains(expected) && msg.contains(name), "{name}: {msg}");
            assert_eq!(fs::read(&path).unwrap(), contents, "{name} was modified");
        }
        let big = dir.path().join("big");
        fs::write(&big, vec![b'0'; 5000]).unwrap();
        assert!(Signer::load_or_create(&big).unwrap_err().to_string().contains("larger than 4096 bytes"));
        let msg = Signer::load_or_create(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("is a directory"), "{msg}");
        let msg = Signer::load(dir.path().join("absent")).unwrap_err().to_string();
        assert!(msg.contains("does not exist"), "{msg}");
    }

    #[test]
    fn concurrent_creation_yields_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("race.key");
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || Signer::load_or_create(&path).unwrap())
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let on_disk = Signer::load(&path).unwrap().address();
        assert!(results.iter().all(|(s, _)| s.address() == on_disk));
        assert_eq!(results.iter().filter(|(_, created)| *created).count(), 1);
    }
}
