//! The commands. `main.rs` calls [`main`]; each command lives in its own module and
//! returns an exit code or a [`Failure`] that says what failed and what to do.
//!
//! Exit codes: 0 ok, 1 degraded, 2 down, 3 unknown (status and poll, after the
//! monitoring-plugin convention); 64 usage, 66 no config file or history, 69 a source
//! unreachable, 70 internal error, 74 I/O error, 75 another poller holds the database,
//! 78 invalid config.

mod check;
mod export;
mod incident;
mod maintenance;
mod poll;
mod report;
mod status;
mod store;
mod text;
mod when;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::config::{self, Config, ConfigOrigin};

pub use crate::failure::{
    EXIT_CONFIG, EXIT_INTERNAL, EXIT_IO, EXIT_NO_CONFIG, EXIT_TEMPFAIL, EXIT_UNAVAILABLE, EXIT_USAGE, Failure,
};
pub use crate::output::{emit, json as emit_json};

/// A status page for data products, in the terminal.
///
/// tablestat reads Airflow (is the DAG there, unpaused, did its dbt task succeed) and dbt
/// (which test failed, on which table) and shows, for each table, whether it can be
/// trusted right now: availability, freshness, correctness, uniqueness, completeness.
#[derive(Debug, Parser)]
#[command(name = "tablestat", version, about, long_about, args_conflicts_with_subcommands = false)]
#[command(after_help = "Config is read from --config, else $TABLESTAT_CONFIG, else ~/.config/tablestat/config.toml.\n\
Exit codes: 0 ok, 1 degraded, 2 down, 3 unknown; 64 usage, 66 no config or no history yet, 69 source unreachable, 70 internal error, 74 I/O, 75 another poller holds the database, 78 bad config.")]
pub struct Cli {
    /// Config file (TOML).
    #[arg(long, short = 'c', global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Plain ASCII symbols and bars (no Unicode blocks), for fonts and terminals without them.
    #[arg(long, global = true)]
    pub ascii: bool,

    /// No colour, on the board and in text output (also when NO_COLOR is set); states keep
    /// their symbols.
    #[arg(long, global = true)]
    pub no_color: bool,

    /// The board's colours for a light terminal background (found by itself when the
    /// terminal sets COLORFGBG).
    #[arg(long, global = true)]
    pub light: bool,

    /// The board on a moment of the past, from history (`2026-11-20 06:00`, `-3h`); `[`
    /// and `]` step through the changes from there.
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub at: Option<String>,

