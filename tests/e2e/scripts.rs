//! The scheduling scripts, run as a person would (with a stand-in `crontab` on PATH).

#![cfg(unix)]

use crate::fake_alpaca::{KEY_ID, SECRET};
use crate::harness::{Bot, BIN};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/install-cron.sh");

/// A `crontab` stand-in on PATH that keeps the table in one file.
struct FakeCron {
    dir: tempfile::TempDir,
}

impl FakeCron {
    fn new(table: &str) -> FakeCron {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("crontab");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\nf='{}'\ncase \"$1\" in\n -l) [ -f \"$f\" ] && cat \"$f\" || exit 1 ;;\n -r) rm -f \"$f\" ;;\n -) cat > \"$f\" ;;\nesac\n",
                dir.path().join("table").display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let cron = FakeCron { dir };
        if !table.is_empty() {
            std::fs::write(cron.table_path(), table).unwrap();
        }
        cron
    }

    fn table_path(&self) -> PathBuf {
        self.dir.path().join("table")
    }

    fn table(&self) -> String {
        std::fs::read_to_string(self.table_path()).unwrap_or_default()
    }

    /// The script with these arguments, started in `cwd`.
    fn script(&self, cwd: &Path, args: &[&str]) -> Output {
        let path = format!(
            "{}:{}",
            self.dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new("bash")
            .arg(SCRIPT)
            .args(args)
            .current_dir(cwd)
            .env("PATH", path)
            .output()
            .unwrap()
    }

    fn ok(&self, cwd: &Path, args: &[&str]) -> String {
        let out = self.script(cwd, args);
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The lines that run a tick.
    fn entries(&self) -> Vec<String> {
        self.table()
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains(" tick "))
            .map(str::to_string)
            .collect()
    }
}

#[test]
fn install_cron_is_idempotent_and_removable() {
    let cron = FakeCron::new("0 3 * * * /usr/bin/backup\n");
    let bot = Bot::new();
    let config = bot.config_path();
    let config = config.to_str().unwrap();
    cron.ok(bot.cwd.path(), &["--bin", BIN, "--config", config]);
    cron.ok(bot.cwd.path(), &["--bin", BIN, "--config", config]);
    let text = cron.table();
    assert_eq!(
        text.matches(" tick >> ").count(),
        1,
        "one entry after two installs:\n{text}"
    );
    assert!(
        text.contains("* * * * * cd '") && text.contains("0 3 * * * /usr/bin/backup"),
        "{text}"
    );
    cron.ok(bot.cwd.path(), &["--remove", "--config", config]);
    assert_eq!(
        cron.table(),
        "0 3 * * * /usr/bin/backup\n",
        "other entries untouched"
    );
}

/// `--remove` said "removed" and left the tick running when the entry had been installed with
/// another spelling of `--config`; three spellings gave three entries.
#[test]
fn every_spelling_of_the_config_names_one_entry_and_remove_finds_it() {
    let user = "MAILTO=me@example.com\n\n# backups\n0 3 * * * /usr/bin/backup\n\n\n";
    let cron = FakeCron::new(user);
    let bot = Bot::new();
    let folder = bot.dir.path();
    let parent = folder.parent().unwrap();
    let name = folder.file_name().unwrap().to_str().unwrap();
    let absolute = bot.config_path().to_str().unwrap().to_string();
    let dotted = format!("../{name}/./config.toml");
    // A symlink to the bot folder is the same folder.
    let link = bot.cwd.path().join("link");
    std::os::unix::fs::symlink(folder, &link).unwrap();
    cron.ok(folder, &["--bin", BIN, "--config", "config.toml"]);
    cron.ok(folder, &["--bin", BIN, "--config", "./config.toml"]);
    cron.ok(folder, &["--bin", BIN, "--config", &dotted]);
    cron.ok(parent, &["--bin", BIN, "--config", &absolute]);
    cron.ok(
        bot.cwd.path(),
        &["--bin", BIN, "--config", "link/config.toml"],
    );
    let entries = cron.entries();
    assert_eq!(entries.len(), 1, "{}", cron.table());
    assert!(
        entries[0].starts_with("* * * * * cd '"),
        "every minute of every day: {}",
        entries[0]
    );
    assert!(
        cron.table().starts_with(user),
        "the user's lines, blank ones included, stay as they were:\n{}",
        cron.table()
    );
    let said = cron.ok(
        bot.cwd.path(),
        &["--remove", "--config", "link/./config.toml"],
    );
    assert!(said.contains("removed"), "{said}");
    assert_eq!(cron.table(), user, "removed, and nothing else touched");
    let said = cron.ok(parent, &["--remove", "--config", &absolute]);
    assert!(said.contains("no prometheus-bot entry"), "{said}");
    assert_eq!(cron.table(), user);
}

/// Tables written by the previous script (`# prometheus-bot tick (PATH)` and a weekday
/// schedule) are recognised by folder, whatever the spelling, and replaced by one entry.
#[test]
fn entries_of_the_old_script_are_replaced_by_folder() {
    let bot = Bot::new();
    let folder = bot.dir.path().canonicalize().unwrap();
    let f = folder.display();
    let other = "# prometheus-bot tick (/srv/other-bot/config.toml)\n\
                 * * * * 1-5 cd '/srv/other-bot' && '/b' --config '/srv/other-bot/config.toml' tick >> '/l' 2>&1\n";
    let old = format!(
        "0 3 * * * /usr/bin/backup\n\
         # prometheus-bot tick (config.toml)\n\
         * * * * 1-5 cd '{f}' && '/b' --config 'config.toml' tick >> '/l' 2>&1\n\
         \n\
         # prometheus-bot tick ({f}/config.toml)\n\
         * * * * 1-5 cd '/repo' && '/b' --config '{f}/config.toml' tick >> '/l' 2>&1\n\
         {other}"
    );
    let cron = FakeCron::new(&old);
    let config = bot.config_path();
    cron.ok(
        bot.cwd.path(),
        &["--bin", BIN, "--config", config.to_str().unwrap()],
    );
    let entries = cron.entries();
    assert_eq!(
        entries.len(),
        2,
        "ours once, the other bot's kept:\n{}",
        cron.table()
    );
    assert!(cron.table().contains(other), "{}", cron.table());
    assert!(
        cron.table()
            .contains(&format!("# prometheus-bot tick: {f}\n* * * * * cd '{f}'")),
        "{}",
        cron.table()
    );
}

/// A folder with an apostrophe (and a `%`, which cron turns into a newline unless escaped)
/// still gives a command sh runs in the right folder.
#[test]
fn the_entry_survives_an_apostrophe_and_a_percent_in_the_path() {
    let root = tempfile::tempdir().unwrap();
    let folder = root.path().join("Bob's 100% bot");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("config.toml"), "[bot]\n").unwrap();
    let fake_bin = root.path().join("show-args");
    std::fs::write(&fake_bin, "#!/bin/sh\necho \"$(pwd -P)|$*\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake_bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cron = FakeCron::new("");
    cron.ok(
        &folder,
        &[
            "--bin",
            fake_bin.to_str().unwrap(),
            "--config",
            "config.toml",
        ],
    );
    let entry = cron.entries().remove(0);
    // What cron does with the line: five time fields off, `\%` back to `%`, the rest to sh.
    let command = entry.splitn(6, ' ').nth(5).unwrap().replace("\\%", "%");
    assert!(!entry.replace("\\%", "").contains('%'), "{entry}");
    let out = Command::new("sh").arg("-c").arg(&command).output().unwrap();
    assert!(out.status.success(), "{entry}");
    let canonical = folder.canonicalize().unwrap();
    let log = std::fs::read_to_string(canonical.join("logs/cron.log")).unwrap();
    assert_eq!(
        log,
        format!(
            "{}|--config {}/config.toml tick\n",
            canonical.display(),
            canonical.display()
        )
    );
}

#[test]
fn help_prints_usage_and_a_missing_value_is_a_usage_error() {
    let cron = FakeCron::new("");
    let here = std::env::temp_dir();
    for flag in ["--help", "-h"] {
        let out = cron.script(&here, &[flag]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("Usage:") && text.contains("--remove"),
            "{text}"
        );
    }
    let out = cron.script(&here, &["--config"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config needs a value"));
    assert!(
        !cron.table_path().exists(),
        "help and mistakes change nothing"
    );
}

/// `cron.log` never rotated when `--config` pointed elsewhere: the entry appended to the
/// script's folder while the bot rotated the config's log folder. The entry now writes into
/// the config's `log_dir`, and the bot's own rotation moves it aside.
#[test]
fn cron_log_lands_in_the_configs_log_dir_and_rotates() {
    let bot = Bot::new();
    let config = std::fs::read_to_string(bot.config_path()).unwrap();
    std::fs::write(
        bot.config_path(),
        config.replace("[bot]\n", "[bot]\nlog_dir = \"var/log\"\n")
            + "\n[logs]\nmax_size_mb = 0.1\nkeep = 2\n",
    )
    .unwrap();
    let cron = FakeCron::new("");
    let config = bot.config_path();
    cron.ok(
        bot.cwd.path(),
        &["--bin", BIN, "--config", config.to_str().unwrap()],
    );
    let log_dir = bot.path("var/log");
    let filler = "x".repeat(200_000);
    std::fs::write(log_dir.join("cron.log"), &filler).unwrap();
    let entry = cron.entries().remove(0);
    let command = entry.splitn(6, ' ').nth(5).unwrap().to_string();
    let out = Command::new("sh")
        .arg("-c")
        .arg(&command)
        .env_clear()
        .env("ALPACA_KEY", KEY_ID)
        .env("ALPACA_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(out.status.success(), "{entry}");
    let rotated = std::fs::read_to_string(log_dir.join("cron.log.1")).unwrap();
    assert!(rotated.starts_with(&filler), "the old cron.log moved aside");
    let current = std::fs::metadata(log_dir.join("cron.log")).map_or(0, |m| m.len());
    assert!(current < 1000, "cron.log starts again: {current} bytes");
}

/// Nothing here runs PowerShell, so the Windows script is read: the points issue 12 found in
/// it must stay fixed. The task starts the binary itself (no powershell.exe 1,440 times a day,
/// no `*>>` writing UTF-16 and holding the log open, no command string an apostrophe breaks),
/// runs whether or not the user is logged on, every minute of every day, and reports errors
/// in a way that reaches `exit`.
#[test]
fn the_windows_task_starts_the_binary_directly_and_runs_logged_off() {
    let script = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/install-task.ps1"
    ))
    .unwrap();
    let code: String = script
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .skip_while(|l| !l.starts_with("param("))
        .collect::<Vec<_>>()
        .join("\n");
    for absent in [
        "powershell.exe",
        "*>>",
        "Write-Error",
        "-Command",
        "DaysOfWeek",
        "-Weekly",
    ] {
        assert!(!code.contains(absent), "install-task.ps1 uses `{absent}`");
    }
    for present in [
        "New-ScheduledTaskAction -Execute $Bin",
        "-WorkingDirectory $Folder",
        "-LogonType S4U",
        "-RepetitionInterval (New-TimeSpan -Minutes 1)",
        "-MultipleInstances IgnoreNew",
        "-LiteralPath",
    ] {
        assert!(code.contains(present), "install-task.ps1 lacks `{present}`");
    }
}
