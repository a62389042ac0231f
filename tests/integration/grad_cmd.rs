//! `llc-train grad` without Python: the gradients it writes (Hugging Face names and
//! layout) are the derivative of the loss of the Hugging Face weights it reads, checked by
//! a central difference along the gradient itself; and bad inputs fail cleanly.

use crate::common::*;
use llc_trainer::checkpoint::{NamedTensor, from_hf, read_safetensors};
use std::path::Path;

/// Runs `grad` and returns the written tensors by name.
fn grad(
    hf_dir: &Path,
    tokens: &Path,
    b: usize,
    t: usize,
    out: &Path,
    f64: bool,
) -> Vec<NamedTensor> {
    let (b, t) = (b.to_string(), t.to_string());
    let mut args = vec![
        "grad",
        "--hf-dir",
        s(hf_dir),
        "--tokens",
        s(tokens),
        "--batch",
        &b,
        "--seq",
        &t,
        "--out",
        s(out),
    ];
    if f64 {
        args.push("--f64");
    }
    llc_train_ok(&args);
    read_safetensors(out).unwrap().tensors
}

fn loss_of(tensors: &[NamedTensor]) -> f64 {
    let l = tensors.iter().find(|t| t.name == "loss").unwrap();
    assert!(l.shape.is_empty(), "loss must be 0-d, got {:?}", l.shape);
    l.data[0] as f64
}

#[test]
fn hf_layout_gradients_are_the_derivative_of_the_hf_weights() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(48);
    let w = random_weights(&cfg, 11);
    let hf_dir = dir.path().join("hf");
    write_hf_dir(&hf_dir, &cfg, &w);
    let (b, t) = (2, 6);
    let tokens = dir.path().join("tokens.bin");
    write_tokens(&tokens, &random_ids(b * (t + 1), 48, 12));

    let out = dir.path().join("grads.safetensors");
    let g = grad(&hf_dir, &tokens, b, t, &out, true);
    let names: Vec<&str> = g.iter().map(|t| t.name.as_str()).collect();
    assert!(names.contains(&"loss"), "{names:?}");
    assert!(
        names.contains(&"model.layers.1.self_attn.q_proj.weight"),
        "{names:?}"
    );
    assert!(names.contains(&"lm_head.weight"), "{names:?}");
    assert_eq!(g.len(), 1 + w.len());

    // f32 agrees with f64.
    let g32 = grad(
        &hf_dir,
        &tokens,
        b,
        t,
        &dir.path().join("g32.safetensors"),
        false,
    );
    assert!((loss_of(&g32) - loss_of(&g)).abs() < 1e-5);
    assert_eq!(g32.len(), g.len());
    for a in g32.iter().filter(|t| t.name != "loss") {
        let b = g.iter().find(|t| t.name == a.name).unwrap();
        assert!(rel_err(&a.data, &b.data) < 1e-4, "{}", a.name);
    }

    // Move the HF weights along +-eps * d and difference the losses, where d is the
    // gradient restricted to a set of tensors: (L+ - L-) / (2 eps) must equal |d|². Done
    // for all tensors and for the q/k projections alone, where a gradient in the wrong
    // layout (rows not permuted like the weights) would be far off.
    let hf_weights = llc_trainer::checkpoint::to_hf(&w, &cfg).unwrap();
    type Selection = (&'static str, fn(&str) -> bool);
    let selections: [Selection; 2] = [
        ("all", |_| true),
        ("q/k", |n| n.contains("q_proj") || n.contains("k_proj")),
    ];
    for (what, selected) in selections {
        let direction = |name: &str| -> Vec<f64> {
            let gp = g.iter().find(|t| t.name == name).unwrap();
            let keep = if selected(name) { 1.0 } else { 0.0 };
            gp.data.iter().map(|&v| keep * v as f64).collect()
        };
        let sq_norm: f64 = hf_weights
            .iter()
            .flat_map(|p| direction(&p.name))
            .map(|v| v * v)
            .sum();
        let eps = 1e-3 / sq_norm.sqrt();
        let mut losses = vec![];
        for sign in [1.0, -1.0] {
            let moved: Vec<NamedTensor> = hf_weights
                .iter()
                .map(|p| {
                    let data = p
                        .data
                        .iter()
                        .zip(direction(&p.name))
                        .map(|(&x, d)| (x as f64 + sign * eps * d) as f32)
                        .collect();
                    NamedTensor::new(p.name.clone(), p.shape.clone(), data).unwrap()
                })
                .collect();
            let moved_dir = dir.path().join(format!("moved{sign}"));
            write_hf_dir(&moved_dir, &cfg, &from_hf(moved, &cfg).unwrap());
            let out = dir.path().join(format!("l{sign}.safetensors"));
            losses.push(loss_of(&grad(&moved_dir, &tokens, b, t, &out, true)));
        }
        let directional = (losses[0] - losses[1]) / (2.0 * eps);
        let rel = (directional - sq_norm).abs() / sq_norm;
        eprintln!("{what}: directional derivative {directional:.6e} vs |d|² {sq_norm:.6e}");
        // The moved weights are stored as f32, which rounds the step a little.
        assert!(
            rel < 1e-3,
            "{what}: directional derivative {directional} vs |d|² {sq_norm} (rel {rel})"
        );
    }
}

