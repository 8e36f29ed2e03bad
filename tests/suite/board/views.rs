//! The board on a `TestBackend`: snapshots of every view at 80x24 and 160x48 with a fixed
//! clock, colour and symbol checks per state, and key handling as plain `update` calls.

use crate::common::board::{now, prepared_store, snapshot};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use tablestat::model::State;
use tablestat::tui::action::Action;
use tablestat::tui::app::{App, Effect, Route, ViewOnly};
use tablestat::tui::theme::Theme;
use tablestat::tui::views::{self, Board};

fn app() -> App {
    let store = prepared_store();
    App::new(snapshot(&store), now())
}

fn draw(app: &mut App, theme: &Theme, width: u16, height: u16) -> Buffer {
    let area = ratatui::layout::Rect::new(0, 0, width, height);
    app.set_page(views::list_page(area, app));
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| f.render_widget(&Board { app, theme }, f.area())).unwrap();
    terminal.backend().buffer().clone()
}

fn text(buffer: &Buffer) -> String {
    let area = buffer.area;
    (0..area.height)
        .map(|y| (0..area.width).map(|x| buffer[(x, y)].symbol()).collect::<String>().trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn color() -> Theme {
    Theme::new(true, false, false)
}

#[test]
fn list_at_80x24_and_160x48() {
    let mut app = app();
    insta::assert_snapshot!("list_80x24", text(&draw(&mut app, &color(), 80, 24)));
    insta::assert_snapshot!("list_160x48", text(&draw(&mut app, &color(), 160, 48)));
    // Reasons and ages at the widths people have: the bars grow, the reason keeps its room.
    insta::assert_snapshot!("list_120x30", text(&draw(&mut app, &color(), 120, 30)));
    insta::assert_snapshot!("list_200x30", text(&draw(&mut app, &color(), 200, 30)));
}

/// What the store thread hands the board when a product's detail is opened.
fn load_detail(app: &mut App, store: &tablestat::store::Store, product: &str) {
    let (metrics, refreshes, incidents) =
        store.product_detail(product, now(), chrono::FixedOffset::east_opt(0).unwrap()).unwrap();
    app.detail = Some(std::sync::Arc::new(tablestat::tui::app::Detail {
        product: product.into(),
        metrics,
        refreshes,
        incidents,
    }));
}

#[test]
fn detail_and_incident_timeline() {
    let mut app = app();
    // Orders is first: the worst group (Sales) sorts first, its worst product first.
    assert_eq!(app.selected_product().unwrap().product.id, "fct_orders");
    assert_eq!(app.update(Action::Open), Effect::LoadDetail("fct_orders".into()));
    let store = prepared_store();
    load_detail(&mut app, &store, "fct_orders");
    insta::assert_snapshot!("detail_80x24", text(&draw(&mut app, &color(), 80, 24)));
    insta::assert_snapshot!("detail_160x48", text(&draw(&mut app, &color(), 160, 48)));
    let id = app.detail_incidents()[0].id;
    assert_eq!(app.update(Action::Open), Effect::LoadIncident(id));
    app.incident = Some(std::sync::Arc::new(store.incident(id).unwrap()));
    insta::assert_snapshot!("incident_80x24", text(&draw(&mut app, &color(), 80, 24)));
    assert_eq!(app.update(Action::Back), Effect::None);
    assert_eq!(app.update(Action::Back), Effect::None);
    assert_eq!(*app.route(), Route::List);
}

/// A product with more incidents than fit under its metrics: the list follows the selection,
/// so the incident `Enter` opens is always the one on screen, and the rule says there is more.
#[test]
fn the_detail_incident_list_follows_the_selection() {
    let mut app = app();
    app.update(Action::Open);
    load_detail(&mut app, &prepared_store(), "fct_orders");
    let ids: Vec<i64> = app.detail_incidents().iter().map(|i| i.id).collect();
    assert!(ids.len() >= 2, "the prepared store gives fct_orders several incidents: {ids:?}");
    // At 80x24 all fit with a line to spare; this leaves room for one incident line.
    let (width, height) = (80, 24 - ids.len() as u16);
    let shows = |screen: &str, id: i64| screen.lines().any(|l| l.contains(&format!("#{id} ")));
    let screen = text(&draw(&mut app, &color(), width, height));
    assert!(screen.contains("j/k for more") && !shows(&screen, *ids.last().unwrap()), "{screen}");
    for (at, id) in ids.iter().enumerate() {
        let screen = text(&draw(&mut app, &color(), width, height));
        assert!(shows(&screen, *id), "incident {at} (#{id}) selected but not shown:\n{screen}");
        assert_eq!(app.update(Action::Open), Effect::LoadIncident(*id));
        app.update(Action::Back);
        assert_eq!(app.sub_selected, at, "back from an incident, the cursor is where it was");
        app.update(Action::Down);
    }
}

#[test]
fn help_incidents_maintenance_and_filter() {
    let mut app = app();
    app.update(Action::ShowHelp);
    insta::assert_snapshot!("help_80x24", text(&draw(&mut app, &color(), 80, 24)));
    // It does not all fit at 80x24: j scrolls down to the last line, k back to the first.
    let last = "degraded counts as available";
    assert!(!text(&draw(&mut app, &color(), 80, 24)).contains(last));
    (0..30).for_each(|_| _ = app.update(Action::Down));
    let bottom = text(&draw(&mut app, &color(), 80, 24));
    assert!(bottom.contains(last) && !bottom.contains("move up"), "{bottom}");
    app.update(Action::Top);
    assert!(text(&draw(&mut app, &color(), 80, 24)).contains("move up"));
    app.update(Action::Back);
    app.update(Action::ShowIncidents);
    insta::assert_snapshot!("incidents_80x24", text(&draw(&mut app, &color(), 80, 24)));
    app.update(Action::Back);
    app.update(Action::ShowMaintenance);
    insta::assert_snapshot!("maintenance_80x24", text(&draw(&mut app, &color(), 80, 24)));
    app.update(Action::Back);
    app.update(Action::StartFilter);
    for c in "state:down".chars() {
        app.filter_input(crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char(c)));
    }
    insta::assert_snapshot!("filter_80x24", text(&draw(&mut app, &color(), 80, 24)));
}

#[test]
fn an_empty_first_run_says_what_is_happening() {
    let store = tablestat::store::Store::in_memory().unwrap();
    let mut app = App::new(snapshot(&store), now());
    insta::assert_snapshot!("empty_80x24", text(&draw(&mut app, &color(), 80, 24)));
}

#[test]
fn every_state_has_its_colour_and_its_symbol() {
    let theme = color();
    let mut app = app();
    let buffer = draw(&mut app, &theme, 160, 48);
    // Find each product's row and check the state cell: symbol and colour.
    let expect = [
        ("Orders ", State::Down),
        ("Customers", State::Degraded),
        ("Daily revenue", State::Maintenance),
        ("Payments (staging)", State::Up),
    ];
    for (name, state) in expect {
        let y = (0..48)
            .find(|&y| (0..160).map(|x| buffer[(x, y)].symbol()).collect::<String>().contains(&format!(" {name}")))
            .unwrap_or_else(|| panic!("{name}"));
        let cell = &buffer[(0, y)];
        assert_eq!(cell.symbol(), theme.symbol(state), "{name}");
        assert_eq!(cell.fg, theme.state_color(state), "{name}");
    }
    // Without colour the symbols stay, and no cell is coloured.
    let plain = Theme::new(false, false, false);
    let buffer = draw(&mut app, &plain, 80, 24);
    assert!(
        buffer.content.iter().all(|c| c.fg == ratatui::style::Color::Reset && c.bg == ratatui::style::Color::Reset)
    );
    assert!(text(&buffer).contains('✖'));
    // ASCII: no Unicode blocks or symbols anywhere.
    let ascii = Theme::new(false, true, false);
    let screen = text(&draw(&mut app, &ascii, 80, 24));
    assert!(screen.is_ascii(), "{screen}");
    // `~` is maintenance's symbol; text cut off at the edge ends in `>` instead.
    assert!(screen.lines().any(|l| l.ends_with('>')) && !screen.lines().any(|l| l.ends_with('~')), "{screen}");
    // Keys are named in words, not drawn as a `>` that reads like a key of its own.
    assert!(screen.contains(" Enter open "), "{screen}");
    app.update(Action::ShowHelp);
    let help = text(&draw(&mut app, &ascii, 80, 24));
    assert!(help.contains("  Enter Right l  open") && help.contains("  Up k"), "{help}");
    app.update(Action::Back);
}

#[test]
fn tiny_terminals_never_panic() {
    let mut app = app();
    for (w, h) in [(1, 1), (10, 3), (20, 5), (30, 8), (40, 10), (60, 15), (79, 23), (200, 60)] {
        for route in [Action::Back, Action::Open, Action::ShowHelp, Action::ShowIncidents, Action::ShowMaintenance] {
            app.update(route);
            draw(&mut app, &color(), w, h);
        }
    }
}

#[test]
fn keys_move_sort_filter_and_navigate() {
    let mut app = app();
    app.set_page(5);
    let ids = |app: &App| app.selected_product().map(|p| p.product.id.clone());
    assert_eq!(ids(&app).as_deref(), Some("fct_orders"));
    app.update(Action::Down);
    assert_eq!(ids(&app).as_deref(), Some("dim_customers"), "skips group headers");
    app.update(Action::Bottom);
    assert_eq!(ids(&app).as_deref(), Some("stg_payments"));
    app.update(Action::Top);
    assert_eq!(ids(&app).as_deref(), Some("fct_orders"));
    app.update(Action::PageDown);
    assert!(app.offset + app.page > app.selected && app.selected >= app.offset, "selection stays in view");
    // Rows move under the cursor when sorted, grouped or filtered; the cursor keeps its product.
    let before = ids(&app);
    for change in [Action::CycleSort, Action::ToggleGroups, Action::CycleSort, Action::ToggleGroups] {
        app.update(change);
        assert_eq!(ids(&app), before, "after {change:?}");
    }
    app.update(Action::CycleSort);
    app.update(Action::CycleSort);
    app.update(Action::CycleSort);
    app.update(Action::ToggleGroups);
    app.update(Action::Top);
    assert_eq!(ids(&app).as_deref(), Some("dim_customers"), "by name, flat");
    app.update(Action::ToggleFaults);
    assert_eq!(app.rows.len(), 2, "down and degraded; maintenance is planned, not a fault");
    app.update(Action::ToggleFaults);
    app.update(Action::CycleWindow);
    assert_eq!(app.window.label(), "30d");
    assert_eq!(app.update(Action::PollNow), Effect::PollNow);
    // A board that only views asks the poller elsewhere; one that may not write cannot ask.
    app.view_only = Some(ViewOnly::NoCredentials);
    assert_eq!(app.update(Action::PollNow), Effect::PollNow);
    assert_eq!(app.flash.as_deref(), Some("asked the poller to poll now"));
    app.view_only = Some(ViewOnly::ReadOnlyStore);
    assert_eq!(app.update(Action::PollNow), Effect::None);
    assert_eq!(app.flash.as_deref(), Some("this board may only read the history: it cannot ask for a poll"));
    app.view_only = None;
    assert_eq!(app.update(Action::Quit), Effect::Quit);
    // The filter: words, groups, states.
    app.update(Action::StartFilter);
    for c in "staging".chars() {
        app.filter_input(crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char(c)));
    }
    assert_eq!(app.rows.len(), 2);
    app.filter_input(crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Esc));
    assert_eq!(app.rows.len(), 5);
    // By owner: every prepared table is the data team's, none the finance team's.
    for (filter, rows) in [("owner:data-team", 5), ("owner:finance", 0), ("owner:DATA-TEAM staging", 2)] {
        app.update(Action::StartFilter);
        for c in filter.chars() {
            app.filter_input(crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char(c)));
        }
        assert_eq!(app.rows.len(), rows, "{filter}");
        app.filter_input(crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Esc));
    }
    // Mouse: a click selects, a second click on the same row opens.
    app.update(Action::Top);
    assert_eq!(app.click(1), Effect::None);
    let selected = ids(&app).unwrap();
    assert_eq!(app.click(1), Effect::LoadDetail(selected));
}

