//! The board's model: the latest snapshot, and the UI state around it. State changes only
//! through `App`'s own methods — `update` for an [`Action`], `filter_input`, `click` and
//! `scroll` for raw input, and the setters the loop calls with background results — so a
//! test can drive the whole board; views borrow the model and never change it. I/O is asked
//! for through the returned [`Effect`], which the event loop carries out.

use std::sync::Arc;

use super::action::Action;
use crate::model::State;
use crate::poller::service::{PollerStatus, Role};
use crate::store::{BoardSnapshot, Incident, MetricRow, RefreshRow, WindowKind};

/// How long a product that changed state is marked as changed in the list, in seconds.
pub const RECENT: i64 = 15 * 60;

/// A screen on the navigation stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    List,
    Product(String),
    Incident(i64),
    Incidents,
    Maintenance,
    Changes,
    Help,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    State,
    Name,
    Uptime,
    LastChange,
}

impl Sort {
    pub fn label(self) -> &'static str {
        match self {
            Sort::State => "state",
            Sort::Name => "name",
            Sort::Uptime => "uptime",
            Sort::LastChange => "last change",
        }
    }

    fn next(self) -> Sort {
        match self {
            Sort::State => Sort::Name,
            Sort::Name => Sort::Uptime,
            Sort::Uptime => Sort::LastChange,
            Sort::LastChange => Sort::State,
        }
    }
}

/// A line of the product list.
#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    Group {
        name: String,
        count: usize,
        worst: State,
        /// How many of the group's `count` products are under this heading, when the
        /// group is split (its faults first, its healthy rows further down).
        part: Option<usize>,
    },
    /// Index into `snapshot.products`.
    Product(usize),
}

/// What the event loop must do after an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    None,
    Quit,
    PollNow,
    LoadDetail(String),
    LoadIncident(i64),
    /// Put this text on the terminal's clipboard.
    Copy(String),
    /// Record that the board's user took this incident.
    Acknowledge(i64),
    /// Close this incident, for this reason.
    Resolve {
        id: i64,
        reason: crate::model::Resolution,
    },
    /// Show the states at the product change before (or after) `from`.
    Travel {
        from: i64,
        earlier: bool,
    },
}

/// One product's history, loaded when its detail opens.
#[derive(Debug, Clone)]
pub struct Detail {
    pub product: String,
    pub metrics: Vec<MetricRow>,
    pub refreshes: Vec<RefreshRow>,
    pub incidents: Vec<Incident>,
}

/// Why a board views without polling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewOnly {
    /// The API secrets cannot be read here.
    NoCredentials,
    /// The database role may read the history, not write it.
    ReadOnlyStore,
}

impl ViewOnly {
    /// What the header says of it.
    pub fn why(self) -> &'static str {
        match self {
            ViewOnly::NoCredentials => "no credentials",
            ViewOnly::ReadOnlyStore => "read-only database access",
        }
    }
}

