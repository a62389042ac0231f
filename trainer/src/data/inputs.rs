//! Turning the paths a user names into the text files to read.

use super::error::{DataError, DataResult};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Files named directly are taken as they are. A directory stands for the text files in
/// it (not recursive): regular files, not symbolic links (which often alias a sibling, as
/// fortune's `*.u8`), in name order, skipping binary files (a NUL byte in the first 8 KiB,
/// like fortune's `*.dat` indexes). A missing path or a directory with no text file is an
/// error that names it.
pub fn expand_text_inputs(paths: &[PathBuf]) -> DataResult<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| DataError::Io {
            path: p.clone(),
            source: e,
        })?;
        if !meta.is_dir() {
            out.push(p.clone());
            continue;
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|e| DataError::Io {
                path: p.clone(),
                source: e,
            })?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
            .map(|e| e.path())
            .filter(|f| looks_like_text(f))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(DataError::InvalidOption(format!(
                "{}: no text files in this directory",
                p.display()
            )));
        }
        out.extend(files);
    }
    Ok(out)
}

fn looks_like_text(path: &Path) -> bool {
    let mut buf = [0u8; 8192];
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let n = f.read(&mut buf).unwrap_or(0);
    !buf[..n].contains(&0)
}
