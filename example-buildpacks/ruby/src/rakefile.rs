//! Whether the Rakefile defines a `test` task, read from its text when the text settles it.
//!
//! `bundle exec rake -P` answers the question exactly but costs about 0.3 s (Bundler and Rake
//! start, the Rakefile runs). Most Rakefiles say it plainly at the top level:
//! `Rake::TestTask.new` (named `test` by default), `Rake::TestTask.new(:test)`, `task :test`,
//! `task test: [...]`, `task "test"`. This module accepts such a line only when nothing else
//! in the file can change the answer or make loading the Rakefile depend on other files:
//!
//! - the only `require`s are Rake's own (`rake`, `rake/testtask`), and nothing is `load`ed,
//!   `import`ed, `require_relative`d or `eval`ed; no `rakelib/*.rake` exists (Rake loads them);
//! - the definition is at nesting depth 0 (not inside a `namespace`, a block, a conditional
//!   or a method) and carries no `if`/`unless` modifier;
//! - no task is renamed, cleared or removed (`.name =`, `.clear`, `Rake::Task[`/`.`,
//!   `Rake.application`), nothing at the top level stops the load (`exit`, `abort`, `raise`,
//!   `fail`, `at_exit`), and the file has no `=begin` comment or heredoc whose lines could
//!   look like code;
//! - the block structure balances (every `do`/`{`/`if`/... has its `end`/`}`).
//!
//! Anything else, including a Rakefile without a plain `test` definition, is not settled
//! here and falls back to the probe: concluding from text that a task is absent would have
//! to rule out every way Ruby can define one.

use std::path::Path;

/// What the text says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TextAnswer {
    /// The Rakefile defines `test`; the string quotes the defining form, e.g.
    /// `Rake::TestTask.new(:test)`.
    DefinesTest(String),
    /// The text does not settle the question; the string says why.
    Unsettled(String),
}

/// Reads the Rakefile text (`text`, from the file `name`) and `rakelib/` of `app_dir`.
pub(crate) fn decide(app_dir: &Path, name: &str, text: &str) -> TextAnswer {
    if has_rakelib_files(app_dir) {
        return TextAnswer::Unsettled("rakelib/*.rake files define more tasks".into());
    }
    decide_text(text).map_or_else(
        |why| TextAnswer::Unsettled(format!("{name} {why}")),
        TextAnswer::DefinesTest,
    )
}

fn has_rakelib_files(app_dir: &Path) -> bool {
    std::fs::read_dir(app_dir.join("rakelib")).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|entry| entry.path().extension().is_some_and(|ext| ext == "rake"))
    })
}

/// Requires that stay inside the `rake` gem (which the lockfile has).
const RAKE_REQUIRES: [&str; 2] = ["rake", "rake/testtask"];

/// Words that load code or change tasks: any of them leaves the question to the probe.
const UNSETTLING: [(&str, &str); 11] = [
    ("require_relative", "requires another file"),
    ("load", "loads another file"),
    ("import", "imports tasks"),
    ("eval", "evaluates code"),
    ("instance_eval", "evaluates code"),
    ("class_eval", "evaluates code"),
    ("module_eval", "evaluates code"),
    ("send", "calls methods by name"),
    ("public_send", "calls methods by name"),
    ("clear", "clears a task"),
    ("define_method", "defines methods"),
];

const TEST_TASK: &str = "Rake::TestTask";

/// Calls that end loading the Rakefile when they run at its top level (in a task's block they
/// run only with the task, and are fine).
const STOPPING: [&str; 5] = ["exit", "abort", "raise", "fail", "at_exit"];