pub struct App {
    pub snapshot: Arc<BoardSnapshot>,
    pub poller: PollerStatus,
    /// Why this process only views, if it does: it cannot read the API secrets, or its
    /// database role may not write. Such a board never asks for the lease.
    pub view_only: Option<ViewOnly>,
    /// Seconds since the epoch, for relative times; set by the event loop.
    pub now: i64,
    pub routes: Vec<Route>,
    pub rows: Vec<Row>,
    /// How many of `rows` are products (the rest are group headings).
    pub shown_products: usize,
    /// Index into `rows` (always a product row when there is one).
    pub selected: usize,
    /// First row shown.
    pub offset: usize,
    /// The user moved the cursor: until then it stays on the first (worst, sorted by state)
    /// row as rows re-sort, so the worst rows are the first screen.
    moved: bool,
    /// Rows that fit in the list (from the terminal size).
    pub page: usize,
    pub filter: String,
    pub filtering: bool,
    /// Where typing goes in the filter being edited, in chars.
    pub filter_cursor: usize,
    /// The incident list's own filter (product, status, metric, #id).
    pub incident_filter: String,
    /// Updates held while the user reads (`p`): the latest snapshot that arrived.
    pub paused_at: Option<i64>,
    held: Option<Arc<BoardSnapshot>>,
    /// A demo's story, now: the board says it is a demo, and what is happening.
    pub story: Option<String>,
    /// Per product (by index), whether it changed state in the last [`RECENT`] seconds.
    pub recent: Vec<bool>,
    pub sort: Sort,
    pub window: WindowKind,
    pub grouped: bool,
    pub faults_only: bool,
    pub detail: Option<Arc<Detail>>,
    pub incident: Option<Arc<Incident>>,
    /// Selection within the detail's incidents, the incidents view, the maintenance view.
    pub sub_selected: usize,
    /// `sub_selected` of each screen under the current one, restored on the way back.
    sub_selected_below: Vec<usize>,
    /// A short message for the footer ("poll requested").
    pub flash: Option<String>,
    /// `x` was pressed in this incident: the next key says why it is closed.
    pub closing: Option<i64>,
    /// A source's certificates are not checked (`insecure_skip_verify`): said in the header
    /// for as long as it is so.
    pub tls_unverified: bool,
    /// The list's metric columns and the widest name: derived from the snapshot once, so
    /// drawing touches only the rows on screen.
    pub metric_columns: Vec<crate::model::Metric>,
    pub longest_name: usize,
    /// Some product is not up: the list makes room for reasons.
    pub any_reason: bool,
    /// Products per state, and the worst: for the header, derived once per snapshot too
    /// (a pass over 5,000 rows each frame cost milliseconds in cache misses).
    pub summary: crate::status_doc::Summary,
    pub overall: State,
    /// The distinct moments products entered their states: the list shows their ages, so
    /// [`App::next_tick`] looks at them.
    state_moments: Vec<i64>,
}

impl App {
    pub fn new(snapshot: Arc<BoardSnapshot>, now: i64) -> App {
        let mut app = App {
            snapshot,
            poller: PollerStatus::default(),
            view_only: None,
            now,
            routes: vec![Route::List],
            rows: Vec::new(),
            shown_products: 0,
            selected: 0,
            offset: 0,
            moved: false,
            page: 20,
            filter: String::new(),
            filtering: false,
            filter_cursor: 0,
            incident_filter: String::new(),
            paused_at: None,
            held: None,
            recent: Vec::new(),
            story: None,
            sort: Sort::State,
            window: WindowKind::Week,
            grouped: true,
            faults_only: false,
            detail: None,
            incident: None,
            sub_selected: 0,
            sub_selected_below: Vec::new(),
            flash: None,
            closing: None,
            tls_unverified: false,
            metric_columns: Vec::new(),
            longest_name: 0,
            any_reason: false,
            summary: crate::status_doc::Summary::default(),
            overall: State::Up,
            state_moments: Vec::new(),
        };
        app.derive();
        app.rebuild_rows();
        app
    }

    pub fn route(&self) -> &Route {
        self.routes.last().expect("the list is always at the bottom")
    }

    /// The product under the cursor in the list.
    pub fn selected_product(&self) -> Option<&crate::store::ProductRow> {
        match self.rows.get(self.selected)? {
            Row::Product(i) => self.snapshot.products.get(*i),
            Row::Group { .. } => None,
        }
    }

    /// A new snapshot arrived: keep the cursor on the same product. Paused, or showing the
    /// past, it is held until the user comes back; false then.
    pub fn set_snapshot(&mut self, snapshot: Arc<BoardSnapshot>) -> bool {
        if self.paused_at.is_some() || self.as_of().is_some() {
            self.held = Some(snapshot);
            return false;
        }
        self.show_snapshot(snapshot);
        true
    }

    /// The moment of the past on screen; `None`: now.
    pub fn as_of(&self) -> Option<i64> {
        self.snapshot.as_of
    }

    /// A step through history ended: the states at that change (the live snapshot is held
    /// meanwhile), or, with `None`, no change that way: back to now going later, a notice
    /// going earlier.
    pub fn travelled(&mut self, past: Option<Arc<BoardSnapshot>>, earlier: bool) {
        match past {
            Some(past) => {
                if self.as_of().is_none() {
                    self.held = Some(self.snapshot.clone());
                }
                self.show_snapshot(past);
            }
            None if earlier => self.flash = Some("no earlier change in the history".into()),
            None => {
                if let Some(now) = self.held.take() {
                    self.show_snapshot(now);
                }
                self.flash = Some("back to now".into());
            }
        }
    }