    /// Without a command: the board, the interactive status page.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the poller: poll Airflow and dbt on each DAG's schedule and record history.
    Poll(poll::PollArgs),
    /// Print the current state of every product (or the ones named) from history.
    Status(status::StatusArgs),
    /// List, show and update incidents.
    #[command(subcommand)]
    Incident(incident::IncidentCommand),
    /// Announce, list and end maintenance windows.
    #[command(subcommand)]
    Maintenance(maintenance::MaintenanceCommand),
    /// Each product's uptime against its SLO over a window: error budget, incidents, MTTD, MTTR.
    Report(report::ReportArgs),
    /// Write the static status page (HTML, status.json, Atom feed of incidents).
    #[command(subcommand)]
    Export(export::ExportCommand),
    /// Copy the history database (a backup, or a move), checked against the source.
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// Check the config file, and reach each source to say what it found.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// See everything on a simulated Airflow and dbt Cloud, with a scripted story.
    Demo(DemoArgs),
    /// Scale runs: write a history database of N synthetic products (deterministic by seed).
    #[command(hide = true)]
    GenerateHistory {
        #[arg(long)]
        db: PathBuf,
        #[arg(long, default_value_t = 5000)]
        products: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Every product-metric changes once a day (the storage worst case), no incidents.
        #[arg(long)]
        dense: bool,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Panics on purpose: shows the panic report as a real one would look (plain text
    /// without colour, exit code 70), for tests and for checking a terminal setup.
    #[command(hide = true)]
    DebugPanic,
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Play the story faster (2 = twice as fast).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Seed of the 90 days of history.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// No board: print the status document (one JSON line) after each step of the story.
    #[arg(long)]
    pub headless: bool,
    /// Also write the static status page into this folder after every poll (open its index.html).
    #[arg(long, value_name = "DIR")]
    pub export: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config; reach Airflow and dbt and report what they hold.
    Check(check::CheckArgs),
}

/// How text output is written: the global `--ascii` and `--no-color` (colour also needs a
/// terminal and no NO_COLOR).
#[derive(Debug, Clone, Copy)]
pub struct TextStyle {
    pub color: bool,
    pub ascii: bool,
}

/// Refuses product ids the history does not know (a typo would otherwise print nothing and
/// succeed), naming the first few it does know.
/// The products asked for, by id or by the name people see (`Orders`), as ids: an exact id
/// or name first, then either without regard to case where only one product fits. One that
/// fits none is refused with the likely ones.
fn resolve_products<'a>(
    asked: &[String],
    known: impl Iterator<Item = (&'a str, &'a str)> + Clone,
) -> Result<Vec<String>, Failure> {
    asked.iter().map(|word| resolve_product(word, known.clone())).collect()
}

fn resolve_product<'a>(word: &str, known: impl Iterator<Item = (&'a str, &'a str)> + Clone) -> Result<String, Failure> {
    let word = word.trim();
    let ids = |fits: &dyn Fn(&str, &str) -> bool| -> Vec<&'a str> {
        let mut found: Vec<&str> = known.clone().filter(|(id, name)| fits(id, name)).map(|(id, _)| id).collect();
        found.dedup();
        found
    };
    let exact = ids(&|id, name| id == word || name == word);
    let found = if exact.is_empty() {
        ids(&|id, name| id.eq_ignore_ascii_case(word) || name.to_lowercase() == word.to_lowercase())
    } else {
        exact
    };
    match found[..] {
        [id] => Ok(id.to_string()),
        [] => {
            let choices: Vec<&str> = known.clone().flat_map(|(id, name)| [id, name]).collect();
            let lowered: Vec<String> = choices.iter().map(|c| c.to_lowercase()).collect();
            let lowered: Vec<&str> = lowered.iter().map(String::as_str).collect();
            let hint = match crate::spelling::nearest(&word.to_lowercase(), &lowered) {
                Some(best) => format!(": did you mean {best}?"),
                None if choices.is_empty() => ": no product has been polled yet".to_string(),
                None => ": `tablestat status` lists them (ids and names both work)".to_string(),
            };
            Err(Failure::new(EXIT_USAGE, format!("no product `{}`{hint}", crate::text::inert(word))))
        }
        _ => Err(Failure::new(
            EXIT_USAGE,
            format!(
                "`{}` names {} products ({}): give the id",
                crate::text::inert(word),
                found.len(),
                found.join(", ")
            ),
        )),
    }
}

/// An incident's or a maintenance window's number as people see it printed: `61` or `#61`.
fn parse_number(text: &str) -> Result<i64, String> {
    let digits = text.trim().trim_start_matches('#');
    digits.parse().map_err(|_| format!("`{text}` is not a number like 61 or #61"))
}

/// The status document on stdout: JSON for scripts, else text.
fn print_doc(doc: &crate::status_doc::StatusDocument, json: bool, style: TextStyle) -> Result<(), Failure> {
    if json {
        emit_json(doc)?;
    } else {
        emit(&text::render(doc, style.color, style.ascii))?;
    }
    Ok(())
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging(cli.command.is_none());
    // One thread: every command waits on the network or the store; parsing artifacts and
    // SQLite run on threads of their own. Worker threads only added wake-ups (a poll of
    // 2,000 DAGs: ~15 % more CPU on two workers) and memory.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tablestat: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_INTERNAL);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) if e.is_quiet() => ExitCode::from(e.code),
        Err(e) => {
            // Not eprintln!: stderr may be a terminal that hung up, and that must not panic.
            // Several problems (a config's) are a line each.
            let mut err = std::io::stderr().lock();
            for line in e.message.lines() {
                let _ = writeln!(err, "tablestat: {}", crate::text::inert(line));
            }
            ExitCode::from(e.code)
        }
    }
}

