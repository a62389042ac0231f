//! Checkpoint directories: full save/load round trip (HF-layout model, optimizer moments,
//! trainer state with loader position and RNG), keep-last-K, the `latest` pointer, crash
//! leftovers, and validation errors on load.

use std::path::Path;

use llc_trainer::checkpoint::manager::{LATEST_FILE, step_dir_name};
use llc_trainer::checkpoint::{
    Checkpoint, CheckpointManager, NamedTensor, OptimizerState, ParamSpec, TrainerState,
    load_checkpoint, load_hf_model_dir, param_specs, read_model_config, read_safetensors,
};
use llc_trainer::data::{BatchLoader, LoaderConfig, ShardSetWriter, TokenDataset, TokenWidth};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

const CONFIG: &str = r#"{"model_type": "llama", "vocab_size": 7, "hidden_size": 8,
 "intermediate_size": 6, "num_hidden_layers": 1, "num_attention_heads": 2,
 "num_key_value_heads": 1, "torch_dtype": "float32"}"#;

fn spec() -> Vec<ParamSpec> {
    param_specs(&read_model_config(CONFIG, Path::new("config.json")).unwrap())
}

fn tensors(seed: f32) -> Vec<NamedTensor> {
    spec()
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let n: usize = s.shape.iter().product();
            let data = (0..n)
                .map(|j| seed + i as f32 * 0.5 + j as f32 * 0.01)
                .collect();
            NamedTensor::new(s.name, s.shape, data).unwrap()
        })
        .collect()
}

fn checkpoint(step: u64) -> Checkpoint {
    let mut state = TrainerState::new(step);
    state.tokens_seen = step * 64;
    Checkpoint {
        params: tensors(step as f32),
        optimizer: Some(OptimizerState {
            m: tensors(-1.0),
            v: tensors(2.0),
        }),
        config_json: CONFIG.to_string(),
        state,
    }
}

#[test]
fn save_and_load_round_trip_everything() {
    let root = tempfile::tempdir().unwrap();
    // A real loader position and RNG state travel through trainer_state.json.
    let data = tempfile::tempdir().unwrap();
    let mut w = ShardSetWriter::new(data.path(), "train", TokenWidth::U16, 1000, false).unwrap();
    w.push(&(0..500).collect::<Vec<u32>>(), None).unwrap();
    w.finish().unwrap();
    let cfg = LoaderConfig {
        batch_size: 2,
        seq_len: 4,
        seed: 3,
        shuffle: true,
        vocab_limit: None,
    };
    let mut loader = BatchLoader::new(
        TokenDataset::open_split(data.path(), "train").unwrap(),
        cfg.clone(),
    )
    .unwrap();
    for _ in 0..5 {
        loader.next_batch().unwrap();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    rng.next_u64();

    let mut ckpt = checkpoint(100);
    ckpt.state.train_loader = Some(loader.position());
    ckpt.state.rng = Some(rng.clone());
    ckpt.state.metrics_path = Some("runs/a/metrics.jsonl".into());
    ckpt.state.extra.insert("lr".into(), 3e-4.into());

    let mgr = CheckpointManager::new(root.path(), 3).unwrap();
    let dir = mgr.save(&ckpt).unwrap();
    assert_eq!(dir, root.path().join("step_000100"));
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "config.json",
            "model.safetensors",
            "optimizer.safetensors",
            "trainer_state.json"
        ]
    );
    assert_eq!(
        std::fs::read_to_string(root.path().join(LATEST_FILE)).unwrap(),
        "step_000100\n"
    );

    // model.safetensors is in Hugging Face naming with format=pt, loadable as an HF dir.
    let model = read_safetensors(&dir.join("model.safetensors")).unwrap();
    assert_eq!(model.metadata.get("format").map(String::as_str), Some("pt"));
    assert!(
        model
            .tensors
            .iter()
            .any(|t| t.name == "model.layers.0.self_attn.q_proj.weight")
    );
    let as_hf = load_hf_model_dir(&dir).unwrap();
    assert_eq!(as_hf.params, ckpt.params);

    let (loaded_dir, loaded) = load_checkpoint(root.path(), &spec()).unwrap();
    assert_eq!(loaded_dir, dir);
    assert_eq!(loaded, ckpt);

    // The restored loader and RNG continue exactly.
    let mut resumed =
        BatchLoader::new(TokenDataset::open_split(data.path(), "train").unwrap(), cfg).unwrap();
    resumed
        .seek(loaded.state.train_loader.as_ref().unwrap())
        .unwrap();
    assert_eq!(resumed.next_batch().unwrap(), loader.next_batch().unwrap());
    assert_eq!(loaded.state.rng.unwrap().next_u64(), rng.next_u64());
}

