//! `carebot init [DIR]`: a commented `carebot.toml`, the shipped playbooks and an example
//! scenario, so an operator starts from files they can read and edit. Nothing is overwritten:
//! when any of the files exists, nothing is written.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::app::playbook_source;

/// The commented config `init` writes.
pub const CONFIG_TEMPLATE: &str = include_str!("../assets/init/carebot.toml");

/// The example scenario `init` writes (the demo's story).
pub const EXAMPLE_SCENARIO: &str = include_str!("../scenarios/demo.txt");

/// Why `init` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("nothing was written: {} already exist(s): {}; remove them or pick another folder (`carebot init DIR`)", .0.len(), list(.0))]
    Exists(Vec<PathBuf>),
    #[error("cannot write {path}: {source}; check that the folder is writable")]
    Write { path: PathBuf, source: std::io::Error },
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every file `init` writes into `dir`, with its content.
pub fn files(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let mut files = vec![(dir.join(crate::config::FILE_NAME), CONFIG_TEMPLATE)];
    for (name, text) in playbook_source::built_in_files() {
        files.push((dir.join(playbook_source::DEFAULT_DIR).join(name), text));
    }
    files.push((dir.join("scenarios").join("example.txt"), EXAMPLE_SCENARIO));
    files
}

/// Writes the files into `dir` (created when missing); returns what was written.
pub fn init(dir: &Path) -> Result<Vec<PathBuf>, InitError> {
    let files = files(dir);
    let existing: Vec<PathBuf> = files
        .iter()
        .filter(|(p, _)| p.exists())
        .map(|(p, _)| p.clone())
        .collect();
    if !existing.is_empty() {
        return Err(InitError::Exists(existing));
    }
    let mut written = Vec::new();
    for (path, text) in &files {
        let fail = |source| InitError::Write {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(fail)?;
        }
        // `create_new`: a file that appeared since the check above is still not overwritten.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => InitError::Exists(vec![path.clone()]),
                _ => fail(e),
            })?;
        file.write_all(text.as_bytes()).map_err(fail)?;
        written.push(path.clone());
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn the_config_template_is_valid_and_names_the_shipped_playbooks() {
        let c = Config::from_toml(CONFIG_TEMPLATE).unwrap();
        assert_eq!(c.playbooks_dir, PathBuf::from("playbooks"));
        assert_eq!(c.database.url, "sqlite://carebot.db");
    }

    #[test]
    fn init_refuses_to_overwrite_and_then_writes_nothing() {
        let dir = std::env::temp_dir().join(format!("carebot-init-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("playbooks")).unwrap();
        std::fs::write(dir.join("playbooks/praise.toml"), "mine").unwrap();
        let err = init(&dir).unwrap_err();
        assert!(
            matches!(&err, InitError::Exists(p) if p == &[dir.join("playbooks/praise.toml")]),
            "{err}"
        );
        assert!(!dir.join("carebot.toml").exists());
        assert_eq!(
            std::fs::read_to_string(dir.join("playbooks/praise.toml")).unwrap(),
            "mine"
        );
        std::fs::remove_file(dir.join("playbooks/praise.toml")).unwrap();
        let written = init(&dir).unwrap();
        assert_eq!(written.len(), files(&dir).len());
        assert!(dir.join("scenarios/example.txt").is_file());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
