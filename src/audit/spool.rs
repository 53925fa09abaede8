//! The spool: where audit events wait while the database is unreachable or the queue is full.
//!
//! Owns the files in `audit.spool_dir`: append-only segments `<seq>.seg` (one line per event,
//! `<crc32 hex> <json>`), and `<seq>.pos` (how far a segment has been replayed). Segments are
//! replayed oldest first, lines in order; a fully replayed segment is deleted. Nothing is
//! kept in memory, so the spool survives a restart: on open, every segment found is pending.
//! A torn last line (crash mid-write) fails its checksum and is skipped (counted as lost).
//! Replays may repeat a line after a crash; inserts are idempotent by event id, so a repeat
//! never becomes a second row.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::Rec;

/// A segment is closed once it grows past this size.
const SEGMENT_BYTES: u64 = 16 * 1024 * 1024;

/// The spool directory.
#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Segments not yet fully replayed, oldest first (the last may be `active`).
    segments: VecDeque<u64>,
    active: Option<Active>,
    next_seq: u64,
    /// Lines appended since the last fsync.
    dirty: bool,
    /// Rows appended and not yet replayed (approximate after a restart: counted lines).
    pending: u64,
}

#[derive(Debug)]
struct Active {
    seq: u64,
    file: File,
    len: u64,
}

/// Lines read from one segment, to be inserted and then [`Spool::commit`]ted.
#[derive(Debug)]
pub(crate) struct Chunk {
    seq: u64,
    end: u64,
    /// The events, in spool order.
    pub recs: Vec<Rec>,
    /// Lines that could not be read back (torn or corrupt).
    pub bad: u64,
}

fn seg_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.seg"))
}

fn pos_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.pos"))
}

