//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `llc-train` binary cargo built for these tests.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_llc-train"))
}

/// Run `llc-train` with `args`, returning its output (whatever the exit status).
pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("llc-train runs")
}

/// Run and require success, returning stdout + stderr.
pub fn run_ok(args: &[&str]) -> String {
    let out = run(args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "llc-train {args:?} failed:\n{text}");
    text
}

/// A small text corpus: Debian's fortunes when installed, otherwise generated text, so the
/// tests run anywhere (the README's demo needs the package; these tests don't).
pub fn corpus(dir: &Path) -> PathBuf {
    let fortunes = Path::new("/usr/share/games/fortunes/fortunes");
    if fortunes.is_file() {
        return fortunes.to_path_buf();
    }
    let path = dir.join("corpus.txt");
    let mut text = String::new();
    for i in 0..4000 {
        text.push_str(&format!(
            "the quick brown fox {} jumps over the lazy dog {}\n%\n",
            i % 17,
            i % 5
        ));
    }
    std::fs::write(&path, text).expect("write corpus");
    path
}

/// Per-step `(loss, grad_norm, lr)` of a metrics log, in step order.
pub fn losses(metrics: &Path) -> Vec<(u64, f64, f64, f64)> {
    std::fs::read_to_string(metrics)
        .expect("metrics log")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json line");
            (
                v["step"].as_u64().unwrap(),
                v["loss"].as_f64().unwrap(),
                v["grad_norm"].as_f64().unwrap(),
                v["lr"].as_f64().unwrap(),
            )
        })
        .collect()
}