/// The board's theme: where neither a flag nor `COLORFGBG` says the background is light,
/// the terminal is asked (OSC 11).
fn board_theme(theme: crate::tui::theme::Theme) -> crate::tui::theme::Theme {
    let light = theme.light
        || (theme.color
            && std::env::var_os("COLORFGBG").is_none()
            && crate::tui::terminal::background_is_light() == Some(true));
    crate::tui::theme::Theme::new(theme.color, theme.ascii, light)
}

async fn run(cli: Cli) -> Result<u8, Failure> {
    let color = !cli.no_color && crate::theme::color_wanted(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    let ascii = cli.ascii || !crate::theme::utf8_locale();
    let theme = crate::tui::theme::Theme::new(color, ascii, cli.light || crate::theme::light_background());
    let style = TextStyle { color, ascii };
    let Some(command) = cli.command else {
        let started = std::time::Instant::now();
        let config = load_config(cli.config.as_deref())?;
        let at = cli.at.as_deref().map(|t| when::past_moment(t, chrono::Utc::now())).transpose()?;
        // Where the environment does not say, the terminal is asked (OSC 11).
        let light = theme.light
            || (theme.color
                && std::env::var_os("COLORFGBG").is_none()
                && crate::tui::terminal::background_is_light() == Some(true));
        let theme = crate::tui::theme::Theme::new(theme.color, theme.ascii, light);
        let options = crate::tui::BoardOptions { theme, started, story: None, at };
        return crate::tui::run(std::sync::Arc::new(config), options).await.map(|()| 0);
    };
    if cli.at.is_some() {
        return Err(Failure::new(
            EXIT_USAGE,
            "--at goes with the board (`tablestat --at TIME`) or with status (`tablestat status --at TIME`)",
        ));
    }
    match command {
        Command::Demo(args) => {
            let options = crate::demo::DemoOptions {
                speed: args.speed,
                seed: args.seed,
                headless: args.headless,
                export: args.export,
                // The headless demo draws nothing: no question for the terminal.
                theme: if args.headless { theme } else { board_theme(theme) },
            };
            crate::demo::run(options).await
        }
        Command::Poll(args) => poll::run(&load_config(cli.config.as_deref())?, args, style).await,
        Command::Status(args) => status::run(&load_config(cli.config.as_deref())?, args, style).await,
        Command::Incident(command) => incident::run(&load_config(cli.config.as_deref())?, command).await,
        Command::Maintenance(command) => maintenance::run(&load_config(cli.config.as_deref())?, command).await,
        Command::Report(args) => report::run(&load_config(cli.config.as_deref())?, args, ascii).await,
        Command::Export(command) => export::run(&load_config(cli.config.as_deref())?, command).await,
        Command::Store(command) => store::run(&load_config(cli.config.as_deref())?, command).await,
        Command::Config(ConfigCommand::Check(args)) => check::run(cli.config.as_deref(), args).await,
        Command::GenerateHistory { db, products, seed, dense } => {
            let products = crate::demo::world::synthetic_products(products);
            let now = chrono::Utc::now().timestamp();
            let history = if dense {
                crate::demo::seed::dense_history(&products, now, seed)
            } else {
                crate::demo::seed::history(&products, now, seed)
            };
            let mut store = open_store(&db)?;
            store.import(&products, &history).map_err(store_error)?;
            crate::output::line(format!(
                "{}: {} products, {} intervals, {} incidents",
                db.display(),
                products.len(),
                history.spans.len(),
                history.incidents.len()
            ))?;
            Ok(0)
        }
        Command::DebugPanic => panic!("a panic asked for with `tablestat debug-panic`"),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "tablestat", &mut script);
            emit(&String::from_utf8_lossy(&script))?;
            Ok(0)
        }
    }
}

