//! State that survives restarts: the loop's snapshot, written atomically, and the history of
//! ended explorations as JSON Lines.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread;

use creative_feedback_core::{HistoryRecord, Snapshot};

use crate::Error;

const SNAPSHOT: &str = "snapshot.json";
const PREVIOUS: &str = "snapshot.prev.json";
const HISTORY: &str = "history.jsonl";
const LAYOUT: &str = "layout.json";
const SESSIONS: &str = "sessions";

/// The layout this version writes: 1 was a single loop (`snapshot.json`, `history.jsonl`);
/// 2 adds `sessions/` and `layout.json`, and reads a layout-1 folder as it stands.
pub const LAYOUT_VERSION: u32 = 2;

/// A folder holding `layout.json` (its layout version), `snapshot.json` (the shared learning
/// with the session `default`, as one loop), `snapshot.prev.json` (the snapshot before it,
/// kept as a fallback), `sessions/<id>.json` (every other session's trajectory) and
/// `history.jsonl` (ended explorations of all sessions, in `crefl pretrain`'s format).
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

/// What start-up found in the state folder.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The snapshot to resume from.
    pub snapshot: Option<Snapshot>,
    /// The file it came from.
    pub from: Option<PathBuf>,
    /// Snapshot files not used, and why (damaged, another format, or older).
    pub passed_over: Vec<(PathBuf, String)>,
    /// Files moved aside by a fresh start.
    pub discarded: Vec<PathBuf>,
}

fn read_snapshot(bytes: &[u8]) -> Result<Snapshot, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())?;
    let snapshot = Snapshot::from_json(text).map_err(|e| e.to_string())?;
    if snapshot.format() == Snapshot::FORMAT {
        Ok(snapshot)
    } else {
        Err(format!(
            "snapshot format {}, but this version reads format {}",
            snapshot.format(),
            Snapshot::FORMAT
        ))
    }
}

/// What the history file held at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryCheck {
    /// Readable records.
    pub records: usize,
    /// Whether the last line was torn (cut short by a crash) and skipped.
    pub torn_last_line: bool,
}

impl StateDir {
    /// Opens (creating it if needed) the state folder.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the folder cannot be created.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, &e))?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    /// The store of the sessions other than `default`: `sessions/<id>.json`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the folder cannot be created.
    pub fn session_store(&self) -> Result<creative_feedback_sessions::DirStore, Error> {
        let dir = self.dir.join(SESSIONS);
        creative_feedback_sessions::DirStore::open(&dir).map_err(|e| Error::Io {
            path: dir.display().to_string(),
            message: e.to_string(),
        })
    }

    /// Checks `layout.json` and writes it if absent (a layout-1 folder is upgraded in place:
    /// its files are already what layout 2 reads).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when it cannot be read or written; [`Error::Layout`] for a folder
    /// written by a newer version.
    pub fn write_layout(&self) -> Result<(), Error> {
        let path = self.dir.join(LAYOUT);
        match fs::read_to_string(&path) {
            Ok(text) => {
                let version = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v.get("layout").and_then(serde_json::Value::as_u64));
                match version {
                    Some(v) if v <= u64::from(LAYOUT_VERSION) => Ok(()),
                    _ => Err(Error::Layout {
                        path,
                        found: text.chars().take(200).collect(),
                    }),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let text = format!(
                    "{{\"layout\": {LAYOUT_VERSION}, \"snapshot\": \"{SNAPSHOT}\", \"sessions\": \"{SESSIONS}/\", \"history\": \"{HISTORY}\"}}\n"
                );
                let tmp = self.dir.join("layout.json.tmp");
                fs::write(&tmp, text)
                    .and_then(|()| fs::rename(&tmp, &path))
                    .map_err(|e| Error::io(&path, &e))
            }
            Err(e) => Err(Error::io(&path, &e)),
        }
    }

    /// The snapshot file.
    #[must_use]
    pub fn snapshot_path(&self) -> PathBuf {
        self.dir.join(SNAPSHOT)
    }

    /// The previous snapshot, kept beside it.
    #[must_use]
    pub fn previous_path(&self) -> PathBuf {
        self.dir.join(PREVIOUS)
    }

    /// The history file.
    #[must_use]
    pub fn history_path(&self) -> PathBuf {
        self.dir.join(HISTORY)
    }