    fn show_snapshot(&mut self, snapshot: Arc<BoardSnapshot>) {
        let keep = self.selected_id();
        self.snapshot = snapshot;
        self.derive();
        self.arrange_rows();
        self.reselect(keep);
    }

    fn selected_id(&self) -> Option<String> {
        self.selected_product().map(|p| p.product.id.clone())
    }

    /// Puts the cursor back on product `id` if it is still shown (rows move under it when
    /// the list is sorted, filtered, grouped or refreshed) — or on the first row while the
    /// user has not moved.
    fn reselect(&mut self, id: Option<String>) {
        if !self.moved {
            self.selected = 0;
            self.offset = 0;
        } else if let Some(id) = id {
            if let Some(at) = self
                .rows
                .iter()
                .position(|r| matches!(r, Row::Product(i) if self.snapshot.products[*i].product.id == id))
            {
                self.selected = at;
            }
        }
        self.clamp();
    }

    pub fn set_page(&mut self, rows: usize) {
        let page = rows.max(1);
        if page != self.page {
            self.page = page;
            // Whether groups split to keep the worst rows on screen depends on the height.
            self.rebuild_rows();
        }
        self.clamp();
    }

    pub fn update(&mut self, action: Action) -> Effect {
        self.flash = None;
        match action {
            Action::Quit => return Effect::Quit,
            Action::Up => self.step(-1),
            Action::Down => self.step(1),
            Action::PageUp => self.step(-(self.page as isize)),
            Action::PageDown => self.step(self.page as isize),
            Action::Top => {
                self.step(isize::MIN / 2);
                // Back at the top, the list keeps the worst rows in view again.
                self.moved = *self.route() != Route::List;
            }
            Action::Bottom => self.step(isize::MAX / 2),
            Action::Open => return self.open(),
            Action::Back => self.back(),
            Action::StartFilter => {
                if matches!(self.route(), Route::List | Route::Incidents | Route::Maintenance) {
                    self.filtering = true;
                    self.filter_cursor = self.filter_text().chars().count();
                }
            }
            Action::CycleSort => {
                self.sort = self.sort.next();
                self.rebuild_rows();
            }
            Action::CycleWindow => self.window = self.window.next(),
            Action::ToggleGroups => {
                self.grouped = !self.grouped;
                self.rebuild_rows();
            }
            Action::ToggleFaults => {
                self.faults_only = !self.faults_only;
                self.rebuild_rows();
            }
            Action::PollNow => {
                // The request is a row in the database: a role that may not write cannot ask.
                if self.view_only == Some(ViewOnly::ReadOnlyStore) {
                    self.flash = Some("this board may only read the history: it cannot ask for a poll".into());
                    return Effect::None;
                }
                self.flash = Some(match (&self.poller.role, self.view_only) {
                    (Role::Following(lease), _) => format!("asked the poller (pid {}) to poll now", lease.pid),
                    // No credentials here: the poller elsewhere takes the request.
                    (_, Some(_)) => "asked the poller to poll now".to_string(),
                    (_, None) => "polling now".to_string(),
                });
                return Effect::PollNow;
            }
            Action::Acknowledge => return self.acknowledge(),
            Action::CloseIncident => {
                if let Some(incident) = self.incident_here() {
                    self.closing = Some(incident.id);
                }
            }
            Action::ShowIncidents => self.push(Route::Incidents),
            Action::ShowMaintenance => self.push(Route::Maintenance),
            Action::ShowChanges => self.push(Route::Changes),
            Action::ShowHelp => self.push(Route::Help),
            Action::Earlier => return Effect::Travel { from: self.as_of().unwrap_or(self.now), earlier: true },
            Action::Later => match self.as_of() {
                Some(from) => return Effect::Travel { from, earlier: false },
                None => self.flash = Some("this is now: [ steps back through the changes".into()),
            },
            Action::Pause => match self.paused_at.take() {
                Some(_) => {
                    if self.as_of().is_none() {
                        if let Some(held) = self.held.take() {
                            self.show_snapshot(held);
                        }
                    }
                    self.flash = Some("caught up".into());
                }
                None => self.paused_at = Some(self.now),
            },
            Action::Copy => return self.copy(),
        }
        Effect::None
    }