/// Finds and loads the config, printing its warnings to stderr.
pub fn load_config(flag: Option<&Path>) -> Result<Config, Failure> {
    let Some((path, origin)) = config::locate(flag) else {
        return Err(Failure::new(
            EXIT_NO_CONFIG,
            "cannot tell where the config lives (no home directory): pass --config PATH",
        ));
    };
    if !path.exists() {
        let how = match origin {
            ConfigOrigin::Flag => "given with --config",
            ConfigOrigin::EnvVar => "named by TABLESTAT_CONFIG",
            ConfigOrigin::Default => "the default location",
        };
        return Err(Failure::new(
            EXIT_NO_CONFIG,
            format!(
                "no config file at {} ({how}): write one (examples in the repository's config/ folder), \
                 or pass --config PATH",
                path.display()
            ),
        ));
    }
    let config = Config::load(&path).map_err(|e| Failure::new(EXIT_CONFIG, e.to_string()))?;
    for warning in &config.warnings {
        eprintln!("tablestat: warning: {}", crate::text::inert(warning));
    }
    Ok(config)
}

/// Runs `work` on the history the config names, which must exist already (a command that
/// reads history before any poll has nothing to say).
pub async fn with_history<T: Send + 'static>(
    config: &Config,
    work: impl FnOnce(&mut crate::store::Store) -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    if let Some(path) = config.store.file().filter(|path| !path.exists()) {
        return Err(Failure::new(
            EXIT_NO_CONFIG,
            format!("no history yet at {}: run `tablestat poll` (or `tablestat poll --once`) first", path.display()),
        ));
    }
    with_store(config, work).await
}

/// Opens the history the config names and runs `work` on it, both off the async runtime
/// (PostgreSQL's client runs a runtime of its own; SQLite's work belongs off the workers).
pub async fn with_store<T: Send + 'static>(
    config: &Config,
    work: impl FnOnce(&mut crate::store::Store) -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    let (location, base) = (config.store.clone(), config.base_dir().to_path_buf());
    tokio::task::spawn_blocking(move || {
        let mut store = crate::store::Store::open_at(&location, &base).map_err(store_error)?;
        work(&mut store)
    })
    .await
    .map_err(|e| Failure::new(EXIT_INTERNAL, e.to_string()))?
}

/// Opens the history database, or says why it cannot be.
pub fn open_store(path: &Path) -> Result<crate::store::Store, Failure> {
    crate::store::Store::open(path).map_err(store_error)
}

pub fn store_error(e: crate::store::StoreError) -> Failure {
    match e {
        crate::store::StoreError::Refused(message) => Failure::new(EXIT_USAGE, message),
        other => Failure::new(EXIT_IO, other.to_string()),
    }
}

/// Opens a file for appending, readable by its owner alone (0600, as the database): a log
/// holds names, reasons and errors from the sources. A file left 0644 by an older version
/// is made private too.
fn private_append(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path)?;
        if file.metadata()?.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(file)
    }
    #[cfg(not(unix))]
    options.open(path)
}

/// Logs go to stderr for headless commands, and to a file in the XDG state dir for the
/// board (never to its screen); filtered by `TABLESTAT_LOG` (default: info for the board,
/// warnings otherwise).
fn init_logging(board: bool) {
    let default = if board { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TABLESTAT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    if board {
        let dir = config::state_dir();
        let file = std::fs::create_dir_all(&dir).and_then(|()| private_append(&dir.join("tablestat.log")));
        match file {
            Ok(file) => {
                let _ = builder.with_ansi(false).with_writer(std::sync::Mutex::new(file)).try_init();
            }
            // No log file: stay silent rather than write over the board.
            Err(_) => {
                let _ = builder.with_writer(std::io::sink).try_init();
            }
        }
    } else {
        let ansi = crate::theme::color_wanted(std::io::IsTerminal::is_terminal(&std::io::stderr()));
        let _ = builder.with_ansi(ansi).with_writer(std::io::stderr).try_init();
    }
}