/// Text from sources (names, DAG ids, descriptions, test messages, reasons) can hold
/// terminal escape sequences; the board shows them inert, in the list and the detail.
#[test]
fn escape_sequences_from_sources_are_shown_inert() {
    let store = prepared_store();
    let mut snapshot = (*snapshot(&store)).clone();
    let hostile = "\u{1b}[2J\u{1b}]0;pwned\u{7}\u{1b}[31mred\u{202e}\u{2066}\u{9b}";
    for row in &mut snapshot.products {
        row.product.name = format!("Orders {hostile}");
        row.product.dag_id = format!("dag_{hostile}");
        row.evidence.dag_id = Some(row.product.dag_id.clone());
        row.product.description = Some(format!("about {hostile}"));
        for m in &mut row.metrics {
            m.reason = format!("test failed: {hostile}");
        }
        for t in &mut row.evidence.failing_tests {
            t.message = Some(hostile.to_string());
        }
    }
    let mut app = App::new(std::sync::Arc::new(snapshot), now());
    let screen = text(&draw(&mut app, &color(), 120, 40));
    assert!(!screen.chars().any(|c| tablestat::text::is_unsafe(c) && c != '\n'), "{screen:?}");
    assert!(screen.contains("[2J"), "the text stays readable, only inert: {screen}");

    // The detail of a product with failing tests: its DAG, description, test messages.
    let id = app.selected_product().unwrap().product.id.clone();
    assert_eq!(app.update(Action::Open), Effect::LoadDetail(id.clone()));
    load_detail(&mut app, &store, &id);
    let screen = text(&draw(&mut app, &color(), 160, 48));
    assert!(!screen.chars().any(|c| tablestat::text::is_unsafe(c) && c != '\n'), "{screen:?}");
    for shown in ["DAG dag_", "about ", "0;pwned"] {
        assert!(screen.contains(shown), "{shown:?} should be on screen, inert: {screen}");
    }
    let messages = screen.lines().filter(|l| l.contains("[31mred")).count();
    assert!(messages >= 4, "name, DAG, description and failing tests: {screen}");
}

