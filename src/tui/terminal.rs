//! Entering and leaving the terminal. The guard restores it on drop, and a chained panic
//! hook restores it before the panic report, so the terminal is never left broken.

use std::io::{self, Stdout};

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

pub type Term = Terminal<CrosstermBackend<Stdout>>;

pub struct TerminalGuard;

impl TerminalGuard {
    pub fn enter() -> io::Result<(TerminalGuard, Term)> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        enable_raw_mode()?;
        let guard = TerminalGuard;
        execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture)?;
        let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        terminal.hide_cursor()?;
        terminal.clear()?;
        Ok((guard, terminal))
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Puts the terminal back as we found it. Safe to call more than once; errors are ignored
/// (the terminal may be gone: a dropped SSH session).
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), DisableMouseCapture, LeaveAlternateScreen, crossterm::cursor::Show);
}

/// Puts `text` on the clipboard of the terminal the user sits at (OSC 52): it travels with
/// the output, so it works over SSH and in tmux (with `set-clipboard on`) where no
/// clipboard of this machine would reach. Terminals that do not allow it ignore it.
pub fn copy_to_clipboard(text: &str) -> io::Result<()> {
    use std::io::Write;
    let mut out = io::stdout();
    out.write_all(osc52(text).as_bytes())?;
    out.flush()
}

/// The OSC 52 sequence that sets the clipboard to `text`. The text is base64, so nothing
/// in it can end the sequence early or drive the terminal.
fn osc52(text: &str) -> String {
    use base64::Engine;
    format!("\x1b]52;c;{}\x07", base64::engine::general_purpose::STANDARD.encode(text))
}

/// Asks the terminal for its background colour (OSC 11) and says whether it is light;
/// `None` when it does not say within a moment. A DA1 query follows it: every terminal
/// answers that one, so its answer ends the wait without leaving a late reply to be read
/// as keys. Only when both ends are a terminal.
pub fn background_is_light() -> Option<bool> {
    use std::io::{IsTerminal, Read, Write};
    use std::os::fd::AsRawFd;
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return None;
    }
    enable_raw_mode().ok()?;
    let answer = (|| {
        let mut out = io::stdout();
        out.write_all(b"\x1b]11;?\x07\x1b[c").ok()?;
        out.flush().ok()?;
        let stdin = io::stdin();
        let fd = stdin.as_raw_fd();
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(150);
        // Until the DA1 answer (`ESC [ ? … c`) or the deadline.
        while !da1_answered(&got) {
            let left = deadline.saturating_duration_since(std::time::Instant::now()).as_millis() as i32;
            if left == 0 {
                break;
            }
            let mut ready = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
            // SAFETY: one pollfd we own, for the duration of the call.
            if unsafe { libc::poll(&mut ready, 1, left) } <= 0 {
                break;
            }
            let mut chunk = [0u8; 256];
            let n = stdin.lock().read(&mut chunk).ok()?;
            got.extend_from_slice(&chunk[..n]);
        }
        Some(got)
    })();
    let _ = disable_raw_mode();
    osc11_is_light(&answer?)
}

fn da1_answered(got: &[u8]) -> bool {
    got.windows(3).position(|w| w == b"\x1b[?").is_some_and(|at| got[at..].contains(&b'c'))
}

/// `ESC ] 11 ; rgb:RRRR/GGGG/BBBB` (BEL or ST after it): light when its luminance is over
/// half.
fn osc11_is_light(answer: &[u8]) -> Option<bool> {
    let text = String::from_utf8_lossy(answer);
    let rgb = text.split("]11;rgb:").nth(1)?;
    let channels: Vec<f64> = rgb
        .split('/')
        .take(3)
        .map(|c| {
            let hex: String = c.chars().take_while(char::is_ascii_hexdigit).collect();
            let max = 16f64.powi(hex.len() as i32) - 1.0;
            u32::from_str_radix(&hex, 16).ok().map(|v| f64::from(v) / max)
        })
        .collect::<Option<_>>()?;
    let [r, g, b] = channels[..] else { return None };
    Some(0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_background_answer_says_light_or_dark() {
        let cases: [(&[u8], Option<bool>); 6] = [
            (b"\x1b]11;rgb:ffff/ffff/ffff\x07\x1b[?62;c", Some(true)),
            (b"\x1b]11;rgb:0000/0000/0000\x1b\\\x1b[?1;2c", Some(false)),
            (b"\x1b]11;rgb:fd/f6/e3\x07", Some(true)), // Solarized light, 8 bits a channel
            (b"\x1b]11;rgb:2828/2c2c/3434\x07", Some(false)),
            (b"\x1b[?62;c", None), // the terminal answered DA1 only
            (b"", None),
        ];
        for (answer, light) in cases {
            assert_eq!(super::osc11_is_light(answer), light, "{answer:?}");
        }
        assert!(super::da1_answered(b"\x1b]11;rgb:0/0/0\x07\x1b[?62;22c"));
        assert!(!super::da1_answered(b"\x1b]11;rgb:0/0/0\x07"));
    }

    #[test]
    fn osc52_carries_the_text_as_base64_only() {
        assert_eq!(super::osc52("fct_orders"), "\x1b]52;c;ZmN0X29yZGVycw==\x07");
        let hostile = super::osc52("x\x07\x1b]0;pwned\x1b\\");
        assert_eq!(hostile.matches('\x07').count(), 1);
        assert_eq!(hostile.matches('\x1b').count(), 1);
    }
}