fn read_pos(dir: &Path, seq: u64) -> u64 {
    std::fs::read_to_string(pos_path(dir, seq))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// One spool line for `rec` (with its trailing newline).
fn encode(rec: &Rec, out: &mut Vec<u8>) {
    // serde_json escapes every control character, so a line never contains a raw newline.
    let json = serde_json::to_vec(rec).unwrap_or_default();
    let crc = crc32fast::hash(&json);
    out.extend_from_slice(format!("{crc:08x} ").as_bytes());
    out.extend_from_slice(&json);
    out.push(b'\n');
}

fn decode(line: &str) -> Option<Rec> {
    let (crc, json) = line.split_once(' ')?;
    let crc = u32::from_str_radix(crc, 16).ok()?;
    if crc32fast::hash(json.as_bytes()) != crc {
        return None;
    }
    serde_json::from_str(json).ok()
}

impl Spool {
    /// Opens (creating) `dir` and finds the segments a previous run left.
    pub fn open(dir: &Path) -> io::Result<Spool> {
        std::fs::create_dir_all(dir)?;
        let mut seqs = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(seq) = name.strip_suffix(".seg").and_then(|s| s.parse::<u64>().ok()) {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable();
        let mut pending = 0;
        for &seq in &seqs {
            let mut f = BufReader::new(File::open(seg_path(dir, seq))?);
            f.seek(SeekFrom::Start(read_pos(dir, seq)))?;
            pending += f.lines().count() as u64;
        }
        let next_seq = seqs.last().map_or(1, |s| s + 1);
        Ok(Spool {
            dir: dir.to_path_buf(),
            inner: Mutex::new(Inner {
                segments: seqs.into(),
                active: None,
                next_seq,
                dirty: false,
                pending,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the files consistent (append-only).
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends `recs` in order; with `sync`, fsyncs before returning (a batch from the
    /// writer). Without, the writer's next tick fsyncs (an overflow from the request path,
    /// which must not wait for the disk).
    pub fn append(&self, recs: &[Rec], sync: bool) -> io::Result<()> {
        if recs.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(recs.len() * 400);
        for r in recs {
            encode(r, &mut buf);
        }
        let mut inner = self.lock();
        if inner.active.is_none() {
            let seq = inner.next_seq;
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(seg_path(&self.dir, seq))?;
            // Make the new file's directory entry durable too.
            File::open(&self.dir).and_then(|d| d.sync_all())?;
            inner.next_seq += 1;
            inner.segments.push_back(seq);
            inner.active = Some(Active { seq, file, len: 0 });
        }
        let active = inner.active.as_mut().expect("just opened");
        active.file.write_all(&buf)?;
        active.len += buf.len() as u64;
        let full = active.len >= SEGMENT_BYTES;
        if sync {
            active.file.sync_data()?;
        }
        inner.dirty = !sync;
        inner.pending += recs.len() as u64;
        if full {
            if let Some(a) = inner.active.take() {
                a.file.sync_data()?;
            }
            inner.dirty = false;
        }
        Ok(())
    }

    /// Fsyncs lines appended without `sync`.
    pub fn sync(&self) -> io::Result<()> {
        let mut inner = self.lock();
        if inner.dirty {
            if let Some(a) = &inner.active {
                a.file.sync_data()?;
            }
            inner.dirty = false;
        }
        Ok(())
    }

    /// Whether lines wait for an fsync.
    pub fn dirty(&self) -> bool {
        self.lock().dirty
    }

    /// Whether any event waits for replay.
    pub fn has_data(&self) -> bool {
        self.lock().pending > 0
    }

    /// Rows waiting (for tests and the log).
    pub fn pending(&self) -> u64 {
        self.lock().pending
    }

    /// Reads up to `max` events from the oldest segment, after its replay position. Closes
    /// the active segment first when it is the oldest (later appends start a new one), so
    /// only immutable files are read. `None` when the spool is empty.
    pub fn next_chunk(&self, max: usize) -> io::Result<Option<Chunk>> {
        loop {
            let seq = {
                let mut inner = self.lock();
                let Some(&seq) = inner.segments.front() else {
                    inner.pending = 0;
                    return Ok(None);
                };
                if inner.active.as_ref().is_some_and(|a| a.seq == seq) {
                    if let Some(a) = inner.active.take() {
                        a.file.sync_data()?;
                    }
                    inner.dirty = false;
                }
                seq
            };
            let start = read_pos(&self.dir, seq);
            let mut reader = BufReader::new(File::open(seg_path(&self.dir, seq))?);
            reader.seek(SeekFrom::Start(start))?;
            let mut chunk = Chunk { seq, end: start, recs: Vec::new(), bad: 0 };
            let mut line = String::new();
            while chunk.recs.len() < max {
                line.clear();
                let n = reader.read_line(&mut line)?;
                if n == 0 {
                    break;
                }
                chunk.end += n as u64;
                match decode(line.trim_end_matches('\n')) {
                    Some(r) => chunk.recs.push(r),
                    None => chunk.bad += 1,
                }
            }
            if chunk.recs.is_empty() && chunk.bad == 0 {
                // Fully replayed: forget it and look at the next one.
                self.remove(seq);
                continue;
            }
            return Ok(Some(chunk));
        }
    }

    /// Records that `chunk` is in the database.
    pub fn commit(&self, chunk: &Chunk) -> io::Result<()> {
        // Not fsynced: losing it only repeats lines, which the idempotent insert absorbs.
        std::fs::write(pos_path(&self.dir, chunk.seq), chunk.end.to_string())?;
        let mut inner = self.lock();
        inner.pending = inner.pending.saturating_sub(chunk.recs.len() as u64 + chunk.bad);
        Ok(())
    }

    fn remove(&self, seq: u64) {
        let mut inner = self.lock();
        if inner.segments.front() == Some(&seq) {
            inner.segments.pop_front();
        }
        drop(inner);
        let _ = std::fs::remove_file(seg_path(&self.dir, seq));
        let _ = std::fs::remove_file(pos_path(&self.dir, seq));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: u64) -> Rec {
        Rec {
            id: format!("id{i}"),
            ev: crate::audit::store::sample_event(i as i64, "alice", 200),
        }
    }

    fn drain(spool: &Spool) -> (Vec<String>, u64) {
        let mut ids = Vec::new();
        let mut bad = 0;
        for _ in 0..1000 {
            let Some(c) = spool.next_chunk(3).unwrap() else { break };
            ids.extend(c.recs.iter().map(|r| r.id.clone()));
            bad += c.bad;
            spool.commit(&c).unwrap();
        }
        (ids, bad)
    }

    #[test]
    fn replays_in_order_across_segments_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        spool.append(&(0..5).map(rec).collect::<Vec<_>>(), true).unwrap();
        let c = spool.next_chunk(2).unwrap().unwrap();
        assert_eq!(c.recs.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["id0", "id1"]);
        spool.commit(&c).unwrap();
        // Appends after a read go to a new segment; a restart sees both.
        spool.append(&[rec(5)], false).unwrap();
        spool.sync().unwrap();
        drop(spool);
        let spool = Spool::open(dir.path()).unwrap();
        assert_eq!(spool.pending(), 4);
        let (ids, bad) = drain(&spool);
        assert_eq!(ids, ["id2", "id3", "id4", "id5"]);
        assert_eq!(bad, 0);
        assert!(!spool.has_data());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "replayed segments are deleted");
    }

    #[test]
    fn a_torn_line_is_skipped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        spool.append(&[rec(1), rec(2)], true).unwrap();
        drop(spool);
        let seg = std::fs::read_dir(dir.path()).unwrap().next().unwrap().unwrap().path();
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(b"0badc0de {\"id\":\"torn").unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let (ids, bad) = drain(&spool);
        assert_eq!(ids, ["id1", "id2"]);
        assert_eq!(bad, 1);
    }
}