    /// The newest valid snapshot among `snapshot.json`, a complete `snapshot.json.tmp` left by
    /// a crash just before its rename, and `snapshot.prev.json`, with what was passed over.
    ///
    /// # Errors
    ///
    /// [`Error::CorruptSnapshot`] when snapshot files exist but none is valid: the service
    /// must not silently start afresh and lose what was learned (`fresh` moves them aside
    /// instead, and starts a new loop).
    pub fn load_snapshot(&self, fresh: bool) -> Result<Loaded, Error> {
        let mut loaded = Loaded::default();
        let mut best: Option<(PathBuf, Snapshot)> = None;
        for path in [self.snapshot_path(), self.tmp_path(), self.previous_path()] {
            let read = match fs::read(&path) {
                Ok(bytes) => read_snapshot(&bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => Err(format!("cannot be read: {e}")),
            };
            match read {
                Ok(s) if best.as_ref().is_none_or(|(_, b)| s.steps() > b.steps()) => {
                    if let Some((p, b)) = best.replace((path, s)) {
                        loaded
                            .passed_over
                            .push((p, format!("older (step {})", b.steps())));
                    }
                }
                Ok(s) => loaded
                    .passed_over
                    .push((path, format!("older (step {})", s.steps()))),
                Err(reason) => loaded.passed_over.push((path, reason)),
            }
        }
        if fresh {
            for (path, _) in loaded
                .passed_over
                .drain(..)
                .chain(best.take().map(|(p, _)| (p, String::new())))
            {
                let aside = path.with_extension("json.discarded");
                fs::rename(&path, &aside).map_err(|e| Error::io(&path, &e))?;
                loaded.discarded.push(aside);
            }
            return Ok(loaded);
        }
        match best {
            Some((path, snapshot)) => {
                loaded.snapshot = Some(snapshot);
                loaded.from = Some(path);
                Ok(loaded)
            }
            None if loaded.passed_over.is_empty() => Ok(loaded),
            None => Err(Error::CorruptSnapshot {
                files: loaded.passed_over,
            }),
        }
    }

    fn tmp_path(&self) -> PathBuf {
        self.dir.join("snapshot.json.tmp")
    }

    /// Writes the snapshot durably, so that a crash at any moment leaves `snapshot.json` (old
    /// or new) in place: a temporary file is written and fsynced, the current snapshot is
    /// linked (or copied) to `snapshot.prev.json`, the temporary file is renamed over
    /// `snapshot.json`, and the folder is fsynced.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] for any filesystem failure (`snapshot.json` is then the previous one).
    pub fn write_snapshot(&self, snapshot: &Snapshot) -> Result<(), Error> {
        let json = snapshot
            .to_json()
            .map_err(|e| Error::Snapshot(e.to_string()))?;
        let path = self.snapshot_path();
        let tmp = self.tmp_path();
        let mut file = File::create(&tmp).map_err(|e| Error::io(&tmp, &e))?;
        file.write_all(json.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io(&tmp, &e))?;
        drop(file);
        if path.exists() {
            let previous = self.previous_path();
            let linking = self.dir.join("snapshot.prev.json.tmp");
            let _ = fs::remove_file(&linking);
            fs::hard_link(&path, &linking)
                .or_else(|_| fs::copy(&path, &linking).map(drop))
                .and_then(|()| fs::rename(&linking, &previous))
                .map_err(|e| Error::io(&previous, &e))?;
        }
        fs::rename(&tmp, &path).map_err(|e| Error::io(&path, &e))?;
        File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| Error::io(&self.dir, &e))
    }

