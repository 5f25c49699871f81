//! Where the playbooks come from: the configured folder, else `./playbooks`, else the shipped
//! library built into the binary (so carebot runs from any folder). Using the built-in set is
//! logged once per process, so nobody wonders which playbooks are in force.

use std::path::{Path, PathBuf};
use std::sync::Once;

use crate::domain::playbook::{PlaybookErrors, PlaybookSet};

/// The shipped playbooks, compiled into the binary: `(file name, text)`.
const BUILT_IN: &[(&str, &str)] = &[
    (
        "billing-dispute.toml",
        include_str!("../../playbooks/billing-dispute.toml"),
    ),
    (
        "checkout-outage.toml",
        include_str!("../../playbooks/checkout-outage.toml"),
    ),
    (
        "flash-sale-failure.toml",
        include_str!("../../playbooks/flash-sale-failure.toml"),
    ),
    ("general.toml", include_str!("../../playbooks/general.toml")),
    (
        "loyalty-points-expiry.toml",
        include_str!("../../playbooks/loyalty-points-expiry.toml"),
    ),
    ("praise.toml", include_str!("../../playbooks/praise.toml")),
    (
        "roadside-breakdown.toml",
        include_str!("../../playbooks/roadside-breakdown.toml"),
    ),
    ("rude-staff.toml", include_str!("../../playbooks/rude-staff.toml")),
    (
        "shipping-delay.toml",
        include_str!("../../playbooks/shipping-delay.toml"),
    ),
];

/// The folder looked for when none is configured.
pub const DEFAULT_DIR: &str = "playbooks";

/// The shipped playbooks as `(file name, text)` pairs, e.g. for `carebot init`.
pub fn built_in_files() -> impl Iterator<Item = (&'static str, &'static str)> {
    BUILT_IN.iter().copied()
}

/// Where a playbook set is loaded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaybookSource {
    /// A folder of `*.toml` files.
    Dir(PathBuf),
    /// The shipped library built into the binary.
    BuiltIn,
}

impl PlaybookSource {
    /// `configured` when set (an empty path is "not configured"), else `./playbooks` when it
    /// exists (relative to `cwd`), else the built-in set.
    pub fn resolve(configured: &Path, cwd: &Path) -> PlaybookSource {
        if !configured.as_os_str().is_empty() {
            return PlaybookSource::Dir(configured.to_path_buf());
        }
        if cwd.join(DEFAULT_DIR).is_dir() {
            return PlaybookSource::Dir(PathBuf::from(DEFAULT_DIR));
        }
        PlaybookSource::BuiltIn
    }

    /// [`PlaybookSource::resolve`] against the working directory.
    pub fn from_config(configured: &Path) -> PlaybookSource {
        Self::resolve(configured, Path::new("."))
    }

    /// Loads the set; a folder with any error is refused whole.
    pub fn load(&self) -> Result<PlaybookSet, PlaybookErrors> {
        match self {
            PlaybookSource::Dir(dir) => PlaybookSet::load_dir(dir),
            PlaybookSource::BuiltIn => {
                static LOGGED: Once = Once::new();
                LOGGED.call_once(|| {
                    tracing::info!(
                        "no playbook folder configured and no ./playbooks here: using the {} playbooks built into carebot (`carebot init` writes them out to edit)",
                        BUILT_IN.len()
                    )
                });
                let sources: Vec<(String, String)> = BUILT_IN
                    .iter()
                    .map(|(name, text)| (format!("(built-in) playbooks/{name}"), text.to_string()))
                    .collect();
                PlaybookSet::from_sources(&sources)
            }
        }
    }
}

impl std::fmt::Display for PlaybookSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlaybookSource::Dir(dir) => write!(f, "{}", dir.display()),
            PlaybookSource::BuiltIn => f.write_str("the built-in playbooks"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("carebot-pbsrc-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_configured_folder_wins_even_when_it_does_not_exist() {
        let cwd = empty_dir("configured");
        assert_eq!(
            PlaybookSource::resolve(Path::new("/nowhere/books"), &cwd),
            PlaybookSource::Dir("/nowhere/books".into())
        );
    }

    #[test]
    fn without_a_folder_the_built_in_set_is_used_and_a_local_folder_beats_it() {
        let cwd = empty_dir("local");
        assert_eq!(
            PlaybookSource::resolve(Path::new(""), &cwd),
            PlaybookSource::BuiltIn
        );
        std::fs::create_dir(cwd.join("playbooks")).unwrap();
        assert_eq!(
            PlaybookSource::resolve(Path::new(""), &cwd),
            PlaybookSource::Dir("playbooks".into())
        );
        let _ = std::fs::remove_dir_all(&cwd);
    }

    #[test]
    fn the_built_in_set_is_the_shipped_folder() {
        let built_in = PlaybookSource::BuiltIn.load().unwrap();
        let shipped =
            PlaybookSet::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks")).unwrap();
        let ids = |s: &PlaybookSet| s.playbooks().iter().map(|p| p.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&built_in), ids(&shipped));
        let files = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks"))
            .unwrap()
            .count();
        assert_eq!(files, BUILT_IN.len(), "every shipped playbook is built in");
    }
}
