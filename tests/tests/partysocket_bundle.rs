//! The partysocket bundle the `ReconnectingSocket` differential test loads
//! (crate-client/tests/vendor/partysocket.js) is what scripts/bundle-partysocket.sh makes
//! from the partysocket that tests/interop/package-lock.json pins: a version bump without
//! a re-bundle (or a hand edit of the bundle) fails here.

use std::process::Command;

use ferrosocket_e2e::repo_root;

#[test]
fn the_committed_partysocket_bundle_is_the_pinned_version() {
    let root = repo_root();
    let fresh =
        std::env::temp_dir().join(format!("ferrosocket-partysocket-{}.js", std::process::id()));
    let output = Command::new(root.join("scripts/bundle-partysocket.sh"))
        .arg(&fresh)
        .output()
        .expect("run scripts/bundle-partysocket.sh");
    assert!(
        output.status.success(),
        "scripts/bundle-partysocket.sh failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let made = std::fs::read_to_string(&fresh).expect("the fresh bundle");
    let _ = std::fs::remove_file(&fresh);
    let committed = std::fs::read_to_string(root.join("crate-client/tests/vendor/partysocket.js"))
        .expect("the committed bundle");
    assert!(
        made == committed,
        "crate-client/tests/vendor/partysocket.js is not what scripts/bundle-partysocket.sh makes \
         from tests/interop's partysocket: run the script and commit the result"
    );
}