/// `insecure_skip_verify` is said in the header for as long as it is set.
#[test]
fn unverified_tls_is_said_in_the_header() {
    let mut app = app();
    app.tls_unverified = true;
    let screen = text(&draw(&mut app, &color(), 80, 24));
    assert!(screen.lines().take(2).any(|l| l.contains("TLS NOT VERIFIED")), "{screen}");
}

#[test]
fn failing_webhooks_show_in_the_header_until_delivered() {
    let store = prepared_store();
    let mut snap = (*snapshot(&store)).clone();
    snap.notify = tablestat::store::NotifyHealth {
        undelivered: 2,
        last_failure: Some(("sales-slack".into(), "HTTP 500: internal error".into())),
    };
    let mut app = App::new(std::sync::Arc::new(snap), now());
    let screen = text(&draw(&mut app, &color(), 160, 48));
    let header: Vec<&str> = screen.lines().take(2).collect();
    assert!(header[1].ends_with("▲ 2 notifications undelivered (sales-slack: HTTP 500: internal error)"), "{header:?}");
    // At 80 columns the poller's health keeps its place; the warning gets what is left.
    let narrow = text(&draw(&mut app, &color(), 80, 24));
    let second = narrow.lines().nth(1).unwrap();
    assert!(second.starts_with(" starting · last poll ok, 12:00"), "{second}");
    assert!(second.contains("▲ 2 notifications undelivered"), "{second}");
}

