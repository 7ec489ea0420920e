//! Where evicted sessions wait: a store of trajectory snapshots keyed by session id.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use creative_feedback_core::TrajectorySnapshot;

use crate::Error;

/// Keeps session snapshots between evictions and restarts. Implementations must be safe to
/// call from many threads; the pool never calls `save` and `load` for one id at once.
pub trait SessionStore: Send + Sync {
    /// The session's last saved snapshot, `None` if there is none.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the store cannot be read; [`Error::Corrupt`] when the snapshot
    /// is there but unreadable (it is left in place for the operator).
    fn load(&self, id: &str) -> Result<Option<TrajectorySnapshot>, Error>;

    /// Saves the session's snapshot durably, replacing the previous one: once this returns
    /// `Ok`, a crash does not lose it.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when it could not be saved (the previous one is still there).
    fn save(&self, id: &str, snapshot: &TrajectorySnapshot) -> Result<(), Error>;

    /// Forgets the session; whether it was there.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when it could not be removed.
    fn remove(&self, id: &str) -> Result<bool, Error>;
}

/// A folder with one `<id>.json` per session, each written atomically (a temporary file,
/// fsynced, renamed over the old one). Ids are checked by the pool, so they are safe file
/// names.
#[derive(Debug, Clone)]
pub struct DirStore {
    dir: PathBuf,
}

impl DirStore {
    /// Opens the folder, creating it if needed.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when it cannot be created.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, Error> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| store_error("", &dir, &e))?;
        Ok(Self { dir })
    }

    /// The folder.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of a session.
    #[must_use]
    pub fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// The ids of the sessions saved here, sorted.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the folder cannot be read.
    pub fn ids(&self) -> Result<Vec<String>, Error> {
        let entries = fs::read_dir(&self.dir).map_err(|e| store_error("", &self.dir, &e))?;
        let mut ids: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let id = name.strip_suffix(".json")?;
                crate::validate_id(id).ok().map(|()| id.to_owned())
            })
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }
}

fn store_error(id: &str, path: &Path, e: &std::io::Error) -> Error {
    Error::Store {
        id: id.to_owned(),
        message: format!("{}: {e}", path.display()),
    }
}

impl SessionStore for DirStore {
    fn load(&self, id: &str) -> Result<Option<TrajectorySnapshot>, Error> {
        let path = self.path(id);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(store_error(id, &path, &e)),
        };
        TrajectorySnapshot::from_json(&text)
            .map(Some)
            .map_err(|e| Error::Corrupt {
                id: id.to_owned(),
                reason: format!("{}: {e}", path.display()),
            })
    }

    fn save(&self, id: &str, snapshot: &TrajectorySnapshot) -> Result<(), Error> {
        let json = snapshot.to_json().map_err(|e| Error::Store {
            id: id.to_owned(),
            message: e.to_string(),
        })?;
        let path = self.path(id);
        let tmp = self.dir.join(format!("{id}.json.tmp"));
        let write = || -> std::io::Result<()> {
            let mut file = File::create(&tmp)?;
            file.write_all(json.as_bytes())?;
            file.sync_all()?;
            fs::rename(&tmp, &path)?;
            File::open(&self.dir)?.sync_all()
        };
        write().map_err(|e| store_error(id, &path, &e))
    }

    fn remove(&self, id: &str) -> Result<bool, Error> {
        let path = self.path(id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(store_error(id, &path, &e)),
        }
    }
}

/// A store in memory: for tests, and for hosts that want eviction to save memory without
/// keeping sessions across restarts.
#[derive(Debug, Default)]
pub struct MemoryStore {
    sessions: Mutex<HashMap<String, TrajectorySnapshot>>,
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sessions held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether it holds no session.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, TrajectorySnapshot>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SessionStore for MemoryStore {
    fn load(&self, id: &str) -> Result<Option<TrajectorySnapshot>, Error> {
        Ok(self.lock().get(id).cloned())
    }

    fn save(&self, id: &str, snapshot: &TrajectorySnapshot) -> Result<(), Error> {
        self.lock().insert(id.to_owned(), snapshot.clone());
        Ok(())
    }

    fn remove(&self, id: &str) -> Result<bool, Error> {
        Ok(self.lock().remove(id).is_some())
    }
}
