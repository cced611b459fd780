//! The durability switch `replay` turns off, in a process of its own (it is process-wide, so it
//! must not run beside the library's unit tests, which all write durably).

use prometheus_bot::store::files::{self, write_atomic};

#[cfg(unix)]
#[test]
fn without_durability_a_file_is_rewritten_in_place_and_with_it_replaced_by_a_rename() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let inode = || std::fs::metadata(&path).unwrap().ino();

    assert!(files::durable(), "durable unless switched off");
    write_atomic(&path, b"one").unwrap();
    let first = inode();
    write_atomic(&path, b"two").unwrap();
    assert_ne!(inode(), first, "a new file renamed over the old one");

    files::set_durable(false);
    let before = inode();
    write_atomic(&path, b"three").unwrap();
    assert_eq!(
        inode(),
        before,
        "rewritten in place: no temp file, no rename"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "three");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    files::set_durable(true);
    write_atomic(&path, b"four").unwrap();
    assert_ne!(inode(), before);
}
