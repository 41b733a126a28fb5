//! The `kv` data: one embedded database (redb) per store, one namespace per module.
//! Keys are `(module name, key bytes)`; the module name always comes from the runtime's
//! record of who is calling, never from the guest, so one module can never read or write
//! another's keys. Every write is its own durable transaction.
//!
//! Every resource a guest reaches through `kv` is bounded:
//! - **disk**: a module keeps at most `KvLimits::max_bytes_per_module` bytes (keys plus
//!   values) in at most `max_keys_per_module` keys; a write that would pass either is
//!   refused whole (the guest gets `LIMIT`). Usage is kept per module in a second table,
//!   updated in the same transaction as the data.
//! - **the write lock**: redb lets one write transaction run at a time. Writers wait for
//!   it at a gate of ours that gives up at a deadline (a guest's: its call's), so a
//!   guest never waits for the lock past its deadline.
//! - **host memory**: keys and values are bounded ([`MAX_KEY_BYTES`], [`MAX_VALUE_BYTES`]),
//!   and a key listing stops at [`MAX_LIST_BYTES`].
//!
//! redb locks the database file for as long as it is open, so only one process can open
//! a store's kv data at a time: a second one gets [`KvError::InUse`]. Within a process,
//! every host on a store shares one open database ([`KvDatabase::shared`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use wasmod_validator::KvLimits;

use crate::store::{sync_dir, unique_name};
use crate::write_gate::WriteGate;

const TABLE: TableDefinition<'static, (&str, &[u8]), &[u8]> = TableDefinition::new("kv");
/// Per module: `(bytes, keys)` it keeps. The row of the empty name (never a module's)
/// marks the table as built.
const USAGE: TableDefinition<'static, &str, (u64, u64)> = TableDefinition::new("usage");
const USAGE_BUILT: &str = "";

/// Largest key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 1 << 20;
/// Most bytes of keys one `kv.list` returns; a longer listing is refused (`LIMIT`).
pub const MAX_LIST_BYTES: usize = 1 << 20;

/// Why the store's kv data could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KvError {
    /// redb, the database under the kv data, failed (I/O errors included).
    #[error("the kv database: {0}")]
    Storage(#[from] redb::Error),
    /// Another process has the store's kv data open.
    #[error("the kv database is in use by another process (one process at a time may use a store's kv data)")]
    InUse,
    /// A write would take a module past its quota; nothing was written.
    #[error(
        "{module} would keep {bytes} bytes in {keys} keys of kv data, past its quota of {max_bytes} bytes in {max_keys} keys"
    )]
    Quota {
        /// The module's name (kv data and quotas are per name, not per version).
        module: String,
        /// What it would keep, in bytes (keys plus values).
        bytes: u64,
        /// How many keys it would keep.
        keys: u64,
        /// Its quota in bytes, `KvLimits::max_bytes_per_module`.
        max_bytes: u64,
        /// Its quota in keys, `KvLimits::max_keys_per_module`.
        max_keys: u64,
    },
    /// The `init` hooks of an activation wrote more than they may hold in memory.
    #[error("the init hooks of this activation wrote more than {limit} bytes of kv data")]
    InitBudget {
        /// `KvLimits::max_init_bytes`.
        limit: u64,
    },
    /// The write lock was not free before the deadline.
    #[error("the kv database's write lock was not free within {waited:?}")]
    Busy {
        /// How long the writer waited.
        waited: Duration,
    },
}

fn kv<E: Into<redb::Error>>(e: E) -> KvError {
    KvError::Storage(e.into())
}

fn io(e: std::io::Error) -> KvError {
    KvError::Storage(redb::Error::Io(e))
}

/// Buffered writes, applied in one transaction (`None` deletes).
pub(crate) type Writes = BTreeMap<(String, Vec<u8>), Option<Vec<u8>>>;

/// The bytes an entry takes against its module's quota.
fn entry_bytes(key: &[u8], value: &[u8]) -> u64 {
    (key.len() + value.len()) as u64
}

#[derive(Debug)]
pub(crate) struct KvDatabase {
    /// `None` only while the value is dropped (see `Drop`).
    db: Option<Database>,
    gate: WriteGate,
    /// Where [`KvDatabase::shared`] registered it, if it did.
    registered: Option<PathBuf>,
}

/// The databases hosts of this process have open ([`KvDatabase::shared`]). An entry whose value
/// is gone is one being closed: it leaves only once redb has let go of the file.
static OPEN: Mutex<Vec<(PathBuf, Weak<KvDatabase>)>> = Mutex::new(Vec::new());

