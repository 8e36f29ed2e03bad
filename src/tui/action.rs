//! Everything a user can do on the board, as data.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Back,
    StartFilter,
    CycleSort,
    CycleWindow,
    ToggleGroups,
    ToggleFaults,
    PollNow,
    ShowIncidents,
    ShowMaintenance,
    ShowChanges,
    ShowHelp,
    /// History: the product state change before the moment shown, or after it (past the
    /// newest: now).
    Earlier,
    Later,
    /// Hold the snapshot on screen while reading; again to catch up.
    Pause,
    /// The selected id, or a dbt run's address, to the terminal's clipboard (OSC 52).
    Copy,
    /// In an open incident: say you took it.
    Acknowledge,
    /// In an incident: close it, saying why (the next key picks the reason).
    CloseIncident,
    Quit,
}