/// A source in trouble at the last poll leads the header's health: the reason tables turn
/// late or unknown is what stays on a narrow screen.
#[test]
fn the_header_names_a_scheduler_that_stopped() {
    let store = prepared_store();
    let mut snap = (*snapshot(&store)).clone();
    snap.sources = vec![tablestat::store::SourceRow {
        health: tablestat::facts::SourceHealth {
            name: "airflow".into(),
            kind: "airflow".into(),
            reachable: true,
            api: Some("v2".into()),
            scheduler: Some(tablestat::facts::SchedulerHealth {
                status: Some("unhealthy".into()),
                heartbeat_at: chrono::DateTime::from_timestamp(now() - 3600, 0),
            }),
            error: None,
            ..Default::default()
        },
        checked_at: now(),
        failing_since: None,
    }];
    let mut app = App::new(std::sync::Arc::new(snap), now());
    // At 80 columns, whole: the cause, the role and the last poll's time.
    let screen = text(&draw(&mut app, &color(), 80, 24));
    let health = screen.lines().nth(1).unwrap();
    assert_eq!(health, " airflow scheduler silent since 11:00 · starting · last poll ok, 12:00");
    // A board that only views says why (here nobody polls): no credentials, or a database
    // role that may not write.
    for (why, said) in [
        (ViewOnly::NoCredentials, "no poller running (no credentials here)"),
        (ViewOnly::ReadOnlyStore, "no poller running (read-only database access here)"),
    ] {
        app.view_only = Some(why);
        let screen = text(&draw(&mut app, &color(), 160, 48));
        assert!(screen.lines().nth(1).unwrap().contains(said), "{screen}");
    }
}

/// Writes that fail are on screen, first: what the board shows is the last poll that could
/// be written, not the latest.
#[test]
fn the_header_says_the_last_write_failed() {
    let mut app = app();
    app.poller.write_error = Some("history database: disk is full".into());
    let screen = text(&draw(&mut app, &color(), 80, 24));
    let health = screen.lines().nth(1).unwrap();
    assert!(health.contains("▲ last write failed: history database: disk is full"), "{health}");
}

/// A snapshot with `extra` more healthy products in a group that sorts after the others.
fn crowded(extra: usize) -> tablestat::store::BoardSnapshot {
    let store = prepared_store();
    let mut snap = (*snapshot(&store)).clone();
    let healthy = snap.products.iter().find(|p| p.state == State::Up).unwrap().clone();
    for n in 0..extra {
        let mut row = healthy.clone();
        row.product.id = format!("zz_{n:02}");
        row.product.name = format!("Zebra {n:02}");
        row.product.group = "Zoo".into();
        snap.products.push(row);
    }
    snap
}

/// On call at 80x24: untouched, the worst rows are the first screen however rows re-sort;
/// rows off screen are counted in the list's title, with the worst state among them.
#[test]
fn the_worst_rows_are_the_first_screen_and_hidden_rows_are_counted() {
    let mut app = App::new(std::sync::Arc::new(crowded(30)), now());
    let screen = text(&draw(&mut app, &color(), 80, 24));
    let title = screen.lines().nth(3).unwrap();
    assert!(title.contains("35 of 35 products · ↓ 21 more"), "{title}");
    assert!(!title.contains('↑'), "{title}");
    assert!(screen.lines().nth(6).unwrap().contains("Orders"), "{screen}");
    // A product far down the list goes down: untouched, the cursor stays at the top, so
    // the new worst row is on screen.
    let mut next = crowded(30);
    let last = next.products.iter_mut().find(|p| p.product.id == "zz_29").unwrap();
    last.state = State::Down;
    last.product.group = "Aardvark".into();
    app.set_snapshot(std::sync::Arc::new(next));
    let screen = text(&draw(&mut app, &color(), 80, 24));
    assert!(screen.contains("Zebra 29"), "{screen}");
    assert_eq!(app.offset, 0);
    // Moved down a page and more, the rows above are counted and the worst of them named.
    for _ in 0..25 {
        app.update(Action::Down);
    }
    let screen = text(&draw(&mut app, &color(), 80, 24));
    let title = screen.lines().nth(3).unwrap();
    assert!(title.contains("↑") && title.contains("more (✖ down)"), "{title}");
    // Moved, the cursor keeps its product across snapshots; Home gives the top back.
    let kept = app.selected_product().unwrap().product.id.clone();
    app.set_snapshot(std::sync::Arc::new(crowded(30)));
    assert_eq!(app.selected_product().unwrap().product.id, kept);
    app.update(Action::Top);
    app.set_snapshot(std::sync::Arc::new(crowded(30)));
    assert_eq!(app.offset, 0);
    // In ASCII the arrows stay arrows of a kind.
    let ascii = Theme::new(false, true, false);
    app.update(Action::Bottom);
    let screen = text(&draw(&mut app, &ascii, 80, 24));
    assert!(screen.lines().nth(3).unwrap().contains("^ "), "{screen}");
}