    /// Reads the history file: counts the readable records, and reports a torn last line (it is
    /// skipped; the next append starts on a new line).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file exists but cannot be read.
    pub fn check_history(&self) -> Result<HistoryCheck, Error> {
        let path = self.history_path();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(HistoryCheck {
                    records: 0,
                    torn_last_line: false,
                })
            }
            Err(e) => return Err(Error::io(&path, &e)),
        };
        // A damaged line (not UTF-8, not a record) is skipped, not a reason to refuse to start:
        // the history is a log for pre-training, not the loop's state.
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let readable = lines
            .iter()
            .filter(|l| HistoryRecord::from_json(l).is_ok())
            .count();
        let torn = !text.is_empty()
            && (!text.ends_with('\n')
                || lines
                    .last()
                    .is_some_and(|l| HistoryRecord::from_json(l).is_err()));
        Ok(HistoryCheck {
            records: readable,
            torn_last_line: torn,
        })
    }

    /// Appends lines to the history, starting on a new line if the file ends mid-line.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] for any filesystem failure.
    pub fn append_history(&self, lines: &[String]) -> Result<(), Error> {
        let path = self.history_path();
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, &e))?;
        let len = file.metadata().map_err(|e| Error::io(&path, &e))?.len();
        let mut text = String::new();
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1))
                .and_then(|_| file.read_exact(&mut last))
                .map_err(|e| Error::io(&path, &e))?;
            if last[0] != b'\n' {
                text.push('\n');
            }
        }
        for line in lines {
            text.push_str(line);
            text.push('\n');
        }
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|e| Error::io(&path, &e))
    }
}

/// Work for the background writer.
pub(crate) enum Job {
    Snapshot(Box<Snapshot>),
    History(String),
    Stop(mpsc::Sender<()>),
}

/// How persistence is going, shared between the writer and whoever reports on it.
#[derive(Debug, Default)]
pub struct PersistStatus {
    errors: AtomicU64,
    /// The last failure, cleared by the next successful write of the same kind.
    failing: Mutex<Option<String>>,
    /// Steps of the last snapshot written to disk (0 before the first).
    saved_steps: AtomicU64,
    snapshots_written: AtomicU64,
}

impl PersistStatus {
    /// Failed writes so far (snapshots and history appends).
    #[must_use]
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Why the last write failed, while it keeps failing.
    #[must_use]
    pub fn failing(&self) -> Option<String> {
        self.failing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The step of the last snapshot on disk, if one was written by this process.
    #[must_use]
    pub fn saved_steps(&self) -> Option<u64> {
        (self.snapshots_written.load(Ordering::Relaxed) > 0)
            .then(|| self.saved_steps.load(Ordering::Relaxed))
    }

    fn record(&self, what: &str, result: Result<(), Error>) -> bool {
        let mut failing = self.failing.lock().unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok(()) => {
                *failing = None;
                true
            }
            Err(e) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                let message = format!("cannot {what}: {e}");
                // `crefl serve` always installs a log on stderr, so this reaches the operator.
                tracing::error!(target: "creative_feedback", "{message}");
                *failing = Some(message);
                false
            }
        }
    }
}

/// A thread that writes snapshots and history lines, so requests never wait for the disk.
pub(crate) struct Writer {
    tx: mpsc::Sender<Job>,
    status: Arc<PersistStatus>,
}

impl Writer {
    pub(crate) fn start(dir: StateDir) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let status = Arc::new(PersistStatus::default());
        let shared = Arc::clone(&status);
        thread::spawn(move || {
            while let Ok(job) = rx.recv() {
                // Coalesce: only the newest queued snapshot matters.
                let mut snapshot = None;
                let mut lines = Vec::new();
                let mut stop = None;
                let mut take = |job: Job| match job {
                    Job::Snapshot(s) => snapshot = Some(s),
                    Job::History(line) => lines.push(line),
                    Job::Stop(done) => stop = Some(done),
                };
                take(job);
                while let Ok(more) = rx.try_recv() {
                    take(more);
                }
                if !lines.is_empty() {
                    shared.record("append to the history", dir.append_history(&lines));
                }
                if let Some(s) = snapshot {
                    if shared.record("write the snapshot", dir.write_snapshot(&s)) {
                        shared.saved_steps.store(s.steps(), Ordering::Relaxed);
                        shared.snapshots_written.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if let Some(done) = stop {
                    let _ = done.send(());
                    return;
                }
            }
        });
        Self { tx, status }
    }

    pub(crate) fn status(&self) -> &Arc<PersistStatus> {
        &self.status
    }

    pub(crate) fn send(&self, job: Job) {
        let _ = self.tx.send(job);
    }

    /// Writes everything queued, then stops.
    pub(crate) fn finish(&self) {
        let (done, wait) = mpsc::channel();
        if self.tx.send(Job::Stop(done)).is_ok() {
            let _ = wait.recv();
        }
    }
}
