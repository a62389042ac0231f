//! Replacing a whole directory atomically: fill `DEST.tmp`, fsync it, move an existing
//! `DEST` aside to `DEST.old.tmp`, rename `DEST.tmp` to `DEST`, remove the old one, fsync
//! the parent. Leftover `*.tmp` siblings are the trace of a killed write; the next
//! replacement of the same destination removes them.

use super::atomic_file::{fsync_dir, parent_dir};
use super::kill_point::kill_point;
use std::io;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A filesystem operation failed on `path`.
#[derive(Debug, Error)]
#[error("{}: {source}", path.display())]
pub struct FsError {
    /// The file or directory the operation was on.
    pub path: PathBuf,
    /// What the operating system said.
    #[source]
    pub source: io::Error,
}

impl FsError {
    /// An error of an operation on `path`.
    pub fn new(path: impl Into<PathBuf>, source: io::Error) -> Self {
        FsError {
            path: path.into(),
            source,
        }
    }
}

/// `dest` with `suffix` appended to its last component (`step_000100` -> `step_000100.tmp`).
fn sibling(dest: &Path, suffix: &str) -> PathBuf {
    let mut s = dest.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

fn remove_if_present(dir: &Path) -> Result<(), FsError> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(FsError::new(dir, e)),
        _ => Ok(()),
    }
}

/// Build the directory `dest` atomically: `fill` writes the new contents into the fresh
/// temporary directory it is given (see the module docs); on its error the temporary
/// directory is removed and `dest` is left as it was. Only one writer may replace a given
/// `dest` at a time. The parent directory is created when missing.
pub fn replace_dir<E: From<FsError>>(
    dest: &Path,
    fill: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    let parent = parent_dir(dest);
    let fs = |p: &Path| {
        let p = p.to_path_buf();
        move |e| FsError::new(p, e)
    };
    std::fs::create_dir_all(parent).map_err(fs(parent))?;
    let tmp = sibling(dest, ".tmp");
    remove_if_present(&tmp)?;
    std::fs::create_dir(&tmp).map_err(fs(&tmp))?;
    kill_point("replace_dir.tmp_created");
    if let Err(e) = fill(&tmp) {
        // Best effort: the directory is incomplete either way, and the fill's error is
        // the one worth reporting.
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    kill_point("replace_dir.filled");
    fsync_dir(&tmp).map_err(fs(&tmp))?;
    if dest.exists() {
        let old = sibling(dest, ".old.tmp");
        remove_if_present(&old)?;
        std::fs::rename(dest, &old).map_err(fs(dest))?;
        kill_point("replace_dir.old_moved");
        std::fs::rename(&tmp, dest).map_err(fs(dest))?;
        kill_point("replace_dir.renamed");
        std::fs::remove_dir_all(&old).map_err(fs(&old))?;
        kill_point("replace_dir.old_removed");
    } else {
        std::fs::rename(&tmp, dest).map_err(fs(dest))?;
        kill_point("replace_dir.renamed");
    }
    fsync_dir(parent).map_err(fs(parent))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_directory_is_replaced_whole_and_a_failed_fill_leaves_the_old_one() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("art");
        let write = |text: &'static str| {
            move |d: &Path| -> Result<(), FsError> {
                std::fs::write(d.join("a"), text).map_err(|e| FsError::new(d, e))
            }
        };
        replace_dir(&dest, write("one")).unwrap();
        replace_dir(&dest, write("two")).unwrap();
        assert_eq!(std::fs::read_to_string(dest.join("a")).unwrap(), "two");
        let failed = replace_dir(&dest, |d: &Path| -> Result<(), FsError> {
            std::fs::write(d.join("a"), "half").unwrap();
            Err(FsError::new(d, io::Error::other("disk full")))
        });
        assert!(failed.unwrap_err().to_string().contains("disk full"));
        assert_eq!(std::fs::read_to_string(dest.join("a")).unwrap(), "two");
        assert_eq!(
            names(root.path()),
            ["art"],
            "no temporary directory is left"
        );
    }

    #[test]
    fn a_stale_temporary_directory_is_removed() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("ckpt");
        std::fs::create_dir(sibling(&dest, ".tmp")).unwrap();
        std::fs::write(sibling(&dest, ".tmp").join("junk"), "x").unwrap();
        replace_dir(&dest, |_: &Path| Ok::<(), FsError>(())).unwrap();
        assert_eq!(names(root.path()), ["ckpt"]);
        assert!(names(&dest).is_empty());
    }
}