#[test]
fn keeps_last_k_and_points_latest_at_newest() {
    let root = tempfile::tempdir().unwrap();
    let mgr = CheckpointManager::new(root.path(), 2).unwrap();
    for step in [10, 20, 30, 40] {
        mgr.save(&checkpoint(step)).unwrap();
    }
    let steps: Vec<u64> = mgr.list().unwrap().into_iter().map(|(s, _)| s).collect();
    assert_eq!(steps, [30, 40]);
    assert_eq!(
        mgr.latest().unwrap().unwrap(),
        root.path().join("step_000040")
    );
    let (_, c) = load_checkpoint(root.path(), &spec()).unwrap();
    assert_eq!(c.state.step, 40);
    // Re-saving an existing step replaces it.
    let mut again = checkpoint(40);
    again.state.tokens_seen = 1;
    mgr.save(&again).unwrap();
    let (_, c) = load_checkpoint(root.path(), &spec()).unwrap();
    assert_eq!(c.state.tokens_seen, 1);
    assert_eq!(mgr.list().unwrap().len(), 2);
}

#[test]
fn interrupted_save_never_looks_complete() {
    let root = tempfile::tempdir().unwrap();
    let mgr = CheckpointManager::new(root.path(), 5).unwrap();
    mgr.save(&checkpoint(1)).unwrap();
    // Simulate SIGKILL mid-save of step 2: a half-written tmp dir and no pointer update.
    let tmp = root.path().join(format!("{}.tmp", step_dir_name(2)));
    std::fs::create_dir(&tmp).unwrap();
    std::fs::write(tmp.join("config.json"), CONFIG).unwrap();
    assert_eq!(mgr.list().unwrap().len(), 1);
    let (dir, c) = load_checkpoint(root.path(), &spec()).unwrap();
    assert_eq!(
        (dir.file_name().unwrap().to_str().unwrap(), c.state.step),
        ("step_000001", 1)
    );
    // Killed after the rename but before `latest` was written: the pointer still names a
    // complete older checkpoint; with no pointer at all the highest step wins.
    std::fs::remove_file(root.path().join(LATEST_FILE)).unwrap();
    assert_eq!(
        mgr.latest().unwrap().unwrap(),
        root.path().join("step_000001")
    );
    // The next save cleans the leftover.
    mgr.save(&checkpoint(3)).unwrap();
    assert!(!tmp.exists());
}

#[test]
fn dangling_latest_and_empty_root_are_errors() {
    let root = tempfile::tempdir().unwrap();
    let err = load_checkpoint(root.path(), &spec())
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("no checkpoint found in"), "{err}");
    std::fs::write(root.path().join(LATEST_FILE), "step_000009\n").unwrap();
    let err = load_checkpoint(root.path(), &spec())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("points to step_000009, which is not a complete checkpoint"),
        "{err}"
    );
    assert!(CheckpointManager::new(root.path(), 0).is_err());
}

#[test]
fn load_validates_model_and_optimizer_against_spec() {
    let root = tempfile::tempdir().unwrap();
    let mgr = CheckpointManager::new(root.path(), 1).unwrap();
    let dir = mgr.save(&checkpoint(5)).unwrap();

    // A model whose FFN is wider than the checkpoint's.
    let mut wider = spec();
    for s in wider
        .iter_mut()
        .filter(|s| s.name.contains("feed_forward.w1"))
    {
        s.shape = vec![7, 8];
    }
    let err = load_checkpoint(&dir, &wider).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}: shape mismatch for layers.0.feed_forward.w1.weight: file has [6, 8] expected [7, 8]",
            dir.join("model.safetensors").display()
        )
    );

    // An extra parameter the checkpoint lacks.
    let mut more = spec();
    more.push(ParamSpec::new("layers.1.ffn_norm.weight", vec![8]));
    let err = load_checkpoint(&dir, &more).unwrap_err().to_string();
    assert!(
        err.ends_with("model.safetensors: missing tensor layers.1.ffn_norm.weight"),
        "{err}"
    );

    // An optimizer moment with the wrong shape is named with its prefix.
    let mut bad = checkpoint(6);
    let opt = bad.optimizer.as_mut().unwrap();
    opt.v[0] = NamedTensor::new(opt.v[0].name.clone(), vec![56], opt.v[0].data.clone()).unwrap();
    let dir6 = mgr.save(&bad).unwrap();
    let err = load_checkpoint(&dir6, &spec()).unwrap_err().to_string();
    assert!(
        err.contains("optimizer.safetensors: shape mismatch for v.tok_embeddings.weight: file has [56] expected [7, 8]"),
        "{err}"
    );

    // A corrupt trainer state.
    let dir7 = mgr.save(&checkpoint(7)).unwrap();
    std::fs::write(dir7.join("trainer_state.json"), "{\"step\": 1").unwrap();
    let err = load_checkpoint(&dir7, &spec()).unwrap_err().to_string();
    assert!(
        err.contains("trainer_state.json: invalid trainer state"),
        "{err}"
    );

    // A truncated model file.
    let dir8 = mgr.save(&checkpoint(8)).unwrap();
    let model = dir8.join("model.safetensors");
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() - 10]).unwrap();
    let err = load_checkpoint(&dir8, &spec()).unwrap_err().to_string();
    assert!(
        err.contains("model.safetensors: invalid safetensors"),
        "{err}"
    );
}

