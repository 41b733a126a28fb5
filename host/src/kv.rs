//! The `kv` data: one embedded database (redb) per store, one namespace per module.
//! Keys are `(module name, key bytes)`; the module name always comes from the runtime's
//! record of who is calling, never from the guest, so one module can never read or write
//! another's keys. Every write is its own durable transaction.

use std::collections::BTreeMap;
use std::path::Path;

use redb::{Database, ReadableDatabase, TableDefinition};

use crate::store::{sync_dir, unique_name};

const TABLE: TableDefinition<'static, (&str, &[u8]), &[u8]> = TableDefinition::new("kv");

/// Largest key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 1 << 20;

/// A kv failure (storage).
#[derive(Debug, thiserror::Error)]
#[error("the kv database: {0}")]
pub struct KvError(#[from] redb::Error);

fn kv<E: Into<redb::Error>>(e: E) -> KvError {
    KvError(e.into())
}

/// Buffered writes, applied in one transaction (`None` deletes).
pub(crate) type Writes = BTreeMap<(String, Vec<u8>), Option<Vec<u8>>>;

#[derive(Debug)]
pub(crate) struct Kv {
    db: Database,
}

fn io(e: std::io::Error) -> KvError {
    KvError(redb::Error::Io(e))
}

/// Creates the table if the database lacks it (a durable transaction).
fn init(db: &Database) -> Result<(), KvError> {
    let tx = db.begin_write().map_err(kv)?;
    tx.open_table(TABLE).map_err(kv)?;
    tx.commit().map_err(kv)
}

impl Kv {
    /// Opens the database at `path`. A missing database is first made complete under
    /// `scratch` (a directory on the same file system that the store empties when it
    /// opens) and then linked into place, so a process killed while creating it leaves
    /// either no database or a whole one, never a file redb cannot open.
    pub(crate) fn open(path: &Path, scratch: &Path) -> Result<Kv, KvError> {
        if !path.exists() {
            let fresh = scratch.join(unique_name("kv"));
            init(&Database::create(&fresh).map_err(kv)?)?;
            // A link fails if the name exists: if another process got there first, its
            // database is the one.
            match std::fs::hard_link(&fresh, path) {
                Ok(()) => {
                    if let Some(dir) = path.parent() {
                        sync_dir(dir).map_err(io)?;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(e)),
            }
            std::fs::remove_file(&fresh).map_err(io)?;
        }
        let db = Database::create(path).map_err(kv)?;
        init(&db)?;
        Ok(Kv { db })
    }

    pub(crate) fn get(&self, module: &str, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        let tx = self.db.begin_read().map_err(kv)?;
        let table = tx.open_table(TABLE).map_err(kv)?;
        Ok(table.get((module, key)).map_err(kv)?.map(|v| v.value().to_vec()))
    }

    pub(crate) fn set(&self, module: &str, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        let mut writes = Writes::new();
        writes.insert((module.to_owned(), key.to_vec()), Some(value.to_vec()));
        self.apply(&writes).map(|_| ())
    }

    /// Deletes a key; returns whether it existed.
    pub(crate) fn delete(&self, module: &str, key: &[u8]) -> Result<bool, KvError> {
        let tx = self.db.begin_write().map_err(kv)?;
        let existed = {
            let mut table = tx.open_table(TABLE).map_err(kv)?;
            table.remove((module, key)).map_err(kv)?.is_some()
        };
        tx.commit().map_err(kv)?;
        Ok(existed)
    }

    /// The keys of `module` starting with `prefix`, in byte order.
    pub(crate) fn list(&self, module: &str, prefix: &[u8]) -> Result<Vec<Vec<u8>>, KvError> {
        let tx = self.db.begin_read().map_err(kv)?;
        let table = tx.open_table(TABLE).map_err(kv)?;
        let mut keys = Vec::new();
        for entry in table.range((module, prefix)..).map_err(kv)? {
            let (k, _) = entry.map_err(kv)?;
            let (m, key) = k.value();
            if m != module || !key.starts_with(prefix) {
                break;
            }
            keys.push(key.to_vec());
        }
        Ok(keys)
    }

    /// Applies writes in one durable transaction.
    pub(crate) fn apply(&self, writes: &Writes) -> Result<usize, KvError> {
        let tx = self.db.begin_write().map_err(kv)?;
        {
            let mut table = tx.open_table(TABLE).map_err(kv)?;
            for ((module, key), value) in writes {
                match value {
                    Some(v) => {
                        table.insert((module.as_str(), key.as_slice()), v.as_slice()).map_err(kv)?;
                    }
                    None => {
                        table.remove((module.as_str(), key.as_slice())).map_err(kv)?;
                    }
                }
            }
        }
        tx.commit().map_err(kv)?;
        Ok(writes.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_separate_and_prefix_listing_stops_at_the_module() {
        let dir = tempfile::tempdir().unwrap();
        let kv = Kv::open(&dir.path().join("kv.redb"), dir.path()).unwrap();
        kv.set("a/x", b"k1", b"1").unwrap();
        kv.set("a/x", b"k2", b"2").unwrap();
        kv.set("a/y", b"k1", b"other").unwrap();
        assert_eq!(kv.get("a/x", b"k1").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(kv.get("a/y", b"k1").unwrap().as_deref(), Some(&b"other"[..]));
        assert_eq!(kv.get("a/z", b"k1").unwrap(), None);
        assert_eq!(kv.list("a/x", b"k").unwrap(), vec![b"k1".to_vec(), b"k2".to_vec()]);
        assert_eq!(kv.list("a/x", b"").unwrap().len(), 2);
        assert!(kv.delete("a/x", b"k1").unwrap());
        assert!(!kv.delete("a/x", b"k1").unwrap());
        drop(kv);
        // Persistent.
        let kv = Kv::open(&dir.path().join("kv.redb"), dir.path()).unwrap();
        assert_eq!(kv.get("a/x", b"k2").unwrap().as_deref(), Some(&b"2"[..]));
    }

    #[test]
    fn a_new_database_appears_whole_and_leaves_nothing_in_scratch() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = dir.path().join("scratch");
        std::fs::create_dir(&scratch).unwrap();
        let path = dir.path().join("kv.redb");
        Kv::open(&path, &scratch).unwrap().set("m", b"k", b"v").unwrap();
        assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);
        // Opening again finds the same database, not a new one.
        assert_eq!(Kv::open(&path, &scratch).unwrap().get("m", b"k").unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);
    }
}