/// Names in CJK or with emoji take two columns a character: cut by display width, the
/// columns after them stay in line.
#[test]
fn wide_names_keep_the_columns_in_line() {
    let mut snap = crowded(0);
    snap.products[0].product.name = "売上データ 📊 日次の受注と返品の一覧表".into();
    let mut app = App::new(std::sync::Arc::new(snap), now());
    let buffer = draw(&mut app, &color(), 80, 24);
    // Where the header's first metric column starts, every product row has its cell.
    let header_y = 4;
    let column = (0..80u16).find(|&x| buffer[(x, header_y)].symbol() == "A").expect("AVL heading");
    for y in 5..12u16 {
        let line: String = (0..80u16).map(|x| buffer[(x, y)].symbol()).collect();
        if line.starts_with("✖  ") || line.starts_with("▲  ") || line.starts_with("✔  ") {
            let cell = buffer[(column + 1, y)].symbol().to_string();
            assert!(["✔", "✖", "▲", "◆", "·"].contains(&cell.as_str()), "line {y}: {line:?} has {cell:?}");
        }
    }
    // The second column of a wide character is an empty cell in the text.
    let screen = text(&buffer).replace(' ', "");
    assert!(screen.contains("◆売上データ📊日次の…◆"), "{screen}");
}

fn key(code: crossterm::event::KeyCode) -> crossterm::event::KeyEvent {
    crossterm::event::KeyEvent::from(code)
}

fn ctrl(c: char) -> crossterm::event::KeyEvent {
    crossterm::event::KeyEvent::new(crossterm::event::KeyCode::Char(c), crossterm::event::KeyModifiers::CONTROL)
}

fn type_in(app: &mut App, text: &str) {
    for c in text.chars() {
        app.filter_input(key(crossterm::event::KeyCode::Char(c)));
    }
}

/// The filter line edits like a shell's: the cursor moves, ^W takes a word, ^U the start;
/// a `state:` nobody has says so, with what was probably meant.
#[test]
fn the_filter_line_edits_like_a_shell_and_names_unknown_states() {
    use crossterm::event::KeyCode;
    let mut app = app();
    app.update(Action::StartFilter);
    type_in(&mut app, "sales staging");
    assert_eq!(app.filter, "sales staging");
    app.filter_input(ctrl('w'));
    assert_eq!(app.filter, "sales ");
    type_in(&mut app, "orders");
    app.filter_input(key(KeyCode::Home));
    app.filter_input(key(KeyCode::Delete));
    type_in(&mut app, "S");
    assert_eq!(app.filter, "Sales orders");
    for _ in 0..5 {
        app.filter_input(key(KeyCode::Right));
    }
    app.filter_input(ctrl('u'));
    assert_eq!(app.filter, "orders");
    app.filter_input(ctrl('e'));
    app.filter_input(key(KeyCode::Left));
    app.filter_input(key(KeyCode::Backspace));
    assert_eq!(app.filter, "ordes");
    app.filter_input(ctrl('a'));
    app.filter_input(ctrl('k'));
    assert_eq!(app.filter, "");
    // An unknown state matches nothing and the line says why.
    type_in(&mut app, "state:dwn");
    assert_eq!(app.shown_products, 0);
    let screen = text(&draw(&mut app, &color(), 100, 24));
    let footer = screen.lines().last().unwrap();
    assert!(footer.contains("no state `dwn`: did you mean `down`?"), "{footer}");
    app.filter_input(key(KeyCode::Enter));
    let screen = text(&draw(&mut app, &color(), 100, 24));
    assert!(screen.lines().last().unwrap().contains("did you mean `down`"), "{screen}");
}

/// `/` in the incident list filters incidents: by product, status, metric or number.
#[test]
fn the_incident_list_has_its_own_filter() {
    use crossterm::event::KeyCode;
    let mut app = app();
    app.update(Action::ShowIncidents);
    let all = app.shown_incidents().len();
    assert!(all >= 2);
    app.update(Action::StartFilter);
    type_in(&mut app, "open");
    let open: Vec<i64> = app.shown_incidents().iter().map(|i| i.id).collect();
    assert!(!open.is_empty() && open.len() < all, "{open:?}");
    let screen = text(&draw(&mut app, &color(), 80, 24));
    assert!(screen.contains(&format!("{} of {all} match", open.len())), "{screen}");
    // Enter opens the incident the filtered list shows, not the unfiltered one.
    app.filter_input(key(KeyCode::Enter));
    assert_eq!(app.update(Action::Open), Effect::LoadIncident(open[0]));
    app.update(Action::Back);
    // The products' filter is untouched.
    assert!(app.filter.is_empty());
    app.update(Action::StartFilter);
    app.filter_input(ctrl('u'));
    type_in(&mut app, "#999999");
    let screen = text(&draw(&mut app, &color(), 80, 24));
    assert!(screen.contains("No incident matches"), "{screen}");
}