    /// A newer snapshot waits for the pause to end.
    pub fn held_snapshot(&self) -> bool {
        self.held.is_some()
    }

    /// What `y` copies where the board is: the product's id (its dbt run's address in the
    /// detail, when there is one), an incident's or a window's number.
    fn copy(&mut self) -> Effect {
        let text = match self.route() {
            Route::List => self.selected_product().map(|p| p.product.id.clone()),
            Route::Product(id) => {
                // What an engineer pastes next: the dbt run's page, else the DAG run's id.
                let row = self.snapshot.products.iter().find(|p| p.product.id == *id);
                let evidence = row.map(|r| &r.evidence);
                Some(
                    evidence
                        .and_then(|e| e.dbt_run_url.clone().or_else(|| e.dag_run_id.clone()))
                        .unwrap_or_else(|| id.clone()),
                )
            }
            Route::Incident(id) => Some(id.to_string()),
            Route::Incidents => self.shown_incidents().get(self.sub_selected).map(|i| i.id.to_string()),
            Route::Maintenance => self.shown_windows().get(self.sub_selected).map(|w| w.id.to_string()),
            Route::Changes => self.snapshot.changes.get(self.sub_selected).map(|c| c.product.clone()),
            Route::Help => None,
        };
        match text {
            Some(text) => {
                self.flash = Some(format!("copied {} (if the terminal allows OSC 52)", crate::text::inert(&text)));
                Effect::Copy(text)
            }
            None => Effect::None,
        }
    }

    /// The filter the open list uses: the products', or the incidents' and windows' (one
    /// line for both: they are never on screen together).
    fn filter_text(&mut self) -> &mut String {
        if matches!(self.route(), Route::Incidents | Route::Maintenance) {
            &mut self.incident_filter
        } else {
            &mut self.filter
        }
    }

    /// The maintenance windows the maintenance list shows: all, or those whose scope or
    /// message has every word of its filter, or `#id`.
    pub fn shown_windows(&self) -> Vec<&crate::store::MaintenanceWindow> {
        let words: Vec<String> = self.incident_filter.split_whitespace().map(str::to_lowercase).collect();
        self.snapshot
            .maintenance
            .iter()
            .filter(|w| {
                let text = format!("{} {}", w.scope, w.message).to_lowercase();
                words.iter().all(|word| {
                    text.contains(word.as_str()) || word.strip_prefix('#').is_some_and(|n| n == w.id.to_string())
                })
            })
            .collect()
    }

    /// The incidents the incident list shows: all, or those its filter matches.
    pub fn shown_incidents(&self) -> Vec<&Incident> {
        let words: Vec<String> = self.incident_filter.split_whitespace().map(str::to_lowercase).collect();
        let name = |id: &str| {
            self.snapshot.products.iter().find(|p| p.product.id == id).map(|p| p.product.name.to_lowercase())
        };
        self.snapshot
            .incidents
            .iter()
            .filter(|i| {
                words.is_empty() || {
                    let name = name(&i.product).unwrap_or_default();
                    words.iter().all(|w| {
                        let number = w.trim_start_matches('#');
                        i.product.to_lowercase().contains(w)
                            || name.contains(w)
                            || i.status.as_str().contains(w.as_str())
                            || i.metrics.iter().any(|m| m.contains(w.as_str()))
                            || (!number.is_empty() && i.id.to_string() == number)
                            || (w == "open" && i.resolved_at.is_none())
                    })
                }
            })
            .collect()
    }

    /// What the filter line says about what was typed: a `state:` nobody has, and what
    /// was probably meant.
    pub fn filter_hint(&self) -> Option<String> {
        if *self.route() != Route::List {
            return None;
        }
        let names: Vec<&str> = State::ALL.iter().map(|s| s.as_str()).collect();
        Filter::parse(&self.filter).unknown_states.first().map(|s| {
            let guess = crate::spelling::nearest(s, &names).map(|g| format!("did you mean {g}? ")).unwrap_or_default();
            format!("no state `{s}`: {guess}states are {}", names.join(", "))
        })
    }