/// The defining form on success, why the text does not settle it on failure.
fn decide_text(text: &str) -> Result<String, String> {
    let mut depth: usize = 0;
    let mut found = None;
    let mut testtask_required = false;
    for raw in text.lines() {
        if raw.starts_with("__END__") {
            break;
        }
        if raw.starts_with("=begin") {
            return Err("has an =begin comment".into());
        }
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        if line.contains("<<~") || line.contains("<<-") || has_plain_heredoc(line) {
            return Err("has a heredoc".into());
        }
        for (word, why) in UNSETTLING {
            if has_word(line, word) {
                return Err(format!("{why} (`{word}`)"));
            }
        }
        if line.contains(".name =") || line.contains(".name=") {
            return Err("sets a task's name".into());
        }
        if line.contains("Rake::Task[")
            || line.contains("Rake::Task.")
            || line.contains("Rake.application")
            || line.contains("Rake::Application")
        {
            return Err("changes tasks through Rake's API".into());
        }
        if let Some(rest) = line.strip_prefix("require") {
            let feature = rest
                .trim()
                .trim_start_matches('(')
                .trim_end_matches(')')
                .trim()
                .trim_matches(|c| c == '"' || c == '\'');
            if !RAKE_REQUIRES.contains(&feature) {
                return Err(format!("requires `{}`", rest.trim()));
            }
            testtask_required |= feature == "rake/testtask";
            continue;
        }
        if has_word(line, "require") {
            return Err("requires another file".into());
        }
        if depth == 0
            && let Some(word) = STOPPING.iter().find(|word| has_word(line, word))
        {
            // Loading would stop here: `rake -P` says what Rake makes of it.
            return Err(format!("stops while loading (`{word}`)"));
        }
        if depth == 0 && found.is_none() {
            found = test_definition(line);
            if found.as_deref() == Some(TEST_TASK) && !testtask_required {
                return Err("uses Rake::TestTask before requiring rake/testtask".into());
            }
        }
        if is_closer(line) {
            depth = depth
                .checked_sub(1)
                .ok_or_else(|| "has an `end` without a block".to_owned())?;
        } else if opens_block(line) {
            depth += 1;
        }
    }
    if depth != 0 {
        return Err("has blocks this reading cannot match up".into());
    }
    found.ok_or_else(|| "has no plain top-level `test` definition".into())
}

/// `line` without a trailing `# comment` (a `#` outside quotes; `#{` interpolation is kept).
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    let bytes = line.as_bytes();
    for (index, &byte) in bytes.iter().enumerate() {
        match (quote, byte) {
            (None, b'"' | b'\'') => quote = Some(byte),
            (Some(open), _) if byte == open && (index == 0 || bytes[index - 1] != b'\\') => {
                quote = None;
            }
            (None, b'#') => return &line[..index],
            _ => {}
        }
    }
    line
}

