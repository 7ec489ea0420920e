//! State that survives restarts: the loop's snapshot, written atomically, and the history of
//! ended explorations as JSON Lines.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;

use creative_feedback_core::{HistoryRecord, Snapshot};

use crate::Error;

const SNAPSHOT: &str = "snapshot.json";
const PREVIOUS: &str = "snapshot.prev.json";
const HISTORY: &str = "history.jsonl";

/// A folder holding `snapshot.json` (the loop), `snapshot.prev.json` (the snapshot before it,
/// kept as a fallback) and `history.jsonl` (ended explorations, in `crefl pretrain`'s format).
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
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

    /// The saved snapshot, if any.
    ///
    /// # Errors
    ///
    /// [`Error::CorruptSnapshot`] when the file exists but is not a valid snapshot: the service
    /// must not silently start afresh and lose what was learned.
    pub fn load_snapshot(&self) -> Result<Option<Snapshot>, Error> {
        let path = self.snapshot_path();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, &e)),
        };
        Snapshot::from_json(&text).map(Some).map_err(|e| {
            let previous = self.previous_path();
            Error::CorruptSnapshot {
                path,
                reason: e.to_string(),
                previous: previous.exists().then_some(previous),
            }
        })
    }

    /// Writes the snapshot atomically: a temporary file, fsync, the current snapshot moved to
    /// `snapshot.prev.json`, then a rename into place and an fsync of the folder.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] for any filesystem failure (the previous files are left as they were).
    pub fn write_snapshot(&self, snapshot: &Snapshot) -> Result<(), Error> {
        let json = snapshot
            .to_json()
            .map_err(|e| Error::Snapshot(e.to_string()))?;
        let path = self.snapshot_path();
        let tmp = self.dir.join("snapshot.json.tmp");
        let mut file = File::create(&tmp).map_err(|e| Error::io(&tmp, &e))?;
        file.write_all(json.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io(&tmp, &e))?;
        drop(file);
        if path.exists() {
            fs::rename(&path, self.previous_path()).map_err(|e| Error::io(&path, &e))?;
        }
        fs::rename(&tmp, &path).map_err(|e| Error::io(&path, &e))?;
        if let Ok(dir) = File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// Reads the history file: counts the readable records, and reports a torn last line (it is
    /// skipped; the next append starts on a new line).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file exists but cannot be read.
    pub fn check_history(&self) -> Result<HistoryCheck, Error> {
        let path = self.history_path();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(HistoryCheck {
                    records: 0,
                    torn_last_line: false,
                })
            }
            Err(e) => return Err(Error::io(&path, &e)),
        };
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

/// A thread that writes snapshots and history lines, so requests never wait for the disk.
pub(crate) struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    pub(crate) fn start(dir: StateDir) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
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
                    if let Err(e) = dir.append_history(&lines) {
                        tracing::error!(target: "creative_feedback", error = %e, "cannot append to the history");
                    }
                }
                if let Some(s) = snapshot {
                    if let Err(e) = dir.write_snapshot(&s) {
                        tracing::error!(target: "creative_feedback", error = %e, "cannot write the snapshot");
                    }
                }
                if let Some(done) = stop {
                    let _ = done.send(());
                    return;
                }
            }
        });
        Self { tx }
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
