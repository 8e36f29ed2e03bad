//! The real binary in a real terminal: a tmux session to start, type into and read.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Session(pub String);

impl Session {
    pub fn start(command: &str) -> Session {
        let name = format!("tablestat-test-{}-{:x}", std::process::id(), fastrand_u32());
        let status = Command::new("tmux")
            .args(["new-session", "-d", "-s", &name, "-x", "80", "-y", "24", command])
            .env_remove("TMUX")
            .status()
            .expect("tmux must be installed (.ci/run installs it)");
        assert!(status.success());
        Session(name)
    }

    pub fn screen(&self) -> String {
        self.capture(&[])
    }

    /// The screen and what scrolled off it, with colours and attributes as escape sequences.
    pub fn screen_with_escapes(&self) -> String {
        self.capture(&["-e", "-S", "-"])
    }

    fn capture(&self, flags: &[&str]) -> String {
        let out =
            Command::new("tmux").args(["capture-pane", "-p"]).args(flags).args(["-t", &self.pane()]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// This session's pane, matched exactly: a bare name also matches other sessions it is
    /// a prefix of.
    fn pane(&self) -> String {
        format!("={}:", self.0)
    }

    pub fn keys(&self, keys: &[&str]) {
        for key in keys {
            // One key at a time: Esc followed at once by a letter reads as Alt+letter.
            assert!(Command::new("tmux").args(["send-keys", "-t", &self.pane(), key]).status().unwrap().success());
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    pub fn alive(&self) -> bool {
        Command::new("tmux")
            .args(["has-session", "-t", &format!("={}", self.0)])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    /// Waits (with a deadline) until the screen shows `text`.
    pub fn wait_for(&self, text: &str) -> String {
        wait(Duration::from_secs(20), || {
            let screen = self.screen();
            screen.contains(text).then_some(screen)
        })
        .unwrap_or_else(|| panic!("never saw {text:?}; the screen:\n{}", self.screen()))
    }

    pub fn kill(&self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &format!("={}", self.0)])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.kill();
    }
}

fn fastrand_u32() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos()
}

pub fn wait<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(found) = check() {
            return Some(found);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tablestat"))
}