    /// A key typed while the filter line is open: typing inserts at the cursor; the
    /// editing keys of a shell (←/→, Home/End, ^A/^E, ^U, ^K, ^W, Delete) work.
    pub fn filter_input(&mut self, key: crossterm::event::KeyEvent) {
        use crossterm::event::{KeyCode, KeyModifiers};
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let at = self.filter_cursor;
        let mut chars: Vec<char> = self.filter_text().chars().collect();
        let at = at.min(chars.len());
        let mut cursor = at;
        match key.code {
            KeyCode::Esc => {
                chars.clear();
                cursor = 0;
                self.filtering = false;
            }
            KeyCode::Enter => self.filtering = false,
            KeyCode::Left if at > 0 => cursor = at - 1,
            KeyCode::Right => cursor = (at + 1).min(chars.len()),
            KeyCode::Home => cursor = 0,
            KeyCode::End => cursor = chars.len(),
            KeyCode::Char('a') if ctrl => cursor = 0,
            KeyCode::Char('e') if ctrl => cursor = chars.len(),
            KeyCode::Char('u') if ctrl => {
                chars.drain(..at);
                cursor = 0;
            }
            KeyCode::Char('k') if ctrl => chars.truncate(at),
            KeyCode::Char('w') if ctrl => {
                // The word before the cursor and the spaces after it, as a shell does.
                let mut start = at;
                while start > 0 && chars[start - 1] == ' ' {
                    start -= 1;
                }
                while start > 0 && chars[start - 1] != ' ' {
                    start -= 1;
                }
                chars.drain(start..at);
                cursor = start;
            }
            KeyCode::Backspace if at > 0 => {
                chars.remove(at - 1);
                cursor = at - 1;
            }
            KeyCode::Delete if at < chars.len() => {
                chars.remove(at);
            }
            KeyCode::Char(c) if !ctrl && !c.is_control() && chars.len() < 64 => {
                chars.insert(at, c);
                cursor = at + 1;
            }
            _ => return,
        }
        self.filter_cursor = cursor;
        let text: String = chars.into_iter().collect();
        if *self.filter_text() == text {
            return;
        }
        *self.filter_text() = text;
        if *self.route() == Route::List {
            self.rebuild_rows();
        } else {
            self.sub_selected = 0;
        }
    }

    /// A click on list line `row` (0 = first shown line): select it; a click on the
    /// selected line opens it.
    pub fn click(&mut self, row: usize) -> Effect {
        let at = self.offset + row;
        if *self.route() != Route::List || at >= self.rows.len() || matches!(self.rows[at], Row::Group { .. }) {
            return Effect::None;
        }
        if at == self.selected {
            return self.open();
        }
        self.selected = at;
        self.moved = true;
        Effect::None
    }

    pub fn scroll(&mut self, lines: isize) {
        self.step(lines);
    }

    /// Which keys apply here: the list's own, or those of the screens above it.
    pub fn key_context(&self) -> crate::tui::keys::Context {
        use crate::tui::keys::Context;
        match self.route() {
            Route::List => Context::List,
            Route::Incident(_) => Context::Incident,
            _ => Context::Detail,
        }
    }

    /// The incident on screen, if it is loaded.
    fn incident_here(&self) -> Option<&Incident> {
        match self.route() {
            Route::Incident(id) => self.incident.as_deref().filter(|i| i.id == *id),
            _ => None,
        }
    }

    /// `a` in an incident: take it, unless it is over or taken (said, not sent).
    fn acknowledge(&mut self) -> Effect {
        let Some(incident) = self.incident_here() else { return Effect::None };
        let said = match (incident.resolved_at, &incident.acknowledged_by, incident.acknowledged_at) {
            (Some(_), _, _) => "this incident is resolved: nothing left to take".to_string(),
            (None, who, Some(_)) => format!("already taken by {}", who.as_deref().unwrap_or("the data team")),
            (None, _, None) => return Effect::Acknowledge(incident.id),
        };
        self.flash = Some(said);
        Effect::None
    }