impl Drop for KvDatabase {
    fn drop(&mut self) {
        // Close the database (redb releases the file's lock), then say so.
        drop(self.db.take());
        if let Some(path) = &self.registered {
            OPEN.lock().unwrap_or_else(|p| p.into_inner()).retain(|(p, kv)| p != path || kv.strong_count() > 0);
        }
    }
}

fn open_db(path: &Path) -> Result<Database, KvError> {
    Database::create(path).map_err(|e| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => KvError::InUse,
        other => kv(other),
    })
}

/// Creates the tables the database lacks, and builds the usage table from the data if
/// it was never built (a database from before quotas), in one durable transaction.
fn init(db: &Database) -> Result<(), KvError> {
    let tx = db.begin_write().map_err(kv)?;
    {
        let data = tx.open_table(TABLE).map_err(kv)?;
        let mut usage = tx.open_table(USAGE).map_err(kv)?;
        if usage.get(USAGE_BUILT).map_err(kv)?.is_none() {
            let mut totals: BTreeMap<String, (u64, u64)> = BTreeMap::new();
            for entry in data.iter().map_err(kv)? {
                let (k, v) = entry.map_err(kv)?;
                let (module, key) = k.value();
                let total = totals.entry(module.to_owned()).or_default();
                total.0 += entry_bytes(key, v.value());
                total.1 += 1;
            }
            for (module, total) in totals {
                usage.insert(module.as_str(), total).map_err(kv)?;
            }
            usage.insert(USAGE_BUILT, (0, 0)).map_err(kv)?;
        }
    }
    tx.commit().map_err(kv)
}

