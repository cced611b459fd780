//! The scheduling scripts, run as a person would (with a stand-in `crontab` on PATH).

use std::process::Command;

#[test]
#[cfg(unix)]
fn install_cron_is_idempotent_and_removable() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("table");
    let fake = dir.path().join("crontab");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nf='{}'\ncase \"$1\" in\n -l) [ -f \"$f\" ] && cat \"$f\" || exit 1 ;;\n -r) rm -f \"$f\" ;;\n -) cat > \"$f\" ;;\nesac\n",
            table.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(&table, "0 3 * * * /usr/bin/backup\n").unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/install-cron.sh");
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |args: &[&str]| {
        let out = Command::new("bash")
            .arg(script)
            .args(args)
            .args(["--bin", crate::harness::BIN])
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[]);
    run(&[]);
    let text = std::fs::read_to_string(&table).unwrap();
    assert_eq!(
        text.matches(" tick >> ").count(),
        1,
        "one entry after two installs:\n{text}"
    );
    assert!(
        text.contains("* * * * 1-5 cd '") && text.contains("0 3 * * * /usr/bin/backup"),
        "{text}"
    );
    run(&["--remove"]);
    assert_eq!(
        std::fs::read_to_string(&table).unwrap(),
        "0 3 * * * /usr/bin/backup\n",
        "other entries untouched"
    );
}