/// `p` holds what is on screen; snapshots that arrive wait; `p` again shows the latest.
#[test]
fn pause_holds_the_screen_until_resumed() {
    let mut app = app();
    app.update(Action::Pause);
    let before = app.snapshot.products.len();
    assert!(!app.set_snapshot(std::sync::Arc::new(crowded(3))), "held while paused");
    assert_eq!(app.snapshot.products.len(), before);
    let screen = text(&draw(&mut app, &color(), 80, 24));
    assert!(screen.lines().nth(1).unwrap().starts_with(" PAUSED since 12:00, newer data waiting"), "{screen}");
    assert!(screen.lines().last().unwrap().contains("p resume"), "{screen}");
    app.update(Action::Pause);
    assert_eq!(app.snapshot.products.len(), before + 3);
    assert!(app.set_snapshot(std::sync::Arc::new(crowded(4))));
}

/// `y` copies what the cursor is on: a product's id, its dbt run's address in the detail,
/// an incident's number.
#[test]
fn copy_takes_what_the_cursor_is_on() {
    let mut app = app();
    assert_eq!(app.update(Action::Copy), Effect::Copy("fct_orders".into()));
    assert!(app.flash.as_deref().unwrap().starts_with("copied fct_orders"));
    app.update(Action::Open);
    assert_eq!(app.update(Action::Copy), Effect::Copy("https://cloud.getdbt.example/runs/70002/".into()));
    app.update(Action::Back);
    app.update(Action::ShowIncidents);
    let first = app.shown_incidents()[0].id;
    assert_eq!(app.update(Action::Copy), Effect::Copy(first.to_string()));
}

/// What changed: the list marks products that changed state lately, and `e` lists the
/// day's changes, newest first; Enter opens the product.
#[test]
fn what_changed_is_marked_and_listed() {
    let mut app = app();
    let changes = app.snapshot.changes.clone();
    assert!(!changes.is_empty(), "the prepared history changes within the day");
    assert!(changes.windows(2).all(|w| w[0].at >= w[1].at), "newest first");
    assert!(changes.iter().all(|c| c.from != Some(c.to)), "changes of state only");
    app.update(Action::ShowChanges);
    insta::assert_snapshot!("changes_80x24", text(&draw(&mut app, &color(), 80, 24)));
    assert_eq!(app.update(Action::Open), Effect::LoadDetail(changes[0].product.clone()));
    // A change minutes ago is marked in the list.
    let mut snap = (*app.snapshot).clone();
    let orders = snap.products.iter_mut().find(|p| p.product.id == "fct_orders").unwrap();
    orders.since = Some(now() - 120);
    snap.changes.insert(
        0,
        tablestat::store::Change {
            product: "fct_orders".into(),
            at: now() - 120,
            from: Some(State::Degraded),
            to: State::Down,
        },
    );
    let mut app = App::new(std::sync::Arc::new(snap), now());
    let screen = text(&draw(&mut app, &color(), 80, 24));
    let orders = screen.lines().find(|l| l.contains("Orders ")).unwrap();
    assert!(orders.contains("•2 min"), "{orders}");
}

/// History: the states as they were at a moment of the past, from the stored spans, with
/// the header saying plainly that it is the past; `[` and `]` step through the changes.
#[test]
fn the_past_is_read_from_history_and_said_plainly() {
    let store = prepared_store();
    let zone = chrono::FixedOffset::east_opt(0).unwrap();
    // 09:00: Customers had gone degraded at 06:00; Orders (down at 10:00) and Daily revenue
    // (maintenance from 11:00) were up.
    let past =
        store.with_changes(store.snapshot_at(now() - 3 * 3600, zone, tablestat::store::Depth::Bars).unwrap()).unwrap();
    assert_eq!(past.as_of, Some(now() - 3 * 3600));
    let state = |id: &str| past.products.iter().find(|p| p.product.id == id).map(|p| p.state);
    assert_eq!(state("dim_customers"), Some(State::Degraded));
    assert_eq!(state("fct_orders"), Some(State::Up));
    assert_eq!(state("fct_daily_revenue"), Some(State::Up));
    assert!(past.changes.iter().all(|c| c.at <= now() - 3 * 3600), "no change from after it");
    assert!(past.maintenance.iter().all(|w| w.created_at <= now() - 3 * 3600));
    // The changes around 10:30 are 10:00 before it and 11:00 after it.
    let half_past = now() - 90 * 60;
    assert_eq!(store.change_next_to(half_past, true).unwrap(), Some(now() - 2 * 3600));
    assert_eq!(store.change_next_to(half_past, false).unwrap(), Some(now() - 3600));
    assert_eq!(store.change_next_to(now(), false).unwrap(), None);

    // On the board: the past is held, live snapshots wait, `]` past the newest is now.
    let mut app = app();
    assert_eq!(app.update(Action::Later), Effect::None, "now is as late as it gets");
    assert_eq!(app.update(Action::Earlier), Effect::Travel { from: now(), earlier: true });
    app.travelled(Some(std::sync::Arc::new(past)), true);
    let screen = text(&draw(&mut app, &color(), 80, 24));
    let health = screen.lines().nth(1).unwrap();
    assert!(health.starts_with(" HISTORY, not now: the states at 11-24 09:00 (3 h ago)"), "{screen}");
    assert!(screen.lines().next().unwrap().contains("▲ 1 degraded"), "{screen}");
    assert!(!app.set_snapshot(snapshot(&store)), "live data waits while the past is shown");
    assert_eq!(app.update(Action::Later), Effect::Travel { from: now() - 3 * 3600, earlier: false });
    app.travelled(None, false);
    assert_eq!(app.as_of(), None);
    assert!(text(&draw(&mut app, &color(), 80, 24)).contains("✖ 1 down"));
}