impl KvDatabase {
    /// Opens the database at `path`. A missing database is first made complete under
    /// `scratch` (a directory on the same file system that nobody else uses meanwhile)
    /// and then linked into place, so a process killed while creating it leaves either
    /// no database or a whole one, never a file redb cannot open.
    pub(crate) fn open(path: &Path, scratch: &Path) -> Result<KvDatabase, KvError> {
        if !path.exists() {
            let fresh = scratch.join(unique_name("kv"));
            init(&open_db(&fresh)?)?;
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
        let db = open_db(path)?;
        init(&db)?;
        Ok(KvDatabase { db: Some(db), gate: WriteGate::default(), registered: None })
    }

    fn db(&self) -> &Database {
        self.db.as_ref().expect("the database is open until the value is dropped")
    }

    /// The database at `path`, opened by [`KvDatabase::open`] unless a host of this process has
    /// it open already: then that one, shared. If one is being closed just now, waits
    /// (up to a second) for redb to let go of the file rather than report it in use.
    pub(crate) fn shared(path: &Path, scratch: &Path) -> Result<Arc<KvDatabase>, KvError> {
        let canonical = path.parent().and_then(|d| d.canonicalize().ok()).zip(path.file_name()).map(|(d, f)| d.join(f));
        for _ in 0..100 {
            {
                let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
                let entry = canonical.as_ref().and_then(|c| open.iter().find(|(p, _)| p == c));
                match entry.map(|(_, kv)| kv.upgrade()) {
                    Some(Some(kv)) => return Ok(kv),
                    // Being closed: wait below, without the lock.
                    Some(None) => {}
                    None => {
                        let mut kv = KvDatabase::open(path, scratch)?;
                        kv.registered = canonical.clone();
                        let kv = Arc::new(kv);
                        if let Some(c) = canonical {
                            open.push((c, Arc::downgrade(&kv)));
                        }
                        return Ok(kv);
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(KvError::InUse)
    }

    pub(crate) fn get(&self, module: &str, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        let tx = self.db().begin_read().map_err(kv)?;
        let table = tx.open_table(TABLE).map_err(kv)?;
        Ok(table.get((module, key)).map_err(kv)?.map(|v| v.value().to_vec()))
    }

    /// What `module` keeps: `(bytes, keys)`.
    pub(crate) fn usage(&self, module: &str) -> Result<(u64, u64), KvError> {
        let tx = self.db().begin_read().map_err(kv)?;
        let table = tx.open_table(USAGE).map_err(kv)?;
        Ok(table.get(module).map_err(kv)?.map_or((0, 0), |v| v.value()))
    }

    /// The keys of `module` starting with `prefix`, in byte order; `None` if they come
    /// to more than `max_bytes`.
    pub(crate) fn list(&self, module: &str, prefix: &[u8], max_bytes: usize) -> Result<Option<Vec<Vec<u8>>>, KvError> {
        let tx = self.db().begin_read().map_err(kv)?;
        let table = tx.open_table(TABLE).map_err(kv)?;
        let mut keys = Vec::new();
        let mut bytes = 0;
        for entry in table.range((module, prefix)..).map_err(kv)? {
            let (k, _) = entry.map_err(kv)?;
            let (m, key) = k.value();
            if m != module || !key.starts_with(prefix) {
                break;
            }
            bytes += key.len();
            if bytes > max_bytes {
                return Ok(None);
            }
            keys.push(key.to_vec());
        }
        Ok(Some(keys))
    }

    /// Applies writes in one durable transaction, unless one of them would take its
    /// module past its quota in `limits` (then nothing is written). Waits for the write
    /// lock until `deadline` at most. Returns whether each key existed before, in
    /// `writes` order.
    pub(crate) fn apply(&self, writes: &Writes, limits: &KvLimits, deadline: Instant) -> Result<Vec<bool>, KvError> {
        let _gate = self.gate.enter(deadline)?;
        let tx = self.db().begin_write().map_err(kv)?;
        let mut existed = Vec::with_capacity(writes.len());
        {
            let mut table = tx.open_table(TABLE).map_err(kv)?;
            let mut usage = tx.open_table(USAGE).map_err(kv)?;
            let mut change: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
            for ((module, key), value) in writes {
                let key_ref = (module.as_str(), key.as_slice());
                let old = table.get(key_ref).map_err(kv)?.map(|v| entry_bytes(key, v.value()));
                let new = value.as_ref().map(|v| entry_bytes(key, v));
                match value {
                    Some(v) => table.insert(key_ref, v.as_slice()).map(drop).map_err(kv)?,
                    None => table.remove(key_ref).map(drop).map_err(kv)?,
                }
                let c = change.entry(module.as_str()).or_default();
                c.0 += new.unwrap_or(0) as i64 - old.unwrap_or(0) as i64;
                c.1 += i64::from(new.is_some()) - i64::from(old.is_some());
                existed.push(old.is_some());
            }
            for (module, (bytes, keys)) in change {
                let (had_bytes, had_keys) = usage.get(module).map_err(kv)?.map_or((0, 0), |v| v.value());
                let now = (had_bytes.saturating_add_signed(bytes), had_keys.saturating_add_signed(keys));
                // A write that frees space always succeeds, even past a lowered quota.
                let grows = bytes > 0 || keys > 0;
                if grows && (now.0 > limits.max_bytes_per_module || now.1 > limits.max_keys_per_module) {
                    // Dropping the transaction unwritten rolls everything back.
                    return Err(KvError::Quota {
                        module: module.to_owned(),
                        bytes: now.0,
                        keys: now.1,
                        max_bytes: limits.max_bytes_per_module,
                        max_keys: limits.max_keys_per_module,
                    });
                }
                usage.insert(module, now).map_err(kv)?;
            }
        }
        tx.commit().map_err(kv)?;
        Ok(existed)
    }

    /// Takes the write lock as a writer would, for tests that need it held.
    #[cfg(test)]
    pub(crate) fn hold_write_lock(&self) -> crate::write_gate::GateGuard<'_> {
        self.gate.enter(Instant::now() + Duration::from_secs(60)).expect("the write lock is free")
    }

    /// Deletes every key of `module`; returns how many there were.
    pub(crate) fn purge(&self, module: &str, deadline: Instant) -> Result<u64, KvError> {
        let _gate = self.gate.enter(deadline)?;
        let tx = self.db().begin_write().map_err(kv)?;
        let removed = {
            let mut table = tx.open_table(TABLE).map_err(kv)?;
            let keys: Vec<Vec<u8>> = {
                let mut keys = Vec::new();
                for entry in table.range((module, &b""[..])..).map_err(kv)? {
                    let (k, _) = entry.map_err(kv)?;
                    let (m, key) = k.value();
                    if m != module {
                        break;
                    }
                    keys.push(key.to_vec());
                }
                keys
            };
            for key in &keys {
                table.remove((module, key.as_slice())).map_err(kv)?;
            }
            tx.open_table(USAGE).map_err(kv)?.remove(module).map_err(kv)?;
            keys.len() as u64
        };
        tx.commit().map_err(kv)?;
        Ok(removed)
    }

    /// Writes (`Some`) or deletes (`None`) one key; returns whether it existed.
    pub(crate) fn write(
        &self,
        module: &str,
        key: &[u8],
        value: Option<&[u8]>,
        limits: &KvLimits,
        deadline: Instant,
    ) -> Result<bool, KvError> {
        let mut writes = Writes::new();
        writes.insert((module.to_owned(), key.to_vec()), value.map(<[u8]>::to_vec));
        Ok(self.apply(&writes, limits, deadline)?.first().copied().unwrap_or(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(10)
    }

    fn open(dir: &Path) -> KvDatabase {
        KvDatabase::open(&dir.join("kv.redb"), dir).unwrap()
    }

    const FREE: KvLimits =
        KvLimits { max_bytes_per_module: u64::MAX, max_keys_per_module: u64::MAX, max_init_bytes: 0 };

    #[test]
    fn namespaces_are_separate_and_prefix_listing_stops_at_the_module() {
        let dir = tempfile::tempdir().unwrap();
        let kv = open(dir.path());
        kv.write("a/x", b"k1", Some(b"1"), &FREE, soon()).unwrap();
        kv.write("a/x", b"k2", Some(b"2"), &FREE, soon()).unwrap();
        kv.write("a/y", b"k1", Some(b"other"), &FREE, soon()).unwrap();
        assert_eq!(kv.get("a/x", b"k1").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(kv.get("a/y", b"k1").unwrap().as_deref(), Some(&b"other"[..]));
        assert_eq!(kv.get("a/z", b"k1").unwrap(), None);
        assert_eq!(kv.list("a/x", b"k", 1024).unwrap(), Some(vec![b"k1".to_vec(), b"k2".to_vec()]));
        assert_eq!(kv.list("a/x", b"", 1024).unwrap().unwrap().len(), 2);
        assert_eq!(kv.list("a/x", b"", 3).unwrap(), None, "two keys of 2 bytes are more than 3 bytes");
        assert!(kv.write("a/x", b"k1", None, &FREE, soon()).unwrap());
        assert!(!kv.write("a/x", b"k1", None, &FREE, soon()).unwrap());
        drop(kv);
        // Persistent.
        let kv = open(dir.path());
        assert_eq!(kv.get("a/x", b"k2").unwrap().as_deref(), Some(&b"2"[..]));
    }

    #[test]
    fn a_new_database_appears_whole_and_leaves_nothing_in_scratch() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = dir.path().join("scratch");
        std::fs::create_dir(&scratch).unwrap();
        let path = dir.path().join("kv.redb");
        KvDatabase::open(&path, &scratch).unwrap().write("m", b"k", Some(b"v"), &FREE, soon()).unwrap();
        assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);
        // Opening again finds the same database, not a new one.
        let again = KvDatabase::open(&path, &scratch).unwrap();
        assert_eq!(again.get("m", b"k").unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);
    }

    #[test]
    fn a_second_open_is_in_use_and_hosts_of_one_process_share_theirs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.redb");
        let shared = KvDatabase::shared(&path, dir.path()).unwrap();
        let second = KvDatabase::open(&path, dir.path());
        assert!(matches!(second, Err(KvError::InUse)), "{second:?}");
        let again = KvDatabase::shared(&dir.path().join(".").join("kv.redb"), dir.path()).unwrap();
        assert!(Arc::ptr_eq(&shared, &again), "one process, one open database");
        drop((shared, again));
        // Closed with its last user: opening again works.
        KvDatabase::open(&path, dir.path()).unwrap();
    }

    #[test]
    fn quotas_refuse_growth_whole_and_always_allow_freeing() {
        let dir = tempfile::tempdir().unwrap();
        let limits = KvLimits { max_bytes_per_module: 100, max_keys_per_module: 3, ..KvLimits::default() };
        let kv = open(dir.path());
        kv.write("m", b"a", Some(&[0; 49]), &limits, soon()).unwrap();
        kv.write("m", b"b", Some(&[0; 49]), &limits, soon()).unwrap();
        assert_eq!(kv.usage("m").unwrap(), (100, 2));
        // One byte more is past the quota: refused, nothing written.
        let err = kv.write("m", b"c", Some(&[]), &limits, soon()).unwrap_err();
        assert!(matches!(err, KvError::Quota { bytes: 101, keys: 3, .. }), "{err}");
        assert_eq!(kv.get("m", b"c").unwrap(), None);
        // Other modules have their own quota.
        kv.write("n", b"c", Some(&[0; 99]), &limits, soon()).unwrap();
        // Overwriting with a smaller value and deleting free space.
        kv.write("m", b"a", Some(&[0; 9]), &limits, soon()).unwrap();
        assert_eq!(kv.usage("m").unwrap(), (60, 2));
        kv.write("m", b"c", Some(b""), &limits, soon()).unwrap();
        let err = kv.write("m", b"d", Some(b""), &limits, soon()).unwrap_err();
        assert!(matches!(err, KvError::Quota { keys: 4, .. }), "{err}");
        assert!(kv.write("m", b"b", None, &limits, soon()).unwrap());
        assert_eq!(kv.usage("m").unwrap(), (11, 2));
        // A write that frees space succeeds under a quota it is already past.
        let tight = KvLimits { max_bytes_per_module: 1, ..limits };
        kv.write("m", b"a", Some(&[0; 1]), &tight, soon()).unwrap();
        assert_eq!(kv.usage("m").unwrap(), (3, 2));
        // A batch with one refused module writes nothing at all.
        let mut batch = Writes::new();
        batch.insert(("n".into(), b"x".to_vec()), Some(vec![1]));
        batch.insert(("m".into(), b"y".to_vec()), Some(vec![0; 200]));
        assert!(matches!(kv.apply(&batch, &limits, soon()), Err(KvError::Quota { .. })));
        assert_eq!(kv.get("n", b"x").unwrap(), None);
        // Usage survives reopening.
        drop(kv);
        let kv = open(dir.path());
        assert_eq!(kv.usage("m").unwrap(), (3, 2));
        // Purging removes the namespace and its usage, and nothing of another's.
        assert_eq!(kv.purge("m", soon()).unwrap(), 2);
        assert_eq!((kv.usage("m").unwrap(), kv.list("m", b"", 1024).unwrap()), ((0, 0), Some(vec![])));
        assert_eq!(kv.get("n", b"c").unwrap().map(|v| v.len()), Some(99));
    }

    #[test]
    fn usage_is_rebuilt_for_a_database_written_before_quotas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.redb");
        {
            let db = Database::create(&path).unwrap();
            let tx = db.begin_write().unwrap();
            {
                let mut t = tx.open_table(TABLE).unwrap();
                t.insert(("m", &b"ab"[..]), &b"cde"[..]).unwrap();
                t.insert(("m", &b"f"[..]), &b""[..]).unwrap();
            }
            tx.commit().unwrap();
        }
        assert_eq!(open(dir.path()).usage("m").unwrap(), (6, 2));
    }

    #[test]
    fn writers_get_the_write_lock_in_the_order_they_came_past_those_who_gave_up() {
        let dir = tempfile::tempdir().unwrap();
        let kv = open(dir.path());
        let order = Mutex::new(Vec::new());
        let held = kv.hold_write_lock();
        std::thread::scope(|s| {
            // A writer that gives up while waiting, then three that wait, in order.
            let quitter = s.spawn(|| kv.write("m", b"q", Some(b""), &FREE, Instant::now() + Duration::from_millis(20)));
            assert!(matches!(quitter.join().unwrap(), Err(KvError::Busy { .. })));
            for i in 0..3u8 {
                let (kv, order) = (&kv, &order);
                s.spawn(move || {
                    let _turn = kv.gate.enter(soon()).unwrap();
                    order.lock().unwrap().push(i);
                });
                // Each has its ticket before the next one asks.
                while kv.gate.tickets_issued() < 3 + u64::from(i) {
                    std::thread::yield_now();
                }
            }
            drop(held);
        });
        assert_eq!(*order.lock().unwrap(), [0, 1, 2]);
        kv.write("m", b"k", Some(b"v"), &FREE, soon()).unwrap();
    }

    #[test]
    fn a_writer_gives_up_at_its_deadline_while_another_holds_the_write_lock() {
        let dir = tempfile::tempdir().unwrap();
        let kv = open(dir.path());
        let held = kv.hold_write_lock();
        let started = Instant::now();
        let err = kv.write("m", b"k", Some(b"v"), &FREE, Instant::now() + Duration::from_millis(50)).unwrap_err();
        assert!(matches!(err, KvError::Busy { .. }), "{err}");
        assert!(started.elapsed() >= Duration::from_millis(50));
        drop(held);
        kv.write("m", b"k", Some(b"v"), &FREE, soon()).unwrap();
    }
}
