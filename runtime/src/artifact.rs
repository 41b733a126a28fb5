//! Compiled artifacts and their cache.
//!
//! wasmer's `Module::deserialize` is `unsafe` and does not check the bytes: a flipped
//! byte in the middle of an artifact was accepted in our experiments, and whatever it
//! loads runs as native code. So an artifact is wrapped in our own envelope and loaded
//! only if everything in it checks out:
//!
//! ```text
//! "WASMODA2"                         magic, 8 bytes
//! u32 LE  identity length            then the engine identity (UTF-8)
//! [32]    blake3 of the wasm file    the artifact belongs to exactly these bytes
//! [32]    blake3 of the payload      integrity of what follows
//! u64 LE  payload length
//! payload                            wasmer's serialized module
//! [32]    keyed blake3 of the header authenticity: made by a holder of the key
//! ```
//!
//! The last field is a MAC of everything before the payload (which holds the payload's
//! hash, so it covers the payload too) under the runtime's artifact key (`RuntimeBuilder::
//! artifact_key`), which is kept outside wherever artifacts are stored. Whoever can
//! write the artifacts can compute every other field, but not this one: an artifact
//! whose MAC does not verify was not compiled by a holder of the key, and is never
//! deserialized. Anything that does not match (magic, identity, wasm hash, payload hash
//! or length, MAC) is stale, corrupt or forged: it is recompiled and rewritten.

use std::io;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"WASMODA2";
const MAC_LEN: usize = 32;

/// Why an artifact was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stale {
    /// Not an artifact envelope (or one of an older format), or cut short.
    Malformed,
    /// Compiled by another engine (version, target, features, cost model).
    OtherEngine,
    /// Compiled from other wasm bytes.
    OtherWasm,
    /// The payload does not hash to the recorded value.
    Corrupt,
    /// The MAC does not verify under this runtime's key: written by someone without it.
    Unauthenticated,
}

/// Wraps a payload in the envelope, authenticated with `key`.
pub(crate) fn seal(key: &[u8; 32], identity: &str, wasm_hash: &[u8; 32], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 4 + identity.len() + 64 + 8 + payload.len() + MAC_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(identity.len() as u32).to_le_bytes());
    out.extend_from_slice(identity.as_bytes());
    out.extend_from_slice(wasm_hash);
    out.extend_from_slice(blake3::hash(payload).as_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    let mac = blake3::keyed_hash(key, &out);
    out.extend_from_slice(payload);
    out.extend_from_slice(mac.as_bytes());
    out
}

/// Checks an envelope and returns its payload.
pub(crate) fn open<'a>(
    key: &[u8; 32],
    bytes: &'a [u8],
    identity: &str,
    wasm_hash: &[u8; 32],
) -> Result<&'a [u8], Stale> {
    let (sealed, mac) =
        bytes.split_at_checked(bytes.len().checked_sub(MAC_LEN).ok_or(Stale::Malformed)?).ok_or(Stale::Malformed)?;
    let mut rest = sealed.strip_prefix(MAGIC.as_slice()).ok_or(Stale::Malformed)?;
    let mut take = |n: usize| -> Result<&'a [u8], Stale> {
        if rest.len() < n {
            return Err(Stale::Malformed);
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    let id_len = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
    if take(id_len)? != identity.as_bytes() {
        return Err(Stale::OtherEngine);
    }
    if take(32)? != wasm_hash {
        return Err(Stale::OtherWasm);
    }
    let payload_hash: [u8; 32] = take(32)?.try_into().expect("32 bytes");
    let len = u64::from_le_bytes(take(8)?.try_into().expect("8 bytes"));
    if len != rest.len() as u64 {
        return Err(Stale::Malformed);
    }
    // `blake3::Hash` compares in constant time.
    let header = &sealed[..sealed.len() - rest.len()];
    let expected: [u8; 32] = mac.try_into().expect("32 bytes");
    if blake3::keyed_hash(key, header) != blake3::Hash::from_bytes(expected) {
        return Err(Stale::Unauthenticated);
    }
    if blake3::hash(rest).as_bytes() != &payload_hash {
        return Err(Stale::Corrupt);
    }
    Ok(rest)
}

