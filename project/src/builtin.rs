//! The built-in project (`project/builtin/`), compiled into the binary so that `strata demo`
//! and a deployment without a project folder need nothing beside the binary.

use std::sync::{Arc, OnceLock};

use include_dir::{Dir, DirEntry, include_dir};

use crate::{Project, Result};

static FILES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/builtin");

/// The built-in project's files, as (relative path, text).
pub fn builtin_files() -> crate::load::Files {
    let mut out = Vec::new();
    collect(&FILES, &mut out);
    out.sort();
    out
}

fn collect(dir: &Dir<'_>, out: &mut crate::load::Files) {
    for entry in dir.entries() {
        match entry {
            DirEntry::Dir(d) => collect(d, out),
            DirEntry::File(f) => {
                if let Some(text) = f.contents_utf8() {
                    out.push((
                        f.path().to_string_lossy().replace('\\', "/"),
                        text.to_string(),
                    ));
                }
            }
        }
    }
}

/// The built-in game/agents project, loaded once.
pub fn builtin() -> Result<Arc<Project>> {
    static LOADED: OnceLock<Arc<Project>> = OnceLock::new();
    if let Some(p) = LOADED.get() {
        return Ok(p.clone());
    }
    let project = Arc::new(crate::load::parse("built-in", &builtin_files())?);
    Ok(LOADED.get_or_init(|| project).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_project_loads_and_orders_its_models() {
        let p = match builtin() {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(p.name, "game-agents");
        assert_eq!(p.silver.len(), 5);
        assert_eq!(p.event_types().len(), 9);
        let order: Vec<&str> = p.gold.iter().map(|m| m.name.as_str()).collect();
        let pos = |n: &str| order.iter().position(|x| *x == n).unwrap();
        assert!(pos("player_daily") < pos("player_features"), "{order:?}");
        assert!(pos("agent_daily") < pos("agent_features"), "{order:?}");
        let features = p.gold_model("player_features").unwrap();
        assert_eq!(features.lookback_days, 27);
        assert_eq!(features.inputs, vec!["gold.player_daily".parse().unwrap()]);
        assert_eq!(p.views.len(), 2);
        assert_eq!(p.services.len(), 2);
    }
}
