//! Crash-safe file writes: write to a temp file in the destination directory, fsync it,
//! rename it over the destination, fsync the directory.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use super::kill_point::kill_point;

/// A file being written atomically: it lives under a temporary name next to `dest` until
/// [`AtomicFile::commit`]; dropping it uncommitted deletes the temporary file.
pub struct AtomicFile {
    writer: BufWriter<NamedTempFile>,
    dest: PathBuf,
}

impl AtomicFile {
    /// Opens a temporary file in `dest`'s directory (same filesystem, so the final rename is
    /// atomic). The directory must exist.
    pub fn create(dest: &Path) -> io::Result<Self> {
        let dir = parent_dir(dest);
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".to_string());
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(dir)?;
        Ok(Self {
            writer: BufWriter::with_capacity(1 << 20, tmp),
            dest: dest.to_path_buf(),
        })
    }

    /// The final path the file will have after [`AtomicFile::commit`].
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// The temporary path being written now (for libraries that want a path, not a writer).
    pub fn temp_path(&self) -> &Path {
        self.writer.get_ref().path()
    }

    /// Direct access to the underlying file, e.g. to seek back and patch a header.
    /// Flushes buffered bytes first so the file and the buffer agree.
    pub fn file_mut(&mut self) -> io::Result<&mut File> {
        self.writer.flush()?;
        Ok(self.writer.get_mut().as_file_mut())
    }

    /// Flushes, fsyncs, renames over the destination and fsyncs the directory.
    pub fn commit(self) -> io::Result<()> {
        let tmp = self.writer.into_inner().map_err(|e| e.into_error())?;
        kill_point("atomic.written");
        tmp.as_file().sync_all()?;
        kill_point("atomic.synced");
        tmp.persist(&self.dest).map_err(|e| e.error)?;
        kill_point("atomic.renamed");
        fsync_dir(parent_dir(&self.dest))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

/// Writes `bytes` to `dest` atomically (temp file, fsync, rename, fsync directory).
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = AtomicFile::create(dest)?;
    file.write_all(bytes)?;
    file.commit()
}

/// Writes `bytes` to a new file `dest` and fsyncs it: for files inside a directory that
/// [`super::replace_dir`] renames into place as a whole (no rename per file needed).
pub fn write_synced(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create(dest)?;
    file.write_all(bytes)?;
    kill_point("synced.written");
    file.sync_all()
}

/// Fsyncs a directory so that renames and creations inside it survive a power loss.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The directory a path lives in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_file_has_content_and_no_temp_left() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a.txt");
        write_atomic(&dest, b"hello").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn dropped_file_leaves_old_content() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a.txt");
        write_atomic(&dest, b"old").unwrap();
        {
            let mut f = AtomicFile::create(&dest).unwrap();
            f.write_all(b"new but never committed").unwrap();
        }
        assert_eq!(std::fs::read(&dest).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