#[test]
fn newer_trainer_state_version_is_refused() {
    let mut s = TrainerState::new(1);
    s.format_version = 99;
    let err = TrainerState::from_json(&s.to_json(), Path::new("t.json"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("format_version 99"), "{err}");
}

/// A model big enough (about 6 MB of parameters) that a kill often lands mid-write.
const BIG_CONFIG: &str = r#"{"model_type": "llama", "vocab_size": 1000, "hidden_size": 256,
 "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 4,
 "num_key_value_heads": 2, "torch_dtype": "float32"}"#;

const CHILD_ENV: &str = "LLC_TRAIN_CKPT_KILL_TEST_ROOT";

fn big_spec() -> Vec<ParamSpec> {
    param_specs(&read_model_config(BIG_CONFIG, Path::new("config.json")).unwrap())
}

#[test]
fn sigkill_during_saves_never_leaves_a_broken_checkpoint() {
    let root = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mgr = CheckpointManager::new(root.path(), 2).unwrap();
    let mut kills = 0;
    for round in 0..8u64 {
        let mut child = std::process::Command::new(&exe)
            .args(["--exact", "checkpoint_saver_child", "--ignored", "--quiet"])
            .env(CHILD_ENV, root.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(150 + 37 * round));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        // Every directory that looks complete is complete, and `latest` loads.
        for (step, dir) in mgr.list().unwrap() {
            let (_, c) = load_checkpoint(&dir, &big_spec())
                .unwrap_or_else(|e| panic!("round {round}: {}: {e}", dir.display()));
            assert_eq!(c.state.step, step);
        }
        if mgr.latest().unwrap().is_some() {
            load_checkpoint(root.path(), &big_spec()).unwrap();
        }
    }
    let saved = mgr.list().unwrap();
    assert!(!saved.is_empty(), "the child saved nothing in {kills} runs");
    // One clean save removes every leftover of the kills.
    let last = saved.last().unwrap().0;
    let params = load_checkpoint(root.path(), &big_spec()).unwrap().1;
    mgr.save(&Checkpoint {
        state: TrainerState::new(last + 1),
        ..params
    })
    .unwrap();
    let mut names: Vec<String> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "latest".to_string(),
            step_dir_name(last),
            step_dir_name(last + 1)
        ]
    );
}

/// Child process of the SIGKILL test: resumes from the latest checkpoint and saves new
/// ones until it is killed.
#[test]
#[ignore = "run only as the child of sigkill_during_saves_never_leaves_a_broken_checkpoint"]
fn checkpoint_saver_child() {
    let Ok(root) = std::env::var(CHILD_ENV) else {
        return;
    };
    let root = std::path::PathBuf::from(root);
    let mgr = CheckpointManager::new(&root, 2).unwrap();
    let mut step = match mgr.latest().unwrap() {
        Some(dir) => load_checkpoint(&dir, &big_spec()).unwrap().1.state.step + 1,
        None => 1,
    };
    let params: Vec<NamedTensor> = big_spec()
        .into_iter()
        .map(|s| {
            let n: usize = s.shape.iter().product();
            NamedTensor::new(s.name, s.shape, vec![0.5; n]).unwrap()
        })
        .collect();
    loop {
        let ckpt = Checkpoint {
            params: params.clone(),
            optimizer: Some(OptimizerState {
                m: params.clone(),
                v: params.clone(),
            }),
            config_json: BIG_CONFIG.to_string(),
            state: TrainerState::new(step),
        };
        mgr.save(&ckpt).unwrap();
        step += 1;
    }
}