/// `/` in the maintenance list filters windows by scope, notice or number; each list
/// opens unfiltered.
#[test]
fn the_maintenance_list_filters_too() {
    let mut app = app();
    app.update(Action::ShowMaintenance);
    assert_eq!(app.shown_windows().len(), 1);
    app.update(Action::StartFilter);
    type_in(&mut app, "warehouse");
    assert_eq!(app.shown_windows().len(), 1);
    type_in(&mut app, " nothing-like-it");
    assert!(app.shown_windows().is_empty());
    let screen = text(&draw(&mut app, &color(), 80, 24));
    assert!(screen.contains("No window matches"), "{screen}");
    app.filter_input(key(crossterm::event::KeyCode::Enter));
    app.update(Action::Back);
    app.update(Action::ShowIncidents);
    assert!(app.incident_filter.is_empty(), "the incident list opens unfiltered");
}

/// Grouped, with more rows than the screen: each group's faults come first and its healthy
/// rows after, so faults spread over groups are all on the first screen.
#[test]
fn split_groups_keep_faults_from_every_group_on_the_first_screen() {
    let mut snap = crowded(30);
    for id in ["zz_03", "zz_17"] {
        snap.products.iter_mut().find(|p| p.product.id == id).unwrap().state = State::Down;
    }
    let mut app = App::new(std::sync::Arc::new(snap), now());
    let screen = text(&draw(&mut app, &color(), 80, 24));
    for name in ["Orders ", "Zebra 03", "Zebra 17", "Customers"] {
        assert!(screen.contains(name), "{name} on the first screen:\n{screen}");
    }
    assert!(screen.contains("✖ Zoo (2 of 30; the rest below)"), "{screen}");
    // Tall enough for everything: the groups stay whole.
    let screen = text(&draw(&mut app, &color(), 80, 60));
    assert!(screen.contains("✖ Zoo (30)") && !screen.contains("the rest below"), "{screen}");
}

/// Several sources: one compact line says how many are fine and which is not, since when.
#[test]
fn several_sources_are_one_compact_line() {
    let store = prepared_store();
    let mut snap = (*snapshot(&store)).clone();
    let source = |name: &str, reachable: bool, failing_since: Option<i64>| tablestat::store::SourceRow {
        health: tablestat::facts::SourceHealth {
            name: name.into(),
            kind: "airflow".into(),
            reachable,
            api: Some("v2".into()),
            scheduler: None,
            error: (!reachable).then(|| "connection refused".into()),
            ..Default::default()
        },
        checked_at: now(),
        failing_since,
    };
    snap.sources = vec![
        source("core", true, None),
        source("marketing", false, Some(now() - 4 * 60)),
        source("finance", true, None),
    ];
    let mut app = App::new(std::sync::Arc::new(snap), now());
    let screen = text(&draw(&mut app, &color(), 80, 24));
    let health = screen.lines().nth(1).unwrap();
    assert!(health.starts_with(" 3 sources: 2 ok, marketing unreachable for 4 min · starting"), "{health}");
}