#[test]
fn grad_rejects_bad_inputs_without_writing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(32);
    let hf_dir = dir.path().join("hf");
    write_hf_dir(&hf_dir, &cfg, &random_weights(&cfg, 1));
    let tokens = dir.path().join("tokens.bin");
    write_tokens(&tokens, &random_ids(2 * 5, 32, 2));
    let out = dir.path().join("grads.safetensors");
    let run = |hf: &Path, tok: &Path, b: &str, t: &str| {
        let e = llc_train_err(&[
            "grad",
            "--hf-dir",
            s(hf),
            "--tokens",
            s(tok),
            "--batch",
            b,
            "--seq",
            t,
            "--out",
            s(&out),
        ]);
        assert!(!out.exists(), "a failed run left {}", out.display());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("grads"))
            .collect();
        assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
        e
    };

    let e = run(&dir.path().join("missing"), &tokens, "2", "4");
    assert!(e.contains("does not exist") && e.contains("missing"), "{e}");
    let e = run(&hf_dir, &dir.path().join("none.bin"), "2", "4");
    assert!(e.contains("none.bin"), "{e}");
    // 10 tokens hold 2 rows of 4 + 1; 2 rows of 5 + 1 need 12.
    let e = run(&hf_dir, &tokens, "2", "5");
    assert!(e.contains("holds 10 tokens") && e.contains("= 12"), "{e}");
    let e = run(&hf_dir, &tokens, "0", "4");
    assert!(e.contains("positive"), "{e}");
    // Size flags whose product overflows (or passes i32) are refused before any use.
    let max = usize::MAX.to_string();
    for (b, t) in [
        ("2", max.as_str()),
        (max.as_str(), "4"),
        ("1099511627776", "4"),
    ] {
        let e = run(&hf_dir, &tokens, b, t);
        assert!(
            e.contains(&format!("--batch {b} --seq {t}")) && e.contains("exceeds the limit"),
            "{e}"
        );
    }

    let mut ids = random_ids(2 * 5, 32, 2);
    ids[7] = 32;
    let bad = dir.path().join("bad.bin");
    write_tokens(&bad, &ids);
    let e = run(&hf_dir, &bad, "2", "4");
    assert!(
        e.contains("token 32 at index 7 (row 1, column 2") && e.contains("0..32"),
        "{e}"
    );
    std::fs::write(&bad, [0u8; 7]).unwrap();
    let e = run(&hf_dir, &bad, "2", "4");
    assert!(e.contains("7 bytes"), "{e}");

    // A sequence longer than the model's context.
    write_tokens(&bad, &random_ids(66, 32, 3));
    let e = run(&hf_dir, &bad, "1", "65");
    assert!(e.contains("max_seq_len"), "{e}");

    // A weight file whose tensor has the wrong shape.
    let broken = dir.path().join("broken");
    let mut small = tiny_config(32);
    small.ffn_dim = 40;
    write_hf_dir(&broken, &small, &random_weights(&small, 1));
    std::fs::write(broken.join("config.json"), cfg.to_hf_config_json()).unwrap();
    let e = run(&broken, &tokens, "2", "4");
    assert!(
        e.contains("shape mismatch for layers.0.feed_forward") && e.contains("40"),
        "{e}"
    );

    // The output directory must exist.
    let e = llc_train_err(&[
        "grad",
        "--hf-dir",
        s(&hf_dir),
        "--tokens",
        s(&tokens),
        "--batch",
        "2",
        "--seq",
        "4",
        "--out",
        s(&dir.path().join("no/such/dir/g.safetensors")),
    ]);
    assert!(e.contains("does not exist"), "{e}");
}