    /// The key after `x`: a reason closes the incident; Esc (or any other key) does not.
    pub fn closing_input(&mut self, key: crossterm::event::KeyEvent) -> Effect {
        let Some(id) = self.closing.take() else { return Effect::None };
        let crossterm::event::KeyCode::Char(c) = key.code else {
            self.flash = Some(format!("incident #{id} left as it was"));
            return Effect::None;
        };
        match crate::tui::keys::REASONS.iter().find(|(k, _)| *k == c) {
            Some((_, reason)) => Effect::Resolve { id, reason: *reason },
            None => {
                self.flash = Some(format!("incident #{id} left as it was"));
                Effect::None
            }
        }
    }

    fn push(&mut self, route: Route) {
        if *self.route() != route {
            if matches!(route, Route::Incidents | Route::Maintenance) {
                // The two lists share one filter line: each opens unfiltered.
                self.incident_filter.clear();
            }
            self.routes.push(route);
            self.sub_selected_below.push(std::mem::take(&mut self.sub_selected));
        }
    }

    fn back(&mut self) {
        if self.filtering {
            self.filtering = false;
            return;
        }
        if self.routes.len() > 1 {
            self.routes.pop();
            self.sub_selected = self.sub_selected_below.pop().unwrap_or(0);
        }
    }

    fn open(&mut self) -> Effect {
        match self.route().clone() {
            Route::List => match self.selected_product() {
                Some(p) => {
                    let id = p.product.id.clone();
                    self.detail = None;
                    self.push(Route::Product(id.clone()));
                    Effect::LoadDetail(id)
                }
                None => Effect::None,
            },
            Route::Product(_) => self.open_incident(self.detail_incidents().get(self.sub_selected).map(|i| i.id)),
            Route::Incidents => self.open_incident(self.shown_incidents().get(self.sub_selected).map(|i| i.id)),
            Route::Changes => match self.snapshot.changes.get(self.sub_selected) {
                Some(change) => {
                    let id = change.product.clone();
                    self.detail = None;
                    self.push(Route::Product(id.clone()));
                    Effect::LoadDetail(id)
                }
                None => Effect::None,
            },
            _ => Effect::None,
        }
    }

    fn open_incident(&mut self, id: Option<i64>) -> Effect {
        match id {
            Some(id) => {
                self.incident = None;
                self.push(Route::Incident(id));
                Effect::LoadIncident(id)
            }
            None => Effect::None,
        }
    }

    /// The incidents listed in the product detail.
    pub fn detail_incidents(&self) -> &[Incident] {
        self.detail.as_ref().map_or(&[], |d| d.incidents.as_slice())
    }