/// `<<IDENT` or `<<"IDENT"` (not `<<` as append: `t.libs << "test"` has a space after it).
fn has_plain_heredoc(line: &str) -> bool {
    line.match_indices("<<").any(|(index, _)| {
        line[index + 2..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_uppercase() || c == '"' || c == '\'')
    })
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether `word` occurs in `line` as a whole identifier (not `loader`, not `:load_path`).
fn has_word(line: &str, word: &str) -> bool {
    line.match_indices(word).any(|(index, _)| {
        let before = line[..index].chars().next_back();
        let after = line[index + word.len()..].chars().next();
        !before.is_some_and(|c| is_word_char(c) || c == ':' || c == '@' || c == '$')
            && !after.is_some_and(|c| is_word_char(c) || c == ':' || c == '?' || c == '!')
    })
}

fn is_closer(line: &str) -> bool {
    let first = line.split_whitespace().next().unwrap_or_default();
    first == "end" || first.starts_with("end.") || first.starts_with('}')
}

/// Whether `line` leaves a block open: it ends with `do`/`do |...|`/`{`/`{ |...|`, or starts
/// a statement that needs an `end`.
fn opens_block(line: &str) -> bool {
    const STARTERS: [&str; 10] = [
        "if", "unless", "while", "until", "case", "begin", "def", "class", "module", "for",
    ];
    let first = line
        .split(|c: char| !is_word_char(c))
        .next()
        .unwrap_or_default();
    if STARTERS.contains(&first) && !line.ends_with(" end") {
        return true;
    }
    let without_params = line.strip_suffix('|').map_or(line, |inner| {
        inner
            .rfind('|')
            .map_or(line, |start| inner[..start].trim_end())
    });
    without_params.ends_with(" do") || without_params == "do" || without_params.ends_with('{')
}

/// The defining form when `line` plainly defines `test` (and has no `if`/`unless` modifier).
fn test_definition(line: &str) -> Option<String> {
    if has_word(line, "if") || has_word(line, "unless") {
        return None;
    }
    let form = if let Some(rest) = line.strip_prefix("Rake::TestTask.new") {
        let rest = rest.trim_start();
        let unnamed = rest.is_empty()
            || rest.starts_with("do")
            || rest.starts_with('{')
            || rest.starts_with("()");
        let named_test = [
            "(:test)",
            "(\"test\")",
            "('test')",
            "(:test,",
            "(\"test\",",
            "('test',",
        ]
        .iter()
        .any(|name| rest.starts_with(name))
            || [":test", "\"test\"", "'test'"].iter().any(|name| {
                rest.strip_prefix(name)
                    .is_some_and(|after| after.is_empty() || after.starts_with([' ', ',']))
            });
        (unnamed || named_test).then(|| TEST_TASK.to_owned())?
    } else {
        let rest = line
            .strip_prefix("task")
            .or_else(|| line.strip_prefix("multitask"))?;
        let rest = rest.strip_prefix('(').unwrap_or(rest);
        if !line.starts_with("task(") && !line.starts_with("multitask(") && !rest.starts_with(' ') {
            return None;
        }
        let rest = rest.trim_start();
        let names_test = [":test", "\"test\"", "'test'", "test:"].iter().any(|name| {
            rest.strip_prefix(name).is_some_and(|after| {
                after.is_empty()
                    || after.starts_with([' ', ',', ')', '='])
                    || (name.ends_with(':') && after.starts_with(':'))
            })
        });
        names_test.then(|| "task test".to_owned())?
    };
    Some(form)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settled(text: &str) -> Option<String> {
        decide_text(text).ok()
    }

    #[test]
    fn plain_definitions_settle_it() {
        let minitest = "# frozen_string_literal: true\n\nrequire \"rake/testtask\"\n\n\
            Rake::TestTask.new(:test) do |t|\n  t.libs << \"test\"\n  \
            t.test_files = FileList[\"test/**/*_test.rb\"]\nend\n\ntask default: :test\n";
        assert_eq!(settled(minitest).as_deref(), Some("Rake::TestTask"));
        for text in [
            "require 'rake/testtask'\nRake::TestTask.new\n",
            "require 'rake/testtask'\nRake::TestTask.new do |t|\n  t.pattern = 'test/*_test.rb'\nend\n",
            "require \"rake/testtask\"\nRake::TestTask.new { |t| t.libs << 'test' }\n",
            "require 'rake/testtask'\nRake::TestTask.new(\"test\") do |t|\nend\n",
            "require('rake/testtask')\nRake::TestTask.new :test do |t|\nend\n",
        ] {
            assert_eq!(settled(text).as_deref(), Some("Rake::TestTask"), "{text}");
        }
        for text in [
            "task :test do\n  sh 'ruby -Itest test/all.rb'\nend\n",
            "task test: [:lint] do\n  ruby 'test/all.rb'\nend\n",
            "task :test => :lint\n",
            "task \"test\" do\nend\n",
            "task 'test', [:seed] do |t, args|\nend\n",
            "task(:test) { sh 'true' }\n",
            "require 'rake'\nmultitask test: %w[a b]\n",
            "namespace :db do\n  task :test\nend\ntask :test\n",
            "task :test # runs everything\n",
        ] {
            assert_eq!(settled(text).as_deref(), Some("task test"), "{text}");
        }
    }

    #[test]
    fn other_names_and_nested_definitions_fall_back() {
        for text in [
            // Another name: no `test` in sight, the probe decides.
            "require 'rake/testtask'\nRake::TestTask.new(:unit) do |t|\nend\n",
            "task :tests\n",
            "task :test_all\n",
            "task testing: []\n",
            "task default: :test\n",
            "task :lint\n",
            "",
            // Nested or conditional: the task is `db:test`, or may not exist.
            "namespace :db do\n  task :test\nend\n",
            "namespace :db do\ntask :test\nend\n",
            "if ENV['CI']\ntask :test\nend\n",
            "task :test if ENV['CI']\n",
            "task :test unless ENV['SKIP']\n",
            "def define\ntask :test\nend\n",
            "[:test].each do |name|\ntask name\nend\n",
        ] {
            assert_eq!(settled(text), None, "{text}");
        }
    }

    #[test]
    fn loading_other_code_or_changing_tasks_falls_back() {
        for (text, why) in [
            (
                "require_relative 'tasks/test'\ntask :test\n",
                "requires another file",
            ),
            ("load 'tasks/test.rake'\ntask :test\n", "loads another file"),
            ("import 'tasks/test.rake'\ntask :test\n", "imports tasks"),
            (
                "require 'bundler/gem_tasks'\ntask :test\n",
                "requires `'bundler/gem_tasks'`",
            ),
            (
                "require 'rspec/core/rake_task'\nRSpec::Core::RakeTask.new(:test)\n",
                "requires",
            ),
            (
                "Dir['tasks/*.rake'].each { |f| load f }\ntask :test\n",
                "loads another file",
            ),
            ("task :test\nRake::Task[:test].clear\n", "clears a task"),
            ("task :test\nRake.application.tasks\n", "Rake's API"),
            ("task :test\nRake::Task.tasks.each(&:clear)\n", "Rake's API"),
            (
                "task :test\nabort 'no' unless ENV['X']\n",
                "stops while loading (`abort`)",
            ),
            (
                "raise 'old Ruby' if RUBY_VERSION < '3'\ntask :test\n",
                "stops while loading",
            ),
            (
                "require 'rake/testtask'\nRake::TestTask.new do |t|\n  t.name = 'unit'\nend\n",
                "sets a task's name",
            ),
            (
                "Rake::TestTask.new(:test)\n",
                "before requiring rake/testtask",
            ),
            ("eval File.read('tasks')\ntask :test\n", "evaluates code"),
            ("=begin\ntask :test\n=end\n", "=begin"),
            ("X = <<~RUBY\ntask :test\nRUBY\n", "heredoc"),
            ("task :test\nend\n", "without a block"),
            ("task :test do\n", "cannot match up"),
        ] {
            let error = decide_text(text).unwrap_err();
            assert!(error.contains(why), "{text}: {error}");
        }
        // Words that only contain the unsettling ones are fine.
        assert!(
            settled("task :test do\n  t.loader = :direct\n  t.libs << 'test'\nend\n").is_some()
        );
        // Raising inside a task's block happens only when the task runs.
        assert!(settled("task :test do\n  raise 'failed' unless system('true')\nend\n").is_some());
        // `load` in a comment is no load.
        assert!(settled("# load nothing\ntask :test\n").is_some());
    }

    #[test]
    fn rakelib_files_fall_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            decide(dir.path(), "Rakefile", "task :test\n"),
            TextAnswer::DefinesTest("task test".into())
        );
        std::fs::create_dir(dir.path().join("rakelib")).unwrap();
        std::fs::write(dir.path().join("rakelib/notes.txt"), "task :x\n").unwrap();
        assert!(matches!(
            decide(dir.path(), "Rakefile", "task :test\n"),
            TextAnswer::DefinesTest(_)
        ));
        std::fs::write(dir.path().join("rakelib/extra.rake"), "task :x\n").unwrap();
        assert_eq!(
            decide(dir.path(), "Rakefile", "task :test\n"),
            TextAnswer::Unsettled("rakelib/*.rake files define more tasks".into())
        );
        assert!(matches!(
            decide(tempfile::tempdir().unwrap().path(), "Rakefile", "task :lint\n"),
            TextAnswer::Unsettled(why) if why.starts_with("Rakefile has no plain")
        ));
    }
}
