//! The module graph, read from the source files: the decision core has no cycle
//! config → strategy → model → config. Deciding imports neither the config nor the model
//! file's loading, the model never the config, and the risk guards take their own `Limits`,
//! not the config's `[risk]`. Rust compiles such a cycle happily, so only a test keeps it out.

use std::path::{Path, PathBuf};

/// Non-comment lines of the Rust files under `src/<dir>` (or the file `src/<dir>`) that name
/// `crate::<module>`.
fn imports_of(dir: &str, module: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir);
    let files: Vec<PathBuf> = if path.is_dir() {
        std::fs::read_dir(&path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "rs"))
            .collect()
    } else {
        vec![path]
    };
    assert!(!files.is_empty(), "no Rust file at {dir}");
    let needle = format!("crate::{module}");
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if !code.starts_with("//") && code.contains(&needle) {
                found.push(format!("{}:{}: {code}", file.display(), i + 1));
            }
        }
    }
    found
}

#[test]
fn the_core_imports_neither_config_nor_model_loading() {
    let none = Vec::<String>::new();
    assert_eq!(imports_of("strategy", "config"), none);
    assert_eq!(imports_of("strategy", "model"), none);
    assert_eq!(imports_of("model", "config"), none);
    assert_eq!(imports_of("risk.rs", "config"), none);
}

#[test]
fn the_ticks_plan_is_pure_it_talks_to_no_broker_and_reads_no_config() {
    let none = Vec::<String>::new();
    for shell in ["config", "alpaca", "broker", "cmd", "orders", "fills"] {
        assert_eq!(imports_of("plan", shell), none, "plan imports {shell}");
    }
}

/// Alpaca's JSON shapes stay inside `alpaca/`: everything else speaks the broker port's values,
/// so the simulated broker and the tick never depend on how Alpaca spells a field.
#[test]
fn alpacas_wire_types_never_leave_the_alpaca_module() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path != src.join("alpaca") {
                    dirs.push(path);
                }
            } else if path.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for (i, line) in text.lines().enumerate() {
                    let code = line.trim_start();
                    if !code.starts_with("//") && code.contains("alpaca::wire") {
                        found.push(format!("{}:{}: {code}", path.display(), i + 1));
                    }
                }
            }
        }
    }
    assert_eq!(found, Vec::<String>::new());
}