    fn step(&mut self, by: isize) {
        match self.route() {
            Route::List => {
                let products: Vec<usize> = self
                    .rows
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| matches!(r, Row::Product(_)))
                    .map(|(i, _)| i)
                    .collect();
                if products.is_empty() {
                    return;
                }
                let here = products.iter().position(|&i| i >= self.selected).unwrap_or(products.len() - 1);
                let to = (here as isize).saturating_add(by).clamp(0, products.len() as isize - 1) as usize;
                self.selected = products[to];
                self.moved = true;
                self.clamp();
            }
            route => {
                let len = match route {
                    Route::Product(_) => self.detail_incidents().len(),
                    Route::Incidents => self.shown_incidents().len(),
                    Route::Maintenance => self.shown_windows().len(),
                    Route::Changes => self.snapshot.changes.len(),
                    // The help scrolls a line at a time on a small terminal.
                    Route::Help => crate::tui::keys::help_line_count(),
                    _ => 0,
                };
                if len > 0 {
                    self.sub_selected =
                        (self.sub_selected as isize).saturating_add(by).clamp(0, len as isize - 1) as usize;
                }
            }
        }
    }

    /// Rows above and below the screen: how many products, and the worst of them.
    pub fn hidden(&self) -> [(usize, Option<State>); 2] {
        let end = (self.offset + self.page).min(self.rows.len());
        let count = |rows: &[Row]| {
            let products = rows.iter().filter_map(|r| match r {
                Row::Product(i) => Some(self.snapshot.products[*i].state),
                Row::Group { .. } => None,
            });
            let states: Vec<State> = products.collect();
            (states.len(), states.iter().copied().min())
        };
        [count(&self.rows[..self.offset.min(end)]), count(&self.rows[end..])]
    }

    /// Keeps the selection on a product row and in view.
    fn clamp(&mut self) {
        if self.rows.is_empty() {
            self.selected = 0;
            self.offset = 0;
            return;
        }
        self.selected = self.selected.min(self.rows.len() - 1);
        if matches!(self.rows[self.selected], Row::Group { .. }) {
            if let Some(next) = (self.selected..self.rows.len()).find(|&i| matches!(self.rows[i], Row::Product(_))) {
                self.selected = next;
            }
        }
        if self.selected < self.offset {
            self.offset = self.selected;
        }
        if self.selected >= self.offset + self.page {
            self.offset = self.selected + 1 - self.page;
        }
        // Show the group header above the first product when scrolled to the top.
        if self.offset == 1 && matches!(self.rows[0], Row::Group { .. }) && self.selected < self.page {
            self.offset = 0;
        }
        self.offset = self.offset.min(self.rows.len().saturating_sub(self.page));
    }

    /// What drawing needs from the whole snapshot, worked out once when it arrives so that
    /// a frame touches only the rows on screen.
    fn derive(&mut self) {
        let products = &self.snapshot.products;
        let mut columns: Vec<crate::model::Metric> = Vec::new();
        for p in products {
            for m in &p.product.metrics {
                if !columns.contains(m) {
                    columns.push(m.clone());
                }
            }
        }
        self.metric_columns = columns;
        self.longest_name = products.iter().map(|p| crate::text::width(&p.product.name)).max().unwrap_or(0);
        self.summary = crate::status_doc::Summary::of(products.iter().map(|p| p.state));
        self.any_reason = products.iter().any(|p| p.metrics.iter().any(|m| m.state != State::Up));
        self.overall = State::worst_of(products.iter().map(|p| p.state)).unwrap_or(State::Up);
        let recent: std::collections::HashSet<&str> = self
            .snapshot
            .changes
            .iter()
            .filter(|c| c.from.is_some() && self.snapshot.generated_at - c.at < RECENT)
            .map(|c| c.product.as_str())
            .collect();
        self.recent = products.iter().map(|p| recent.contains(p.product.id.as_str())).collect();
        let mut moments: Vec<i64> = products.iter().filter_map(|p| p.since).collect();
        moments.sort_unstable();
        moments.dedup();
        self.state_moments = moments;
    }

    /// Recomputes the visible rows (filter, faults-only, sort, groups); the cursor stays on
    /// its product while that product is shown.
    pub fn rebuild_rows(&mut self) {
        let keep = self.selected_id();
        self.arrange_rows();
        self.reselect(keep);
    }

    fn arrange_rows(&mut self) {
        let filter = Filter::parse(&self.filter);
        let window = self.window;
        let products = &self.snapshot.products;
        let mut shown: Vec<usize> = (0..products.len())
            .filter(|&i| !self.faults_only || !matches!(products[i].state, State::Up | State::Maintenance))
            .filter(|&i| filter.matches(&products[i]))
            .collect();
        let key_name = |i: &usize| (products[*i].product.name.to_lowercase(), products[*i].product.id.clone());
        match self.sort {
            Sort::State => shown.sort_by_key(|i| (products[*i].state, key_name(i))),
            Sort::Name => shown.sort_by_key(key_name),
            Sort::Uptime => shown.sort_by(|a, b| {
                let ua = products[*a].uptime(window).unwrap_or(f64::INFINITY);
                let ub = products[*b].uptime(window).unwrap_or(f64::INFINITY);
                ua.total_cmp(&ub).then_with(|| key_name(a).cmp(&key_name(b)))
            }),
            Sort::LastChange => {
                shown.sort_by_key(|i| (std::cmp::Reverse(products[*i].since.unwrap_or(0)), key_name(i)))
            }
        }
        self.shown_products = shown.len();
        self.rows = if self.grouped {
            let mut groups: Vec<(&str, Vec<usize>)> = Vec::new();
            for i in shown {
                let g = products[i].product.group.as_str();
                match groups.iter_mut().find(|(name, _)| *name == g) {
                    Some((_, members)) => members.push(i),
                    None => groups.push((g, vec![i])),
                }
            }
            let worst = |members: &[usize]| members.iter().map(|i| products[*i].state).min().unwrap_or(State::Up);
            if self.sort == Sort::State {
                groups.sort_by_key(|(name, members)| (worst(members), name.to_lowercase()));
            } else {
                groups.sort_by_key(|(name, _)| name.to_lowercase());
            }
            // A heading over `members` of a group of `count`.
            let heading = |name: &str, members: &[usize], count: usize, part: Option<usize>| Row::Group {
                name: name.to_string(),
                count,
                worst: worst(members),
                part,
            };
            let rows_needed = groups.len() + self.shown_products;
            if self.sort == Sort::State && rows_needed > self.page {
                // More rows than the screen: the groups' faults come first, their healthy
                // rows after, so that the worst rows are the first screen however the
                // faults are spread over the groups.
                let (mut faults, mut healthy) = (Vec::new(), Vec::new());
                for (name, members) in &groups {
                    let (up, not_up): (Vec<usize>, Vec<usize>) =
                        members.iter().partition(|i| products[**i].state == State::Up);
                    let split = !up.is_empty() && !not_up.is_empty();
                    if !not_up.is_empty() {
                        faults.push(heading(name, &not_up, members.len(), split.then_some(not_up.len())));
                        faults.extend(not_up.iter().map(|i| Row::Product(*i)));
                    }
                    if !up.is_empty() {
                        healthy.push(heading(name, &up, members.len(), split.then_some(up.len())));
                        healthy.extend(up.iter().map(|i| Row::Product(*i)));
                    }
                }
                faults.into_iter().chain(healthy).collect()
            } else {
                groups
                    .iter()
                    .flat_map(|(name, members)| {
                        std::iter::once(heading(name, members, members.len(), None))
                            .chain(members.iter().map(|i| Row::Product(*i)))
                    })
                    .collect()
            }
        } else {
            shown.into_iter().map(Row::Product).collect()
        };
        self.clamp();
    }

    /// How long until a relative time on screen changes its text; `None` when none is shown.
    pub fn next_tick(&self) -> Option<std::time::Duration> {
        let ages = self.state_moments.iter().map(|t| (self.now - t).max(0));
        // The units of the list's ages: seconds, minutes, hours, days.
        let wait = ages
            .map(|age| match age {
                0..60 => 1,
                60..3600 => 60 - age % 60,
                3600..172_800 => 3600 - age % 3600,
                _ => 86_400 - age % 86_400,
            })
            .min()?;
        Some(std::time::Duration::from_secs(wait.max(1) as u64))
    }
}

