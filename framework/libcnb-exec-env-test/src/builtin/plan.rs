//! Build plan resolution, as the lifecycle's `phase/detector.go` does it.
//!
//! - Each passing buildpack offers options: its top-level `provides`/`requires`, then each
//!   `[[or]]` alternative. Trials combine one option per buildpack, earlier buildpacks varying
//!   slowest; the first trial that resolves wins.
//! - In a trial, a `requires` is met only by a `provides` of the same name *earlier in the
//!   group* (or by the same buildpack); a `provides` is used only when something requires it
//!   *later*. An optional buildpack with an unmet require or unused provide is dropped and the
//!   trial re-checked; a required one fails the trial. A buildpack is optional in a trial only
//!   for its last option (the lifecycle's `detectResult.options`).
//! - A buildpack's plan is every `requires` of every entry it provides
//!   (`platform/files/plan.go`, `Find`); after it builds, entries it met (did not list in
//!   `build.toml` `[[unmet]]`) are removed for later buildpacks (`Filter`).

use serde::Deserialize;

/// A `requires` entry.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub(crate) struct Require {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) metadata: toml::Table,
    /// Only to refuse it, as the lifecycle does.
    #[serde(default)]
    version: Option<toml::Value>,
}

/// A `provides` entry.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub(crate) struct Provide {
    pub(crate) name: String,
}

/// One set of `provides` and `requires`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub(crate) struct Sections {
    #[serde(default)]
    pub(crate) provides: Vec<Provide>,
    #[serde(default)]
    pub(crate) requires: Vec<Require>,
}

/// What `bin/detect` wrote to its plan file.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub(crate) struct DetectPlan {
    #[serde(flatten)]
    pub(crate) main: Sections,
    #[serde(default)]
    pub(crate) or: Vec<Sections>,
}

impl DetectPlan {
    /// Parses a plan file's content; refuses a top-level `version` on a require (lifecycle
    /// `buildpack/detect.go`: "metadata.version should be used instead").
    pub(crate) fn parse(text: &str, buildpack_id: &str) -> Result<Self, String> {
        let plan: DetectPlan = toml::from_str(text).map_err(|error| error.to_string())?;
        for sections in std::iter::once(&plan.main).chain(&plan.or) {
            for require in &sections.requires {
                if require.version.is_some() {
                    return Err(if require.metadata.contains_key("version") {
                        format!(
                            "buildpack {buildpack_id} has a \"version\" key and a \"metadata.version\" which cannot be specified together. \"metadata.version\" should be used instead"
                        )
                    } else {
                        format!(
                            "buildpack {buildpack_id} has a \"version\" key which is not supported. \"metadata.version\" should be used instead"
                        )
                    });
                }
            }
        }
        Ok(plan)
    }
}

/// A passing buildpack of a group, for resolution.
#[derive(Clone, Debug)]
pub(crate) struct Candidate {
    /// Index in the group.
    pub(crate) index: usize,
    pub(crate) id: String,
    pub(crate) optional: bool,
    pub(crate) plan: DetectPlan,
}

/// A resolved entry: who provides it, and every require of it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PlanEntry {
    pub(crate) name: String,
    pub(crate) providers: Vec<String>,
    pub(crate) requires: Vec<Require>,
}

/// The outcome of resolution: the group (indices into the group, in order) and the plan.
#[derive(Clone, Debug)]
pub(crate) struct Resolved {
    pub(crate) members: Vec<usize>,
    pub(crate) entries: Vec<PlanEntry>,
}

#[derive(Clone)]
struct Option_ {
    index: usize,
    id: String,
    optional: bool,
    sections: Sections,
}

/// Tries every trial in the lifecycle's order; `None` when none resolves.
pub(crate) fn resolve(candidates: &[Candidate]) -> Option<Resolved> {
    let options: Vec<Vec<Option_>> = candidates
        .iter()
        .map(|candidate| {
            let all: Vec<&Sections> = std::iter::once(&candidate.plan.main)
                .chain(&candidate.plan.or)
                .collect();
            let last = all.len() - 1;
            all.into_iter()
                .enumerate()
                .map(|(i, sections)| Option_ {
                    index: candidate.index,
                    id: candidate.id.clone(),
                    optional: candidate.optional && i == last,
                    sections: sections.clone(),
                })
                .collect()
        })
        .collect();
    trials(&options, &mut Vec::new())
}

fn trials(rest: &[Vec<Option_>], prefix: &mut Vec<Option_>) -> Option<Resolved> {
    let Some((first, rest)) = rest.split_first() else {
        return run_trial(prefix.clone());
    };
    for option in first {
        prefix.push(option.clone());
        let found = trials(rest, prefix);
        prefix.pop();
        if found.is_some() {
            return found;
        }
    }
    None
}

#[derive(Default)]
struct Dep {
    providers: Vec<usize>,
    requires: Vec<Require>,
    early_requires: Vec<usize>,
    extra_provides: Vec<usize>,
}

fn dep<'a>(deps: &'a mut Vec<(String, Dep)>, name: &str) -> &'a mut Dep {
    let position = deps.iter().position(|(n, _)| n == name).unwrap_or_else(|| {
        deps.push((name.to_owned(), Dep::default()));
        deps.len() - 1
    });
    &mut deps[position].1
}