/// One failing staging test, two tables: the incident view names the cause in its title,
/// lists each table with when it joined and when it was back, and who is affected: the
/// dashboard on the mart, whose `high` maturity makes the incident critical.
#[test]
fn an_incident_of_one_cause_lists_the_tables_it_reached() {
    use std::sync::Arc;
    use tablestat::evaluate::{Cause, Evaluation};
    use tablestat::model::{Evidence, Metric, Verdict};
    let mut store = tablestat::store::Store::in_memory().unwrap();
    let staging = crate::common::board::product("stg_orders", "Orders (staging)", "Staging");
    let mart = crate::common::board::product("fct_orders", "Orders", "Sales");
    let products: Vec<Arc<_>> = [&staging, &mart].into_iter().map(|p| Arc::new(p.clone())).collect();
    let cause = Cause::new("test:test.shop.unique_stg_orders_order_id", "`unique_stg_orders_order_id` failed");
    let checked = |p: &Arc<tablestat::model::Product>, at: i64, reason: Option<&str>| tablestat::poller::Checked {
        product: Arc::clone(p),
        evaluation: Evaluation {
            state: if reason.is_some() { State::Down } else { State::Up },
            metrics: p
                .metrics
                .iter()
                .map(|m| match (m, reason) {
                    (Metric::Freshness, Some(why)) => (m.clone(), Verdict::new(State::Down, why)),
                    _ => (m.clone(), Verdict::new(State::Up, "ok")),
                })
                .collect(),
            evidence: Evidence {
                exposures: if reason.is_some() && p.id == "fct_orders" {
                    vec![tablestat::model::Exposure {
                        name: "Weekly revenue".into(),
                        kind: "dashboard".into(),
                        maturity: Some("high".into()),
                    }]
                } else {
                    Vec::new()
                },
                ..Evidence::default()
            },
            note: None,
            refresh: None,
            run_finished_at: None,
            cause: reason.map(|_| cause.clone()),
        },
        checked_at: chrono::DateTime::from_timestamp(at, 0).unwrap(),
        interval: std::time::Duration::from_secs(300),
    };
    let (start, broke, mart_back, all_back) = (now() - 6 * 3600, now() - 4 * 3600, now() - 3 * 3600, now() - 3600);
    let mut at = start;
    while at <= now() {
        let staging_down = (broke..all_back).contains(&at);
        let mart_down = (broke..mart_back).contains(&at);
        let polled = [
            checked(&products[0], at, staging_down.then_some("unique test on order_id failed: 2 duplicated values")),
            checked(
                &products[1],
                at,
                mart_down.then_some("not rebuilt: upstream test unique_stg_orders_order_id failed"),
            ),
        ];
        let high = ["high".to_string()];
        let record = tablestat::store::PollRecord {
            critical_maturities: &high,
            ..crate::common::poll_at(at, &polled, &products, 1)
        };
        store.record_poll(&record).unwrap();
        at += 600;
    }
    let incidents = store.incidents(None, 10).unwrap();
    assert_eq!(incidents.len(), 1, "one cause, one incident");
    assert_eq!(incidents[0].severity, tablestat::model::Severity::Critical, "a high-maturity dashboard reads the mart");
    let mut app = App::new(snapshot(&store), now());
    app.update(Action::ShowIncidents);
    assert_eq!(app.update(Action::Open), Effect::LoadIncident(incidents[0].id));
    app.incident = Some(Arc::new(store.incident(incidents[0].id).unwrap()));
    let screen = text(&draw(&mut app, &color(), 80, 24));
    insta::assert_snapshot!("incident_of_one_cause_80x24", screen);
    // In the list of incidents: the table that opened it, and how many more.
    app.update(Action::Back);
    let list = text(&draw(&mut app, &color(), 80, 24));
    assert!(list.contains("#1    resolved      Orders (stag… +1"), "{list}");
}

/// In an open incident, `a` takes it and `x` then a reason key closes it, the reasons read
/// from the same table the prompt shows; any other key leaves it; a resolved incident
/// cannot be taken. The writes themselves are the store's (tested there).
#[test]
fn an_incident_is_taken_and_closed_with_a_reason_from_the_board() {
    use tablestat::model::Resolution;
    let store = prepared_store();
    let mut app = app();
    app.update(Action::ShowIncidents);
    let open = app.shown_incidents().iter().find(|i| i.resolved_at.is_none()).map(|i| i.id).unwrap();
    let resolved = app.shown_incidents().iter().find(|i| i.resolved_at.is_some()).map(|i| i.id).unwrap();
    let show = |app: &mut App, id: i64| {
        app.incident = Some(std::sync::Arc::new(store.incident(id).unwrap()));
        app.routes.push(Route::Incident(id));
    };
    show(&mut app, open);
    assert_eq!(app.update(Action::Acknowledge), Effect::Acknowledge(open));
    assert_eq!(app.update(Action::CloseIncident), Effect::None);
    let screen = text(&draw(&mut app, &color(), 120, 30));
    assert!(
        screen.contains(&format!("close #{open} as: f fixed · e expected · p a false positive · u broken upstream")),
        "{screen}"
    );
    let key = |c| crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char(c));
    assert_eq!(app.closing_input(key('p')), Effect::Resolve { id: open, reason: Resolution::FalsePositive });
    assert_eq!(app.closing, None);
    app.update(Action::CloseIncident);
    assert_eq!(app.closing_input(key('z')), Effect::None, "any other key leaves it");
    assert!(app.flash.as_deref().unwrap().contains("left as it was"));
    // Keys go where the board is: `a` and `x` do nothing on the list.
    assert_eq!(
        tablestat::tui::keys::action_for(key('x'), tablestat::tui::keys::Context::List),
        None,
        "x is the incident's key"
    );
    app.routes.pop();
    show(&mut app, resolved);
    assert_eq!(app.update(Action::Acknowledge), Effect::None);
    assert!(app.flash.as_deref().unwrap().contains("resolved"), "{:?}", app.flash);
}