/// `/` filter: words match name, id, group or tags; `state:down` (or `is:down`) matches a
/// state; `owner:finance-data` the products that team owns (any of a product's owners).
struct Filter {
    words: Vec<String>,
    states: Vec<State>,
    owners: Vec<String>,
    /// `state:` words that name no state: they match nothing, and the filter line says so.
    unknown_states: Vec<String>,
}

impl Filter {
    fn parse(text: &str) -> Filter {
        let mut words = Vec::new();
        let mut states = Vec::new();
        let mut owners = Vec::new();
        let mut unknown_states = Vec::new();
        for token in text.split_whitespace() {
            let lower = token.to_lowercase();
            match lower.split_once(':') {
                Some(("owner", o)) if !o.is_empty() => owners.push(o.to_string()),
                Some(("state" | "is", s)) => match State::parse(s) {
                    Some(state) => states.push(state),
                    None if !s.is_empty() => unknown_states.push(s.to_string()),
                    None => {}
                },
                _ => words.push(lower),
            }
        }
        Filter { words, states, owners, unknown_states }
    }

    fn matches(&self, row: &crate::store::ProductRow) -> bool {
        if !self.unknown_states.is_empty() || (!self.states.is_empty() && !self.states.contains(&row.state)) {
            return false;
        }
        let p = &row.product;
        let owned = |wanted: &String| {
            p.owner
                .as_deref()
                .is_some_and(|o| o.split(',').any(|one| one.trim().to_lowercase().contains(wanted.as_str())))
        };
        if !self.owners.is_empty() && !self.owners.iter().any(owned) {
            return false;
        }
        self.words.iter().all(|w| {
            p.name.to_lowercase().contains(w)
                || p.id.to_lowercase().contains(w)
                || p.group.to_lowercase().contains(w)
                || p.tags.iter().any(|t| t.to_lowercase().contains(w))
                || row.state.as_str() == w
        })
    }
}