/// Where compiled artifacts are kept between runs. Keys are content addresses (hash of
/// the wasm file and of the engine identity), so one cache can serve many modules.
pub trait ArtifactCache: Send + Sync {
    /// The artifact stored under `key`, if any. Errors count as a miss.
    fn get(&self, key: &str) -> Option<Vec<u8>>;
    /// Stores an artifact; failing to store is not fatal (the next load recompiles).
    fn put(&self, key: &str, artifact: &[u8]) -> io::Result<()>;
}

/// No cache: compile on every load.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoCache;

impl ArtifactCache for NoCache {
    fn get(&self, _: &str) -> Option<Vec<u8>> {
        None
    }
    fn put(&self, _: &str, _: &[u8]) -> io::Result<()> {
        Ok(())
    }
}

/// A directory of artifacts, one file per key, written atomically (temporary file,
/// then rename), so a crash never leaves a half-written artifact under its key.
#[derive(Debug, Clone)]
pub struct DirCache {
    root: PathBuf,
}

impl DirCache {
    /// A cache in `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> DirCache {
        DirCache { root: root.into() }
    }

    /// The file holding `key`.
    pub fn path(&self, key: &str) -> PathBuf {
        self.root.join(format!("{key}.artifact"))
    }

    /// The directory the artifacts are kept in, one `<key>.artifact` file each.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl ArtifactCache for DirCache {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path(key)).ok()
    }

    fn put(&self, key: &str, artifact: &[u8]) -> io::Result<()> {
        std::fs::create_dir_all(&self.root)?;
        // Unique per process, thread and write: two threads of one process may cache
        // the same function at once.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = self.root.join(format!(".{key}.{}.{n}.tmp", std::process::id()));
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(artifact)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, self.path(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trip_and_every_mismatch() {
        let key = [7; 32];
        let wasm = blake3::hash(b"wasm").into();
        let sealed = seal(&key, "engine-a", &wasm, b"payload");
        assert_eq!(open(&key, &sealed, "engine-a", &wasm), Ok(&b"payload"[..]));
        assert_eq!(open(&key, &sealed, "engine-b", &wasm), Err(Stale::OtherEngine));
        assert_eq!(open(&key, &sealed, "engine-a", &blake3::hash(b"other").into()), Err(Stale::OtherWasm));
        assert_eq!(open(&[8; 32], &sealed, "engine-a", &wasm), Err(Stale::Unauthenticated));
        let mut flipped = sealed.clone();
        flipped[sealed.len() - 33] ^= 1;
        assert_eq!(open(&key, &flipped, "engine-a", &wasm), Err(Stale::Corrupt), "through the payload's hash");
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(open(&key, &flipped, "engine-a", &wasm), Err(Stale::Unauthenticated));
        assert_eq!(open(&key, &sealed[..sealed.len() - 1], "engine-a", &wasm), Err(Stale::Malformed));
        assert_eq!(open(&key, b"nonsense", "engine-a", &wasm), Err(Stale::Malformed));
        assert_eq!(open(&key, &sealed[..10], "engine-a", &wasm), Err(Stale::Malformed));
    }

    #[test]
    fn a_forged_envelope_with_correct_checksums_is_refused() {
        // Everything but the MAC can be computed by anyone who can read the format.
        let key = [7; 32];
        let wasm = blake3::hash(b"wasm").into();
        let forged = seal(&[0; 32], "engine-a", &wasm, b"other code");
        assert_eq!(open(&key, &forged, "engine-a", &wasm), Err(Stale::Unauthenticated));
    }

    #[test]
    fn threads_caching_the_same_artifact_at_once_all_succeed_and_leave_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DirCache::new(dir.path());
        let versions: Vec<Vec<u8>> = (0..4u8).map(|t| vec![t; 256 << 10]).collect();
        std::thread::scope(|s| {
            for version in &versions {
                let cache = &cache;
                s.spawn(move || {
                    for _ in 0..20 {
                        cache.put("k", version).expect("a concurrent put fails");
                    }
                });
            }
        });
        let stored = cache.get("k").unwrap();
        assert!(versions.contains(&stored), "the artifact is one writer's, whole");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["k.artifact"], "no temporary file is left");
    }

    #[test]
    fn dir_cache_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DirCache::new(dir.path().join("artifacts"));
        assert_eq!(cache.get("k"), None);
        cache.put("k", b"abc").unwrap();
        assert_eq!(cache.get("k").as_deref(), Some(&b"abc"[..]));
    }
}
