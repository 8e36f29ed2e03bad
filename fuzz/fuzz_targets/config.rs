//! The config loader on any text: errors (with file, line and key) are fine; panics are not.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(error) = tablestat::config::Config::parse(std::path::Path::new("/fuzz/tablestat.toml"), text) {
            // Rendering the error (line, column, the line itself) must not panic either.
            let _ = error.to_string();
        }
    }
});