fn run_trial(mut trial: Vec<Option_>) -> Option<Resolved> {
    loop {
        // name -> dep, in order of first appearance.
        let mut deps: Vec<(String, Dep)> = Vec::new();
        for (position, option) in trial.iter().enumerate() {
            for provide in &option.sections.provides {
                dep(&mut deps, &provide.name).extra_provides.push(position);
            }
            for require in &option.sections.requires {
                let entry = dep(&mut deps, &require.name);
                let extra = std::mem::take(&mut entry.extra_provides);
                entry.providers.extend(extra);
                if entry.providers.is_empty() {
                    entry.early_requires.push(position);
                } else {
                    entry.requires.push(require.clone());
                }
            }
        }
        let mut remove: Vec<usize> = Vec::new();
        for (_, entry) in &deps {
            for &position in entry.early_requires.iter().chain(&entry.extra_provides) {
                if !trial[position].optional {
                    return None;
                }
                if !remove.contains(&position) {
                    remove.push(position);
                }
            }
        }
        if remove.is_empty() {
            if trial.is_empty() {
                return None;
            }
            let entries = deps
                .into_iter()
                .map(|(name, entry)| PlanEntry {
                    name,
                    providers: entry
                        .providers
                        .iter()
                        .map(|&p| trial[p].id.clone())
                        .collect(),
                    requires: entry.requires,
                })
                .collect();
            return Some(Resolved {
                members: trial.iter().map(|option| option.index).collect(),
                entries,
            });
        }
        let mut position = 0;
        trial.retain(|_| {
            let keep = !remove.contains(&position);
            position += 1;
            keep
        });
        if trial.is_empty() {
            return None;
        }
    }
}

/// The plan a buildpack receives: every require of every entry it provides.
pub(crate) fn plan_for(entries: &[PlanEntry], buildpack_id: &str) -> Vec<Require> {
    entries
        .iter()
        .filter(|entry| entry.providers.iter().any(|p| p == buildpack_id))
        .flat_map(|entry| entry.requires.clone())
        .collect()
}

/// Removes the entries whose name a buildpack met.
pub(crate) fn filter_met(entries: &mut Vec<PlanEntry>, met: &[String]) {
    entries.retain(|entry| {
        !entry
            .requires
            .iter()
            .any(|require| met.contains(&require.name))
    });
}

/// The TOML of a buildpack plan (`[[entries]]`).
pub(crate) fn buildpack_plan_toml(requires: &[Require]) -> String {
    let mut entries = toml::value::Array::new();
    for require in requires {
        let mut table = toml::Table::new();
        table.insert("name".into(), toml::Value::String(require.name.clone()));
        if !require.metadata.is_empty() {
            table.insert(
                "metadata".into(),
                toml::Value::Table(require.metadata.clone()),
            );
        }
        entries.push(toml::Value::Table(table));
    }
    let mut doc = toml::Table::new();
    doc.insert("entries".into(), toml::Value::Array(entries));
    toml::to_string(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(index: usize, id: &str, optional: bool, plan: &str) -> Candidate {
        Candidate {
            index,
            id: id.into(),
            optional,
            plan: DetectPlan::parse(plan, id).unwrap(),
        }
    }

    #[test]
    fn require_needs_an_earlier_provider() {
        let provider = candidate(0, "a", false, "[[provides]]\nname = \"node\"\n");
        let requirer = candidate(
            1,
            "b",
            false,
            "[[requires]]\nname = \"node\"\n[requires.metadata]\nv = \"20\"\n",
        );
        let resolved = resolve(&[provider.clone(), requirer.clone()]).unwrap();
        assert_eq!(resolved.members, vec![0, 1]);
        assert_eq!(resolved.entries[0].providers, vec!["a".to_owned()]);
        assert_eq!(
            plan_for(&resolved.entries, "a")[0].metadata["v"].as_str(),
            Some("20")
        );
        assert!(plan_for(&resolved.entries, "b").is_empty());
        // Reversed: the require comes before any provider.
        let reversed = [
            Candidate {
                index: 0,
                ..requirer
            },
            Candidate {
                index: 1,
                ..provider
            },
        ];
        assert!(resolve(&reversed).is_none());
    }

    #[test]
    fn unused_provide_fails_required_and_drops_optional() {
        let lone = candidate(0, "a", false, "[[provides]]\nname = \"x\"\n");
        let other = candidate(1, "b", false, "");
        assert!(resolve(&[lone.clone(), other.clone()]).is_none());
        let optional = Candidate {
            optional: true,
            ..lone
        };
        let resolved = resolve(&[optional, other]).unwrap();
        assert_eq!(resolved.members, vec![1]);
    }

    #[test]
    fn or_alternatives_are_tried_in_order() {
        let a = candidate(
            0,
            "a",
            false,
            "[[provides]]\nname = \"x\"\n[[requires]]\nname = \"x\"\n\
             [[or]]\n[[or.provides]]\nname = \"y\"\n",
        );
        let b = candidate(1, "b", false, "[[requires]]\nname = \"y\"\n");
        let resolved = resolve(&[a, b]).unwrap();
        assert_eq!(resolved.members, vec![0, 1]);
        let names: Vec<&str> = resolved.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, vec!["y"], "the first alternative fails b's require");
    }

    #[test]
    fn top_level_version_is_refused() {
        let error =
            DetectPlan::parse("[[requires]]\nname = \"n\"\nversion = \"1\"\n", "x/y").unwrap_err();
        assert!(
            error.contains("x/y") && error.contains("metadata.version"),
            "{error}"
        );
    }

    #[test]
    fn met_entries_are_filtered_for_later_buildpacks() {
        let mut entries = vec![PlanEntry {
            name: "n".into(),
            providers: vec!["a".into(), "b".into()],
            requires: vec![Require {
                name: "n".into(),
                metadata: toml::Table::new(),
                version: None,
            }],
        }];
        filter_met(&mut entries, &["n".to_owned()]);
        assert!(entries.is_empty());
        assert_eq!(
            buildpack_plan_toml(&[Require {
                name: "n".into(),
                metadata: toml::from_str("v = 1").unwrap(),
                version: None
            }]),
            "[[entries]]\nname = \"n\"\n\n[entries.metadata]\nv = 1\n"
        );
    }
}
